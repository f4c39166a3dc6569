//! The adapters in engines/: each test drives the real `render` binary on a one-scene content
//! folder whose Renderfile declares an adapter's engines exactly as engines/<name>/engine.toml
//! has them, read from the repository, with every /opt/... path moved under a temp dir. There
//! a fake program stands in for the model program: it checks the exact argv, working folder,
//! environment and input files it is given (exit 97 and a `FAKE` line on stderr otherwise) and
//! writes what the real program would, shaped like the real program's output (frame counts
//! included). A wrapper (engines/<name>/render-<name>.py) runs for real between render and the
//! fake. No model weights are involved: files named in `hash` are small stand-ins.

mod common;

use common::{probe, repo, tone_wav, write_program, Machine, Run};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The start of every fake program (Python 3, standard library only). `@NAME@`s are filled
/// in by [`Adapter::fake`].
const PRELUDE: &str = r#"#!@PYTHON@
# A fake model program written by tests/adapters.rs.
import json, math, os, shutil, struct, subprocess, sys, wave

PYTHON = "@PYTHON@"
OPT = "@OPT@"          # stands in for /opt
CONTENT = "@CONTENT@"  # the content folder
TONE = "@TONE@"        # a voice-like WAV, handed back as speech
CALLS = "@CALLS@"      # one line per run of a fake, for counting
ARGV = sys.argv[1:]
CWD = os.getcwd()
WORK = os.environ.get("TMPDIR", "")  # render sets TMPDIR to the job's working folder
GOT = {}


def fail(why):
    sys.stderr.write("FAKE %s: %s\n  argv: %r\n  cwd: %s\n" % (sys.argv[0], why, ARGV, CWD))
    sys.exit(97)


def called(what):
    with open(CALLS, "a") as f:
        f.write(what + "\n")


def same_path(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def wav_seconds(path):
    with wave.open(path, "rb") as w:
        return w.getnframes() / w.getframerate()


def frames_and_fps(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
         "stream=avg_frame_rate,nb_read_frames", "-of", "json", path],
        capture_output=True, text=True)
    streams = json.loads(out.stdout or "{}").get("streams") if out.returncode == 0 else None
    if not streams:
        return None
    num, den = streams[0]["avg_frame_rate"].split("/")
    return int(streams[0]["nb_read_frames"]), float(num) / float(den)


def matcher(name, check):
    check.__name__ = name
    return check


# Argument matchers: each returns None when the value is right, else what is wrong with it.
def wav(name):
    def check(value):
        try:
            if wav_seconds(value) <= 0:
                return "an empty WAV"
        except Exception as e:
            return "not a WAV file: %s" % e
        GOT[name] = value
    return matcher("<wav %s>" % name, check)


def png(name, size):
    def check(value):
        try:
            with open(value, "rb") as f:
                head = f.read(24)
        except OSError as e:
            return str(e)
        if head[:8] != b"\x89PNG\r\n\x1a\n":
            return "not a PNG"
        if struct.unpack(">II", head[16:24]) != size:
            return "a PNG of %dx%d, not %dx%d" % (struct.unpack(">II", head[16:24]) + size)
        GOT[name] = value
    return matcher("<png %s>" % name, check)


def video(name):
    def check(value):
        got = frames_and_fps(value)
        if got is None or got[0] == 0:
            return "not a video with frames"
        GOT[name] = value
    return matcher("<video %s>" % name, check)


def at(path):
    return matcher("<path %s>" % path, lambda value: None if same_path(value, path) else "not " + path)


def file_with_text(text):
    def check(value):
        with open(value, encoding="utf-8") as f:
            got = f.read()
        if got not in (text, text + "\n"):
            return "holds %r, not %r" % (got, text)
    return matcher("<file holding %r>" % text, check)


def same_bytes(path):
    def check(value):
        with open(value, "rb") as a, open(path, "rb") as b:
            if a.read() != b.read():
                return "not the bytes of " + path
    return matcher("<copy of %s>" % path, check)


def one_of(*values):
    return matcher("<one of %r>" % (values,), lambda v: None if v in values else "not one of %r" % (values,))


def seed(value):
    return None if value.isdigit() and int(value) < 2 ** 31 else "not a seed below 2^31"


def frames_at_25(audio):
    """The fewest whole frames at 25 fps that cover a WAV, as render counts them."""
    with wave.open(audio, "rb") as w:
        return (w.getnframes() * 25 + w.getframerate() - 1) // w.getframerate()


def in_inputs(path):
    """Whether `path` is a file render wrote into the job's inputs folder."""
    return same_path(os.path.dirname(os.path.dirname(path)), WORK + "/../inputs")


def expect_argv(*pattern):
    shown = [p if isinstance(p, str) else p.__name__ for p in pattern]
    if len(ARGV) != len(pattern):
        fail("expected %d arguments %r, got %d" % (len(pattern), shown, len(ARGV)))
    for i, (want, value) in enumerate(zip(pattern, ARGV)):
        why = want(value) if callable(want) else (None if want == value else "expected %r" % want)
        if why:
            fail("argument %d %r: %s" % (i + 1, value, why))


def expect_value(what, want, value):
    why = want(value)
    if why:
        fail("%s %r: %s" % (what, value, why))


def expect_cwd(path):
    if not same_path(CWD, path):
        fail("runs in %s, not in %s" % (CWD, path))


def expect_env(name, value):
    if os.environ.get(name) != value:
        fail("$%s is %r, not %r" % (name, os.environ.get(name), value))


def expect_lasts_as_long(video_name, audio_name):
    frames, fps = frames_and_fps(GOT[video_name])
    speech = wav_seconds(GOT[audio_name])
    if abs(frames / fps - speech) > 1.0 / fps + 1e-6:
        fail("the video has %d frames at %g fps; the speech lasts %.3f s" % (frames, fps, speech))


def write_speech(path):
    shutil.copyfile(TONE, path)


def write_clip(path, frames, fps, audio, audio_seconds=None):
    """An H.264 MP4 of `frames` gray frames with `audio` (cut at `audio_seconds`) muxed in."""
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=%g:d=%.6f" % (fps, frames / fps),
               "-i", audio, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    if audio_seconds is not None:
        command += ["-t", "%.6f" % audio_seconds]
    if subprocess.run(command + [path]).returncode != 0:
        fail("ffmpeg could not write " + path)


def run_the_wrapper():
    """render runs a wrapper with the model's python, this fake: run it with a real one."""
    os.execv(PYTHON, [PYTHON] + ARGV)


def write_video(path, frames, fps, size):
    """An H.264 MP4 of `frames` frames of a test pattern at `fps`, `size` = (w, h), no sound."""
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi",
               "-i", "testsrc2=s=%dx%d:r=%s" % (size[0], size[1], fps), "-frames:v", str(frames),
               "-c:v", "libx264", "-pix_fmt", "yuv420p", path]
    if subprocess.run(command).returncode != 0:
        fail("ffmpeg could not write " + path)


def video_frames(name, frames, fps):
    """A video of exactly `frames` frames at `fps`."""
    def check(value):
        got = frames_and_fps(value)
        if got is None or got[0] != frames or abs(got[1] - fps) > 1e-6:
            return "a video of %r (frames, fps), not (%d, %g)" % (got, frames, fps)
        GOT[name] = value
    return matcher("<video %s: %d frames at %g fps>" % (name, frames, fps), check)

"#;

/// A voice spoken by the built-in espeak engine, for the lip-sync adapters.
const ESPEAK_VOICE: &str = "[voices.ada]\nengine = \"espeak\"\nlanguage = \"en-us\"\n";

/// An avatar lip-synced by the built-in engine, for the speech adapters.
const BUILTIN_AVATAR: &str =
    "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"builtin\"\n";

/// A content folder declaring one adapter's engines, and the temp dir standing in for `/`.
struct Adapter(Machine);

