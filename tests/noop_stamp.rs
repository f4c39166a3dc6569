//! The no-op stamp (`cache/state/noop`): a plain `render build` after a no-op whose stamp
//! still holds says exactly what the full no-op said and touches nothing; anything the
//! stamp lists changed, or a flag, target, variable or binary of another build, takes the
//! full path, which does what it did before.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use common::Folder;

/// The stamp's identity (inode, mtime): the full path rewrites it, the stamped one does not.
fn stamp(folder: &Folder) -> Option<(u64, i64, i64)> {
    let meta = std::fs::metadata(folder.file("cache/state/noop")).ok()?;
    Some((meta.ino(), meta.mtime(), meta.mtime_nsec()))
}

/// A plain `render build ARGS` (no `--json`: that flag takes the full path): exit code,
/// stdout, stderr with the summary's seconds blanked.
fn plain(folder: &Folder, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    plain_with(folder, Command::new(common::bin()), args, env)
}

fn plain_with(
    folder: &Folder,
    mut command: Command,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let output = command
        .arg("build")
        .args(args)
        .current_dir(folder.path())
        .env_remove("RENDER_ENGINES")
        .env("XDG_CONFIG_HOME", folder.path().join(".config"))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let blanked = (stderr.lines())
        .map(|line| match line.rsplit_once(" in ") {
            Some((head, tail)) if head.starts_with("render: made ") && tail.ends_with(" s") => {
                format!("{head} in _ s")
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code().unwrap_or(-1), stdout, blanked)
}

/// The folder built, then left alone past the stamp's racy window (files this young are
/// always checked again), then one plain no-op that writes the stamp.
fn stamped() -> Folder {
    let folder = Folder::tiny();
    folder.build();
    settle();
    let (code, _, stderr) = plain(&folder, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stamp(&folder).is_some(),
        "the no-op wrote no stamp:\n{stderr}"
    );
    folder
}

/// Longer than the stamp's racy window (2 s).
fn settle() {
    std::thread::sleep(Duration::from_millis(2_200));
}

/// The history's records, without their times.
fn history(folder: &Folder) -> Vec<serde_json::Value> {
    (folder.read("cache/history.jsonl").lines())
        .map(|line| {
            let mut record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["started"] = 0.into();
            record["ended"] = 0.into();
            record
        })
        .collect()
}

/// Runs a plain build that must take the full path (the stamp is rewritten or removed) and
/// returns its stderr.
#[track_caller]
fn full(folder: &Folder, args: &[&str], env: &[(&str, &str)]) -> String {
    let before = stamp(folder);
    let (code, _, stderr) = plain(folder, args, env);
    assert_eq!(code, 0, "{stderr}");
    // With no stamp before, there was none to use.
    let after = stamp(folder);
    assert!(
        before.is_none() || after != before,
        "the stamp was used:\n{stderr}"
    );
    stderr
}

/// Runs a plain build that must take the stamped path (the stamp untouched).
#[track_caller]
fn fast(folder: &Folder) -> String {
    let before = stamp(folder);
    assert!(before.is_some());
    let (code, _, stderr) = plain(folder, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stamp(folder), before, "the full path was taken:\n{stderr}");
    stderr
}

#[test]
fn a_stamped_noop_says_and_records_what_the_full_noop_does() {
    let folder = stamped();
    // The full no-op again, on a fresh stamp: the same as the stamped one, byte for byte.
    std::fs::remove_file(folder.file("cache/state/noop")).unwrap();
    let (code, full_out, full_err) = plain(&folder, &[], &[]);
    assert_eq!(code, 0);
    let before = stamp(&folder).expect("a stamp");
    let page = std::fs::metadata(folder.file("out/report.html")).unwrap();
    let (code, out, err) = plain(&folder, &[], &[]);
    assert_eq!(code, 0);
    assert_eq!(stamp(&folder), Some(before), "the stamp was not used");
    assert_eq!(
        (out.as_str(), err.as_str()),
        (full_out.as_str(), full_err.as_str())
    );
    assert!(err.starts_with("render: made 0, reused "), "{err}");
    // One history line each, the same but for the times.
    let history = history(&folder);
    let n = history.len();
    assert_eq!(history[n - 1], history[n - 2]);
    assert!(!history[n - 1]["used"].as_str().unwrap().is_empty());
    // Nothing touched: the page, the lock's holder aside.
    let after = std::fs::metadata(folder.file("out/report.html")).unwrap();
    assert_eq!(
        (after.ino(), after.mtime_nsec()),
        (page.ino(), page.mtime_nsec())
    );
}

#[test]
fn each_change_takes_the_full_path_and_does_what_it_did() {
    let folder = stamped();
    fast(&folder);

    // A line's text: its speech, clip, captions and scene are made again.
    folder.edit(
        "projects/p/project.toml",
        "Four five six.",
        "Four five seven.",
    );
    let said = full(&folder, &[], &[]);
    assert!(!said.contains("render: made 0,"), "{said}");
    settle();
    full(&folder, &[], &[]);
    fast(&folder);

    // A new project folder: it is built.
    folder.write(
        "projects/q/project.toml",
        "[[scene]]\nname = \"more\"\nlines = [\"Nine.\"]\n",
    );
    let said = full(&folder, &[], &[]);
    assert!(folder.file("out/q/more.mp4").is_file(), "{said}");
    settle();
    full(&folder, &[], &[]);
    fast(&folder);

    // The avatar's image replaced by a copy of itself (same bytes, another file): the full
    // path, which re-hashes it and finds nothing to make.
    let avatar = folder.file("avatars/astronaut.png");
    let bytes = std::fs::read(&avatar).unwrap();
    std::fs::remove_file(&avatar).unwrap();
    std::fs::write(&avatar, &bytes).unwrap();
    let said = full(&folder, &[], &[]);
    assert!(said.contains("render: made 0,"), "{said}");
    settle();
    full(&folder, &[], &[]);
    fast(&folder);

    // The scene's video in out/ deleted: published again.
    std::fs::remove_file(folder.file("out/p/talk.mp4")).unwrap();
    full(&folder, &[], &[]);
    assert!(folder.file("out/p/talk.mp4").is_file());

    // The scene's object deleted from the cache: made again.
    settle();
    full(&folder, &[], &[]);
    let object = folder.object("scene p/talk");
    std::fs::remove_dir_all(&object).unwrap();
    let said = full(&folder, &[], &[]);
    assert!(said.contains("render: made 1,"), "{said}");
    assert!(object.is_dir());

    // Another target list, a variable render reads while planning, another binary: the
    // full path each time (and it writes its own stamp).
    settle();
    full(&folder, &[], &[]);
    full(&folder, &["p/talk"], &[]);
    full(&folder, &[], &[("RENDER_FONTS", "/nowhere")]);
    let copy = folder.file("render-copy");
    std::fs::copy(common::bin(), &copy).unwrap();
    let (code, _, said) = plain_with(&folder, Command::new(&copy), &[], &[]);
    assert_eq!(code, 0, "{said}");
    std::fs::remove_file(&copy).unwrap();
}

#[test]
fn a_file_changed_while_the_noop_ran_is_checked_again() {
    // git's racy clean: the script is edited after the no-op read it, before its stamp is
    // written; the stamp must not vouch for it.
    let folder = Folder::tiny();
    folder.build();
    settle();
    let mut paused = Command::new(common::bin())
        .arg("build")
        .current_dir(folder.path())
        .env_remove("RENDER_ENGINES")
        .env("XDG_CONFIG_HOME", folder.path().join(".config"))
        .env("RENDER_TEST_PAUSE_IN_HISTORY", "1.5")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    // Same length, so only the times tell.
    folder.edit(
        "projects/p/project.toml",
        "Four five six.",
        "Four five sax.",
    );
    assert!(paused.wait().unwrap().success());
    assert!(stamp(&folder).is_some(), "the paused no-op wrote no stamp");
    let said = full(&folder, &[], &[]);
    assert!(said.contains("render: made 4,"), "{said}");
}

#[test]
fn commands_that_change_the_cache_remove_the_stamp() {
    let folder = stamped();
    for args in [&["gc"][..], &["verify"], &["clean"]] {
        assert!(stamp(&folder).is_some());
        let run = folder.render(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert_eq!(stamp(&folder), None, "{args:?} left the stamp");
        // After `clean` the build makes everything; a no-op a while later stamps again.
        full(&folder, &[], &[]);
        settle();
        plain(&folder, &[], &[]);
    }
}

#[test]
fn flags_that_add_to_what_a_build_says_take_the_full_path() {
    let folder = stamped();
    // --events: the events of the full no-op, on stdout.
    let before = stamp(&folder);
    let (code, stdout, _) = plain(&folder, &["--events", "-"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("\"summary\""), "{stdout}");
    assert_ne!(stamp(&folder), before);
    // --json writes its report; --verify re-hashes; --force makes again.
    full(&folder, &[], &[]);
    let json = folder.file("report.json");
    let (code, _, _) = plain(&folder, &["--json", json.to_str().unwrap()], &[]);
    assert_eq!(code, 0);
    assert!(json.is_file());
    full(&folder, &[], &[]);
    let (code, _, said) = plain(&folder, &["--force"], &[]);
    assert_eq!(code, 0);
    assert!(
        said.contains("render: made 4,") || said.contains("render: made "),
        "{said}"
    );
    assert!(!said.contains("render: made 0,"), "{said}");
    // --jobs changes nothing a no-op does: the stamp holds.
    settle();
    full(&folder, &[], &[]);
    let before = stamp(&folder);
    let (code, _, _) = plain(&folder, &["--jobs", "1"], &[]);
    assert_eq!(code, 0);
    assert_eq!(stamp(&folder), before);
}
