//! The Slurm executor (`render build --farm slurm`): whole jobs ([`Work::Job`]) run on a
//! cluster's nodes as `render run-jobs SPEC…` batches, each batch one Slurm job named for
//! the build, while render stays the driver here: the scheduler's order, the build lock,
//! publishing and the history are local, and the cluster only runs jobs whose inputs are
//! already in the shared cache.
//!
//! Why it is shaped as it is (what users of other Slurm executors complain about):
//! - **Batches.** A Slurm job costs about a second to start on an idle cluster, and a big
//!   model minutes to load. GPU jobs of one lane group (a model or a GPU program) wait for
//!   each other until there are a batch of them — about [`GPU_TARGET`] seconds of work by
//!   the history's mean time of the engine's jobs, [`GPU_BATCH`] when it knows none — or
//!   no more of the group can come soon, and go in one Slurm job, so the model loads once
//!   per allocation; a group with several batches ready goes in as many Slurm jobs, which
//!   idle nodes share. CPU jobs that are ready together go together per scene, consecutive
//!   scenes' together while the history says they are short ([`CPU_TARGET`]).
//! - **One `squeue` a polling round** for every job of the build (they share its name),
//!   spaced out by [`Backoff`] while nothing changes, from this executor's own thread.
//!   Accounting (`sacct -c`) is asked only about jobs that left the queue, and is optional.
//! - **The cache is the truth.** A job is [`Ended::Made`] only when its object is committed
//!   and verifies (hashed here); as soon as it is, even while the rest of its batch runs,
//!   so its dependents start. A Slurm job that ended COMPLETED without it is a failure
//!   with its log's tail; TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED and CANCELLED are
//!   named. A job's failure waits [`SETTLE`] after its Slurm job ended, for a commit that
//!   a shared filesystem shows late.
//! - **Retries where the node is at fault** (`--retries N`): NODE_FAIL, PREEMPTED,
//!   BOOT_FAIL run again with `--exclude=<node>`; the same failure twice is the job's. A
//!   node without an engine's program (`run-jobs --results` names it) fails that job
//!   naming node and engine, and gets no more of that engine's jobs in this build.
//! - **Ctrl-C** (`cancel_all`): `scancel` for every Slurm job the build submitted, through
//!   `process::run_while_stopping` (the one way to run a program once interrupted), then
//!   a bounded wait for them to leave the queue.
//! - **Adoption.** A driver killed with SIGKILL leaves its jobs running; they commit
//!   atomically. Job names say which content folder's build submitted them
//!   (`render-<folder>-<build>`), so the next build finds the ones still queued or running,
//!   reads which objects their batch scripts make, and waits for those instead of making
//!   them twice.
//!
//! Every file of a Slurm job — its specs, batch script, stdout, stderr and results — is
//! kept under `cache/farm/<build>/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Ended, Executor, LaneEvent, Report, Reports, Work};
use crate::cache::Check;
use crate::error::{Error, Result};
use crate::farm::{Farm, Kind};
use crate::job::Job;
use crate::key::Key;
use crate::slurm::{Backoff, JobId, Slurm, State, Status, Submission};

/// GPU jobs per Slurm job (one model load) worth waiting for, when the history knows
/// nothing of the engine's times.
pub const GPU_BATCH: usize = 8;

/// What a GPU Slurm job aims to last, from the history's job times: a few minutes, so a
/// model's load (minutes for a big one) is paid once per several minutes of work, while a
/// failure, a preemption or a time limit loses little and the nodes share the group.
pub const GPU_TARGET: f64 = 180.0;

/// The most GPU jobs one Slurm job is given.
const GPU_MAX: usize = 64;

/// CPU jobs of several scenes ready together go in one Slurm job until the history's times
/// say it holds this much work: a Slurm job's start (about a second) is then at most a
/// tenth of it.
pub const CPU_TARGET: f64 = 10.0;

/// How long jobs handed over together are gathered before they are batched.
const GATHER: Duration = Duration::from_millis(150);

/// How long after its Slurm job ended a missing object is looked for again (a shared
/// filesystem may show a commit late).
const SETTLE: Duration = Duration::from_secs(1);

/// How often the thread looks for Ctrl-C.
const INTERRUPT_POLL: Duration = Duration::from_millis(100);

/// How long Ctrl-C waits for the cancelled jobs to leave the queue.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// The farm and this build's place on it.
pub struct Setup {
    pub slurm: Slurm,
    pub farm: Farm,
    /// The build's id: every Slurm job of the build is named so.
    pub build: String,
    /// What every build of this content folder's job names start with.
    pub prefix: String,
    /// The content folder (each Slurm job's working folder: the same path on every node).
    pub root: PathBuf,
    /// `cache/farm/<build>/`: specs, scripts, logs and results.
    pub logs: PathBuf,
    /// The render the nodes run: this one's path (the same on every node).
    pub exe: PathBuf,
    pub retries: u32,
    /// Per engine (a key spec's `engine`), the mean seconds of its jobs in the history.
    pub seconds: BTreeMap<String, f64>,
    /// The driver's lock in `cache/farm/<build>/`, held while this build runs (`farm_logs`).
    held: Arc<crate::lock::Held>,
}

