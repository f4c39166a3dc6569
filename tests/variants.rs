//! Scene variants (`variants` in a scene, `manifest/variants.rs`): one scene made two ways,
//! here the built-in face and a second lip-sync engine (a fake `command` engine that shows
//! the portrait for as long as the speech lasts). What a user cares about: speech is made
//! once for both, each variant's clips are its own, both videos are published with the
//! plain name the first, an edit remakes only what it touches, a removed variant's files go
//! (never the user's), and a bad variant is a diagnostic at its place.

mod common;

use common::{video_frames, write_program, Folder};

const PROJECT: &str = "projects/p/project.toml";

/// The tiny folder (one scene of three espeak lines) with a second lip-sync engine,
/// `talker`, and the scene `talk` declaring `variants`.
fn folder(variants: &str) -> Folder {
    let folder = Folder::tiny();
    write_program(
        &folder.file("talker"),
        r#"#!/usr/bin/env python3
import sys, wave, subprocess
audio, image, out, fps = sys.argv[1:5]
w = wave.open(audio)
seconds = w.getnframes() / w.getframerate()
subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", image, "-t", "%.3f" % seconds,
                "-r", fps, "-vf", "scale=64:64", "-pix_fmt", "yuv420p", out], check=True)
"#,
    );
    let renderfile = folder.read("Renderfile.toml")
        + "\n[voices.guest]\nengine = \"espeak\"\nlanguage = \"en-gb\"\n\
           \n[engines.talker]\nstage = \"lipsync\"\nprogram = \"./talker\"\nargs = [\"{audio}\", \"{image}\", \"{out}\", \"{fps}\"]\n";
    folder.write("Renderfile.toml", &renderfile);
    folder.write(
        PROJECT,
        &format!(
            "[[scene]]\nname = \"talk\"\nlines = [\"One two three.\", \"Four five six.\", \"Seven eight.\"]\n{variants}"
        ),
    );
    folder
}

/// The `--json` of the last build.
fn json(folder: &Folder) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(folder.file("report.json")).unwrap()).unwrap()
}