impl std::ops::Deref for Adapter {
    type Target = Machine;
    fn deref(&self) -> &Machine {
        &self.0
    }
}

impl Adapter {
    /// `voice` and `avatar` are the `[voices.ada]` and `[avatars.host]` tables; the one scene,
    /// demo/hello, says `lines`.
    fn new(name: &str, voice: &str, avatar: &str, lines: &[&str]) -> Adapter {
        let adapter = Adapter(Machine::new());
        let dir = repo().join("engines").join(name);
        let engines = adapter.engines(&format!("engines/{name}/engine.toml"));

        // The wrapper, installed where engine.toml says; stand-ins for the hashed files.
        let wrapper = format!("render-{name}.py");
        if dir.join(&wrapper).exists() {
            let to = adapter.opt(&format!("{name}/{wrapper}"));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(dir.join(&wrapper), to).unwrap();
        }
        let table: toml::Table = engines.parse().unwrap();
        for engine in table["engines"].as_table().unwrap().values() {
            let hashed = engine.get("hash").and_then(|h| h.as_array());
            for file in hashed.map(|h| h.as_slice()).unwrap_or(&[]) {
                let file = Path::new(file.as_str().unwrap());
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                if !file.exists() {
                    std::fs::write(file, format!("stand-in for {}\n", file.display())).unwrap();
                }
            }
        }
        std::fs::write(adapter.root.path().join("tone.wav"), tone_wav(22050, 1.5)).unwrap();

        let folder = &adapter.folder;
        folder.write(
            "Renderfile.toml",
            &format!(
                "[render]\ndevice = \"cpu\"\n\n\
                 [defaults]\nfps = 25\nsize = [128, 72]\npause = 0.2\n\
                 background = \"#101820\"\nvoice = \"ada\"\navatar = \"host\"\n\n\
                 {voice}\n{avatar}\n{engines}"
            ),
        );
        let lines: Vec<String> = lines.iter().map(|l| format!("{l:?}")).collect();
        folder.write(
            "projects/demo/project.toml",
            &format!(
                "[[scene]]\nname = \"hello\"\nlines = [{}]\n",
                lines.join(", ")
            ),
        );
        std::fs::create_dir_all(folder.file("avatars")).unwrap();
        std::fs::copy(
            repo().join("avatars/astronaut.png"),
            folder.file("avatars/host.png"),
        )
        .unwrap();
        adapter
    }

    /// What stands in for `/opt` in this test.
    fn opt_root(&self) -> String {
        self.root.path().join("opt").to_str().unwrap().to_string()
    }

