//! Generated pictures and shots (`[stills.*]`, `[shots.*]`), b-roll lines and idle motion,
//! driven through the real binary on `examples/shots`, whose engines are the fake programs
//! of `tests/fixtures/shots/`: each checks its own arguments and input files, records them
//! (`$SHOTS_RECORD`), and writes a real PNG or MP4 with ffmpeg.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{ffmpeg, repo, video_frames, Folder};

/// A copy of `examples/shots` whose engines run the fixtures from the repository and record
/// their runs in `<folder>/runs`.
fn example() -> Folder {
    let dir = tempfile::tempdir().unwrap();
    common::copy_tree(&repo().join("examples/shots"), dir.path());
    let folder = Folder { dir };
    let fixtures = repo().join("tests/fixtures/shots");
    let text = folder.read("Renderfile.toml");
    let record = folder.file("runs");
    let text = text
        .replace(
            "\"../../tests/fixtures/shots/",
            &format!("\"{}/", fixtures.display()),
        )
        .replace(
            "env = { ",
            &format!("env = {{ SHOTS_RECORD = \"{}\", ", record.display()),
        );
    folder.write("Renderfile.toml", &text);
    folder
}

/// The runs the fake `program` ("still", "shot", "lipsync") recorded, in order.
fn runs(folder: &Folder, program: &str) -> Vec<serde_json::Value> {
    (1..)
        .map(|n| folder.file(&format!("runs/{program}-{n}.json")))
        .take_while(|f| f.exists())
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect()
}

