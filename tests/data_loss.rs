//! render never deletes what it did not make: files a user keeps in `out/` survive builds,
//! `plan`, a scene's rename and `clean` (through a symlinked `out/<project>` too), and
//! `render status` lists them as not render's; a `cache/tmp` linked to a scratch disk is
//! never emptied; `clean` refuses a folder that does not load and never deletes through a
//! symlink; a `run-job` working beside a build, a `gc` and a `clean` completes and commits;
//! a folder made before the ledger of what render published is adopted without loss.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{write_program, Folder, Run};

/// One scene of two espeak lines on the built-in face, small and quick: `Folder::tiny`
/// with its own project.
fn tiny() -> Folder {
    let folder = Folder::tiny();
    folder.write(
        PROJECT,
        "[[scene]]\nname = \"welcome\"\nlines = [\"One two three.\", \"Four five.\"]\n",
    );
    folder
}

const PROJECT: &str = "projects/p/project.toml";

/// What render publishes for scene `p/<name>`.
fn scene_files(name: &str) -> Vec<String> {
    ["mp4", "jpg", "sheet.jpg", "srt", "vtt"]
        .iter()
        .map(|ext| format!("out/p/{name}.{ext}"))
        .collect()
}

fn render(folder: &Folder, args: &[&str]) -> Run {
    folder.render_within(args, Duration::from_secs(120))
}

