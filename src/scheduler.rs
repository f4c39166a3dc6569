//! Runs the stale part of the graph in dependency order. The scheduler decides readiness,
//! order, failure, cancellation and progress only; executors do the work, behind one seam
//! (`executor::Executor`, ninja's `CommandRunner`): a job's CPU parts run on the pool of
//! `--jobs N` threads (`executor/pool.rs`), its model call on the lanes (`lanes.rs`). The
//! scheduler offers each piece of work to the executors in their list's order (one line
//! each, in `run`) and waits for what finished in one inbox (`executor::Inbox`). The loop
//! that hands out work runs on the calling thread so it never takes a worker's place.
//! A failure stops new launches, or with `--keep-going` only skips what depends on it.
//! Ctrl-C stops launches; running jobs see their children end and are reported as
//! cancelled, not failed. A job that makes no progress for `stall_after()` (30 s, or
//! `RENDER_STALL_SECONDS`) is reported by name, and again each time as long: a hung
//! program shows in a plain log while it hangs, not only at its deadline.
//!
//! Order is depth-first: among ready jobs, those for the earliest declared scene go first
//! (`rank`, from `Graph::scene_rank`), so videos are finished and published one after
//! another while the build runs, and an interrupted night leaves whole scenes rather than
//! every speech and no video. The GPU lane's grouping bends rank: while the lane has fewer
//! than two calls on their way, a job for the model it runs goes first (the lane must not
//! idle), and jobs for another model wait behind CPU work while the lane's model still has
//! jobs to start, so each model is loaded once. With two models used by alternating scenes,
//! the first model's scenes are finished in order, then the second's (`Ready::pop`). The
//! lane loads the build's first model as it starts (`Lane::preloads`; with several lanes each
//! loads one of the models with the most work), and while it is at
//! work, CPU work runs at most `--jobs` scenes past the first unfinished one: an idle CPU
//! would otherwise make every later scene's speech during a model load or a long call.
//! Every `progress_every()` the caller gets an `Event::Tick` (to print progress in plain
//! logs), from the same timed wake-up as stall reports.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::engine::LaneDone;
use crate::error::Error;
use crate::executor::{self, Ended, Executor, Pending, Pool, Report, Started, Work};
use crate::lanes::{BuildLanes, LaneEvent, LaneExecutor};
use crate::process;

#[derive(Debug)]
pub enum Outcome {
    Made {
        seconds: f64,
    },
    Failed(Error),
    /// Stopped by Ctrl-C while it ran (whatever error the stop caused).
    Cancelled,
    /// Not run because something it depends on failed.
    Skipped,
    /// Not run because the build stopped (a failure without --keep-going, or Ctrl-C).
    NotStarted,
}

pub enum Event {
    Started(usize),
    Finished(usize),
    /// Still running, without progress for at least this long (a multiple of
    /// `stall_after()`, so a busy machine's late wake-up does not change the words).
    Stalled(usize, Duration),
    /// `progress_every()` has passed since the build began or the last tick.
    Tick,
}

/// How often a build's progress is reported in a plain log: `RENDER_PROGRESS_SECONDS` (a
/// positive number; tests lower it), else 60 s.
pub fn progress_every() -> Duration {
    static EVERY: OnceLock<Duration> = OnceLock::new();
    *EVERY.get_or_init(|| seconds_from_env("RENDER_PROGRESS_SECONDS", 60))
}

/// How long a job may go without progress before it is reported: `RENDER_STALL_SECONDS`
/// (a positive number; tests lower it), else 30 s.
pub fn stall_after() -> Duration {
    static STALL: OnceLock<Duration> = OnceLock::new();
    *STALL.get_or_init(|| seconds_from_env("RENDER_STALL_SECONDS", 30))
}

fn seconds_from_env(name: &str, default: u64) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(default), Duration::from_secs_f64)
}

/// The lanes and, per node, the group (model or GPU program) its lane call joins.
pub struct Lane<'a> {
    pub model_of: &'a [Option<String>],
    /// Per lane, the model it loads as it starts (`BuildLanes::preloads`): lane 0 the model
    /// of the first lane job the build will run, the others the models with the most work.
    pub preloads: Vec<Option<crate::engine::ModelLoad>>,
    /// Artifact names, for the lanes' record.
    pub names: &'a [String],
    /// The lanes (at least one), what groups declare of a card's memory, which are models.
    pub lanes: BuildLanes,
}

/// The work out with executors: how much, which part each node is in, and, per job at
/// work, when its current part began and how often it was reported stalled (a call queued
/// for a lane is not at work: a lane runs one call at a time).
struct Busy {
    in_flight: usize,
    part: Vec<Option<&'static str>>,
    at_work: BTreeMap<usize, (Instant, u32)>,
}

impl Busy {
    /// Gives `work` to the first executor that takes it; the work back when none does.
    fn hand(
        &mut self,
        executors: &mut [Box<dyn Executor + '_>],
        i: usize,
        work: Work,
    ) -> Option<Work> {
        let Some(executor) = executors.iter_mut().find(|e| e.takes(i, &work)) else {
            return Some(work);
        };
        self.in_flight += 1;
        self.part[i] = Some(work.part());
        if !executor.queues() {
            self.at_work.insert(i, (Instant::now(), 0));
        }
        executor.start(i, work);
        None
    }

    /// Node `i`'s work has ended; the part it was.
    fn ended(&mut self, i: usize) -> Option<&'static str> {
        self.in_flight -= 1;
        self.at_work.remove(&i);
        self.part[i].take()
    }
}

