//! Command engines, `[engines.<name>]`: an external program (XTTS, Piper, SadTalker, …,
//! each in its own environment) that makes speech, a cloned voice's conditioning or a
//! lip-synced clip, from an argv template. A content folder declares them in its
//! Renderfile.toml; each machine may declare them in its own engines file
//! (`$RENDER_ENGINES`, else `~/.config/render/engines.toml`), which wins over the folder's
//! table of the same name — where a program is installed belongs to the machine, so a
//! folder that moves between a laptop and a cluster names its engines and each machine
//! says where they live.
//!
//! The argv template's placeholders are parsed and checked here, against the stage's list,
//! so a typo is a diagnostic at load time and not a failed job at night. The engine that
//! runs the program (`engine/command.rs`) expands them with [`expand`].

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::espeak::RawVoice;
use super::openai_speech::{self, OpenaiSpeech, RawServer};
use super::{input_files, paths, SourceFile, Voice, VoiceEngine};
use crate::diagnostic::{list, suggest, ConfigError, Doc, Errors};

/// The keys of [`RawEngine`].
pub(crate) const KEYS: &[&str] = &[
    "stage",
    "program",
    "args",
    "env",
    "timeout",
    "gpu",
    "output",
    "version",
    "hash",
    "vars",
    "conditioning",
    "max_chars",
    "vram",
    "files",
    "seed",
    "audio",
    "kind",
    "url",
    "model",
    "voice",
    "api_key_env",
    "format",
    "sample_rate",
    "reference",
    "server",
    "licence",
    "commercial",
    "max_seconds",
    "continue",
    "frames",
    "max_frames",
];

/// `[engines.<name>]` as written.
#[derive(Deserialize)]
pub(crate) struct RawEngine {
    stage: Spanned<String>,
    program: Option<Spanned<String>>,
    args: Option<Vec<Spanned<String>>>,
    env: Option<BTreeMap<String, String>>,
    timeout: Option<Spanned<i64>>,
    gpu: Option<bool>,
    output: Option<Spanned<String>>,
    version: Option<String>,
    hash: Option<Vec<Spanned<String>>>,
    vars: Option<BTreeMap<Spanned<String>, String>>,
    conditioning: Option<Spanned<String>>,
    max_chars: Option<Spanned<i64>>,
    vram: Option<Spanned<String>>,
    files: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    seed: Option<Spanned<i64>>,
    audio: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    voice: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    sample_rate: Option<Spanned<i64>>,
    reference: Option<Spanned<String>>,
    server: Option<openai_speech::RawServerCommand>,
    licence: Option<String>,
    commercial: Option<bool>,
    max_seconds: Option<Spanned<f64>>,
    #[serde(rename = "continue")]
    continue_from: Option<Spanned<String>>,
    frames: Option<Spanned<String>>,
    max_frames: Option<Spanned<i64>>,
}

/// What a command engine makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// A line's speech WAV.
    Speech,
    /// A cloned voice's conditioning (a folder of files), once per voice.
    Voice,
    /// A line's clip.
    Lipsync,
    /// A generated picture, `[stills.<name>]` (`out.png`).
    Still,
    /// A generated video, `[shots.<name>]` (`out.mp4`).
    Shot,
    /// A pose video extracted from a video, for a pose-guided shot (`out.mp4`).
    Pose,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Speech => "speech",
            Stage::Voice => "voice",
            Stage::Lipsync => "lipsync",
            Stage::Still => "still",
            Stage::Shot => "shot",
            Stage::Pose => "pose",
        }
    }

    /// What it makes, in the user's words.
    pub fn makes(self) -> &'static str {
        match self {
            Stage::Speech => "speech",
            Stage::Voice => "voice conditioning",
            Stage::Lipsync => "lip-sync clips",
            Stage::Still => "stills",
            Stage::Shot => "shots",
            Stage::Pose => "pose videos",
        }
    }

    /// What render sets placeholder `name` to for each run, if it is one of this stage's
    /// (so an engine's `vars` may not use the name: render's value would win).
    pub fn meaning(self, name: &str) -> Option<&'static str> {
        if !self.placeholders().contains(&name) {
            return None;
        }
        Some(match name {
            "engine_dir" => "the folder of the file that declares the engine",
            "device" => "the device the engine runs on (\"cuda\" or \"cpu\")",
            "workdir" => "the run's fresh working folder",
            "out" if self == Stage::Voice => {
                "the folder the program must write the voice's conditioning into"
            }
            "out" => "the file the program must write",
            "text" => "the line's text",
            "text_file" => "a file holding the line's text",
            "language" => "the voice's language",
            "voice" => "the voice's name",
            "conditioning" => "the folder of the voice's conditioning",
            "samples" => "the voice's sample recordings, one argument each",
            "audio" => "the line's speech, a WAV file",
            "image" if self.generates() => "the still's or shot's reference or start picture",
            "image" => "the avatar as a still picture",
            "video" if self == Stage::Pose => "the video the pose is read from",
            "video" => "the avatar as a video",
            "face" => "the avatar's own file",
            "fps" if self == Stage::Shot => "the shot's frame rate",
            "fps" => "the scene's frame rate",
            "seconds" if self == Stage::Shot => "the shot's length in seconds",
            "seconds" => "the length of the line's speech in seconds",
            "frames" if self == Stage::Shot => "the number of frames the shot must have",
            "frames" => "the number of frames of the line's clip",
            "width" if self.generates() => "the width of the picture or video to make",
            "height" if self.generates() => "the height of the picture or video to make",
            "width" => "the width of the avatar's picture",
            "height" => "the height of the avatar's picture",
            "prompt" => "the still's or shot's prompt",
            "negative_prompt" => "the still's or shot's negative prompt (empty when none)",
            "steps" => "the number of denoising steps",
            "guidance" => "the guidance scale",
            "lora_files" => "the LoRA files, one argument each",
            "lora_scales" => "the LoRA scales, one argument each, in the order of `{lora_files}`",
            "pose" => "the pose video the shot follows",
            "audio_1" | "audio_2" => {
                "a two-person shot: that person's audio track, their lines in place and silence elsewhere"
            }
            "box_1" | "box_2" => {
                "a two-person shot: that person's face box in the picture, `x0,y0,x1,y1` pixels"
            }
            "box_1_yx" | "box_2_yx" => {
                "a two-person shot: that person's face box, `y0,x0,y1,x1` (InfiniteTalk's `bbox` order)"
            }
            "seed" => {
                "a seed taken from the job's key (declare `seed = N` on the engine to fix it)"
            }
            _ => "a value render sets for each run",
        })
    }

    /// The placeholders its args may use (besides the engine's `vars`).
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Stage::Speech => &[
                "engine_dir",
                "device",
                "workdir",
                "out",
                "text",
                "text_file",
                "language",
                "voice",
                "conditioning",
                "samples",
                "seed",
            ],
            Stage::Voice => &[
                "engine_dir",
                "device",
                "workdir",
                "out",
                "samples",
                "language",
                "voice",
                "seed",
            ],
            Stage::Lipsync => &[
                "engine_dir",
                "device",
                "workdir",
                "out",
                "audio",
                "image",
                "video",
                "face",
                "fps",
                "seconds",
                "frames",
                "width",
                "height",
                "seed",
                "audio_1",
                "audio_2",
                "box_1",
                "box_2",
                "box_1_yx",
                "box_2_yx",
            ],
            Stage::Still => &STILL,
            Stage::Shot => &SHOT,
            Stage::Pose => &["engine_dir", "device", "workdir", "out", "video", "seed"],
        }
    }

    /// A still or a shot: made from a prompt, declared as `[stills.*]` or `[shots.*]`.
    pub fn generates(self) -> bool {
        matches!(self, Stage::Still | Stage::Shot)
    }

    /// The placeholders that are lists, each item one argument: only whole arguments.
    pub fn is_list(name: &str) -> bool {
        matches!(name, "samples" | "lora_files" | "lora_scales")
    }
}

