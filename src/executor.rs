//! Executors run jobs; the scheduler only decides readiness, order and failure (ninja's
//! `CommandRunner` seam). A job runs in up to three parts: its engine's `run` in a fresh
//! private folder under `cache/tmp/`; for a model engine, the model call on the GPU lane
//! (in a worker process); then the engine's `finish`. The last part commits the folder
//! into the cache through the cache module, or removes it on failure, so a failed or
//! interrupted job leaves nothing behind.
//!
//! Executors today: the local CPU pool (these functions, on rayon threads), the GPU lane
//! (`gpu_lane.rs`), and [`run_here`], which runs a whole job in this process — what
//! `render run-job SPEC` does, and what a cluster executor would run on another machine.

use std::path::PathBuf;
use std::time::Instant;

use crate::cache::Record;
use crate::engine::{Made, ModelCall, ModelDone, Step};
use crate::error::{Error, Result};
use crate::job::Job;
use crate::worker::Worker;

/// Where a job stands after its first part.
#[derive(Debug)]
pub enum Started {
    /// The object is in the cache.
    Committed,
    /// The model must run; then [`finish`] with the same folder.
    NeedsModel(Pending),
}

/// A job waiting for its model call.
#[derive(Debug)]
pub struct Pending {
    pub call: ModelCall,
    pub dir: PathBuf,
    pub started: Instant,
}

/// Runs a job's first part; a job without a model is committed at once.
pub fn start(job: &Job) -> Result<Started> {
    let started = Instant::now();
    let cache = job.cache();
    let dir = cache.job_dir(&job.key)?;
    let step = crate::process::contained(|| job.work.engine().run(job, &dir));
    match step {
        Ok(Step::Done(made)) => commit(job, dir, made, started).map(|()| Started::Committed),
        Ok(Step::Model(call)) => Ok(Started::NeedsModel(Pending { call, dir, started })),
        Err(error) => {
            discard(&dir);
            Err(error)
        }
    }
}

/// Runs a job's last part after its model call, and commits it.
pub fn finish(job: &Job, pending: Pending, model: Result<ModelDone>) -> Result<()> {
    let Pending { dir, started, .. } = pending;
    let made = model
        .and_then(|model| crate::process::contained(|| job.work.engine().finish(job, &dir, model)));
    match made {
        Ok(made) => commit(job, dir, made, started),
        Err(error) => {
            discard(&dir);
            Err(error)
        }
    }
}

/// Throws away a job's folder (a model call that will never run).
pub fn abandon(pending: Pending) {
    discard(&pending.dir);
}

/// Runs a whole job here, starting a worker for its model call if it has one. Returns
/// false when its object was already in the cache.
pub fn run_here(job: &Job) -> Result<bool> {
    let cache = job.cache();
    if cache.has(&job.key) {
        return Ok(false);
    }
    cache.prepare()?;
    for (name, dir) in &job.inputs {
        if !dir.join(crate::cache::RECORD).is_file() {
            return Err(Error::Other(format!(
                "{}: its input `{name}` is not in the cache (`{}`); run that job first",
                job.name,
                dir.display()
            )));
        }
    }
    match start(job)? {
        Started::Committed => Ok(true),
        Started::NeedsModel(pending) => {
            let model = Worker::start(&pending.call.model, &pending.call.file, pending.call.device)
                .and_then(|mut worker| {
                    let done = worker.run(&pending.call);
                    worker.stop();
                    done
                });
            finish(job, pending, model).map(|()| true)
        }
    }
}

fn commit(job: &Job, dir: PathBuf, made: Made, started: Instant) -> Result<()> {
    let record = Record {
        name: job.name.clone(),
        key: job.key,
        spec: job.spec.clone(),
        outputs: Vec::new(),
        tool: format!("render {}", env!("CARGO_PKG_VERSION")),
        device: made.device,
        precision: made.precision,
        seconds: started.elapsed().as_secs_f64(),
        batch_size: made.batch_size,
        peak_memory_bytes: made.peak_memory_bytes,
    };
    job.cache()
        .commit(&dir, record, &made.outputs)
        .map(|_| ())
        .inspect_err(|_| discard(&dir))
}

fn discard(dir: &std::path::Path) {
    let _ = std::fs::remove_dir_all(dir);
}
