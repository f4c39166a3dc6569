//! Targets and conventions a script relies on: `render build DIR project/scene` builds
//! only that scene, render finds its folder from a subfolder and with `-C`, `plan --check`
//! answers "is anything stale?" by its exit code, `plan` lists what out/ would gain or
//! lose, `--json -` writes to standard output, `--force` makes a target again, and usage
//! errors have their own exit code.

mod common;

use std::os::unix::fs::MetadataExt;

use common::Folder;

/// Two projects of espeak-ng lines at a small size: `news` with two scenes, `shorts` one.
fn studio() -> Folder {
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
        "[[scene]]\nname = \"morning\"\nlines = [\"Good morning.\", \"Here is the news.\"]\n\n\
         [[scene]]\nname = \"evening\"\nlines = [\"Good evening.\"]\n",
    );
    folder.write(
        "projects/shorts/project.toml",
        "[[scene]]\nname = \"teaser\"\nlines = [\"Coming soon.\"]\n",
    );
    folder
}

/// (inode, mtime in ns) of a file: what a rewrite or a republish changes.
fn identity(folder: &Folder, rel: &str) -> (u64, i64) {
    let meta = std::fs::metadata(folder.file(rel)).unwrap();
    (meta.ino(), meta.mtime() * 1_000_000_000 + meta.mtime_nsec())
}

