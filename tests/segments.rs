//! Long lines in segments (`max_seconds`, `continue = "last_frame"`), driven through the
//! real binary: a 95 s recorded line with clear pauses, lip-synced by a fake program that
//! records every run's audio and picture. The line is cut at its pauses into segments of at
//! most 30 s, each its own job; each segment after the first starts from the last frame of
//! the one before; the line's clip joins them to exactly the line's frames; and an edit of
//! the last sentence makes only the last segment again.

mod common;

use common::{video_frame, video_frames, write_program, Folder};
use std::path::Path;
use std::time::Duration;

/// The fake lip-sync program: `fake <audio> <image> <frames> <fps> <out> <record dir>`.
/// It keeps a copy of the audio and the picture it got (run N: `N.wav`, `N.png`, `N.json`),
/// then writes `frames` frames of the picture with a box drawn where its frame count says,
/// so every segment's last frame is its own.
const FAKE: &str = r#"#!/usr/bin/env python3
import json, os, shutil, subprocess, sys
audio, image, frames, fps, out, record = sys.argv[1:7]
os.makedirs(record, exist_ok=True)
# Runs may be parallel (`--jobs 2`): claim a number by creating its file exclusively.
n = 1
while True:
    try:
        os.close(os.open(os.path.join(record, f"{n}.json"), os.O_CREAT | os.O_EXCL))
        break
    except FileExistsError:
        n += 1
shutil.copy(audio, os.path.join(record, f"{n}.wav"))
shutil.copy(image, os.path.join(record, f"{n}.png"))
with open(os.path.join(record, f"{n}.json"), "w") as f:
    json.dump({"frames": int(frames), "fps": fps, "image": image}, f)
x = int(frames) % 40
subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", image, "-frames:v", frames, "-r", fps,
                "-vf", f"scale=64:64,drawbox=x={x}:y={x}:w=12:h=12:color=red:t=fill",
                "-pix_fmt", "yuv420p", out], check=True)
"#;

const RATE: u32 = 16_000;

/// 95 s of "speech": sentences of tone-burst words 0.08 s apart (too short to cut in),
/// 0.7 s of silence between sentences; the last sentence's words at `last_pitch` Hz and
/// `extra` words longer.
fn speech(last_pitch: f64, extra: usize) -> Vec<i16> {
    let mut samples: Vec<i16> = Vec::new();
    let mut sentence = 0;
    let target = 95.0 * RATE as f64;
    let push_word = |samples: &mut Vec<i16>, pitch: f64| {
        let n = (0.35 * RATE as f64) as usize;
        for i in 0..n {
            let t = i as f64 / RATE as f64;
            let v = (t * pitch * std::f64::consts::TAU).sin() * 0.3 * 32767.0;
            samples.push(v as i16);
        }
        samples.extend(std::iter::repeat_n(0, (0.08 * RATE as f64) as usize));
    };
    // 22 sentences of 9 words (4.0 s + 0.7 s pause) then the last one: about 95 s.
    while (samples.len() as f64) < target - 6.0 * RATE as f64 {
        for _ in 0..9 {
            push_word(&mut samples, 180.0 + 10.0 * (sentence % 5) as f64);
        }
        samples.extend(std::iter::repeat_n(0, (0.7 * RATE as f64) as usize));
        sentence += 1;
    }
    for _ in 0..(9 + extra) {
        push_word(&mut samples, last_pitch);
    }
    samples
}

fn write_wav(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        writer.write_sample(*s).unwrap();
    }
    writer.finalize().unwrap();
}

fn read_wav(path: &Path) -> Vec<i16> {
    let mut reader = hound::WavReader::open(path).unwrap();
    reader.samples::<i16>().map(Result::unwrap).collect()
}