/// A still's placeholders; a shot's are the same and its motion's.
const STILL: [&str; 14] = [
    "engine_dir",
    "device",
    "workdir",
    "out",
    "prompt",
    "negative_prompt",
    "width",
    "height",
    "steps",
    "guidance",
    "seed",
    "lora_files",
    "lora_scales",
    "image",
];
const SHOT: [&str; 18] = joined(STILL, ["frames", "fps", "seconds", "pose"]);

/// `a` then `b`, at compile time (`C` must be their lengths' sum).
const fn joined<const A: usize, const B: usize, const C: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; C] {
    assert!(A + B == C);
    let mut out = [""; C];
    let mut i = 0;
    while i < C {
        out[i] = if i < A { a[i] } else { b[i - A] };
        i += 1;
    }
    out
}

/// `frames = "4n+1"` on a shot engine: the frame counts the program makes. render rounds
/// a shot's frames (its seconds × fps) up to the nearest count of this form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FrameRule {
    /// Counts are `step × n + offset`, n ≥ 0 (Wan: 4n+1).
    pub step: u32,
    pub offset: u32,
}

impl FrameRule {
    /// "4n+1", "8n", "n+0" → the rule; None when it is not of that form.
    pub fn parse(text: &str) -> Option<FrameRule> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (step, offset) = text.split_once('n')?;
        let step = if step.is_empty() {
            1
        } else {
            step.parse().ok()?
        };
        let offset = match offset {
            "" => 0,
            rest => rest.strip_prefix('+')?.parse().ok()?,
        };
        (step >= 1 && offset < 1_000_000).then_some(FrameRule { step, offset })
    }

    /// The fewest frames of this form that are at least `frames` (and at least one).
    pub fn round_up(self, frames: usize) -> usize {
        let (step, offset) = (self.step as usize, self.offset as usize);
        let wanted = frames.max(1);
        if wanted <= offset.max(1) {
            return if offset >= 1 { offset } else { step };
        }
        offset + (wanted - offset).div_ceil(step) * step
    }
}

impl std::fmt::Display for FrameRule {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.offset {
            0 => write!(f, "{}n", self.step),
            o => write!(f, "{}n+{o}", self.step),
        }
    }
}

/// A declared command engine, resolved.
#[derive(Clone, Debug)]
pub struct CommandEngine {
    pub name: String,
    pub stage: Stage,
    /// Absolute, or a bare name looked up on PATH.
    pub program: PathBuf,
    /// The argv template (after the program).
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub timeout_seconds: u64,
    pub gpu: bool,
    /// `vram = "20G"`: what a `gpu` engine needs of a card's memory, for the lanes' packing.
    pub vram: Option<crate::device::Vram>,
    /// The file the program writes, relative to its working folder; may be a glob.
    pub output: Option<String>,
    pub version: String,
    /// Files whose content enters every key (weights); `rel` is the absolute path.
    pub hash: Vec<SourceFile>,
    pub vars: BTreeMap<String, String>,
    /// Speech engines: the voice-stage engine that conditions a cloned voice.
    pub conditioning: Option<String>,
    /// Speech engines: the longest text one run takes; longer lines are split.
    pub max_chars: Option<usize>,
    /// `[engines.<name>.files]`: input files written for each run from templates, by name.
    pub files: BTreeMap<String, String>,
    /// `seed = N`: the `{seed}` of every run; else it comes from each job's key.
    pub seed: Option<u64>,
    /// `licence = "..."`: the licence of its code and weights, as declared (for
    /// `render engines`; not part of any key).
    pub licence: Option<String>,
    /// `commercial = false`: its licence forbids commercial use.
    pub commercial: Option<bool>,
    /// `kind = "openai-speech"`: a speech server posted each line instead of a program.
    pub openai: Option<OpenaiSpeech>,
    /// `audio = "mux"`: the program's video has no sound of its own, so it may run past the
    /// speech (models that make whole chunks of frames); render cuts it to the speech's frames.
    pub mux: bool,
    /// `max_seconds = N`: a lip-sync engine's longest run; a longer line's speech is cut
    /// at its pauses into segments (`stage/cuts.rs`, `stage/segment.rs`).
    pub max_seconds: Option<f64>,
    /// `continue = "last_frame"`: each segment after a line's first starts from the
    /// previous segment's last frame instead of the avatar.
    pub continue_last_frame: bool,
    /// `frames = "4n+1"`: a shot engine's frame counts; a shot's are rounded up to one.
    pub frames: Option<FrameRule>,
    /// `max_frames = N`: the most frames a shot engine makes in one run.
    pub max_frames: Option<usize>,
    /// Where its `args` (or files) first use `{image}` and `{pose}`: an error there when a
    /// still or shot that uses the engine gives none (`manifest/shots.rs`).
    pub uses_at: BTreeMap<String, ConfigError>,
    /// The file that declared it (for messages).
    pub declared_in: String,
    /// `{engine_dir}`: the folder of that file (where its relative paths start).
    pub engine_dir: PathBuf,
}

