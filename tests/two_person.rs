//! Two people in one shot (`shot = "two"`), driven through the real binary with
//! engines/infinitetalk/two.toml as it is (every /opt/... path moved under a temp dir). A
//! fake `generate_infinitetalk.py` checks its exact argv and the JSON file it is given —
//! both people's audio, the picture of both, each face's box — keeps copies of what it got,
//! and writes a video of the exchange's frames the way InfiniteTalk does (whole chunks). The
//! test then checks what render made of it: one engine run for the exchange, each person's
//! track with their lines at the right samples and silence elsewhere, the boxes where each
//! avatar's face track puts them, the scene's frames and captions line by line, and what an
//! edit of one line makes again.

mod common;

use common::{repo, video_frames, write_program, Folder, Machine, Run};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The fake InfiniteTalk: `python generate_infinitetalk.py ...` run by `env -C <clone>`.
const FAKE: &str = r#"#!/usr/bin/env python3
import json, os, shutil, struct, subprocess, sys
ARGV = sys.argv[1:]
GOT = "@GOT@"
CLONE = "@CLONE@"
WORK = os.environ.get("TMPDIR", "")


def fail(why):
    sys.stderr.write("FAKE: %s\n  argv: %r\n" % (why, ARGV))
    sys.exit(97)


def same(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


if not same(os.getcwd(), CLONE):
    fail("runs in %s, not in the clone" % os.getcwd())
want = [
    "generate_infinitetalk.py",
    "--ckpt_dir", "weights/Wan2.1-I2V-14B-480P",
    "--wav2vec_dir", "weights/chinese-wav2vec2-base",
    "--infinitetalk_dir", "weights/InfiniteTalk/multi/infinitetalk.safetensors",
    "--input_json", None,
    "--size", "infinitetalk-480",
    "--sample_steps", "40",
    "--mode", "streaming",
    "--motion_frame", "9",
    "--max_frame_num", None,
    "--base_seed", None,
    "--audio_save_dir", WORK + "/audio",
    "--save_file", WORK + "/out",
]
if len(ARGV) != len(want):
    fail("expected %d arguments" % len(want))
for i, (w, v) in enumerate(zip(want, ARGV)):
    if w is not None and w != v:
        fail("argument %d is %r, not %r" % (i + 1, v, w))
frames = int(ARGV[ARGV.index("--max_frame_num") + 1])
with open(ARGV[ARGV.index("--input_json") + 1], encoding="utf-8") as f:
    job = json.load(f)
if sorted(job) != ["audio_type", "bbox", "cond_audio", "cond_video", "prompt"]:
    fail("input.json holds %r" % sorted(job))
if job["audio_type"] != "para" or sorted(job["cond_audio"]) != ["person1", "person2"]:
    fail("input.json: %r" % job)
inputs = os.path.realpath(WORK + "/../inputs")
for path in [job["cond_video"], job["cond_audio"]["person1"], job["cond_audio"]["person2"]]:
    if os.path.dirname(os.path.realpath(path)) != inputs:
        fail("%s is not in the job's inputs folder" % path)
with open(job["cond_video"], "rb") as f:
    head = f.read(24)
if head[:8] != b"\x89PNG\r\n\x1a\n":
    fail("cond_video is not a PNG")
# A record of the run, for the test: the JSON, both tracks and the picture.
n = 1
while True:  # claim a number by creating its record exclusively: runs may be parallel
    try:
        os.close(os.open(os.path.join(GOT, "%d.json" % n), os.O_CREAT | os.O_EXCL))
        break
    except FileExistsError:
        n += 1
shutil.copy(job["cond_audio"]["person1"], os.path.join(GOT, "%d-person1.wav" % n))
shutil.copy(job["cond_audio"]["person2"], os.path.join(GOT, "%d-person2.wav" % n))
shutil.copy(job["cond_video"], os.path.join(GOT, "%d.png" % n))
with open(os.path.join(GOT, "%d.json" % n), "w") as f:
    json.dump({"job": job, "frames": frames, "size": list(struct.unpack(">II", head[16:24]))}, f)
# Streaming: chunks of 81 frames overlapping by 9, so the video runs past the exchange.
made = 81
while made < frames:
    made += 72
subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
                "testsrc=s=96x48:r=25:d=%.3f" % (made / 25.0), "-frames:v", str(made),
                "-pix_fmt", "yuv420p", WORK + "/out.mp4"], check=True)
"#;

const LINES: [(&str, &str); 4] = [
    ("Hello, and welcome to the show.", "ada"),
    ("Thank you for having me.", "bob"),
    ("How was the trip?", "ada"),
    ("Long, but worth it.", "bob"),
];

/// A content folder with two voices, each with its avatar (host, guest), a third avatar
/// for another scene, and the two-person engine; `/opt` is under `root`.
struct Shot(Machine);

impl std::ops::Deref for Shot {
    type Target = Machine;
    fn deref(&self) -> &Machine {
        &self.0
    }
}

