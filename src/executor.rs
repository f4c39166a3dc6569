//! Executors run jobs; the scheduler decides readiness, order, failure, cancellation and
//! progress only. The seam between them is [`Executor`], modelled on ninja's
//! `CommandRunner`: can you take this (`takes`, `has_room`), start it (`start`), and what
//! finished ([`Inbox::wait`], where every executor reports). Adding an executor is its own
//! file plus one line where `scheduler::run` lists them.
//!
//! A job runs in up to three parts: its engine's `run` in a fresh private folder under
//! `cache/tmp/` ([`Work::Job`]); for a GPU engine, its lane call ([`Work::Call`]: a model
//! call in a worker process, or an external program); then the engine's `finish`
//! ([`Work::Finish`]). The part that ends the job commits the folder into the cache
//! through the cache module, or removes it on failure, so a failed or interrupted job
//! leaves nothing behind. An executor may also run a whole job at once from
//! [`Work::Job`] (what a remote one does with `render run-job SPEC`): it then reports
//! [`Ended::Made`] and the scheduler sends no call and no finish for it.
//!
//! Executors today: the CPU pool (`executor/pool.rs`: rayon threads, `--jobs N`; runs
//! `Job` and `Finish` with the functions below), the lanes (`lanes.rs`: one thread per
//! GPU or CPU lane; runs `Call`), the Slurm farm (`executor/slurm.rs`, `--farm slurm`:
//! whole jobs as `render run-jobs` batches on a cluster), and [`run_here`], which runs a
//! whole job in this process — what `render run-job SPEC` does on a farm's node.

mod pool;
pub mod slurm;

pub use pool::Pool;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use serde::Serialize;

use crate::cache::Record;
use crate::engine::{LaneCall, LaneDone, Made, Step};
use crate::error::{Error, Result};
use crate::job::Job;
use crate::worker::Worker;

/// One piece of work the scheduler hands an executor, for a node of the graph (the
/// executor learns the node's job, name and group from what it was built with).
#[derive(Debug)]
pub enum Work {
    /// A job from its start: its engine's `run` (which commits it at once when it needs no
    /// call), or, for an executor that runs whole jobs, all of it.
    Job,
    /// A job's lane call, with the folder its first part made.
    Call(Pending),
    /// A job's last part, after its call (or the call's failure): commits or discards.
    Finish(Pending, Result<LaneDone>),
}

impl Work {
    /// Which part this is, in words (for messages).
    pub fn part(&self) -> &'static str {
        match self {
            Work::Job => "job",
            Work::Call(_) => "call",
            Work::Finish(..) => "finish",
        }
    }
}

/// How a piece of work ended.
#[derive(Debug)]
pub enum Ended {
    /// The job's object is in the cache.
    Made,
    /// Its first part is done; its lane call must run next (then its `Finish`).
    NeedsCall(Pending),
    /// Its call ran, or could not: its `Finish` must run next, with this result.
    Called(Pending, Result<LaneDone>),
    /// It failed; the error's words are what the user reads (a program's or a remote
    /// job's log tail included). Nothing of it is in the cache.
    Failed(Error),
    /// Stopped by Ctrl-C or [`Executor::cancel_all`]; nothing of it is in the cache.
    Cancelled,
}

/// What executors tell the scheduler, from any thread. (One per part of a job, moved once:
/// the size of an `Ended` that carries a job's folder does not matter.)
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Report {
    /// Work that waited in an executor's queue ([`Executor::queues`]) has begun, on its
    /// `slot` (a lane's index; a remote executor's own numbering). Until then the
    /// scheduler does not count the work as running (no stall report for a queued job).
    Began { node: usize, slot: usize },
    /// Like `Began`, for work that runs beside what its slot runs, which the slot keeps: a
    /// lane's program call while its model stays loaded (`lanes.rs`, `Board::helps`).
    Beside { node: usize, slot: usize },
    /// Work has ended: exactly one for each [`Executor::start`].
    Ended { node: usize, ended: Ended },
}

/// Where executors report; cloned into each. `Send`: threads of any executor post here.
#[derive(Clone)]
pub struct Reports(mpsc::Sender<Report>);

impl Reports {
    pub fn send(&self, report: Report) {
        // The scheduler holds the inbox until every executor is closed.
        let _ = self.0.send(report);
    }
}

/// The scheduler's end: the one place it waits for what finished, whichever executor ran it.
pub struct Inbox(mpsc::Receiver<Report>);

/// A new inbox and the handle executors report through.
pub fn inbox() -> (Reports, Inbox) {
    let (tx, rx) = mpsc::channel();
    (Reports(tx), Inbox(rx))
}

impl Inbox {
    /// The next report, or `None` when `deadline` passes first (ninja's `WaitForCommand`,
    /// with a deadline: the scheduler wakes for progress ticks and stall reports too).
    pub fn wait(&self, deadline: Instant) -> Option<Report> {
        match self
            .0
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(report) => Some(report),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                unreachable!("the scheduler holds a `Reports`, so the inbox stays open")
            }
        }
    }
}