impl CommandEngine {
    /// Whether it clones a voice from the voice's `samples`: through its `conditioning`
    /// engine, `{samples}` in its args, or a server that is sent the sample
    /// (`reference = "upload"`).
    pub fn clones(&self) -> bool {
        self.conditioning.is_some()
            || self.uses("samples")
            || self.openai.as_ref().is_some_and(|o| o.upload)
    }

    /// Whether its args use placeholder `name`.
    pub fn uses(&self, name: &str) -> bool {
        uses(&self.args, name)
    }

    /// Whether its args or input files use placeholder `name`.
    pub fn reads(&self, name: &str) -> bool {
        self.uses(name)
            || (self.files.iter()).any(|(file, body)| {
                (super::input_files::slots(body, super::input_files::Format::of(file)).iter())
                    .any(|slot| slot.name == name)
            })
    }

    /// Whether it makes two-person shots: it reads both people's audio.
    pub fn two_people(&self) -> bool {
        self.stage == Stage::Lipsync && self.reads("audio_1") && self.reads("audio_2")
    }
}

/// Where this machine's engines file is: `$RENDER_ENGINES`, else
/// `$XDG_CONFIG_HOME/render/engines.toml`, else `~/.config/render/engines.toml`.
pub fn machine_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RENDER_ENGINES") {
        return Some(PathBuf::from(path));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("render").join("engines.toml"))
}