#[track_caller]
fn ok(run: Run) -> Run {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

/// A user's files in `out/`, beside and among render's: path → contents.
const USER_FILES: [(&str, &str); 8] = [
    ("out/p/welcome-final.mp4", "the final cut"),
    (
        "out/p/welcome.fr.srt",
        "1\n00:00:00,000 --> 00:00:01,000\nBonjour\n",
    ),
    ("out/p/welcome.de.vtt", "WEBVTT\n"),
    ("out/p/thumbnail.jpg", "a thumbnail"),
    ("out/holiday.mp4", "a holiday"),
    ("out/top.jpg", "a picture"),
    ("out/other/talk.mp4", "another project's video"),
    ("out/other/notes.txt", "notes"),
];

fn write_user_files(folder: &Folder) {
    for (path, text) in USER_FILES {
        folder.write(path, text);
    }
}

#[track_caller]
fn assert_user_files(folder: &Folder) {
    for (path, text) in USER_FILES {
        assert_eq!(
            std::fs::read_to_string(folder.file(path)).ok().as_deref(),
            Some(text),
            "{path} was lost"
        );
    }
}

/// `render status`'s list of what in out/ is not render's.
fn not_renders(folder: &Folder) -> Vec<String> {
    let run = ok(render(folder, &["status"]));
    let (_, list) = run
        .stdout
        .split_once("in out/, not render's (never removed or replaced by render):\n")
        .unwrap_or(("", ""));
    list.lines().map(|l| l.trim().to_string()).collect()
}

#[test]
fn a_users_files_in_out_survive_builds_plan_a_rename_and_clean() {
    let folder = tiny();
    ok(render(&folder, &["build"]));
    write_user_files(&folder);

    for _ in 0..2 {
        let run = ok(render(&folder, &["build"]));
        assert!(!run.stderr.contains("removed"), "{}", run.stderr);
        assert_user_files(&folder);
    }
    let plan = ok(render(&folder, &["plan"]));
    assert_eq!(plan.stdout, "up to date (7 artifacts)\n");
    assert_eq!(
        not_renders(&folder),
        [
            "out/holiday.mp4",
            "out/other/",
            "out/p/thumbnail.jpg",
            "out/p/welcome-final.mp4",
            "out/p/welcome.de.vtt",
            "out/p/welcome.fr.srt",
            "out/top.jpg",
        ]
    );

    // A rename: render's five files of the old name go, with true messages; nothing else.
    folder.edit(PROJECT, "name = \"welcome\"", "name = \"hello\"");
    let plan = ok(render(&folder, &["plan"]));
    let removals: Vec<&str> = (plan.stdout.lines())
        .filter(|l| l.contains(": remove"))
        .collect();
    let expected: Vec<String> = (scene_files("welcome").iter())
        .map(|f| format!("{f}: remove (its scene is no longer declared)"))
        .collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(removals, sorted);
    let run = ok(render(&folder, &["build"]));
    let removed: Vec<&str> = (run.stderr_lines().into_iter())
        .filter(|l| l.starts_with("render: removed"))
        .collect();
    let expected: Vec<String> = (scene_files("welcome").iter())
        .map(|f| format!("render: removed {f} (its scene is no longer declared)"))
        .collect();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(removed, want);
    assert_user_files(&folder);
    for file in scene_files("hello") {
        assert!(folder.file(&file).is_file(), "{file}");
    }

    // clean: render's files and folders go, the user's stay and are listed.
    let clean = ok(render(&folder, &["clean"]));
    assert_user_files(&folder);
    for file in scene_files("hello") {
        assert!(!folder.file(&file).exists(), "{file} survived clean");
    }
    assert!(!folder.file("out/report.html").exists());
    assert!(!folder.file("cache/objects").exists());
    for line in [
        "removed out/p/hello.mp4",
        "removed out/report.html",
        "left out/holiday.mp4 (not render's)",
        "left out/other/ (not render's)",
        "left out/p/welcome-final.mp4 (not render's)",
    ] {
        assert!(
            clean.stdout.lines().any(|l| l == line),
            "no line {line:?}:\n{}",
            clean.stdout
        );
    }
    assert_eq!(
        clean.stderr,
        "render: removed 13 things made by render; left 7 things that are not render's or in use (listed)\n"
    );
    // Built again from nothing, then cleaned: nothing of the user's is touched either.
    ok(render(&folder, &["build"]));
    ok(render(&folder, &["clean"]));
    assert_user_files(&folder);
}

#[test]
fn through_a_symlinked_project_folder_other_peoples_files_survive() {
    let folder = tiny();
    let shared = tempfile::tempdir().unwrap();
    let theirs = [
        ("other.mp4", "someone else's video"),
        ("welcome.mp4.bak", "a backup"),
        ("hello.vtt", "WEBVTT\n"),
    ];
    for (name, text) in theirs {
        std::fs::write(shared.path().join(name), text).unwrap();
    }
    std::fs::create_dir_all(folder.file("out")).unwrap();
    std::os::unix::fs::symlink(shared.path(), folder.file("out/p")).unwrap();
    let survive = || {
        for (name, text) in theirs {
            assert_eq!(
                std::fs::read_to_string(shared.path().join(name)).unwrap(),
                text
            );
        }
    };

    ok(render(&folder, &["build"]));
    assert!(shared.path().join("welcome.mp4").is_file());
    ok(render(&folder, &["build"]));
    survive();
    assert_eq!(
        not_renders(&folder),
        [
            "out/p/hello.vtt",
            "out/p/other.mp4",
            "out/p/welcome.mp4.bak"
        ]
    );
    folder.edit(PROJECT, "name = \"welcome\"", "name = \"hello2\"");
    ok(render(&folder, &["build"]));
    survive();
    assert!(!shared.path().join("welcome.mp4").exists());
    ok(render(&folder, &["clean"]));
    survive();
    assert!(folder.file("out/p").is_symlink(), "the user's link stays");
    let mut left: Vec<String> = std::fs::read_dir(shared.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["hello.vtt", "other.mp4", "welcome.mp4.bak"]);
}

#[test]
fn a_file_of_the_users_where_a_scene_publishes_is_never_replaced() {
    let folder = tiny();
    folder.write("out/p/welcome.mp4", "my own welcome video");
    let plan = render(&folder, &["plan"]);
    assert!(
        (plan.stdout.lines()).any(|l| l
            == "out/p/welcome.mp4: blocked: a file render did not publish is there, and render never replaces it (move it away)"),
        "{}",
        plan.stdout
    );
    let run = render(&folder, &["build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_lines(&[
        "× `out/p/welcome.mp4` is a file render did not publish; render never replaces it",
        "help: move or rename your file, then build again (render publishes a declared scene's video, poster, contact sheet and captions at that path)",
    ]);
    assert_eq!(folder.read("out/p/welcome.mp4"), "my own welcome video");

    // Moved away, the scene publishes; a file render published and the user then edited
    // in place is theirs again: not replaced, not removed.
    std::fs::rename(
        folder.file("out/p/welcome.mp4"),
        folder.file("out/mine.mp4"),
    )
    .unwrap();
    ok(render(&folder, &["build"]));
    let poster = folder.file("out/p/welcome.jpg");
    let object_poster = std::fs::read(&poster).unwrap();
    std::fs::remove_file(&poster).unwrap();
    std::fs::write(&poster, b"my retouched poster").unwrap();
    let run = render(&folder, &["build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_lines(&[
        "× `out/p/welcome.jpg` is a file render did not publish; render never replaces it",
    ]);
    folder.edit(PROJECT, "name = \"welcome\"", "name = \"renamed\"");
    let run = ok(render(&folder, &["build"]));
    run.assert_lines(&[
        "render: left out/p/welcome.jpg: render published it, but it was changed since, so it is yours now",
    ]);
    assert_eq!(std::fs::read(&poster).unwrap(), b"my retouched poster");
    assert_ne!(object_poster, b"my retouched poster");
    assert_eq!(folder.read("out/mine.mp4"), "my own welcome video");
}

/// A folder holding a file and a subfolder, for `cache/tmp` to link to.
fn scratch_disk() -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("dataset.bin"), "someone's data").unwrap();
    std::fs::create_dir(scratch.path().join("renders")).unwrap();
    std::fs::write(scratch.path().join("renders/take1.mov"), "a take").unwrap();
    scratch
}

