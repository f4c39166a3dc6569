//! Ctrl-C and other ways a build is watched or stopped: Ctrl-C at any moment exits 130
//! and leaves no process and no half-written file; what it stopped is "cancelled", never
//! "failed"; a job that runs long is named while it runs; `build --dry-run` only reads.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ctrl_c, processes_left_in, tone_wav, wait_for_sigint_handler, Folder};

/// A content folder with the demo's face, an espeak voice and `engines` (with the voices
/// that use them) added to its Renderfile; `project` is projects/demo/project.toml.
fn folder(engines: &str, project: &str) -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [160, 90]\nvoice = \"bob\"\n\
             avatar = \"astronaut\"\n\n[voices.bob]\nengine = \"espeak\"\n\n\
             [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n\n{engines}"
        ),
    );
    folder.write("projects/demo/project.toml", project);
    folder
}

/// A speech engine `fake` running the shell script `script` as
/// `fake <folder> <out> <text>`, and the voice `ada` that uses it.
fn fake_speech(script: &str, project: &str) -> Folder {
    let folder = folder(
        "[engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\n\
         args = [\"{engine_dir}\", \"{out}\", \"{text}\"]\ntimeout = 600\n\n\
         [voices.ada]\nengine = \"fake\"\n",
        project,
    );
    std::fs::write(folder.file("tone.wav"), tone_wav(16_000, 0.5)).unwrap();
    common::write_program(&folder.file("fake"), &format!("#!/bin/sh\n{script}"));
    folder
}

/// A render run in the background, its output collected as it goes.
struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// What a stopped run left: exit code, stdout, stderr.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn start(folder: &Folder, args: &[&str]) -> Running {
    let mut child = folder
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stdout, stderr) = (Arc::default(), Arc::default());
    let drain = |mut pipe: Box<dyn Read + Send>, text: &Arc<Mutex<String>>| {
        let text = Arc::clone(text);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        })
    };
    let readers = vec![
        drain(Box::new(child.stdout.take().unwrap()), &stdout),
        drain(Box::new(child.stderr.take().unwrap()), &stderr),
    ];
    Running {
        child,
        stdout,
        stderr,
        readers,
    }
}

