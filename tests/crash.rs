//! Builds killed with SIGKILL at random moments never corrupt the cache or out/: the next
//! normal build succeeds, every object matches its record, and out/ holds only whole
//! videos that are exactly cached scenes.

mod common;

use common::Folder;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

#[test]
fn killed_builds_leave_a_consistent_cache() {
    let folder = Folder::small_demo();
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };

    // How long a cold build takes here, to spread the kills over it.
    let start = Instant::now();
    folder.build();
    let cold = start.elapsed();
    std::fs::remove_dir_all(folder.file("cache")).unwrap();
    std::fs::remove_dir_all(folder.file("out")).unwrap();

    for round in 0..10 {
        // Changing a line each round keeps some work stale, so kills land mid-build.
        folder.write(
            "projects/demo/welcome.txt",
            &format!("Round {round} starts now.\nThe cache must survive this.\n[guest] Kill me if you can.\n"),
        );
        let mut child = folder
            .command(&["build"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(next() % (cold.as_millis() as u64).max(50));
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let run = folder.render(&["build"]);
        assert_eq!(
            run.code, 0,
            "round {round} (killed after {delay:?}):\n{}",
            run.stderr
        );
        folder.verify_cache();
        for file in folder.out_files() {
            assert!(!file.contains("tmp"), "partial file {file} in out/");
            if file == "out/report.html" {
                continue;
            }
            // A video, poster, sheet or captions: each exactly a scene's (or its
            // captions') object file.
            let object_file = match () {
                _ if file.ends_with(".sheet.jpg") => "sheet.jpg",
                _ if file.ends_with(".jpg") => "poster.jpg",
                _ if file.ends_with(".srt") => "captions.srt",
                _ if file.ends_with(".vtt") => "captions.vtt",
                _ => "scene.mp4",
            };
            let bytes = std::fs::read(folder.file(&file)).unwrap();
            let hash = blake3::hash(&bytes).to_hex().to_string();
            let cached = walkdir::WalkDir::new(folder.file("cache/objects"))
                .into_iter()
                .map(|e| e.unwrap())
                .filter(|e| e.file_name() == object_file)
                .any(|e| {
                    blake3::hash(&std::fs::read(e.path()).unwrap())
                        .to_hex()
                        .to_string()
                        == hash
                });
            assert!(cached, "{file} is not a cached scene");
        }
        assert_eq!(
            common::files_under(&folder.file("cache/tmp"), folder.path()),
            Vec::<String>::new()
        );
    }
}

#[test]
fn ctrl_c_stops_cleanly_and_the_next_build_resumes() {
    let folder = Folder::small_demo();
    let child = folder
        .command(&["build", "--json", "report.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until a clip (an ffmpeg child) is being made, then interrupt.
    let start = Instant::now();
    while !folder.file("cache/objects").exists()
        || walkdir::WalkDir::new(folder.file("cache/objects"))
            .into_iter()
            .count()
            < 8
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the build never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("render: interrupted; the cache is consistent and the next build resumes"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    assert_eq!(
        common::files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new()
    );
    let made_before = folder.verify_cache();

    assert!(
        (1..24).contains(&made_before),
        "{made_before} objects before the interrupt"
    );

    // Nothing finished before Ctrl-C is made again.
    let run = folder.build();
    assert_eq!(run.made().len(), 24 - made_before, "{}", run.stderr);
    folder.verify_cache();
}

#[test]
fn a_second_build_of_the_same_folder_waits_for_the_first() {
    let folder = Folder::small_demo();
    let first = folder
        .command(&["build"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let the first build take the lock.
    let start = Instant::now();
    while !folder.file("cache/objects").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the first build never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = first.id();
    let second = folder.render(&["build"]);
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0));
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stderr.starts_with(&format!(
            "render: waiting for another build of this folder to finish (pid {pid})\n"
        )),
        "{}",
        second.stderr
    );
    // The first build made everything; the second found it all done.
    assert_eq!(second.made(), Vec::<String>::new());
    folder.verify_cache();
}