fn made(run: &common::Run) -> BTreeSet<String> {
    run.made().into_iter().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The scene object's `scene.json`: its frames and each line's slot.
fn scene_info(folder: &Folder, scene: &str) -> serde_json::Value {
    let object = folder.object(&format!("scene demo/{scene}"));
    serde_json::from_slice(&std::fs::read(object.join("scene.json")).unwrap()).unwrap()
}

/// The published video's audio, decoded to mono 48 kHz f32 samples.
fn audio_samples(video: &Path) -> Vec<f32> {
    let bytes = ffmpeg(&[
        "-i",
        video.to_str().unwrap(),
        "-vn",
        "-ac",
        "1",
        "-ar",
        "48000",
        "-f",
        "f32le",
        "-",
    ]);
    (bytes.chunks_exact(4))
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn a_still_avatar_a_broll_line_and_idle_motion_build_once_and_edits_remake_only_their_part() {
    let folder = example();
    let first = folder.build();
    let all = made(&first);
    for name in ["still host", "shot city", "shot idle", "b-roll demo/news:2"] {
        assert!(all.contains(name), "{name} not made: {all:?}");
    }
    // Each made once, though the still is the avatar's picture and the idle shot's start.
    assert_eq!(runs(&folder, "still").len(), 1);
    let shots = runs(&folder, "shot");
    assert_eq!(shots.len(), 2, "{shots:?}");
    // The still got its reference picture, its LoRA file and scale.
    let still = &runs(&folder, "still")[0];
    assert_eq!(
        still["loras"][0].as_str().unwrap(),
        folder.file("loras/host.safetensors").to_str().unwrap()
    );
    assert_eq!(still["scales"][0], "0.8");
    assert!(still["image"]
        .as_str()
        .unwrap()
        .ends_with("pictures/reference.png"));
    // The still's object is a PNG of its declared size.
    let png = image_size(&folder.object("still host").join("still.png"));
    assert_eq!(png, (384, 512));

    // The text-to-video engine makes 4n+1 frames: 1.5 s at 16 fps, 24 frames, rounded up.
    let city = shots.iter().find(|s| s["image"].is_null()).unwrap();
    assert_eq!(city["frames"], 25);
    let city_video = folder.object("shot city").join("shot.mp4");
    assert_eq!(video_frames(&city_video), 25);
    // The image-to-video shot started from a copy of the still (never the cache's object).
    let idle = shots.iter().find(|s| !s["image"].is_null()).unwrap();
    let given = idle["image"].as_str().unwrap();
    assert!(!given.contains("cache/objects"), "{given}");
    assert_eq!(idle["frames"], 32, "2 s at 16 fps");

    // The news scene's background is the city shot: its artifact is the scene's input.
    let record = |name: &str| {
        let object = folder.object(name);
        let bytes = std::fs::read(object.join("record.json")).unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    assert_eq!(
        record("scene demo/news")["spec"]["inputs"]["background"],
        record("shot city")["key"]
    );

    // B-roll: the scene's frames are the sum of its slots; the b-roll slot is its 25
    // frames (1 s at 25 fps) and the pause; its captions skip it; its audio is silent and
    // as long as the video.
    let info = scene_info(&folder, "news");
    let slots: Vec<u64> = (info["lines"].as_array().unwrap().iter())
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(slots.len(), 3);
    assert_eq!(
        slots[1],
        25 + 5,
        "the b-roll's frames and the pause after it"
    );
    let frames: u64 = slots.iter().sum();
    assert_eq!(info["frames"].as_u64().unwrap(), frames);
    let news = folder.file("out/demo/news.mp4");
    assert_eq!(video_frames(&news), frames);
    let clip = folder.object("b-roll demo/news:2").join("clip.mp4");
    assert_eq!(video_frames(&clip), 25);
    let (_, _, video_seconds, audio_seconds) = common::probe(&news);
    assert!(
        (video_seconds - audio_seconds).abs() <= 1.0 / 25.0,
        "video {video_seconds} s, audio {audio_seconds} s"
    );
    let srt = folder.read("out/demo/news.srt");
    assert_eq!(srt.matches(" --> ").count(), 2, "{srt}");
    assert!(srt.contains("Good evening. Here is the news."));
    assert!(srt.contains("The city was quiet tonight."));
    // The second cue starts where the third line's slot does: after the b-roll.
    let third_start_ms = (slots[0] + slots[1]) * 1000 / 25;
    let second_cue = srt.split("\n\n").nth(1).unwrap();
    let start = cue_start_ms(second_cue);
    assert!(
        start.abs_diff(third_start_ms) <= 40,
        "cue at {start} ms, line at {third_start_ms} ms:\n{srt}"
    );
    let audio = audio_samples(&news);
    let from = (slots[0] * 48_000 / 25) as usize + 480;
    let to = ((slots[0] + 25) * 48_000 / 25) as usize - 480;
    let loudest = audio[from..to].iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(loudest < 1e-3, "the b-roll is not silent: {loudest}");
    let spoken = audio[..from].iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(spoken > 0.05, "the first line is silent: {spoken}");

    // Idle motion: one shot, reused by both lines of the presenter, whose clips come from
    // the video lip-sync engine fed that shot, looped or cut to each line's frames.
    let lipsyncs = runs(&folder, "lipsync");
    assert_eq!(lipsyncs.len(), 2);
    // The two lines' calls may run in either order: each clip is one run's frames.
    let mut asked: Vec<u64> = lipsyncs
        .iter()
        .map(|r| r["frames"].as_u64().unwrap())
        .collect();
    let mut clips: Vec<u64> = (1..=2)
        .map(|n| {
            video_frames(
                &folder
                    .object(&format!("clip demo/idle:{n}"))
                    .join("clip.mp4"),
            )
        })
        .collect();
    asked.sort_unstable();
    clips.sort_unstable();
    assert_eq!(asked, clips);
    for run in &lipsyncs {
        let video = run["argv"][0].as_str().unwrap();
        assert!(video.ends_with("inputs/motion.mp4"), "{video}");
    }
    assert!(
        lipsyncs.iter().any(|r| r["frames"].as_u64().unwrap() > 32),
        "a line longer than the shot: the shot is looped"
    );

    // Nothing to do the second time.
    let again = folder.build();
    assert!(again.made().is_empty(), "{:?}", again.made());

    // Editing the still's prompt: the still, the avatar's face track, its clips and their
    // scene — and the idle shot that starts from the still, with what reads it. Not the
    // speech, the captions, the city shot or the b-roll.
    folder.edit(
        "Renderfile.toml",
        "A portrait photo of a news presenter",
        "A portrait photo of a weather presenter",
    );
    let run = folder.build();
    assert_eq!(
        made(&run),
        set(&[
            "still host",
            "face-track host",
            "clip demo/news:1",
            "clip demo/news:3",
            "scene demo/news",
            "shot idle",
            "face-track presenter",
            "clip demo/idle:1",
            "clip demo/idle:2",
            "scene demo/idle",
        ])
    );
    assert_eq!(runs(&folder, "still").len(), 2);

    // Editing a line's text: its speech, clip, captions and scene; no still, no shot.
    folder.edit(
        "projects/demo/project.toml",
        "The city was quiet tonight.",
        "The city was calm tonight.",
    );
    let run = folder.build();
    assert_eq!(
        made(&run),
        set(&[
            "speech demo/news:3",
            "clip demo/news:3",
            "captions demo/news",
            "scene demo/news",
        ])
    );
    assert_eq!(runs(&folder, "still").len(), 2);
    assert_eq!(runs(&folder, "shot").len(), 3);
}

fn cue_start_ms(cue: &str) -> u64 {
    let line = cue.lines().find(|l| l.contains(" --> ")).unwrap();
    let start = line.split(" --> ").next().unwrap();
    let (hms, ms) = start.split_once(',').unwrap();
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<u64>().unwrap()
}

fn image_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"\x89PNG"),
        "{} is not a PNG",
        path.display()
    );
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (word(16), word(20))
}

