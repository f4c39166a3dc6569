//! Engines: how a stage is done. A stage (`src/stage/`) says what an artifact is made from,
//! what enters its key and how its output is checked; an engine is one way of making it —
//! espeak-ng or a recording for speech, rustface (with the landmark model) for face tracks, the built-in CPU mouth or
//! a TorchScript model for clips, ffmpeg for scenes (and for joining a long line's segments),
//! Rust for cutting a long line's speech at its pauses, Rust itself for captions, and the command engine: any external
//! program declared as `[engines.<name>]` (XTTS, Piper, SadTalker, …).
//!
//! Every engine is plain data (its parameters, serialisable), so a job can be written to a
//! file and run anywhere that mounts the content folder (`render run-job`). Its `run` sees
//! only that data, its [`Task`] (name, key, input objects) and a fresh private folder.
//!
//! **What lives here: engines only.** Each file is one engine, named in the `engines!` list
//! below, and the one place for it; this file holds what they all share (the [`Engine`]
//! trait, [`Task`], the lane call and its tensor files). A helper goes where its users are:
//! - used by one engine alone: in that engine's file, or beside it in a folder of its name
//!   (`ffmpeg/burn.rs`, the burned-in captions drawn by the scene's ffmpeg run);
//! - used by several engines, or by an engine and the model worker: outside `src/engine/`,
//!   where its subject lives — the built-in face's machinery and the face models' image and
//!   audio sides in `src/face/` (rig, warp, visemes, idle motion, mel, facemesh, wav2lip,
//!   quality measures), loudness normalisation in `src/loudness.rs`.
//!
//! So `ls src/engine` lists the engines, and no engine's code imports another engine (a test
//! may borrow one: the built-in face's tests find their portrait's face with rustface's).
//!
//! **Adding an engine**: a file here with a serialisable struct implementing [`Engine`], one
//! line in the `engines!` list below, its choice in `src/plan.rs`, and its tests.

pub mod broll;
pub mod builtin_lipsync;
pub mod captions;
pub mod command;
pub mod episode;
pub mod espeak;
pub mod ffmpeg;
pub mod join;
pub mod openai_speech;
pub mod pauses;
pub mod recording;
pub mod rustface;
pub mod shot_cut;
pub mod silence;
pub mod torchscript;
pub mod tracks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::key::Key;
use crate::loudness;
use crate::stage::lipsync::{self, AvatarFrames, Inputs};
use crate::stage::{face_track, speech};

/// Which executor runs an engine's jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    /// The CPU pool (`--jobs N`).
    Cpu,
    /// The GPU lane, one job at a time, grouped (by model, or by program engine) so each
    /// model loads once per build.
    /// The CPU parts before and after the model still run on the pool.
    Gpu {
        group: String,
        /// What it declares it needs of a card's memory (`vram`), if it says.
        vram: Option<crate::device::Vram>,
    },
}

/// What a job's run hands back.
#[derive(Debug)]
pub enum Step {
    /// The artifact is complete in the job folder.
    Done(Made),
    /// Something must run on the GPU lane; then [`Engine::finish`] completes the artifact.
    Lane(LaneCall),
}

/// What runs on the GPU lane, one at a time, grouped so each group's calls run together:
/// a call into a model (in its worker process), or an external GPU program.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum LaneCall {
    Model(ModelCall),
    Program(ProgramCall),
}

impl LaneCall {
    /// The lane group: the model's name, or the program's engine name.
    pub fn group(&self) -> &str {
        match self {
            LaneCall::Model(call) => &call.model,
            LaneCall::Program(call) => &call.group,
        }
    }
}

/// An external program that needs the GPU to itself (a lip-sync model in its own Python
/// environment, say): one or more runs (a long line's pieces), each without a shell, in its
/// own process group and working folder, with a controlled environment and a deadline. The
/// lane closes any model worker first, so the program has the whole card.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ProgramCall {
    pub group: String,
    pub runs: Vec<crate::process::ProgramRun>,
    /// Each run's deadline.
    pub timeout_seconds: u64,
    pub device: Device,
}

impl ProgramCall {
    /// Runs every run in order, each within its deadline.
    pub fn run(&self, artifact: &str) -> Result<LaneDone> {
        self.run_with(artifact, &self.runs, self.device)
    }