impl Setup {
    /// The Slurm client found, the build's folder made (`farm`: this machine's farm file).
    pub fn new(farm: Farm, root: &Path, cache_dir: &Path, retries: u32) -> Result<Setup> {
        let slurm = Slurm::default();
        if !slurm.available() {
            return Err(Error::ToolMissing {
                program: "sbatch".into(),
                hint: "--farm slurm drives a Slurm cluster from this machine: install its client (`sudo apt install slurm-client`) and its slurm.conf, or see docs/slurm.md".into(),
            });
        }
        let prefix = prefix_of(root);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let build = format!("{prefix}{stamp}-{}", std::process::id());
        let logs = cache_dir.join("farm").join(&build);
        std::fs::create_dir_all(logs.join("specs"))
            .map_err(|e| Error::io("cannot create", &logs, e))?;
        let held = Arc::new(crate::lock::Held::take(
            &logs.join(crate::farm_logs::DRIVER_LOCK),
        )?);
        let exe = std::env::current_exe()
            .map_err(|e| Error::Other(format!("cannot find render's own program: {e}")))?;
        let seconds = job_seconds(&crate::cache::Cache::new(root));
        Ok(Setup {
            slurm,
            farm,
            build,
            prefix,
            root: root.to_path_buf(),
            logs,
            exe,
            retries,
            seconds,
            held,
        })
    }

    /// The same build's setup for its first round (the cuts of long lines): its files in
    /// `cache/farm/<build>/cuts/`.
    pub fn cuts(&self) -> Result<Setup> {
        let logs = self.logs.join(crate::farm_logs::CUTS);
        std::fs::create_dir_all(logs.join("specs"))
            .map_err(|e| Error::io("cannot create", &logs, e))?;
        Ok(Setup {
            slurm: self.slurm.clone(),
            farm: self.farm.clone(),
            build: self.build.clone(),
            prefix: self.prefix.clone(),
            root: self.root.clone(),
            logs,
            exe: self.exe.clone(),
            retries: self.retries,
            seconds: self.seconds.clone(),
            held: Arc::clone(&self.held),
        })
    }
}

/// `render-<8 hex of the content folder's path>-`: the start of every job name of the
/// folder's builds.
pub fn prefix_of(root: &Path) -> String {
    let hash = blake3::hash(root.as_os_str().as_encoded_bytes());
    format!("render-{}-", &hash.to_hex()[..8])
}

/// What the executor knows of a job it may be given.
pub struct Farmed {
    pub job: Job,
    /// Its lane group (a model or a GPU program): a GPU job, batched with its group.
    pub group: Option<String>,
    /// Its scene's rank: CPU jobs of a scene go together.
    pub scene: u32,
}

/// The engine a job runs, by the name users declare.
pub fn engine_of(job: &Job) -> String {
    match &job.work {
        crate::engine::EngineJob::Command(command) => command.engine.clone(),
        other => other.name().to_string(),
    }
}

/// How the farm would batch `nodes` (`render plan --farm slurm`): rounds by dependency
/// depth, and in each round the Slurm jobs (GPU: a lane group, in as many parts as the
/// build would make of it, by [`gpu_batch`] over the history's `seconds` per engine and
/// `gpu_target`; CPU: a scene), each with its jobs' names.
pub fn plan(
    nodes: &[Option<Farmed>],
    deps: &[Vec<usize>],
    seconds: &BTreeMap<String, f64>,
    [gpu_target, cpu_target]: [f64; 2],
) -> Vec<Vec<(String, Vec<String>)>> {
    let mut depth = vec![0usize; nodes.len()];
    for i in 0..nodes.len() {
        if nodes[i].is_some() {
            depth[i] = (deps[i].iter())
                .filter(|&&d| nodes[d].is_some())
                .map(|&d| depth[d] + 1)
                .max()
                .unwrap_or(0);
        }
    }
    type Round = BTreeMap<(bool, String, u32), Vec<usize>>;
    let mut rounds: BTreeMap<usize, Round> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let Some(node) = node else { continue };
        let key = match &node.group {
            Some(group) => (false, format!("gpu: {group}"), 0),
            None => (true, "cpu: scene".to_string(), node.scene),
        };
        (rounds.entry(depth[i]).or_default().entry(key).or_default()).push(i);
    }
    let name = |i: &usize| {
        nodes[*i]
            .as_ref()
            .map_or(String::new(), |n| n.job.name.clone())
    };
    let mean = |m: usize| {
        let node = nodes[m].as_ref()?;
        seconds.get(&node.job.spec.engine[..]).copied()
    };
    let scene = |m: &usize| nodes[*m].as_ref().map_or(u32::MAX, |n| n.scene);
    let mut planned = Vec::new();
    for round in rounds.into_values() {
        // In the build's order: by first scene, a scene's CPU jobs before a GPU group's.
        let mut order: Vec<_> = round.into_iter().collect();
        order.sort_by_key(|((cpu, _, _), members)| {
            (members.iter().map(scene).min().unwrap_or(u32::MAX), !*cpu)
        });
        let mut jobs: Vec<(String, Vec<usize>)> = Vec::new();
        for ((cpu, what, _), members) in order {
            if cpu {
                // Consecutive scenes' together while the history says they are short, as
                // the build joins them.
                let joins = jobs.last().is_some_and(|(w, last)| {
                    *w == what
                        && short(last.iter().map(|&m| mean(m)), cpu_target)
                        && short(members.iter().map(|&m| mean(m)), cpu_target)
                });
                match jobs.last_mut() {
                    Some((_, last)) if joins => last.extend(members),
                    _ => jobs.push((what, members)),
                }
                continue;
            }
            let means: Vec<f64> = members.iter().filter_map(|&m| mean(m)).collect();
            let parts = (members.len() / gpu_batch(&means, gpu_target)).max(1);
            for part in split(members, parts) {
                jobs.push((what.clone(), part));
            }
        }
        let jobs = jobs.into_iter();
        planned.push(
            jobs.map(|(w, m)| (w, m.iter().map(name).collect()))
                .collect(),
        );
    }
    planned
}