    /// Writes the fake program for `/opt/<rel>`: [`PRELUDE`] and then `body`.
    fn fake(&self, rel: &str, body: &str) {
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("a python3 for the fake programs");
        let path = |p: PathBuf| p.to_str().unwrap().to_string();
        let script = PRELUDE
            .replace("@PYTHON@", python)
            .replace("@OPT@", &self.opt_root())
            .replace("@CONTENT@", &path(self.folder.path().to_path_buf()))
            .replace("@TONE@", &path(self.root.path().join("tone.wav")))
            .replace("@CALLS@", &path(self.root.path().join("calls")))
            + body;
        let file = self.opt(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        write_program(&file, &script);
    }

    /// `render build` with no per-machine engines file in the way.
    fn build(&self) -> Run {
        self.render(&["build"])
    }

    /// The fakes' runs, in order (what each passed to `called`).
    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.root.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The build succeeded, made at least `made`, and published the scene as H.264 + AAC.
fn assert_built(adapter: &Adapter, run: &Run, made: &[&str]) {
    assert_eq!(run.code, 0, "build failed:\n{}", run.stderr);
    for name in made {
        assert!(
            run.made().contains(&name.to_string()),
            "{name} was not made: {:?}\n{}",
            run.made(),
            run.stderr
        );
    }
    let (video, audio, video_s, audio_s) = probe(&adapter.folder.file("out/demo/hello.mp4"));
    assert_eq!((video.as_str(), audio.as_str()), ("h264", "aac"));
    assert!(
        (video_s - audio_s).abs() <= 0.040,
        "{video_s} s / {audio_s} s"
    );
}

const ONE_LINE: &[&str] = &["Hello there."];
const LIPSYNC_MADE: &[&str] = &[
    "speech demo/hello:1",
    "clip demo/hello:1",
    "scene demo/hello",
];

#[test]
fn piper_reads_the_line_from_a_file_and_writes_the_wav() {
    let adapter = Adapter::new(
        "piper",
        "[voices.ada]\nengine = \"piper\"\nlanguage = \"en\"\n",
        BUILTIN_AVATAR,
        ONE_LINE,
    );
    adapter.fake(
        "piper/venv/bin/python",
        r#"
called("piper")
expect_cwd(WORK)
expect_argv(
    "-m", "piper",
    "--model", OPT + "/piper/voices/en_US-joe-medium.onnx",
    "--input-file", file_with_text("Hello there."),
    "--output-file", at(CWD + "/out.wav"),
)
write_speech(ARGV[-1])
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["piper"]);
}

#[test]
fn xtts_clones_each_voice_once_and_speaks_every_line_with_it() {
    let adapter = Adapter::new(
        "xtts",
        "[voices.ada]\nengine = \"xtts\"\nlanguage = \"en\"\n\
         samples = [\"voices/ada/1.wav\", \"voices/ada/2.wav\"]\n",
        BUILTIN_AVATAR,
        &["Hello there.", "-5 degrees outside, {says} the forecast."],
    );
    let folder = &adapter.folder;
    std::fs::create_dir_all(folder.file("voices/ada")).unwrap();
    std::fs::write(folder.file("voices/ada/1.wav"), tone_wav(24000, 3.0)).unwrap();
    std::fs::write(folder.file("voices/ada/2.wav"), tone_wav(16000, 4.0)).unwrap();
    adapter.fake(
        "xtts/venv/bin/tts",
        r#"
model = ["--model_path", OPT + "/xtts/XTTS-v2", "--config_path", OPT + "/xtts/XTTS-v2/config.json",
         "--device", "cuda"]
expect_cwd(WORK)
if "--speaker_wav" in ARGV:
    called("xtts-voice")
    expect_argv(*model,
        "--text", "This sentence checks the cloned voice.",
        "--language_idx", "en",
        "--speaker_wav", same_bytes(CONTENT + "/voices/ada/1.wav"), same_bytes(CONTENT + "/voices/ada/2.wav"),
        "--speaker_idx", "ada",
        "--voice_dir", at(CWD + "/voice"),
        "--out_path", at(CWD + "/check.wav"),
    )
    voice_dir = ARGV[ARGV.index("--voice_dir") + 1]
    if not os.path.isdir(voice_dir) or os.listdir(voice_dir):
        fail("--voice_dir is not an existing empty folder")
    with open(os.path.join(voice_dir, "ada.pth"), "w") as f:
        f.write("ada, cloned from 2 samples")
    write_speech(ARGV[-1])
else:
    called("xtts")
    expect_argv(*model,
        one_of("--text=Hello there.", "--text=-5 degrees outside, {says} the forecast."),
        "--language_idx", "en",
        "--speaker_idx", "ada",
        "--voice_dir", matcher("<the voice's folder>", lambda v: None if os.listdir(v) == ["ada.pth"]
                               and open(os.path.join(v, "ada.pth")).read() == "ada, cloned from 2 samples"
                               else "holds %r" % os.listdir(v)),
        "--out_path", at(CWD + "/out.wav"),
    )
    write_speech(ARGV[-1])
"#,
    );
    let run = adapter.build();
    assert_built(
        &adapter,
        &run,
        &[
            "speech demo/hello:1",
            "speech demo/hello:2",
            "scene demo/hello",
        ],
    );
    let mut calls = adapter.calls();
    calls.sort();
    assert_eq!(calls, ["xtts", "xtts", "xtts-voice"]);

    // Nothing changed: nothing runs again, the voice included.
    let again = adapter.build();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.made(), Vec::<String>::new());
    assert_eq!(adapter.calls().len(), 3);
}

#[test]
fn wav2lip_runs_inference_py_in_the_working_folder_and_holds_the_last_frame() {
    let adapter = Adapter::new(
        "wav2lip",
        ESPEAK_VOICE,
        "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"wav2lip\"\n",
        ONE_LINE,
    );
    adapter.fake(
        "wav2lip/venv/bin/python",
        r#"
if ARGV[0].endswith("render-wav2lip.py"):
    called("render-wav2lip.py")
    expect_cwd(WORK)
    expect_argv(
        OPT + "/wav2lip/render-wav2lip.py",
        "--repo", OPT + "/wav2lip/Wav2Lip",
        "--python", OPT + "/wav2lip/venv/bin/python",
        "--checkpoint", OPT + "/wav2lip/Wav2Lip/checkpoints/wav2lip_gan.pth",
        "--face", video("video"),
        "--audio", wav("audio"),
        "--out", at(CWD + "/out.mp4"),
        "--", "--pads", "0", "10", "0", "0",
    )
    expect_lasts_as_long("video", "audio")
    run_the_wrapper()

# inference.py, as the wrapper starts it: relative names, temp/ ready in the working folder.
called("inference.py")
expect_cwd(WORK)
expect_argv(
    OPT + "/wav2lip/Wav2Lip/inference.py",
    "--checkpoint_path", OPT + "/wav2lip/Wav2Lip/checkpoints/wav2lip_gan.pth",
    "--face", "face.mp4", "--audio", "audio.wav", "--outfile", "lipsync.mp4",
    "--pads", "0", "10", "0", "0",
)
if not os.path.isdir("temp"):
    fail("no temp/ folder to write temp/result.avi in")
expect_value("--face", video("video"), "face.mp4")
expect_value("--audio", wav("audio"), "audio.wav")
# Wav2Lip's frame count: a frame every 80/fps mel frames while 16 are left, and one more.
frames, fps = frames_and_fps("face.mp4")
mel = int(80 * wav_seconds("audio.wav")) + 1
made = 0
while int(made * 80 / fps) + 16 <= mel:
    made += 1
write_clip("lipsync.mp4", made + 1, fps, "audio.wav")
if frames_and_fps("lipsync.mp4")[0] >= round(wav_seconds("audio.wav") * fps) - 1:
    fail("the fake's clip should end early, as Wav2Lip's do")
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["render-wav2lip.py", "inference.py"]);
}

#[test]
fn sadtalker_runs_in_its_folder_and_its_timestamped_video_is_found() {
    let adapter = Adapter::new(
        "sadtalker",
        ESPEAK_VOICE,
        "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"sadtalker\"\n",
        ONE_LINE,
    );
    adapter.fake(
        "sadtalker/venv/bin/python",
        r#"
called("inference.py")
expect_cwd(OPT + "/sadtalker/SadTalker")  # gfpgan/weights is found from here
expect_argv(
    "inference.py",
    "--driven_audio", wav("audio"),
    "--source_image", png("image", (512, 512)),
    "--result_dir", at(WORK + "/results"),
    "--checkpoint_dir", OPT + "/sadtalker/SadTalker/checkpoints",
    "--preprocess", "full", "--still", "--size", "256",
)
# SadTalker: 25 fps, int(seconds * 25) frames, the audio cut to them, named by the time.
seconds = wav_seconds(GOT["audio"])
frames = int(seconds * 25)
results = ARGV[ARGV.index("--result_dir") + 1]
os.makedirs(results, exist_ok=True)
write_clip(os.path.join(results, "2025_01_31_12.00.00.mp4"), frames, 25, GOT["audio"], frames / 25)
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["inference.py"]);
}

#[test]
fn musetalk_gets_its_task_yaml_and_its_video_is_moved_into_place() {
    let adapter = Adapter::new(
        "musetalk",
        ESPEAK_VOICE,
        "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"musetalk\"\n",
        ONE_LINE,
    );
    adapter.fake(
        "musetalk/venv/bin/python",
        r#"
models = OPT + "/musetalk/MuseTalk/models/musetalkV15/"
extra = ["--version", "v15", "--unet_model_path", models + "unet.pth",
         "--unet_config", models + "musetalk.json", "--use_float16"]
if ARGV[0].endswith("render-musetalk.py"):
    called("render-musetalk.py")
    expect_cwd(WORK)
    expect_argv(
        OPT + "/musetalk/render-musetalk.py",
        "--repo", OPT + "/musetalk/MuseTalk",
        "--python", OPT + "/musetalk/venv/bin/python",
        "--video", video("video"),
        "--audio", wav("audio"),
        "--out", at(CWD + "/out.mp4"),
        "--", *extra,
    )
    expect_lasts_as_long("video", "audio")
    run_the_wrapper()

# python -m scripts.inference, as the wrapper starts it: from the MuseTalk folder.
called("scripts.inference")
expect_cwd(OPT + "/musetalk/MuseTalk")
expect_argv(
    "-m", "scripts.inference",
    "--inference_config", at(WORK + "/musetalk.yaml"),
    "--result_dir", at(WORK + "/results"),
    *extra,
)
task = {}
with open(ARGV[3], encoding="utf-8") as f:
    lines = f.read().splitlines()
if lines[0] != "task_0:":
    fail("the YAML does not start with task_0: %r" % lines)
for line in lines[1:]:
    key, value = line.strip().split(": ", 1)
    task[key] = json.loads(value)
if sorted(task) != ["audio_path", "result_name", "video_path"]:
    fail("the task has %r" % sorted(task))
expect_value("video_path", video("video"), task["video_path"])
expect_value("audio_path", wav("audio"), task["audio_path"])
expect_lasts_as_long("video", "audio")
# MuseTalk: floor(seconds * fps) frames, under <result_dir>/v15/<result_name>.
frames, fps = frames_and_fps(GOT["video"])
out = os.path.join(ARGV[5], "v15")
os.makedirs(out)
write_clip(os.path.join(out, task["result_name"]), int(wav_seconds(GOT["audio"]) * fps), fps, GOT["audio"])
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["render-musetalk.py", "scripts.inference"]);
}

#[test]
fn hallo2_gets_a_config_saving_into_the_working_folder_and_its_video_is_moved_into_place() {
    let adapter = Adapter::new(
        "hallo2",
        ESPEAK_VOICE,
        "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"hallo2\"\n",
        ONE_LINE,
    );
    // The head of hallo2's configs/inference/long.yaml, as the wrapper finds it.
    std::fs::write(
        adapter.opt("hallo2/hallo2/configs/inference/long.yaml"),
        "source_image: ./examples/reference_images/1.jpg\n\
         driving_audio: ./examples/driving_audios/1.wav\n\n\
         weight_dtype: fp16\n\n\
         data:\n  n_motion_frames: 2\n  export_video:\n    fps: 25\n\n\
         save_path: ./output_long/debug/\n\
         cache_path: ./.cache\n\n\
         base_model_path: ./pretrained_models/stable-diffusion-v1-5\n",
    )
    .unwrap();
    adapter.fake(
        "hallo2/venv/bin/python",
        r#"
if ARGV[0].endswith("render-hallo2.py"):
    called("render-hallo2.py")
    expect_cwd(WORK)
    expect_argv(
        OPT + "/hallo2/render-hallo2.py",
        "--repo", OPT + "/hallo2/hallo2",
        "--python", OPT + "/hallo2/venv/bin/python",
        "--config", OPT + "/hallo2/hallo2/configs/inference/long.yaml",
        "--image", png("image", (512, 512)),
        "--audio", wav("audio"),
        "--out", at(CWD + "/out.mp4"),
    )
    run_the_wrapper()

# scripts/inference_long.py, as the wrapper starts it: from the hallo2 folder.
called("inference_long.py")
expect_cwd(OPT + "/hallo2/hallo2")
expect_argv(
    "scripts/inference_long.py",
    "--config", at(WORK + "/hallo2.yaml"),
    "--source_image", png("image", (512, 512)),
    "--driving_audio", wav("audio"),
)
with open(ARGV[2], encoding="utf-8") as f:
    config = f.read()
want = ("source_image: ./examples/reference_images/1.jpg\n"
        "driving_audio: ./examples/driving_audios/1.wav\n\n"
        "weight_dtype: fp16\n\n"
        "data:\n  n_motion_frames: 2\n  export_video:\n    fps: 25\n\n"
        "save_path: %s\n"
        "cache_path: %s\n\n"
        "base_model_path: ./pretrained_models/stable-diffusion-v1-5\n"
        % (json.dumps(WORK + "/hallo2"), json.dumps(WORK + "/cache")))
if config != want:
    fail("the config is\n%s\nnot\n%s" % (config, want))
# Hallo2: 25 fps, ceil(seconds * 25) frames, <save_path>/<image name>/merge_video.mp4.
seconds = wav_seconds(GOT["audio"])
frames = math.ceil(seconds * 25)
out = os.path.join(WORK, "hallo2", os.path.splitext(os.path.basename(GOT["image"]))[0])
os.makedirs(os.path.join(out, "seg_video"))
write_clip(os.path.join(out, "merge_video.mp4"), frames, 25, GOT["audio"])
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["render-hallo2.py", "inference_long.py"]);
}

#[test]
fn latentsync_1_6_runs_in_its_folder_on_the_avatar_video_offline_at_512() {
    let adapter = Adapter::new(
        "latentsync",
        ESPEAK_VOICE,
        "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"latentsync\"\n",
        ONE_LINE,
    );
    adapter.fake(
        "latentsync/venv/bin/python",
        r#"
called("scripts.inference")
expect_cwd(OPT + "/latentsync/LatentSync")  # configs/ and checkpoints/ are found from here
expect_env("HF_HOME", OPT + "/latentsync/hf")
expect_env("HF_HUB_OFFLINE", "1")
expect_argv(
    "-m", "scripts.inference",
    "--unet_config_path", "configs/unet/stage2_512.yaml",
    "--inference_ckpt_path", "checkpoints/latentsync_unet.pt",
    "--inference_steps", "20",
    "--guidance_scale", "1.5",
    "--enable_deepcache",
    "--video_path", video("video"),
    "--audio_path", wav("audio"),
    "--video_out_path", at(WORK + "/out.mp4"),
    "--temp_dir", at(WORK + "/temp"),
    "--seed", matcher("<seed>", seed),
)
expect_lasts_as_long("video", "audio")
# LatentSync: 25 fps, one frame per 2 whisper features (50 a second) and 2 more, the audio
# cut to the frames (so left whole).
seconds = wav_seconds(GOT["audio"])
write_clip(ARGV[ARGV.index("--video_out_path") + 1], int(seconds * 50) // 2 + 2, 25, GOT["audio"])
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["scripts.inference"]);
}

#[test]
fn infinitetalk_gets_its_job_as_json_with_the_lines_frame_count_and_is_cut_to_the_speech() {
    let adapter = Adapter::new(
        "infinitetalk",
        ESPEAK_VOICE,
        "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"infinitetalk\"\n",
        ONE_LINE,
    );
    adapter.fake(
        "infinitetalk/venv/bin/python",
        r#"
called("generate_infinitetalk.py")
expect_cwd(OPT + "/infinitetalk/InfiniteTalk")  # weights/ is found from here


def frames_of_speech(value):
    with wave.open(GOT["audio"], "rb") as w:
        want = (w.getnframes() * 25 + w.getframerate() - 1) // w.getframerate()
    return None if value == str(want) else "not the speech's %d frames at 25 fps" % want


def input_json(value):
    if not same_path(os.path.dirname(os.path.dirname(value)), WORK + "/../inputs"):
        return "not in the job's inputs folder"
    with open(value, encoding="utf-8") as f:
        job = json.load(f)
    if sorted(job) != ["cond_audio", "cond_video", "prompt"] or sorted(job["cond_audio"]) != ["person1"]:
        return "holds %r" % job
    if job["prompt"] != "A person is talking to the camera, in front of a plain background.":
        return "prompt %r" % job["prompt"]
    return wav("audio")(job["cond_audio"]["person1"]) or png("image", (512, 512))(job["cond_video"])


expect_argv(
    "generate_infinitetalk.py",
    "--ckpt_dir", "weights/Wan2.1-I2V-14B-480P",
    "--wav2vec_dir", "weights/chinese-wav2vec2-base",
    "--infinitetalk_dir", "weights/InfiniteTalk/single/infinitetalk.safetensors",
    "--input_json", matcher("<input.json>", input_json),
    "--size", "infinitetalk-480",
    "--sample_steps", "40",
    "--mode", "streaming",
    "--motion_frame", "9",
    "--max_frame_num", matcher("<frames>", frames_of_speech),
    "--base_seed", matcher("<seed>", seed),
    "--audio_save_dir", at(WORK + "/audio"),
    "--save_file", at(WORK + "/out"),
)
# Streaming: chunks of 81 frames overlapping by 9, so the video runs past the speech.
frames = int(ARGV[ARGV.index("--max_frame_num") + 1])
made = 81
while made < frames:
    made += 72
write_clip(WORK + "/out.mp4", made, 25, GOT["audio"])
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["generate_infinitetalk.py"]);
}

#[test]
fn kokoro_fastapi_gets_one_openai_speech_request_per_line() {
    let adapter = Adapter::new(
        "kokoro",
        "[voices.ada]\nengine = \"kokoro\"\n",
        BUILTIN_AVATAR,
        &["Hello there.", "A second line, with \"quotes\"."],
    );
    // The server (tests/fixtures/speech_server.py) where engine.toml says 8880.
    let dir = adapter.root.path().join("server");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tone.wav"), tone_wav(24_000, 1.0)).unwrap();
    let mut server = std::process::Command::new("python3")
        .arg(repo().join("tests/fixtures/speech_server.py"))
        .arg(&dir)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let port = loop {
        if let Ok(port) = std::fs::read_to_string(dir.join("port")) {
            break port;
        }
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    };
    adapter.folder.edit(
        "Renderfile.toml",
        "http://127.0.0.1:8880",
        &format!("http://127.0.0.1:{port}"),
    );
    let run = adapter.build();
    let _ = server.kill();
    let _ = server.wait();
    assert_built(
        &adapter,
        &run,
        &[
            "speech demo/hello:1",
            "speech demo/hello:2",
            "scene demo/hello",
        ],
    );
    let mut bodies: Vec<(String, String)> = std::fs::read_to_string(dir.join("requests.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let request: serde_json::Value = serde_json::from_str(l).unwrap();
            let path = request["path"].as_str().unwrap().to_string();
            (path, request["body"].as_str().unwrap().to_string())
        })
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [
            (
                "/v1/audio/speech".to_string(),
                r#"{"input":"A second line, with \"quotes\".","model":"kokoro","response_format":"wav","voice":"af_bella"}"#.to_string()
            ),
            (
                "/v1/audio/speech".to_string(),
                r#"{"input":"Hello there.","model":"kokoro","response_format":"wav","voice":"af_bella"}"#.to_string()
            ),
        ]
    );
}

#[test]
fn wan_s2v_gets_the_readme_command_with_the_picture_and_speech_and_is_cut_to_the_speech() {
    let adapter = Adapter::new(
        "wan-s2v",
        ESPEAK_VOICE,
        "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"wan-s2v\"\n",
        ONE_LINE,
    );
    adapter.fake(
        "wan-s2v/venv/bin/python",
        r#"
called("generate.py")
expect_cwd(WORK)
expect_argv(
    OPT + "/wan-s2v/Wan2.2/generate.py",
    "--task", "s2v-14B",
    "--size", "1024*704",
    "--ckpt_dir", OPT + "/wan-s2v/Wan2.2/Wan2.2-S2V-14B/",
    "--offload_model", "True",
    "--convert_model_dtype",
    "--prompt", "A person is talking to the camera, in front of a plain background.",
    "--image", png("image", (512, 512)),
    "--audio", wav("audio"),
    "--start_from_ref",
    "--base_seed", matcher("<seed>", seed),
    "--save_file", at(WORK + "/out.mp4"),
)
# S2V: 16 fps, int(frames / 80) + 1 clips of 80 frames (num_clip unset), so it runs past
# the speech; generate.py then muxes the audio in.
clips = int(wav_seconds(GOT["audio"]) * 16 / 80) + 1
write_clip(ARGV[-1], clips * 80, 16, GOT["audio"])
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["generate.py"]);
}

#[test]
fn echomimic_flash_gets_speech_padded_to_whole_vae_frames_and_the_flash_options() {
    let adapter = Adapter::new(
        "echomimic",
        ESPEAK_VOICE,
        "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"echomimic\"\n",
        ONE_LINE,
    );
    adapter.fake(
        "echomimic/venv/bin/python",
        r#"
flash = OPT + "/echomimic/flash/"
extra = [
    "--prompt", "A person is speaking.",
    "--num_inference_steps", "8",
    "--config_path", OPT + "/echomimic/echomimic_v3/config/config.yaml",
    "--model_name", flash + "Wan2.1-Fun-V1.1-1.3B-InP",
    "--ckpt_idx", "50000",
    "--transformer_path", flash + "transformer/diffusion_pytorch_model.safetensors",
    "--wav2vec_model_dir", flash + "chinese-wav2vec2-base",
    "--sampler_name", "Flow_Unipc",
    "--guidance_scale", "6.0",
    "--audio_guidance_scale", "3.0",
    "--audio_scale", "1.0",
    "--neg_scale", "1.0",
    "--neg_steps", "0",
    "--seed", matcher("<seed>", seed),
    "--enable_teacache",
    "--teacache_threshold", "0.1",
    "--num_skip_start_steps", "5",
    "--riflex_k", "6",
    "--ulysses_degree", "1",
    "--ring_degree", "1",
    "--weight_dtype", "bfloat16",
    "--sample_size", "768", "768",
    "--add_prompt", "",
    "--negative_prompt", "",
    "--shift", "5.0",
]
if ARGV[0].endswith("render-echomimic.py"):
    called("render-echomimic.py")
    expect_cwd(WORK)
    expect_argv(
        OPT + "/echomimic/render-echomimic.py",
        "--repo", OPT + "/echomimic/echomimic_v3",
        "--python", OPT + "/echomimic/venv/bin/python",
        "--image", png("image", (512, 512)),
        "--audio", wav("audio"),
        "--out", at(CWD + "/out.mp4"),
        "--", *extra,
    )
    os.environ["FAKE_SPEECH"] = GOT["audio"]  # for the check of the padded speech below
    run_the_wrapper()

# infer_flash.py, as the wrapper starts it.
called("infer_flash.py")
expect_cwd(WORK)
speech = os.environ["FAKE_SPEECH"]
need = frames_at_25(speech)
want = need + (5 - need % 4) % 4  # the fewest 4k + 1 frames that cover the speech
expect_argv(
    OPT + "/echomimic/echomimic_v3/infer_flash.py",
    "--image_path", png("image", (512, 512)),
    "--audio_path", at(WORK + "/speech.wav"),
    "--save_path", at(WORK + "/outputs"),
    "--video_length", str(want),
    "--fps", "25",
    *extra,
)
if want % 4 != 1 or want < need or want >= need + 4:
    fail("--video_length %d for %d frames of speech" % (want, need))
# The padded speech: the line's samples, then silence, int(seconds * 25) frames long.
with wave.open(speech, "rb") as a, wave.open("speech.wav", "rb") as b:
    if a.getparams()[:3] != b.getparams()[:3]:
        fail("the padded speech is %r, the speech %r" % (b.getparams(), a.getparams()))
    original, padded = a.readframes(a.getnframes()), b.readframes(b.getnframes())
    seconds = b.getnframes() / b.getframerate()
if not padded.startswith(original) or padded[len(original):].strip(b"\x00"):
    fail("speech.wav is not the speech followed by silence")
if int(seconds * 25) != want:
    fail("speech.wav lasts %.4f s: int(seconds * 25) = %d, not %d" % (seconds, int(seconds * 25), want))
# infer_flash.py: min(int(seconds * fps), video_length) frames, down to 4k + 1, the audio
# cut to them, <save_path>/<image name>_output.mp4.
frames = min(int(seconds * 25), want)
frames = (frames - 1) // 4 * 4 + 1
os.makedirs("outputs")
name = os.path.basename(GOT["image"]).split(".")[0]
write_clip("outputs/%s_output.mp4" % name, frames, 25, "speech.wav", frames / 25)
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["render-echomimic.py", "infer_flash.py"]);
}

#[test]
fn omniavatar_gets_its_prompt_image_audio_line_and_config_as_files_and_its_dated_video_is_found() {
    let adapter = Adapter::new(
        "omniavatar",
        ESPEAK_VOICE,
        "[avatars.host]\nimage = \"avatars/host.png\"\nlipsync = \"omniavatar\"\n",
        ONE_LINE,
    );
    // The config the fake must get: the template of engine.toml, /opt moved as everywhere.
    let engines: toml::Table = std::fs::read_to_string(adapter.folder.file("Renderfile.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let config = engines["engines"]["omniavatar"]["files"]["inference.yaml"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(config.contains("silence_duration_s: 0\n") && config.contains("seed: {seed}\n"));
    std::fs::write(adapter.root.path().join("inference.yaml"), config).unwrap();
    adapter.fake(
        "omniavatar/venv/bin/torchrun",
        r#"
called("torchrun")
expect_cwd(WORK)


def config(value):
    if not in_inputs(value) or os.path.basename(value) != "inference.yaml":
        return "not inference.yaml in the job's inputs folder"
    with open(value, encoding="utf-8") as f:
        got = f.read()
    with open(os.path.join(os.path.dirname(CALLS), "inference.yaml"), encoding="utf-8") as f:
        want = f.read()
    line = [l for l in got.splitlines() if l.startswith("seed: ")]
    if len(line) != 1 or seed(line[0][6:]):
        return "no seed line below 2^31"
    want = want.replace("{seed}", line[0][6:])
    if got != want:
        return "holds\n%s\nnot\n%s" % (got, want)
    GOT["seed"] = line[0][6:]


def input_line(value):
    if not in_inputs(value) or os.path.basename(value) != "input.txt":
        return "not input.txt in the job's inputs folder"
    with open(value, encoding="utf-8") as f:
        got = f.read()
    parts = got.split("@@")
    if len(parts) != 3 or "\n" in got:
        return "holds %r, not one prompt@@image@@audio line" % got
    if parts[0] != "A person is talking to the camera, in front of a plain background.":
        return "prompt %r" % parts[0]
    return png("image", (512, 512))(parts[1]) or wav("audio")(parts[2])


expect_argv(
    "--standalone", "--nproc_per_node=1",
    OPT + "/omniavatar/OmniAvatar/scripts/inference.py",
    "--config", matcher("<inference.yaml>", config),
    "--input_file", matcher("<input.txt>", input_line),
)
# OmniAvatar: 25 fps, ceil(seconds * 25) + 1 frames (the first is the picture), the audio
# delayed by a frame, under demo_out/<exp name>/res_<input name>_seed…_<time>/.
frames = frames_at_25(GOT["audio"]) + 1
out = "demo_out/OmniAvatar-14B/res_input_seed%s_step50_cfg4.5_ovlp13_30000_25_2025-01-31_12-00-00" % GOT["seed"]
os.makedirs(out + "/audio")
os.makedirs(out + "/prompt")
write_clip(out + "/result_000_000_wav.mp4", frames, 25, GOT["audio"])
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, LIPSYNC_MADE);
    assert_eq!(adapter.calls(), ["torchrun"]);
}

/// A content folder whose voice `ada` clones from one sample, `voices/ada/ref.wav`.
fn cloning_adapter(name: &str, lines: &[&str]) -> Adapter {
    let adapter = Adapter::new(
        name,
        &format!("[voices.ada]\nengine = \"{name}\"\nsamples = [\"voices/ada/ref.wav\"]\n"),
        BUILTIN_AVATAR,
        lines,
    );
    std::fs::create_dir_all(adapter.folder.file("voices/ada")).unwrap();
    std::fs::write(
        adapter.folder.file("voices/ada/ref.wav"),
        tone_wav(24000, 8.0),
    )
    .unwrap();
    adapter
}

#[test]
fn f5_tts_clones_from_the_voices_sample_and_reads_each_line_from_a_file() {
    let adapter = cloning_adapter("f5-tts", &["Hello there.", "-5 degrees [outside]."]);
    adapter.fake(
        "f5-tts/venv/bin/f5-tts_infer-cli",
        r#"
expect_cwd(WORK)
expect_env("HF_HOME", OPT + "/f5-tts/hf")
expect_env("HF_HUB_OFFLINE", "1")
expect_argv(
    "--model", "F5TTS_v1_Base",
    "--ckpt_file", OPT + "/f5-tts/F5TTS_v1_Base/model_1250000.safetensors",
    "--ref_audio", same_bytes(CONTENT + "/voices/ada/ref.wav"),
    "--ref_text", "",
    "--gen_file", matcher("<the line's text>", lambda v: file_with_text("Hello there.")(v)
                          and file_with_text("-5 degrees [outside].")(v)),
    "--output_dir", at(WORK),
    "--output_file", "out.wav",
    "--device", "cpu",
)
with open(ARGV[ARGV.index("--gen_file") + 1], encoding="utf-8") as f:
    called("f5-tts_infer-cli " + f.read().strip())
write_speech(os.path.join(ARGV[ARGV.index("--output_dir") + 1], "out.wav"))
"#,
    );
    let run = adapter.build();
    assert_built(
        &adapter,
        &run,
        &[
            "speech demo/hello:1",
            "speech demo/hello:2",
            "scene demo/hello",
        ],
    );
    let mut calls = adapter.calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            "f5-tts_infer-cli -5 degrees [outside].",
            "f5-tts_infer-cli Hello there."
        ]
    );
    // The sample is part of the key: a new clip re-makes the lines.
    std::fs::write(
        adapter.folder.file("voices/ada/ref.wav"),
        tone_wav(24000, 9.0),
    )
    .unwrap();
    let again = adapter.build();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.made().contains(&"speech demo/hello:1".to_string()));
    assert_eq!(adapter.calls().len(), 4);
}