    /// Runs it on a lane: a GPU program (one whose environment names the card it may use)
    /// sees only the lane's card.
    pub fn run_on(&self, artifact: &str, lane: &crate::device::LaneSpec) -> Result<LaneDone> {
        let Some(card) = &lane.card else {
            return self.run(artifact);
        };
        let mut runs = self.runs.clone();
        for run in &mut runs {
            if let Some(visible) = run.env.get_mut("CUDA_VISIBLE_DEVICES") {
                *visible = card.id.clone();
            }
        }
        self.run_with(artifact, &runs, lane.device)
    }

    fn run_with(
        &self,
        artifact: &str,
        runs: &[crate::process::ProgramRun],
        device: Device,
    ) -> Result<LaneDone> {
        let deadline = std::time::Duration::from_secs(self.timeout_seconds);
        for run in runs {
            crate::process::run_program(run, artifact, deadline)?;
        }
        Ok(LaneDone {
            device: device.to_string(),
            precision: "-".into(),
            batch_size: None,
            peak_memory_bytes: None,
        })
    }
}

/// How a finished job describes itself in its record.
#[derive(Debug, Clone)]
pub struct Made {
    /// Files in the job folder that make up the object (paths relative to it).
    pub outputs: Vec<String>,
    pub device: String,
    pub precision: String,
    pub batch_size: Option<usize>,
    pub peak_memory_bytes: Option<u64>,
    /// A published video's loudness, as normalised and measured.
    pub loudness: Option<loudness::Loudness>,
}

impl Made {
    pub fn cpu(outputs: &[&str]) -> Made {
        Made {
            outputs: outputs.iter().map(|o| o.to_string()).collect(),
            device: "cpu".into(),
            precision: "-".into(),
            batch_size: None,
            peak_memory_bytes: None,
            loudness: None,
        }
    }
}

/// One call into a model, as data: what a worker process needs to run it. Tensors travel
/// as files of little-endian f32 in the job folder (the page cache makes this cheap, and a
/// crashed worker leaves nothing half-sent).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelCall {
    /// The model's name (`models/<name>/`), which is also its lane group.
    pub model: String,
    /// The TorchScript file.
    pub file: PathBuf,
    pub device: Device,
    /// The tensor contract, e.g. `wav2lip`.
    pub contract: String,
    pub batch_size: usize,
    /// Items in the batch dimension.
    pub frames: usize,
    /// Input tensors by contract name (`mel`, `faces`).
    pub inputs: BTreeMap<String, PathBuf>,
    /// Where the output tensor goes.
    pub output: PathBuf,
}

/// Writes a tensor as little-endian f32: a lane call's tensor file ([`ModelCall`]), read
/// and written by the model engines and the worker alike.
pub fn write_f32(path: &Path, values: &[f32]) -> Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(|e| Error::io("cannot write", path, e))
}

/// Reads a tensor of exactly `len` little-endian f32 values.
pub fn read_f32(path: &Path, len: usize) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    if bytes.len() != len * 4 {
        return Err(Error::Other(format!(
            "`{}` holds {} bytes, expected {} f32 values",
            path.display(),
            bytes.len(),
            len
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// A model a lane group loads: enough to start its worker before its first call is ready
/// (the lane loads the first model a build needs while the CPU prepares the calls).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelLoad {
    pub model: String,
    pub file: PathBuf,
    pub device: Device,
}

/// What a lane call reports back.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LaneDone {
    pub device: String,
    pub precision: String,
    /// The batch size that fit (halved on out-of-memory), for models.
    pub batch_size: Option<usize>,
    pub peak_memory_bytes: Option<u64>,
}

/// A job as its engine sees it: a name for messages, its key (a stable seed for choices
/// that must depend on nothing but the artifact itself), and its input objects by the
/// names its key spec gives them.
pub struct Task<'a> {
    pub name: &'a str,
    pub key: Key,
    pub inputs: &'a BTreeMap<String, PathBuf>,
}

impl Task<'_> {
    /// A file of the input object called `input`, e.g. `file("speech", "speech.wav")`.
    pub fn file(&self, input: &str, file: &str) -> Result<PathBuf> {
        let dir = self.inputs.get(input).ok_or_else(|| {
            Error::Other(format!(
                "internal error (a bug in render): {} has no input `{input}`",
                self.name
            ))
        })?;
        Ok(dir.join(file))
    }

    /// Line `i`'s speech among the inputs of a job that reads a whole exchange's lines (a
    /// two-person shot's tracks and line clips, `stage/two_shot.rs`).
    pub fn line_speech(&self, i: usize) -> Result<crate::media::Audio> {
        let path = self.file(&crate::stage::two_shot::speech_input(i), speech::OUTPUT)?;
        crate::media::read_wav(&path).map_err(|detail| {
            crate::media::invalid(&format!("the speech of {}", self.name), detail)
        })
    }

    /// What every lip-sync engine starts from: the line's speech, the avatar's face track
    /// and its frames (a clip's inputs).
    pub fn clip_inputs(&self, avatar: &AvatarFrames) -> Result<Inputs> {
        avatar.inputs(
            self.name,
            self.key,
            &self.file(lipsync::SPEECH, speech::OUTPUT)?,
            &self.file(lipsync::FACE_TRACK, face_track::OUTPUT)?,
        )
    }
}

