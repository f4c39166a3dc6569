//! The command engine, driven through the real binary with fake programs: a cloned voice's
//! conditioning made once and reused, long lines split and rejoined, every way an external
//! program can fail (each with its message and exit code), no process left behind, and
//! `gpu = true` engines sharing the GPU lane with TorchScript models without overlap.

mod common;

use common::{add_fixture_models, pid_in, running, tone_wav, write_program, Folder};
use std::time::{Duration, Instant};

/// A small content folder: one avatar, an espeak voice `bob`, and `engines` + `voices`
/// appended to its Renderfile.
fn folder(engines: &str, project: &str) -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [160, 90]\npause = 0.4\nvoice = \"ada\"\navatar = \"astronaut\"\n\n\
             [voices.bob]\nengine = \"espeak\"\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n\n{engines}"
        ),
    );
    folder.write("projects/demo/project.toml", project);
    folder
}

/// A fake speech program (sh) and the engine `fake` that runs it with `--out {out}`.
fn fake_speech(script: &str, timeout: u32) -> Folder {
    let folder = folder(
        &format!(
            "[engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\nargs = [\"{{engine_dir}}\", \"{{out}}\"]\ntimeout = {timeout}\n\n\
             [voices.ada]\nengine = \"fake\"\n"
        ),
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello there.\"]\n",
    );
    std::fs::write(folder.file("tone.wav"), tone_wav(16_000, 0.8)).unwrap();
    write_program(&folder.file("fake"), &format!("#!/bin/sh\n{script}"));
    folder
}

/// Whether process `pid` is running (a zombie or no process counts as gone).
/// Waits up to `limit` for `pid` to be gone.
fn gone_within(pid: i32, limit: Duration) -> bool {
    let start = Instant::now();
    while running(pid) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn build(folder: &Folder) -> common::Run {
    folder.render_within(&["build"], Duration::from_secs(120))
}

/// A fake XTTS (coqui-tts's `tts` CLI): with `--speaker_wav` it clones the voice into
/// `--voice_dir`/<speaker>.pth; without, it loads that file. It refuses text over 250
/// characters (XTTS's limit is 400 tokens) and logs each run to `runs.log`.
const FAKE_XTTS: &str = r#"#!/usr/bin/env python3
import math, os, sys, wave
args = sys.argv[1:]
def value(flag, many=False):
    i = args.index(flag)
    if not many:
        return args[i + 1]
    out = []
    for a in args[i + 1:]:
        if a.startswith("--"):
            break
        out.append(a)
    return out
text, out, voice_dir, speaker = value("--text"), value("--out_path"), value("--voice_dir"), value("--speaker_idx")
assert value("--language_idx") == "en", args
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "runs.log"), "a") as log:
    log.write(("clone " if "--speaker_wav" in args else "speak ") + str(len(text)) + "\n")
if len(text) > 250:
    sys.exit("text too long for XTTS: %d characters" % len(text))
latents = os.path.join(voice_dir, speaker + ".pth")
if "--speaker_wav" in args:
    data = b"".join(open(p, "rb").read() for p in value("--speaker_wav", many=True))
    open(latents, "wb").write(b"latents:%d:%d" % (len(data), sum(data) % 65521))
else:
    assert open(latents, "rb").read().startswith(b"latents:"), "no conditioning"
rate, words = 16000, len(text.split())
n_voice = int(rate * 0.02 * words)
silence = [0] * int(rate * 0.3)
samples = silence + [int(8000 * math.sin(2 * math.pi * 220 * i / rate)) for i in range(n_voice)] + silence
w = wave.open(out, "wb")
w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate)
w.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
w.close()
"#;

const XTTS_ENGINES: &str = r#"[engines.xtts-voice]
stage = "voice"
program = "./fake-xtts"
args = ["--text", "Voice check.", "--speaker_wav", "{samples}", "--speaker_idx", "{voice}", "--voice_dir", "{out}", "--language_idx", "{language}", "--out_path", "{workdir}/probe.wav"]

[engines.xtts]
stage = "speech"
program = "./fake-xtts"
args = ["--text", "{text}", "--speaker_idx", "{voice}", "--voice_dir", "{conditioning}", "--language_idx", "{language}", "--out_path", "{out}"]
conditioning = "xtts-voice"
max_chars = 250

[voices.ada]
engine = "xtts"
language = "en"
samples = ["voices/ada/1.wav", "voices/ada/2.wav"]
"#;