/// The engine `name` declared in `doc` (whose relative paths are relative to `base`), or
/// None with every problem in `errors`. With it come the reasons it cannot run on this
/// machine (a missing program or weights file), to be reported only if something uses it:
/// a folder may declare engines this machine lacks.
pub(crate) fn engine(
    doc: &Doc,
    base: &Path,
    name: &str,
    mut raw: RawEngine,
    errors: &mut Vec<ConfigError>,
) -> Option<(CommandEngine, Vec<ConfigError>)> {
    let before = errors.len();
    let stage = match raw.stage.get_ref().as_str() {
        "speech" => Some(Stage::Speech),
        "voice" => Some(Stage::Voice),
        "lipsync" => Some(Stage::Lipsync),
        "still" => Some(Stage::Still),
        "shot" => Some(Stage::Shot),
        "pose" => Some(Stage::Pose),
        other => {
            let msg = format!("unknown stage `{other}` in engine `{name}`");
            let help = "an engine makes \"speech\" (a line's WAV), \"voice\" (a cloned voice's conditioning), \"lipsync\" (a line's clip), \"still\" (a picture from a prompt), \"shot\" (a video from a prompt or a picture) or \"pose\" (a pose video read from a video)";
            errors.push(doc.err(raw.stage.span(), msg, "unknown stage", help));
            None
        }
    };
    let openai = server(doc, base, name, stage, &mut raw, errors);
    let vars = raw.vars.unwrap_or_default();
    if let Some(stage) = stage {
        for key in vars.keys() {
            if let Some(meaning) = stage.meaning(key.get_ref()) {
                errors.push(reserved_var(doc, name, stage, key, meaning));
            }
        }
    }
    let vars: BTreeMap<String, String> = (vars.into_iter())
        .map(|(k, v)| (k.into_inner(), v))
        .collect();
    let program = match &raw.program {
        Some(p) if openai.is_some() => {
            let msg = format!(
                "engine `{name}` is a server (kind = \"openai-speech\"): it runs no `program`"
            );
            let help = "remove `program`; render posts each line to the engine's `url`";
            errors.push(doc.err(p.span(), msg, "not used", help));
            ""
        }
        Some(p) => p.get_ref().trim(),
        None if openai.is_some() => "",
        None => {
            let msg = format!("engine `{name}` has no `program`");
            let help = "the program to run: an absolute path, a path relative to this file, or a command on PATH (or `kind = \"openai-speech\"` and a `url` for a speech server)";
            errors.push(doc.err(raw.stage.span(), msg, "no program", help));
            ""
        }
    };
    if let Some(p) = raw
        .program
        .as_ref()
        .filter(|_| program.is_empty() && openai.is_none())
    {
        let msg = format!("empty `program` in engine `{name}`");
        let help = "the program to run: an absolute path, a path relative to this file, or a command on PATH";
        errors.push(doc.err(p.span(), msg, "empty", help));
    }
    let program = if program.contains('/') {
        base.join(program.strip_prefix("./").unwrap_or(program))
    } else {
        PathBuf::from(program)
    };
    let mut missing = Vec::new();
    let env = raw.env.unwrap_or_default();
    let program_span = raw.program.as_ref().map_or(raw.stage.span(), |p| p.span());
    if !program.as_os_str().is_empty() && program.components().count() == 1 {
        // A bare name: looked up now, on the PATH it will run with, so a missing one is
        // reported here at its key rather than by the first job at night. The name is
        // kept (not the path found): a job spec run on another machine looks it up there.
        let path = env
            .get("PATH")
            .cloned()
            .map(OsString::from)
            .or_else(|| std::env::var_os("PATH"));
        let bare = program.to_string_lossy();
        if crate::toolchain::find_on_path(&bare, path.as_deref()).is_none() {
            missing.push(not_on_path(doc, name, bare.trim(), program_span.clone()));
        }
    }
    if program.is_absolute() && !is_executable(&program) {
        let msg = format!(
            "engine `{name}`: its program `{}` is not an executable file on this machine",
            program.display()
        );
        let help = "install the program, or say where it is on this machine in its `program` (a machine's own engines file, ~/.config/render/engines.toml or $RENDER_ENGINES, overrides a folder's)";
        missing.push(doc.err(program_span, msg, "not found", help));
    }
    let raw_files = raw.files.unwrap_or_default();
    let file_names: Vec<String> = raw_files.keys().map(|k| k.get_ref().clone()).collect();
    let known = Known {
        stage: stage.unwrap_or(Stage::Speech),
        vars: &vars,
        files: &file_names,
    };
    let mut uses_at = BTreeMap::new();
    let args: Vec<String> = (raw.args.unwrap_or_default().into_iter())
        .map(|arg| {
            if stage.is_some() {
                check_placeholders(doc, name, &known, &arg, (errors, &mut uses_at));
            }
            arg.into_inner()
        })
        .collect();
    let mut files = BTreeMap::new();
    for (file, body) in raw_files {
        if stage.is_some() {
            check_file(doc, name, &known, &file, &body, errors);
            for input in ["image", "pose"] {
                let written = format!("{{{input}}}");
                if let Some(i) = (doc.text.get(body.span()).unwrap_or("")).find(&written) {
                    let at = body.span().start + i..body.span().start + i + written.len();
                    uses_at.entry(input.to_string()).or_insert(at);
                }
            }
        }
        files.insert(file.into_inner(), body.into_inner());
    }
    let uses_at: BTreeMap<String, ConfigError> = (uses_at.into_iter())
        .map(|(input, at)| {
            let msg = format!("engine `{name}` takes `{{{input}}}`");
            let err = doc.err(at, msg, "used here", "");
            (input, err)
        })
        .collect();
    let (frames, max_frames) =
        shot_frames(doc, name, stage, (&raw.frames, &raw.max_frames), errors);
    let (max_seconds, continue_last_frame) = segmenting(
        doc,
        name,
        stage,
        (&raw.max_seconds, &raw.continue_from),
        errors,
    );
    let seed = raw.seed.and_then(|s| match u32::try_from(*s.get_ref()) {
        Ok(n) => Some(u64::from(n)),
        Err(_) => {
            let msg = format!(
                "`seed` must be between 0 and 4294967295, not {}",
                s.get_ref()
            );
            let help =
                "the `{seed}` of every run; leave it out for a seed taken from each job's key";
            errors.push(doc.err(s.span(), msg, "out of range", help));
            None
        }
    });
    let mux = match raw.audio {
        None => false,
        Some(a) if a.get_ref() == "mux" && stage == Some(Stage::Lipsync) => true,
        Some(a) => {
            let msg = format!(
                "engine `{name}`: `audio` can only be \"mux\", on a lip-sync engine, not \"{}\"",
                a.get_ref()
            );
            let help = "`audio = \"mux\"` says the program's video has no sound of its own: render cuts it to the speech's frames and lays the speech under it";
            errors.push(doc.err(a.span(), msg, "not \"mux\"", help));
            false
        }
    };
    let timeout_seconds = match raw.timeout {
        None => 3600,
        Some(t) if (1..=7 * 24 * 3600).contains(t.get_ref()) => *t.get_ref() as u64,
        Some(t) => {
            let msg = format!(
                "`timeout` must be between 1 and 604800 seconds, not {}",
                t.get_ref()
            );
            let help = "seconds one run of the program may take before render stops it";
            errors.push(doc.err(t.span(), msg, "out of range", help));
            0
        }
    };
    let output = raw.output.and_then(|o| {
        let text = o.get_ref().trim().to_string();
        if text.is_empty() || text.starts_with('/') || text.split('/').any(|p| p == "..") {
            let msg = format!("`output` of engine `{name}` must be a path inside the job's working folder");
            let help = "the file the program writes, relative to its working folder, e.g. \"results/*.mp4\"";
            errors.push(doc.err(o.span(), msg, "not inside the working folder", help));
            None
        } else {
            Some(text)
        }
    });
    let hash = (raw.hash.unwrap_or_default().into_iter())
        .map(|h| {
            let abs = base.join(h.get_ref());
            if !abs.is_file() {
                let msg = format!(
                    "engine `{name}`: `{}` (in `hash`) is not a file on this machine",
                    abs.display()
                );
                let help = "`hash` lists files whose content enters every key, such as the weights; install them or fix the path";
                missing.push(doc.err(h.span(), msg, "not found", help));
            }
            SourceFile {
                rel: abs.to_string_lossy().into_owned(),
                abs,
            }
        })
        .collect();
    let conditioning = raw.conditioning.map(|c| c.into_inner());
    if conditioning.is_some() && stage != Some(Stage::Speech) {
        let msg = format!("`conditioning` is only for speech engines (engine `{name}`)");
        errors.push(ConfigError::in_file(&doc.name, msg));
    }
    let max_chars = raw.max_chars.and_then(|m| match *m.get_ref() {
        n @ 20..=100_000 => Some(n as usize),
        n => {
            let msg = format!("`max_chars` must be between 20 and 100000, not {n}");
            let help = "the longest text one run of the program takes; longer lines are split at sentences";
            errors.push(doc.err(m.span(), msg, "out of range", help));
            None
        }
    });
    if errors.len() > before {
        return None;
    }
    let vram = raw.vram.as_ref().and_then(|v| {
        let parsed = crate::device::parse_size(v.get_ref());
        if parsed.is_none() {
            let msg = format!(
                "engine `{name}`: `vram` must be a size like \"20G\", not `{}`",
                v.get_ref()
            );
            let help = "what the engine needs of a card's memory: \"512M\", \"20G\", \"1.5T\"";
            errors.push(doc.err(v.span(), msg, "not a size", help));
        }
        parsed.map(|bytes| crate::device::Vram {
            bytes,
            file: doc.name.clone(),
            at: (v.span().start, v.span().end),
        })
    });
    let engine = CommandEngine {
        name: name.to_string(),
        stage: stage?,
        program,
        args,
        env,
        timeout_seconds,
        gpu: raw.gpu.unwrap_or(false),
        vram,
        output,
        version: raw.version.unwrap_or_default(),
        hash,
        vars,
        conditioning,
        max_chars,
        files,
        seed,
        mux,
        max_seconds,
        continue_last_frame,
        openai,
        licence: raw.licence,
        commercial: raw.commercial,
        frames,
        max_frames,
        uses_at,
        declared_in: doc.name.clone(),
        engine_dir: base.to_path_buf(),
    };
    Some((engine, missing))
}

