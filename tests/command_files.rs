//! The command engine's second edition, driven through the real binary with a fake lip-sync
//! program: the numbers adapters compute from a job (`{seconds}`, `{frames}`, `{width}`,
//! `{height}`, `{seed}`), input files written from templates and quoted for their format,
//! and `audio = "mux"` for programs whose silent video runs past the speech.

mod common;

use common::{probe, write_program, Folder};
use std::time::Duration;

/// A fake talking-head program: `fake <input file> <record> <out> <extra frames>`. It
/// records the input file's text and the picture's size as it read them, then writes a
/// silent video of `frames` + extra frames at `fps` from the input file.
const FAKE: &str = r#"#!/usr/bin/env python3
import json, struct, subprocess, sys
inputs, record, out, extra = sys.argv[1:5]
text = open(inputs, encoding="utf-8").read()
job = json.loads(text)
with open(job["image"], "rb") as f:
    head = f.read(24)
size = struct.unpack(">II", head[16:24])
with open(record, "w", encoding="utf-8") as f:
    json.dump({"file": inputs, "text": text, "png": list(size)}, f)
frames = int(job["frames"]) + int(extra)
subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", job["image"], "-frames:v", str(frames),
                "-r", job["fps"], "-vf", "scale=64:64", "-pix_fmt", "yuv420p", out], check=True)
"#;

/// The engine block: `job.json` from a template, `extra` frames past the speech.
fn engine(extra: u32, more: &str) -> String {
    format!(
        r#"[engines.talker]
stage = "lipsync"
program = "./fake"
args = ["{{file:job.json}}", "{{record}}", "{{out}}", "{extra}"]
vars = {{ record = "RECORD", prompt = "She said \"hi\"\nand left {{x}}" }}
{more}

[engines.talker.files]
"job.json" = '''
{{"prompt": "{{prompt}}", "image": "{{image}}", "audio": "{{audio}}", "fps": "{{fps}}",
 "frames": {{frames}}, "seconds": {{seconds}}, "size": "{{width}}*{{height}}", "seed": {{seed}},
 "list": "{{file:list.txt}}"}}
'''
"list.txt" = "{{image}}@@{{audio}}"
"#
    )
}

/// A folder whose avatar's file name holds a double quote, spoken by espeak at 10 fps and
/// lip-synced by the fake.
fn folder(engine: &str) -> Folder {
    let folder = Folder::with_portrait();
    std::fs::rename(
        folder.file("avatars/astronaut.png"),
        folder.file("avatars/astro\"naut.png"),
    )
    .unwrap();
    let record = folder.file("record.json");
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [160, 90]\npause = 0.4\nvoice = \"bob\"\navatar = \"astronaut\"\n\n\
             [voices.bob]\nengine = \"espeak\"\n\n[avatars.astronaut]\nimage = 'avatars/astro\"naut.png'\nlipsync = \"talker\"\n\n{}",
            engine.replace("RECORD", &record.to_string_lossy())
        ),
    );
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello there, this is a test.\"]\n",
    );
    write_program(&folder.file("fake"), FAKE);
    folder
}

fn build(folder: &Folder) -> common::Run {
    folder.render_within(&["build"], Duration::from_secs(120))
}