fn cloned_voice(project: &str) -> Folder {
    let folder = folder(XTTS_ENGINES, project);
    write_program(&folder.file("fake-xtts"), FAKE_XTTS);
    std::fs::create_dir_all(folder.file("voices/ada")).unwrap();
    std::fs::write(folder.file("voices/ada/1.wav"), tone_wav(16_000, 6.0)).unwrap();
    std::fs::write(folder.file("voices/ada/2.wav"), tone_wav(16_000, 7.0)).unwrap();
    folder
}

fn runs_log(folder: &Folder) -> Vec<String> {
    let log = std::fs::read_to_string(folder.file("runs.log")).unwrap_or_default();
    std::fs::remove_file(folder.file("runs.log")).ok();
    log.lines().map(str::to_string).collect()
}

#[test]
fn a_cloned_voice_is_conditioned_once_and_only_its_work_is_redone() {
    let lines = "\"One.\", \"Two.\", \"Three.\", \"Four.\", \"Five.\", { text = \"Bob here.\", voice = \"bob\" }";
    let project = format!(
        "[[scene]]\nname = \"talk\"\nlines = [{lines}]\n\n[[scene]]\nname = \"other\"\nvoice = \"bob\"\nlines = [\"Only Bob.\"]\n"
    );
    let folder = cloned_voice(&project);
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let made = run.made();
    assert_eq!(
        made.iter()
            .filter(|n| n.starts_with("voice "))
            .collect::<Vec<_>>(),
        ["voice ada"]
    );
    let runs = runs_log(&folder);
    assert_eq!(runs.iter().filter(|r| r.starts_with("clone")).count(), 1);
    assert_eq!(runs.iter().filter(|r| r.starts_with("speak")).count(), 5);
    // The conditioning object holds what XTTS wrote into --voice_dir, and its log.
    let conditioning = walkdir::WalkDir::new(folder.file("cache/objects"))
        .into_iter()
        .flatten()
        .filter(|e| e.path().ends_with("voice/ada.pth"))
        .count();
    assert_eq!(conditioning, 1);
    // Every object, the conditioning's folder of files included, matches its record.
    assert_eq!(folder.verify_cache(), made.len());

    // A new line of the voice: its speech, its clip, its scene and the scene's captions.
    // No new conditioning.
    folder.edit(
        "projects/demo/project.toml",
        "\"Five.\",",
        "\"Five.\", \"Six.\",",
    );
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.made(),
        [
            "captions demo/talk",
            "clip demo/talk:6",
            "scene demo/talk",
            "speech demo/talk:6"
        ]
    );
    assert_eq!(runs_log(&folder), ["speak 4"]);

    // One byte of one sample: the conditioning, that voice's lines, their scene; not Bob's.
    let mut sample = std::fs::read(folder.file("voices/ada/2.wav")).unwrap();
    let last = sample.len() - 1;
    sample[last] ^= 1;
    std::fs::write(folder.file("voices/ada/2.wav"), sample).unwrap();
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut expected: Vec<String> = vec![
        "captions demo/talk".into(),
        "scene demo/talk".into(),
        "voice ada".into(),
    ];
    for line in 1..=6 {
        expected.push(format!("clip demo/talk:{line}"));
        expected.push(format!("speech demo/talk:{line}"));
    }
    expected.sort();
    assert_eq!(run.made(), expected);
}

#[test]
fn a_line_too_long_for_the_model_is_split_and_rejoined_without_long_gaps() {
    let words: Vec<String> = (0..1000)
        .map(|i| {
            if i % 12 == 11 {
                format!("word{i}.")
            } else {
                format!("word{i}")
            }
        })
        .collect();
    let project = format!(
        "[[scene]]\nname = \"long\"\nlines = [\"{}\"]\n",
        words.join(" ")
    );
    let folder = cloned_voice(&project);
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let runs = runs_log(&folder);
    let pieces: Vec<usize> = (runs.iter())
        .filter_map(|r| r.strip_prefix("speak ")?.parse().ok())
        .collect();
    assert!(pieces.len() > 20, "{runs:?}");
    assert!(pieces.iter().all(|&n| n <= 250), "{runs:?}");
    // The rejoined speech: every piece's voice, and no silence longer than the pause.
    let speech = walkdir::WalkDir::new(folder.file("cache/objects"))
        .into_iter()
        .flatten()
        .find(|e| e.path().ends_with("speech.wav"))
        .unwrap();
    let mut reader = hound::WavReader::open(speech.path()).unwrap();
    let rate = reader.spec().sample_rate as f64;
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let voiced = samples.iter().filter(|s| s.abs() > 100).count() as f64 / rate;
    assert!(voiced > 0.8 * 0.02 * 1000.0, "{voiced} s voiced");
    let mut longest = 0;
    let mut run_length = 0;
    for s in &samples {
        run_length = if s.abs() < 33 { run_length + 1 } else { 0 };
        longest = longest.max(run_length);
    }
    // Leading and trailing silence of the line itself are 0.3 s; joins keep 0.15 s a side.
    assert!(
        longest as f64 / rate <= 0.4,
        "a gap of {} s",
        longest as f64 / rate
    );
}