/// Python modules standing in for `torch` and `chatterbox` when the real wrapper runs:
/// they check what the wrapper asks of the API and give back a 24 kHz tone.
const FAKE_CHATTERBOX: &str = r#"
fakes = os.path.join(os.path.dirname(CALLS), "fakepy")
os.makedirs(os.path.join(fakes, "chatterbox"), exist_ok=True)
with open(os.path.join(fakes, "torch.py"), "w") as f:
    f.write("SEED = []\ndef manual_seed(n):\n    SEED.append(n)\n")
with open(os.path.join(fakes, "chatterbox", "__init__.py"), "w") as f:
    f.write("")
with open(os.path.join(fakes, "chatterbox", "tts.py"), "w") as f:
    f.write('''
import math, torch


class Wav:
    def __init__(self, samples):
        self.samples = samples

    def squeeze(self, dim):
        assert dim == 0
        return self

    def tolist(self):
        return self.samples


class ChatterboxTTS:
    sr = 24000

    def __init__(self, device):
        self.device = device

    @classmethod
    def from_pretrained(cls, device):
        return cls(device)

    def generate(self, text, audio_prompt_path=None, exaggeration=0.5, cfg_weight=0.5):
        with open(%r, "a") as f:
            f.write("generate %%r device=%%s seeded=%%r prompt=%%s exaggeration=%%s cfg_weight=%%s\\n" %% (
                text, self.device, torch.SEED, open(audio_prompt_path, "rb").read() == open(%r, "rb").read(),
                exaggeration, cfg_weight))
        return Wav([0.5 * math.sin(2 * math.pi * 220 * i / 24000) for i in range(36000)])
''' % (CALLS, CONTENT + "/voices/ada/ref.wav"))
os.environ["PYTHONPATH"] = fakes
"#;