/// The key `render plan --write-jobs` gives the artifact `name`.
fn planned_key(folder: &Folder, name: &str) -> String {
    let jobs = tempfile::tempdir().unwrap();
    let run = folder.render(&["plan", "--write-jobs", jobs.path().to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for entry in std::fs::read_dir(jobs.path()).unwrap() {
        let job: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        if job["name"] == name {
            return job["key"].as_str().unwrap().to_string();
        }
    }
    panic!("no job for {name}")
}

#[test]
fn a_stills_key_follows_its_seed_lora_bytes_and_scale_and_a_seed_is_always_set() {
    let folder = example();
    let key = planned_key(&folder, "still host");
    // The same declarations: the same key.
    assert_eq!(planned_key(&folder, "still host"), key);
    // Another seed, another key; back again, the same.
    folder.edit("Renderfile.toml", "seed = 7", "seed = 8");
    let seed8 = planned_key(&folder, "still host");
    assert_ne!(seed8, key);
    folder.edit("Renderfile.toml", "seed = 8", "seed = 7");
    assert_eq!(planned_key(&folder, "still host"), key);
    // The LoRA's scale.
    folder.edit("Renderfile.toml", "scale = 0.8", "scale = 0.9");
    let scaled = planned_key(&folder, "still host");
    assert_ne!(scaled, key);
    folder.edit("Renderfile.toml", "scale = 0.9", "scale = 0.8");
    assert_eq!(planned_key(&folder, "still host"), key);
    // The LoRA file's bytes (same name, same size).
    let lora = folder.read("loras/host.safetensors");
    folder.write("loras/host.safetensors", &lora.replace("tiny", "TINY"));
    let bytes = planned_key(&folder, "still host");
    assert_ne!(bytes, key);
    folder.write("loras/host.safetensors", &lora);
    assert_eq!(planned_key(&folder, "still host"), key);
    // The still's key is an input of the shot made from it: the idle shot follows.
    let idle = planned_key(&folder, "shot idle");
    folder.edit("Renderfile.toml", "seed = 7", "seed = 8");
    assert_ne!(planned_key(&folder, "shot idle"), idle);

    // Without a declared seed the program still gets one, from the key: the same on
    // another build of the same declarations, so the bytes are the same.
    folder.edit("Renderfile.toml", "seed = 8\n", "");
    folder.build();
    let first = std::fs::read(folder.object("still host").join("still.png")).unwrap();
    let seed = runs(&folder, "still")[0]["argv"][5]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!(seed < 1 << 31);
    for made in ["cache", "out"] {
        std::fs::remove_dir_all(folder.file(made)).unwrap();
    }
    folder.build();
    let second = std::fs::read(folder.object("still host").join("still.png")).unwrap();
    assert_eq!(runs(&folder, "still")[1]["argv"][5], seed.to_string());
    assert_eq!(first, second, "the same key, the same bytes");
}

#[test]
fn a_shot_the_program_cut_short_fails_and_nothing_is_committed() {
    let folder = example();
    // The t2v engine stops at 20 frames, silently, as models do at their own maximum.
    folder.edit(
        "Renderfile.toml",
        "SHOT_FORM = \"4n+1\"",
        "SHOT_FORM = \"4n+1\", SHOT_CAP = \"20\"",
    );
    let run = folder.render(&["build", "--keep-going"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("the shot has 20 frames, not the 25 asked for"),
        "{}",
        run.stderr
    );
    assert!(run.with_status("failed").contains(&"shot city".to_string()));
    assert!(
        !folder
            .records()
            .iter()
            .any(|(_, r)| r["name"] == "shot city"),
        "a short shot entered the cache"
    );
    assert!(!folder.file("out/demo/news.mp4").exists());
    // The scene that does not need it is made.
    assert!(folder.file("out/demo/idle.mp4").exists());
}

/// Builds the example with `from` replaced by `to` in `file`: must fail with `message` at
/// `needle`'s place in `at` (a file of the folder), and `help` in its hint.
#[track_caller]
fn config_error(edits: &[(&str, &str, &str)], message: &str, at: (&str, &str), help: &str) {
    let folder = example();
    for (file, from, to) in edits {
        folder.edit(file, from, to);
    }
    reported(&folder, message, at, help);
}

/// `render build` on `folder` fails with `message` at `needle`'s place in `at` (a file of
/// the folder), and `help` in its hint, leaving nothing in the cache.
#[track_caller]
fn reported(folder: &Folder, message: &str, at: (&str, &str), help: &str) {
    let run = folder.render(&["build"]);
    assert_ne!(run.code, 0, "{}", run.stderr);
    run.assert_lines(&[&format!("× {message}")]);
    let location = folder.location(at.0, at.1);
    assert!(
        run.stderr.contains(&location),
        "no {location} in:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(help),
        "no help {help:?} in:\n{}",
        run.stderr
    );
    assert!(!folder.file("cache/objects").exists() || folder.records().is_empty());
}

#[test]
fn unknown_names_wrong_kinds_cycles_and_missing_inputs_are_reported_where_written() {
    const RF: &str = "Renderfile.toml";
    // An unknown still, with a did-you-mean.
    config_error(
        &[(
            RF,
            "image = { still = \"host\" }\n\n#",
            "image = { still = \"hots\" }\n\n#",
        )],
        "unknown still `hots`",
        (RF, "{ still = \"hots\" }"),
        "did you mean `host`?",
    );
    // A shot where a still is needed, listing the stills.
    config_error(
        &[(
            RF,
            "image = { still = \"host\" }\n\n#",
            "image = { still = \"city\" }\n\n#",
        )],
        "`city` is a shot, not a still",
        (RF, "{ still = \"city\" }"),
        "declared stills: `host`",
    );
    // A b-roll line naming a still.
    config_error(
        &[(
            "projects/demo/project.toml",
            "{ shot = \"city\", seconds = 1 }",
            "{ shot = \"host\", seconds = 1 }",
        )],
        "`host` is a still, not a shot",
        ("projects/demo/project.toml", "\"host\""),
        "declared shots: `city` and `idle`",
    );
    // Two stills made from each other.
    config_error(
        &[
            (RF, "image = \"pictures/reference.png\"", "image = { still = \"other\" }"),
            (
                RF,
                "[shots.idle]",
                "[stills.other]\nengine = \"still\"\nprompt = \"x\"\nimage = { still = \"host\" }\n\n[shots.idle]",
            ),
        ],
        "stills `host` → `other` → `host` form a cycle",
        (RF, "{ still = \"other\" }"),
        "not one that is made from it",
    );
    // The engine takes {image}; the still gives none: at the engine's use of it.
    config_error(
        &[(RF, "image = \"pictures/reference.png\"", "")],
        "engine `still` takes `{image}`, but still `host` gives no `image`",
        (RF, "{image}"),
        "give still `host` its `image`",
    );
    // The reverse: a picture for an engine that takes none.
    config_error(
        &[(
            RF,
            "engine = \"t2v\"\nprompt",
            "engine = \"t2v\"\nimage = \"pictures/reference.png\"\nprompt",
        )],
        "shot `city` gives `image`, but engine `t2v` takes no `{image}`",
        (RF, "\"pictures/reference.png\"\nprompt = \"A city"),
        "remove `image`",
    );
    // Longer than the engine makes in one run: before any job runs.
    config_error(
        &[(RF, "seconds = 1.5", "seconds = 9")],
        "shot `city` needs 145 frames (9 s at 16 fps), over the 121 frames engine `t2v` makes in one run",
        (RF, "9\nfps = 16\nwidth = 320"),
        "shorten it to at most 7.56 s",
    );
    // A still's engine that makes shots.
    config_error(
        &[(RF, "engine = \"still\"", "engine = \"t2v\"")],
        "engine `t2v` makes shots, not stills",
        (RF, "\"t2v\"\nprompt = \"A portrait"),
        "still engines here are `still`",
    );
    // Idle motion needs a lip-sync engine that takes a video.
    config_error(
        &[(RF, "lipsync = \"video-lipsync\"", "lipsync = \"builtin\"")],
        "avatar `presenter` moves as shot `idle`, but its `lipsync` `builtin` does not lip-sync a video",
        (RF, "\"idle\"\nlipsync"),
        "`video-lipsync`",
    );
}

#[test]
fn a_pose_guided_shot_follows_a_pose_video_read_once_by_its_pose_engine() {
    let folder = example();
    let fixtures = repo().join("tests/fixtures/shots");
    let record = folder.file("runs");
    std::fs::create_dir_all(folder.file("motion")).unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x64:rate=10",
        "-frames:v",
        "20",
        "-pix_fmt",
        "yuv420p",
        folder.file("motion/dance.mp4").to_str().unwrap(),
    ]);
    let text = folder.read("Renderfile.toml")
        + &format!(
            r#"
[shots.dance]
engine = "dance"
prompt = "A dancer in the street"
seconds = 1
fps = 16
width = 160
height = 96
pose = "motion/dance.mp4"
pose_engine = "dwpose"

[engines.dance]
stage = "shot"
program = "{shot}"
args = ["{{out}}", "{{frames}}", "{{fps}}", "{{width}}", "{{height}}", "{{seconds}}", "{{seed}}",
        "{{prompt}}", "--pose", "{{pose}}"]
env = {{ SHOTS_RECORD = "{record}" }}

[engines.dwpose]
stage = "pose"
program = "{pose}"
args = ["{{video}}", "{{out}}"]
env = {{ SHOTS_RECORD = "{record}" }}
"#,
            shot = fixtures.join("shot.py").display(),
            pose = fixtures.join("pose.py").display(),
            record = record.display(),
        );
    folder.write("Renderfile.toml", &text);
    folder.edit(
        "projects/demo/project.toml",
        "{ shot = \"city\", seconds = 1 },",
        "{ shot = \"city\", seconds = 1 },\n    { shot = \"dance\" },",
    );
    let run = folder.build();
    assert!(run
        .made()
        .contains(&"pose dwpose (motion/dance.mp4)".to_string()));
    assert!(run.made().contains(&"shot dance".to_string()));
    // The pose video: the source's 20 frames at its 10 fps, read once.
    assert_eq!(runs(&folder, "pose").len(), 1);
    let pose = folder
        .object("pose dwpose (motion/dance.mp4)")
        .join("pose.mp4");
    assert_eq!(video_frames(&pose), 20);
    // The shot got a copy of it, and its 16 frames (1 s at 16 fps).
    let dance = runs(&folder, "shot")
        .into_iter()
        .find(|r| !r["pose"].is_null())
        .unwrap();
    let given = dance["pose"].as_str().unwrap();
    assert!(given.ends_with("inputs/pose.mp4"), "{given}");
    assert_eq!(dance["frames"], 16);
    // The b-roll of it lasts its default, the shot's own second: 25 frames.
    let clip = folder.object("b-roll demo/news:3").join("clip.mp4");
    assert_eq!(video_frames(&clip), 25);
    // A new pose video makes the pose and the shot again, not the other shots.
    ffmpeg(&[
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x64:rate=10",
        "-frames:v",
        "30",
        "-pix_fmt",
        "yuv420p",
        folder.file("motion/dance.mp4").to_str().unwrap(),
    ]);
    let run = folder.build();
    let remade: Vec<String> = (run.made().into_iter())
        .filter(|n| n.starts_with("shot") || n.starts_with("pose") || n.starts_with("still"))
        .collect();
    assert_eq!(remade, ["pose dwpose (motion/dance.mp4)", "shot dance"]);
}

/// The example with a title still `title` and an `[episode]` whose keys are `episode`.
fn with_episode(folder: &Folder, episode: &str) {
    folder.edit(
        "Renderfile.toml",
        "[shots.idle]",
        "[stills.title]\nengine = \"still\"\nprompt = \"A title card: the evening news\"\n\
         image = \"pictures/reference.png\"\nwidth = 320\nheight = 180\nseed = 3\n\n[shots.idle]",
    );
    let project = folder.read("projects/demo/project.toml");
    folder.write(
        "projects/demo/project.toml",
        &format!("{project}\n[episode]\n{episode}"),
    );
}

#[test]
fn an_episodes_title_card_is_a_still_and_its_outro_a_shot_each_made_once() {
    let folder = example();
    with_episode(
        &folder,
        "intro = { still = \"title\" }\nintro_seconds = 2\noutro = { shot = \"city\" }\n",
    );
    let run = folder.build();
    let all = made(&run);
    for name in ["still title", "shot city", "episode demo"] {
        assert!(all.contains(name), "{name} not made: {all:?}");
    }
    // Two stills (the host, the title), two shots (city is the background, the b-roll and
    // the outro, made once).
    assert_eq!(runs(&folder, "still").len(), 2);
    assert_eq!(runs(&folder, "shot").len(), 2);
    let title = runs(&folder, "still")
        .into_iter()
        .find(|r| r["argv"][6] == "A title card: the evening news")
        .expect("the title still was made");
    assert_eq!(
        (title["argv"][1].clone(), title["argv"][2].clone()),
        ("320".into(), "180".into())
    );

    // The episode reads the still and the shot by their keys.
    let record = |name: &str| -> serde_json::Value {
        let object = folder.object(name);
        serde_json::from_slice(&std::fs::read(object.join("record.json")).unwrap()).unwrap()
    };
    let inputs = &record("episode demo")["spec"]["inputs"];
    assert_eq!(inputs["intro"], record("still title")["key"]);
    assert_eq!(inputs["outro"], record("shot city")["key"]);

    // Its parts: the title for 2 s (50 frames at 25 fps), the two scenes, the city shot
    // for its own length (25 frames at 16 fps: 1.5625 s, 39 frames at 25 fps).
    let info: serde_json::Value = serde_json::from_slice(
        &std::fs::read(folder.object("episode demo").join("episode.json")).unwrap(),
    )
    .unwrap();
    let parts: Vec<(String, u64)> = (info["parts"].as_array().unwrap().iter())
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["frames"].as_u64().unwrap(),
            )
        })
        .collect();
    let scene_frames = |scene: &str| scene_info(&folder, scene)["frames"].as_u64().unwrap();
    assert_eq!(
        parts,
        [
            ("intro".to_string(), 50),
            ("scene".to_string(), scene_frames("news")),
            ("scene".to_string(), scene_frames("idle")),
            ("outro".to_string(), 39),
        ]
    );
    let video = folder.file("out/demo.mp4");
    let total: u64 = parts.iter().map(|p| p.1).sum();
    assert_eq!(video_frames(&video), total);
    // The title card is silent; the first scene is not.
    let audio = audio_samples(&video);
    let loudest = |from: usize, to: usize| audio[from..to].iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(
        loudest(0, 2 * 48_000 - 960) < 1e-3,
        "the title card is not silent"
    );
    assert!(
        loudest(2 * 48_000, 4 * 48_000) > 0.05,
        "the first scene is silent"
    );

    // Nothing to do again; editing the title's prompt makes the still and the episode again,
    // not the scenes.
    assert!(folder.build().made().is_empty());
    folder.edit(
        "Renderfile.toml",
        "A title card: the evening news",
        "A title card: the late news",
    );
    assert_eq!(made(&folder.build()), set(&["still title", "episode demo"]));
    assert_eq!(runs(&folder, "still").len(), 3);
}