#[track_caller]
fn assert_scratch_intact(scratch: &Path) {
    assert_eq!(
        std::fs::read_to_string(scratch.join("dataset.bin")).unwrap(),
        "someone's data"
    );
    assert_eq!(
        std::fs::read_to_string(scratch.join("renders/take1.mov")).unwrap(),
        "a take"
    );
}

#[test]
fn a_symlinked_cache_tmp_is_never_emptied() {
    let folder = tiny();
    let scratch = scratch_disk();
    std::fs::create_dir_all(folder.file("cache")).unwrap();
    std::os::unix::fs::symlink(scratch.path(), folder.file("cache/tmp")).unwrap();
    // A job folder a killed build of this machine left there (its process is gone).
    let left = scratch
        .path()
        .join(format!("0123456789abcdef_{}_{}_7", i32::MAX - 3, host()));
    std::fs::create_dir(&left).unwrap();
    std::fs::write(left.join("speech.wav"), "half").unwrap();

    ok(render(&folder, &["build"]));
    assert_scratch_intact(scratch.path());
    assert!(!left.exists(), "a dead build's job folder is swept");
    ok(render(&folder, &["build"]));
    ok(render(&folder, &["gc"]));
    assert_scratch_intact(scratch.path());
    ok(render(&folder, &["clean"]));
    assert_scratch_intact(scratch.path());
    assert!(folder.file("cache/tmp").is_symlink());
}

fn host() -> &'static str {
    render::scratch::host()
}

#[test]
fn clean_leaves_the_users_files_and_never_deletes_through_a_symlinked_cache() {
    let folder = tiny();
    ok(render(&folder, &["build"]));
    folder.write("out/p/welcome-final.mp4", "the final cut");
    folder.write("cache/pip-wheel.whl", "a wheel");
    folder.write("cache/objects/README", "my notes about the cache");
    let dry = ok(render(&folder, &["clean", "-n"]));
    assert!(
        dry.stdout.contains("would remove out/p/welcome.mp4\n"),
        "{}",
        dry.stdout
    );
    assert!(folder.file("out/p/welcome.mp4").is_file(), "-n removed it");
    ok(render(&folder, &["clean"]));
    assert_eq!(folder.read("out/p/welcome-final.mp4"), "the final cut");
    assert_eq!(folder.read("cache/pip-wheel.whl"), "a wheel");
    assert_eq!(
        folder.read("cache/objects/README"),
        "my notes about the cache"
    );
    assert!(!folder.file("out/p/welcome.mp4").exists());

    // A cache linked to a shared disk: clean deletes nothing through the link.
    let shared = tempfile::tempdir().unwrap();
    ok(render(&folder, &["build"]));
    let objects_before = common::files_under(&folder.file("cache/objects"), folder.path()).len();
    for entry in std::fs::read_dir(folder.file("cache")).unwrap() {
        let entry = entry.unwrap();
        std::fs::rename(entry.path(), shared.path().join(entry.file_name())).unwrap();
    }
    std::fs::remove_dir(folder.file("cache")).unwrap();
    std::os::unix::fs::symlink(shared.path(), folder.file("cache")).unwrap();
    std::fs::write(shared.path().join("another-folders-state"), "theirs").unwrap();
    let clean = ok(render(&folder, &["clean"]));
    assert!(
        (clean.stdout.lines()).any(|l| l.starts_with("left cache/ (a link to ")
            && l.ends_with(": clean does not delete through it, other folders may share it; `render gc` removes what this folder does not need)")),
        "{}",
        clean.stdout
    );
    assert!(folder.file("cache").is_symlink());
    assert_eq!(
        common::files_under(&shared.path().join("objects"), shared.path()).len(),
        objects_before
    );
    assert_eq!(
        std::fs::read_to_string(shared.path().join("another-folders-state")).unwrap(),
        "theirs"
    );
    assert_eq!(folder.read("out/p/welcome-final.mp4"), "the final cut");
}