#[test]
fn chatterbox_wrapper_clones_from_the_voices_sample_through_the_python_api() {
    let adapter = cloning_adapter("chatterbox", &["Hello there."]);
    adapter.fake(
        "chatterbox/venv/bin/python",
        &format!(
            "{FAKE_CHATTERBOX}{}",
            r#"
called("render-chatterbox.py")
expect_cwd(WORK)
expect_env("HF_HOME", OPT + "/chatterbox/hf")
expect_env("HF_HUB_OFFLINE", "1")
expect_argv(
    OPT + "/chatterbox/render-chatterbox.py",
    "--text-file", file_with_text("Hello there."),
    "--reference", same_bytes(CONTENT + "/voices/ada/ref.wav"),
    "--device", "cpu",
    "--seed", matcher("<seed>", seed),
    "--exaggeration", "0.5",
    "--cfg-weight", "0.5",
    "--out", at(CWD + "/out.wav"),
)
called("seed " + ARGV[ARGV.index("--seed") + 1])
run_the_wrapper()
"#
        ),
    );
    let run = adapter.build();
    assert_built(&adapter, &run, &["speech demo/hello:1", "scene demo/hello"]);
    let calls = adapter.calls();
    let seed = calls[1].strip_prefix("seed ").unwrap();
    assert_eq!(
        calls[2],
        format!(
            "generate 'Hello there.' device=cpu seeded=[{seed}] prompt=True exaggeration=0.5 cfg_weight=0.5"
        )
    );
    assert_eq!(calls.len(), 3, "{calls:?}");
    // The WAV the wrapper wrote: the API's 1.5 s at 24 kHz, as 16-bit PCM.
    let speech = adapter
        .folder
        .object("speech demo/hello:1")
        .join("speech.wav");
    let reader = hound::WavReader::open(&speech).unwrap();
    assert_eq!(
        (
            reader.spec().sample_rate,
            reader.spec().bits_per_sample,
            reader.len()
        ),
        (24000, 16, 36000)
    );
}