#[test]
fn an_intro_names_a_declared_still_or_shot_where_written() {
    const PT: &str = "projects/demo/project.toml";
    let end = "\"And my lips follow the words.\"]\n";
    let episode = |keys: &str| format!("{end}\n[episode]\n{keys}");
    config_error(
        &[(PT, end, &episode("intro = { still = \"hots\" }\n"))],
        "unknown still `hots`",
        (PT, "{ still = \"hots\" }"),
        "did you mean `host`?",
    );
    // A shot written as a still: both are allowed, so the hint says how to write it.
    config_error(
        &[(PT, end, &episode("outro = { still = \"city\" }\n"))],
        "`city` is a shot, not a still",
        (PT, "{ still = \"city\" }"),
        "write outro = { shot = \"city\" }: an outro shows a still for `outro_seconds` or plays a shot",
    );
    // A shot lasts its own seconds.
    config_error(
        &[(PT, end, &episode("intro = { shot = \"city\" }\nintro_seconds = 2\n"))],
        "`intro_seconds` is for a still picture; shot `city` is a video",
        (PT, "2\n"),
        "a shot intro plays for as long as it lasts: remove `intro_seconds`, or set `seconds` in [shots.city]",
    );
    config_error(
        &[(PT, end, &episode("intro = 3\n"))],
        "`intro` must be a file, a still or a shot",
        (PT, "3\n"),
        "{ still = \"title\" }",
    );
}