#[test]
fn clean_under_an_empty_renderfile_higher_up_refuses_and_deletes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    std::fs::write(home.join("Renderfile.toml"), "").unwrap();
    for (path, text) in [
        ("out/thesis.pdf", "a thesis"),
        ("cache/pip-wheel.whl", "a wheel"),
    ] {
        std::fs::create_dir_all(home.join(path).parent().unwrap()).unwrap();
        std::fs::write(home.join(path), text).unwrap();
    }
    let below = home.join("Videos/proj/sub");
    std::fs::create_dir_all(&below).unwrap();
    let output = Command::new(common::bin())
        .arg("clean")
        .current_dir(&below)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let root = home.canonicalize().unwrap();
    assert!(
        stderr.contains(&format!(
            "refusing to clean `{}`: it declares no project; clean removes only what render made in a content folder it can load, and removed nothing",
            root.display()
        )),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(home.join("out/thesis.pdf")).unwrap(),
        "a thesis"
    );
    assert_eq!(
        std::fs::read_to_string(home.join("cache/pip-wheel.whl")).unwrap(),
        "a wheel"
    );
    // A Renderfile that does not parse is refused the same way.
    std::fs::write(home.join("Renderfile.toml"), "[defaults\n").unwrap();
    let output = Command::new(common::bin())
        .arg("clean")
        .current_dir(&below)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("its Renderfile.toml does not load (above)"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(home.join("out/thesis.pdf")).unwrap(),
        "a thesis"
    );
}

/// A lip-sync program that, the first time it runs, waits for the file `release` in the
/// folder before making its clip (a still of the portrait for the audio's length).
fn held_talker(folder: &Folder) {
    let root = folder.path().canonicalize().unwrap();
    let script = format!(
        r#"#!/usr/bin/env python3
import os, subprocess, sys, time, wave
root = {root:?}
audio, image, out, fps = sys.argv[1:5]
try:
    os.rename(os.path.join(root, "hold"), os.path.join(root, "held"))
    open(os.path.join(root, "started"), "w").write(str(os.getpid()))
    while not os.path.exists(os.path.join(root, "release")):
        time.sleep(0.05)
except FileNotFoundError:
    pass
w = wave.open(audio)
seconds = w.getnframes() / w.getframerate()
subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", image, "-t", "%.3f" % seconds,
                "-r", fps, "-vf", "scale=64:64", "-pix_fmt", "yuv420p", out], check=True)
"#,
        root = root.display().to_string()
    );
    write_program(&folder.file("talker"), &script);
    let renderfile = folder.read("Renderfile.toml").replace(
        "lipsync = \"builtin\"",
        "lipsync = \"talker\"",
    ) + "\n[engines.talker]\nstage = \"lipsync\"\nprogram = \"./talker\"\nargs = [\"{audio}\", \"{image}\", \"{out}\", \"{fps}\"]\n";
    folder.write("Renderfile.toml", &renderfile);
}