impl Shot {
    fn new(lipsync: &str, project: &str) -> Shot {
        let shot = Shot(Machine::new());
        let engines = shot.engines("engines/infinitetalk/two.toml");
        let clone = shot.opt("infinitetalk/InfiniteTalk");
        let weights = clone.join("weights/InfiniteTalk/multi/infinitetalk.safetensors");
        std::fs::create_dir_all(weights.parent().unwrap()).unwrap();
        std::fs::write(&weights, "stand-in for the multi-person weights\n").unwrap();
        std::fs::create_dir_all(shot.got()).unwrap();
        let fake = FAKE
            .replace("@GOT@", shot.got().to_str().unwrap())
            .replace("@CLONE@", clone.to_str().unwrap());
        let python = shot.opt("infinitetalk/venv/bin/python");
        std::fs::create_dir_all(python.parent().unwrap()).unwrap();
        write_program(&python, &fake);

        let folder = &shot.folder;
        folder.write(
            "Renderfile.toml",
            &format!(
                "[render]\ndevice = \"cpu\"\n\n\
                 [defaults]\nfps = 25\nsize = [160, 72]\npause = 0\n\
                 background = \"#101820\"\nvoice = \"ada\"\navatar = \"host\"\n\n\
                 [voices.ada]\nlanguage = \"en-us\"\navatar = \"host\"\n\n\
                 [voices.bob]\nlanguage = \"en-gb\"\npitch = 30\navatar = \"guest\"\n\n\
                 [avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"{lipsync}\"\n\n\
                 [avatars.guest]\nimage = \"avatars/guest.png\"\nlipsync = \"{lipsync}\"\n\n\
                 [avatars.solo]\nimage = \"avatars/solo.png\"\n\n{engines}"
            ),
        );
        folder.write("projects/demo/project.toml", project);
        std::fs::create_dir_all(folder.file("avatars")).unwrap();
        let portrait = repo().join("avatars/astronaut.png");
        std::fs::copy(&portrait, folder.file("avatars/host.png")).unwrap();
        std::fs::copy(&portrait, folder.file("avatars/solo.png")).unwrap();
        // The guest: the same face, lower right in a larger picture, so its box and scale
        // differ from the host's.
        let status = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y", "-i"])
            .arg(&portrait)
            .args(["-vf", "pad=640:640:128:96:color=white"])
            .arg(folder.file("avatars/guest.png"))
            .status()
            .unwrap();
        assert!(status.success());
        shot
    }

    /// Where the fake keeps what each run got.
    fn got(&self) -> PathBuf {
        self.root.path().join("got")
    }

    fn runs(&self) -> usize {
        (std::fs::read_dir(self.got()).unwrap())
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count()
    }

    /// What run `n` (from 1) of the fake got.
    fn run(&self, n: usize) -> serde_json::Value {
        let text = std::fs::read(self.got().join(format!("{n}.json"))).unwrap();
        serde_json::from_slice(&text).unwrap()
    }

    /// Builds again after an edit: the build succeeds, the fake has run `runs` times in
    /// all, and what was made, sorted.
    #[track_caller]
    fn made_again(&self, runs: usize) -> Vec<String> {
        let run = self.build();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(self.runs(), runs);
        let mut made = run.made();
        made.sort();
        made
    }

    fn build(&self) -> Run {
        self.render(&["build"])
    }
}

/// The exchange's project: scene `talk`, a shot of two, and scene `solo` of one line.
fn project(lines: &[(&str, &str)]) -> String {
    let lines: Vec<String> = (lines.iter())
        .map(|(text, voice)| format!("  {{ text = {text:?}, voice = {voice:?} }},"))
        .collect();
    format!(
        "[[scene]]\nname = \"talk\"\nshot = \"two\"\nlines = [\n{}\n]\n\n\
         [[scene]]\nname = \"solo\"\nlines = [{{ text = \"A word on my own.\", avatar = \"solo\" }}]\n",
        lines.join("\n")
    )
}

fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!(spec.channels, 1, "{}", path.display());
    let samples = match spec.sample_format {
        hound::SampleFormat::Int => (reader.samples::<i16>())
            .map(|s| f32::from(s.unwrap()) / 32768.0)
            .collect(),
        hound::SampleFormat::Float => reader.samples::<f32>().map(|s| s.unwrap()).collect(),
    };
    (samples, spec.sample_rate)
}

fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// Each line's frames at 25 fps, from its speech object: the fewest covering it.
fn line_frames(folder: &Folder, count: usize) -> Vec<usize> {
    (1..=count)
        .map(|i| {
            let dir = folder.object(&format!("speech demo/talk:{i}"));
            let (samples, rate) = read_wav(&dir.join("speech.wav"));
            (samples.len() * 25).div_ceil(rate as usize)
        })
        .collect()
}

/// A face track's first box, `[x, y, w, h]`.
fn face_box(folder: &Folder, avatar: &str) -> [f32; 4] {
    let dir = folder.object(&format!("face-track {avatar}"));
    let track: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("track.json")).unwrap()).unwrap();
    let b = &track["boxes"][0];
    ["x", "y", "w", "h"].map(|k| b[k].as_f64().unwrap() as f32)
}

/// A box placed by `scale` and `dx` in the picture, as `[y0, x0, y1, x1]` whole pixels.
fn placed_yx([x, y, w, h]: [f32; 4], scale: f32, dx: f32) -> Vec<u64> {
    let (x0, y0) = (x * scale + dx, y * scale);
    let (x1, y1) = (x0 + w * scale, y0 + h * scale);
    [y0, x0, y1, x1].iter().map(|v| v.round() as u64).collect()
}

fn numbers(value: &serde_json::Value) -> Vec<u64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

