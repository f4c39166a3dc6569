//! A job is data: the artifact's name, its key spec, the engine that makes it with all of
//! its parameters, the paths of its input objects and the cache they live in. Nothing in a
//! job refers to memory of the process that planned it, so any executor can run it from
//! its spec alone — the local CPU pool, the GPU lane, or `render run-job SPEC` on another
//! machine that mounts the content folder at the same path (a cluster executor's unit).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::engine::{EngineJob, Resource, Task};
use crate::error::{Error, Result};
use crate::key::{ArtifactKind, Key, KeySpec};

#[derive(Clone, Debug, Deserialize)]
#[serde(from = "JobFile")]
pub struct Job {
    /// How users see it in logs and plans, e.g. `clip demo/welcome:2`.
    pub name: String,
    /// The object it makes: `spec.key()`.
    pub key: Key,
    /// Everything the artifact's bytes depend on (stored in the object's record).
    pub spec: KeySpec,
    /// The engine that makes it, with its parameters.
    pub work: EngineJob,
    /// Input objects by the names the key spec gives them (`speech`, `line0001.clip`, …):
    /// worked out from the spec on first need (`Job::inputs`), so planning a build that
    /// makes nothing builds no paths.
    inputs: OnceLock<BTreeMap<String, PathBuf>>,
    /// The cache folder: where the inputs are and where the object goes (one path, shared
    /// by every job of a graph).
    pub cache: Arc<Path>,
}

/// A job as a job spec file holds it (what `render run-job` reads; `Job` writes the same
/// fields).
#[derive(Deserialize)]
struct JobFile {
    name: String,
    key: Key,
    spec: KeySpec,
    work: EngineJob,
    inputs: BTreeMap<String, PathBuf>,
    cache: PathBuf,
}

impl From<JobFile> for Job {
    fn from(file: JobFile) -> Job {
        Job {
            name: file.name,
            key: file.key,
            spec: file.spec,
            work: file.work,
            inputs: OnceLock::from(file.inputs),
            cache: file.cache.into(),
        }
    }
}

impl Serialize for Job {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Fields<'a> {
            name: &'a str,
            key: Key,
            spec: &'a KeySpec,
            work: &'a EngineJob,
            inputs: &'a BTreeMap<String, PathBuf>,
            cache: &'a Path,
        }
        Fields {
            name: &self.name,
            key: self.key,
            spec: &self.spec,
            work: &self.work,
            inputs: self.inputs(),
            cache: &self.cache,
        }
        .serialize(s)
    }
}

impl PartialEq for Job {
    fn eq(&self, other: &Job) -> bool {
        (self.name == other.name && self.key == other.key && self.spec == other.spec)
            && (self.work == other.work && self.cache == other.cache)
            && self.inputs() == other.inputs()
    }
}

impl Job {
    /// A job for `spec`; its inputs are the objects the spec names, in the cache folder
    /// `cache` (`Cache::dir`).
    pub fn new(name: String, spec: KeySpec, work: EngineJob, cache: Arc<Path>) -> Job {
        Job {
            name,
            key: spec.key(),
            inputs: OnceLock::new(),
            spec,
            work,
            cache,
        }
    }

    /// Input objects by the names the key spec gives them.
    pub fn inputs(&self) -> &BTreeMap<String, PathBuf> {
        (self.inputs).get_or_init(|| input_objects(&self.spec, &self.cache()))
    }

    pub fn kind(&self) -> ArtifactKind {
        self.spec.kind
    }

    pub fn cache(&self) -> Cache {
        Cache::at(&self.cache)
    }

    /// The job as its engine sees it.
    pub fn task(&self) -> Task<'_> {
        Task {
            name: &self.name,
            key: self.key,
            inputs: self.inputs(),
        }
    }

    pub fn resource(&self) -> Resource {
        self.work.engine().resource()
    }

    /// The model its lane call loads, if any (to load it before the call is ready).
    pub fn model_load(&self) -> Option<crate::engine::ModelLoad> {
        self.work.engine().model_load()
    }

    /// The lane group this job joins (its model, say), if it needs a GPU.
    pub fn lane_group(&self) -> Option<String> {
        match self.resource() {
            Resource::Gpu { group, .. } => Some(group),
            Resource::Cpu => None,
        }
    }

    /// What its lane group declares it needs of a card's memory.
    pub fn vram(&self) -> Option<crate::device::Vram> {
        match self.resource() {
            Resource::Gpu { vram, .. } => vram,
            Resource::Cpu => None,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("jobs serialise")
    }

    /// Reads a job spec file, checking that it describes the object it claims to.
    pub fn read(path: &Path) -> Result<Job> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        let job: Job = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Other(format!(
                "`{}` is not a render job spec: {e}",
                path.display()
            ))
        })?;
        if job.spec.key() != job.key {
            return Err(Error::Other(format!(
                "`{}` is not a valid job spec: its key does not match its key spec",
                path.display()
            )));
        }
        if Some(&input_objects(&job.spec, &job.cache())) != job.inputs.get() {
            return Err(Error::Other(format!(
                "`{}` is not a valid job spec: its inputs are not the objects its key spec names",
                path.display()
            )));
        }
        Ok(job)
    }
}

/// The folders of the objects a key spec names as inputs, by their names in the spec.
fn input_objects(spec: &KeySpec, cache: &Cache) -> BTreeMap<String, PathBuf> {
    (spec.inputs.iter())
        .map(|(name, key)| (name.to_string(), cache.object_dir(key)))
        .collect()
}