#[test]
fn a_run_job_started_before_a_build_a_gc_and_a_clean_completes_and_commits() {
    let folder = tiny();
    folder.write(
        PROJECT,
        "[[scene]]\nname = \"welcome\"\nlines = [\"First words.\"]\n",
    );
    held_talker(&folder);
    ok(render(&folder, &["plan", "--write-jobs", "jobs"]));
    let mut specs: Vec<_> = (std::fs::read_dir(folder.file("jobs")).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    specs.sort();
    let spec_of = |kind: &str| {
        (specs.iter())
            .find(|p| p.to_string_lossy().ends_with(&format!("-{kind}.json")))
            .unwrap()
            .clone()
    };
    for kind in ["speech", "face-track"] {
        ok(render(
            &folder,
            &["run-job", spec_of(kind).to_str().unwrap()],
        ));
    }
    let inputs = common::files_under(&folder.file("cache/objects"), folder.path());
    // The line changes: the job's inputs are no longer needed by the declarations.
    folder.edit(PROJECT, "First words.", "Other words.");

    folder.write("hold", "");
    let clip = spec_of("clip");
    let job = folder
        .command(&["run-job", clip.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !folder.file("started").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the job never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let job_folder = || {
        (std::fs::read_dir(folder.file("cache/tmp")).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|name| name.contains(&format!("_{}_", job.id())))
    };
    let working = job_folder().expect("the job works in cache/tmp");

    let build = ok(render(&folder, &["build"]));
    assert!(
        build.made().contains(&"clip p/welcome:1".to_string()),
        "{:?}",
        build.made()
    );
    assert_eq!(job_folder().as_deref(), Some(working.as_str()));

    let gc = ok(render(&folder, &["gc"]));
    assert!(
        (gc.stderr_lines().iter()).any(|l| l.starts_with(
            "render: kept what running jobs read and make (render run-job): clip p/welcome:1 (pid "
        )),
        "{}",
        gc.stderr
    );
    for file in &inputs {
        assert!(
            folder.file(file).is_file(),
            "gc removed {file}, an input of the running job"
        );
    }
    let clean = ok(render(&folder, &["clean"]));
    assert!(
        (clean.stdout.lines()).any(|l| l.starts_with(
            "left what running jobs read and make (render run-job): clip p/welcome:1 (pid "
        )),
        "{}",
        clean.stdout
    );
    for file in &inputs {
        assert!(
            folder.file(file).is_file(),
            "clean removed {file}, an input of the running job"
        );
    }
    assert_eq!(job_folder().as_deref(), Some(working.as_str()));

    folder.write("release", "");
    let output = job.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.starts_with("made clip p/welcome:1 ("), "{stderr}");
    // The job's object is committed whole: its record and every file it lists verify.
    let clip_key = serde_json::from_slice::<serde_json::Value>(&std::fs::read(&clip).unwrap())
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let records = folder.records();
    assert!(
        (records.iter()).any(|(dir, _)| dir.file_name().unwrap().to_string_lossy() == clip_key),
        "the clip's object is not in the cache"
    );
    assert_eq!(folder.verify_cache(), records.len());
    assert!(std::fs::read_dir(folder.file("cache/jobs"))
        .map(|d| d.count() == 0)
        .unwrap_or(true));
}

#[test]
fn a_folder_made_before_the_ledger_keeps_the_users_files_and_orphans_nothing_of_renders() {
    let folder = tiny();
    ok(render(&folder, &["build"]));
    // What an earlier render left: no ledger, a report without the generator mark, and a
    // copy it was staging when it was killed.
    std::fs::remove_file(folder.file("cache/state/published")).unwrap();
    let report = folder
        .read("out/report.html")
        .replace("<meta name=\"generator\" content=\"render\">\n", "");
    folder.write("out/report.html", &report);
    folder.write("out/p/.welcome.mp4.tmp-4242-3", "half a copy");
    write_user_files(&folder);
    // The user's exact copy of render's video (same bytes and mtime: `cp -p`).
    let copy = Command::new("cp")
        .args(["-p", "out/p/welcome.mp4", "out/p/welcome-copy.mp4"])
        .current_dir(folder.path())
        .status()
        .unwrap();
    assert!(copy.success());

    folder.edit(PROJECT, "name = \"welcome\"", "name = \"hello\"");
    let run = ok(render(&folder, &["build"]));
    let removed: Vec<&str> = (run.stderr_lines().into_iter())
        .filter(|l| l.starts_with("render: removed"))
        .collect();
    let mut want: Vec<String> = (scene_files("welcome").iter())
        .map(|f| format!("render: removed {f} (its scene is no longer declared)"))
        .collect();
    want.sort();
    assert_eq!(removed, want);
    assert_user_files(&folder);
    assert!(folder.file("out/p/welcome-copy.mp4").is_file());
    assert!(!folder.file("out/p/.welcome.mp4.tmp-4242-3").exists());
    // The old report is render's page: replaced, not refused.
    assert!(folder
        .read("out/report.html")
        .contains("content=\"render\""));
    let mut mine: Vec<String> = USER_FILES
        .iter()
        .map(|(p, _)| p.to_string())
        .filter(|p| !p.starts_with("out/other/"))
        .chain([
            "out/other/".to_string(),
            "out/p/welcome-copy.mp4".to_string(),
        ])
        .collect();
    mine.sort();
    assert_eq!(not_renders(&folder), mine);
    ok(render(&folder, &["clean"]));
    assert_user_files(&folder);
    let mut left = folder.out_files();
    left.sort();
    let mut expected: Vec<String> = (USER_FILES.iter().map(|(p, _)| p.to_string()))
        .chain(["out/p/welcome-copy.mp4".to_string()])
        .collect();
    expected.sort();
    assert_eq!(left, expected, "render left something of its own behind");
}