/// Runs `start(i)` for every `i` with `make[i]`, after the `deps[i]` that are also made,
/// lowest `rank[i]` first (see the module's doc); a job that needs a model has its call run
/// on the lanes, then `finish` on the pool. Returns one outcome per node (`None` for nodes
/// not to be made) and the executors' record.
#[allow(clippy::too_many_arguments)]
pub fn run<S, F, E>(
    deps: &[Vec<usize>],
    make: &[bool],
    rank: &[u32],
    jobs: usize,
    keep_going: bool,
    lane: Option<Lane>,
    start: S,
    finish: F,
    on_event: E,
) -> (Vec<Option<Outcome>>, Vec<LaneEvent>)
where
    S: Fn(usize) -> Result<Started, Error> + Sync,
    F: Fn(usize, Pending, Result<LaneDone, Error>) -> Result<(), Error> + Sync,
    E: FnMut(Event, &[Option<Outcome>]),
{
    let farm: Option<Farm> = None;
    run_with(
        deps, make, rank, jobs, keep_going, lane, farm, start, finish, on_event,
    )
}

/// Starts a farm's executor (`--farm`), given where to report: it is offered every job
/// before the lanes and the pool.
pub type Farm<'a> = Box<dyn FnOnce(executor::Reports) -> Box<dyn Executor + 'a> + 'a>;

