//! Cache upkeep: `render gc` removes exactly what no declared scene needs and no kept build
//! used, waits for a running build, and refuses to guess with configuration errors;
//! `render status` says what is stale and how big the cache is.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use common::{Folder, Run};
use render::disk::human_bytes;

const PROJECT: &str = "projects/p/project.toml";

fn render(folder: &Folder, args: &[&str]) -> Run {
    folder.render_within(args, Duration::from_secs(120))
}

#[track_caller]
fn build_making(folder: &Folder, made: usize) {
    let run = render(folder, &["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.made().len(), made, "{:?}\n{}", run.made(), run.stderr);
}

/// Every object in the cache: key → name.
fn objects(folder: &Folder) -> BTreeMap<String, String> {
    (folder.records().into_iter())
        .map(|(dir, record)| {
            let key = dir.file_name().unwrap().to_string_lossy().to_string();
            (key, record["name"].as_str().unwrap().to_string())
        })
        .collect()
}

/// The objects in `after` that are not in `before`.
fn new_since(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    (after.iter())
        .filter(|(key, _)| !before.contains_key(*key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The bytes of the files of object `key`.
fn object_bytes(folder: &Folder, key: &str) -> u64 {
    let dir = folder.file(&format!("cache/objects/{}/{key}", &key[..2]));
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn bytes_of(folder: &Folder, objects: &BTreeMap<String, String>) -> u64 {
    objects.keys().map(|k| object_bytes(folder, k)).sum()
}

/// What gc prints for an object: `kind  name  size  key[..12]…`, as (kind name, key prefix).
fn listed(run: &Run) -> BTreeSet<(String, String)> {
    (run.stdout.lines())
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(words.len() >= 5, "{line:?}");
            (format!("{} {}", words[0], words[1]), words[4].to_string())
        })
        .collect()
}

/// (name, key prefix) of each object, as gc lists them.
fn expected(objects: &BTreeMap<String, String>) -> BTreeSet<(String, String)> {
    (objects.iter())
        .map(|(key, name)| (name.clone(), key[..12].to_string()))
        .collect()
}

/// Inode, size and mtime of the published video.
fn out_stamp(folder: &Folder) -> (u64, u64, i64) {
    let meta = std::fs::metadata(folder.file("out/p/talk.mp4")).unwrap();
    (meta.ino(), meta.len(), meta.mtime_nsec())
}

fn used_sets(folder: &Folder) -> usize {
    std::fs::read_dir(folder.file("cache/state/used")).map_or(0, |d| d.count())
}

#[track_caller]
fn assert_line(run: &Run, start: &str) {
    assert!(
        run.stderr.lines().any(|l| l.starts_with(start)),
        "stderr has no line starting {start:?}:\n{}",
        run.stderr
    );
}

/// Builds the folder, the folder with one line edited, and the edit undone; returns the
/// objects of the original and those only the edited version has.
fn edit_and_undo(folder: &Folder, from: &str, to: &str) -> [BTreeMap<String, String>; 2] {
    let before = objects(folder);
    folder.edit(PROJECT, from, to);
    build_making(folder, 4);
    let edited = new_since(&before, &objects(folder));
    folder.edit(PROJECT, to, from);
    build_making(folder, 0);
    [before, edited]
}

#[test]
fn gc_removes_exactly_what_an_undone_edit_left_and_the_next_build_makes_nothing() {
    let folder = Folder::tiny();
    build_making(&folder, 9);
    let [before, edited] = edit_and_undo(&folder, "Four five six.", "Four five seven.");
    let names: BTreeSet<&str> = edited.values().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "captions p/talk",
            "clip p/talk:2",
            "scene p/talk",
            "speech p/talk:2"
        ])
    );
    let all = objects(&folder);
    assert_eq!(all.len(), 13);
    let out = out_stamp(&folder);
    let edited_bytes = bytes_of(&folder, &edited);
    let all_bytes = bytes_of(&folder, &all);

    // By default the builds of the last week are kept: all three are.
    let run = render(&folder, &["gc"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_line(
        &run,
        &format!(
            "render: removed 0 objects (0 bytes); kept 13 ({}), 4 of them only for the builds of the last 7 days",
            human_bytes(all_bytes)
        ),
    );
    assert_eq!(objects(&folder), all);
    // The last two builds used the edited version; the last one did not.
    let run = render(&folder, &["gc", "-n", "--keep-builds", "2"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
    let run = render(&folder, &["gc", "-n", "--keep-builds", "1"]);
    assert_eq!(listed(&run), expected(&edited), "{}", run.stdout);

    // -n lists exactly what would go, and removes nothing.
    let run = render(&folder, &["gc", "-n", "--keep-builds", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(listed(&run), expected(&edited), "{}", run.stdout);
    assert_line(
        &run,
        &format!(
            "render: would remove 4 objects ({}); would keep 9 ({})",
            human_bytes(edited_bytes),
            human_bytes(all_bytes - edited_bytes)
        ),
    );
    assert_eq!(objects(&folder), all);

    let run = render(&folder, &["gc", "--keep-builds", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(listed(&run), expected(&edited), "{}", run.stdout);
    assert_line(
        &run,
        &format!("render: removed 4 objects ({});", human_bytes(edited_bytes)),
    );
    assert_eq!(objects(&folder), before);
    assert_eq!(folder.verify_cache(), 9);
    // Nothing left behind: no object half-moved, no list of a build no longer kept.
    assert_eq!(
        common::files_under(&folder.file("cache/tmp"), folder.path()),
        [] as [String; 0]
    );
    assert_eq!(used_sets(&folder), 0);

    build_making(&folder, 0);
    assert_eq!(out_stamp(&folder), out);
    assert_eq!(used_sets(&folder), 1);
    // A second gc finds nothing.
    let run = render(&folder, &["gc", "--keep-builds", "0"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{}", run.stderr);
}

#[test]
fn on_the_demo_gc_after_an_edit_and_its_undo_leaves_exactly_the_live_objects() {
    let folder = Folder::small_demo();
    folder.build();
    let live = objects(&folder);
    let (from, to) = (
        "And the other lines come straight from the cache?",
        "And every other line comes straight from the cache?",
    );
    folder.edit("projects/demo/project.toml", from, to);
    folder.build();
    let edited = new_since(&live, &objects(&folder));
    folder.edit("projects/demo/project.toml", to, from);
    assert_eq!(folder.build().made(), [] as [String; 0]);
    assert_eq!(objects(&folder).len(), live.len() + 4);
    // What scenes publish (the report is rewritten by every build).
    let published = |folder: &Folder| -> Vec<(String, u64)> {
        (folder.out_files().into_iter())
            .filter(|f| f != "out/report.html")
            .map(|f| (f.clone(), std::fs::metadata(folder.file(&f)).unwrap().ino()))
            .collect()
    };
    let out = published(&folder);

    let run = render(&folder, &["gc", "--keep-builds", "0"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        listed(&run),
        expected(&edited),
        "the edited line's speech and clip, its scene and its captions:\n{}",
        run.stdout
    );
    let names: BTreeSet<&str> = edited.values().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "captions demo/dialogue",
            "clip demo/dialogue:3",
            "scene demo/dialogue",
            "speech demo/dialogue:3"
        ])
    );
    assert_eq!(objects(&folder), live);
    assert_eq!(folder.build().made(), [] as [String; 0]);
    assert_eq!(published(&folder), out, "out/ changed");
}

#[test]
fn max_size_removes_least_recently_used_kept_objects_and_never_needed_ones() {
    let folder = Folder::tiny();
    build_making(&folder, 9);
    let [before, first] = edit_and_undo(&folder, "One two three.", "One two four.");
    let [_, second] = edit_and_undo(&folder, "Seven eight.", "Seven nine.");
    let all = objects(&folder);
    assert_eq!(all.len(), 17);
    let total = bytes_of(&folder, &all);

    // Room for all but the first edit's objects: they were used longest ago.
    let limit = (total - bytes_of(&folder, &first)).to_string();
    let run = render(&folder, &["gc", "--max-size", &limit]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(listed(&run), expected(&first), "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .all(|l| l.contains("  last used by the build of ")),
        "{}",
        run.stdout
    );
    let mut left = before.clone();
    left.extend(second.clone());
    assert_eq!(objects(&folder), left);

    // A limit below what the scenes need: every kept object goes, no needed one.
    let run = render(&folder, &["gc", "--max-size", "1K"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(listed(&run), expected(&second), "{}", run.stdout);
    assert_line(
        &run,
        &format!(
            "render: the cache stays at {}, over --max-size 1.0 KiB: the rest is needed by the declared scenes",
            human_bytes(bytes_of(&folder, &before))
        ),
    );
    assert_eq!(objects(&folder), before);
    build_making(&folder, 0);

    let run = render(&folder, &["gc", "--max-size", "2 parsecs"]);
    assert_eq!(run.code, 64, "a size clap cannot parse is a usage error");
    assert!(
        run.stderr.contains("`2 parsecs` is not a size"),
        "{}",
        run.stderr
    );
}

#[test]
fn gc_waits_for_a_running_build_and_removes_nothing_until_it_ends() {
    let folder = Folder::tiny();
    build_making(&folder, 9);
    folder.edit(PROJECT, "Four five six.", "Four five seven.");
    build_making(&folder, 4);
    assert_eq!(objects(&folder).len(), 13);

    // A build holds the lock, as `render build` does.
    let lock = std::fs::File::open(folder.file("cache/lock")).unwrap();
    // SAFETY: flock on a file descriptor this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let stderr = folder.file("gc.stderr");
    let mut gc = folder
        .command(&["gc", "--keep-builds", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !std::fs::read_to_string(&stderr)
        .unwrap()
        .contains("render: waiting for another build of this folder to finish (pid ")
    {
        assert!(gc.try_wait().unwrap().is_none(), "gc did not wait");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gc never said it waits"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(gc.try_wait().unwrap().is_none(), "gc did not wait");
    assert_eq!(
        objects(&folder).len(),
        13,
        "gc removed objects under a build"
    );

    drop(lock);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = gc.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gc never finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(status.success(), "{log}");
    assert!(log.contains("render: removed 4 objects"), "{log}");
    assert_eq!(objects(&folder).len(), 9);
    build_making(&folder, 0);
}

#[test]
fn gc_refuses_with_configuration_errors_and_removes_nothing() {
    let folder = Folder::tiny();
    build_making(&folder, 9);
    folder.edit(PROJECT, "Four five six.", "Four five seven.");
    build_making(&folder, 4);
    // Another project with a mistake: its scenes' objects would look unneeded.
    folder.write(
        "projects/q/project.toml",
        "[[scene]]\nname = \"x\"\nvoice = \"nobody\"\nlines = [\"Hi.\"]\n",
    );
    for args in [
        &["gc", "--keep-builds", "0"][..],
        &["gc", "-n", "--keep-builds", "0"],
    ] {
        let run = render(&folder, args);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("nobody"), "{}", run.stderr);
        assert_line(
            &run,
            "render: gc removed nothing: with configuration errors",
        );
        assert_eq!(run.stdout, "");
        assert_eq!(objects(&folder).len(), 13);
    }
    // status shows the valid scenes, and does not guess what the others need.
    let run = render(&folder, &["status"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.starts_with("kind "), "{}", run.stdout);
    assert!(!run.stdout.contains("not needed"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with(
            "(scenes with configuration errors are left out: what they need cannot be told)\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn status_counts_stale_artifacts_per_kind_and_the_cache_by_need() {
    let folder = Folder::tiny();
    build_making(&folder, 9);
    let before = objects(&folder);
    folder.edit(PROJECT, "Four five six.", "Four five seven.");
    std::fs::create_dir_all(folder.file("cache/quarantine/abc-1")).unwrap();
    folder.write(
        "cache/quarantine/abc-1/reason.txt",
        "speech p/talk:1\nbroken\n",
    );

    let run = render(&folder, &["status"]);
    // Stale is not an error: status describes.
    assert_eq!(run.code, 0, "{}", run.stderr);
    let unneeded: BTreeMap<String, String> = (before.iter())
        .filter(|(_, name)| {
            [
                "speech p/talk:2",
                "clip p/talk:2",
                "scene p/talk",
                "captions p/talk",
            ]
            .contains(&name.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(unneeded.len(), 4);
    let (all, gone) = (bytes_of(&folder, &before), bytes_of(&folder, &unneeded));
    let sizes = [all, all - gone, gone, gone, 0, 23].map(human_bytes);
    // The size column is as wide as its widest cell.
    let w = sizes
        .iter()
        .map(String::len)
        .max()
        .unwrap()
        .max("size".len());
    let expected = format!(
        "\
kind        declared  stale
speech             3      1
face-track         1      0
clip               3      1
scene              1      1
captions           1      1
all                9      4

cache                                      objects  {:>w$}
objects                                          9  {:>w$}
  needed by the declared scenes                  5  {:>w$}
  not needed                                     4  {:>w$}
    used by the builds of the last 7 days        4  {:>w$}
    removable by render gc                       0  {:>w$}
quarantine                                       1  {:>w$}
",
        "size", sizes[0], sizes[1], sizes[2], sizes[3], sizes[4], sizes[5],
    );
    assert_eq!(run.stdout, expected);
    // Only read: nothing under cache/ changed.
    assert_eq!(objects(&folder), before);
}

/// A farm build's folder as `render build --farm slurm` leaves it in `cache/farm/`: one
/// Slurm job's script, logs and results, its specs, its driver's lock and (`ended`) the
/// mark that every Slurm job it submitted has ended. Its name says it started at `stamp`.
fn farm_folder(folder: &Folder, stamp: u64, ended: bool) -> String {
    let name = format!("render-0a1b2c3d-{stamp}-4242");
    let dir = format!("cache/farm/{name}");
    for file in ["1.sh", "1.out", "1.err", "1.results", "driver.lock"] {
        folder.write(&format!("{dir}/{file}"), "render's\n");
    }
    folder.write(&format!("{dir}/specs/00003-speech.json"), "{}\n");
    folder.write(&format!("{dir}/cuts/specs/00001-speech.json"), "{}\n");
    folder.write(&format!("{dir}/cuts/1.sh"), "render's\n");
    if ended {
        folder.write(&format!("{dir}/ended"), "");
    }
    name
}

fn farm_files(folder: &Folder, name: &str) -> Vec<String> {
    let dir = folder.file(&format!("cache/farm/{name}"));
    common::files_under(&dir, &dir)
}

/// When the folder's last build started (seconds since the epoch, from its history).
fn last_build_started(folder: &Folder) -> f64 {
    let history = folder.read("cache/history.jsonl");
    serde_json::from_str::<serde_json::Value>(history.lines().last().unwrap()).unwrap()["started"]
        .as_f64()
        .unwrap()
}

#[test]
fn gc_and_clean_remove_finished_farm_builds_files_and_nothing_else() {
    let folder = Folder::tiny();
    build_making(&folder, 9);
    let started = last_build_started(&folder);
    let before = started as u64 - 3600;
    let old = farm_folder(&folder, before, true);
    let with_users = farm_folder(&folder, before + 1, true);
    folder.write(&format!("cache/farm/{with_users}/notes.txt"), "mine\n");
    folder.write(
        &format!("cache/farm/{with_users}/specs/mine.json"),
        "mine\n",
    );
    // A driver killed before its Slurm jobs ended, and no Slurm client to ask: it stays.
    let unsure = farm_folder(&folder, before + 2, false);
    // A build still running (its driver holds its lock): it stays.
    let running = farm_folder(&folder, before + 3, true);
    let lock =
        std::fs::File::open(folder.file(&format!("cache/farm/{running}/driver.lock"))).unwrap();
    // SAFETY: flock on a file descriptor this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    // The kept build's own.
    let kept = farm_folder(&folder, started as u64 + 1, true);
    // No Slurm client answers: its `squeue` fails at once (the real one, without a
    // slurm.conf, takes a minute to give up on finding one).
    let bin = folder.file("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    common::write_program(&bin.join("squeue"), "#!/bin/sh\nexit 1\n");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let no_slurm = [("PATH", path.as_str())];
    let gc = |args: &[&str]| {
        let run = folder.render_with_env(args, &no_slurm, Duration::from_secs(60));
        assert_eq!(run.code, 0, "{}", run.stderr);
        run
    };
    let all = |folder: &Folder| {
        [&old, &with_users, &unsure, &running, &kept].map(|n| farm_files(folder, n).len())
    };
    assert_eq!(all(&folder), [9, 11, 8, 9, 9]);

    let listed = |run: &Run| -> Vec<String> {
        (run.stdout.lines())
            .filter(|l| l.starts_with("farm  "))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
            .collect()
    };
    let dry = gc(&["gc", "-n", "--keep-builds", "1"]);
    assert_eq!(
        listed(&dry),
        [old.clone(), with_users.clone()],
        "{}",
        dry.stdout
    );
    assert_eq!(all(&folder), [9, 11, 8, 9, 9], "gc -n removed something");

    let run = gc(&["gc", "--keep-builds", "1"]);
    assert_eq!(
        listed(&run),
        [old.clone(), with_users.clone()],
        "{}",
        run.stdout
    );
    assert_line(
        &run,
        &format!("render: kept cache/farm/{unsure}/: its build did not say its Slurm jobs ended"),
    );
    assert_line(
        &run,
        &format!("render: kept cache/farm/{running}/: its build is running"),
    );
    assert_line(&run, "render: removed the files of 2 farm build(s)");
    assert_line(
        &run,
        &format!("render: left cache/farm/{with_users}/notes.txt (not render's)"),
    );
    assert!(!folder.file(&format!("cache/farm/{old}")).exists());
    assert_eq!(
        farm_files(&folder, &with_users),
        ["ended", "notes.txt", "specs/mine.json"]
    );
    assert_eq!(all(&folder)[2..], [8, 9, 9]);
    // The cache's objects are the build's: a no-op.
    build_making(&folder, 0);

    // clean: every finished build's files, never a running one's, never the user's.
    let run = folder.render_with_env(&["clean"], &no_slurm, Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("removed cache/farm/ (the Slurm jobs' files of 1 farm build"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "left cache/farm/{running}/ (its build is running)"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "left cache/farm/{with_users}/notes.txt (not render's)"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("left cache/farm/{unsure}/ (its build did not say")),
        "{}",
        run.stdout
    );
    assert!(!folder.file(&format!("cache/farm/{kept}")).exists());
    assert_eq!(all(&folder)[2..], [8, 9, 0]);
    drop(lock);
    let run = folder.render_with_env(&["clean"], &no_slurm, Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !folder.file(&format!("cache/farm/{running}")).exists(),
        "{}",
        run.stdout
    );
    assert_eq!(
        farm_files(&folder, &with_users),
        ["ended", "notes.txt", "specs/mine.json"]
    );
}

#[test]
fn gc_gives_a_slurm_that_does_not_answer_seconds_not_a_minute() {
    let folder = Folder::tiny();
    build_making(&folder, 9);
    let started = last_build_started(&folder);
    let before = started as u64 - 3600;
    let ended = farm_folder(&folder, before, true);
    let unsure = farm_folder(&folder, before + 1, false);
    // A Slurm client whose `squeue` never answers (a controller that is down, or none
    // configured: the real one then takes a minute to give up).
    let bin = folder.file("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    common::write_program(&bin.join("sbatch"), "#!/bin/sh\necho 'slurm 22.05.8'\n");
    common::write_program(&bin.join("squeue"), "#!/bin/sh\nexec sleep 600\n");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let start = Instant::now();
    let run = folder.render_with_env(
        &["gc", "--keep-builds", "1"],
        &[("PATH", path.as_str())],
        Duration::from_secs(120),
    );
    let took = start.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(took < Duration::from_secs(20), "gc took {took:?}");
    assert_line(
        &run,
        "render: Slurm did not answer, so farm builds are judged by their `ended` mark",
    );
    assert!(run.stderr.contains("stopped after 5 s"), "{}", run.stderr);
    assert_line(
        &run,
        &format!("render: kept cache/farm/{unsure}/: its build did not say its Slurm jobs ended"),
    );
    assert!(!folder.file(&format!("cache/farm/{ended}")).exists());
    assert_eq!(farm_files(&folder, &unsure).len(), 8);
}