/// The artifacts of `kind` in the last build's `--json`: (name, status, variants).
fn artifacts(folder: &Folder, kind: &str) -> Vec<(String, String, Vec<String>)> {
    let json = json(folder);
    (json["artifacts"].as_array().unwrap().iter())
        .filter(|a| a["kind"] == kind)
        .map(|a| {
            let variants = (a["variants"].as_array().into_iter().flatten())
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let name = a["name"].as_str().unwrap().to_string();
            (name, a["status"].as_str().unwrap().to_string(), variants)
        })
        .collect()
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

const BOTH: &str = "variants = { lipsync = [\"builtin\", \"talker\"] }\n";

#[test]
fn two_lipsync_variants_share_speech_and_publish_both_videos() {
    let folder = folder(BOTH);
    let plan = folder.render(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        (plan.stdout.lines()).any(|l| l == "2 variants of 1 scene: p/talk@builtin, p/talk@talker"),
        "{}",
        plan.stdout
    );
    let run = folder.build();
    run.assert_lines(&["render: 2 variants of 1 scene: p/talk@builtin, p/talk@talker"]);

    // One speech per line, read by both variants.
    let both = strings(&["p/talk@builtin", "p/talk@talker"]);
    let speech = artifacts(&folder, "speech");
    assert_eq!(speech.len(), 3, "{speech:?}");
    for (name, status, variants) in &speech {
        assert_eq!((status.as_str(), variants), ("made", &both), "{name}");
    }
    // One clip per line per variant, each read by its variant only.
    let clips = artifacts(&folder, "clip");
    let clip_names: Vec<&str> = clips.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        clip_names,
        [
            "clip p/talk:1",
            "clip p/talk:2",
            "clip p/talk:3",
            "clip p/talk@talker:1",
            "clip p/talk@talker:2",
            "clip p/talk@talker:3"
        ]
    );
    for (name, status, variants) in &clips {
        let variant = if name.contains('@') {
            "p/talk@talker"
        } else {
            "p/talk@builtin"
        };
        assert_eq!(
            (status.as_str(), variants),
            ("made", &strings(&[variant])),
            "{name}"
        );
    }
    let scenes = artifacts(&folder, "scene");
    let scene_names: Vec<&str> = scenes.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(scene_names, ["scene p/talk", "scene p/talk@talker"]);
    assert_eq!(
        artifacts(&folder, "captions").len(),
        1,
        "same speech, same captions"
    );

    // Both videos published, the plain one the first variant, byte for byte.
    for stem in ["talk", "talk@builtin", "talk@talker"] {
        for ext in ["mp4", "jpg", "sheet.jpg", "srt", "vtt"] {
            let file = folder.file(&format!("out/p/{stem}.{ext}"));
            assert!(file.is_file(), "{} missing", file.display());
        }
    }
    for ext in ["mp4", "jpg", "srt"] {
        let plain = std::fs::read(folder.file(&format!("out/p/talk.{ext}"))).unwrap();
        let first = std::fs::read(folder.file(&format!("out/p/talk@builtin.{ext}"))).unwrap();
        assert!(plain == first, "talk.{ext} differs from talk@builtin.{ext}");
    }
    let builtin = std::fs::read(folder.file("out/p/talk.mp4")).unwrap();
    let talker = std::fs::read(folder.file("out/p/talk@talker.mp4")).unwrap();
    assert!(
        builtin != talker,
        "the two lip-sync engines made the same video"
    );
    // The same speech makes the same timeline: each video has the frames its scene.json says.
    for (scene, video) in [
        ("scene p/talk", "talk.mp4"),
        ("scene p/talk@talker", "talk@talker.mp4"),
    ] {
        let info: serde_json::Value = serde_json::from_slice(
            &std::fs::read(folder.object(scene).join("scene.json")).unwrap(),
        )
        .unwrap();
        let frames = info["frames"].as_u64().unwrap();
        let lines: u64 = (info["lines"].as_array().unwrap().iter())
            .map(|f| f.as_u64().unwrap())
            .sum();
        assert!(frames >= lines && lines > 25, "{info}");
        assert_eq!(
            video_frames(&folder.file(&format!("out/p/{video}"))),
            frames,
            "{video}"
        );
    }
    assert_eq!(
        video_frames(&folder.file("out/p/talk.mp4")),
        video_frames(&folder.file("out/p/talk@talker.mp4"))
    );

    // Each variant with its video, object and build time, for a page comparing them.
    let json = json(&folder);
    let variants = json["variants"].as_array().unwrap();
    let listed: Vec<(&str, &str, bool, &str)> = (variants.iter())
        .map(|v| {
            (
                v["scene"].as_str().unwrap(),
                v["variant"].as_str().unwrap(),
                v["first"].as_bool().unwrap(),
                v["video"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("p/talk", "builtin", true, "out/p/talk@builtin.mp4"),
            ("p/talk", "talker", false, "out/p/talk@talker.mp4")
        ]
    );
    for v in variants {
        let (all, own) = (
            v["seconds"].as_f64().unwrap(),
            v["own_seconds"].as_f64().unwrap(),
        );
        assert!(0.0 < own && own < all, "{v}");
    }

    // Nothing to do the second time; the variants are still named.
    let again = folder.build();
    assert!(again.made().is_empty(), "{:?}", again.made());
    again.assert_lines(&["render: 2 variants of 1 scene: p/talk@builtin, p/talk@talker"]);
}

#[test]
fn an_edited_line_remakes_its_speech_once_and_its_clip_per_variant() {
    let folder = folder(BOTH);
    folder.build();
    folder.edit(PROJECT, "Four five six.", "Four five six seven.");
    let run = folder.build();
    assert_eq!(
        run.made(),
        [
            "captions p/talk",
            "clip p/talk:2",
            "clip p/talk@talker:2",
            "scene p/talk",
            "scene p/talk@talker",
            "speech p/talk:2",
        ]
    );
}

#[test]
fn removing_a_variant_removes_its_files_and_keeps_the_users() {
    let folder = folder(BOTH);
    folder.build();
    folder.write("out/p/talk@talker.notes.txt", "which one is better?");
    folder.edit(PROJECT, BOTH, "variants = { lipsync = [\"builtin\"] }\n");
    let run = folder.build();
    run.assert_lines(&[
        "render: removed out/p/talk@talker.mp4 (its scene variant is no longer declared)",
        "render: removed out/p/talk@talker.vtt (its scene variant is no longer declared)",
        "render: 1 variant of 1 scene: p/talk@builtin",
    ]);
    assert!(run.made().is_empty(), "{:?}", run.made());
    let mut kept = folder.out_files();
    kept.retain(|f| f.starts_with("out/p/"));
    let want: Vec<String> = ["talk", "talk@builtin"]
        .iter()
        .flat_map(|stem| {
            ["jpg", "mp4", "sheet.jpg", "srt", "vtt"].map(|ext| format!("out/p/{stem}.{ext}"))
        })
        .chain(["out/p/talk@talker.notes.txt".to_string()])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(kept, want);
    assert_eq!(
        folder.read("out/p/talk@talker.notes.txt"),
        "which one is better?"
    );

    // No variants at all: the plain scene stays, its `@builtin` twin goes.
    folder.edit(PROJECT, "variants = { lipsync = [\"builtin\"] }\n", "");
    let run = folder.build();
    run.assert_lines(&[
        "render: removed out/p/talk@builtin.mp4 (its scene variant is no longer declared)",
    ]);
    assert!(folder.file("out/p/talk.mp4").is_file());
    assert!(!folder.file("out/p/talk@builtin.mp4").exists());
}

#[test]
fn a_target_builds_one_variant_or_all_of_a_scene() {
    let folder = folder(BOTH);
    let run = folder.render(&["build", "p/talk@talker"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut made = run.made();
    made.retain(|name| name.starts_with("clip") || name.starts_with("scene"));
    assert_eq!(
        made,
        [
            "clip p/talk@talker:1",
            "clip p/talk@talker:2",
            "clip p/talk@talker:3",
            "scene p/talk@talker"
        ]
    );
    assert!(folder.file("out/p/talk@talker.mp4").is_file());
    assert!(!folder.file("out/p/talk.mp4").exists());

    let run = folder.render(&["build", "p/talk"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(folder.file("out/p/talk.mp4").is_file());
    assert!(folder.file("out/p/talk@builtin.mp4").is_file());

    let run = folder.render(&["build", "p/talk@talkr"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&[
        "× no variant `p/talk@talkr` is declared",
        "help: did you mean `p/talk@talker`?",
    ]);
}

#[test]
fn named_variants_vary_several_settings_together() {
    // A voice variant re-reads the lines: those that name no voice take the variant's.
    let folder = folder(
        "[[scene.variants]]\nname = \"host\"\n\n[[scene.variants]]\nname = \"guest\"\nvoice = \"guest\"\nloudness = -20\n",
    );
    folder.edit(
        PROJECT,
        "\"Seven eight.\"",
        "{ text = \"Seven eight.\", voice = \"host\" }",
    );
    let run = folder.build();
    let speech: Vec<(String, Vec<String>)> = (artifacts(&folder, "speech").into_iter())
        .map(|(name, _, variants)| (name, variants))
        .collect();
    assert_eq!(
        speech,
        [
            ("speech p/talk:1".to_string(), strings(&["p/talk@host"])),
            ("speech p/talk:2".to_string(), strings(&["p/talk@host"])),
            (
                "speech p/talk:3".to_string(),
                strings(&["p/talk@host", "p/talk@guest"])
            ),
            (
                "speech p/talk@guest:1".to_string(),
                strings(&["p/talk@guest"])
            ),
            (
                "speech p/talk@guest:2".to_string(),
                strings(&["p/talk@guest"])
            ),
        ],
        "{}",
        run.stderr
    );
    let (host, guest) = (
        common::ebur128(&folder.file("out/p/talk@host.mp4")).0,
        common::ebur128(&folder.file("out/p/talk@guest.mp4")).0,
    );
    assert!(
        (guest - -20.0).abs() < 1.5 && (host - guest).abs() > 2.0,
        "{host} {guest}"
    );
}

#[test]
fn bad_variants_are_diagnosed_where_they_are_written() {
    let folder = folder(
        "\n[[scene.variants]]\nname = \"a b\"\n\n[[scene.variants]]\nname = \"fast\"\nlipsync = \"talkr\"\n\n[[scene.variants]]\nname = \"Fast\"\nlipsnyc = \"builtin\"\n\n[[scene]]\nname = \"two\"\nlines = [\"Hi.\"]\nvariants = { lipsync = [\"builtin\", \"builtin\"] }\n",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&[
        "× variant name `a b` of scene `talk` is not allowed",
        "help: use only letters, digits, `-` and `_`: the name becomes out/p/talk@<name>.mp4",
        "× unknown lip-sync engine `talkr` in variant `fast` of scene `talk`",
        "help: did you mean `talker`?",
        "× unknown key `lipsnyc` in variant `Fast` of scene `talk`",
        "help: did you mean `lipsync`?",
        "× variant name `Fast` differs from variant `fast` only in case",
        "× duplicate variant name `builtin` in scene `two`",
        "help: variant names must be unique within a scene: each becomes out/p/two@builtin.mp4",
    ]);
    for at in ["\"a b\"", "\"talkr\"", "lipsnyc"] {
        let location = folder.location(PROJECT, at);
        assert!(
            run.stderr.contains(&location),
            "no {location} in:\n{}",
            run.stderr
        );
    }
    // The second `builtin`, where the duplicate is.
    let text = folder.read(PROJECT);
    let second = text.rfind("\"builtin\"]").unwrap();
    let line = text[..second].matches('\n').count() + 1;
    let col = second - text[..second].rfind('\n').unwrap();
    assert!(
        run.stderr.contains(&format!("╭─[{PROJECT}:{line}:{col}]")),
        "{}",
        run.stderr
    );
    // Nothing made, nothing published.
    assert!(!folder.file("out/p").exists());

    // A map of two settings says to write tables.
    folder.write(
        PROJECT,
        "[[scene]]\nname = \"talk\"\nlines = [\"Hi.\"]\nvariants = { lipsync = [\"builtin\"], voice = [\"guest\"] }\n",
    );
    let run = folder.render(&["plan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&[
        "× `variants = { … }` varies one setting, but scene `talk` gives 2: `lipsync` and `voice`",
        "help: to vary several settings together, name each variant in its own table: [[scene.variants]] with name = \"…\" and the settings it changes",
    ]);
    let location = folder.location(PROJECT, "{ lipsync");
    assert!(run.stderr.contains(&location), "{}", run.stderr);
}

/// The last record of the folder's history.
fn last_record(folder: &Folder) -> serde_json::Value {
    let history = folder.read("cache/history.jsonl");
    serde_json::from_str(history.lines().last().unwrap()).unwrap()
}

#[test]
fn each_variants_build_time_is_recorded_under_its_name_and_the_report_shows_it() {
    let folder = folder(BOTH);
    folder.build();
    let json = json(&folder);
    let record = last_record(&folder);

    // Each artifact the build made, under the variants that read it.
    for artifact in json["artifacts"].as_array().unwrap() {
        let run = (record["artifacts"].as_array().unwrap().iter())
            .find(|a| a["name"] == artifact["name"])
            .unwrap_or_else(|| panic!("{} not in the history", artifact["name"]));
        assert_eq!(
            run["variants"], artifact["variants"],
            "{}",
            artifact["name"]
        );
    }
    // Each variant's time under its name: what --json says of it, the seconds of its
    // artifacts made now, and its engines.
    let variants = record["variants"].as_array().unwrap();
    let names: Vec<&str> = variants
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p/talk@builtin", "p/talk@talker"]);
    for (v, engines) in variants
        .iter()
        .zip([["builtin", "espeak"], ["espeak", "talker"]])
    {
        let name = v["name"].as_str().unwrap();
        let said = (json["variants"].as_array().unwrap().iter())
            .find(|j| {
                format!(
                    "{}@{}",
                    j["scene"].as_str().unwrap(),
                    j["variant"].as_str().unwrap()
                ) == name
            })
            .unwrap();
        assert_eq!(
            (&v["seconds"], &v["own_seconds"]),
            (&said["seconds"], &said["own_seconds"])
        );
        assert_eq!((&v["video"], &v["key"]), (&said["video"], &said["key"]));
        let made: f64 = (json["artifacts"].as_array().unwrap().iter())
            .filter(|a| a["status"] == "made")
            .filter(|a| {
                a["variants"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|n| n == name))
            })
            .map(|a| a["seconds"].as_f64().unwrap())
            .sum();
        assert!(
            (v["made_seconds"].as_f64().unwrap() - made).abs() < 1e-9,
            "{v}"
        );
        assert!(made > 0.0);
        assert_eq!(v["engines"], serde_json::json!(engines));
    }

    // The report shows them; `render report` writes the same page again.
    for run in [None, Some(folder.render(&["report"]))] {
        if let Some(run) = run {
            assert_eq!(run.code, 0, "{}", run.stderr);
        }
        let page = folder.read("out/report.html");
        for v in variants {
            let row = format!(
                "<tr class=\"variant\" data-variant=\"{}\" data-seconds=\"",
                v["name"].as_str().unwrap()
            );
            let at = page
                .find(&row)
                .unwrap_or_else(|| panic!("no {row} in the report"));
            let shown: f64 = page[at + row.len()..]
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!((shown - v["seconds"].as_f64().unwrap()).abs() < 1e-9);
        }
    }

    // A no-op build records no times of its own: the report keeps the build that made them.
    folder.build();
    assert!(last_record(&folder).get("variants").is_none());
    assert!(folder
        .read("out/report.html")
        .contains("data-variant=\"p/talk@talker\""));
}

#[test]
fn engines_lists_what_each_variant_uses_and_a_variant_only_engine_is_checked_on_load() {
    let folder = folder(BOTH);
    let run = folder.render(&["engines"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let block = |name: &str| -> String {
        (run.stdout.split("\n\n"))
            .find(|b| b.starts_with(&format!("{name}  ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{}", run.stdout))
            .to_string()
    };
    let lines = |name: &str| -> Vec<String> {
        (block(name).lines())
            .filter(|l| l.starts_with("  used by") || l.starts_with("  scenes"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        lines("espeak"),
        [
            "  used by  voices guest, host",
            "  scenes   p/talk@builtin, p/talk@talker"
        ]
    );
    assert_eq!(
        lines("builtin"),
        [
            "  used by  avatars astronaut; variants p/talk@builtin",
            "  scenes   p/talk@builtin"
        ]
    );
    // Only a variant names it.
    assert_eq!(
        lines("talker"),
        [
            "  used by  variants p/talk@talker",
            "  scenes   p/talk@talker"
        ]
    );

    // A variant-only engine whose program this machine lacks: an error when the folder
    // loads, at the variant that names it, before anything is made.
    let text = folder.read("Renderfile.toml");
    folder.write(
        "Renderfile.toml",
        &text.replace("\"./talker\"", "\"./no-such-talker\""),
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let missing = folder.path().canonicalize().unwrap().join("no-such-talker");
    run.assert_lines(&[&format!(
        "× variant `talker` of scene `talk` uses engine `talker`, which cannot run on this machine: engine `talker`: its program `{}` is not an executable file on this machine",
        missing.display()
    )]);
    let location = folder.location(PROJECT, "\"talker\"");
    assert!(
        run.stderr.contains(&location),
        "no {location} in:\n{}",
        run.stderr
    );
    assert!(!folder.file("out/p").exists());
    assert!(!folder.file("cache/objects").exists() || folder.records().is_empty());
}

#[test]
fn in_chromium_the_compare_page_plays_the_variants_in_sync_with_their_build_times() {
    use common::background::Background;
    use common::http;
    use std::time::Duration;
    let Some(mut browser) = common::devtools::Browser::launch() else {
        return;
    };
    let limit = Duration::from_secs(60);
    let folder = folder(BOTH);
    folder.build();
    let (_server, port) = Background::serve(&folder, &[], limit);

    // Reachable from the index and from the scene's page.
    let compare = "/scenes/p/talk/compare";
    for (page, link) in [
        ("/", "[data-scene=\"p/talk\"] a.compare"),
        ("/scenes/p/talk", "a.compare"),
    ] {
        browser.open(&format!("http://127.0.0.1:{port}{page}"));
        browser.wait_for(&format!("document.querySelector('{link}') !== null"), limit);
        assert_eq!(
            browser.eval(&format!(
                "document.querySelector('{link}').getAttribute('href')"
            )),
            compare
        );
    }
    browser.open(&format!("http://127.0.0.1:{port}{compare}"));
    let videos = "[...document.querySelectorAll('#compare video')]";
    browser.wait_for(&format!("{videos}.length === 2"), limit);
    browser.wait_for(&format!("{videos}.every(v => v.readyState >= 2)"), limit);
    assert_eq!(
        browser.eval(&format!("{videos}.map(v => new URL(v.src).pathname)")),
        serde_json::json!([
            "/media/out/p/talk@builtin.mp4",
            "/media/out/p/talk@talker.mp4"
        ])
    );

    // Each variant's build time and engines, as the API says.
    let scene = http::get(port, "/api/scenes/p/talk").json();
    let variants = scene["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    for v in variants {
        let name = v["name"].as_str().unwrap();
        let at = format!("document.querySelector('[data-variant=\"{name}\"]')");
        let seconds = v["seconds"].as_f64().unwrap();
        assert!(seconds > 0.0, "{v}");
        assert_eq!(
            browser.eval(&format!("{at}.querySelector('.seconds').textContent")),
            format!("{seconds:.2} s")
        );
        let shown = browser.eval(&format!(
            "Number({at}.querySelector('.seconds').dataset.seconds)"
        ));
        assert!(
            (shown.as_f64().unwrap() - seconds).abs() < 1e-9,
            "{shown} {seconds}"
        );
        let engines: Vec<&str> = (v["engines"].as_array().unwrap().iter())
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(
            browser.eval(&format!("{at}.querySelector('.engines').textContent")),
            engines.join(", ")
        );
    }
    assert_eq!(
        variants[1]["engines"],
        serde_json::json!(["espeak", "talker"])
    );

    // One press plays every variant, and they play together.
    browser.eval(&format!("{videos}.forEach(v => {{ v.muted = true; }}); document.getElementById('play').click(); true"));
    browser.wait_for(
        &format!("{videos}.every(v => !v.paused && v.currentTime > 0.3)"),
        limit,
    );
    browser.wait_for(
        &format!("(t => Math.max(...t) - Math.min(...t) <= 0.1)({videos}.map(v => v.currentTime))"),
        limit,
    );
    browser.eval("document.getElementById('play').click(); true");
    browser.wait_for(&format!("{videos}.every(v => v.paused)"), limit);

    // Seeking one seeks the others, whichever it is.
    for (which, to) in [(1, 1.5), (0, 0.5)] {
        browser.eval(&format!("{videos}[{which}].currentTime = {to}; true"));
        browser.wait_for(
            &format!("{videos}.every(v => !v.seeking && Math.abs(v.currentTime - {to}) <= 0.1)"),
            limit,
        );
    }
    // Played from one video's own control, the others follow.
    browser.eval(&format!("{videos}[1].play(); true"));
    browser.wait_for(&format!("{videos}.every(v => !v.paused)"), limit);
}
