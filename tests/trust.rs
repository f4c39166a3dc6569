//! A bad night, as a nightly batch would have it: a damaged cache, a full disk, programs
//! that hang. Each test damages a real build the way disks and programs do, then checks
//! that render says what happened, loses nothing, and the next build's videos are the
//! bytes a clean build makes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{files_under, pid_in, running, write_program, Folder, Run};

fn render(folder: &Folder, args: &[&str]) -> Run {
    folder.render_within(args, Duration::from_secs(120))
}

fn relative(folder: &Folder, path: &Path) -> String {
    path.strip_prefix(folder.path())
        .unwrap()
        .display()
        .to_string()
}

/// The one folder in cache/quarantine/, relative, and its reason.txt.
fn quarantined(folder: &Folder) -> (String, String) {
    let entries: Vec<PathBuf> = std::fs::read_dir(folder.file("cache/quarantine"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let reason = std::fs::read_to_string(entries[0].join("reason.txt")).unwrap();
    (relative(folder, &entries[0]), reason)
}

/// What `render build` prints for an object it moved aside.
fn quarantine_line(name: &str, reason: &str, aside: &str) -> String {
    format!(
        "render: {name}: its object in the cache was damaged ({reason}); moved to {aside} and making it again"
    )
}

#[track_caller]
fn assert_line(run: &Run, line: &str) {
    assert!(
        run.stderr.lines().any(|l| l == line),
        "stderr has no line {line:?}:\n{}",
        run.stderr
    );
}

const SCENE: &str = "out/p/talk.mp4";

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_flipped_byte_in_a_published_video_is_caught_by_verify_and_made_again() {
    let folder = Folder::tiny();
    folder.build();
    let clean = std::fs::read(folder.file(SCENE)).unwrap();
    // out/ is a hard link to the object: damage to one is damage to both.
    let scene = folder.object("scene p/talk");
    flip_byte(&scene.join("scene.mp4"), clean.len() / 2);

    let run = render(&folder, &["verify"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let (aside, reason) = quarantined(&folder);
    assert_eq!(
        run.stderr,
        format!(
            "render: scene p/talk: scene.mp4 does not match its record (its bytes changed); moved to {aside}\n\
             render: verified 9 objects: 8 intact, 1 quarantined\n"
        )
    );
    assert_eq!(
        reason,
        "scene p/talk\nscene.mp4 does not match its record (its bytes changed)\n"
    );

    let run = folder.build();
    assert_eq!(run.made(), ["scene p/talk"]);
    assert_eq!(std::fs::read(folder.file(SCENE)).unwrap(), clean);
    assert_eq!(folder.verify_cache(), 9);
    let run = render(&folder, &["verify"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (0, "render: verified 9 objects: 9 intact, 0 quarantined\n")
    );
}

#[test]
fn a_flipped_byte_in_a_speech_wav_is_caught_by_build_verify() {
    let folder = Folder::tiny();
    folder.build();
    let clean = std::fs::read(folder.file(SCENE)).unwrap();
    let speech = folder.object("speech p/talk:2").join("speech.wav");
    flip_byte(&speech, 1000);

    // The cheap check compares sizes only: a plain build does not hash.
    assert_eq!(folder.build().made(), Vec::<String>::new());

    let run = render(&folder, &["build", "--verify"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (aside, _) = quarantined(&folder);
    assert_line(
        &run,
        &quarantine_line(
            "speech p/talk:2",
            "speech.wav does not match its record (its bytes changed)",
            &aside,
        ),
    );
    // Made again from the same text: the same key, so nothing that reads it changes.
    assert_eq!(run.made(), ["speech p/talk:2"]);
    assert_eq!(std::fs::read(folder.file(SCENE)).unwrap(), clean);
    assert_eq!(folder.verify_cache(), 9);
}

#[test]
fn a_truncated_clip_is_not_reused_by_a_rebuild() {
    let folder = Folder::tiny();
    folder.build();
    let clip = folder.object("clip p/talk:1").join("clip.mp4");
    let bytes = std::fs::read(&clip).unwrap();
    std::fs::write(&clip, &bytes[..bytes.len() / 2]).unwrap();
    // An edit to another line re-makes the scene, which reads line 1's clip.
    folder.edit(
        "projects/p/project.toml",
        "Seven eight.",
        "Seven eight nine.",
    );

    let run = folder.build();
    let (aside, _) = quarantined(&folder);
    assert_line(
        &run,
        &quarantine_line(
            "clip p/talk:1",
            &format!(
                "clip.mp4 is {} bytes, its record says {}",
                bytes.len() / 2,
                bytes.len()
            ),
            &aside,
        ),
    );
    assert_eq!(
        run.made(),
        [
            "captions p/talk",
            "clip p/talk:1",
            "clip p/talk:3",
            "scene p/talk",
            "speech p/talk:3"
        ]
    );
    // The same video as a clean build of the edited folder.
    let reference = Folder::tiny();
    reference.edit(
        "projects/p/project.toml",
        "Seven eight.",
        "Seven eight nine.",
    );
    reference.build();
    assert_eq!(
        std::fs::read(folder.file(SCENE)).unwrap(),
        std::fs::read(reference.file(SCENE)).unwrap()
    );
    // Nine for the edited scene, four kept from before the edit (line 3's speech and
    // clip, the scene and its captions).
    assert_eq!(folder.verify_cache(), 13);
}

/// Damage to the scene's object, then a plain build: `reason` is what render says of it.
fn damaged_scene_is_made_again(damage: impl Fn(&Path), reason: &str) {
    let folder = Folder::tiny();
    folder.build();
    let clean = std::fs::read(folder.file(SCENE)).unwrap();
    damage(&folder.object("scene p/talk"));

    let run = folder.build();
    let (aside, note) = quarantined(&folder);
    assert_line(&run, &quarantine_line("scene p/talk", reason, &aside));
    assert_eq!(note, format!("scene p/talk\n{reason}\n"));
    assert_eq!(run.made(), ["scene p/talk"]);
    assert_eq!(std::fs::read(folder.file(SCENE)).unwrap(), clean);
    assert_eq!(folder.verify_cache(), 9);
    assert_eq!(folder.build().made(), Vec::<String>::new());
}

#[test]
fn a_deleted_output_is_caught_by_a_plain_build() {
    damaged_scene_is_made_again(
        |object| std::fs::remove_file(object.join("scene.mp4")).unwrap(),
        "scene.mp4 is missing",
    );
}

#[test]
fn a_deleted_record_is_caught_by_a_plain_build() {
    damaged_scene_is_made_again(
        |object| std::fs::remove_file(object.join("record.json")).unwrap(),
        "its record.json is missing",
    );
}

#[test]
fn a_garbage_record_is_caught_by_a_plain_build() {
    damaged_scene_is_made_again(
        |object| std::fs::write(object.join("record.json"), "{\"name\": \"sce").unwrap(),
        "its record.json is not a valid record",
    );
}

/// A no-op checks a reused scene through the check log (`cache/state/checked`, written by
/// the build that made it): its record is not read again, but each of its files is still
/// stat'ed, so a video cut short in the cache is caught before it is reused.
#[test]
fn a_truncated_output_is_caught_by_a_plain_build_through_the_check_log() {
    let folder = Folder::tiny();
    folder.build();
    let clean = std::fs::read(folder.file(SCENE)).unwrap();
    let object = folder.object("scene p/talk");
    let key = object.file_name().unwrap().to_str().unwrap().to_string();
    let log = std::fs::read_to_string(folder.file("cache/state/checked")).unwrap();
    assert!(
        log.lines().any(|line| line.starts_with(&key)),
        "the first build logged the scene's object:\n{log}"
    );
    let video = object.join("scene.mp4");
    std::fs::write(&video, &clean[..clean.len() / 2]).unwrap();

    let run = folder.build();
    let reason = format!(
        "scene.mp4 is {} bytes, its record says {}",
        clean.len() / 2,
        clean.len()
    );
    let (aside, note) = quarantined(&folder);
    assert_line(&run, &quarantine_line("scene p/talk", &reason, &aside));
    assert_eq!(note, format!("scene p/talk\n{reason}\n"));
    assert_eq!(run.made(), ["scene p/talk"]);
    assert_eq!(std::fs::read(folder.file(SCENE)).unwrap(), clean);
    assert_eq!(folder.verify_cache(), 9);
    // The remade object is logged in turn; the next build reuses it.
    let log = std::fs::read_to_string(folder.file("cache/state/checked")).unwrap();
    assert!(log.lines().any(|line| line.starts_with(&key)), "{log}");
    assert_eq!(folder.build().made(), Vec::<String>::new());
}

/// Runs `script` with `sh` as root of a new user and mount namespace (so it may mount a
/// tmpfs), or says why it cannot here.
fn in_namespace(script: &str, env: &[(&str, &Path)]) -> Option<std::process::Output> {
    let probe = Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"])
        .output();
    match probe {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            println!(
                "skipped: cannot mount a tmpfs in a user namespace here: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return None;
        }
        Err(e) => {
            println!("skipped: cannot run unshare: {e}");
            return None;
        }
    }
    let output = Command::new("unshare")
        .args(["-rm", "sh", "-ec", script])
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .env("RENDER", common::bin())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the test's script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output)
}

#[test]
fn a_full_disk_fails_naming_the_disk_and_keeps_nothing_it_made() {
    let folder = Folder::tiny();
    let reference = Folder::tiny();
    reference.build();
    let host = tempfile::tempdir().unwrap();
    let disk = host.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    // The content folder on an 8 MiB disk filled to 120 KiB short of full: enough to
    // start, not enough for the speech and the clips.
    let script = r#"
        mount -t tmpfs -o size=8m tmpfs "$DISK"
        cp -r "$FOLDER" "$DISK/f"
        free=$(df --output=avail -B1 "$DISK" | tail -n 1)
        head -c $((free - 120 * 1024)) /dev/zero > "$DISK/filler"
        set +e
        "$RENDER" build "$DISK/f" > "$HOST/first.out" 2> "$HOST/first.err"
        echo $? > "$HOST/first.code"
        set -e
        cp -r "$DISK/f" "$HOST/after-full"
        rm "$DISK/filler"
        set +e
        "$RENDER" build "$DISK/f" > "$HOST/second.out" 2> "$HOST/second.err"
        echo $? > "$HOST/second.code"
        set -e
        cp -r "$DISK/f" "$HOST/after-freed"
    "#;
    let env = [
        ("DISK", disk.as_path()),
        ("FOLDER", folder.path()),
        ("HOST", host.path()),
    ];
    if in_namespace(script, &env).is_none() {
        return;
    }
    let read = |name: &str| std::fs::read_to_string(host.path().join(name)).unwrap();
    let first = read("first.err");
    assert_eq!(read("first.code").trim(), "1", "{first}");
    let full = format!("× the disk holding `{}/f/cache` is full (", disk.display());
    assert!(first.contains(&full), "no {full:?} in:\n{first}");
    assert!(
        first.contains("help: free some space, then build again: nothing made while the disk was full was kept"),
        "{first}"
    );
    assert!(!first.contains("panicked"), "{first}");
    // What the full disk saw: nothing half-made in the cache or in out/.
    let after = Folder {
        dir: tempfile::tempdir().unwrap(),
    };
    common::copy_tree(&host.path().join("after-full"), after.path());
    assert_eq!(
        files_under(&after.file("cache/tmp"), after.path()),
        Vec::<String>::new()
    );
    after.verify_cache();
    // The report may or may not have fit; no scene file was published, nor half a file.
    assert_eq!(
        (after.out_files().into_iter())
            .filter(|f| f != "out/report.html")
            .collect::<Vec<_>>(),
        Vec::<String>::new()
    );

    let second = read("second.err");
    assert_eq!(read("second.code").trim(), "0", "{second}");
    let freed = host.path().join("after-freed");
    assert_eq!(
        std::fs::read(freed.join(SCENE)).unwrap(),
        std::fs::read(reference.file(SCENE)).unwrap(),
        "the video after the disk was freed differs from a clean build's"
    );
}

#[test]
fn out_on_another_disk_is_published_by_copy_and_left_alone_by_a_no_op() {
    let folder = Folder::tiny();
    let reference = Folder::tiny();
    reference.build();
    let host = tempfile::tempdir().unwrap();
    let script = r#"
        mkdir "$FOLDER/out"
        mount -t tmpfs -o size=8m tmpfs "$FOLDER/out"
        "$RENDER" build "$FOLDER" 2> "$HOST/first.err"
        stat -c '%n %d %i %Y' "$FOLDER"/out/p/talk.* > "$HOST/first.stat"
        cp "$FOLDER/out/p/talk.mp4" "$HOST/talk.mp4"
        ls -a "$FOLDER/out/p" > "$HOST/listing"
        "$RENDER" build "$FOLDER" 2> "$HOST/second.err"
        stat -c '%n %d %i %Y' "$FOLDER"/out/p/talk.* > "$HOST/second.stat"
    "#;
    let env = [("FOLDER", folder.path()), ("HOST", host.path())];
    if in_namespace(script, &env).is_none() {
        return;
    }
    let read = |name: &str| std::fs::read_to_string(host.path().join(name)).unwrap();
    assert!(read("first.err").contains("render: made 9, reused 0, failed 0"));
    assert_eq!(
        std::fs::read(host.path().join("talk.mp4")).unwrap(),
        std::fs::read(reference.file(SCENE)).unwrap()
    );
    // No staged copy left beside it; its stills beside it.
    assert_eq!(
        read("listing"),
        ".\n..\ntalk.jpg\ntalk.mp4\ntalk.sheet.jpg\ntalk.srt\ntalk.vtt\n"
    );
    // The no-op saw each copy is the object's and did not copy it again.
    assert_eq!(read("first.stat").lines().count(), 5);
    assert!(read("second.err").contains("render: made 0, reused 9, failed 0"));
    assert_eq!(read("first.stat"), read("second.stat"));
}

/// A fake program that stands in for `name`, starting a grandchild that holds its pipes
/// and hangs (its pid in `<folder>/<name>.grandchild`), then hanging itself (its pid in
/// `<folder>/<name>.pid`) — but only for calls whose arguments contain `when`; other
/// calls go to the real program.
fn hanging(folder: &Folder, name: &str, when: &str) -> PathBuf {
    let bin = folder.file("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let dir = folder.path().display();
    write_program(
        &bin.join(name),
        &format!(
            r#"#!/bin/sh
case "$*" in
  *{when}*) ;;
  *) exec {real} "$@" ;;
esac
sleep 300 &
echo $! > {dir}/{name}.grandchild
echo $$ > {dir}/{name}.pid
sleep 300
"#,
            real = real.trim()
        ),
    );
    bin
}

fn path_with(bin: &Path) -> String {
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

#[test]
fn a_hanging_mux_is_stopped_at_its_deadline_with_its_children() {
    let folder = Folder::tiny();
    let bin = hanging(&folder, "ffmpeg", "filter_complex");
    let path = path_with(&bin);
    let start = Instant::now();
    // A tenth of the usual deadlines: the mux of a 4 s scene gets 10 s.
    let run = folder.render_with_env(
        &["build"],
        &[("PATH", &path), ("RENDER_TIMEOUT_SCALE", "0.1")],
        Duration::from_secs(60),
    );
    let took = start.elapsed();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("ffmpeg failed while making scene p/talk: stopped after"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(" s, its deadline"), "{}", run.stderr);
    assert!(took < Duration::from_secs(40), "took {took:?}");
    for file in ["ffmpeg.pid", "ffmpeg.grandchild"] {
        assert!(!running(pid_in(&folder, file)), "{file} still running");
    }
    assert_eq!(run.with_status("failed"), ["scene p/talk"]);
    assert_eq!(
        files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new()
    );
    assert_eq!(folder.out_files(), ["out/report.html"]);
}

#[test]
fn ctrl_c_ends_a_hanging_speech_program_and_its_children_within_two_seconds() {
    let folder = Folder::tiny();
    let bin = hanging(&folder, "espeak-ng", "stdout");
    let mut child = folder
        .command(&["build", "--jobs", "1"])
        .env("PATH", path_with(&bin))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !folder.file("espeak-ng.grandchild").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "espeak-ng never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    common::ctrl_c(child.id());
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(2),
            "render still running 2 s after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130));
    for file in ["espeak-ng.pid", "espeak-ng.grandchild"] {
        assert!(!running(pid_in(&folder, file)), "{file} still running");
    }
    assert_eq!(
        files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new()
    );
}