/// [`run`], with a farm's executor first in the list when there is one.
#[allow(clippy::too_many_arguments)]
pub fn run_with<S, F, E>(
    deps: &[Vec<usize>],
    make: &[bool],
    rank: &[u32],
    jobs: usize,
    keep_going: bool,
    lane: Option<Lane>,
    farm: Option<Farm>,
    start: S,
    finish: F,
    mut on_event: E,
) -> (Vec<Option<Outcome>>, Vec<LaneEvent>)
where
    S: Fn(usize) -> Result<Started, Error> + Sync,
    F: Fn(usize, Pending, Result<LaneDone, Error>) -> Result<(), Error> + Sync,
    E: FnMut(Event, &[Option<Outcome>]),
{
    let n = deps.len();
    if !make.contains(&true) {
        // A no-op build starts no threads: an idle pool's workers spin before they sleep.
        return ((0..n).map(|_| None).collect(), Vec::new());
    }
    let jobs = jobs.max(1);
    let mut outcomes: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
    let mut started: Vec<Option<Instant>> = vec![None; n];
    let mut waiting_on = vec![0usize; n];
    let mut dependents = vec![Vec::new(); n];
    for i in (0..n).filter(|&i| make[i]) {
        for &dep in &deps[i] {
            if make[dep] {
                waiting_on[i] += 1;
                dependents[dep].push(i);
            }
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("render-job-{i}"))
        .build()
        .expect("thread pool starts");

    let model_of = |i: usize| lane.as_ref().and_then(|l| l.model_of[i].as_deref());
    let lane_count = lane.as_ref().map_or(0, |l| l.lanes.specs.len().max(1));
    let needs_lane: Vec<bool> = (0..n).map(|i| model_of(i).is_some()).collect();
    let mut in_order = InOrder::new(rank, make, &dependents, &needs_lane);
    // CPU work may run as many scenes ahead as there are CPU jobs while the lane works.
    let window = u32::try_from(jobs).unwrap_or(u32::MAX);
    let mut ready = Ready::new(
        rank,
        lane.as_ref().map(|l| l.model_of),
        make,
        window,
        lane_count,
    );
    if let Some(lane) = &lane {
        ready.plan(&lane.lanes.planned_lanes());
    }
    for i in (0..n).filter(|&i| make[i] && waiting_on[i] == 0) {
        ready.push(i);
    }

    // Calls sent to the lanes and not back, per group; the group each lane runs (at first:
    // what it loads as it starts), from their reports; the group of the last call sent
    // (what a lane will run soon).
    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    let mut lane_groups: Vec<Option<String>> = (0..lane_count)
        .map(|k| {
            (lane.as_ref())
                .and_then(|l| l.preloads.get(k).cloned().flatten())
                .map(|load| load.model)
        })
        .collect();
    let mut last_sent: Option<String> = lane_groups.first().cloned().flatten();
    // Per lane, the call it runs beside its model and that call's group: the group is fed
    // for that lane too while it helps (`lanes::Board::helps`).
    let mut beside: Vec<Option<(usize, String)>> = vec![None; lane_count];
    let mut stop = false;
    let (mut told_to_stop, mut told_to_cancel) = (false, false);
    let mut busy = Busy {
        in_flight: 0,
        part: vec![None; n],
        at_work: BTreeMap::new(),
    };
    let stall = stall_after();
    let every = progress_every();
    let mut next_tick = Instant::now() + every;
    let (reports, inbox) = executor::inbox();
    let (start, finish) = (&start, &finish);

    let lane_events = pool.in_place_scope(|scope| {
        // The executors, in the order work is offered to them: the first that takes a
        // piece runs it. Adding an executor is one line here.
        let mut executors: Vec<Box<dyn Executor + '_>> = Vec::new();
        executors.extend(farm.map(|start| start(reports.clone())));
        if let Some(lane) = &lane {
            let preloads = lane.preloads.clone();
            let (model_of, names) = (lane.model_of, lane.names);
            let reports = reports.clone();
            if let Some(lanes) =
                LaneExecutor::start(&lane.lanes, preloads, model_of, names, make, reports)
            {
                executors.push(Box::new(lanes));
            }
        }
        executors.push(Box::new(Pool::new(scope, jobs, start, finish, reports)));

        loop {
            // Checked on every turn: a busy build's reports would keep a timeout from firing.
            if Instant::now() >= next_tick {
                on_event(Event::Tick, &outcomes);
                next_tick = Instant::now() + every;
            }
            stop |= process::interrupted();
            if stop && !told_to_stop {
                told_to_stop = true;
                executors.iter_mut().for_each(|e| e.no_more());
            }
            if process::interrupted() && !told_to_cancel {
                told_to_cancel = true;
                executors.iter_mut().for_each(|e| e.cancel_all());
            }
            // Start what is ready while an executor has room; nothing once the build stops.
            loop {
                if stop {
                    break;
                }
                // A lane is at work when it holds a call of the group it runs (or loads
                // first): that call will end. A call of another group may wait for a lane to
                // switch, and work gated on it would never come.
                let lane_busy =
                    (lane_groups.iter().flatten()).any(|g| sent.get(g).is_some_and(|&n| n > 0));
                let mut on_lanes: Vec<&str> =
                    lane_groups.iter().flatten().map(String::as_str).collect();
                on_lanes.extend(last_sent.as_deref());
                on_lanes.sort_unstable();
                on_lanes.dedup();
                let free_lanes = lane_count.saturating_sub(on_lanes.len());
                let helping = beside.iter().flatten().map(|(_, g)| g);
                ready.serving(
                    lane_groups
                        .iter()
                        .flatten()
                        .chain(helping)
                        .map(String::as_str),
                );
                let Some(i) = ready.pop(&on_lanes, lane_busy, free_lanes) else {
                    break;
                };
                let room = (executors.iter()).find(|e| e.takes(i, &Work::Job));
                if !room.is_some_and(|e| e.has_room()) {
                    ready.unpop(i);
                    break;
                }
                started[i] = Some(Instant::now());
                on_event(Event::Started(i), &outcomes);
                let handed = busy.hand(&mut executors, i, Work::Job);
                debug_assert!(handed.is_none(), "an executor took it");
            }
            if busy.in_flight == 0 {
                break;
            }
            let next_report = (busy.at_work.values())
                .map(|(since, reports)| *since + stall * (reports + 1))
                .min()
                .map_or(next_tick, |when| when.min(next_tick));
            let (i, ended) = match inbox.wait(next_report) {
                None => {
                    for (&i, (since, reports)) in busy.at_work.iter_mut() {
                        if since.elapsed() >= stall * (*reports + 1) {
                            *reports += 1;
                            on_event(Event::Stalled(i, stall * *reports), &outcomes);
                        }
                    }
                    continue;
                }
                Some(Report::Began { node, slot }) => {
                    busy.at_work.insert(node, (Instant::now(), 0));
                    if let Some(group) = lane_groups.get_mut(slot) {
                        *group = model_of(node).map(str::to_string);
                    }
                    continue;
                }
                Some(Report::Beside { node, slot }) => {
                    // The lane keeps the group it runs.
                    busy.at_work.insert(node, (Instant::now(), 0));
                    if let (Some(helps), Some(group)) = (beside.get_mut(slot), model_of(node)) {
                        *helps = Some((node, group.to_string()));
                    }
                    continue;
                }
                Some(Report::Ended { node, ended }) => (node, ended),
            };
            let part = busy.ended(i);
            let result = match ended {
                Ended::NeedsCall(pending) => {
                    let group = pending.call.group().to_string();
                    match busy.hand(&mut executors, i, Work::Call(pending)) {
                        None => {
                            *sent.entry(group.clone()).or_default() += 1;
                            last_sent = Some(group);
                        }
                        Some(Work::Call(pending)) => {
                            let error = Error::Other(format!(
                                "internal error (a bug in render): `{group}` has no GPU lane"
                            ));
                            let finish = Work::Finish(pending, Err(error));
                            let handed = busy.hand(&mut executors, i, finish);
                            debug_assert!(handed.is_none(), "the pool finishes every job");
                        }
                        Some(_) => unreachable!("the work given back is the call"),
                    }
                    continue;
                }
                Ended::Called(pending, result) => {
                    if let Some(count) = model_of(i).and_then(|m| sent.get_mut(m)) {
                        *count -= 1;
                    }
                    for helps in beside.iter_mut() {
                        if helps.as_ref().is_some_and(|(node, _)| *node == i) {
                            *helps = None;
                        }
                    }
                    ready.off_lane(i);
                    let handed = busy.hand(&mut executors, i, Work::Finish(pending, result));
                    debug_assert!(handed.is_none(), "the pool finishes every job");
                    continue;
                }
                Ended::Made => Ok(()),
                Ended::Failed(error) => Err(error),
                Ended::Cancelled => Err(Error::Interrupted),
            };
            ready.off_lane(i);
            if result.is_err() && part == Some(Work::Job.part()) {
                // Its call, counted on, will not come.
                executors.iter_mut().for_each(|e| e.will_not_come(i));
            }
            match result {
                Ok(()) => {
                    let seconds = started[i].map_or(0.0, |t| t.elapsed().as_secs_f64());
                    outcomes[i] = Some(Outcome::Made { seconds });
                    ready.finished(i);
                    for &next in &dependents[i] {
                        waiting_on[next] -= 1;
                        if waiting_on[next] == 0 && outcomes[next].is_none() {
                            ready.push(next);
                        }
                    }
                }
                Err(error) => {
                    // After Ctrl-C a job may fail in other words (its ffmpeg was stopped).
                    let cancelled = matches!(error, Error::Interrupted) || process::interrupted();
                    stop |= !keep_going || cancelled;
                    if cancelled {
                        // Its dependents are not started, not skipped: no input failed.
                        outcomes[i] = Some(Outcome::Cancelled);
                        ready.finished(i);
                    } else {
                        outcomes[i] = Some(Outcome::Failed(error));
                        ready.finished(i);
                        for skipped in skip_dependents(i, &dependents, &mut outcomes) {
                            ready.skipped(skipped);
                            in_order.settled(skipped, false);
                            executors.iter_mut().for_each(|e| e.will_not_come(skipped));
                        }
                    }
                }
            }
            if in_order.settled(i, true) {
                for i in in_order.release() {
                    on_event(Event::Finished(i), &outcomes);
                }
            } else {
                on_event(Event::Finished(i), &outcomes);
            }
        }
        // What was held for an earlier scene that never finished (the build stopped).
        for i in in_order.release_all() {
            on_event(Event::Finished(i), &outcomes);
        }
        let mut events: Vec<LaneEvent> = executors.into_iter().flat_map(|e| e.close()).collect();
        events.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        events
    });

    for i in (0..n).filter(|&i| make[i]) {
        outcomes[i].get_or_insert(Outcome::NotStarted);
    }
    (outcomes, lane_events)
}

/// How many model calls per lane may be on their way (being prepared, queued or running)
/// before more model jobs wait behind CPU work: the one it runs and the next.
const LANE_AHEAD: usize = 2;

/// The jobs ready to start, in order: one min-heap of (rank, node) per lane group (index 0:
/// jobs that need no lane), so a pick costs a heap operation and a look at each group's
/// first job, never a walk over the ready jobs (a 20,000-node build stays fast).
struct Ready<'a> {
    rank: &'a [u32],
    /// Per node to make, its lane group's index (0: none).
    group: Vec<usize>,
    /// The lane groups' names, by index (index 0 is no group).
    names: Vec<&'a str>,
    heaps: Vec<BinaryHeap<Reverse<(u32, usize)>>>,
    /// Per group, its jobs not yet started (and not skipped).
    to_start: Vec<usize>,
    /// Model jobs started whose call has not come back from the lane, and which they are.
    ahead: usize,
    for_lane: Vec<bool>,
    /// Per group, its jobs started whose call has not come back, and how many lanes run it.
    ahead_in: Vec<usize>,
    serving: Vec<usize>,
    /// Per group, how many lanes the lanes' plan gives it (`lane_plan`; 0 without one).
    planned: Vec<usize>,
    /// Per rank (scene), its jobs not yet finished; `open` is the lowest rank with some.
    unfinished: Vec<usize>,
    open: usize,
    /// How many scenes past the open one CPU work may run while the lane is busy.
    window: u32,
    /// How many lanes there are.
    lanes: usize,
}

