//! Depth-first scheduling and progress: in a generated folder of many scenes, built one job
//! at a time, videos are finished and published one after another while the build runs
//! (not every speech first, then every clip, then every scene), the GPU lane still loads
//! each model once, and a plain log says every few seconds how far the build is.

mod common;

use common::{add_fixture_models, tone_wav, write_program, Folder};
use std::time::Duration;

/// A folder of `scenes` scenes (`p/s00`, `p/s01`, …) of two short lines each, at a tiny
/// size. Speech comes from `fake`, which copies a tone; a line whose text says `wait` first
/// waits (up to 30 s) for `out/p/s00.mp4`, a line that says `slow` takes a second.
/// `avatar(n)` names scene n's avatar; `avatars` declares them (name, lipsync).
/// `first(n)`: the last word of scene n's first line.
fn folder(
    scenes: usize,
    avatars: &[(&str, &str)],
    avatar: impl Fn(usize) -> usize,
    first: impl Fn(usize) -> &'static str,
) -> Folder {
    let folder = Folder::with_portrait();
    let mut renderfile = "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 5\nsize = [64, 64]\n\
         pause = 0.1\nvoice = \"ada\"\navatar = \"a\"\n\n\
         [engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\n\
         args = [\"{engine_dir}\", \"{out}\", \"{text}\"]\ntimeout = 600\n\n\
         [voices.ada]\nengine = \"fake\"\n"
        .to_string();
    for (name, lipsync) in avatars {
        // One picture per avatar (the same face): each avatar gets its own face track.
        let image = format!("avatars/{name}.png");
        std::fs::copy(folder.file("avatars/astronaut.png"), folder.file(&image)).unwrap();
        renderfile +=
            &format!("\n[avatars.{name}]\nimage = \"{image}\"\nlipsync = \"{lipsync}\"\n");
    }
    folder.write("Renderfile.toml", &renderfile);
    let mut project = String::new();
    for n in 0..scenes {
        let first = first(n);
        project += &format!(
            "[[scene]]\nname = \"s{n:02}\"\navatar = \"{}\"\nlines = [\"Scene {n} {first}.\", \"Scene {n} two.\"]\n\n",
            avatars[avatar(n)].0
        );
    }
    folder.write("projects/p/project.toml", &project);
    std::fs::write(folder.file("tone.wav"), tone_wav(16_000, 0.3)).unwrap();
    write_program(
        &folder.file("fake"),
        "#!/bin/sh\n\
         case \"$3\" in\n\
         *wait*) i=0; while [ ! -e \"$1/out/p/s00.mp4\" ]; do\n\
             i=$((i+1)); if [ $i -gt 300 ]; then echo 'out/p/s00.mp4 is not published' >&2; exit 1; fi\n\
             sleep 0.1; done ;;\n\
         *slow*) sleep 1 ;;\n\
         esac\n\
         cp \"$1/tone.wav\" \"$2\"\n",
    );
    folder
}

/// From --json: each made artifact's name and end (start + seconds), earliest end first.
fn ends(folder: &Folder) -> Vec<(String, f64)> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.file("report.json")).unwrap()).unwrap();
    let mut ends: Vec<(String, f64)> = (json["artifacts"].as_array().unwrap().iter())
        .filter(|a| a["status"] == "made")
        .map(|a| {
            let end = a["start"].as_f64().unwrap() + a["seconds"].as_f64().unwrap();
            (a["name"].as_str().unwrap().to_string(), end)
        })
        .collect();
    ends.sort_by(|a, b| a.1.total_cmp(&b.1));
    ends
}

/// How many made artifacts ended before `scene` did, and how many were made in all.
fn made_before(ends: &[(String, f64)], scene: &str) -> (usize, usize) {
    let position = ends
        .iter()
        .position(|(name, _)| name == scene)
        .unwrap_or_else(|| panic!("{scene} not made: {ends:?}"));
    (position, ends.len())
}

