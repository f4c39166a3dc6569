//! `render watch`: builds, then builds again on every saved change; an edit during a build
//! stops it and the next build reuses what it committed; a configuration error leaves the
//! watch alive; Ctrl-C exits 130 with nothing left in cache/tmp.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::background::Background;
use common::{ctrl_c, processes_left_in, tone_wav, wait_for_sigint_handler, Folder};

const LIMIT: Duration = Duration::from_secs(120);

/// The history's records: per build, its exit and artifact name → status.
fn history(folder: &Folder) -> Vec<(i64, Vec<(String, String)>)> {
    let text = std::fs::read_to_string(folder.file("cache/history.jsonl")).unwrap_or_default();
    (text.lines())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|record| {
            let artifacts = (record["artifacts"].as_array().unwrap().iter())
                .map(|a| {
                    let field = |name: &str| a[name].as_str().unwrap().to_string();
                    (field("name"), field("status"))
                })
                .collect();
            (record["exit"].as_i64().unwrap(), artifacts)
        })
        .collect()
}

fn with_status(artifacts: &[(String, String)], status: &str) -> BTreeSet<String> {
    (artifacts.iter())
        .filter(|(_, s)| s == status)
        .map(|(name, _)| name.clone())
        .collect()
}

/// How many builds the watch has reported (its one line each).
fn builds(stdout: &str) -> usize {
    stdout.lines().filter(|l| l.contains("] build ")).count()
}

fn watch(folder: &Folder) -> Background {
    let watch = Background::start(folder, &["watch"], &[("RENDER_WATCH_DEBOUNCE_MS", "100")]);
    wait_for_sigint_handler(watch.pid());
    watch
}