#[test]
fn chatterbox_wrapper_refuses_a_voice_with_two_samples_with_a_clear_message() {
    let adapter = cloning_adapter("chatterbox", &["Hello there."]);
    std::fs::write(
        adapter.folder.file("voices/ada/2.wav"),
        tone_wav(24000, 7.0),
    )
    .unwrap();
    adapter.folder.edit(
        "Renderfile.toml",
        "samples = [\"voices/ada/ref.wav\"]",
        "samples = [\"voices/ada/ref.wav\", \"voices/ada/2.wav\"]",
    );
    adapter.fake(
        "chatterbox/venv/bin/python",
        &format!("{FAKE_CHATTERBOX}\nrun_the_wrapper()\n"),
    );
    let run = adapter.build();
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains(
            "render-chatterbox: Chatterbox clones a voice from one reference clip; this voice gives 2 samples (keep one clip of about 10 s in its `samples`)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn piper_server_loads_the_voice_once_and_speaks_each_line_over_openai_speech() {
    let adapter = Adapter::new(
        "piper-server",
        "[voices.ada]\nengine = \"piper-server\"\n",
        BUILTIN_AVATAR,
        &["Hello there.", "-5 degrees outside."],
    );
    adapter.fake(
        "piper/venv/bin/python",
        r#"
called("server")
expect_argv(
    OPT + "/piper-server/render-piper-server.py",
    "--model", OPT + "/piper/voices/en_US-joe-medium.onnx",
    "--port", matcher("<port>", lambda v: None if v.isdigit() and 0 < int(v) < 65536 else "not a port"),
)
# Piper's Python API, standing in: the voice gives back the tone, in two chunks.
fakes = os.path.join(os.path.dirname(CALLS), "fakepy")
os.makedirs(os.path.join(fakes, "piper"), exist_ok=True)
with open(os.path.join(fakes, "piper", "__init__.py"), "w") as f:
    f.write('''
import wave
CALLS = %r
TONE = %r


def called(what):
    with open(CALLS, "a") as f:
        f.write(what + "\\n")


class SynthesisConfig:
    def __init__(self, **settings):
        self.settings = settings


class Chunk:
    def __init__(self, rate, width, channels, data):
        self.sample_rate, self.sample_width, self.sample_channels = rate, width, channels
        self.audio_int16_bytes = data


class PiperVoice:
    @classmethod
    def load(cls, model):
        called("load " + str(model))
        return cls()

    def synthesize(self, text, config):
        called("synthesize %%r %%r" %% (text, sorted(config.settings.items())))
        with wave.open(TONE, "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            data = w.readframes(w.getnframes())
        half = len(data) // 4 * 2
        yield Chunk(rate, width, channels, data[:half])
        yield Chunk(rate, width, channels, data[half:])
''' % (CALLS, TONE))
os.environ["PYTHONPATH"] = fakes
run_the_wrapper()
"#,
    );
    let run = adapter.build();
    assert_built(
        &adapter,
        &run,
        &[
            "speech demo/hello:1",
            "speech demo/hello:2",
            "scene demo/hello",
        ],
    );
    let mut calls = adapter.calls();
    calls[2..].sort();
    let settings = "[('length_scale', None), ('noise_scale', None), ('noise_w_scale', None), ('normalize_audio', True), ('speaker_id', None), ('volume', 1.0)]";
    assert_eq!(
        calls,
        [
            "server".to_string(),
            format!(
                "load {}",
                adapter.opt("piper/voices/en_US-joe-medium.onnx").display()
            ),
            format!("synthesize '-5 degrees outside.' {settings}"),
            format!("synthesize 'Hello there.' {settings}"),
        ]
    );
    // Each line's WAV is the voice's chunks joined, as `python -m piper` writes them.
    let tone = std::fs::read(adapter.root.path().join("tone.wav")).unwrap();
    let speech = adapter
        .folder
        .object("speech demo/hello:1")
        .join("speech.wav");
    let made = hound::WavReader::open(&speech).unwrap();
    let want = hound::WavReader::new(std::io::Cursor::new(tone)).unwrap();
    assert_eq!((made.spec(), made.len()), (want.spec(), want.len()));
}

#[test]
fn every_adapter_readme_shows_its_engine_toml_as_it_is() {
    // The guide's page of engines shows every adapter's block (the README links to it).
    let main_readme = std::fs::read_to_string(repo().join("docs/engines.md")).unwrap();
    for entry in std::fs::read_dir(repo().join("engines")).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let toml = std::fs::read_to_string(dir.join("engine.toml")).unwrap();
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(
            readme.contains(&format!("```toml\n{toml}```")),
            "{}/README.md does not show engine.toml as it is",
            dir.display()
        );
        assert!(
            main_readme.contains(&format!("```toml\n{toml}```")),
            "docs/engines.md does not show {}/engine.toml as it is",
            dir.display()
        );
    }
}