/// Something that runs work: the CPU pool, the lanes, a cluster.
///
/// The contract:
/// - **Threads.** The scheduler calls every method from its own thread, one call at a
///   time; `start` returns at once. The work runs on the executor's threads (or another
///   machine), which report through the [`Reports`] the executor was built with.
/// - **Reports.** Each `start` is answered by exactly one [`Report::Ended`] for its node,
///   also after `no_more` and `cancel_all` (then usually [`Ended::Cancelled`]), and before
///   `close` returns. An executor whose work waits in a queue (`queues`) also sends
///   [`Report::Began`] when it begins.
/// - **The cache.** The executor that ends a job commits its object into the cache (the
///   local parts do it through [`start`]/[`finish`]; a remote job through
///   `render run-job SPEC` on a machine that shares `cache/`), and only then reports
///   [`Ended::Made`]. A failed or cancelled job leaves nothing in `cache/objects` and
///   removes its folder under `cache/tmp/`. The scheduler never writes to the cache.
/// - **Cancel.** `no_more`: the build stops (a failure without `--keep-going`, or Ctrl-C):
///   nothing new will be started, nothing counted on will come; what runs may end.
///   `cancel_all` (Ctrl-C): end everything running or queued now (local programs' process
///   groups end on the signal itself; a remote executor cancels its jobs), each reported
///   as [`Ended::Cancelled`] (or failed, which the scheduler counts as cancelled after
///   Ctrl-C).
/// - **Choice.** The scheduler offers work to executors in their list's order; the first
///   that `takes` it gets it, when it `has_room` (a job that finds no room waits).
///   Continuations (`Call`, `Finish`) are started without asking for room.
pub trait Executor {
    /// Its name in messages: "pool", "lanes", "slurm".
    fn name(&self) -> &'static str;

    /// Whether it runs this work of `node` (by the work's part and the node's group).
    fn takes(&self, node: usize, work: &Work) -> bool;

    /// Whether it can start another job now (ninja's `CanRunMore`).
    fn has_room(&self) -> bool {
        true
    }

    /// Starts the work and returns at once.
    fn start(&mut self, node: usize, work: Work);

    /// Whether started work may wait in its queue before it begins (and is reported with
    /// [`Report::Began`] when it does).
    fn queues(&self) -> bool {
        false
    }

    /// Work it was told to expect for `node` (from the build's plan) will never come: an
    /// input failed, or the job's first part did. (The lanes keep a model loaded while
    /// calls for it are expected.)
    fn will_not_come(&mut self, _node: usize) {}

    /// The build stops: nothing more will be started or come.
    fn no_more(&mut self) {}

    /// Ctrl-C: end all work started, running or queued, and report it cancelled.
    fn cancel_all(&mut self) {}

    /// Waits until everything started has been reported and its threads have ended;
    /// returns its record of where each call ran.
    fn close(self: Box<Self>) -> Vec<LaneEvent>;
}

/// One entry of the executors' record: a model's load or unload, a call's start or end,
/// with the lane (or remote slot) and its device.
#[derive(Clone, Debug, Serialize)]
pub struct LaneEvent {
    pub seconds: f64,
    /// load | load-failed | unload | start | end
    pub event: &'static str,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Which lane, and its device.
    pub lane: usize,
    pub device: String,
}

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
    let mut loaded = Loaded::default();
    let made = run_in_batch(job, &mut loaded);
    loaded.stop();
    made
}

/// [`run_here`] for one job of a batch: a model call runs in the batch's worker for that
/// model (`loaded`), started by the first job that needs it and kept for the next.
pub fn run_in_batch(job: &Job, loaded: &mut Loaded) -> Result<bool> {
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
                LaneCall::Model(call) => {
                    let done = loaded.worker(call).and_then(|worker| worker.run(call));
                    if done.is_err() {
                        // It may have died with the call: the next job starts a fresh one.
                        loaded.drop_worker(call);
                    }
                    done
                }
                LaneCall::Program(call) => call.run(&job.name),
            };
            finish(job, pending, done).map(|()| true)
        }
    }
}

/// The workers a batch of jobs run here keeps between them (`render run-jobs`): one per
/// model file and device, started by the first job that calls it, so a batch of same-model
/// jobs loads its model once. Stop them with [`Loaded::stop`].
#[derive(Default)]
pub struct Loaded {
    workers: Vec<(PathBuf, crate::device::Device, Worker)>,
    /// How many times a model was loaded (a worker started).
    pub loads: usize,
}

impl Loaded {
    fn worker(&mut self, call: &crate::engine::ModelCall) -> Result<&mut Worker> {
        let at =
            |w: &(PathBuf, crate::device::Device, Worker)| w.0 == call.file && w.1 == call.device;
        if let Some(i) = self.workers.iter().position(at) {
            return Ok(&mut self.workers[i].2);
        }
        let worker = Worker::start(&call.model, &call.file, call.device)?;
        self.loads += 1;
        self.workers.push((call.file.clone(), call.device, worker));
        Ok(&mut self.workers.last_mut().expect("just pushed").2)
    }

    fn drop_worker(&mut self, call: &crate::engine::ModelCall) {
        if let Some(i) = (self.workers.iter()).position(|w| w.0 == call.file && w.1 == call.device)
        {
            self.workers.remove(i).2.stop();
        }
    }

    /// Stops every worker.
    pub fn stop(self) {
        for (_, _, worker) in self.workers {
            worker.stop();
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