/// `frames` and `max_frames`: only on a shot engine.
fn shot_frames(
    doc: &Doc,
    name: &str,
    stage: Option<Stage>,
    (rule, max): (&Option<Spanned<String>>, &Option<Spanned<i64>>),
    errors: &mut Vec<ConfigError>,
) -> (Option<FrameRule>, Option<usize>) {
    let not_shot = |span: Range<usize>, key: &str| {
        let msg = format!("engine `{name}`: `{key}` is only for a shot engine (stage = \"shot\")");
        let help = "`frames = \"4n+1\"` says which frame counts a video model makes, `max_frames` the most it makes in one run";
        doc.err(span, msg, "not a shot engine", help)
    };
    let frames = rule.as_ref().and_then(|r| {
        if stage.is_some_and(|s| s != Stage::Shot) {
            errors.push(not_shot(r.span(), "frames"));
            return None;
        }
        let parsed = FrameRule::parse(r.get_ref());
        if parsed.is_none() {
            let msg = format!(
                "engine `{name}`: `frames` must be a form like \"4n+1\", not \"{}\"",
                r.get_ref()
            );
            let help = "the frame counts the program makes, as step × n + offset: Wan makes 4n+1 frames (81, 121, ...); render rounds each shot's frames up to one of them";
            errors.push(doc.err(r.span(), msg, "not a form", help));
        }
        parsed
    });
    let max_frames = max.as_ref().and_then(|m| {
        if stage.is_some_and(|s| s != Stage::Shot) {
            errors.push(not_shot(m.span(), "max_frames"));
            return None;
        }
        match *m.get_ref() {
            n @ 1..=1_000_000 => Some(n as usize),
            n => {
                let msg = format!("`max_frames` must be between 1 and 1000000, not {n}");
                let help = "the most frames the program makes in one run; a longer shot is a configuration error";
                errors.push(doc.err(m.span(), msg, "out of range", help));
                None
            }
        }
    });
    (frames, max_frames)
}

/// `max_seconds` and `continue`: only on a lip-sync engine, `continue` only with
/// `max_seconds`.
fn segmenting(
    doc: &Doc,
    name: &str,
    stage: Option<Stage>,
    (max, continued): (&Option<Spanned<f64>>, &Option<Spanned<String>>),
    errors: &mut Vec<ConfigError>,
) -> (Option<f64>, bool) {
    let max_seconds = max.as_ref().and_then(|m| {
        let seconds = *m.get_ref();
        if stage != Some(Stage::Lipsync) {
            let msg = format!("engine `{name}`: `max_seconds` is only for a lip-sync engine");
            let help = "the longest speech one run of a lip-sync program takes; a longer line is cut at its pauses into segments";
            errors.push(doc.err(m.span(), msg, "not a lip-sync engine", help));
            None
        } else if !(2.0..=3600.0).contains(&seconds) {
            let msg = format!("`max_seconds` must be between 2 and 3600, not {seconds}");
            let help = "the longest speech one run of the program takes, in seconds; a longer line is cut at its pauses into segments";
            errors.push(doc.err(m.span(), msg, "out of range", help));
            None
        } else {
            Some(seconds)
        }
    });
    let continued = match continued {
        None => false,
        Some(c) if c.get_ref() == "last_frame" && max.is_some() => true,
        Some(c) if c.get_ref() == "last_frame" => {
            let msg = format!("engine `{name}`: `continue` needs `max_seconds`");
            let help = "`continue = \"last_frame\"` starts each segment of a long line from the last frame of the one before; set `max_seconds` to cut lines into segments";
            errors.push(doc.err(c.span(), msg, "no segments", help));
            false
        }
        Some(c) => {
            let msg = format!(
                "engine `{name}`: `continue` can only be \"last_frame\", not \"{}\"",
                c.get_ref()
            );
            let help = "`continue = \"last_frame\"` starts each segment of a long line from the last frame of the one before, instead of the avatar";
            errors.push(doc.err(c.span(), msg, "not \"last_frame\"", help));
            false
        }
    };
    (max_seconds, continued)
}