/// The one object file called `name` under cache/objects.
fn object(folder: &Folder, name: &str) -> std::path::PathBuf {
    let found: Vec<_> = walkdir::WalkDir::new(folder.file("cache/objects"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_name() == name)
        .map(|e| e.into_path())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

#[test]
fn input_files_carry_the_jobs_numbers_and_values_quoted_for_their_format() {
    let folder = folder(&engine(0, ""));
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let record: serde_json::Value =
        serde_json::from_str(&folder.read("record.json")).expect("the fake ran");
    let text = record["text"].as_str().unwrap();
    // The template's text is valid JSON although values hold quotes and a line break.
    let job: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(job["prompt"], "She said \"hi\"\nand left {x}");
    assert_eq!(job["fps"], "10");

    // {seconds} and {frames}: of the line's speech, at the scene's 10 fps, exact.
    let mut speech = hound::WavReader::open(object(&folder, "speech.wav")).unwrap();
    let (samples, rate) = (speech.len() as u64, speech.spec().sample_rate as u64);
    let frames = (samples * 10).div_ceil(rate);
    assert_eq!(job["frames"], frames);
    assert_eq!(
        job["seconds"].to_string(),
        format!("{:.3}", samples as f64 / rate as f64)
    );
    assert_eq!(speech.samples::<i16>().count() as u64, samples);
    // {width} and {height}: the picture the program got.
    let png = &record["png"];
    assert_eq!(job["size"], format!("{}*{}", png[0], png[1]));
    // {seed}: from the key, a signed 32-bit number.
    let seed = job["seed"].as_u64().unwrap();
    assert!(seed < 1 << 31);
    // {file:list.txt}: the text file beside it, values written as they are.
    let list = std::fs::read_to_string(job["list"].as_str().unwrap_or_default());
    // (The inputs are gone with the job's working folder; its text was recorded instead.)
    assert!(list.is_err(), "inputs are not left behind");
    assert!(job["image"].as_str().unwrap().ends_with(".png"));
    assert!(job["audio"].as_str().unwrap().ends_with("speech.wav"));
    assert_eq!(
        common::video_frames(&object(&folder, "clip.mp4")),
        frames,
        "the clip has the speech's frames"
    );

    // The same job again (forced) gets the same seed; a declared seed is used and enters
    // the key, so the clip is made again.
    let run = folder.render_within(&["build", "--force"], Duration::from_secs(120));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let again: serde_json::Value = serde_json::from_str(&folder.read("record.json")).unwrap();
    let again: serde_json::Value = serde_json::from_str(again["text"].as_str().unwrap()).unwrap();
    assert_eq!(again["seed"], seed);
    folder.edit(
        "Renderfile.toml",
        "program = \"./fake\"",
        "program = \"./fake\"\nseed = 7",
    );
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.made().iter().any(|m| m.starts_with("clip ")),
        "{:?}",
        run.made()
    );
    let seeded: serde_json::Value = serde_json::from_str(&folder.read("record.json")).unwrap();
    let seeded: serde_json::Value = serde_json::from_str(seeded["text"].as_str().unwrap()).unwrap();
    assert_eq!(seeded["seed"], 7);
}

#[test]
fn a_text_file_refuses_a_value_with_a_line_break() {
    let engine = engine(0, "").replace(
        "\"list.txt\" = \"{image}@@{audio}\"",
        "\"list.txt\" = \"{prompt}@@{image}@@{audio}\"",
    );
    let folder = folder(&engine);
    let run = build(&folder);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "engine `talker`: cannot write its file `list.txt`: the value of `{prompt}` holds a line break, which would break the file: \"She said \\\"hi\\\"\\nand left {x}\""
        ),
        "{}",
        run.stderr
    );
    assert!(
        !folder.file("record.json").exists(),
        "the program never ran"
    );
}

#[test]
fn a_silent_video_past_the_speech_is_cut_to_it_with_audio_mux() {
    // 25 frames (2.5 s) too long: without `audio = "mux"` that is a broken clip.
    let folder = folder(&engine(25, ""));
    let run = build(&folder);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("engine `talker` wrote a ")
            && run
                .stderr
                .contains(" s of speech (it must last as long as the speech, within one frame)"),
        "{}",
        run.stderr
    );
    folder.edit(
        "Renderfile.toml",
        "program = \"./fake\"",
        "program = \"./fake\"\naudio = \"mux\"",
    );
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let record: serde_json::Value = serde_json::from_str(&folder.read("record.json")).unwrap();
    let job: serde_json::Value = serde_json::from_str(record["text"].as_str().unwrap()).unwrap();
    let frames = job["frames"].as_u64().unwrap();
    assert_eq!(common::video_frames(&object(&folder, "clip.mp4")), frames);
    // The scene lays the speech under it: sound as long as the picture, within a frame.
    let (video, audio, video_seconds, audio_seconds) = probe(&folder.file("out/demo/intro.mp4"));
    assert_eq!((video.as_str(), audio.as_str()), ("h264", "aac"));
    assert!(
        (video_seconds - audio_seconds).abs() <= 0.1,
        "{video_seconds} {audio_seconds}"
    );
}

#[test]
fn misplaced_and_unknown_placeholders_in_files_are_config_errors() {
    let folder = folder(&engine(0, "").replace("\"image\": \"{image}\"", "\"image\": {image}"));
    let run = build(&folder);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`{image}` must be inside a double-quoted JSON string"),
        "{}",
        run.stderr
    );
    let at = folder.location("Renderfile.toml", "{image}, \"audio\"");
    assert!(run.stderr.contains(&at), "{at} in {}", run.stderr);

    let folder = self::folder(&engine(0, "").replace("{file:job.json}", "{file:jobs.json}"));
    let run = build(&folder);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("unknown placeholder `{file:jobs.json}` in engine `talker`"),
        "{}",
        run.stderr
    );
    let folder = self::folder(&engine(0, "audio = \"keep\""));
    let run = build(&folder);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "engine `talker`: `audio` can only be \"mux\", on a lip-sync engine, not \"keep\""
        ),
        "{}",
        run.stderr
    );
}