/// An adapter whose shots are b-roll lines of the one scene: `shots` are the `[shots.*]`
/// tables (beside the built-in avatar), `lines` the scene's lines as TOML.
fn shot_adapter(name: &str, shots: &str, lines: &str) -> Adapter {
    let adapter = Adapter::new(
        name,
        ESPEAK_VOICE,
        &format!("{BUILTIN_AVATAR}\n{shots}"),
        ONE_LINE,
    );
    adapter.folder.write(
        "projects/demo/project.toml",
        &format!("[[scene]]\nname = \"hello\"\nlines = [{lines}]\n"),
    );
    adapter
}

#[test]
fn wan2_2_ti2v_5b_makes_shots_from_text_and_from_a_picture_with_4n_plus_1_frames_at_24_fps() {
    let adapter = shot_adapter(
        "wan22-ti2v-5b",
        "[shots.sea]\nengine = \"wan22-ti2v-5b\"\n\
         prompt = \"-Waves rolling onto a beach at dusk.\"\n\
         width = 1280\nheight = 704\nseconds = 1\nfps = 24\nsteps = 3\nguidance = 5.0\nseed = 11\n\n\
         [shots.wave]\nengine = \"wan22-ti2v-5b-image\"\nimage = \"avatars/host.png\"\n\
         prompt = \"The astronaut waves.\"\n\
         width = 704\nheight = 1280\nseconds = 0.5\nfps = 24\nsteps = 2\nguidance = 4.5\n",
        "\"Hello there.\", { shot = \"sea\", seconds = 1 }, { shot = \"wave\", seconds = 0.5 }",
    );
    adapter.fake(
        "wan2.2/venv/bin/python",
        r#"
expect_cwd(WORK)
model = [OPT + "/wan2.2/Wan2.2/generate.py", "--task", "ti2v-5B"]
small_card = ["--offload_model", "True", "--convert_model_dtype", "--t5_cpu"]
if "--image" in ARGV:
    called("ti2v-5B image")
    # 0.5 s at 24 fps is 12 frames: made as 13 (4n+1).
    expect_argv(*model, "--size", "704*1280", "--ckpt_dir", OPT + "/wan2.2/Wan2.2-TI2V-5B", *small_card,
        "--image", png("image", (512, 512)),
        "--prompt=The astronaut waves.",
        "--frame_num", "13", "--sample_steps", "2", "--sample_guide_scale", "4.5",
        "--base_seed", matcher("<seed>", seed),
        "--save_file", at(WORK + "/out.mp4"))
    write_video(ARGV[-1], 13, 24, (704, 1280))
else:
    called("ti2v-5B")
    # 1 s at 24 fps is 24 frames: made as 25 (4n+1).
    expect_argv(*model, "--size", "1280*704", "--ckpt_dir", OPT + "/wan2.2/Wan2.2-TI2V-5B", *small_card,
        "--prompt=-Waves rolling onto a beach at dusk.",
        "--frame_num", "25", "--sample_steps", "3", "--sample_guide_scale", "5",
        "--base_seed", "11",
        "--save_file", at(WORK + "/out.mp4"))
    write_video(ARGV[-1], 25, 24, (1280, 704))
"#,
    );
    let run = adapter.build();
    assert_built(
        &adapter,
        &run,
        &["shot sea", "shot wave", "scene demo/hello"],
    );
    let mut calls = adapter.calls();
    calls.sort();
    assert_eq!(calls, ["ti2v-5B", "ti2v-5B image"]);
    // Built again: nothing is made again.
    let again = adapter.build();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(adapter.calls().len(), 2, "{}", again.stderr);
}