/// `kind`: None for a program (the default), else the engine's speech server, checked.
fn server(
    doc: &Doc,
    base: &Path,
    name: &str,
    stage: Option<Stage>,
    raw: &mut RawEngine,
    errors: &mut Vec<ConfigError>,
) -> Option<OpenaiSpeech> {
    let server_keys = [
        ("url", raw.url.as_ref().map(|v| v.span())),
        ("model", raw.model.as_ref().map(|v| v.span())),
        ("voice", raw.voice.as_ref().map(|v| v.span())),
        ("api_key_env", raw.api_key_env.as_ref().map(|v| v.span())),
        ("format", raw.format.as_ref().map(|v| v.span())),
        ("sample_rate", raw.sample_rate.as_ref().map(|v| v.span())),
        ("reference", raw.reference.as_ref().map(|v| v.span())),
        ("server", raw.server.as_ref().map(|_| raw.stage.span())),
    ];
    let kind = match &raw.kind {
        None => None,
        Some(k) if k.get_ref() == "program" => None,
        Some(k) if k.get_ref() == "openai-speech" => Some(k),
        Some(k) => {
            let msg = format!("unknown kind `{}` in engine `{name}`", k.get_ref());
            let help = "an engine is a \"program\" (the default) or an \"openai-speech\" server";
            errors.push(doc.err(k.span(), msg, "unknown kind", help));
            return None;
        }
    };
    let Some(kind) = kind else {
        for (key, span) in server_keys {
            if let Some(span) = span {
                let msg =
                    format!("`{key}` is only for a speech server (engine `{name}` runs a program)");
                let help =
                    "add `kind = \"openai-speech\"` to post each line to a server, or remove it";
                errors.push(doc.err(span, msg, "not used", help));
            }
        }
        return None;
    };
    if stage != Some(Stage::Speech) {
        let msg = format!("engine `{name}`: kind = \"openai-speech\" makes speech, so its stage must be \"speech\"");
        errors.push(doc.err(
            kind.span(),
            msg,
            "not a speech engine",
            "set stage = \"speech\"",
        ));
        return None;
    }
    for (key, span) in [
        (
            "args",
            raw.args.as_ref().and_then(|a| a.first()).map(|a| a.span()),
        ),
        ("output", raw.output.as_ref().map(|o| o.span())),
        ("conditioning", raw.conditioning.as_ref().map(|c| c.span())),
    ] {
        if let Some(span) = span {
            let msg = format!("`{key}` is for programs; engine `{name}` is a speech server");
            let help = "a server gets each line's text as JSON: `model`, `voice` and `format` say what to ask it for";
            errors.push(doc.err(span, msg, "not used", help));
        }
    }
    let raw = RawServer {
        url: &raw.url,
        model: &raw.model,
        voice: &raw.voice,
        api_key_env: &raw.api_key_env,
        format: &raw.format,
        sample_rate: &raw.sample_rate,
        reference: &raw.reference,
        server: raw.server.take(),
        base,
    };
    openai_speech::server(doc, name, raw, kind.span(), errors)
}

fn speech_engines(engines: &BTreeMap<String, CommandEngine>) -> Vec<&str> {
    std::iter::once("espeak")
        .chain((engines.values().filter(|e| e.stage == Stage::Speech)).map(|e| e.name.as_str()))
        .collect()
}

/// A voice names an engine that is neither espeak nor declared.
pub(crate) fn unknown_engine(
    doc: &Doc,
    name: &Spanned<String>,
    engines: &BTreeMap<String, CommandEngine>,
) -> ConfigError {
    let speech_engines = speech_engines(engines);
    let message = format!("unknown voice engine `{}`", name.get_ref());
    let hint = format!(
        "voice engines here are {}; declare others as [engines.<name>] with stage = \"speech\"",
        list(&speech_engines)
    );
    let help = suggest(name.get_ref(), &speech_engines, || hint.clone());
    doc.err(name.span(), message, "unknown engine", help)
}

/// A voice whose `engine` is a command engine (`raw.engine`, not "espeak"), or None with
/// every problem in `errors`.
pub(crate) fn voice(
    doc: &Doc,
    root: &Path,
    name: &str,
    raw: RawVoice,
    engines: &BTreeMap<String, CommandEngine>,
    errors: &mut Vec<ConfigError>,
) -> Option<Voice> {
    let before = errors.len();
    let engine_name = raw.engine.as_ref()?;
    let speech_engines = speech_engines(engines);
    let Some(engine) = engines.get(engine_name.get_ref()) else {
        errors.push(unknown_engine(doc, engine_name, engines));
        return None;
    };
    if engine.stage != Stage::Speech {
        let message = format!(
            "engine `{}` makes {}, not speech",
            engine.name,
            engine.stage.makes()
        );
        let help = format!(
            "a voice's engine must be a speech engine: {}",
            list(&speech_engines)
        );
        errors.push(doc.err(engine_name.span(), message, "not a speech engine", help));
    }
    for (key, span) in raw.espeak_keys() {
        let message = format!(
            "`{key}` is an espeak-ng setting; engine `{}` does not use it",
            engine.name
        );
        let help = "remove it, or pass the engine its own settings through its `args` or `vars`";
        errors.push(doc.err(span, message, "not used", help));
    }
    let language = raw
        .language
        .as_ref()
        .map_or("en", |l| l.get_ref().trim())
        .to_string();
    let samples: Vec<SourceFile> = (raw.samples.iter().flat_map(|s| s.get_ref()))
        .filter_map(|s| errors.keep(paths::file(doc, root, s, None)))
        .collect();
    let clones = engine.clones();
    let span = raw
        .samples
        .as_ref()
        .map_or(engine_name.span(), |s| s.span());
    if clones && samples.is_empty() && errors.len() == before {
        let message = format!(
            "voice `{name}` has no `samples`, which engine `{}` clones a voice from",
            engine.name
        );
        let help =
            "add `samples = [\"voices/<name>/1.wav\", ...]`: 6 to 30 s recordings of the person";
        errors.push(doc.err(span, message, "no samples", help));
    } else if !clones && !samples.is_empty() {
        let message = format!(
            "voice `{name}` gives `samples` but engine `{}` does not use them",
            engine.name
        );
        let help = "an engine clones voices when it has a `conditioning` engine, `{samples}` in its args, or `reference = \"upload\"` (a speech server)";
        errors.push(doc.err(span, message, "not used", help));
    } else if engine.openai.as_ref().is_some_and(|o| o.upload) && samples.len() > 1 {
        let message = format!(
            "voice `{name}` gives {} `samples`, but engine `{}` uploads one reference clip with each line",
            samples.len(),
            engine.name
        );
        let help = "keep one clip of the person, about 10 s, in `samples`";
        errors.push(doc.err(span, message, "one sample", help));
    }
    if let Some(conditioning) = &engine.conditioning {
        if engines
            .get(conditioning)
            .is_none_or(|c| c.stage != Stage::Voice)
        {
            let message = format!(
                "engine `{}` names `conditioning = \"{conditioning}\"`, which is not an engine with stage = \"voice\"",
                engine.name
            );
            let help = format!(
                "declare [engines.{conditioning}] with stage = \"voice\" (in {})",
                engine.declared_in
            );
            errors.push(doc.err(engine_name.span(), message, "cannot clone", help));
        }
    }
    (errors.len() == before).then(|| Voice {
        name: name.to_string(),
        engine: VoiceEngine::Command {
            engine: engine.name.clone(),
            language,
            samples,
        },
        avatar: raw.avatar.map(toml::Spanned::into_inner),
    })
}