fn folder(more: &str) -> Folder {
    let folder = Folder::with_portrait();
    let record = folder.file("runs");
    folder.write(
        "Renderfile.toml",
        &format!(
            r#"[render]
device = "cpu"

[defaults]
fps = 25
size = [160, 90]
voice = "bob"
avatar = "astronaut"

[voices.bob]
engine = "espeak"

[avatars.astronaut]
image = "avatars/astronaut.png"
lipsync = "talker"

[engines.talker]
stage = "lipsync"
program = "./fake"
args = ["{{audio}}", "{{image}}", "{{frames}}", "{{fps}}", "{{out}}", "{}"]
max_seconds = 30
{more}
"#,
            record.display()
        ),
    );
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"intro\"\nlines = [{ audio = \"projects/demo/talk.wav\" }]\n",
    );
    write_wav(&folder.file("projects/demo/talk.wav"), &speech(220.0, 0));
    write_program(&folder.file("fake"), FAKE);
    folder
}

/// Each run the fake recorded since `from`: (audio samples, frames, picture file).
fn runs(folder: &Folder, from: usize) -> Vec<(Vec<i16>, usize, std::path::PathBuf)> {
    let dir = folder.file("runs");
    let mut runs = Vec::new();
    for n in from.. {
        let json = dir.join(format!("{n}.json"));
        if !json.exists() {
            break;
        }
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let samples = read_wav(&dir.join(format!("{n}.wav")));
        let frames = record["frames"].as_u64().unwrap() as usize;
        runs.push((samples, frames, dir.join(format!("{n}.png"))));
    }
    runs
}