#[test]
fn an_edit_rebuilds_that_line_and_a_broken_declaration_leaves_the_watch_alive() {
    let folder = Folder::tiny();
    let mut watch = watch(&folder);
    watch.wait_until("the first build", LIMIT, |out, _| builds(out) == 1);
    assert!(watch
        .stdout()
        .contains("] build 1: made 9, reused 0, failed 0 in "));
    assert!(folder.file("out/p/talk.mp4").is_file());

    // One line edited: exactly that line's artifacts, and the scene they make.
    folder.edit(
        "projects/p/project.toml",
        "Four five six.",
        "Four five seven.",
    );
    watch.wait_until("the second build", LIMIT, |out, _| builds(out) == 2);
    let second = watch.stdout().lines().nth(1).unwrap().to_string();
    assert!(
        second.contains("build 2: made 4, reused 5, failed 0"),
        "{second}"
    );
    assert!(second.ends_with("(projects/p/project.toml)"), "{second}");
    let records = history(&folder);
    assert_eq!(records.len(), 2);
    assert_eq!(
        with_status(&records[1].1, "made"),
        BTreeSet::from(
            [
                "speech p/talk:2",
                "clip p/talk:2",
                "captions p/talk",
                "scene p/talk"
            ]
            .map(String::from)
        )
    );

    // Broken TOML: the diagnostic, where it is, and the watch goes on.
    folder.write("projects/p/project.toml", "[[scene]\nname = \"talk\"\n");
    watch.wait_until("the broken build", LIMIT, |out, _| builds(out) == 3);
    assert!(
        watch
            .stdout()
            .contains("build 3: configuration error (above)"),
        "{}",
        watch.stdout()
    );
    assert!(
        watch.stderr().contains("projects/p/project.toml:1:"),
        "{}",
        watch.stderr()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(watch.alive(), "{}", watch.stderr());

    // Fixed: it builds (nothing to make for the lines it had).
    folder.write(
        "projects/p/project.toml",
        "[[scene]]\nname = \"talk\"\nlines = [\"One two three.\", \"Four five seven.\", \"Seven eight.\"]\n",
    );
    watch.wait_until("the fixed build", LIMIT, |out, _| builds(out) == 4);
    let fourth = watch.stdout().lines().nth(3).unwrap().to_string();
    assert!(
        fourth.contains("build 4: made 0, reused 9, failed 0"),
        "{fourth}"
    );

    // Changes in out/ and cache/ are render's own: no build.
    std::fs::write(folder.file("out/note.txt"), "mine").unwrap();
    std::fs::write(folder.file("cache/note.txt"), "mine").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(builds(&watch.stdout()), 4, "{}", watch.stdout());

    ctrl_c(watch.pid());
    assert_eq!(watch.end_within(LIMIT), Some(130));
}

/// A folder whose voice `slow` speaks through a fake engine taking `seconds` a line
/// (writing each line it starts into .marks/started, which the watch ignores), one job at
/// a time, four lines.
fn slow_folder(seconds: f64) -> Folder {
    let folder = Folder::tiny();
    folder.edit("Renderfile.toml", "voice = \"host\"", "voice = \"slow\"");
    let text = folder.read("Renderfile.toml");
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\njobs = 1\n\n{text}\n[engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\n\
             args = [\"{{engine_dir}}\", \"{{out}}\", \"{{text}}\"]\ntimeout = 600\n\n\
             [voices.slow]\nengine = \"fake\"\n"
        ),
    );
    folder.write(
        "projects/p/project.toml",
        "[[scene]]\nname = \"talk\"\nlines = [\"One.\", \"Two.\", \"Three.\", \"Four.\"]\n",
    );
    std::fs::create_dir_all(folder.file(".marks")).unwrap();
    std::fs::write(folder.file("tone.wav"), tone_wav(16_000, 0.5)).unwrap();
    common::write_program(
        &folder.file("fake"),
        &format!(
            "#!/bin/sh\necho \"$3\" >> \"$1/.marks/started\"\nsleep {seconds} &\nwait\ncp \"$1/tone.wav\" \"$2\"\n"
        ),
    );
    folder
}

fn started(folder: &Folder) -> Vec<String> {
    let text = std::fs::read_to_string(folder.file(".marks/started")).unwrap_or_default();
    text.lines().map(String::from).collect()
}

#[test]
fn an_edit_during_a_build_stops_it_and_the_next_build_reuses_what_it_committed() {
    let folder = slow_folder(3.0);
    let mut watch = watch(&folder);
    // The second line's speech has started: the first one's is committed (one job at a
    // time).
    watch.wait_until("the second speech", LIMIT, |_, _| {
        started(&folder).len() >= 2
    });
    folder.edit("projects/p/project.toml", "\"Four.\"", "\"Four, again.\"");
    watch.wait_until("two builds", LIMIT, |out, _| builds(out) == 2);
    let lines: Vec<String> = watch.stdout().lines().map(String::from).collect();
    assert!(lines[0].contains("(stopped) (start)"), "{lines:?}");
    assert!(lines[1].ends_with("(projects/p/project.toml)"), "{lines:?}");
    let records = history(&folder);
    assert_eq!(records.len(), 2, "{records:?}");
    // The stopped build: exit 130, the first speech made, the second cancelled, nothing
    // failed, nothing after it launched.
    let (exit, first) = &records[0];
    assert_eq!(*exit, 130);
    assert!(
        with_status(first, "made").contains("speech p/talk:1"),
        "{first:?}"
    );
    // What ran was cancelled (the second speech, and the face track on its lane when it
    // was still at it), nothing failed, and nothing after the second line launched.
    assert!(
        with_status(first, "cancelled").contains("speech p/talk:2"),
        "{first:?}"
    );
    assert!(with_status(first, "failed").is_empty(), "{first:?}");
    for name in ["speech p/talk:3", "speech p/talk:4", "scene p/talk"] {
        assert!(
            with_status(first, "not-started").contains(name),
            "{first:?}"
        );
    }
    // The next: the first speech reused (not in its record), the rest made, with the
    // edited fourth line.
    let (exit, second) = &records[1];
    assert_eq!(*exit, 0, "{}", watch.stderr());
    let made = with_status(second, "made");
    assert!(!made.contains("speech p/talk:1"), "{second:?}");
    for name in [
        "speech p/talk:2",
        "speech p/talk:3",
        "speech p/talk:4",
        "scene p/talk",
    ] {
        assert!(made.contains(name), "{name} not made: {second:?}");
    }
    assert_eq!(
        started(&folder),
        ["One.", "Two.", "Two.", "Three.", "Four, again."],
        "each line spoken once more at most, the edited one with its new text"
    );
    ctrl_c(watch.pid());
    assert_eq!(watch.end_within(LIMIT), Some(130));
}

#[test]
fn ctrl_c_during_a_build_exits_130_with_nothing_left_in_cache_tmp() {
    let folder = slow_folder(30.0);
    let mut watch = watch(&folder);
    watch.wait_until("the first speech", LIMIT, |_, _| {
        !started(&folder).is_empty()
    });
    ctrl_c(watch.pid());
    assert_eq!(watch.end_within(LIMIT), Some(130));
    assert!(
        watch.stderr().contains("render: interrupted"),
        "{}",
        watch.stderr()
    );
    let line = watch.stdout();
    assert!(
        line.contains("] build 1: made 0, reused 0, failed 0, cancelled ")
            && line.contains(" (stopped) (start)"),
        "{line}"
    );
    assert_eq!(
        common::files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new()
    );
    let left = processes_left_in(folder.path());
    assert!(left.is_empty(), "left running: {left:?}");
    assert_eq!(history(&folder)[0].0, 130);
}