/// "`out` in the `vars` of engine `x` is reserved" at the key.
fn reserved_var(
    doc: &Doc,
    engine: &str,
    stage: Stage,
    key: &Spanned<String>,
    meaning: &str,
) -> ConfigError {
    let var = key.get_ref();
    let message = format!(
        "`{var}` in the `vars` of engine `{engine}` is reserved: render sets `{{{var}}}` to {meaning}"
    );
    let help = format!(
        "a {} engine's `vars` may not use the names render sets; rename it (e.g. `my_{var}`) and write `{{my_{var}}}` in `args`",
        stage.as_str()
    );
    doc.err(key.span(), message, "reserved", help)
}

/// "engine `x`: its program `y` is not on PATH", at `program`.
fn not_on_path(doc: &Doc, engine: &str, bare: &str, span: Range<usize>) -> ConfigError {
    let message = format!("engine `{engine}`: its program `{bare}` is not on PATH on this machine");
    let install = match crate::process::package_of(bare) {
        Some(package) => format!("install it (`sudo apt install {package}` on Debian and Ubuntu)"),
        None => "install it".to_string(),
    };
    let help = format!(
        "{install}, or write its full path in `program` (a machine's own engines file, ~/.config/render/engines.toml or $RENDER_ENGINES, overrides a folder's)"
    );
    doc.err(span, message, "not found", help)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    crate::noop_stamp::consulted(path);
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What an engine's templates may name: its stage's placeholders, its `vars` and its
/// input files (`{file:<name>}`).
struct Known<'a> {
    stage: Stage,
    vars: &'a BTreeMap<String, String>,
    files: &'a [String],
}

impl Known<'_> {
    fn contains(&self, name: &str) -> bool {
        match name.strip_prefix("file:") {
            Some(file) => self.files.iter().any(|f| f == file),
            None => self.stage.placeholders().contains(&name) || self.vars.contains_key(name),
        }
    }

    /// "unknown placeholder `{x}` in engine `e`" with the list of those it may use.
    fn unknown(&self, doc: &Doc, engine: &str, name: &str, at: Range<usize>) -> ConfigError {
        let mut valid: Vec<String> = (self.stage.placeholders().iter())
            .map(|p| format!("{{{p}}}"))
            .collect();
        valid.extend(self.vars.keys().map(|v| format!("{{{v}}}")));
        valid.extend(self.files.iter().map(|f| format!("{{file:{f}}}")));
        let msg = format!("unknown placeholder `{{{name}}}` in engine `{engine}`");
        let help = format!(
            "a {} engine's args and files may use {} (and a key of its `vars`)",
            self.stage.as_str(),
            list(&valid)
        );
        doc.err(at, msg, "unknown placeholder", help)
    }
}

/// Checks one argument's placeholders against the stage's list and the engine's vars.
fn check_placeholders(
    doc: &Doc,
    engine: &str,
    known: &Known,
    arg: &Spanned<String>,
    (errors, uses_at): (&mut Vec<ConfigError>, &mut BTreeMap<String, Range<usize>>),
) {
    let span = arg.span();
    // The span of the string's text, after its opening quote.
    let at = |r: Range<usize>| span.start + 1 + r.start..span.start + 1 + r.end;
    match parse(arg.get_ref()) {
        Err((r, problem)) => {
            let help = "write `{name}` for a placeholder and `{{` or `}}` for a literal brace";
            errors.push(doc.err(at(r), problem, "here", help));
        }
        Ok(parts) => {
            let whole = parts.len() == 1;
            for part in parts {
                let Part::Placeholder(name, r) = part else {
                    continue;
                };
                if !known.contains(&name) {
                    errors.push(known.unknown(doc, engine, &name, at(r)));
                } else if Stage::is_list(&name) && !whole {
                    let msg = format!("`{{{name}}}` must be a whole argument");
                    let help = match name.as_str() {
                        "samples" => "it expands to one argument per sample, e.g. args = [\"--speaker_wav\", \"{samples}\"]".to_string(),
                        _ => format!("it expands to one argument per item, e.g. args = [\"--lora\", \"{{{name}}}\"]"),
                    };
                    errors.push(doc.err(at(r), msg, "inside a longer argument", help));
                } else if matches!(name.as_str(), "image" | "pose") {
                    uses_at.entry(name.clone()).or_insert_with(|| at(r));
                }
            }
        }
    }
}