#[test]
fn a_target_builds_only_its_scene_and_leaves_the_other_videos_alone() {
    let folder = studio();
    folder.build();
    let evening = identity(&folder, "out/news/evening.mp4");
    let teaser = identity(&folder, "out/shorts/teaser.mp4");
    folder.edit("projects/news/project.toml", "Good morning.", "Good day.");
    folder.edit("projects/news/project.toml", "Good evening.", "Good night.");
    let dir = folder.path().to_str().unwrap();
    let run = folder.render(&["build", dir, "news/morning"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Only the morning scene's subgraph: its edited line, its scene and its captions.
    assert_eq!(
        run.made(),
        [
            "captions news/morning",
            "clip news/morning:1",
            "scene news/morning",
            "speech news/morning:1"
        ]
    );
    assert!(!run.statuses.keys().any(|name| name.contains("evening")));
    assert_eq!(identity(&folder, "out/news/evening.mp4"), evening);
    assert_eq!(identity(&folder, "out/shorts/teaser.mp4"), teaser);
    // The evening edit is still to make, and the history says what was built.
    let plan = folder.render(&["plan", "--check"]);
    assert_eq!(plan.code, 1);
    assert!(
        plan.stdout.contains("speech news/evening:1: "),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("morning"), "{}", plan.stdout);

    // A project is all of its scenes.
    let run = folder.render(&["build", "news"]);
    assert_eq!(
        run.made(),
        [
            "captions news/evening",
            "clip news/evening:1",
            "scene news/evening",
            "speech news/evening:1"
        ]
    );
    assert_eq!(identity(&folder, "out/shorts/teaser.mp4"), teaser);
}

#[test]
fn an_unknown_target_is_a_configuration_error_with_a_suggestion() {
    let folder = studio();
    let run = folder.render(&["build", "news/mornin"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "  × no scene `news/mornin` is declared\n  help: did you mean `news/morning`?\n"
    );
    let run = folder.render(&["plan", "new"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "  × no project `new` is declared\n  help: did you mean `news`?\n"
    );
    assert!(
        !folder.file("cache").exists(),
        "a refused build writes nothing"
    );
}

#[test]
fn the_folder_is_found_from_a_subfolder_and_with_dash_c() {
    let folder = studio();
    let sub = folder.file("projects/news");
    let run = common::run_in(&sub, &["build", "shorts"]);
    assert_eq!(run.0, 0, "{}", run.2);
    assert!(folder.file("out/shorts/teaser.mp4").is_file());
    assert!(!folder.file("out/news").exists());

    // -C: as if started there (and from there, upwards).
    let elsewhere = tempfile::tempdir().unwrap();
    let sub = sub.to_str().unwrap();
    let (code, stdout, stderr) = common::run_in(elsewhere.path(), &["-C", sub, "plan", "shorts"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "up to date (5 artifacts)\n"),
        "{stderr}"
    );

    // -C into nowhere.
    let (code, _, stderr) = common::run_in(elsewhere.path(), &["-C", "nope", "plan"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "  × cannot enter `nope` (-C)\n  ╰─▶ No such file or directory (os error 2)\n"
    );

    // Nowhere to be found: exit 2, and the hint names both ways to say where.
    let (code, _, stderr) = common::run_in(elsewhere.path(), &["build"]);
    assert_eq!(code, 2);
    let from = elsewhere.path().canonicalize().unwrap();
    assert_eq!(
        stderr,
        format!(
            "  × no Renderfile.toml in `{}` or any folder above it\n  help: run render inside a \
             content folder, or name one: `render build DIR` or `render -C DIR build`\n",
            from.display()
        )
    );
}

#[test]
fn plan_check_answers_is_anything_stale_and_lists_out_changes() {
    let folder = studio();
    folder.build();
    let plan = folder.render(&["plan", "--check"]);
    assert_eq!(
        (plan.code, plan.stdout.as_str()),
        (0, "up to date (15 artifacts)\n")
    );
    let dry = folder.render(&["build", "-n", "--check"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);

    // A renamed scene: nothing to make (a name is not in any key), but a video, its poster,
    // its contact sheet and its captions to publish and the old ones to remove — not "up
    // to date".
    folder.edit("projects/shorts/project.toml", "teaser", "trailer");
    let plan = folder.render(&["plan", "--check"]);
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert_eq!(
        plan.stdout,
        "out/shorts/trailer.mp4: publish (new)\n\
         out/shorts/trailer.jpg: publish (new)\n\
         out/shorts/trailer.sheet.jpg: publish (new)\n\
         out/shorts/trailer.srt: publish (new)\n\
         out/shorts/trailer.vtt: publish (new)\n\
         out/shorts/teaser.jpg: remove (its scene is no longer declared)\n\
         out/shorts/teaser.mp4: remove (its scene is no longer declared)\n\
         out/shorts/teaser.sheet.jpg: remove (its scene is no longer declared)\n\
         out/shorts/teaser.srt: remove (its scene is no longer declared)\n\
         out/shorts/teaser.vtt: remove (its scene is no longer declared)\n\
         0 of 15 artifacts to make, 5 files in out/ to publish, 5 files in out/ to remove\n"
    );
    assert_eq!(folder.render(&["build", "-n", "--check"]).code, 1);
    // Without --check a plan is an answer, not a failure.
    assert_eq!(folder.render(&["plan"]).code, 0);
    folder.build();
    assert_eq!(folder.render(&["plan", "--check"]).code, 0);

    // Nothing to make, but a video deleted by hand: the build would publish it again.
    std::fs::remove_file(folder.file("out/news/evening.mp4")).unwrap();
    let plan = folder.render(&["plan", "--check"]);
    assert_eq!(
        (plan.code, plan.stdout.as_str()),
        (
            1,
            "out/news/evening.mp4: publish (new)\n\
             0 of 15 artifacts to make, 1 file in out/ to publish\n"
        )
    );
}

#[test]
fn force_makes_the_targets_again_and_json_dash_writes_to_stdout() {
    let folder = studio();
    folder.build();
    let before = identity(&folder, "out/shorts/teaser.mp4");
    let (code, stdout, stderr) = common::run_in(
        folder.path(),
        &["build", "--force", "shorts", "--json", "-"],
    );
    assert_eq!(code, 0, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let made: Vec<&str> = (json["artifacts"].as_array().unwrap().iter())
        .filter(|a| a["status"] == "made")
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        made,
        [
            "face-track astronaut",
            "speech shorts/teaser:1",
            "clip shorts/teaser:1",
            "captions shorts/teaser",
            "scene shorts/teaser"
        ]
    );
    assert_eq!(json["made"], 5);
    assert!(!folder.file("-").exists());
    // Made again, published again; the other project untouched.
    assert_ne!(identity(&folder, "out/shorts/teaser.mp4"), before);
    assert_eq!(folder.render(&["plan", "--check"]).code, 0);
}

#[test]
fn usage_errors_have_their_own_exit_code() {
    let folder = studio();
    for args in [
        &["build", "--no-such-flag"][..],
        &["no-such-command"],
        &["plan", "-j"],
    ] {
        let run = folder.render(args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    }
    assert_eq!(folder.render(&["--help"]).code, 0);
    // --check only means something with -n.
    assert_eq!(folder.render(&["build", "--check"]).code, 64);
}