impl<'a> Ready<'a> {
    fn new(
        rank: &'a [u32],
        model_of: Option<&'a [Option<String>]>,
        make: &[bool],
        window: u32,
        lanes: usize,
    ) -> Self {
        let mut names: Vec<&str> = vec![""];
        let mut group = vec![0; make.len()];
        if let Some(model_of) = model_of {
            let mut index: BTreeMap<&str, usize> = BTreeMap::new();
            for (i, model) in model_of.iter().enumerate() {
                if let (true, Some(model)) = (make[i], model.as_deref()) {
                    group[i] = *index.entry(model).or_insert_with(|| {
                        names.push(model);
                        names.len() - 1
                    });
                }
            }
        }
        let mut to_start = vec![0; names.len()];
        let ranks = rank.iter().max().map_or(0, |r| *r as usize + 1);
        let mut unfinished = vec![0; ranks];
        for i in (0..make.len()).filter(|&i| make[i]) {
            to_start[group[i]] += 1;
            unfinished[rank[i] as usize] += 1;
        }
        Ready {
            rank,
            heaps: names.iter().map(|_| BinaryHeap::new()).collect(),
            ahead_in: vec![0; names.len()],
            serving: vec![0; names.len()],
            planned: vec![0; names.len()],
            names,
            to_start,
            ahead: 0,
            for_lane: vec![false; group.len()],
            group,
            open: unfinished.iter().position(|&n| n > 0).unwrap_or(0),
            unfinished,
            window,
            lanes: lanes.max(1),
        }
    }

    /// Job `i` has its outcome (made, failed, skipped, …).
    fn finished(&mut self, i: usize) {
        self.unfinished[self.rank[i] as usize] -= 1;
        while self.unfinished.get(self.open) == Some(&0) {
            self.open += 1;
        }
    }

    fn push(&mut self, i: usize) {
        self.heaps[self.group[i]].push(Reverse((self.rank[i], i)));
    }