#[test]
fn wan2_1_t2v_1_3b_gets_the_small_card_command_and_16_fps_frames() {
    let adapter = shot_adapter(
        "wan21-t2v-1-3b",
        "[shots.city]\nengine = \"wan21-t2v-1-3b\"\nprompt = \"A busy street at night.\"\n\
         width = 832\nheight = 480\nseconds = 1.5\nfps = 16\nsteps = 4\nguidance = 6.0\n",
        "\"Hello there.\", { shot = \"city\", seconds = 1.5 }",
    );
    adapter.fake(
        "wan2.1/venv/bin/python",
        r#"
called("t2v-1.3B")
expect_cwd(WORK)
# 1.5 s at 16 fps is 24 frames: made as 25 (4n+1).
expect_argv(
    OPT + "/wan2.1/Wan2.1/generate.py",
    "--task", "t2v-1.3B",
    "--size", "832*480",
    "--ckpt_dir", OPT + "/wan2.1/Wan2.1-T2V-1.3B",
    "--offload_model", "True",
    "--t5_cpu",
    "--sample_shift", "8",
    "--prompt=A busy street at night.",
    "--frame_num", "25",
    "--sample_steps", "4",
    "--sample_guide_scale", "6",
    "--base_seed", matcher("<seed>", seed),
    "--save_file", at(WORK + "/out.mp4"),
)
write_video(ARGV[-1], 25, 16, (832, 480))
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, &["shot city", "scene demo/hello"]);
    assert_eq!(adapter.calls(), ["t2v-1.3B"]);
}

#[test]
fn wan2_2_i2v_a14b_gets_the_start_picture_and_a_capped_video_is_refused() {
    let shot = "[shots.idle]\nengine = \"wan22-i2v-a14b\"\nimage = \"avatars/host.png\"\n\
                prompt = \"The astronaut breathes and blinks.\"\n\
                width = 832\nheight = 480\nseconds = 2\nfps = 16\nsteps = 5\nguidance = 3.5\n";
    let adapter = shot_adapter(
        "wan22-i2v-a14b",
        shot,
        "\"Hello there.\", { shot = \"idle\", seconds = 2 }",
    );
    adapter.fake(
        "wan2.2/venv/bin/python",
        r#"
called("i2v-A14B")
expect_cwd(WORK)
# 2 s at 16 fps is 32 frames: made as 33 (4n+1).
expect_argv(
    OPT + "/wan2.2/Wan2.2/generate.py",
    "--task", "i2v-A14B",
    "--size", "832*480",
    "--ckpt_dir", OPT + "/wan2.2/Wan2.2-I2V-A14B",
    "--offload_model", "True",
    "--convert_model_dtype",
    "--image", png("image", (512, 512)),
    "--prompt=The astronaut breathes and blinks.",
    "--frame_num", "33",
    "--sample_steps", "5",
    "--sample_guide_scale", "3.5",
    "--base_seed", matcher("<seed>", seed),
    "--save_file", at(WORK + "/out.mp4"),
)
# The picture is square: the video keeps its aspect ratio within the 832*480 area. With
# $CAP set, it stops short, as a model capping its length silently would.
frames = int(os.environ.get("CAP", "33"))
write_video(ARGV[-1], frames, 16, (624, 624))
"#,
    );
    let run = adapter.build();
    assert_built(&adapter, &run, &["shot idle", "scene demo/hello"]);
    assert_eq!(adapter.calls(), ["i2v-A14B"]);

    // The same program stopping at 29 frames: the shot is refused, nothing is published anew.
    let capped = adapter
        .folder
        .read("Renderfile.toml")
        .replace("gpu = true", "gpu = true\nenv = { CAP = \"29\" }");
    adapter.folder.write("Renderfile.toml", &capped);
    let run = adapter.build();
    assert_ne!(run.code, 0, "a 29-frame shot was accepted:\n{}", run.stderr);
    assert!(
        run.stderr.contains("29") && run.stderr.contains("33"),
        "the error does not say 29 frames, not 33:\n{}",
        run.stderr
    );
}

#[test]
fn wan_vace_reads_the_pose_once_and_follows_it_retimed_to_what_vace_reads_as_the_shots_frames() {
    let shots = "[shots.wave]\nengine = \"wan21-vace-1-3b\"\nimage = \"avatars/host.png\"\n\
                 pose = \"moves/wave.mp4\"\npose_engine = \"vace-pose\"\n\
                 prompt = \"The astronaut waves.\"\n\
                 width = 832\nheight = 480\nseconds = 1\nfps = 16\nsteps = 6\nguidance = 5.0\n\n\
                 [shots.nod]\nengine = \"wan21-vace-1-3b\"\nimage = \"avatars/host.png\"\n\
                 pose = \"moves/wave.mp4\"\npose_engine = \"vace-pose\"\n\
                 prompt = \"The astronaut nods.\"\n\
                 width = 480\nheight = 832\nseconds = 3\nfps = 16\nsteps = 6\nguidance = 5.0\n";
    let adapter = shot_adapter(
        "wan-vace",
        shots,
        "\"Hello there.\", { shot = \"wave\", seconds = 1 }, { shot = \"nod\", seconds = 3 }",
    );
    // The motion video: 2 s at 25 fps.
    std::fs::create_dir_all(adapter.folder.file("moves")).unwrap();
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=160x120:r=25:d=2",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(adapter.folder.file("moves/wave.mp4"))
        .status()
        .unwrap();
    assert!(made.success());
    adapter.fake(
        "wan-vace/venv/bin/python",
        r#"
if ARGV[0] == "vace/vace_preproccess.py":
    called("vace-pose")
    expect_cwd(OPT + "/wan-vace/VACE")   # its config names models/VACE-Annotators/... from here
    expect_argv("vace/vace_preproccess.py", "--task", "pose",
        "--video", video_frames("video", 50, 25),
        "--pre_save_dir", at(WORK + "/pose"))
    os.makedirs(ARGV[-1], exist_ok=True)
    # VACE's annotator keeps the video's frames and rate.
    write_video(ARGV[-1] + "/src_video-pose.mp4", 50, 25, (160, 120))
elif ARGV[0] == OPT + "/wan-vace/render-wan-vace.py":
    expect_cwd(WORK)
    run_the_wrapper()
else:
    frames = int(ARGV[ARGV.index("--frame_num") + 1])
    size = ARGV[ARGV.index("--size") + 1]
    called("vace-1.3B %s %d" % (size, frames))
    expect_cwd(WORK)
    expect_argv(
        OPT + "/wan-vace/Wan2.1/generate.py",
        "--task", "vace-1.3B",
        "--size", one_of("832*480", "480*832"),
        "--ckpt_dir", OPT + "/wan-vace/Wan2.1-VACE-1.3B",
        "--offload_model", "True",
        "--t5_cpu",
        "--src_ref_images", png("image", (512, 512)),
        one_of("--prompt=The astronaut waves.", "--prompt=The astronaut nods."),
        "--frame_num", one_of("17", "49"),
        "--sample_steps", "6",
        "--sample_guide_scale", "5",
        "--base_seed", matcher("<seed>", seed),
        "--save_file", at(WORK + "/out.mp4"),
        # the pose video re-timed by the wrapper: frames + 2 at 16 fps, which VACE's
        # _get_frameid_bbox_default reads as exactly `frames` (longer than the pose video:
        # its last frame held)
        "--src_video", video_frames("control", frames + 2, 16),
    )
    if not same_path(GOT["control"], WORK + "/control.mp4"):
        fail("the control video is not in the job's folder")
    width, height = map(int, size.split("*"))
    write_video(ARGV[ARGV.index("--save_file") + 1], frames, 16, (width, height))
"#,
    );
    let run = adapter.build();
    assert_built(
        &adapter,
        &run,
        &["shot wave", "shot nod", "scene demo/hello"],
    );
    let mut calls = adapter.calls();
    calls.sort();
    // One pose video for both shots; 1 s and 3 s at 16 fps are made as 17 and 49 frames.
    assert_eq!(
        calls,
        ["vace-1.3B 480*832 49", "vace-1.3B 832*480 17", "vace-pose"]
    );
    assert!(
        (run.made().iter()).any(|m| m.starts_with("pose vace-pose")),
        "{:?}",
        run.made()
    );
}