#[test]
fn a_failing_program_shows_the_end_of_its_log() {
    let folder = fake_speech(
        "echo loading weights >&2\necho 'RuntimeError: CUDA out of memory' >&2\nexit 3\n",
        30,
    );
    let run = build(&folder);
    assert_eq!(run.code, 1);
    let program = folder.path().canonicalize().unwrap().join("fake");
    let expected = format!(
        "engine `fake` ({}) failed while making speech demo/intro:1: exit status: 3\n",
        program.display()
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert!(run.stderr.contains("│ loading weights\n"), "{}", run.stderr);
    assert!(
        run.stderr.contains("│ RuntimeError: CUDA out of memory\n"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("failed 1"), "{}", run.stderr);
}

#[test]
fn exit_zero_without_an_output_is_a_failure() {
    let folder = fake_speech("echo 'Saved to results/' >&2\nexit 0\n", 30);
    let run = build(&folder);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "speech demo/intro:1 made an invalid output: engine `fake` exited 0 but wrote no `out.wav` in its working folder; the end of its log:\n"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Saved to results/"), "{}", run.stderr);
    assert_eq!(
        common::files_under(&folder.file("out"), folder.path()),
        ["out/report.html"]
    );
}

#[test]
fn a_silent_or_corrupt_wav_is_a_failure() {
    // Silence: a valid WAV of zeros, as a program that failed quietly might write.
    let silent = "python3 -c \"import wave,sys; w=wave.open(sys.argv[1],'wb'); w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(bytes(32000)); w.close()\" \"$2\"\n";
    let folder = fake_speech(silent, 30);
    let run = build(&folder);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "speech demo/intro:1 made an invalid output: engine `fake` wrote a silent WAV (1.00 s of silence)"
        ),
        "{}",
        run.stderr
    );

    let folder = fake_speech("head -c 300 \"$1/tone.wav\" > \"$2\"\n", 30);
    let run = build(&folder);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "speech demo/intro:1 made an invalid output: engine `fake` wrote a WAV that cannot be read:"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(folder.verify_cache(), 1, "only the face track is cached");
}

#[test]
fn a_program_past_its_deadline_is_killed_with_its_process_group() {
    let folder = fake_speech(
        "sleep 600 &\necho $! > \"$1/child.pid\"\necho $$ > \"$1/program.pid\"\necho started >&2\nwait\n",
        1,
    );
    let start = Instant::now();
    let run = build(&folder);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("failed while making speech demo/intro:1: stopped after 1 s, its deadline"),
        "{}",
        run.stderr
    );
    for pid in [pid_in(&folder, "program.pid"), pid_in(&folder, "child.pid")] {
        assert!(
            gone_within(pid, Duration::from_secs(2)),
            "{pid} outlived its deadline"
        );
    }
}

#[test]
fn a_program_waiting_on_stdin_does_not_hang() {
    let folder = fake_speech("cat > \"$1/stdin.txt\"\ncp \"$1/tone.wav\" \"$2\"\n", 60);
    let start = Instant::now();
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(folder.read("stdin.txt"), "");
}

#[test]
fn a_program_that_leaves_a_hanging_child_finishes_and_the_child_is_killed() {
    // The child keeps the program's stdout and stderr open and never exits.
    let folder = fake_speech(
        "(sleep 600 & echo $! > \"$1/child.pid\")\ncp \"$1/tone.wav\" \"$2\"\nexit 0\n",
        60,
    );
    let start = Instant::now();
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(gone_within(
        pid_in(&folder, "child.pid"),
        Duration::from_secs(2)
    ));
    assert_eq!(run.made().len(), 5, "{:?}", run.made());
}