/// The frames at 25 fps a WAV file's samples cover (as a scene counts a line's).
fn wav_frames(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let (mut at, mut rate, mut block, mut data) = (12, 0u64, 0u64, 0u64);
    while at + 8 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &bytes[at + 8..];
        match &bytes[at..at + 4] {
            b"fmt " => {
                rate = u64::from(u32::from_le_bytes(body[4..8].try_into().unwrap()));
                block = u64::from(u16::from_le_bytes(body[12..14].try_into().unwrap()));
            }
            b"data" => data = size as u64,
            _ => {}
        }
        at += 8 + size + size % 2;
    }
    (data / block * 25).div_ceil(rate)
}

/// The example without a default avatar (the news scene names its own), with the scene
/// `montage` read from `scripts/montage.txt`, which is `script`.
fn montage(script: &str) -> Folder {
    let folder = example();
    folder.edit("Renderfile.toml", "avatar = \"host\"\n\n", "\n");
    folder.edit(
        "projects/demo/project.toml",
        "name = \"news\"\n",
        "name = \"news\"\navatar = \"host\"\n",
    );
    let project = folder.read("projects/demo/project.toml");
    folder.write(
        "projects/demo/project.toml",
        &format!("{project}\n[[scene]]\nname = \"montage\"\nscript = \"scripts/montage.txt\"\n"),
    );
    folder.write("scripts/montage.txt", script);
    folder
}

