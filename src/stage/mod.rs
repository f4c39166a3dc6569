//! Stages: one file per artifact kind, each telling its whole story — which inputs it
//! reads, what goes into its key, how it runs, and how its output is checked before it may
//! enter the cache.

pub mod face_track;
pub mod lipsync;
pub mod scene;
pub mod speech;

use std::path::{Path, PathBuf};

use crate::cache::Cache;
use crate::engine::torch::LoadedModel;
use crate::error::Result;
use crate::key::{ArtifactKind, Key, KeySpec};

/// One artifact to make (or reuse): a node of the build graph.
#[derive(Debug)]
pub struct Node {
    /// How users see it in logs and plans, e.g. `clip demo/welcome:2`.
    pub name: String,
    pub spec: KeySpec,
    pub key: Key,
    /// Indices of the nodes whose outputs this one reads.
    pub deps: Vec<usize>,
    pub job: Job,
    /// Where the finished artifact is published (scenes: `out/<project>/<scene>.mp4`;
    /// more than one when two scenes render to the same bytes).
    pub publish: Vec<PathBuf>,
}

impl Node {
    pub fn kind(&self) -> ArtifactKind {
        self.spec.kind
    }
}

#[derive(Debug)]
pub enum Job {
    Speech(speech::SpeechJob),
    FaceTrack(face_track::FaceTrackJob),
    Clip(lipsync::ClipJob),
    Scene(scene::SceneJob),
}

/// How a finished job describes itself in its record.
#[derive(Debug)]
pub struct Made {
    /// Files in the job folder that make up the object.
    pub outputs: Vec<&'static str>,
    pub device: String,
    pub precision: String,
    pub batch_size: Option<usize>,
    pub peak_memory_bytes: Option<u64>,
}

impl Made {
    pub fn cpu(outputs: Vec<&'static str>) -> Made {
        Made {
            outputs,
            device: "cpu".into(),
            precision: "-".into(),
            batch_size: None,
            peak_memory_bytes: None,
        }
    }
}

/// What a job's run hands back: a finished artifact, or the GPU part of one for the lane.
pub enum Ran {
    Made(Made),
    Gpu(GpuWork),
}

/// The CPU work after a model ran: paste, encode, check.
pub type FinishMade = Box<dyn FnOnce() -> Result<Made> + Send>;
/// The model's part of a job, run on the GPU lane.
pub type InferMade = Box<dyn FnOnce(&LoadedModel) -> Result<FinishMade> + Send>;

/// The part of a job that needs a model: runs on the GPU lane with the model loaded, and
/// hands back the CPU work that finishes the artifact.
pub struct GpuWork {
    pub model: String,
    pub file: PathBuf,
    pub infer: InferMade,
}

/// What every job can see while it runs.
pub struct Context<'a> {
    /// Where the inputs' objects are.
    pub cache: &'a Cache,
}

impl Job {
    /// Runs the job in `dir` (a private folder under cache/tmp) and checks its output.
    pub fn run(&self, node: &Node, ctx: &Context, dir: &Path) -> Result<Ran> {
        match self {
            Job::Speech(job) => job.run(node, dir).map(Ran::Made),
            Job::FaceTrack(job) => job.run(node, dir).map(Ran::Made),
            Job::Clip(job) => job.run(node, ctx, dir),
            Job::Scene(job) => job.run(node, ctx, dir).map(Ran::Made),
        }
    }

    /// The model this job needs on the GPU lane, if any.
    pub fn gpu_model(&self) -> Option<&str> {
        match self {
            Job::Clip(job) => job.model.as_ref().map(|m| m.model.name.as_str()),
            _ => None,
        }
    }

    /// The file users care about, for `out/` and `--json`.
    pub fn main_output(&self) -> &'static str {
        match self {
            Job::Speech(_) => speech::OUTPUT,
            Job::FaceTrack(_) => face_track::OUTPUT,
            Job::Clip(_) => lipsync::OUTPUT,
            Job::Scene(_) => scene::OUTPUT,
        }
    }
}