/// Checks an input file's name and its template's placeholders: known, and where the
/// file's format can quote them.
fn check_file(
    doc: &Doc,
    engine: &str,
    known: &Known,
    file: &Spanned<String>,
    body: &Spanned<String>,
    errors: &mut Vec<ConfigError>,
) {
    if !input_files::is_file_name(file.get_ref()) {
        let msg = format!(
            "`{}` in `[engines.{engine}.files]` is not a file name",
            file.get_ref()
        );
        let help = "one name of letters, digits, `_`, `-` and `.`, such as \"input.json\": the file is written in the run's own folder";
        errors.push(doc.err(file.span(), msg, "not a file name", help));
    }
    let format = input_files::Format::of(file.get_ref());
    let span = body.span();
    let source = doc.text.get(span.clone()).unwrap_or("");
    for slot in input_files::slots(body.get_ref(), format) {
        // Where the placeholder is written in the TOML (escapes in the string may move it).
        let written = format!("{{{}}}", slot.name);
        let at = source.find(&written).map_or(span.clone(), |i| {
            span.start + i..span.start + i + written.len()
        });
        if !known.contains(&slot.name) {
            errors.push(known.unknown(doc, engine, &slot.name, at));
        } else if Stage::is_list(&slot.name) {
            let msg = format!(
                "`{{{}}}` is a list: it may only be a whole argument in `args`",
                slot.name
            );
            let help = "give a file the one sample it needs through `args`, or write a wrapper";
            errors.push(doc.err(at, msg, "a list", help));
        } else if let Some(msg) = input_files::misplaced(&slot, format) {
            let help = "write it inside quotes, e.g. \"audio\": \"{audio}\": render escapes the value for the string, so a path with a quote or a line break stays one value";
            errors.push(doc.err(at, msg, "not in a string", help));
        }
    }
}

/// Whether an argv template uses placeholder `name` (a literal `{{name}}` does not count).
pub fn uses(args: &[String], name: &str) -> bool {
    args.iter().any(|arg| {
        parse(arg).is_ok_and(|parts| {
            (parts.iter()).any(|p| matches!(p, Part::Placeholder(n, _) if n == name))
        })
    })
}

/// A piece of an argument template.
#[derive(Debug, PartialEq)]
pub enum Part {
    Text(String),
    /// The name and its byte range (braces included) in the argument.
    Placeholder(String, Range<usize>),
}

/// Splits an argument into text and `{name}` placeholders; `{{` and `}}` are literal braces.
pub fn parse(arg: &str) -> Result<Vec<Part>, (Range<usize>, String)> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = arg.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek().is_some_and(|&(_, n)| n == '}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let Some(end) = arg[i..].find('}').map(|e| i + e) else {
                    return Err((i..arg.len(), "unclosed `{` in an argument".into()));
                };
                let name = &arg[i + 1..end];
                if !super::input_files::is_name(name) {
                    return Err((i..end + 1, format!("`{{{name}}}` is not a placeholder")));
                }
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Placeholder(name.to_string(), i..end + 1));
                while chars.peek().is_some_and(|&(j, _)| j <= end) {
                    chars.next();
                }
            }
            '}' => return Err((i..i + 1, "a lone `}` in an argument".into())),
            c => text.push(c),
        }
    }
    if !text.is_empty() || parts.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// Expands an argv template: each placeholder by its value; an argument that is exactly a
/// list placeholder (`{samples}`) becomes one argument per item. The template was checked
/// at load time, so every placeholder has a value.
pub fn expand(
    args: &[String],
    values: &BTreeMap<String, String>,
    lists: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for arg in args {
        let parts = parse(arg).unwrap_or_default();
        if let [Part::Placeholder(name, _)] = parts.as_slice() {
            if let Some(items) = lists.get(name) {
                out.extend(items.iter().cloned());
                continue;
            }
        }
        let mut expanded = String::new();
        for part in parts {
            match part {
                Part::Text(t) => expanded.push_str(&t),
                Part::Placeholder(name, _) => {
                    expanded.push_str(values.get(&name).map_or("", |v| v.as_str()))
                }
            }
        }
        out.push(expanded);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn placeholders_expand_and_braces_escape() {
        let args: Vec<String> = [
            "--text",
            "{text}",
            "{{literal}}",
            "--out={out}",
            "{samples}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let values = map(&[("text", "Hi {there}"), ("out", "/w/out.wav")]);
        let lists = BTreeMap::from([("samples".to_string(), vec!["a.wav".into(), "b.wav".into()])]);
        assert_eq!(
            expand(&args, &values, &lists),
            [
                "--text",
                "Hi {there}",
                "{literal}",
                "--out=/w/out.wav",
                "a.wav",
                "b.wav"
            ]
        );
    }

    #[test]
    fn frame_forms_round_up_to_the_next_count_of_their_form() {
        let wan = FrameRule::parse("4n+1").unwrap();
        assert_eq!(wan, FrameRule { step: 4, offset: 1 });
        assert_eq!(wan.to_string(), "4n+1");
        let rounded: Vec<usize> = [1, 2, 5, 24, 80, 81, 82].map(|f| wan.round_up(f)).to_vec();
        assert_eq!(rounded, [1, 5, 5, 25, 81, 81, 85]);
        let eight = FrameRule::parse("8n").unwrap();
        assert_eq!([1, 8, 9].map(|f| eight.round_up(f)), [8, 8, 16]);
        assert_eq!(
            FrameRule::parse(" n + 0 "),
            Some(FrameRule { step: 1, offset: 0 })
        );
        for bad in ["4n-1", "n4", "4", "0n+1", "4n+x", ""] {
            assert_eq!(FrameRule::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_templates_say_where() {
        assert_eq!(
            parse("a{b").unwrap_err(),
            (1..3, "unclosed `{` in an argument".into())
        );
        assert_eq!(
            parse("x}").unwrap_err(),
            (1..2, "a lone `}` in an argument".into())
        );
        assert_eq!(
            parse("{a b}").unwrap_err(),
            (0..5, "`{a b}` is not a placeholder".into())
        );
    }
}