    /// The groups the lanes run now (one entry per lane).
    fn serving<'g>(&mut self, groups: impl Iterator<Item = &'g str>) {
        self.serving.iter_mut().for_each(|n| *n = 0);
        for group in groups {
            if let Some(g) = self.names.iter().position(|n| *n == group) {
                self.serving[g] += 1;
            }
        }
    }

    /// The lanes the plan gives each group: a group is fed for as many lanes as it is
    /// planned on, not only those that run it now (a lane runs a planned program's calls
    /// beside its model, and they must be on their way before it can).
    fn plan(&mut self, lanes: &BTreeMap<String, usize>) {
        for (g, name) in self.names.iter().enumerate() {
            self.planned[g] = lanes.get(*name).copied().unwrap_or(0);
        }
    }

    /// Undoes the `pop` of `i`: it found no executor with room.
    fn unpop(&mut self, i: usize) {
        self.push(i);
        self.to_start[self.group[i]] += 1;
        if std::mem::take(&mut self.for_lane[i]) {
            self.ahead -= 1;
            self.ahead_in[self.group[i]] -= 1;
        }
    }

    /// A job that will never start (an input failed).
    fn skipped(&mut self, i: usize) {
        self.to_start[self.group[i]] -= 1;
        self.finished(i);
    }

    /// Job `i`'s call came back from the lane, or it ended without one.
    fn off_lane(&mut self, i: usize) {
        if std::mem::take(&mut self.for_lane[i]) {
            self.ahead -= 1;
            self.ahead_in[self.group[i]] -= 1;
        }
    }

    /// The next job to start. While the lane has fewer than `LANE_AHEAD` calls on their
    /// way, a job for the model it runs goes first (the lane must not idle, and it keeps
    /// that model until its jobs are done). Otherwise the lowest rank goes first among the
    /// jobs that need no lane and, while the lane is fed and its model has no job left to
    /// start, the other models' jobs. The rest come when nothing else is ready: more calls
    /// would only queue for the lane while scenes wait for their encoding, and another
    /// model's calls would wait for the lane's switch while scenes on its model can be
    /// finished first.
    ///
    /// While the lane is at work (`lane_busy`: it holds a call of the group it runs), CPU work more
    /// than `window` scenes past the first unfinished one waits: the CPU would otherwise
    /// race through every later scene's speech during a model load or a long call, and an
    /// interrupted night would leave thousands of half-made scenes instead of finished
    /// ones. The lane never waits on this (when it has nothing, it is not busy).
    fn pop(&mut self, on_lanes: &[&str], lane_busy: bool, free_lanes: usize) -> Option<usize> {
        let lane: Vec<usize> = (on_lanes.iter())
            .filter_map(|m| self.names.iter().position(|n| n == m))
            .filter(|&g| g > 0)
            .collect();
        let hungry = self.ahead < LANE_AHEAD * self.lanes;
        // Another model waits while the lanes' models have jobs to start, unless a lane
        // is free to take it.
        let busy = free_lanes == 0 && lane.iter().any(|&g| self.to_start[g] > 0);
        let limit = self.open as u32 + self.window;
        let cpu_allowed =
            !lane_busy || (self.heaps[0].peek()).is_some_and(|Reverse((rank, _))| *rank <= limit);
        let models = 1..self.heaps.len();
        // With several lanes, once one is fed a free one is next: the group with the most
        // jobs left that no lane runs and none is on its way to.
        let claimed = (1..self.heaps.len())
            .filter(|&g| lane.contains(&g) || self.ahead_in[g] > 0)
            .count();
        let feed_free = (hungry && claimed > 0 && claimed < self.lanes)
            .then(|| {
                (1..self.heaps.len())
                    .filter(|&g| !lane.contains(&g) && self.ahead_in[g] == 0)
                    .filter_map(|g| {
                        let Reverse(first) = self.heaps[g].peek()?;
                        Some((self.to_start[g], Reverse(*first), g))
                    })
                    .max()
                    .map(|(_, _, g)| g)
            })
            .flatten();
        // A lanes' group is fed while it has fewer than `LANE_AHEAD` calls on their way
        // per lane that runs it (or that the plan gives it).
        let fed =
            |g: usize| self.ahead_in[g] >= LANE_AHEAD * self.serving[g].max(self.planned[g]).max(1);
        let lane_hungry = lane.iter().copied().filter(|&g| hungry || !fed(g));
        // A group the plan gives more lanes than it has calls on their way goes first, the
        // one short of the most first: those lanes would idle (a planned lane runs nothing
        // else while its plan lasts).
        let starving = (1..self.heaps.len())
            .filter(|&g| self.planned[g] > self.ahead_in[g])
            .filter_map(|g| {
                let Reverse(first) = self.heaps[g].peek()?;
                Some((Reverse(self.planned[g] - self.ahead_in[g]), *first, g))
            })
            .min()
            .map(|(_, _, g)| g);
        let pick = starving
            .or(feed_free)
            .or_else(|| self.lowest(lane_hungry))
            .or_else(|| {
                self.lowest(
                    (0..self.heaps.len())
                        .filter(|&g| (g == 0 && cpu_allowed) || (g > 0 && hungry && !busy)),
                )
            })
            .or_else(|| self.lowest(lane.iter().copied()))
            .or_else(|| self.lowest(models))?;
        let Reverse((_, i)) = self.heaps[pick].pop()?;
        self.to_start[pick] -= 1;
        if pick > 0 {
            self.ahead += 1;
            self.ahead_in[pick] += 1;
            self.for_lane[i] = true;
        }
        Some(i)
    }

    /// Of `groups`, the one whose first job has the lowest (rank, node).
    fn lowest(&self, groups: impl Iterator<Item = usize>) -> Option<usize> {
        groups
            .filter_map(|g| self.heaps[g].peek().map(|Reverse(first)| (*first, g)))
            .min()
            .map(|(_, g)| g)
    }
}