/// The scenes in the order they were made.
fn scene_order(ends: &[(String, f64)]) -> Vec<String> {
    (ends.iter())
        .filter_map(|(name, _)| name.strip_prefix("scene p/").map(str::to_string))
        .collect()
}

#[test]
fn scenes_are_finished_and_published_one_after_another() {
    let folder = folder(
        20,
        &[("a", "builtin")],
        |_| 0,
        |n| {
            if n == 5 {
                "waits"
            } else {
                "one"
            }
        },
    );
    // Scene 5's first line waits for out/p/s00.mp4: the build succeeds only if s00 is
    // published while it runs.
    let run = folder.render(&["build", "-j", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ends = ends(&folder);
    // 20 scenes of 2 lines: a speech and a clip a line, a scene and its captions, and one
    // face track.
    assert_eq!(ends.len(), 121);
    let (before, total) = made_before(&ends, "scene p/s00");
    assert!(
        before * 10 < total,
        "the first video came after {before} of {total} artifacts: {ends:?}"
    );
    let order: Vec<String> = (0..20).map(|n| format!("s{n:02}")).collect();
    assert_eq!(scene_order(&ends), order);
    let videos = folder
        .out_files()
        .into_iter()
        .filter(|f| f.ends_with(".mp4"));
    assert_eq!(videos.count(), 20);
}

#[test]
fn with_two_models_in_alternating_scenes_each_loads_once_and_the_first_video_is_early() {
    let models = [("a", "tiny-lipsync"), ("b", "slow-lipsync")];
    let folder = folder(20, &models, |n| n % 2, |_| "one");
    add_fixture_models(&folder);
    let run = folder.render_within(&["build", "-j", "1"], Duration::from_secs(600));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.file("report.json")).unwrap()).unwrap();
    let loads: Vec<&str> = (json["gpu_lane"].as_array().unwrap().iter())
        .filter(|e| e["event"] == "load")
        .map(|e| e["model"].as_str().unwrap())
        .collect();
    // The face track's landmark model first (every clip needs its face track), then each
    // lip-sync model once.
    assert_eq!(loads, ["facemesh", "tiny-lipsync", "slow-lipsync"]);
    let ends = ends(&folder);
    // The first model loads as the lane starts, while the CPU prepares the first scene's
    // calls: the first video comes before 10 % of all the artifacts.
    let (before, total) = made_before(&ends, "scene p/s00");
    assert!(
        before * 10 < total,
        "the first video came after {before} of {total} artifacts: {ends:?}"
    );
    let first_load = (json["gpu_lane"].as_array().unwrap().iter())
        .find(|e| e["event"] == "load")
        .unwrap();
    let first_start = (json["gpu_lane"].as_array().unwrap().iter())
        .find(|e| e["event"] == "start")
        .unwrap();
    assert!(
        first_load["seconds"].as_f64() < first_start["seconds"].as_f64(),
        "{}",
        json["gpu_lane"]
    );
    // The first model's scenes in order, then the second's.
    let order = scene_order(&ends);
    assert_eq!(order.len(), 20);
    let even: Vec<String> = (0..20).step_by(2).map(|n| format!("s{n:02}")).collect();
    let odd: Vec<String> = (1..20).step_by(2).map(|n| format!("s{n:02}")).collect();
    let made_even: Vec<String> = order.iter().filter(|s| even.contains(s)).cloned().collect();
    let made_odd: Vec<String> = order.iter().filter(|s| odd.contains(s)).cloned().collect();
    assert_eq!(made_even, even);
    assert_eq!(made_odd, odd);
    assert_eq!(order[0], "s00");
}