/// Whether the history knows every one of some CPU jobs' times (`means`) and they add up
/// to less than `target`: worth another scene's jobs in the same Slurm job.
pub fn short(means: impl IntoIterator<Item = Option<f64>>, target: f64) -> bool {
    let mut total = 0.0;
    for mean in means {
        match mean {
            Some(seconds) => total += seconds,
            None => return false,
        }
    }
    total < target
}

/// The work CPU jobs of several scenes may share one Slurm job under: the farm file's
/// `[cpu] batch_seconds`, else [`CPU_TARGET`].
pub fn cpu_target(farm: &Farm) -> f64 {
    (farm.cpu.batch_seconds).map_or(CPU_TARGET, f64::from)
}

/// Per engine, the mean seconds of its jobs by the history (each record's own time): what
/// batches are sized by, in the build and in `render plan --farm slurm`.
pub fn job_seconds(cache: &crate::cache::Cache) -> BTreeMap<String, f64> {
    let builds = crate::history::History::of(cache).read().builds;
    crate::history::seconds_by_engine(cache, &builds, 2000)
}

/// The work one GPU Slurm job should hold: the farm file's `[gpu] batch_seconds`, else
/// [`GPU_TARGET`].
pub fn gpu_target(farm: &Farm) -> f64 {
    (farm.gpu.batch_seconds).map_or(GPU_TARGET, f64::from)
}

/// How many of a GPU group's jobs make a Slurm job of about `target` seconds, from the
/// history's mean seconds of those of its jobs it knows (`means`); [`GPU_BATCH`] when it
/// knows none. A group ready with several such batches goes in that many Slurm jobs.
pub fn gpu_batch(means: &[f64], target: f64) -> usize {
    if means.is_empty() {
        return GPU_BATCH;
    }
    let mean = means.iter().sum::<f64>() / means.len() as f64;
    ((target / mean.max(0.01)).round() as usize).clamp(1, GPU_MAX)
}

/// The executor: a handle to its polling thread.
pub struct SlurmExecutor {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Vec<LaneEvent>>>,
}

#[derive(Default)]
struct Shared {
    inbound: Mutex<Inbound>,
    wake: Condvar,
}

/// What the scheduler said since the thread last looked.
#[derive(Default)]
struct Inbound {
    started: Vec<usize>,
    will_not_come: Vec<usize>,
    no_more: bool,
    cancel: bool,
    closed: bool,
}

impl SlurmExecutor {
    /// Starts its thread; `nodes` has an entry for each job it may be given.
    pub fn start(setup: Setup, nodes: Vec<Option<Farmed>>, reports: Reports) -> SlurmExecutor {
        let shared = Arc::new(Shared::default());
        let mut unstarted: BTreeMap<String, usize> = BTreeMap::new();
        for group in nodes.iter().flatten().filter_map(|n| n.group.clone()) {
            *unstarted.entry(group).or_default() += 1;
        }
        let poll = Duration::from_secs(setup.farm.poll_seconds.into());
        let mut driver = Driver {
            setup,
            nodes,
            reports,
            waiting: Vec::new(),
            unstarted,
            live: Vec::new(),
            tries: BTreeMap::new(),
            lacking: BTreeMap::new(),
            adopted: BTreeMap::new(),
            adopted_names: Vec::new(),
            count: 0,
            last_submit: None,
            events: Vec::new(),
            began: Instant::now(),
            no_more: false,
            cancelled: false,
            backoff: Backoff::new(Duration::from_millis(250), poll),
            next_poll: Instant::now(),
            node_slots: Vec::new(),
            counted: BTreeSet::new(),
            left_queued: false,
        };
        driver.adopt();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("render-slurm".into())
            .spawn(move || driver.run(&thread_shared))
            .expect("the farm's thread starts");
        SlurmExecutor {
            shared,
            thread: Some(thread),
        }
    }

    fn tell(&self, change: impl FnOnce(&mut Inbound)) {
        change(&mut self.shared.inbound.lock().unwrap());
        self.shared.wake.notify_all();
    }
}

impl Executor for SlurmExecutor {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn takes(&self, _node: usize, work: &Work) -> bool {
        matches!(work, Work::Job)
    }

    fn start(&mut self, node: usize, _work: Work) {
        self.tell(|inbound| inbound.started.push(node));
    }

    fn queues(&self) -> bool {
        true
    }

    fn will_not_come(&mut self, node: usize) {
        self.tell(|inbound| inbound.will_not_come.push(node));
    }

    fn no_more(&mut self) {
        self.tell(|inbound| inbound.no_more = true);
    }

    fn cancel_all(&mut self) {
        self.tell(|inbound| inbound.cancel = true);
    }