/// One way of making an artifact.
pub trait Engine {
    /// Where its jobs run.
    fn resource(&self) -> Resource {
        Resource::Cpu
    }

    /// The model its lane calls load, if it runs one in a worker.
    fn model_load(&self) -> Option<ModelLoad> {
        None
    }

    /// Makes the artifact (or its part before a model) in `dir`, a fresh private folder.
    fn run(&self, job: &Task, dir: &Path) -> Result<Step>;

    /// Completes the artifact after its lane call.
    fn finish(&self, job: &Task, _dir: &Path, _done: LaneDone) -> Result<Made> {
        Err(Error::Other(format!(
            "internal error (a bug in render): {} has no GPU lane step",
            job.name
        )))
    }
}

/// A boxed engine is its engine: the large jobs (a command engine's, a model's, a scene's
/// mux) are kept boxed in `EngineJob`, so that every line's job is as small as its small
/// engines' (a no-op build plans 22,001 jobs for 10,000 lines, keeps them all and moves
/// each a few times).
impl<T: Engine> Engine for Box<T> {
    fn resource(&self) -> Resource {
        (**self).resource()
    }

    fn model_load(&self) -> Option<ModelLoad> {
        (**self).model_load()
    }

    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        (**self).run(job, dir)
    }

    fn finish(&self, job: &Task, dir: &Path, done: LaneDone) -> Result<Made> {
        (**self).finish(job, dir, done)
    }
}

macro_rules! engines {
    ($($variant:ident($engine:ty) = $name:literal,)*) => {
        /// Every engine, by the name it has in job specs and keys.
        #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
        #[serde(tag = "engine")]
        pub enum EngineJob {
            $(#[serde(rename = $name)] $variant($engine),)*
        }

        impl EngineJob {
            pub fn engine(&self) -> &dyn Engine {
                match self {
                    $(EngineJob::$variant(engine) => engine,)*
                }
            }

            /// The engine's name, as it appears in keys and job specs.
            pub fn name(&self) -> &'static str {
                match self {
                    $(EngineJob::$variant(_) => $name,)*
                }
            }
        }
    };
}

engines! {
    Espeak(espeak::Espeak) = "espeak-ng",
    Recording(recording::Recording) = "recording",
    Rustface(Box<rustface::Rustface>) = "rustface",
    BuiltinLipsync(builtin_lipsync::BuiltinLipsync) = "builtin-lipsync",
    Torchscript(Box<torchscript::Torchscript>) = "torchscript",
    Ffmpeg(Box<ffmpeg::SceneMux>) = "ffmpeg",
    Captions(captions::Captions) = "captions",
    Episode(Box<episode::EpisodeMux>) = "episode",
    Command(Box<command::CommandJob>) = "command",
    Pauses(pauses::Pauses) = "pauses",
    Join(join::Join) = "join",
    BRoll(broll::BRollClip) = "broll",
    Silence(silence::Silence) = "silence",
    Tracks(tracks::Tracks) = "tracks",
    ShotCut(shot_cut::ShotCut) = "shot-cut",
}