/// Scenes end in the order they are declared: rank orders the *starts* only, and with
/// `--jobs` above one the last jobs of two scenes run side by side — a short later scene's
/// mux then finishes before a long earlier one's (every scene of a `--force` build, or of a
/// first one, is made at once, and the lane makes each avatar's face track first, so two
/// scenes' clips become ready together). So the end of a scene's work (a job no job of its
/// own rank waits on: the scene, or the captions of a reused scene) is held until every
/// earlier scene's has ended, and only then reported (`Event::Finished`, on which the build
/// publishes). An earlier scene that still has a job for the GPU lane does not hold later
/// ones: the lane's grouping finishes one model's scenes before the next model's, and their
/// videos must not wait for the second model's load.
struct InOrder<'a> {
    rank: &'a [u32],
    /// Per node, whether it ends its scene's work (see above).
    last: Vec<bool>,
    needs_lane: &'a [bool],
    /// Per rank, its scene-ending jobs without an outcome yet.
    open: BTreeMap<u32, usize>,
    /// Per rank, its jobs for the lane without an outcome yet.
    lane_left: BTreeMap<u32, usize>,
    /// Ended, not yet reported: (rank, node).
    held: std::collections::BTreeSet<(u32, usize)>,
    /// Nodes whose outcome is counted.
    settled: Vec<bool>,
}

impl<'a> InOrder<'a> {
    fn new(
        rank: &'a [u32],
        make: &[bool],
        dependents: &[Vec<usize>],
        needs_lane: &'a [bool],
    ) -> InOrder<'a> {
        let n = make.len();
        let last: Vec<bool> = (0..n)
            .map(|i| make[i] && dependents[i].iter().all(|&d| rank[d] != rank[i]))
            .collect();
        let (mut open, mut lane_left) = (BTreeMap::new(), BTreeMap::new());
        for i in (0..n).filter(|&i| make[i]) {
            if last[i] {
                *open.entry(rank[i]).or_insert(0) += 1;
            }
            if needs_lane[i] {
                *lane_left.entry(rank[i]).or_insert(0) += 1;
            }
        }
        InOrder {
            rank,
            last,
            needs_lane,
            open,
            lane_left,
            held: Default::default(),
            settled: vec![false; n],
        }
    }

    /// Node `i` has its outcome; true when it ends its scene and is to be `reported` (its
    /// report is then held, and [`InOrder::release`] says when to give it). A skipped job
    /// is not reported (nothing was made, nothing is published).
    fn settled(&mut self, i: usize, reported: bool) -> bool {
        if std::mem::replace(&mut self.settled[i], true) {
            return false;
        }
        let rank = self.rank[i];
        let down = |counts: &mut BTreeMap<u32, usize>| {
            if let Some(count) = counts.get_mut(&rank) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&rank);
                }
            }
        };
        if self.needs_lane[i] {
            down(&mut self.lane_left);
        }
        if !self.last[i] {
            return false;
        }
        down(&mut self.open);
        if reported {
            self.held.insert((rank, i));
        }
        reported
    }

    /// The held nodes that may now be reported, earliest scene first: those with no
    /// unfinished earlier scene that waits on the CPU alone.
    fn release(&mut self) -> Vec<usize> {
        let lane_left = &self.lane_left;
        let blocker = (self.open.keys())
            .find(|rank| !lane_left.contains_key(rank))
            .copied();
        let mut out = Vec::new();
        while let Some(&(rank, i)) = self.held.first() {
            if blocker.is_some_and(|b| rank > b) {
                break;
            }
            self.held.pop_first();
            out.push(i);
        }
        out
    }

    fn release_all(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.held)
            .into_iter()
            .map(|(_, i)| i)
            .collect()
    }
}

