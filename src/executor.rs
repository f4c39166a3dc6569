//! Executors run jobs; the scheduler only decides readiness, order and failure (ninja's
//! `CommandRunner` seam). A job runs in up to three parts: its engine's `run` in a fresh
//! private folder under `cache/tmp/`; for a GPU engine, its lane call on the GPU lane (a
//! model call in a worker process, or an external program); then the engine's `finish`.
//! The last part commits the folder into the cache through the cache module, or removes it
//! on failure, so a failed or interrupted job leaves nothing behind.
//!
//! Executors today: the local CPU pool (these functions, on rayon threads), the GPU lane
//! (`gpu_lane.rs`), and [`run_here`], which runs a whole job in this process — what
//! `render run-job SPEC` does, and what a cluster executor would run on another machine.

use std::path::PathBuf;
use std::time::Instant;

use crate::cache::Record;
use crate::engine::{LaneCall, LaneDone, Made, Step};
use crate::error::{Error, Result};
use crate::job::Job;
use crate::worker::Worker;

/// Where a job stands after its first part.
#[derive(Debug)]
pub enum Started {
    /// The object is in the cache.
    Committed,
    /// Its lane call must run; then [`finish`] with the same folder.
    NeedsLane(Pending),
}

/// A job waiting for its lane call.
#[derive(Debug)]
pub struct Pending {
    pub call: LaneCall,
    pub dir: PathBuf,
    pub started: Instant,
}

/// Runs a job's first part; a job with no lane call is committed at once.
pub fn start(job: &Job) -> Result<Started> {
    let started = Instant::now();
    let cache = job.cache();
    let dir = cache.job_dir(&job.key)?;
    let step = crate::process::contained(|| job.work.engine().run(&job.task(), &dir));
    match step {
        Ok(Step::Done(made)) => commit(job, dir, made, started).map(|()| Started::Committed),
        Ok(Step::Lane(call)) => Ok(Started::NeedsLane(Pending { call, dir, started })),
        Err(error) => {
            discard(&dir);
            Err(error.on_disk(&cache.dir))
        }
    }
}

/// Runs a job's last part after its lane call, and commits it.
pub fn finish(job: &Job, pending: Pending, lane: Result<LaneDone>) -> Result<()> {
    let Pending { dir, started, .. } = pending;
    let made = lane.and_then(|done| {
        crate::process::contained(|| job.work.engine().finish(&job.task(), &dir, done))
    });
    match made {
        Ok(made) => commit(job, dir, made, started),
        Err(error) => {
            discard(&dir);
            Err(error.on_disk(&job.cache().dir))
        }
    }
}

/// Runs a whole job here, its lane call included (starting a worker for a model call).
/// Returns false when its object was already in the cache.
pub fn run_here(job: &Job) -> Result<bool> {
    let cache = job.cache();
    match cache.check(&job.key) {
        crate::cache::Check::Intact => return Ok(false),
        crate::cache::Check::Missing => cache.prepare()?,
        crate::cache::Check::Damaged(reason) => {
            cache.remake_damaged(&job.key, &job.name, &reason)?
        }
    }
    for (name, dir) in job.inputs() {
        // `gc` moves an object aside before it deletes it, and back when a job registered
        // for it meanwhile: a moment's absence is not yet a missing input.
        let present = || dir.join(crate::cache::RECORD).is_file();
        let mut tries = 0;
        while !present() && tries < 20 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            tries += 1;
        }
        if !present() {
            return Err(Error::Other(format!(
                "{}: its input `{name}` is not in the cache (`{}`); run that job first",
                job.name,
                dir.display()
            )));
        }
    }
    match start(job)? {
        Started::Committed => Ok(true),
        Started::NeedsLane(pending) => {
            let done = match &pending.call {
                LaneCall::Model(call) => Worker::start(&call.model, &call.file, call.device)
                    .and_then(|mut worker| {
                        let done = worker.run(call);
                        worker.stop();
                        done
                    }),
                LaneCall::Program(call) => call.run(&job.name),
            };
            finish(job, pending, done).map(|()| true)
        }
    }
}

fn commit(job: &Job, dir: PathBuf, made: Made, started: Instant) -> Result<()> {
    let cache = job.cache();
    // A program may exit 0 with a short but well-formed file when it could not write the
    // rest: nothing made on a full disk is trusted.
    if crate::disk::free_bytes(&cache.dir).is_some_and(|free| free < crate::disk::FULL) {
        discard(&dir);
        let cause = Error::Other(format!("{} was made while the disk was full", job.name));
        return Err(cause.on_disk(&cache.dir));
    }
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
        loudness: made.loudness,
    };
    cache
        .commit(&dir, record, &made.outputs)
        .map(|_| ())
        .inspect_err(|_| discard(&dir))
        .map_err(|error| error.on_disk(&cache.dir))
}

fn discard(dir: &std::path::Path) {
    let _ = std::fs::remove_dir_all(dir);
}