fn build(folder: &Folder) -> common::Run {
    let run = folder.render_within(&["build", "--jobs", "2"], Duration::from_secs(300));
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

#[test]
fn a_long_line_is_cut_at_its_pauses_continued_and_joined_frame_exact() {
    let folder = folder("continue = \"last_frame\"");
    let run = build(&folder);
    let line = read_wav(&folder.file("projects/demo/talk.wav"));
    let seconds = line.len() as f64 / RATE as f64;
    assert!((94.0..96.0).contains(&seconds), "{seconds}");

    let runs = runs(&folder, 1);
    let segments: Vec<String> = (run.made().into_iter())
        .filter(|n| n.starts_with("segment "))
        .collect();
    assert!(runs.len() >= 4, "{} segments", runs.len());
    assert_eq!(
        segments.len(),
        runs.len(),
        "one job per segment: {segments:?}"
    );
    assert!(run.made().contains(&"cuts demo/intro:1".to_string()));

    // Each at most 30 s; together exactly the line's samples, in order (the audio each
    // segment was made from is the line's, in sync).
    let mut joined: Vec<i16> = Vec::new();
    let mut cuts = Vec::new();
    for (samples, frames, _) in &runs {
        assert!(
            samples.len() <= 30 * RATE as usize,
            "{} samples",
            samples.len()
        );
        // Cuts fall on frame boundaries at 25 fps: 640 samples a frame.
        if !joined.is_empty() {
            cuts.push(joined.len());
        }
        assert_eq!(joined.len() % 640, 0, "a cut between frames");
        assert_eq!(*frames, samples.len().div_ceil(640));
        joined.extend(samples);
    }
    assert_eq!(joined, line, "the segments' audio is the line's");
    // The figures, for whoever reads the run (`--nocapture`).
    let seconds = |samples: usize| samples as f64 / RATE as f64;
    eprintln!(
        "{:.2} s line, {} frames: {} segments of {:?} s ({:?} frames), cut at {:?} s",
        seconds(line.len()),
        line.len().div_ceil(640),
        runs.len(),
        (runs
            .iter()
            .map(|r| (seconds(r.0.len()) * 100.0).round() / 100.0))
        .collect::<Vec<_>>(),
        runs.iter().map(|r| r.1).collect::<Vec<_>>(),
        (cuts.iter().map(|&c| (seconds(c) * 100.0).round() / 100.0)).collect::<Vec<_>>(),
    );
    // Every cut inside a silence of the WAV: 0.1 s of zeros on either side.
    for &cut in &cuts {
        let around = &line[cut - 1600..cut + 1600];
        assert!(
            around.iter().all(|&s| s == 0),
            "cut at {cut} is not in a pause"
        );
    }

    // With `continue`, each segment's picture is the last frame of the one before.
    let portrait = video_frame(&folder.file("avatars/astronaut.png"), 0, "", "rgb24");
    assert_eq!(video_frame(&runs[0].2, 0, "", "rgb24"), portrait);
    for k in 1..runs.len() {
        let clip = folder
            .object(&format!("segment demo/intro:1 {k}/{}", runs.len()))
            .join("clip.mp4");
        let frames = video_frames(&clip);
        assert_eq!(frames as usize, runs[k - 1].1);
        let last = video_frame(&clip, frames - 1, "", "rgb24");
        let given = video_frame(&runs[k].2, 0, "", "rgb24");
        assert_eq!(given.len(), last.len());
        assert!(
            given == last,
            "segment {} did not start from segment {k}'s last frame",
            k + 1
        );
        assert_ne!(given, portrait);
    }

    // The line's clip: exactly the frames its speech covers; the scene as long.
    let clip = folder.object("clip demo/intro:1").join("clip.mp4");
    let frames = line.len().div_ceil(640) as u64;
    assert_eq!(video_frames(&clip), frames);
    assert_eq!(video_frames(&folder.file("out/demo/intro.mp4")), frames);

    // A no-op makes nothing and runs nothing.
    let again = build(&folder);
    assert_eq!(again.made(), Vec::<String>::new());
    assert_eq!(common_runs(&folder), runs.len());

    // Edit the last sentence (another pitch, two words more): only the last segment is
    // made again; the others' audio, hence their keys, did not change.
    write_wav(&folder.file("projects/demo/talk.wav"), &speech(330.0, 2));
    let edited = build(&folder);
    let remade: Vec<String> = (edited.made().into_iter())
        .filter(|n| n.starts_with("segment "))
        .collect();
    let count = runs.len();
    assert_eq!(remade, [format!("segment demo/intro:1 {count}/{count}")]);
    assert_eq!(common_runs(&folder), count + 1);
    // (The old clip's object has the same name: the published scene is the new one.)
    let line = read_wav(&folder.file("projects/demo/talk.wav"));
    let scene = folder.file("out/demo/intro.mp4");
    assert_eq!(video_frames(&scene), line.len().div_ceil(640) as u64);
}

/// The names of `--events`' finished events of artifacts made, in order.
fn made_events(events: &Path) -> Vec<String> {
    (std::fs::read_to_string(events).unwrap().lines())
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|e| e["event"] == "finished" && e["status"] == "made")
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

fn common_runs(folder: &Folder) -> usize {
    runs(folder, 1).len()
}

#[test]
fn without_continue_every_segment_starts_from_the_portrait_and_a_line_without_pauses_fails() {
    let folder = folder("");
    let events = folder.file("events.jsonl");
    let run = folder.render_within(
        &["build", "--jobs", "2", "--events", events.to_str().unwrap()],
        Duration::from_secs(300),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // `--events` tells the first round (the speech and its cuts) as it tells the rest: a
    // finished event for every artifact made.
    let finished = made_events(&events);
    let mut made = run.made();
    made.sort();
    let mut told = finished.clone();
    told.sort();
    assert_eq!(told, made, "events: {finished:?}");
    assert!(made.contains(&"cuts demo/intro:1".to_string()), "{made:?}");
    let runs = runs(&folder, 1);
    assert!(runs.len() >= 4);
    let portrait = video_frame(&folder.file("avatars/astronaut.png"), 0, "", "rgb24");
    for (_, _, image) in &runs {
        assert_eq!(video_frame(image, 0, "", "rgb24"), portrait);
    }

    // 40 s without a pause: no cut never inside a word, so the line fails, saying where.
    let tone: Vec<i16> = (0..40 * RATE)
        .map(|i| ((i as f64 / RATE as f64 * 200.0 * std::f64::consts::TAU).sin() * 9000.0) as i16)
        .collect();
    write_wav(&folder.file("projects/demo/talk.wav"), &tone);
    let run = folder.render_within(&["build"], Duration::from_secs(300));
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_lines(&[
        "× cannot make cuts demo/intro:1",
        "× cannot cut line demo/intro:1 into segments: no pause of 0.25 s or more between 0.00 s and 30.00 s of its speech (its engine takes at most 30.00 s at once)",
    ]);
    assert!(
        run.stderr
            .contains("raise its lip-sync engine's `max_seconds`"),
        "{}",
        run.stderr
    );
    // The scene waits for its cuts: its last video stays, as a failed scene's does.
    assert!(folder.file("out/demo/intro.mp4").exists());
}

#[test]
fn segment_settings_are_checked_where_they_are_written() {
    // `continue` takes only "last_frame", and needs `max_seconds`.
    let folder = folder("continue = \"first_frame\"");
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&[
        "× engine `talker`: `continue` can only be \"last_frame\", not \"first_frame\"",
    ]);
    let at = folder.location("Renderfile.toml", "\"first_frame\"");
    assert!(run.stderr.contains(&at), "{at} in {}", run.stderr);
    assert!(!folder.file("cache/objects").exists() || common_runs(&folder) == 0);

    folder.edit("Renderfile.toml", "max_seconds = 30\n", "");
    folder.edit("Renderfile.toml", "first_frame", "last_frame");
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&["× engine `talker`: `continue` needs `max_seconds`"]);

    folder.edit(
        "Renderfile.toml",
        "continue = \"last_frame\"",
        "max_seconds = 1",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&["× `max_seconds` must be between 2 and 3600, not 1"]);
    let at = folder.location("Renderfile.toml", "1\n");
    assert!(run.stderr.contains(&at), "{at} in {}", run.stderr);
    assert_eq!(common_runs(&folder), 0, "nothing ran");
}