/// The periodic progress lines in a plain log, as (scenes made, artifacts made, time left).
fn progress_lines(stderr: &str, scenes: usize, artifacts: usize) -> Vec<(usize, usize, String)> {
    let mut lines = Vec::new();
    for line in stderr.lines().filter(|l| l.contains(" scenes, ")) {
        let rest = line
            .strip_prefix("render: ")
            .unwrap_or_else(|| not_progress(line, stderr));
        let (scenes_made, rest) = rest
            .split_once('/')
            .unwrap_or_else(|| not_progress(line, stderr));
        let rest = (rest.strip_prefix(&format!("{scenes} scenes, ")))
            .unwrap_or_else(|| not_progress(line, stderr));
        let (made, rest) = rest
            .split_once('/')
            .unwrap_or_else(|| not_progress(line, stderr));
        let left = (rest.strip_prefix(&format!("{artifacts} artifacts made, ")))
            .unwrap_or_else(|| not_progress(line, stderr));
        let time = left
            .strip_prefix("about ")
            .and_then(|t| t.strip_suffix(" left"))
            .map(|t| {
                // `45 s` or `3 min 10 s`
                let words: Vec<&str> = t.split(' ').collect();
                let number = |w: &str| w.parse::<u64>().is_ok();
                match words[..] {
                    [s, "s"] => number(s),
                    [m, "min", s, "s"] => number(m) && number(s),
                    _ => false,
                }
            });
        assert!(
            time == Some(true) || left == "time left not yet known",
            "{line:?}"
        );
        let count = |s: &str| {
            s.parse::<usize>()
                .unwrap_or_else(|_| not_progress(line, stderr))
        };
        lines.push((count(scenes_made), count(made), left.to_string()));
    }
    lines
}

fn not_progress<T>(line: &str, stderr: &str) -> T {
    panic!("not a progress line: {line:?}\n{stderr}")
}

#[test]
fn a_plain_log_says_how_far_the_build_is_every_few_seconds() {
    let folder = folder(4, &[("a", "builtin")], |_| 0, |_| "one");
    folder.edit("projects/p/project.toml", "Scene 2 one.", "Scene 2 slow.");
    let env = [("RENDER_PROGRESS_SECONDS", "0.2")];
    let run = folder.render_with_env(&["build", "-j", "1"], &env, Duration::from_secs(300));
    assert_eq!(run.code, 0, "{}", run.stderr);
    // 4 scenes: 8 speeches, 8 clips, 4 scenes and their 4 captions, a face track.
    let lines = progress_lines(&run.stderr, 4, 25);
    // The slow line alone takes a second: it is reported while it runs.
    assert!(lines.len() >= 3, "{}", run.stderr);
    for pair in lines.windows(2) {
        assert!(
            pair[0].0 <= pair[1].0 && pair[0].1 <= pair[1].1,
            "{lines:?}"
        );
    }
    assert!(lines.iter().any(|l| l.0 >= 2), "{lines:?}");

    // Once the history knows each kind's time, every line estimates the time left.
    folder.edit(
        "projects/p/project.toml",
        "Scene 2 slow.",
        "Scene 2 slow again.",
    );
    for n in [0, 1, 3] {
        folder.edit(
            "projects/p/project.toml",
            &format!("Scene {n} two."),
            &format!("Scene {n} two again."),
        );
    }
    let run = folder.render_with_env(&["build", "-j", "1"], &env, Duration::from_secs(300));
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Each scene gets a new line: 4 speeches, 4 clips, 4 scenes, 4 captions; the face
    // track is reused.
    let lines = progress_lines(&run.stderr, 4, 16);
    assert!(!lines.is_empty(), "{}", run.stderr);
    assert!(
        lines.iter().all(|(_, _, left)| left.starts_with("about ")),
        "{lines:?}"
    );
    // A build shorter than the period prints none.
    folder.edit(
        "projects/p/project.toml",
        "Scene 0 one.",
        "Scene 0 once more.",
    );
    let run = folder.render(&["build", "-j", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        progress_lines(&run.stderr, 4, 3).is_empty(),
        "{}",
        run.stderr
    );
}