#[test]
fn a_four_line_exchange_is_one_engine_run_with_a_track_per_person() {
    let shot = Shot::new("infinitetalk-two", &project(&LINES));
    let run = shot.build();
    assert_eq!(run.code, 0, "build failed:\n{}", run.stderr);
    assert_eq!(shot.runs(), 1, "one engine run for the whole exchange");
    let made = run.made();
    for name in [
        "track demo/talk person 1",
        "track demo/talk person 2",
        "two-shot demo/talk",
        "clip demo/talk:1",
        "clip demo/talk:4",
        "scene demo/talk",
        "scene demo/solo",
    ] {
        assert!(
            made.contains(&name.to_string()),
            "{name} not made: {made:?}"
        );
    }
    let folder = &shot.folder;
    let frames = line_frames(folder, 4);
    let total: usize = frames.iter().sum();
    let got = shot.run(1);
    assert_eq!(
        got["frames"], total,
        "--max_frame_num is the exchange's frames"
    );

    // Each person's track: the exchange's length at 16 kHz, their lines in place and
    // silence where the other speaks; the engine was given exactly these tracks.
    let mut start = 0;
    let stretches: Vec<(usize, usize)> = (frames.iter())
        .map(|f| {
            let s = (start * 640, (start + f) * 640);
            start += f;
            s
        })
        .collect();
    for (p, person) in ["person 1", "person 2"].iter().enumerate() {
        let track = folder
            .object(&format!("track demo/talk {person}"))
            .join("track.wav");
        let (samples, rate) = read_wav(&track);
        assert_eq!((samples.len(), rate), (total * 640, 16_000), "{person}");
        let given = shot.got().join(format!("1-person{}.wav", p + 1));
        assert_eq!(
            std::fs::read(&given).unwrap(),
            std::fs::read(&track).unwrap()
        );
        for (i, &(from, to)) in stretches.iter().enumerate() {
            let level = rms(&samples[from..to]);
            let speaks = (LINES[i].1 == "ada") == (p == 0);
            if speaks {
                assert!(level > 0.01, "{person} line {}: rms {level}", i + 1);
            } else {
                assert_eq!(level, 0.0, "{person} line {}: not silent", i + 1);
            }
        }
    }

    // The picture: host (512 px square) and guest (640 px square, scaled to 512) side by side; each box
    // is where that avatar's face track puts the face, in InfiniteTalk's y,x order.
    assert_eq!(got["size"], serde_json::json!([512 + 512, 512]));
    let bbox = &got["job"]["bbox"];
    assert_eq!(
        numbers(&bbox["person1"]),
        placed_yx(face_box(folder, "host"), 1.0, 0.0)
    );
    assert_eq!(
        numbers(&bbox["person2"]),
        placed_yx(face_box(folder, "guest"), 0.8, 512.0)
    );
    assert!(
        numbers(&bbox["person1"])[3] <= 512,
        "person 1's face is on the left"
    );
    assert!(
        numbers(&bbox["person2"])[1] >= 512,
        "person 2's face is on the right"
    );
    let picture = folder.object("two-shot demo/talk").join("picture.png");
    assert_eq!(
        std::fs::read(&picture).unwrap(),
        std::fs::read(shot.got().join("1.png")).unwrap()
    );

    // The scene: the sum of the lines' frames (no pause), a caption per line at its start.
    assert_eq!(
        video_frames(&folder.file("out/demo/talk.mp4")),
        total as u64
    );
    let srt = folder.read("out/demo/talk.srt");
    let mut start = 0;
    for (i, (text, _)) in LINES.iter().enumerate() {
        let ms = start * 40;
        let at = format!(
            "{:02}:{:02}:{:02},{:03} -->",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        );
        let cue = format!("{}\n{at}", i + 1);
        assert!(srt.contains(&cue), "no cue {cue:?} in\n{srt}");
        assert!(srt.contains(text), "no {text:?} in\n{srt}");
        start += frames[i];
    }
    assert!(!srt.contains("\n5\n"), "one cue per line:\n{srt}");

    // `render engines` says which engine makes shots of two people.
    let listed = shot.render(&["engines"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let block = listed
        .stdout
        .split("\n\n")
        .find(|b| b.starts_with("infinitetalk-two "));
    let lines: Vec<&str> = block.expect(&listed.stdout).lines().collect();
    assert_eq!(
        lines[0],
        "infinitetalk-two  lipsync  declared in Renderfile.toml"
    );
    assert_eq!(lines[4], "  people   two in one shot (`shot = \"two\"`)");
    assert_eq!(
        lines[lines.len() - 2..],
        ["  used by  avatars guest, host", "  scenes   demo/talk"]
    );

    // Editing one line makes its speech, both tracks and the one engine run again (and the
    // lines' clips cut from it), nothing of the other scene.
    folder.edit(
        "projects/demo/project.toml",
        "How was the trip?",
        "And how was your trip over here?",
    );
    let run = shot.build();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(shot.runs(), 2);
    let mut made = run.made();
    made.sort();
    assert_eq!(
        made,
        [
            "captions demo/talk",
            "clip demo/talk:1",
            "clip demo/talk:2",
            "clip demo/talk:3",
            "clip demo/talk:4",
            "scene demo/talk",
            "speech demo/talk:3",
            "track demo/talk person 1",
            "track demo/talk person 2",
            "two-shot demo/talk",
        ]
    );

    // Swapping which voice says line 3 swaps the tracks, not the faces.
    folder.edit(
        "projects/demo/project.toml",
        "text = \"And how was your trip over here?\", voice = \"ada\"",
        "text = \"And how was your trip over here?\", voice = \"bob\"",
    );
    let run = shot.build();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(shot.runs(), 3);
    let third = shot.run(3);
    assert_eq!(third["job"]["bbox"], got["job"]["bbox"], "the faces stay");
    let frames = line_frames(folder, 4);
    let from = (frames[0] + frames[1]) * 640;
    let to = from + frames[2] * 640;
    let (one, _) = read_wav(&shot.got().join("3-person1.wav"));
    let (two, _) = read_wav(&shot.got().join("3-person2.wav"));
    assert_eq!(rms(&one[from..to]), 0.0, "line 3 left person 1's track");
    assert!(rms(&two[from..to]) > 0.01, "line 3 is in person 2's track");
}

/// `render build` of a folder whose shot is wrong: a configuration error, nothing made.
fn config_error(shot: &Shot) -> Run {
    let run = shot.build();
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert_eq!(shot.runs(), 0);
    assert!(!shot.folder.file("out/demo/talk.mp4").exists());
    run
}

#[test]
fn a_shot_needs_two_avatars_and_an_engine_for_two_people() {
    let one = [("Hello.", "ada"), ("Hello again.", "ada")];
    config_error(&Shot::new("infinitetalk-two", &project(&one))).assert_lines(&[
        "× scene `talk` is a shot of two people but all its lines show avatar `host`",
        "╭─[projects/demo/project.toml:3:8]",
        "help: give the other person's lines their avatar: `{ text = \"…\", avatar = \"guest\" }`, or a voice with its own `avatar`",
    ]);

    let three = project(&LINES).replace(
        "{ text = \"Long, but worth it.\", voice = \"bob\" }",
        "{ text = \"Long, but worth it.\", voice = \"bob\", avatar = \"solo\" }",
    );
    config_error(&Shot::new("infinitetalk-two", &three)).assert_lines(&[
        "× scene `talk` is a shot of two people but its lines show 3 avatars: `host`, `guest` and `solo`",
        "╭─[projects/demo/project.toml:3:8]",
        "help: a two-person shot shows two avatars; move the other people's lines into a scene of their own",
    ]);

    config_error(&Shot::new("builtin", &project(&LINES))).assert_lines(&[
        "× lip-sync engine `builtin` of avatars `host` and `guest` cannot make a shot of two people",
        "╭─[projects/demo/project.toml:3:8]",
        "help: it must take each person's audio, {audio_1} and {audio_2}; engines that do: `infinitetalk-two`",
    ]);

    // A long exchange is not cut into segments yet: an engine that would need it is refused.
    let segmented = Shot::new("infinitetalk-two", &project(&LINES));
    segmented.folder.edit(
        "Renderfile.toml",
        "audio = \"mux\"",
        "audio = \"mux\"\nmax_seconds = 60",
    );
    config_error(&segmented).assert_lines(&[
        "× lip-sync engine `infinitetalk-two` declares `max_seconds = 60`, and a shot of two people is not cut into segments yet",
        "╭─[projects/demo/project.toml:3:8]",
        "help: remove `max_seconds` from engine `infinitetalk-two`, or split the exchange into scenes short enough for one run of it",
    ]);

    // A scene of one clip per line cannot show an avatar whose engine takes two people.
    let single = project(&LINES).replace("shot = \"two\"\n", "");
    config_error(&Shot::new("infinitetalk-two", &single)).assert_lines(&[
        "× scene `talk` shows avatar `host`, whose lip-sync engine `infinitetalk-two` makes shots of two people",
        "╭─[projects/demo/project.toml:2:8]",
        "help: give the scene `shot = \"two\"` and lines of two avatars, or show an avatar whose `lipsync` is an engine for one person (an avatar may be declared twice with the same image)",
    ]);

    // A b-roll line is nobody's line: a shot of two people has none.
    let with_broll = project(&LINES).replace(
        "voice = \"bob\" },\n]",
        "voice = \"bob\" },\n  { shot = \"city\", seconds = 2 },\n]",
    );
    let broll = Shot::new("infinitetalk-two", &with_broll);
    let city = "\n[shots.city]\nengine = \"clouds\"\nprompt = \"A city at night\"\n\
                seconds = 2\nfps = 16\nwidth = 64\nheight = 64\n\n\
                [engines.clouds]\nstage = \"shot\"\nprogram = \"/bin/true\"\nargs = [\"{out}\"]\n";
    let renderfile = broll.folder.read("Renderfile.toml") + city;
    broll.folder.write("Renderfile.toml", &renderfile);
    config_error(&broll).assert_lines(&[
        "× scene `talk` is a shot of two people and has a b-roll line",
        "╭─[projects/demo/project.toml:3:8]",
        "help: a two-person shot is one engine run over its speakers' lines; put the b-roll line in a scene of its own before or after",
    ]);

    let wrong = project(&LINES).replace("shot = \"two\"", "shot = \"three\"");
    config_error(&Shot::new("infinitetalk-two", &wrong)).assert_lines(&[
        "× `shot` must be \"two\"",
        "╭─[projects/demo/project.toml:3:8]",
    ]);
}

/// A scene of single clips and two groups of lines, each group one shot of two people
/// (`{ shot = "two", lines = [...] }`): lines 2–4 (host first) and 6–7 (guest first).
const MIXED: &str = r#"[[scene]]
name = "talk"
lines = [
  { text = "A word on my own first.", avatar = "solo" },
  { shot = "two", lines = [
    { text = "Hello, and welcome to the show.", voice = "ada" },
    { text = "Thank you for having me.", voice = "bob" },
    { text = "How was the trip?", voice = "ada" },
  ] },
  { text = "And that was our guest.", avatar = "solo" },
  { shot = "two", lines = [
    { text = "Long, but worth it.", voice = "bob" },
    { text = "Good to hear.", voice = "ada" },
  ] },
]
"#;

/// Whose each line of [`MIXED`] is: 0 solo, 1 host, 2 guest.
const MIXED_PEOPLE: [usize; 7] = [0, 1, 2, 1, 0, 2, 1];

/// Which run of the fake made the shot of `frames` frames.
fn run_of(shot: &Shot, frames: usize) -> serde_json::Value {
    (1..=shot.runs())
        .map(|n| shot.run(n))
        .find(|got| got["frames"] == frames)
        .unwrap_or_else(|| panic!("no run of {frames} frames"))
}

#[test]
fn groups_of_lines_are_shots_of_two_among_single_clips() {
    let shot = Shot::new("infinitetalk-two", MIXED);
    // One engine run per group.
    let made = shot.made_again(2);
    for name in [
        "track demo/talk:2-4 person 1",
        "track demo/talk:2-4 person 2",
        "two-shot demo/talk:2-4",
        "track demo/talk:6-7 person 1",
        "track demo/talk:6-7 person 2",
        "two-shot demo/talk:6-7",
        "clip demo/talk:1",
        "clip demo/talk:3",
        "clip demo/talk:5",
        "clip demo/talk:7",
        "scene demo/talk",
    ] {
        assert!(
            made.contains(&name.to_string()),
            "{name} not made: {made:?}"
        );
    }
    assert!(
        !made.iter().any(|m| m.starts_with("two-shot demo/talk ")),
        "no shot of the whole scene: {made:?}"
    );
    let folder = &shot.folder;
    let frames = line_frames(folder, 7);
    let first: usize = frames[1..4].iter().sum();
    let second: usize = frames[5..7].iter().sum();
    let (one, two) = (run_of(&shot, first), run_of(&shot, second));

    // Each group's tracks last that group only: its own lines in place from its start.
    for (group, lines, person1) in [("2-4", 1..4, 1), ("6-7", 5..7, 2)] {
        let length: usize = frames[lines.clone()].iter().sum();
        for p in 0..2 {
            let track = folder
                .object(&format!("track demo/talk:{group} person {}", p + 1))
                .join("track.wav");
            let (samples, _) = read_wav(&track);
            assert_eq!(samples.len(), length * 640, "group {group}");
            let mut at = 0;
            for i in lines.clone() {
                let level = rms(&samples[at * 640..(at + frames[i]) * 640]);
                // Person 1 is the avatar of the group's first line.
                let mine = (MIXED_PEOPLE[i] == person1) == (p == 0);
                match mine {
                    true => assert!(level > 0.01, "group {group} line {}: {level}", i + 1),
                    false => assert_eq!(level, 0.0, "group {group} line {}", i + 1),
                }
                at += frames[i];
            }
        }
    }
    // The second group starts with the guest: the guest is its person 1, on the left.
    // The host's picture is the solo avatar's: one face track, named by the first line.
    let host = face_box(folder, "solo");
    let guest = face_box(folder, "guest");
    let boxes = |got: &serde_json::Value| {
        let bbox = &got["job"]["bbox"];
        [numbers(&bbox["person1"]), numbers(&bbox["person2"])]
    };
    // Both 512 px high: the host at scale 1 on the left, the guest at 0.8 on the right.
    assert_eq!(
        boxes(&one),
        [placed_yx(host, 1.0, 0.0), placed_yx(guest, 0.8, 512.0)]
    );
    // The second group's person 1, the guest, is on the left.
    assert_eq!(
        boxes(&two),
        [placed_yx(guest, 0.8, 0.0), placed_yx(host, 1.0, 512.0)]
    );

    // The scene: every line's frames in order (no pause), a caption per line at its start.
    let total: usize = frames.iter().sum();
    assert_eq!(
        video_frames(&folder.file("out/demo/talk.mp4")),
        total as u64
    );
    let srt = folder.read("out/demo/talk.srt");
    let mut start = 0;
    for (i, f) in frames.iter().enumerate() {
        let ms = start * 40;
        let cue = format!(
            "{}\n00:00:{:02},{:03} -->",
            i + 1,
            ms / 1000 % 60,
            ms % 1000
        );
        assert!(srt.contains(&cue), "no cue {cue:?} in\n{srt}");
        start += f;
    }
    assert!(!srt.contains("\n8\n"), "one cue per line:\n{srt}");

    let engines = shot.root.path().join("engines.toml");
    let env = [("RENDER_ENGINES", engines.to_str().unwrap())];

    // Editing a line between the groups makes that line again, nothing of either group.
    folder.edit(
        "projects/demo/project.toml",
        "And that was our guest.",
        "And that, everyone, was our guest.",
    );
    assert_eq!(
        shot.made_again(2),
        [
            "captions demo/talk",
            "clip demo/talk:5",
            "scene demo/talk",
            "speech demo/talk:5",
        ]
    );

    // Editing a line of the second group makes that group again, not the first.
    folder.edit(
        "projects/demo/project.toml",
        "Good to hear.",
        "Good to hear it.",
    );
    // `render plan` names each group's nodes by its lines.
    let plan = folder.render_with_env(&["plan"], &env, Duration::from_secs(60));
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    for name in [
        "two-shot demo/talk:6-7",
        "track demo/talk:6-7 person 1",
        "clip demo/talk:7",
    ] {
        assert!(plan.stdout.contains(name), "{name} not in\n{}", plan.stdout);
    }
    assert!(!plan.stdout.contains("demo/talk:2-4"), "{}", plan.stdout);
    assert_eq!(
        shot.made_again(3),
        [
            "captions demo/talk",
            "clip demo/talk:6",
            "clip demo/talk:7",
            "scene demo/talk",
            "speech demo/talk:7",
            "track demo/talk:6-7 person 1",
            "track demo/talk:6-7 person 2",
            "two-shot demo/talk:6-7",
        ]
    );
}

/// A project `project` the build refuses with `lines` among its errors.
#[track_caller]
fn refused(project: &str, lines: &[&str]) {
    config_error(&Shot::new("infinitetalk-two", project)).assert_lines(lines);
}

#[test]
fn a_group_of_lines_is_checked_as_a_shot() {
    let one_person = MIXED.replace(
        "{ text = \"Thank you for having me.\", voice = \"bob\" }",
        "{ text = \"Thank you for having me.\", voice = \"ada\" }",
    );
    refused(&one_person, &[
        "× the group at line 2 of scene `talk` is a shot of two people but all its lines show avatar `host`",
        "╭─[projects/demo/project.toml:5:12]",
    ]);

    let no_shot = MIXED.replacen("{ shot = \"two\", lines = [", "{ lines = [", 1);
    refused(&no_shot, &[
        "× line 2 of scene `talk` is a group of lines without `shot`",
        "╭─[projects/demo/project.toml:5:3]",
        "help: a group of lines is one shot of two people: `{ shot = \"two\", lines = [...] }`; otherwise write its lines one by one in the scene's `lines`",
    ]);

    let whole = MIXED.replace("name = \"talk\"\n", "name = \"talk\"\nshot = \"two\"\n");
    refused(
        &whole,
        &[
            "× scene `talk` is one shot of two people and has a group of lines with its own `shot`",
            "╭─[projects/demo/project.toml:6:12]",
        ],
    );

    let nested = MIXED.replace(
        "{ text = \"How was the trip?\", voice = \"ada\" },",
        "{ shot = \"two\", lines = [\"How was the trip?\"] },",
    );
    refused(
        &nested,
        &["× line 3 of the group at line 2 of scene `talk` is a group of lines inside a group"],
    );

    let stray = MIXED.replace(
        "{ text = \"And that was our guest.\", avatar = \"solo\" }",
        "{ text = \"And that was our guest.\", voice = \"bob\" }",
    );
    refused(&stray, &[
        "× scene `talk` shows avatar `guest`, whose lip-sync engine `infinitetalk-two` makes shots of two people",
        "╭─[projects/demo/project.toml:2:8]",
    ]);

    let unknown = MIXED.replacen(
        "{ shot = \"two\", lines",
        "{ shot = \"two\", pause = 1, lines",
        1,
    );
    config_error(&Shot::new("infinitetalk-two", &unknown))
        .assert_lines(&["× unknown key `pause` in line 2 of scene `talk`"]);

    let three = MIXED.replace(
        "shot = \"two\", lines = [\n    { text = \"Long",
        "shot = \"three\", lines = [\n    { text = \"Long",
    );
    refused(
        &three,
        &[
            "× `shot` must be \"two\"",
            "╭─[projects/demo/project.toml:11:12]",
        ],
    );
}

/// The studio picture of both (640×320, under the size at which a face track works a
/// copy): the astronaut at 280 px on the left, and mirrored at 300 px on the right.
fn studio(folder: &Folder, rel: &str, faces: &[(u32, u32, u32, bool)]) {
    let portrait = repo().join("avatars/astronaut.png");
    let mut graph = vec!["color=c=gray:s=640x320[p0]".to_string()];
    let n = faces.len();
    let splits: String = (0..n).map(|i| format!("[s{i}]")).collect();
    graph.push(format!("[0]split={n}{splits}"));
    for (i, (side, x, y, mirrored)) in faces.iter().enumerate() {
        let flip = if *mirrored { ",hflip" } else { "" };
        graph.push(format!("[s{i}]scale={side}:{side}{flip}[f{i}]"));
        graph.push(format!("[p{i}][f{i}]overlay={x}:{y}[p{}]", i + 1));
    }
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-i"])
        .arg(&portrait)
        .args(["-filter_complex", &graph.join(";"), "-map"])
        .arg(format!("[p{n}]"))
        .args(["-frames:v", "1"])
        .arg(folder.file(rel))
        .status()
        .unwrap();
    assert!(status.success());
}

/// Host on the left and guest on the right of `avatars/studio.png`.
const STUDIO: [(u32, u32, u32, bool); 2] = [(280, 20, 20, false), (300, 330, 10, true)];

/// Both avatars name `avatars/studio.png`, host with `face = host`, guest with
/// `face = guest` (`None`: no `face`).
fn in_the_studio(shot: &Shot, host: Option<&str>, guest: Option<&str>) {
    let face = |f: Option<&str>| f.map_or(String::new(), |f| format!("face = {f:?}\n"));
    for (name, f) in [("host", host), ("guest", guest)] {
        shot.folder.edit(
            "Renderfile.toml",
            &format!("image = \"avatars/{name}.png\"\n"),
            &format!("image = \"avatars/studio.png\"\n{}", face(f)),
        );
    }
}

/// An image's pixels, upright RGB.
fn pixels(path: &Path) -> (u32, u32, Vec<u8>) {
    let image = image::open(path).unwrap().to_rgb8();
    (image.width(), image.height(), image.into_raw())
}

#[test]
fn one_picture_of_both_is_the_shot_as_it_is_each_face_from_its_track() {
    let shot = Shot::new("infinitetalk-two", &project(&LINES));
    let folder = &shot.folder;
    studio(folder, "avatars/studio.png", &STUDIO);
    in_the_studio(&shot, Some("left"), Some("right"));
    let made = shot.made_again(1);
    for name in ["face-track host", "face-track guest", "two-shot demo/talk"] {
        assert!(made.contains(&name.to_string()), "{name}: {made:?}");
    }
    let got = shot.run(1);

    // The picture is the studio's, as it is: no side by side.
    assert_eq!(got["size"], serde_json::json!([640, 320]));
    assert_eq!(
        pixels(&shot.got().join("1.png")),
        pixels(&folder.file("avatars/studio.png"))
    );
    let kept = folder.object("two-shot demo/talk").join("picture.png");
    assert_eq!(
        std::fs::read(kept).unwrap(),
        std::fs::read(shot.got().join("1.png")).unwrap()
    );

    // Each person's box is their own face track's, in the picture's pixels; the host's
    // face is the one pasted on the left, the guest's the one on the right.
    let (host, guest) = (face_box(folder, "host"), face_box(folder, "guest"));
    let bbox = &got["job"]["bbox"];
    let (one, two) = (numbers(&bbox["person1"]), numbers(&bbox["person2"]));
    assert_eq!(one, placed_yx(host, 1.0, 0.0));
    assert_eq!(two, placed_yx(guest, 1.0, 0.0));
    // [y0, x0, y1, x1]: inside the left paste (x 20..300) and the right one (x 330..630).
    assert!(one[1] >= 20 && one[3] <= 300, "host {one:?}");
    assert!(two[1] >= 330 && two[3] <= 630, "guest {two:?}");

    // Swapping which voice says line 3 swaps the tracks, not the faces.
    folder.edit(
        "projects/demo/project.toml",
        "text = \"How was the trip?\", voice = \"ada\"",
        "text = \"How was the trip?\", voice = \"bob\"",
    );
    let made = shot.made_again(2);
    assert!(
        !made.iter().any(|m| m.starts_with("face-track")),
        "{made:?}"
    );
    let second = shot.run(2);
    assert_eq!(second["job"]["bbox"], got["job"]["bbox"], "the faces stay");
    let frames = line_frames(folder, 4);
    let from = (frames[0] + frames[1]) * 640;
    let to = from + frames[2] * 640;
    let (a, _) = read_wav(&shot.got().join("2-person1.wav"));
    let (b, _) = read_wav(&shot.got().join("2-person2.wav"));
    assert_eq!(rms(&a[from..to]), 0.0, "line 3 left the host's track");
    assert!(rms(&b[from..to]) > 0.01, "line 3 is in the guest's track");

    // Swapping `face` between the avatars swaps their boxes and makes the shot again; each
    // face's track is the one made before under the other avatar's name.
    let renderfile = (folder.read("Renderfile.toml"))
        .replace("face = \"left\"", "face = \"?\"")
        .replace("face = \"right\"", "face = \"left\"")
        .replace("face = \"?\"", "face = \"right\"");
    folder.write("Renderfile.toml", &renderfile);
    assert_eq!(
        shot.made_again(3),
        [
            "clip demo/talk:1",
            "clip demo/talk:2",
            "clip demo/talk:3",
            "clip demo/talk:4",
            "scene demo/talk",
            "two-shot demo/talk",
        ]
    );
    let swapped = shot.run(3);
    let bbox = &swapped["job"]["bbox"];
    assert_eq!(
        numbers(&bbox["person1"]),
        two,
        "the host is now on the right"
    );
    assert_eq!(
        numbers(&bbox["person2"]),
        one,
        "the guest is now on the left"
    );
    assert_eq!(swapped["size"], got["size"]);

    // Editing the picture makes both faces' tracks and the shot again.
    let moved = [(280, 40, 30, false), (300, 330, 10, true)];
    studio(folder, "avatars/studio.png", &moved);
    let made = shot.made_again(4);
    for name in ["face-track host", "face-track guest", "two-shot demo/talk"] {
        assert!(made.contains(&name.to_string()), "{name}: {made:?}");
    }
    let edited = numbers(&shot.run(4)["job"]["bbox"]["person2"]);
    assert!(
        edited[1] > one[1],
        "the guest's face, on the left, moved right: {edited:?}"
    );
}

/// `render build` after `edit` of a folder whose shot is in `avatars/studio.png`: refused
/// with `lines` among its errors.
#[track_caller]
fn studio_refused(edit: impl FnOnce(&Shot), lines: &[&str]) {
    let shot = Shot::new("infinitetalk-two", &project(&LINES));
    studio(&shot.folder, "avatars/studio.png", &STUDIO);
    edit(&shot);
    config_error(&shot).assert_lines(lines);
}

#[test]
fn a_picture_of_both_needs_each_face_named_once_and_two_faces() {
    studio_refused(|shot| in_the_studio(shot, None, None), &[
        "× avatars `host` and `guest` of scene `talk` show the same picture `avatars/studio.png`, and neither says which face is theirs",
        "╭─[projects/demo/project.toml:3:8]",
        "help: in a picture of both, give each avatar their face: `face = \"left\"` in [avatars.host] and `face = \"right\"` in [avatars.guest] (or the other way round)",
    ]);
    studio_refused(|shot| in_the_studio(shot, Some("left"), Some("left")), &[
        "× avatars `host` and `guest` of scene `talk` are both the left face of `avatars/studio.png`",
        "╭─[projects/demo/project.toml:3:8]",
        "help: give one of them `face = \"left\"` and the other `face = \"right\"`: the left face is one person",
    ]);
    studio_refused(|shot| in_the_studio(shot, None, Some("right")), &[
        "× avatar `guest` of scene `talk` is the right face of `avatars/studio.png`, and avatar `host` shows that picture without `face`",
        "╭─[projects/demo/project.toml:3:8]",
        "help: give avatar `host` `face = \"left\"`",
    ]);
    let host_only = |shot: &Shot| {
        shot.folder.edit(
            "Renderfile.toml",
            "image = \"avatars/host.png\"\n",
            "image = \"avatars/studio.png\"\nface = \"left\"\n",
        )
    };
    studio_refused(host_only, &[
        "× avatar `host` of scene `talk` is the left face of `avatars/studio.png`, and avatar `guest` shows another picture, `avatars/guest.png`",
        "╭─[projects/demo/project.toml:3:8]",
        "help: a picture of both people is the shot's picture as it is: give avatar `guest` the same `image` and `face = \"right\"`, or leave `face` out of both to put their two pictures side by side",
    ]);

    // The picture must show exactly two faces: one, or three, is told at its `image`.
    let portrait = |shot: &Shot| {
        in_the_studio(shot, Some("left"), Some("right"));
        let renderfile = shot.folder.read("Renderfile.toml");
        let renderfile = renderfile.replace("avatars/studio.png", "avatars/host.png");
        shot.folder.write("Renderfile.toml", &renderfile);
    };
    studio_refused(portrait, &[
        "× avatar image `avatars/host.png` shows one face, and `face` picks one of exactly two",
        "╭─[Renderfile.toml:27:9]",
        "help: `face = \"left\"` or `\"right\"` is for a picture of two people: use one where both faces are front-facing and at least 40 pixels tall, and no other face shows (or leave `face` out for a portrait of one person)",
    ]);
    let three = |shot: &Shot| {
        let faces = [
            (210, 5, 55, false),
            (210, 215, 55, true),
            (210, 425, 55, false),
        ];
        studio(&shot.folder, "avatars/studio.png", &faces);
        in_the_studio(shot, Some("left"), Some("right"));
    };
    studio_refused(three, &[
        "× avatar image `avatars/studio.png` shows 3 faces, and `face` picks one of exactly two",
        "╭─[Renderfile.toml:27:9]",
    ]);

    // `face` is one word of two.
    studio_refused(|shot| in_the_studio(shot, Some("middle"), Some("right")), &[
        "× avatar `host`: `face` must be \"left\" or \"right\"",
        "╭─[Renderfile.toml:23:8]",
        "help: `face` says which of the two people its picture shows is the avatar, counted from the left: `face = \"left\"` or `face = \"right\"`",
    ]);
}

#[test]
fn face_is_for_a_picture_file_followed_by_render() {
    // A video shows one person as far as `face` goes (and a shot takes pictures only).
    let video = |shot: &Shot| {
        shot.folder.edit(
            "Renderfile.toml",
            "image = \"avatars/host.png\"\n",
            "video = \"avatars/host.mp4\"\nface = \"left\"\n",
        )
    };
    studio_refused(video, &[
        "× avatar `host` has `face`, and its picture is a video",
        "╭─[Renderfile.toml:23:8]",
        "help: `face` picks one of the two people of a picture file, `image = \"avatars/studio.png\"`; video avatars and made ones show one person (and a shot of two people takes picture files only): leave `face` out",
    ]);
    // An engine that finds the face on its own would not follow `face`.
    let own = |shot: &Shot| {
        shot.folder.edit(
            "Renderfile.toml",
            "image = \"avatars/solo.png\"\n",
            "image = \"avatars/studio.png\"\nface = \"left\"\nlipsync = \"mouth\"\n",
        );
        let renderfile = shot.folder.read("Renderfile.toml")
            + "\n[engines.mouth]\nstage = \"lipsync\"\nprogram = \"/bin/true\"\nargs = [\"{face}\", \"{audio}\", \"{out}\"]\n";
        shot.folder.write("Renderfile.toml", &renderfile);
    };
    studio_refused(own, &[
        "× avatar `solo` has `face`, and its lip-sync engine `mouth` finds a face in the picture on its own",
        "╭─[Renderfile.toml:31:8]",
        "help: render's face track follows the face `face` names: use it with an engine for two people in a shot, or with the built-in lip-sync or a model for lines of one; for this engine, crop the picture to the avatar's face",
    ]);
}

/// `face` on a solo line's avatar: its face track follows that face of the picture, so the
/// built-in lip-sync moves that person's mouth, and face framing crops to them.
#[test]
fn face_picks_whose_mouth_a_solo_line_moves() {
    let project = "[[scene]]\nname = \"solo\"\nframing = \"face\"\nlines = [\n  \
                   { text = \"On the left.\", avatar = \"left\" },\n  \
                   { text = \"On the right.\", avatar = \"right\" },\n]\n";
    let shot = Shot::new("infinitetalk-two", project);
    let folder = &shot.folder;
    studio(folder, "avatars/studio.png", &STUDIO);
    let renderfile = folder.read("Renderfile.toml")
        + "\n[avatars.left]\nimage = \"avatars/studio.png\"\nface = \"left\"\n\
           \n[avatars.right]\nimage = \"avatars/studio.png\"\nface = \"right\"\n";
    folder.write("Renderfile.toml", &renderfile);
    let made = shot.made_again(0);
    assert!(made.contains(&"scene demo/solo".to_string()), "{made:?}");
    let [x, _, w, _] = face_box(folder, "left");
    assert!(x >= 20.0 && x + w <= 300.0, "left: {x} {w}");
    let [x, _, w, _] = face_box(folder, "right");
    assert!(x >= 330.0 && x + w <= 630.0, "right: {x} {w}");
}
