//! The build history: every build appends one record to `cache/history.jsonl`; `render
//! log` lists them; a build killed while appending leaves a history that still reads.

mod common;

use common::Folder;

fn folder() -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [160, 90]\nfps = 10\n\
         background = \"#1b2030\"\nvoice = \"narrator\"\navatar = \"astronaut\"\n\n\
         [voices.narrator]\nlanguage = \"en-us\"\n\n\
         [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
    );
    folder.write(
        "projects/news/project.toml",
        "[[scene]]\nname = \"morning\"\nlines = [\"Good morning.\", \"Here is the news.\"]\n",
    );
    folder
}

/// `render log`'s rows: (build, made, reused, failed, exit, command).
fn rows(stdout: &str) -> Vec<(String, String, String, String, String, String)> {
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "build  started (UTC)             took   made  reused  failed  exit  command"
    );
    lines
        .filter(|line| !line.starts_with("       "))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            // build, date, time, took (1 to 4 words), made, reused, failed, exit, command…
            let command_at = words.iter().position(|w| *w == "render").unwrap();
            let n = |i: usize| words[command_at - i].to_string();
            (
                words[0].into(),
                n(4),
                n(3),
                n(2),
                n(1),
                words[command_at..].join(" "),
            )
        })
        .collect()
}

#[test]
fn three_builds_are_three_entries_with_their_counts() {
    let folder = folder();
    folder.build();
    folder.build();
    folder.edit("projects/news/project.toml", "Good morning.", "Good day.");
    // A failing build is recorded too, with what failed.
    folder.write(
        "projects/news/project.toml",
        "[[scene]]\nname = \"morning\"\nlines = [\"Good day.\", { audio = \"missing.wav\" }]\n",
    );
    let failed = folder.render(&["build", "--keep-going"]);
    assert_eq!(failed.code, 2, "{}", failed.stderr);

    let log = folder.render(&["log"]);
    assert_eq!(log.code, 0, "{}", log.stderr);
    let rows = rows(&log.stdout);
    let counts: Vec<(&str, &str, &str, &str, &str)> = (rows.iter())
        .map(|r| {
            (
                r.0.as_str(),
                r.1.as_str(),
                r.2.as_str(),
                r.3.as_str(),
                r.4.as_str(),
            )
        })
        .collect();
    // 1: everything (face track, 2 speeches, 2 clips, the scene, its captions); 2:
    // nothing; 3: a build of no valid scene (its configuration error left the scene out).
    assert_eq!(
        counts,
        [
            ("1", "7", "0", "0", "0"),
            ("2", "0", "7", "0", "0"),
            ("3", "0", "0", "0", "2")
        ]
    );
    assert!(
        rows[0].5.starts_with("render build --json "),
        "{}",
        rows[0].5
    );
    // -n: the most recent only, still numbered from the first.
    let last = folder.render(&["log", "-n", "1"]);
    assert_eq!(rows_of(&last.stdout), ["3"]);
}

#[test]
fn a_failed_artifact_is_named_under_its_build() {
    let folder = folder();
    let renderfile = folder.read("Renderfile.toml");
    folder.write(
        "Renderfile.toml",
        &format!(
            "{renderfile}\n[engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\n\
             args = [\"{{out}}\"]\n\n[voices.robot]\nengine = \"fake\"\n"
        ),
    );
    folder.write(
        "projects/news/project.toml",
        "[[scene]]\nname = \"morning\"\nlines = [\"Good morning.\", { text = \"Beep.\", voice = \"robot\" }]\n",
    );
    common::write_program(
        &folder.file("fake"),
        "#!/bin/sh\necho 'fake: out of cheese' >&2\nexit 3\n",
    );
    let run = folder.render(&["build", "--keep-going"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let log = folder.render(&["log"]);
    assert!(
        log.stdout
            .ends_with("       failed: speech news/morning:2\n"),
        "{}",
        log.stdout
    );
    let history = folder.read("cache/history.jsonl");
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last["exit"], 1);
    assert_eq!(last["counts"]["failed"], 1);
    // The failed line's clip and its scene, and the scene's captions.
    assert_eq!(last["counts"]["skipped"], 3);
    assert_eq!(last["failures"][0]["artifact"], "speech news/morning:2");
    let message = last["failures"][0]["message"].as_str().unwrap();
    assert!(message.contains("out of cheese"), "{message}");
}

fn rows_of(stdout: &str) -> Vec<String> {
    rows(stdout).into_iter().map(|r| r.0).collect()
}

#[test]
fn a_build_killed_mid_append_leaves_a_history_that_still_reads() {
    let folder = folder();
    folder.build();
    let history = folder.file("cache/history.jsonl");
    let length = std::fs::metadata(&history).unwrap().len();
    // The next build writes half of its record, then pauses: killed there.
    let mut child = folder
        .command(&["build"])
        .env("RENDER_TEST_PAUSE_IN_HISTORY", "60")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while std::fs::metadata(&history).unwrap().len() == length {
        assert!(start.elapsed().as_secs() < 120, "the build never appended");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let torn = std::fs::read(&history).unwrap();
    assert_ne!(torn.last(), Some(&b'\n'), "the record is cut in the middle");

    let log = folder.render(&["log"]);
    assert_eq!(log.code, 0);
    assert_eq!(rows_of(&log.stdout), ["1"]);
    assert_eq!(
        log.stderr,
        "render: skipped 1 unreadable line of the history (a build killed while writing it)\n"
    );
    // The next build's record starts on a line of its own.
    folder.build();
    let log = folder.render(&["log"]);
    assert_eq!(rows_of(&log.stdout), ["1", "2"]);
    let text = folder.read("cache/history.jsonl");
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with("}\n"));
}