impl Running {
    /// Waits until render has written `text` to stderr.
    fn wait_for(&self, text: &str) {
        let start = Instant::now();
        while !self.stderr.lock().unwrap().contains(text) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "render never said {text:?}: {}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for render to exit; it must within `limit`.
    fn end_within(mut self, limit: Duration) -> Ended {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > limit {
                self.child.kill().unwrap();
                self.child.wait().unwrap();
                panic!(
                    "render still running {limit:?} after Ctrl-C; stderr:\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for reader in std::mem::take(&mut self.readers) {
            reader.join().unwrap();
        }
        let take = |text: &Arc<Mutex<String>>| std::mem::take(&mut *text.lock().unwrap());
        Ended {
            code: status.code(),
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
        }
    }
}

impl Drop for Running {
    /// A failed test leaves no render behind (its children die with it).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What must hold after any stopped run: no process of it left, nothing half-written in
/// cache/tmp, nothing in out/ but complete scenes and the report.
fn assert_stopped_cleanly(folder: &Folder, ended: &Ended) {
    let left = processes_left_in(folder.path());
    assert!(left.is_empty(), "left running: {left:?}\n{}", ended.stderr);
    assert_eq!(
        common::files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new(),
        "{}",
        ended.stderr
    );
    // Scenes (videos and their stills) and the report; no staged copy of either.
    for file in folder.out_files() {
        let known = file == "out/report.html" || file.ends_with(".mp4") || file.ends_with(".jpg");
        assert!(known && !file.contains(".tmp-"), "{file} in out/");
    }
    assert!(!ended.stderr.contains("panicked"), "{}", ended.stderr);
}

/// Artifact name → status, from a `--json` report.
fn statuses(folder: &Folder, report: &str) -> BTreeMap<String, String> {
    let Ok(bytes) = std::fs::read(folder.file(report)) else {
        return BTreeMap::new();
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    (value["artifacts"].as_array().unwrap().iter())
        .map(|a| {
            let field = |name: &str| a[name].as_str().unwrap().to_string();
            (field("name"), field("status"))
        })
        .collect()
}

/// A folder of 5,000 spoken lines: loading and planning it takes a moment.
fn big_folder() -> Folder {
    let folder = folder("", "");
    std::fs::remove_dir_all(folder.file("projects/demo")).unwrap();
    for p in 0..20 {
        let mut project = String::new();
        for s in 0..10 {
            let lines: Vec<String> = (0..25)
                .map(|l| format!("\"Line {l} of scene {s} in project {p}.\""))
                .collect();
            project.push_str(&format!(
                "[[scene]]\nname = \"s{s}\"\nlines = [{}]\n\n",
                lines.join(", ")
            ));
        }
        folder.write(&format!("projects/p{p}/project.toml"), &project);
    }
    folder
}

#[test]
fn ctrl_c_while_loading_or_planning_exits_130() {
    let folder = big_folder();
    // From the first instant render handles Ctrl-C to well into the build: whatever it was
    // doing, it stops with 130 and leaves nothing behind.
    for delay in [0, 0, 40, 120, 300, 700] {
        let running = start(&folder, &["build", "--json", "report.json"]);
        wait_for_sigint_handler(running.child.id());
        std::thread::sleep(Duration::from_millis(delay));
        ctrl_c(running.child.id());
        let ended = running.end_within(Duration::from_secs(20));
        assert_eq!(ended.code, Some(130), "after {delay} ms: {}", ended.stderr);
        assert!(
            ended.stderr.contains("render: interrupted"),
            "after {delay} ms: {}",
            ended.stderr
        );
        assert!(!ended.stderr.contains("FAILED"), "{}", ended.stderr);
        assert_stopped_cleanly(&folder, &ended);
        let statuses = statuses(&folder, "report.json");
        assert!(
            !statuses.values().any(|s| s == "failed" || s == "skipped"),
            "after {delay} ms: {statuses:?}"
        );
    }

    // `plan` too: no answer rather than half of one. A plan that finished before the
    // signal came is complete and exits 0; one of these tries must catch it at work.
    let mut stopped = 0;
    for _ in 0..3 {
        let running = start(&folder, &["plan"]);
        wait_for_sigint_handler(running.child.id());
        ctrl_c(running.child.id());
        let ended = running.end_within(Duration::from_secs(20));
        match ended.code {
            Some(130) => {
                stopped += 1;
                assert_eq!(ended.stdout, "", "a partial plan");
                assert_eq!(ended.stderr, "render: interrupted\n");
            }
            Some(0) => assert!(
                ended.stdout.contains("artifacts to make"),
                "{}",
                ended.stdout
            ),
            other => panic!("plan exited {other:?}: {}", ended.stderr),
        }
        assert_stopped_cleanly(&folder, &ended);
    }
    assert!(stopped > 0, "no Ctrl-C came while planning");
}

#[test]
fn ctrl_c_while_building_cancels_the_running_jobs() {
    // Each line's program records itself, then waits on a child that would outlive it.
    let folder = fake_speech(
        "echo $$ >> \"$1/started\"\nsleep 600 &\nwait\n",
        "[[scene]]\nname = \"intro\"\nvoice = \"ada\"\nlines = [\"One.\", \"Two.\", \"Three.\", \"Four.\"]\n",
    );
    let running = start(&folder, &["build", "--jobs", "2", "--json", "report.json"]);
    let begin = Instant::now();
    let started = || std::fs::read_to_string(folder.file("started")).unwrap_or_default();
    while started().lines().count() < 2 {
        assert!(
            begin.elapsed() < Duration::from_secs(60),
            "the programs never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ctrl_c(running.child.id());
    let ended = running.end_within(Duration::from_secs(20));
    assert_eq!(ended.code, Some(130), "{}", ended.stderr);
    assert_stopped_cleanly(&folder, &ended);
    // No video; the report of the stopped build.
    assert_eq!(folder.out_files(), ["out/report.html"]);

    // Two lines were being spoken: cancelled (and the face track, when its landmarks were
    // still on the lane). Nothing failed, nothing was skipped for a failed input; the rest
    // was not started.
    let statuses = statuses(&folder, "report.json");
    let with = |status: &str| -> Vec<&str> {
        (statuses.iter())
            .filter(|(_, s)| *s == status)
            .map(|(name, _)| name.as_str())
            .collect()
    };
    let cancelled = with("cancelled");
    let speech = (cancelled.iter()).filter(|name| name.starts_with("speech demo/intro:"));
    assert_eq!(speech.count(), 2, "{statuses:?}");
    assert!(
        (cancelled.iter())
            .all(|name| name.starts_with("speech demo/intro:") || *name == "face-track astronaut"),
        "{statuses:?}"
    );
    assert_eq!(with("failed"), Vec::<&str>::new());
    assert_eq!(with("skipped"), Vec::<&str>::new());
    assert!(with("not-started").contains(&"scene demo/intro"));
    for name in &cancelled {
        assert!(
            ended.stderr.contains(&format!("cancelled {name}\n")),
            "{}",
            ended.stderr
        );
    }
    assert!(!ended.stderr.contains("FAILED"), "{}", ended.stderr);
    let summary = (ended.stderr.lines())
        .find(|l| l.starts_with("render: made "))
        .unwrap_or_else(|| panic!("no summary: {}", ended.stderr));
    let counted = format!(", failed 0, cancelled {},", cancelled.len());
    assert!(summary.contains(&counted), "{summary}");
    assert!(!summary.contains("skipped"), "{summary}");

    // What was cancelled is made by the next build.
    let fast = "cp \"$1/tone.wav\" \"$2\"\n";
    common::write_program(&folder.file("fake"), &format!("#!/bin/sh\n{fast}"));
    folder.build();
}

#[test]
fn ctrl_c_while_waiting_for_another_build_exits_130() {
    let folder = fake_speech(
        "echo $$ >> \"$1/started\"\nsleep 600 &\nwait\n",
        "[[scene]]\nname = \"intro\"\nvoice = \"ada\"\nlines = [\"One.\"]\n",
    );
    let first = start(&folder, &["build"]);
    let begin = Instant::now();
    while !folder.file("started").exists() {
        assert!(begin.elapsed() < Duration::from_secs(60), "no first build");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = start(&folder, &["build"]);
    second.wait_for("render: waiting for another build of this folder to finish");
    ctrl_c(second.child.id());
    let ended = second.end_within(Duration::from_secs(10));
    assert_eq!(ended.code, Some(130), "{}", ended.stderr);
    assert!(
        ended.stderr.ends_with("render: interrupted\n"),
        "{}",
        ended.stderr
    );

    // The first build was not disturbed; now it is stopped too.
    ctrl_c(first.child.id());
    let ended = first.end_within(Duration::from_secs(20));
    assert_eq!(ended.code, Some(130), "{}", ended.stderr);
    assert_stopped_cleanly(&folder, &ended);
}

#[test]
fn a_job_that_runs_long_is_named_while_it_runs() {
    // The second line takes three seconds; the threshold is lowered to one.
    let folder = fake_speech(
        "case \"$3\" in *slow*) sleep 3;; esac\ncp \"$1/tone.wav\" \"$2\"\n",
        "[[scene]]\nname = \"intro\"\nvoice = \"ada\"\nlines = [\"Quick.\", \"A slow one.\"]\n",
    );
    let run = folder.render_with_env(
        &["build"],
        &[("RENDER_STALL_SECONDS", "1")],
        Duration::from_secs(120),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = |line: &str| {
        (lines.iter().position(|l| *l == line))
            .unwrap_or_else(|| panic!("no line {line:?} in:\n{}", run.stderr))
    };
    let first = at("render: still running after 1 s: speech demo/intro:2");
    let second = at("render: still running after 2 s: speech demo/intro:2");
    let made = (lines.iter())
        .position(|l| l.starts_with("made speech demo/intro:2 "))
        .unwrap();
    assert!(first < second && second < made, "{}", run.stderr);
    // The quick line is never named (a busy machine may name others: they are slow too).
    assert!(
        !run.stderr.contains(": speech demo/intro:1\n"),
        "{}",
        run.stderr
    );
}

/// Every file and folder under `dir` with its size and modification time.
fn snapshot(dir: &std::path::Path) -> BTreeMap<String, (u64, i64, i64)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let meta = e.path().symlink_metadata().unwrap();
            let name = e.path().to_string_lossy().to_string();
            (name, (meta.len(), meta.mtime(), meta.mtime_nsec()))
        })
        .collect()
}

/// Makes everything under `dir` read-only (`writable: false`) or writable again.
fn set_writable(dir: &std::path::Path, writable: bool) {
    for entry in walkdir::WalkDir::new(dir).into_iter().map(|e| e.unwrap()) {
        let meta = entry.path().symlink_metadata().unwrap();
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode();
        let mode = if writable {
            mode | 0o200
        } else {
            mode & !0o222
        };
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn a_dry_run_only_reads_and_works_on_a_read_only_folder() {
    let folder = folder(
        "",
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello there.\"]\n",
    );
    // espeak-ng's audio library writes its config under XDG_CONFIG_HOME: not in the folder.
    let config = tempfile::tempdir().unwrap();
    let check = |expected: &str| {
        let before = snapshot(folder.path());
        set_writable(folder.path(), false);
        let run = (folder.command(&["build", "--dry-run"]))
            .env("XDG_CONFIG_HOME", config.path())
            .output()
            .unwrap();
        set_writable(folder.path(), true);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr),
        );
        assert_eq!(run.status.code(), Some(0), "{stderr}");
        assert!(stdout.contains(expected), "{stdout}");
        // Root may write to a read-only folder: that nothing changed is what shows a dry
        // run wrote nothing (no lock, no cache folders, no remembered hashes).
        assert_eq!(snapshot(folder.path()), before, "{stderr}");
    };
    // Never built: the plan is everything, and no cache/ appears.
    check("5 of 5 artifacts to make");
    assert!(!folder.file("cache").exists());

    // Built, then a line edited: only what the edit touches, and the cache is untouched.
    folder.build();
    folder.edit("projects/demo/project.toml", "Hello there.", "Hello again.");
    check("4 of 5 artifacts to make");
}