#[test]
fn build_force_on_a_line_not_cut_yet_makes_its_cuts_once() {
    let folder = folder("");
    let events = folder.file("events.jsonl");
    let run = folder.render_within(
        &[
            "build",
            "--force",
            "--jobs",
            "2",
            "--events",
            events.to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The first round makes the line's cuts; the second (everything, for --force) does
    // not make them again: each artifact is made once.
    let finished = made_events(&events);
    let mut once = finished.clone();
    once.sort();
    once.dedup();
    assert_eq!(finished.len(), once.len(), "made twice: {finished:?}");
    assert!(
        finished.contains(&"cuts demo/intro:1".to_string()),
        "{finished:?}"
    );
    let segments = finished
        .iter()
        .filter(|n| n.starts_with("segment "))
        .count();
    assert!(segments >= 4, "{finished:?}");
    assert_eq!(runs(&folder, 1).len(), segments);
    // A second --force makes everything again, the cuts included, once each.
    let again = folder.render_within(&["build", "--force"], Duration::from_secs(300));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.made().contains(&"cuts demo/intro:1".to_string()));
    assert_eq!(runs(&folder, 1).len(), 2 * segments);
}

#[test]
fn plan_write_jobs_on_a_line_not_cut_yet_writes_the_first_round_and_says_so() {
    let folder = folder("");
    let specs = |folder: &Folder| -> Vec<String> {
        let mut names: Vec<String> = (std::fs::read_dir(folder.file("jobs")).unwrap())
            .map(|e| e.unwrap().path().display().to_string())
            .collect();
        names.sort();
        names
    };
    let plan = folder.render(&["plan", "--write-jobs", "jobs"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let note = "render: wrote the first round only: 1 scene(s) wait for their long lines' cuts; \
                run these jobs (`render run-jobs`), then `render plan --write-jobs` again for the rest";
    assert!(plan.stderr.lines().any(|l| l == note), "{}", plan.stderr);
    let first = specs(&folder);
    assert!(first.iter().any(|s| s.ends_with("-cuts.json")), "{first:?}");
    let later = ["-segment.json", "-clip.json", "-scene.json"];
    assert!(
        !first.iter().any(|s| later.iter().any(|k| s.ends_with(k))),
        "{first:?}"
    );
    // As it says: run them, plan again, and the rest is written (no note).
    let mut args = vec!["run-jobs"];
    args.extend(first.iter().map(String::as_str));
    let run = folder.render_within(&args, Duration::from_secs(300));
    assert_eq!(run.code, 0, "{}", run.stderr);
    std::fs::remove_dir_all(folder.file("jobs")).unwrap();
    let plan = folder.render(&["plan", "--write-jobs", "jobs"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!plan.stderr.contains("first round only"), "{}", plan.stderr);
    let rest = specs(&folder);
    let segments = rest.iter().filter(|s| s.ends_with("-segment.json")).count();
    assert!(segments >= 4, "{rest:?}");
    assert!(rest.iter().any(|s| s.ends_with("-scene.json")), "{rest:?}");
}