#[test]
fn ctrl_c_during_a_job_leaves_no_process() {
    let folder = fake_speech(
        "sleep 600 &\necho $! > \"$1/child.pid\"\necho $$ > \"$1/program.pid\"\nwait\n",
        600,
    );
    let child = folder
        .command(&["build"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !folder.file("child.pid").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the program never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for pid in [pid_in(&folder, "program.pid"), pid_in(&folder, "child.pid")] {
        assert!(
            gone_within(pid, Duration::from_secs(2)),
            "{pid} outlived Ctrl-C"
        );
    }
    assert_eq!(
        common::files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new()
    );
}

#[test]
fn unknown_placeholders_and_missing_programs_are_config_errors() {
    let folder = folder(
        "[engines.fake]\nstage = \"speech\"\nprogram = \"/nonexistent/tts\"\nargs = [\"--text\", \"{txt}\"]\n\n[voices.ada]\nengine = \"fake\"\n",
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello.\"]\n",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("unknown placeholder `{txt}` in engine `fake`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Renderfile.toml:20:20"),
        "{}",
        run.stderr
    );
    folder.edit("Renderfile.toml", "{txt}", "{text}");
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "engine `fake`: its program `/nonexistent/tts` is not an executable file on this machine"
        ),
        "{}",
        run.stderr
    );

    // This machine's engines file says where the program lives, over the folder's table.
    std::fs::create_dir_all(folder.file("bin")).unwrap();
    write_program(&folder.file("bin/tts"), "#!/bin/sh\ncp \"$1\" \"$2\"\n");
    std::fs::write(folder.file("tone.wav"), tone_wav(16_000, 0.5)).unwrap();
    folder.write(
        ".config/render/engines.toml",
        &format!(
            "[engines.fake]\nstage = \"speech\"\nprogram = \"{}\"\nargs = [\"{}\", \"{{out}}\"]\n",
            folder.file("bin/tts").display(),
            folder.file("tone.wav").display()
        ),
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// A `gpu = true` lip-sync engine (a fake that writes a clip as long as the speech).
const FAKE_TALKER: &str = r#"#!/usr/bin/env python3
import subprocess, sys, wave
audio, image, out, fps = sys.argv[1:5]
w = wave.open(audio)
seconds = w.getnframes() / w.getframerate()
subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", image, "-t", "%.3f" % seconds,
                "-r", fps, "-vf", "scale=64:64", "-pix_fmt", "yuv420p", out], check=True)
"#;

#[test]
fn gpu_programs_and_models_share_the_lane_without_overlap() {
    let folder = Folder::small_demo();
    add_fixture_models(&folder);
    write_program(&folder.file("talker"), FAKE_TALKER);
    std::fs::copy(
        folder.file("avatars/astronaut.png"),
        folder.file("avatars/twin.png"),
    )
    .unwrap();
    let renderfile = folder.read("Renderfile.toml").replace("lipsync = \"builtin\"", "lipsync = \"tiny-lipsync\"")
        + "\n[engines.talker]\nstage = \"lipsync\"\nprogram = \"./talker\"\nargs = [\"{audio}\", \"{image}\", \"{out}\", \"{fps}\"]\ngpu = true\n\
           \n[avatars.twin]\nimage = \"avatars/twin.png\"\nlipsync = \"talker\"\n";
    folder.write("Renderfile.toml", &renderfile);
    let project = folder.read("projects/demo/project.toml")
        + "\n[[scene]]\nname = \"twin\"\navatar = \"twin\"\nlines = [\"One from the twin.\", \"And another.\"]\n";
    folder.write("projects/demo/project.toml", &project);
    let run = folder.render(&["build", "--jobs", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.file("report.json")).unwrap()).unwrap();
    let events: Vec<(String, String)> = (json["gpu_lane"].as_array().unwrap().iter())
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["model"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let (mut loaded, mut busy, mut talker_jobs, mut model_jobs) = (false, false, 0, 0);
    for (event, group) in &events {
        match (event.as_str(), group.as_str()) {
            ("load", _) => loaded = true,
            ("unload", _) => loaded = false,
            ("start", group) => {
                assert!(!busy, "two lane jobs overlap: {events:?}");
                busy = true;
                if group == "facemesh" {
                    continue;
                }
                if group == "talker" {
                    assert!(
                        !loaded,
                        "a program ran while a model was loaded: {events:?}"
                    );
                    talker_jobs += 1;
                } else {
                    assert!(loaded, "{events:?}");
                    model_jobs += 1;
                }
            }
            ("end", _) => busy = false,
            other => panic!("unknown lane event {other:?}"),
        }
    }
    assert_eq!((talker_jobs, model_jobs), (2, 9), "{events:?}");
}