/// Marks everything downstream of a failure as skipped; returns what it marked.
fn skip_dependents(
    failed: usize,
    dependents: &[Vec<usize>],
    outcomes: &mut [Option<Outcome>],
) -> Vec<usize> {
    let mut skipped = Vec::new();
    let mut stack = dependents[failed].clone();
    while let Some(i) = stack.pop() {
        if outcomes[i].is_none() {
            outcomes[i] = Some(Outcome::Skipped);
            skipped.push(i);
            stack.extend(&dependents[i]);
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn no_finish(_: usize, _: Pending, _: Result<LaneDone, Error>) -> Result<(), Error> {
        unreachable!("no job here needs a model")
    }

    #[test]
    fn runs_dependencies_first_and_skips_after_a_failure() {
        // 0 → 2, 1 → 2, 2 → 3; 4 independent; 1 fails.
        let deps = vec![vec![], vec![], vec![0, 1], vec![2], vec![]];
        let order = Mutex::new(Vec::new());
        let (outcomes, _) = run(
            &deps,
            &[true; 5],
            &[0; 8][..deps.len()],
            2,
            true,
            None,
            |i| {
                order.lock().unwrap().push(i);
                if i == 1 {
                    Err(Error::Other("boom".into()))
                } else {
                    Ok(Started::Committed)
                }
            },
            no_finish,
            |_, _| {},
        );
        assert!(matches!(outcomes[0], Some(Outcome::Made { .. })));
        assert!(matches!(outcomes[1], Some(Outcome::Failed(_))));
        assert!(matches!(outcomes[2], Some(Outcome::Skipped)));
        assert!(matches!(outcomes[3], Some(Outcome::Skipped)));
        assert!(matches!(outcomes[4], Some(Outcome::Made { .. })));
        let order = order.into_inner().unwrap();
        assert!(!order.contains(&2) && !order.contains(&3));
    }

    #[test]
    fn without_keep_going_nothing_new_starts_after_a_failure() {
        let deps = vec![vec![], vec![0], vec![1]];
        let (outcomes, _) = run(
            &deps,
            &[true; 3],
            &[0; 8][..deps.len()],
            1,
            false,
            None,
            |i| {
                if i == 0 {
                    Err(Error::Other("boom".into()))
                } else {
                    Ok(Started::Committed)
                }
            },
            no_finish,
            |_, _| {},
        );
        assert!(matches!(outcomes[0], Some(Outcome::Failed(_))));
        assert!(matches!(outcomes[1], Some(Outcome::Skipped)));
        assert!(matches!(outcomes[2], Some(Outcome::Skipped)));
    }

    #[test]
    fn a_cancelled_job_is_not_a_failure_and_its_dependents_are_not_started() {
        // 0 → 1; 0 is stopped by Ctrl-C (its error says so); 2 is independent.
        let deps = vec![vec![], vec![0], vec![]];
        let (outcomes, _) = run(
            &deps,
            &[true; 3],
            &[0; 8][..deps.len()],
            1,
            true,
            None,
            |i| {
                if i == 0 {
                    Err(Error::Interrupted)
                } else {
                    Ok(Started::Committed)
                }
            },
            no_finish,
            |_, _| {},
        );
        assert!(matches!(outcomes[0], Some(Outcome::Cancelled)));
        // Nothing starts after Ctrl-C, even with --keep-going; nothing counts as skipped.
        assert!(matches!(outcomes[1], Some(Outcome::NotStarted)));
        assert!(matches!(outcomes[2], Some(Outcome::NotStarted)));
    }

    #[test]
    fn a_panicking_job_fails_instead_of_hanging_the_build() {
        let deps = vec![vec![], vec![0]];
        let (outcomes, _) = run(
            &deps,
            &[true, true],
            &[0; 8][..deps.len()],
            2,
            true,
            None,
            |i| {
                if i == 0 {
                    panic!("boom")
                } else {
                    Ok(Started::Committed)
                }
            },
            no_finish,
            |_, _| {},
        );
        match &outcomes[0] {
            Some(Outcome::Failed(error)) => {
                assert_eq!(error.to_string(), "internal error (a bug in render): boom")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(outcomes[1], Some(Outcome::Skipped)));
    }

    /// The order `run` starts jobs in, one at a time.
    fn start_order(deps: &[Vec<usize>], rank: &[u32]) -> Vec<usize> {
        let order = Mutex::new(Vec::new());
        run(
            deps,
            &vec![true; deps.len()],
            rank,
            1,
            false,
            None,
            |i| {
                order.lock().unwrap().push(i);
                Ok(Started::Committed)
            },
            no_finish,
            |_, _| {},
        );
        order.into_inner().unwrap()
    }

    #[test]
    fn the_earliest_scenes_jobs_go_first() {
        // As the graph adds them: two scenes, each a speech → clip → scene, the face track
        // (0) shared. First in, first out would make both speeches before any clip.
        let deps = vec![
            vec![],     // 0 face track
            vec![],     // 1 speech, scene a
            vec![0, 1], // 2 clip, scene a
            vec![2],    // 3 scene a
            vec![],     // 4 speech, scene b
            vec![0, 4], // 5 clip, scene b
            vec![5],    // 6 scene b
        ];
        let rank = [0, 0, 0, 0, 1, 1, 1];
        assert_eq!(start_order(&deps, &rank), [0, 1, 2, 3, 4, 5, 6]);
        // Ranks, not node order, decide: scene b declared first.
        let rank = [0, 1, 1, 1, 0, 0, 0];
        assert_eq!(start_order(&deps, &rank), [0, 4, 5, 6, 1, 2, 3]);
    }

    #[test]
    fn the_lanes_model_goes_first_while_the_lane_needs_calls() {
        // Nodes 1, 3, 6: model "a"; 2, 4: model "b"; 0, 5: no model. Ranks by node.
        let model_of: Vec<Option<String>> = [
            None,
            Some("a"),
            Some("b"),
            Some("a"),
            Some("b"),
            None,
            Some("a"),
        ]
        .iter()
        .map(|m| m.map(str::to_string))
        .collect();
        let rank = [0, 1, 2, 3, 4, 5, 6];
        let mut ready = Ready::new(&rank, Some(&model_of), &[true; 7], 1, 1);
        for i in [6, 5, 4, 3, 2, 1, 0] {
            ready.push(i);
        }
        // No model on the lane yet: by rank.
        assert_eq!(ready.pop(&[], false, 0), Some(0));
        assert_eq!(ready.pop(&[], false, 0), Some(1));
        // The lane runs "a" and has one call: the next "a" job jumps the queue.
        assert_eq!(ready.pop(&["a"], false, 0), Some(3));
        // Two calls on their way: a job for no model goes first, though 6 ranks higher.
        assert_eq!(ready.pop(&["a"], false, 0), Some(5));
        // Nothing else ready: the lane's model, then the other's.
        assert_eq!(ready.pop(&["a"], false, 0), Some(6));
        assert_eq!(ready.pop(&["a"], false, 0), Some(2));
        assert_eq!(ready.pop(&["a"], false, 0), Some(4));
        assert_eq!(ready.pop(&["a"], false, 0), None);
    }

    #[test]
    fn another_model_waits_while_the_lanes_model_has_jobs_to_start() {
        let model_of: Vec<Option<String>> = [None, Some("a"), Some("b"), Some("a"), None]
            .iter()
            .map(|m| m.map(str::to_string))
            .collect();
        let rank = [0, 1, 2, 3, 4];
        let mut ready = Ready::new(&rank, Some(&model_of), &[true; 5], 1, 1);
        for i in [4, 2, 1] {
            ready.push(i);
        }
        assert_eq!(ready.pop(&[], false, 0), Some(1));
        ready.off_lane(1);
        // "a" still has a job to start (3, not ready): "b" waits behind CPU work…
        assert_eq!(ready.pop(&["a"], false, 0), Some(4));
        // …but runs rather than leave the CPU idle.
        assert_eq!(ready.pop(&["a"], false, 0), Some(2));
        assert_eq!(ready.pop(&["a"], false, 0), None);

        // Once "a" has nothing left to start (1 done, 3 skipped), "b" goes by rank again.
        let mut ready = Ready::new(&rank, Some(&model_of), &[true; 5], 1, 1);
        ready.skipped(1);
        ready.skipped(3);
        for i in [4, 2] {
            ready.push(i);
        }
        assert_eq!(ready.pop(&["a"], false, 0), Some(2));
        assert_eq!(ready.pop(&["a"], false, 0), Some(4));
    }

    #[test]
    fn with_several_lanes_a_free_one_is_fed_before_more_of_a_fed_ones_calls() {
        // Node 0: no model; 1, 2, 3: "a"; 4, 5: "b"; 6, 7, 8: "c". Ranks by node.
        let model_of: Vec<Option<String>> = [
            None,
            Some("a"),
            Some("a"),
            Some("a"),
            Some("b"),
            Some("b"),
            Some("c"),
            Some("c"),
            Some("c"),
        ]
        .iter()
        .map(|m| m.map(str::to_string))
        .collect();
        let rank = [0, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut ready = Ready::new(&rank, Some(&model_of), &[true; 9], 1, 3);
        for i in (0..9).rev() {
            ready.push(i);
        }
        // Lane 0 loads "a"; two lanes are free: "c" (3 jobs) before "b" (2), though both
        // rank after "a" and the job for no model.
        assert_eq!(ready.pop(&["a"], false, 2), Some(6));
        assert_eq!(ready.pop(&["a"], false, 1), Some(4));
        // Every lane has a group on its way: by rank again, the lanes' models first.
        assert_eq!(ready.pop(&["a"], false, 0), Some(1));
        // One lane: nothing changes (by rank, as before).
        let mut ready = Ready::new(&rank, Some(&model_of), &[true; 9], 1, 1);
        for i in (0..9).rev() {
            ready.push(i);
        }
        assert_eq!(ready.pop(&["a"], false, 0), Some(1));
    }

    #[test]
    fn a_group_planned_on_several_lanes_is_fed_for_each_of_them_first() {
        // Nodes 0, 1: "a" (a model, the first scene); 2, 3, 4, 5: "p" (a long program's
        // calls, a later scene). The plan: lane 0 runs "a" and one "p", lanes 1 and 2 "p".
        let model_of: Vec<Option<String>> = ["a", "a", "p", "p", "p", "p"]
            .iter()
            .map(|m| Some(m.to_string()))
            .collect();
        let rank = [0, 0, 1, 1, 1, 1];
        let pops = |plan: &[(&str, usize)]| {
            let mut ready = Ready::new(&rank, Some(&model_of), &[true; 6], 1, 3);
            let plan: BTreeMap<String, usize> =
                plan.iter().map(|(g, n)| (g.to_string(), *n)).collect();
            ready.plan(&plan);
            for i in (0..6).rev() {
                ready.push(i);
            }
            (0..4)
                .map(|_| ready.pop(&["a"], true, 2).unwrap())
                .collect::<Vec<_>>()
        };
        // Three lanes wait on "p", one on "a": "p" is fed while it is short of more lanes,
        // then the first scene's model.
        assert_eq!(pops(&[("a", 1), ("p", 3)]), [2, 3, 0, 4]);
        // Without a plan: one call of "p" for a free lane, then the first scene's calls.
        assert_eq!(pops(&[]), [2, 0, 1, 3]);
    }

    #[test]
    fn only_stale_nodes_run() {
        let deps = vec![vec![], vec![0]];
        let ran = Mutex::new(Vec::new());
        let (outcomes, _) = run(
            &deps,
            &[false, true],
            &[0; 8][..deps.len()],
            2,
            false,
            None,
            |i| {
                ran.lock().unwrap().push(i);
                Ok(Started::Committed)
            },
            no_finish,
            |_, _| {},
        );
        assert_eq!(*ran.lock().unwrap(), vec![1]);
        assert!(outcomes[0].is_none());
    }
}