    fn close(mut self: Box<Self>) -> Vec<LaneEvent> {
        self.tell(|inbound| inbound.closed = true);
        (self.thread.take())
            .map(|thread| thread.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

/// One Slurm job: a batch of the build's jobs.
struct Batch {
    id: JobId,
    /// Its number in the build (its files' names); 0 for an adopted one.
    n: usize,
    /// Its jobs not yet reported.
    members: Vec<usize>,
    group: Option<String>,
    began: bool,
    nodes: String,
    stderr: PathBuf,
    results: PathBuf,
    /// How it ended, and when that was seen.
    ended: Option<(State, Instant)>,
    adopted: bool,
}

#[derive(Default)]
struct Tries {
    /// Failures that were the node's, and the last one's state.
    failed: u32,
    last: Option<String>,
    exclude: BTreeSet<String>,
}

struct Driver {
    setup: Setup,
    nodes: Vec<Option<Farmed>>,
    reports: Reports,
    /// Started jobs not yet in a Slurm job.
    waiting: Vec<usize>,
    /// Per GPU group, its jobs not yet started (nor known never to come).
    unstarted: BTreeMap<String, usize>,
    live: Vec<Batch>,
    tries: BTreeMap<usize, Tries>,
    /// Per engine, the nodes found without its program.
    lacking: BTreeMap<String, BTreeSet<String>>,
    /// Another build's Slurm jobs still running, by the keys they make.
    adopted: BTreeMap<Key, usize>,
    adopted_names: Vec<String>,
    count: usize,
    last_submit: Option<Instant>,
    events: Vec<LaneEvent>,
    began: Instant,
    no_more: bool,
    cancelled: bool,
    backoff: Backoff,
    next_poll: Instant,
    /// The nodes seen, in order: a node's index is its slot in the record.
    node_slots: Vec<String>,
    /// Jobs no longer counted in `unstarted`.
    counted: BTreeSet<usize>,
    /// Ctrl-C's cancelled Slurm jobs had not all left the queue when it stopped waiting.
    left_queued: bool,
}

impl Driver {
    fn run(mut self, shared: &Shared) -> Vec<LaneEvent> {
        loop {
            let inbound = self.wait(shared);
            for node in inbound.will_not_come {
                self.not_coming(node);
            }
            for node in inbound.started {
                self.not_coming(node);
                self.take(node);
            }
            // Ctrl-C: the scheduler hears of it when a job ends, and no job here ends by
            // the signal itself, so this thread cancels at once.
            if (inbound.cancel || crate::process::interrupted()) && !self.cancelled {
                self.cancel();
            }
            if inbound.no_more && !self.no_more {
                self.no_more = true;
                // Not submitted yet: they never will be.
                for node in std::mem::take(&mut self.waiting) {
                    self.ended(node, Ended::Cancelled);
                }
            }
            if inbound.closed && self.live.iter().all(|b| b.members.is_empty()) {
                break;
            }
            self.submit();
            if !self.live.is_empty() && Instant::now() >= self.next_poll {
                self.poll();
            }
        }
        if self.live.iter().all(|b| b.ended.is_some()) && !self.left_queued {
            // No Slurm job of this driver can still write here (`farm_logs`).
            let _ = std::fs::write(self.setup.logs.join(crate::farm_logs::ENDED), b"");
        }
        self.events
    }

    /// Waits for news from the scheduler or the next poll; what it said.
    fn wait(&mut self, shared: &Shared) -> Inbound {
        let mut inbound = shared.inbound.lock().unwrap();
        let idle = inbound.started.is_empty()
            && inbound.will_not_come.is_empty()
            && (!inbound.cancel || self.cancelled)
            && (!inbound.no_more || self.no_more)
            && !inbound.closed;
        if idle {
            let timeout = if self.live.is_empty() {
                INTERRUPT_POLL
            } else {
                (self.next_poll.saturating_duration_since(Instant::now())).min(INTERRUPT_POLL)
            };
            inbound = shared.wake.wait_timeout(inbound, timeout).unwrap().0;
        }
        if !inbound.started.is_empty() && !inbound.cancel {
            // The scheduler hands out what is ready one job at a time: gather them.
            drop(inbound);
            std::thread::sleep(GATHER);
            inbound = shared.inbound.lock().unwrap();
        }
        Inbound {
            started: std::mem::take(&mut inbound.started),
            will_not_come: std::mem::take(&mut inbound.will_not_come),
            no_more: inbound.no_more,
            cancel: inbound.cancel,
            closed: inbound.closed,
        }
    }

    fn not_coming(&mut self, node: usize) {
        if !self.counted.insert(node) {
            return;
        }
        let group = self.nodes[node].as_ref().and_then(|n| n.group.clone());
        if let Some(count) = group.and_then(|g| self.unstarted.get_mut(&g)) {
            *count = count.saturating_sub(1);
        }
    }

    /// A job given to this executor: waits for a batch, or for the adopted Slurm job
    /// already making it.
    fn take(&mut self, node: usize) {
        if self.cancelled || self.no_more {
            self.ended(node, Ended::Cancelled);
            return;
        }
        let key = self.farmed(node).job.key;
        if let Some(&b) = self.adopted.get(&key) {
            if let Some(batch) = self.live.get_mut(b).filter(|b| b.ended.is_none()) {
                batch.members.push(node);
                if batch.began {
                    let slot = batch.n;
                    self.reports.send(Report::Began { node, slot });
                }
                return;
            }
        }
        self.waiting.push(node);
    }

    fn farmed(&self, node: usize) -> &Farmed {
        self.nodes[node]
            .as_ref()
            .expect("the scheduler gives the farm only jobs it was told of")
    }

    fn ended(&mut self, node: usize, ended: Ended) {
        self.reports.send(Report::Ended { node, ended });
    }

    fn record(&mut self, event: &'static str, model: &str, artifact: String, node: &str) {
        let lane = match self.node_slots.iter().position(|n| n == node) {
            Some(slot) => slot,
            None => {
                self.node_slots.push(node.to_string());
                self.node_slots.len() - 1
            }
        };
        self.events.push(LaneEvent {
            seconds: self.began.elapsed().as_secs_f64(),
            event,
            model: model.to_string(),
            artifact: Some(artifact),
            lane,
            device: node.to_string(),
        });
    }

    /// Finds the Slurm jobs of this folder's earlier builds still queued or running (a
    /// driver killed before it could cancel them), and the objects they make.
    fn adopt(&mut self) {
        let Ok(unfinished) = self.setup.slurm.unfinished(&self.setup.prefix) else {
            return;
        };
        for (id, name, script) in unfinished {
            let Ok(text) = std::fs::read_to_string(&script) else {
                continue;
            };
            let Some(words) = crate::slurm::script_words(&text) else {
                continue;
            };
            let keys: BTreeSet<Key> = (words.iter())
                .filter(|w| w.ends_with(".json"))
                .filter_map(|spec| Job::read(Path::new(spec)).ok())
                .map(|job| job.key)
                .collect();
            if keys.is_empty() {
                continue;
            }
            let index = self.live.len();
            for key in &keys {
                self.adopted.insert(*key, index);
            }
            if !self.adopted_names.contains(&name) {
                self.adopted_names.push(name.clone());
            }
            eprintln!(
                "render: Slurm job {id} of an earlier build ({name}) is still making {} object(s): waiting for it rather than making them again",
                keys.len()
            );
            self.live.push(Batch {
                id,
                n: 0,
                members: Vec::new(),
                group: None,
                began: false,
                nodes: String::new(),
                stderr: script.with_extension("err"),
                results: script.with_extension("results"),
                ended: None,
                adopted: true,
            });
        }
    }

    /// Where a job may not run: the nodes that failed it, and those without its engine.
    fn exclusions(&self, node: usize) -> BTreeSet<String> {
        let mut nodes = (self.tries.get(&node))
            .map(|t| t.exclude.clone())
            .unwrap_or_default();
        let engine = engine_of(&self.farmed(node).job);
        nodes.extend(self.lacking.get(&engine).into_iter().flatten().cloned());
        nodes
    }

    /// Submits what is waiting, in batches, within the farm's limits.
    fn submit(&mut self) {
        if self.waiting.is_empty() || self.cancelled {
            return;
        }
        // Grouped by (GPU group, or scene for CPU jobs; where they may not run).
        type Group = (Option<String>, u32, BTreeSet<String>);
        let mut groups: BTreeMap<Group, Vec<usize>> = BTreeMap::new();
        for &node in &self.waiting {
            let farmed = self.farmed(node);
            let scene = if farmed.group.is_some() {
                0
            } else {
                farmed.scene
            };
            let key = (farmed.group.clone(), scene, self.exclusions(node));
            groups.entry(key).or_default().push(node);
        }
        let others_running = self.live.iter().any(|b| b.ended.is_none());
        let mut still = Vec::new();
        // Earliest scene first (the scheduler's depth-first order).
        let mut order: Vec<(Group, Vec<usize>)> = groups.into_iter().collect();
        order.sort_by_key(|((group, scene, _), members)| {
            let first = (members.iter())
                .map(|&m| self.farmed(m).scene)
                .min()
                .unwrap_or(*scene);
            (first, group.is_some())
        });
        // The Slurm jobs to submit: a GPU group's in parts of about its batch size, CPU
        // jobs of consecutive scenes together while the history says they are short.
        let mut units: Vec<(Option<String>, BTreeSet<String>, Vec<usize>)> = Vec::new();
        for ((group, _, exclude), members) in order {
            match &group {
                Some(name) => {
                    // Worth waiting for more of the group, for one load: while some are to
                    // come and a running Slurm job may let them.
                    let batch = self.gpu_batch(&members);
                    let to_come = self.unstarted.get(name).copied().unwrap_or(0);
                    if members.len() < batch && to_come > 0 && others_running {
                        still.extend(members);
                        continue;
                    }
                    // Parts of at least a batch each: more than one spreads the group over
                    // the nodes, each part one load.
                    let parts = (members.len() / batch).max(1);
                    for part in split(members, parts) {
                        units.push((group.clone(), exclude.clone(), part));
                    }
                }
                None => {
                    let joins = units.last().is_some_and(|(g, e, last)| {
                        g.is_none() && *e == exclude && self.short(last) && self.short(&members)
                    });
                    match units.last_mut() {
                        Some((_, _, last)) if joins => last.extend(members),
                        _ => units.push((None, exclude, members)),
                    }
                }
            }
        }
        for (group, exclude, members) in units {
            let in_flight = (self.live.iter())
                .filter(|b| !b.adopted && b.ended.is_none())
                .count();
            if in_flight >= self.setup.farm.max_in_flight {
                still.extend(members);
                continue;
            }
            self.pace();
            self.submit_batch(group, exclude, members);
        }
        self.waiting = still;
    }

    /// The history's mean seconds of a job like `node`'s.
    fn mean(&self, node: usize) -> Option<f64> {
        let engine = &self.farmed(node).job.spec.engine;
        self.setup.seconds.get(&engine[..]).copied()
    }

    /// How many of a GPU group's jobs make a Slurm job of about [`GPU_TARGET`] (or the
    /// farm file's `[gpu] batch_seconds`), from the history's times of its engine
    /// ([`GPU_BATCH`] when it has none).
    fn gpu_batch(&self, members: &[usize]) -> usize {
        let known: Vec<f64> = members.iter().filter_map(|&m| self.mean(m)).collect();
        gpu_batch(&known, gpu_target(&self.setup.farm))
    }

    /// Whether the history knows every job of `members` and they add up to less than
    /// [`CPU_TARGET`] (or the farm file's `[cpu] batch_seconds`): worth another scene's
    /// jobs in the same Slurm job.
    fn short(&self, members: &[usize]) -> bool {
        let means = members.iter().map(|&m| self.mean(m));
        short(means, cpu_target(&self.setup.farm))
    }

    /// Keeps to the farm's submission rate.
    fn pace(&mut self) {
        let gap = Duration::from_secs_f64(1.0 / self.setup.farm.submit_per_second.max(0.01));
        if let Some(last) = self.last_submit {
            let since = last.elapsed();
            if since < gap {
                std::thread::sleep(gap - since);
            }
        }
        self.last_submit = Some(Instant::now());
    }

    fn submit_batch(
        &mut self,
        group: Option<String>,
        exclude: BTreeSet<String>,
        members: Vec<usize>,
    ) {
        self.count += 1;
        let n = self.count;
        let logs = self.setup.logs.clone();
        let results = logs.join(format!("{n}.results"));
        let mut command = vec![
            self.setup.exe.display().to_string(),
            "run-jobs".to_string(),
            "--results".to_string(),
            results.display().to_string(),
        ];
        let mut engines: Vec<String> = Vec::new();
        for &node in &members {
            let job = &self.farmed(node).job;
            let spec = logs
                .join("specs")
                .join(format!("{:05}-{}.json", node, job.spec.kind));
            if let Err(error) = crate::files::write_atomically(&spec, &job.to_json()) {
                for &node in &members {
                    self.ended(node, Ended::Failed(error_copy(&error)));
                }
                return;
            }
            command.push(spec.display().to_string());
            let engine = engine_of(job);
            if !engines.contains(&engine) {
                engines.push(engine);
            }
        }
        let kind = if group.is_some() {
            Kind::Gpu
        } else {
            Kind::Cpu
        };
        let engine_names: Vec<&str> = engines.iter().map(String::as_str).collect();
        let mut options = self.setup.farm.sbatch_options(kind, &engine_names);
        if !exclude.is_empty() {
            let nodes: Vec<&str> = exclude.iter().map(String::as_str).collect();
            options.push(format!("--exclude={}", nodes.join(",")));
        }
        let submission = Submission {
            name: self.setup.build.clone(),
            command,
            options,
            script: logs.join(format!("{n}.sh")),
            stdout: logs.join(format!("{n}.out")),
            stderr: logs.join(format!("{n}.err")),
            dir: self.setup.root.clone(),
        };
        match self.setup.slurm.submit(&submission) {
            Ok(id) => {
                self.live.push(Batch {
                    id,
                    n,
                    members,
                    group,
                    began: false,
                    nodes: String::new(),
                    stderr: submission.stderr,
                    results,
                    ended: None,
                    adopted: false,
                });
                self.backoff.next(true);
                self.next_poll = Instant::now() + Duration::from_millis(250);
            }
            Err(error) => {
                for node in members {
                    let name = self.farmed(node).job.name.clone();
                    let error = Error::Other(format!("{name}: Slurm did not take it: {error}"));
                    self.ended(node, Ended::Failed(error));
                }
            }
        }
    }

    /// One polling round: one `squeue` for every Slurm job of the build.
    fn poll(&mut self) {
        let mut names = vec![self.setup.build.clone()];
        names.extend(self.adopted_names.iter().cloned());
        let queue = match self.setup.slurm.queue_of(&names) {
            Ok(queue) => queue,
            Err(_) => {
                // A busy or restarting controller: ask again later.
                self.next_poll = Instant::now() + self.backoff.next(false);
                return;
            }
        };
        let gone: Vec<JobId> = (self.live.iter())
            .filter(|b| b.ended.is_none() && !queue.contains_key(&b.id))
            .map(|b| b.id.clone())
            .collect();
        let accounted = match gone.is_empty() {
            true => BTreeMap::new(),
            false => self.setup.slurm.completions(&gone).unwrap_or_default(),
        };
        let mut changed = false;
        let mut b = 0;
        while b < self.live.len() {
            let status = (queue.get(&self.live[b].id))
                .or_else(|| accounted.get(&self.live[b].id))
                .cloned();
            changed |= self.follow(b, status);
            let batch = &self.live[b];
            let settled = match &batch.ended {
                Some((_, at)) => batch.members.is_empty() || at.elapsed() >= SETTLE,
                None => false,
            };
            if settled {
                let batch = self.live.remove(b);
                self.judge(batch);
                changed = true;
                // Adopted batches are found by index: renumber.
                self.adopted.retain(|_, i| *i != b);
                for i in self.adopted.values_mut() {
                    if *i > b {
                        *i -= 1;
                    }
                }
            } else {
                b += 1;
            }
        }
        let settling = self.live.iter().any(|b| b.ended.is_some());
        let wait = self.backoff.next(changed);
        self.next_poll = Instant::now()
            + if settling {
                wait.min(Duration::from_millis(300))
            } else {
                wait
            };
    }

    /// Follows batch `b` with Slurm's `status` (None: it left the queue and no accounting
    /// knows it); reports its jobs' starts and objects. Whether anything changed.
    fn follow(&mut self, b: usize, status: Option<Status>) -> bool {
        let mut changed = false;
        if self.live[b].ended.is_none() {
            let gone = status.is_none();
            let state = match status {
                Some(status) => {
                    if !status.nodes.is_empty() && status.nodes != "(null)" {
                        self.live[b].nodes = status.nodes.clone();
                    }
                    status.state
                }
                None => State::Other(
                    "gone from the queue (and no Slurm accounting says how it ended)".into(),
                ),
            };
            if !matches!(state, State::Pending) && !self.live[b].began {
                self.live[b].began = true;
                changed = true;
                let batch = &self.live[b];
                let (slot, id, count) = (batch.n, batch.id.clone(), batch.members.len());
                let model = batch.group.clone().unwrap_or_else(|| "cpu".into());
                let node = batch.nodes.clone();
                for &node in &self.live[b].members {
                    self.reports.send(Report::Began { node, slot });
                }
                self.record(
                    "start",
                    &model,
                    format!("slurm job {id} ({count} jobs)"),
                    &node,
                );
            }
            if state.is_final() || gone {
                self.live[b].ended = Some((state, Instant::now()));
                changed = true;
            }
        }
        // The cache is the truth: a job is made when its object verifies.
        let members = std::mem::take(&mut self.live[b].members);
        let mut left = Vec::new();
        for node in members {
            if self.committed(node) {
                self.ended(node, Ended::Made);
                changed = true;
            } else {
                left.push(node);
            }
        }
        self.live[b].members = left;
        changed
    }

    fn committed(&self, node: usize) -> bool {
        let job = &self.farmed(node).job;
        let cache = job.cache();
        cache
            .object_dir(&job.key)
            .join(crate::cache::RECORD)
            .is_file()
            && matches!(cache.verify_input(&job.key), Check::Intact)
    }

    /// A Slurm job has ended and settled: each of its jobs without an object fails,
    /// named with how the Slurm job ended, or runs again elsewhere when its node failed it.
    fn judge(&mut self, batch: Batch) {
        let Some((state, _)) = &batch.ended else {
            return;
        };
        let stderr = std::fs::read_to_string(&batch.stderr).unwrap_or_default();
        let mut state = state.clone().with_log(&stderr);
        if matches!(state, State::Failed(ref code) if code.is_empty()) {
            // squeue has no exit codes; the completion log may.
            if let Some(done) = self
                .setup
                .slurm
                .completions(std::slice::from_ref(&batch.id))
            {
                if let Some(status) = done.get(&batch.id) {
                    state = status.state.clone().with_log(&stderr);
                }
            }
        }
        let node = if batch.nodes.is_empty() {
            "no node".to_string()
        } else {
            batch.nodes.clone()
        };
        let model = batch.group.clone().unwrap_or_else(|| "cpu".into());
        let loads = loads_in(&stderr);
        for _ in 0..loads {
            self.record("load", &model, format!("slurm job {}", batch.id), &node);
        }
        self.record(
            "end",
            &model,
            format!("slurm job {}: {}", batch.id, state.name()),
            &node,
        );
        if state.is_nodes_fault() {
            self.record(
                "node-fault",
                &state.name(),
                format!("slurm job {}", batch.id),
                &node,
            );
        }
        let outcomes = Outcome::read(&batch.results);
        let tail = crate::process::tail(&stderr, 12);
        let log = relative(&self.setup.root, &batch.stderr);
        for member in batch.members {
            let job = &self.farmed(member).job;
            let (name, key) = (job.name.clone(), job.key.hex());
            let engine = engine_of(job);
            if batch.adopted {
                // The earlier build's job did not make it: this build does.
                self.waiting.push(member);
                continue;
            }
            let outcome = outcomes.iter().rev().find(|o| o.key == key);
            if let Some((engine, program)) = outcome.and_then(|o| o.missing.clone()) {
                let host = outcome.map_or(node.clone(), |o| o.host.clone());
                self.lacking
                    .entry(engine.clone())
                    .or_default()
                    .insert(host.clone());
                let error = Error::Other(format!(
                    "{name}: node {host} has no `{program}`, the program of engine `{engine}` (install it there, or declare it in that node's engines file); {host} gets no more `{engine}` jobs in this build"
                ));
                self.ended(member, Ended::Failed(error));
                continue;
            }
            let tries = self.tries.entry(member).or_default();
            let same_again = tries.last.as_deref() == Some(state.name().as_str());
            if state.is_nodes_fault() && tries.failed < self.setup.retries && !same_again {
                tries.failed += 1;
                tries.last = Some(state.name());
                tries.exclude.extend(node.split(',').map(str::to_string));
                eprintln!(
                    "render: {name}: Slurm job {} on {node} ended {}: running it again elsewhere",
                    batch.id,
                    state.name()
                );
                self.waiting.push(member);
                continue;
            }
            let why = match (&state, outcome.and_then(|o| o.error.clone())) {
                (_, Some(error)) => error,
                (State::Completed, None) => format!(
                    "Slurm says it COMPLETED, but its object is not in the cache (or does not verify): it did not make {name}"
                ),
                _ => String::new(),
            };
            let fault = if same_again && state.is_nodes_fault() {
                " (the second time: the job's own fault, not the node's)"
            } else {
                ""
            };
            let mut message = format!(
                "{name}: Slurm job {} on {node} ended {}{fault}",
                batch.id,
                state.name()
            );
            if !why.is_empty() {
                message.push_str(&format!("\n{why}"));
            } else if !tail.is_empty() {
                message.push_str(&format!("\n{tail}"));
            }
            message.push_str(&format!("\n(its log: {log}; engine `{engine}`)"));
            self.ended(member, Ended::Failed(Error::Other(message)));
        }
    }

    /// Ctrl-C: cancels every Slurm job of the build (and those adopted), waits a little for
    /// them to leave the queue, and reports every job not made as cancelled.
    fn cancel(&mut self) {
        self.cancelled = true;
        let ids: Vec<JobId> = (self.live.iter())
            .filter(|b| b.ended.is_none())
            .map(|b| b.id.clone())
            .collect();
        if !ids.is_empty() {
            let _ = self.setup.slurm.cancel(&ids);
            let mut names = vec![self.setup.build.clone()];
            names.extend(self.adopted_names.iter().cloned());
            let start = Instant::now();
            self.left_queued = true;
            while start.elapsed() < CANCEL_WAIT {
                let Ok(queue) = self.setup.slurm.queue_of(&names) else {
                    break;
                };
                let left =
                    (ids.iter()).any(|id| queue.get(id).is_some_and(|s| !s.state.is_final()));
                if !left {
                    self.left_queued = false;
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        let mut not_made: Vec<usize> = std::mem::take(&mut self.waiting);
        for batch in &mut self.live {
            not_made.append(&mut batch.members);
        }
        self.live.clear();
        for node in not_made {
            // A commit that came before the cancel stands.
            let ended = if self.committed(node) {
                Ended::Made
            } else {
                Ended::Cancelled
            };
            self.ended(node, ended);
        }
    }
}

/// One job's outcome in a batch, as `render run-jobs --results FILE` writes it (one JSON
/// line each, as soon as it is known): why it failed, and the engine whose program the
/// node lacks.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub name: String,
    /// The object's key, in hex.
    pub key: String,
    /// The machine (on a farm, the node) that ran it.
    pub host: String,
    /// Why it failed, as the user reads it; None when its object is in the cache.
    pub error: Option<String>,
    /// The engine whose program this machine lacks, with the program.
    pub missing: Option<(String, String)>,
}

impl Outcome {
    /// Appends it to `file` (best effort: the cache, not this file, says what was made).
    pub fn append(&self, file: &Path) {
        use std::io::Write;
        let mut line = serde_json::to_vec(self).expect("outcomes serialise");
        line.push(b'\n');
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file);
        if let Ok(mut file) = file {
            let _ = file.write_all(&line);
        }
    }

    /// The outcomes in `file` (those it holds whole).
    pub fn read(file: &Path) -> Vec<Outcome> {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

/// `members` in `parts` runs of consecutive jobs, as even as can be (the order is the
/// scheduler's, depth-first).
fn split(members: Vec<usize>, parts: usize) -> Vec<Vec<usize>> {
    let (len, parts) = (members.len(), parts.clamp(1, members.len().max(1)));
    (0..parts)
        .map(|i| members[i * len / parts..(i + 1) * len / parts].to_vec())
        .collect()
}

/// How many model loads a batch's stderr reports (`render run-jobs`' last line).
fn loads_in(stderr: &str) -> usize {
    stderr
        .lines()
        .rev()
        .find_map(|line| {
            let rest = line.strip_prefix("render: batch of ")?;
            let (_, loads) = rest.split_once("; ")?;
            loads.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn error_copy(error: &Error) -> Error {
    Error::Other(error.to_string())
}

/// The farm's line for the build's summary: Slurm jobs per node, model loads, node faults.
pub fn summary(events: &[LaneEvent]) -> Option<String> {
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut loads, mut faults) = (0, Vec::new());
    for event in events {
        match event.event {
            "start" => *per_node.entry(&event.device).or_default() += 1,
            "load" => loads += 1,
            "node-fault" => faults.push(format!("{} ({})", event.device, event.model)),
            _ => {}
        }
    }
    if per_node.is_empty() {
        return None;
    }
    let total: usize = per_node.values().sum();
    let nodes: Vec<String> = per_node.iter().map(|(n, c)| format!("{n}: {c}")).collect();
    let mut line = format!(
        "farm: {total} Slurm job(s) ({}), {loads} model load(s)",
        nodes.join(", ")
    );
    if !faults.is_empty() {
        line.push_str(&format!("; failed nodes: {}", faults.join(", ")));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gpu_batch_holds_about_the_target_of_work_by_the_history() {
        assert_eq!(gpu_batch(&[], 180.0), GPU_BATCH);
        assert_eq!(gpu_batch(&[20.0, 20.0], 180.0), 9);
        assert_eq!(gpu_batch(&[1.2, 1.4], 3.0), 2);
        assert_eq!(gpu_batch(&[600.0], 180.0), 1);
        assert_eq!(gpu_batch(&[0.0001], 180.0), GPU_MAX);
    }

    #[test]
    fn a_group_is_split_into_even_runs_in_order() {
        assert_eq!(split((0..10).collect(), 1), [(0..10).collect::<Vec<_>>()]);
        assert_eq!(
            split((0..17).collect(), 2),
            [(0..8).collect::<Vec<_>>(), (8..17).collect()]
        );
        assert_eq!(split(vec![4], 3), [vec![4]]);
    }

    #[test]
    fn a_batchs_model_loads_are_read_from_its_last_line() {
        let stderr = "made clip a (1.00 s)\nrender: batch of 9: 0 failed; 1 model load\n";
        assert_eq!(loads_in(stderr), 1);
        assert_eq!(loads_in("render: batch of 3: 1 failed; 2 model loads"), 2);
        assert_eq!(loads_in("killed"), 0);
    }
}