#[test]
fn a_voice_over_broll_lasts_its_words_and_a_scene_of_broll_alone_needs_no_avatar() {
    let folder = montage(
        "# b-roll alone: no avatar\n[shot: city, 1s]\n[shot: city] Meanwhile, across town.\n",
    );
    // A voice-over in `lines`, by another voice than the scene's.
    folder.edit(
        "projects/demo/project.toml",
        "{ shot = \"city\", seconds = 1 },        # b-roll: the shot, over silence",
        "{ shot = \"city\", text = \"Over the city tonight.\", voice = \"host\" },",
    );
    let run = folder.build();
    let all = made(&run);
    for name in [
        "b-roll demo/montage:1",
        "silence demo/montage:1",
        "b-roll demo/montage:2",
        "speech demo/montage:2",
        "b-roll demo/news:2",
        "speech demo/news:2",
        "scene demo/montage",
    ] {
        assert!(all.contains(name), "{name} not made: {all:?}");
    }
    // No talking head in the montage, and no silence for a voice-over.
    for name in &all {
        assert!(!name.starts_with("clip demo/montage"), "{name}");
    }
    assert!(!all.contains("silence demo/news:2"), "{all:?}");

    // Each voice-over's clip is the shot for exactly its speech's frames.
    for line in ["news:2", "montage:2"] {
        let speech = wav_frames(
            &folder
                .object(&format!("speech demo/{line}"))
                .join("speech.wav"),
        );
        let clip = folder
            .object(&format!("b-roll demo/{line}"))
            .join("clip.mp4");
        assert_eq!(video_frames(&clip), speech, "{line}");
        assert!(speech > 25, "{line}: a sentence lasts over a second");
    }

    // The montage: a silent second (25 frames), then the voice-over; its frames are the
    // sum of its parts, its audio in sync, its one cue where the words are said.
    let info = scene_info(&folder, "montage");
    let slots: Vec<u64> = (info["lines"].as_array().unwrap().iter())
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(slots[0], 25 + 5, "a second of b-roll and the pause");
    let frames: u64 = slots.iter().sum();
    assert_eq!(info["frames"].as_u64().unwrap(), frames);
    let video = folder.file("out/demo/montage.mp4");
    assert_eq!(video_frames(&video), frames);
    let (_, _, video_seconds, audio_seconds) = common::probe(&video);
    assert!(
        (video_seconds - audio_seconds).abs() <= 1.0 / 25.0,
        "video {video_seconds} s, audio {audio_seconds} s"
    );
    let audio = audio_samples(&video);
    let loudest = |from: usize, to: usize| audio[from..to].iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(
        loudest(480, 48_000 - 480) < 1e-3,
        "the silent b-roll is not silent"
    );
    assert!(
        loudest(30 * 48_000 / 25, audio.len()) > 0.05,
        "the voice-over is silent"
    );
    let srt = folder.read("out/demo/montage.srt");
    assert_eq!(srt.matches(" --> ").count(), 1, "{srt}");
    assert!(srt.contains("Meanwhile, across town."), "{srt}");
    let start = cue_start_ms(&srt);
    assert!(
        start.abs_diff(slots[0] * 40) <= 40,
        "cue at {start} ms:\n{srt}"
    );
    // The news scene captions its voice-over like any line.
    let srt = folder.read("out/demo/news.srt");
    assert_eq!(srt.matches(" --> ").count(), 3, "{srt}");
    assert!(srt.contains("Over the city tonight."), "{srt}");

    // Editing the voice-over's words: its speech, its clip, the captions and the scene.
    folder.edit("scripts/montage.txt", "across town", "across the river");
    assert_eq!(
        made(&folder.build()),
        set(&[
            "speech demo/montage:2",
            "b-roll demo/montage:2",
            "captions demo/montage",
            "scene demo/montage",
        ])
    );
}

#[test]
fn bad_broll_lines_in_a_script_or_a_scene_are_reported_at_their_place() {
    const SCRIPT: &str = "scripts/montage.txt";
    reported(
        &montage("[shot: ctiy, 1s]\n"),
        "unknown shot `ctiy`",
        (SCRIPT, "ctiy"),
        "did you mean `city`?",
    );
    reported(
        &montage("[shot: city]\n[shot: city, 4 sec]\n"),
        "`4 sec` is not a b-roll setting",
        (SCRIPT, "4 sec"),
        "after the shot come its seconds (`4s`)",
    );
    reported(
        &montage("[shot: city, 2s] Words.\n"),
        "a b-roll line in the script of scene `montage` is a b-roll with both words and seconds",
        (SCRIPT, "2s"),
        "remove the seconds, or give the words a line of their own",
    );
    reported(
        &montage("[shot: city, voice: host]\n"),
        "a b-roll line in the script of scene `montage` is a silent b-roll with a voice",
        (SCRIPT, "host"),
        "give it words for the voice to say over the shot",
    );
    reported(
        &montage("[shot: city, 900s]\n"),
        "`seconds` of a b-roll line in the script of scene `montage` must be between 0.04 and 600, not 900",
        (SCRIPT, "900s"),
        "a shorter shot is looped",
    );
    // A scene with a spoken line still needs an avatar.
    reported(
        &montage("[shot: city]\nHello.\n"),
        "scene `montage` has no avatar",
        ("projects/demo/project.toml", "\"montage\""),
        "add `avatar = \"host\"` to the scene",
    );
    // In `lines`: a voice-over with seconds, and empty words.
    const PT: &str = "projects/demo/project.toml";
    let broll = "{ shot = \"city\", seconds = 1 }";
    config_error(
        &[(
            PT,
            broll,
            "{ shot = \"city\", seconds = 1, text = \"Hi there.\" }",
        )],
        "line 2 of scene `news` is a b-roll with both words and seconds",
        (PT, "1, text"),
        "a voice-over shows its shot for as long as its words take",
    );
    config_error(
        &[(PT, broll, "{ shot = \"city\", text = \" \" }")],
        "line 2 of scene `news` has an empty `text`",
        (PT, "\" \""),
        "remove `text` for a silent b-roll",
    );
}
