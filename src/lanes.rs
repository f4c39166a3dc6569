//! The lanes: the executor for everything that needs a GPU. A lane runs one call at a time
//! on its device (`device::LaneSpec`): a model call in the worker process of its model,
//! pinned to the lane's card (`worker.rs`), or an external GPU program started with
//! `CUDA_VISIBLE_DEVICES` naming that card. A build has one lane per card by default
//! (`device::lanes`), several per card with `lanes_per_gpu`, and `lanes = N` on the CPU
//! where there is no GPU.
//!
//! Calls wait on one board that every lane takes from. A lane keeps its group (a model, or
//! a program's engine) while more calls for it are expected, so a model loads once per lane
//! that runs it; a free lane takes the group no lane runs with the most work left, and
//! splits a group another lane runs when enough of it is left to be worth a second load,
//! by this build's timing of its calls and its load (a program's group, which loads
//! nothing, whenever a call waits). Every lane loads its first model as the lanes start
//! (`BuildLanes::preloads`), so no load falls between the first call and the last while
//! the CPU prepares the calls.
//!
//! Longest calls first: a build that ends on a long program's calls leaves the lanes that
//! finish first idle while the last of them runs. So a lane may run a program's call
//! *beside* its model, which stays loaded: while its first model loads and no idle lane
//! would take the call, and while, by this build's measured times, the program's lanes
//! would still be at work after this lane has run the call and its own model's share
//! (`Board::helps`). The build then ends on the models' short calls, which even out the
//! lanes' ends. Beside is only where the program cannot disturb the model: a lane with no
//! card (its memory is the machine's), or a card where both declare their memory and fit.
//! A worker is closed,
//! which frees all of its GPU memory, before its lane runs another group (a CPU lane's
//! exits beside the next call: there is no card to empty), and, where lanes share a
//! card's memory, as soon as its group has nothing more to come. Where a group declares its memory (`vram`), a lane
//! takes it only when it fits in what its card has left after the groups the card's other
//! lanes hold: a model's while it is loaded, a program's while it runs.
//!
//! A worker that crashes fails the call it was running, and its lane does not take that
//! model again; other lanes go on with it (a model that fails to load fails everywhere:
//! its file is the same). Every load, unload, start and end is recorded with the lane, its
//! device and a timestamp: the lanes' own account, which tests, `--json`, the history and
//! the report read. CPU work around a call (decode, mel, crops, paste-back, encode) runs on
//! the pool, so a lane only ever waits on tensor work.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use crate::device::{Device, LaneSpec, Vram};
use crate::diagnostic::{ConfigError, Doc};
use crate::engine::{LaneCall, LaneDone, ModelLoad};
use crate::error::{Error, Result};
use crate::executor::{Ended, Executor, Pending, Report, Reports, Work};
use crate::lane_plan::Plan;
use crate::process;
use crate::worker::Worker;

pub use crate::executor::LaneEvent;

/// What the lanes tell the scheduler.
pub enum News {
    /// A lane took node's call: its work (its model's load included) begins. `beside`: a
    /// program's call that the lane runs beside its loaded model, which it keeps.
    Began {
        node: usize,
        lane: usize,
        beside: bool,
    },
    Done {
        node: usize,
        result: Result<LaneDone>,
    },
}

/// Until a model's load and calls have been timed, its calls split over more lanes only
/// while at least this many of its calls per lane are left: each extra lane loads the
/// model once.
const SPLIT_AT: usize = 4;

struct Queued {
    node: usize,
    artifact: String,
    call: LaneCall,
}

/// One lane, as the board sees it.
#[derive(Default)]
struct LaneState {
    /// The group it runs (a model loaded, or loading; a program's engine).
    group: Option<String>,
    /// What it holds of its card's memory, and whether a worker holds it (a program's
    /// hold ends with its call).
    held: u64,
    /// Models whose worker crashed on this lane: it does not take them again.
    crashed: BTreeSet<String>,
    /// The program group whose call it runs beside its model now (`Board::helps`).
    beside: Option<String>,
    /// Its first model is still loading (on the lane's loader thread, `run_lane`).
    loading: bool,
    /// It has taken a call that has not ended.
    running: bool,
}

struct Board {
    queue: Vec<Queued>,
    /// Per group, its calls not yet taken by a lane (queued or still to come).
    expected: BTreeMap<String, usize>,
    /// Per group, what it declares it needs of a card's memory.
    vram: BTreeMap<String, u64>,
    /// Which groups are models (a worker to load), not programs.
    models: BTreeSet<String>,
    /// The build stopped: expect nothing more.
    no_more: bool,
    /// The scheduler has sent everything it will.
    hung_up: bool,
    lanes: Vec<LaneState>,
    /// Per lane, its card (id, memory) when it has one: lanes on one card share its memory.
    cards: Vec<Option<(String, Option<u64>)>>,
    /// A model that failed to load fails every call that needs it, on every lane.
    load_errors: BTreeMap<String, String>,
    /// The last crash of each model, for calls no lane can run any more.
    crashes: BTreeMap<String, String>,
    /// What this build measured: per group, its calls' seconds and count; per model, its
    /// longest load's seconds.
    took: BTreeMap<String, (f64, usize)>,
    load_took: BTreeMap<String, f64>,
    /// Per lane, its planned calls of each group not yet taken (`lane_plan`; empty rows
    /// without a plan).
    planned: Vec<BTreeMap<String, usize>>,
}

/// What a free lane does next.
enum Choice {
    /// Run the queued call at this index.
    Take(usize),
    /// Run the queued program call at this index beside the lane's model, which stays
    /// loaded for the lane's next calls.
    Beside(usize),
    /// Fail the queued call at this index at once (its model cannot run anywhere).
    Fail(usize, String),
    /// Close its worker: its group has nothing more to come.
    Release,
    Wait,
    Exit,
}

/// The lanes of a build, running.
pub struct Lanes {
    shared: Arc<(Mutex<Board>, Condvar)>,
    threads: Vec<std::thread::JoinHandle<Vec<LaneEvent>>>,
}

impl Lanes {
    /// Starts a thread per lane. `expected` counts the calls per group; `vram` is what
    /// groups declare; `models` says which groups are models. Lane k loads `preloads[k]`
    /// at once (`BuildLanes::preloads`), while the CPU prepares the calls, and keeps it
    /// for them; `plan` (empty: none) is what each lane is expected to run
    /// (`lane_plan`). `news` hears when each call begins and ends (from the lanes' threads).
    pub fn start(
        specs: &[LaneSpec],
        preloads: Vec<Option<ModelLoad>>,
        plan: &Plan,
        expected: BTreeMap<String, usize>,
        vram: BTreeMap<String, u64>,
        models: BTreeSet<String>,
        news: impl Fn(News) + Send + Sync + 'static,
    ) -> Lanes {
        let mut board = Board::new(specs, expected, vram, models);
        for (lane, row) in plan.iter().enumerate().take(specs.len()) {
            board.planned[lane] = row.clone();
        }
        // A preloading lane runs its model's group from the start: the other lanes leave
        // that group to it, and its card's memory is the model's.
        let mut preloads = preloads;
        preloads.resize(specs.len(), None);
        for (lane, load) in preloads.iter_mut().enumerate() {
            if let Some(model) = load.as_ref().map(|l| l.model.clone()) {
                if board.expects(&model) == 0 {
                    *load = None;
                    continue;
                }
                board.lanes[lane].held = board.vram.get(&model).copied().unwrap_or(0);
                board.lanes[lane].group = Some(model);
                board.lanes[lane].loading = true;
            }
        }
        let shared = Arc::new((Mutex::new(board), Condvar::new()));
        let news = Arc::new(news);
        let began = Instant::now();
        let threads = (specs.iter().zip(preloads))
            .map(|(spec, first)| {
                let spec = spec.clone();
                let shared = Arc::clone(&shared);
                let news = Arc::clone(&news);
                std::thread::Builder::new()
                    .name(format!("render-lane-{}", spec.index))
                    .spawn(move || run_lane(&spec, first, &shared, &*news, began))
                    .expect("a lane starts")
            })
            .collect();
        Lanes { shared, threads }
    }

    /// Queues a call.
    pub fn run(&self, node: usize, artifact: String, call: LaneCall) {
        self.change(|board| {
            board.queue.push(Queued {
                node,
                artifact,
                call,
            })
        });
    }

    /// A call expected for `group` will never come (its job failed or was skipped).
    pub fn cancel(&self, group: &str) {
        self.change(|board| {
            if let Some(count) = board.expected.get_mut(group) {
                *count = count.saturating_sub(1);
            }
        });
    }

    /// The build stopped: expect nothing more.
    pub fn no_more(&self) {
        self.change(|board| board.no_more = true);
    }

    /// Waits for the queued calls to end and the lanes to close; their record, in time
    /// order.
    pub fn finish(self) -> Vec<LaneEvent> {
        self.change(|board| {
            board.hung_up = true;
            board.no_more = true;
        });
        let mut events: Vec<LaneEvent> = (self.threads.into_iter())
            .flat_map(|thread| thread.join().expect("a lane does not panic"))
            .collect();
        events.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        events
    }

    fn change(&self, f: impl FnOnce(&mut Board)) {
        let (board, wake) = &*self.shared;
        f(&mut board.lock().expect("the board is not poisoned"));
        wake.notify_all();
    }
}

impl Board {
    fn new(
        specs: &[LaneSpec],
        expected: BTreeMap<String, usize>,
        vram: BTreeMap<String, u64>,
        models: BTreeSet<String>,
    ) -> Board {
        Board {
            queue: Vec::new(),
            lanes: specs.iter().map(|_| LaneState::default()).collect(),
            cards: card_memory(specs),
            expected,
            vram,
            models,
            no_more: false,
            hung_up: false,
            load_errors: BTreeMap::new(),
            crashes: BTreeMap::new(),
            took: BTreeMap::new(),
            load_took: BTreeMap::new(),
            planned: vec![BTreeMap::new(); specs.len()],
        }
    }

    fn expects(&self, group: &str) -> usize {
        if self.no_more {
            0
        } else {
            self.expected.get(group).copied().unwrap_or(0)
        }
    }

    /// How many lanes run `group`.
    fn serving(&self, group: &str) -> usize {
        (self.lanes.iter())
            .filter(|l| l.group.as_deref() == Some(group))
            .count()
    }

    /// Whether `group` fits on lane `me`'s card beside what its other lanes hold.
    fn fits(&self, me: usize, group: &str) -> bool {
        let need = self.vram.get(group).copied().unwrap_or(0);
        let held: Vec<u64> = self.lanes.iter().map(|l| l.held).collect();
        fits_beside(&self.cards, &held, me, need)
    }

    /// Whether one more lane should load `group`, which `serving` lanes run with `left`
    /// calls to come. With its calls' mean time c and its load's time t measured, the
    /// lanes that run it end after left·c / serving; with one more, which begins after its
    /// load, after (left·c + t) / (serving + 1): sooner when left·c > serving·t, and worth
    /// a load when sooner by at least a call. Until then, `SPLIT_AT` calls per lane.
    fn worth_a_load(&self, group: &str, serving: usize, left: usize) -> bool {
        let measured = (self.took.get(group)).filter(|(_, calls)| *calls > 0);
        match (measured, self.load_took.get(group)) {
            (Some(&(seconds, calls)), Some(&load)) => {
                let call = seconds / calls as f64;
                let (left, serving) = (left as f64, serving as f64);
                let now = left * call / serving;
                let split = (left * call + load) / (serving + 1.0);
                now - split >= call
            }
            _ => left >= SPLIT_AT * (serving + 1),
        }
    }

    /// A model's load on some lane took `took`.
    fn timed_load(&mut self, model: &str, took: Duration) {
        let longest = self.load_took.entry(model.to_string()).or_default();
        *longest = longest.max(took.as_secs_f64());
    }

    /// The mean seconds of `group`'s calls in this build, once one has ended.
    fn call_seconds(&self, group: &str) -> Option<f64> {
        (self.took.get(group))
            .filter(|(_, calls)| *calls > 0)
            .map(|&(seconds, calls)| seconds / calls as f64)
    }

    /// Whether lane `me`, which runs model `own`, should run a waiting call of `program`
    /// first, beside its model: longest calls first, so that a build ends on short calls
    /// that even out the lanes' ends, not on a long program's calls that leave the other
    /// lanes idle. With the calls' mean times measured (c for the program's, its calls
    /// left shared by the lanes on it now; the model's left shared by the lanes that run
    /// it), the lane helps while it would still end before the program's lanes do:
    /// c + own left ≤ program left. The model stays loaded (loaded once per lane), so this
    /// is only where the program's call cannot disturb it: a lane with no card, or a card
    /// whose memory is known and where both declare theirs and the two fit beside the
    /// card's other lanes.
    fn helps(&self, me: usize, own: &str, program: &str) -> bool {
        let (Some(own_call), Some(call)) = (self.call_seconds(own), self.call_seconds(program))
        else {
            return false;
        };
        let on_program = (self.lanes.iter())
            .filter(|l| l.group.as_deref() == Some(program) || l.beside.as_deref() == Some(program))
            .count();
        let own_left = self.expects(own) as f64 * own_call / self.serving(own).max(1) as f64;
        let program_left = self.expects(program) as f64 * call / on_program.max(1) as f64;
        self.fits_with(me, own, program) && call + own_left <= program_left
    }

    /// Whether a lane other than `me` is idle and would take a call of `group` now.
    fn free_for(&self, me: usize, group: &str) -> bool {
        (self.lanes.iter().enumerate()).any(|(l, lane)| {
            l != me
                && !lane.running
                && !lane.loading
                && !lane.crashed.contains(group)
                && (lane.group.as_deref()).is_none_or(|g| g == group || self.expects(g) == 0)
        })
    }

    /// Whether a call of `program` can run on lane `me` beside its model `own` (loaded or
    /// loading): always on a lane with no card; on a card, only where its memory is known
    /// and both declare theirs and fit beside the card's other lanes.
    fn fits_with(&self, me: usize, own: &str, program: &str) -> bool {
        match &self.cards[me] {
            None => true,
            Some((_, None)) => false,
            Some((_, Some(_))) => {
                let (Some(model), Some(need)) = (self.vram.get(own), self.vram.get(program)) else {
                    return false;
                };
                let held: Vec<u64> = self.lanes.iter().map(|l| l.held).collect();
                fits_beside(&self.cards, &held, me, model + need)
            }
        }
    }

    /// Whether lane `me` has planned calls of `group` left to take (not of a model whose
    /// worker crashed on it: the other lanes run those).
    fn planned(&self, me: usize, group: &str) -> bool {
        self.planned[me].get(group).is_some_and(|&n| n > 0)
            && self.expects(group) > 0
            && !self.lanes[me].crashed.contains(group)
    }

    /// Whether lane `me` has any planned call left to take: then it keeps to its plan.
    fn has_plan(&self, me: usize) -> bool {
        (self.planned[me].keys()).any(|group| self.planned(me, group))
    }

    fn choose(&self, me: usize) -> Choice {
        let lane = &self.lanes[me];
        // A call no lane can run fails at once, with the words of what went wrong.
        for (index, queued) in self.queue.iter().enumerate() {
            let group = queued.call.group();
            if let Some(message) = self.load_errors.get(group) {
                return Choice::Fail(index, message.clone());
            }
            if self.lanes.iter().all(|l| l.crashed.contains(group)) {
                let message = self.crashes.get(group).cloned().unwrap_or_default();
                return Choice::Fail(index, message);
            }
            if process::interrupted() {
                return Choice::Fail(index, Error::Interrupted.to_string());
            }
        }
        let takes = |group: &str| !lane.crashed.contains(group);
        let has_plan = self.has_plan(me);
        // A program's call beside the lane's model: with a plan, the program's calls planned
        // for this lane, while its model loads or has no call waiting; without one, while its
        // first model loads (the load would leave the lane idle; not on lane 0, which carries
        // the first scene's calls), and a long call before the model's own while that evens
        // out the lanes' ends.
        let model =
            (lane.group.as_deref()).filter(|g| self.models.contains(*g) && self.expects(g) > 0);
        if let Some(own) = model {
            let own_waits = self.queue.iter().any(|q| q.call.group() == own);
            let beside = self.queue.iter().position(|q| {
                let group = q.call.group();
                let worth = if has_plan {
                    self.planned(me, group)
                        && (lane.loading || !own_waits)
                        && self.fits_with(me, own, group)
                } else if lane.loading {
                    me > 0 && !self.free_for(me, group) && self.fits_with(me, own, group)
                } else {
                    self.helps(me, own, group)
                };
                !self.models.contains(group) && takes(group) && worth
            });
            if let Some(index) = beside {
                return Choice::Beside(index);
            }
        }
        if let Some(group) = &lane.group {
            // Its own group first: loaded already (a program's group must still fit).
            let own = (self.queue.iter()).position(|q| q.call.group() == group);
            if let Some(index) = own {
                if self.models.contains(group) || self.fits(me, group) {
                    return Choice::Take(index);
                }
            }
            // Stay while the group's calls are still being prepared.
            if self.expects(group) > 0 && own.is_none() {
                return Choice::Wait;
            }
        }
        // Another group: one no lane runs first, then the one with the most work left;
        // a model another lane runs only while enough is left for two loads to pay.
        let mut best: Option<(bool, usize, usize)> = None;
        for (index, queued) in self.queue.iter().enumerate() {
            let group = queued.call.group();
            if !takes(group) || lane.group.as_deref() == Some(group) {
                continue;
            }
            // With a plan left, only its groups; a model planned here is worth its load.
            let planned = self.planned(me, group);
            if has_plan && !planned {
                continue;
            }
            let serving = self.serving(group);
            let left = self.expects(group).max(1);
            if serving > 0
                && self.models.contains(group)
                && !planned
                && !self.worth_a_load(group, serving, left)
            {
                continue;
            }
            if !self.fits(me, group) {
                continue;
            }
            let rank = (serving == 0, left, usize::MAX - index);
            if best.is_none_or(|b| rank > b) {
                best = Some(rank);
            }
        }
        if let Some((_, _, index)) = best {
            return Choice::Take(usize::MAX - index);
        }
        // A finished group's worker stays loaded until the lane takes another call (its
        // news then comes at once, not after the old worker's exit), unless lanes share this
        // card's memory: then what it holds is freed for them now.
        let done = lane.group.as_deref().is_some_and(|g| self.expects(g) == 0);
        let packing =
            !self.vram.is_empty() && self.cards[me].as_ref().is_some_and(|c| c.1.is_some());
        if done && packing {
            return Choice::Release;
        }
        if self.hung_up && self.queue.is_empty() {
            return Choice::Exit;
        }
        Choice::Wait
    }
}

/// Whether `need` bytes fit on lane `me`'s card beside what the card's other lanes hold
/// (`held`, per lane); always on a lane with no card or a card of unknown memory.
fn fits_beside(
    cards: &[Option<(String, Option<u64>)>],
    held: &[u64],
    me: usize,
    need: u64,
) -> bool {
    let Some((card, Some(total))) = &cards[me] else {
        return true;
    };
    let beside: u64 = (0..held.len())
        .filter(|&l| l != me && cards[l].as_ref().is_some_and(|(c, _)| c == card))
        .map(|l| held[l])
        .sum();
    beside.saturating_add(need) <= *total
}

/// A build's lanes, with what each lane group declares it needs of a card's memory, which
/// groups are models, and the lanes' plan (empty without one).
pub struct BuildLanes {
    pub specs: Vec<LaneSpec>,
    pub vram: BTreeMap<String, u64>,
    pub models: BTreeSet<String>,
    pub plan: Plan,
}

impl BuildLanes {
    /// Plans the lanes by work (`lane_plan::plan`) when every group's times are known
    /// (`times`: per group, its mean call and a model's load), from `groups` (each group and
    /// its calls, the first call's group first, as `by_work` orders them). The plan's row
    /// with the first call's group is lane 0's: it carries the first scene. Without the
    /// times of every group, no plan: the lanes decide as calls come.
    pub fn plan_by(
        &mut self,
        groups: &[(String, usize)],
        times: &BTreeMap<String, crate::history::LaneTimes>,
    ) {
        let work: Option<Vec<crate::lane_plan::GroupWork>> = (groups.iter())
            .map(|(group, calls)| {
                let times = times.get(group)?;
                let model = self.models.contains(group);
                Some(crate::lane_plan::GroupWork {
                    group: group.clone(),
                    calls: *calls,
                    call: times.call,
                    load: model.then(|| times.load.unwrap_or(0.0)),
                })
            })
            .collect();
        let Some(work) = work.filter(|w| !w.is_empty() && self.specs.len() > 1) else {
            return;
        };
        let mut plan = crate::lane_plan::plan(&work, self.specs.len());
        if let Some(row) = (groups.first())
            .and_then(|(first, _)| (plan.iter()).position(|row| row.contains_key(first)))
        {
            plan.swap(0, row);
        }
        self.plan = plan;
    }

    /// How many lanes the plan gives each group (none without a plan): the scheduler feeds
    /// a group that many lanes' worth of calls.
    pub fn planned_lanes(&self) -> BTreeMap<String, usize> {
        let mut lanes: BTreeMap<String, usize> = BTreeMap::new();
        for group in self.plan.iter().flat_map(|row| row.keys()) {
            *lanes.entry(group.clone()).or_default() += 1;
        }
        lanes
    }

    /// Per lane, the model it loads as the build starts, so that no load falls between the
    /// first call and the last: lane k takes the k-th of `groups` (the group of the first
    /// call depth-first, then the others by work left), or with a plan the first of them
    /// planned for lane k that is a model; each only when it fits its card beside the models
    /// the card's earlier lanes load. A program's group (`None`: nothing to load) still
    /// counts as a lane's: a free lane takes its calls as they come.
    pub fn preloads(&self, groups: &[(String, Option<ModelLoad>)]) -> Vec<Option<ModelLoad>> {
        let cards = card_memory(&self.specs);
        let mut held = vec![0; self.specs.len()];
        (0..self.specs.len())
            .map(|lane| {
                let (group, load) = match self.plan.get(lane) {
                    Some(row) => groups
                        .iter()
                        .find(|(group, load)| load.is_some() && row.contains_key(group))?,
                    None => groups.get(lane)?,
                };
                let need = self.vram.get(group).copied().unwrap_or(0);
                let load = load
                    .clone()
                    .filter(|_| fits_beside(&cards, &held, lane, need))?;
                held[lane] = need;
                Some(load)
            })
            .collect()
    }
}

/// The lane groups of a build's jobs (each job's place depth-first, its group, the model
/// its group loads), the first job's group first, then the others by how many jobs they
/// have (the earlier first job on a tie): the order in which lanes preload them.
pub fn by_work<P: Ord + Copy>(
    jobs: impl Iterator<Item = (P, String, Option<ModelLoad>)>,
) -> Vec<(String, Option<ModelLoad>)> {
    let mut groups: BTreeMap<String, (usize, P, Option<ModelLoad>)> = BTreeMap::new();
    for (place, group, load) in jobs {
        let entry = groups.entry(group).or_insert((0, place, load));
        entry.0 += 1;
        entry.1 = entry.1.min(place);
    }
    let first = groups.values().map(|g| g.1).min();
    let mut order: Vec<_> = groups.into_iter().collect();
    order.sort_by_key(|(_, (jobs, place, _))| {
        (Some(*place) != first, std::cmp::Reverse(*jobs), *place)
    });
    (order.into_iter())
        .map(|(group, (_, _, load))| (group, load))
        .collect()
}

/// Per lane, its card's id and memory (None on the CPU).
fn card_memory(specs: &[LaneSpec]) -> Vec<Option<(String, Option<u64>)>> {
    (specs.iter())
        .map(|s| s.card.as_ref().map(|c| (c.id.clone(), c.memory_bytes)))
        .collect()
}

/// The lanes of a build whose models run on `device`, from its jobs' (group, vram, whether
/// the group is a model). A `devices`
/// entry naming a card this machine lacks, or a declaration larger than every card here,
/// is a configuration error at its key, before any work.
pub fn for_build(
    manifest: &crate::manifest::Manifest,
    device: Device,
    jobs: impl Iterator<Item = (String, Option<Vram>, bool)>,
) -> Result<BuildLanes> {
    let settings = &manifest.settings;
    let renderfile = || {
        let path = manifest.root.join(crate::commands::RENDERFILE);
        Doc::new(
            crate::commands::RENDERFILE,
            std::fs::read_to_string(path).unwrap_or_default(),
        )
    };
    let specs =
        crate::device::lanes(device, &settings.lanes, crate::device::cards).map_err(|message| {
            let help = "leave `devices` out to use every GPU, or name the ones `nvidia-smi` lists";
            let doc = renderfile();
            match &settings.devices_at {
                Some(at) if at.end <= doc.text.len() => doc.err(
                    at.clone(),
                    format!("devices: {message}"),
                    "not on this machine",
                    help,
                ),
                _ => ConfigError::in_file(crate::commands::RENDERFILE, message).with_help(help),
            }
        })?;
    let largest = (specs.iter())
        .filter_map(|l| l.card.as_ref().and_then(|c| c.memory_bytes))
        .max();
    let mut vram = BTreeMap::new();
    let mut models = BTreeSet::new();
    for (group, declared, model) in jobs {
        if model {
            models.insert(group.clone());
        }
        let Some(declared) = declared else { continue };
        if let Some(largest) = largest.filter(|&l| declared.bytes > l) {
            let path = if Path::new(&declared.file).is_absolute() {
                PathBuf::from(&declared.file)
            } else {
                manifest.root.join(&declared.file)
            };
            let doc = Doc::new(
                &declared.file,
                std::fs::read_to_string(&path).unwrap_or_default(),
            );
            let message = format!(
                "`{group}` declares `vram` {}, more than any GPU here holds (the largest: {})",
                crate::disk::human_bytes(declared.bytes),
                crate::disk::human_bytes(largest)
            );
            let help = "its jobs could never start: declare what it needs, or run it on a machine with a larger GPU";
            return Err(doc
                .err(declared.at.0..declared.at.1, message, "too large", help)
                .into());
        }
        vram.insert(group, declared.bytes);
    }
    Ok(BuildLanes {
        specs,
        vram,
        models,
        plan: Plan::new(),
    })
}

/// The lanes as an executor (`executor::Executor`): they take every lane call, queue it
/// on their board, and report when a lane begins it and when it ends.
pub struct LaneExecutor<'a> {
    lanes: Option<Lanes>,
    /// Per node, the group its call joins (a model, or a GPU program's engine).
    model_of: &'a [Option<String>],
    /// Artifact names, for the record.
    names: &'a [String],
    /// The calls on the board: their folders, until their call ends.
    waiting: Arc<Mutex<BTreeMap<usize, Pending>>>,
}

impl<'a> LaneExecutor<'a> {
    /// Starts `lanes` for the nodes to `make` whose group `model_of` names; `None` when no
    /// such node is stale (no lane thread starts). Lane k loads `preloads[k]` at once.
    pub fn start(
        lanes: &BuildLanes,
        preloads: Vec<Option<ModelLoad>>,
        model_of: &'a [Option<String>],
        names: &'a [String],
        make: &[bool],
        reports: Reports,
    ) -> Option<LaneExecutor<'a>> {
        let mut expected: BTreeMap<String, usize> = BTreeMap::new();
        for (i, model) in model_of.iter().enumerate() {
            if let (true, Some(model)) = (make[i], model) {
                *expected.entry(model.clone()).or_default() += 1;
            }
        }
        if expected.is_empty() {
            return None;
        }
        let waiting: Arc<Mutex<BTreeMap<usize, Pending>>> = Arc::default();
        let pending = Arc::clone(&waiting);
        let reports = Mutex::new(reports);
        let lanes = Lanes::start(
            &lanes.specs,
            preloads,
            &lanes.plan,
            expected,
            lanes.vram.clone(),
            lanes.models.clone(),
            move |news| {
                let report = match news {
                    News::Began {
                        node,
                        lane,
                        beside: false,
                    } => Report::Began { node, slot: lane },
                    News::Began { node, lane, .. } => Report::Beside { node, slot: lane },
                    News::Done { node, result } => {
                        let pending = (pending.lock().expect("not poisoned").remove(&node))
                            .expect("a lane's call is for a waiting job");
                        let ended = Ended::Called(pending, result);
                        Report::Ended { node, ended }
                    }
                };
                reports.lock().expect("not poisoned").send(report);
            },
        );
        Some(LaneExecutor {
            lanes: Some(lanes),
            model_of,
            names,
            waiting,
        })
    }

    fn lanes(&self) -> &Lanes {
        self.lanes.as_ref().expect("the lanes run until closed")
    }
}

impl Executor for LaneExecutor<'_> {
    fn name(&self) -> &'static str {
        "lanes"
    }

    fn takes(&self, _node: usize, work: &Work) -> bool {
        matches!(work, Work::Call(_))
    }

    fn start(&mut self, node: usize, work: Work) {
        let Work::Call(pending) = work else {
            unreachable!("the lanes take calls only (`takes`)")
        };
        let call = pending.call.clone();
        self.waiting
            .lock()
            .expect("not poisoned")
            .insert(node, pending);
        self.lanes().run(node, self.names[node].clone(), call);
    }

    fn queues(&self) -> bool {
        true
    }

    fn will_not_come(&mut self, node: usize) {
        if let Some(group) = &self.model_of[node] {
            self.lanes().cancel(group);
        }
    }

    /// Queued calls still run (their jobs' folders are finished); after Ctrl-C they fail
    /// at once as interrupted, and the running ones end with their process groups.
    fn no_more(&mut self) {
        self.lanes().no_more();
    }

    fn close(mut self: Box<Self>) -> Vec<LaneEvent> {
        self.lanes.take().map(Lanes::finish).unwrap_or_default()
    }
}

fn lock(board: &Mutex<Board>) -> MutexGuard<'_, Board> {
    board.lock().expect("the board is not poisoned")
}

fn take_expected(board: &mut Board, group: &str) {
    if let Some(count) = board.expected.get_mut(group) {
        *count = count.saturating_sub(1);
    }
}

/// "GPU lane: 2 loads, 14 jobs, busy 63% of 12.1 s" from the lanes' record; with several
/// lanes a line for each (its device, loads, jobs and busy fraction).
pub fn summary(events: &[LaneEvent], build_seconds: f64) -> Option<String> {
    let lanes: BTreeSet<usize> = events.iter().map(|e| e.lane).collect();
    let line = |lane: usize| {
        let mine = events.iter().filter(|e| e.lane == lane);
        let mut loads = 0;
        let mut jobs = 0;
        let mut busy = 0.0;
        let mut started = None;
        for event in mine {
            match event.event {
                "load" => loads += 1,
                "start" => started = Some(event.seconds),
                "end" => {
                    jobs += 1;
                    busy += event.seconds - started.take().unwrap_or(event.seconds);
                }
                _ => {}
            }
        }
        format!(
            "{loads} model load(s), {jobs} job(s), busy {:.0}% of {build_seconds:.1} s",
            100.0 * busy / build_seconds.max(1e-9)
        )
    };
    match lanes.len() {
        0 => None,
        1 => Some(format!("GPU lane: {}", line(*lanes.first()?))),
        n => {
            let mut text = format!("GPU lanes: {n}");
            for lane in lanes {
                let device = (events.iter().find(|e| e.lane == lane)).map_or("", |e| &e.device);
                text.push_str(&format!("\n  lane {lane} ({device}): {}", line(lane)));
            }
            Some(text)
        }
    }
}

/// One lane's thread: takes calls from the board until the scheduler hangs up and nothing
/// is left. Returns its record.
fn run_lane(
    spec: &LaneSpec,
    first: Option<ModelLoad>,
    shared: &(Mutex<Board>, Condvar),
    news: &dyn Fn(News),
    began: Instant,
) -> Vec<LaneEvent> {
    let (board, wake) = shared;
    let me = spec.index;
    let mut record = Record {
        events: Vec::new(),
        began,
        lane: me,
        device: spec.device.to_string(),
    };
    let mut loaded: Option<Worker> = None;
    let mut exiting = Vec::new();
    std::thread::scope(|scope| {
        // The board has this lane on its first model already (`Lanes::start`). Its worker
        // is spawned here (it dies with this thread) and waited for on a thread of its own,
        // so that the lane may run a program's call beside the load.
        let mut loading = first.map(|first| {
            let started = Instant::now();
            let spawned = Worker::spawn(&first.model, &first.file, spec.device);
            scope.spawn(move || {
                let result = spawned.and_then(Worker::ready);
                let at = began.elapsed().as_secs_f64();
                let mut guard = lock(board);
                guard.lanes[me].loading = false;
                match &result {
                    Ok(_) => guard.timed_load(&first.model, started.elapsed()),
                    Err(error) => {
                        // Every call for this model fails with the same words, at once.
                        (guard.load_errors).insert(first.model.clone(), error.to_string());
                        guard.lanes[me].group = None;
                        guard.lanes[me].held = 0;
                    }
                }
                drop(guard);
                wake.notify_all();
                (first.model, result, at)
            })
        });

        loop {
            if loading.as_ref().is_some_and(|l| l.is_finished()) {
                if let Some(Ok(worker)) = landed(&mut loading, &mut record) {
                    loaded = Some(worker);
                }
            }
            let mut guard = lock(board);
            guard.lanes[me].running = false;
            let taken = loop {
                match guard.choose(me) {
                    Choice::Take(index) => break Some((guard.queue.remove(index), false)),
                    Choice::Beside(index) => break Some((guard.queue.remove(index), true)),
                    Choice::Fail(index, message) => {
                        let queued = guard.queue.remove(index);
                        take_expected(&mut guard, queued.call.group());
                        drop(guard);
                        let error = if message == Error::Interrupted.to_string() {
                            Error::Interrupted
                        } else {
                            Error::Other(message)
                        };
                        news(News::Done {
                            node: queued.node,
                            result: Err(error),
                        });
                        wake.notify_all();
                        guard = lock(board);
                    }
                    Choice::Release => {
                        let group = guard.lanes[me].group.take().unwrap_or_default();
                        guard.lanes[me].held = 0;
                        drop(guard);
                        if let Some(Ok(worker)) = landed(&mut loading, &mut record) {
                            loaded = Some(worker);
                        }
                        if let Some(old) = loaded.take() {
                            old.stop();
                            record.now("unload", &group, None);
                        }
                        wake.notify_all();
                        guard = lock(board);
                    }
                    Choice::Exit => break None,
                    Choice::Wait => {
                        // Timed, so Ctrl-C is noticed while nothing changes on the board.
                        guard = wake
                            .wait_timeout(guard, Duration::from_millis(200))
                            .expect("the board is not poisoned")
                            .0;
                    }
                }
            };
            let Some((job, beside)) = taken else {
                break;
            };
            let group = job.call.group().to_string();
            take_expected(&mut guard, &group);
            if let Some(left) = guard.planned[me].get_mut(&group) {
                *left = left.saturating_sub(1);
            }
            guard.lanes[me].running = true;
            let switching = !beside && guard.lanes[me].group.as_deref() != Some(group.as_str());
            let need = guard.vram.get(&group).copied().unwrap_or(0);
            if beside {
                // The model stays loaded (or loading) and its memory held; the program's is
                // added while its call runs.
                guard.lanes[me].beside = Some(group.clone());
                guard.lanes[me].held += need;
            } else {
                guard.lanes[me].group = Some(group.clone());
                // The memory is the group's from now: a model's while loaded, a program's
                // while it runs.
                guard.lanes[me].held = need;
            }
            drop(guard);
            wake.notify_all();
            news(News::Began {
                node: job.node,
                lane: me,
                beside,
            });

            if !beside {
                // A call not run beside the first load waits for it.
                match landed(&mut loading, &mut record) {
                    Some(Ok(worker)) => loaded = Some(worker),
                    Some(Err(error)) if !switching => {
                        news(News::Done {
                            node: job.node,
                            result: Err(error),
                        });
                        continue;
                    }
                    _ => {}
                }
            }
            if switching {
                // The card is emptied before another group runs: the old worker exits.
                if let Some(old) = loaded.take() {
                    let name = old.model().to_string();
                    let_go(old, spec, &mut exiting);
                    record.now("unload", &name, None);
                }
                if let LaneCall::Model(call) = &job.call {
                    let loading = Instant::now();
                    match Worker::start(&call.model, &call.file, spec.device) {
                        Ok(worker) => {
                            record.now("load", &group, None);
                            loaded = Some(worker);
                            lock(board).timed_load(&group, loading.elapsed());
                        }
                        Err(error) => {
                            record.now("load-failed", &group, None);
                            // Every later call for this model fails with the same words, at
                            // once.
                            let mut board = lock(board);
                            board.load_errors.insert(group.clone(), error.to_string());
                            board.lanes[me].group = None;
                            board.lanes[me].held = 0;
                            drop(board);
                            wake.notify_all();
                            news(News::Done {
                                node: job.node,
                                result: Err(error),
                            });
                            continue;
                        }
                    }
                }
            }
            record.now("start", &group, Some(&job.artifact));
            let calling = Instant::now();
            let result = match &job.call {
                LaneCall::Model(call) => {
                    let mut call = call.clone();
                    call.device = spec.device;
                    loaded
                        .as_mut()
                        .expect("the call's model is loaded")
                        .run(&call)
                }
                LaneCall::Program(call) => call.run_on(&job.artifact, spec),
            };
            record.now("end", &group, Some(&job.artifact));
            {
                let mut board = lock(board);
                if beside {
                    board.lanes[me].beside = None;
                    board.lanes[me].held = board.lanes[me].held.saturating_sub(need);
                } else if matches!(job.call, LaneCall::Program(_)) {
                    board.lanes[me].held = 0;
                }
                if result.is_ok() {
                    let took = board.took.entry(group.clone()).or_default();
                    *took = (took.0 + calling.elapsed().as_secs_f64(), took.1 + 1);
                }
                if let Err(error @ Error::WorkerCrashed { .. }) = &result {
                    // A crashed worker serves no more calls; this lane leaves its model to
                    // the others (and when none is left, its calls fail with these words).
                    board.lanes[me].crashed.insert(group.clone());
                    board.crashes.insert(group.clone(), error.to_string());
                    board.lanes[me].group = None;
                    board.lanes[me].held = 0;
                    if let Some(old) = loaded.take() {
                        old.stop();
                        record.now("unload", &group, None);
                    }
                }
            }
            wake.notify_all();
            news(News::Done {
                node: job.node,
                result,
            });
        }
        if let Some(Ok(worker)) = landed(&mut loading, &mut record) {
            loaded = Some(worker);
        }
    });
    if let Some(old) = loaded.take() {
        let name = old.model().to_string();
        old.stop();
        record.now("unload", &name, None);
    }
    for worker in exiting {
        let _ = worker.join();
    }
    record.events
}

/// A lane's first load, on its own thread: the model, the worker, when it ended.
type FirstLoad = (String, Result<Worker>, f64);

/// The lane's first load, waited for and recorded; None once taken.
fn landed(
    loading: &mut Option<std::thread::ScopedJoinHandle<'_, FirstLoad>>,
    record: &mut Record,
) -> Option<Result<Worker>> {
    let (model, result, at) = loading.take()?.join().expect("a load does not panic");
    let event = if result.is_ok() {
        "load"
    } else {
        "load-failed"
    };
    record.at(at, event, &model, None);
    Some(result)
}

/// A lane's own record of its loads, unloads, starts and ends.
struct Record {
    events: Vec<LaneEvent>,
    began: Instant,
    lane: usize,
    device: String,
}

impl Record {
    fn now(&mut self, event: &'static str, group: &str, artifact: Option<&str>) {
        self.at(self.began.elapsed().as_secs_f64(), event, group, artifact);
    }

    fn at(&mut self, seconds: f64, event: &'static str, group: &str, artifact: Option<&str>) {
        self.events.push(LaneEvent {
            seconds,
            event,
            model: group.to_string(),
            artifact: artifact.map(str::to_string),
            lane: self.lane,
            device: self.device.clone(),
        });
    }
}

/// Lets a lane's worker go. On a card the lane waits for it to exit, which frees its memory
/// for what runs next; a lane on the CPU has no card to empty, so the worker exits beside
/// the lane's next call (`exiting`, joined before the lane ends).
fn let_go(worker: Worker, spec: &LaneSpec, exiting: &mut Vec<std::thread::JoinHandle<()>>) {
    if spec.device.is_cuda() {
        worker.stop();
    } else {
        exiting.push(std::thread::spawn(move || worker.stop()));
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;
    use crate::engine::ProgramCall;
    use crate::process::ProgramRun;
    use std::time::Duration;

    fn program(dir: &std::path::Path, script: &str, timeout_seconds: u64) -> ProgramCall {
        ProgramCall {
            group: "talker".into(),
            runs: vec![ProgramRun {
                name: "/bin/sh".into(),
                program: "/bin/sh".into(),
                args: vec!["-c".into(), script.into()],
                env: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
                dir: dir.to_path_buf(),
                log: dir.join("program.log"),
            }],
            timeout_seconds,
            device: Device::Cpu,
        }
    }

    #[test]
    fn program_calls_run_one_at_a_time_with_their_log_kept() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let replies = Arc::new(Mutex::new(Vec::new()));
        let heard = Arc::clone(&replies);
        let lane = LaneSpec {
            index: 0,
            device: Device::Cpu,
            card: None,
        };
        let lanes = Lanes::start(
            &[lane],
            Vec::new(),
            &Plan::new(),
            BTreeMap::from([("talker".to_string(), 2)]),
            BTreeMap::new(),
            BTreeSet::new(),
            move |news| {
                if let News::Done { node, result } = news {
                    heard.lock().unwrap().push((node, result.is_ok()));
                }
            },
        );
        for (node, dir) in dirs.iter().enumerate() {
            let call = program(
                dir.path(),
                "echo \"$GREETING from $PWD\"; echo warn >&2",
                10,
            );
            lanes.run(node, format!("clip {node}"), LaneCall::Program(call));
        }
        let events = lanes.finish();
        assert_eq!(*replies.lock().unwrap(), [(0, true), (1, true)]);
        let kinds: Vec<&str> = events.iter().map(|e| e.event).collect();
        assert_eq!(
            kinds,
            ["start", "end", "start", "end"],
            "no worker for a program"
        );
        for dir in &dirs {
            let log = std::fs::read_to_string(dir.path().join("program.log")).unwrap();
            let pwd = dir.path().canonicalize().unwrap();
            assert_eq!(log, format!("hello from {}\nwarn\n", pwd.display()));
        }
    }

    #[test]
    fn a_program_past_its_deadline_is_stopped_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        // A wrapper whose child hangs: killing only the wrapper would leave the child.
        let call = program(
            dir.path(),
            "sleep 30 & echo $! > child; echo started >&2; wait",
            1,
        );
        let start = Instant::now();
        let error = call.run("clip demo/a:1").unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(
            error.to_string(),
            "/bin/sh failed while making clip demo/a:1: stopped after 1 s, its deadline\nstarted"
        );
        let child: i32 = std::fs::read_to_string(dir.path().join("child"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed means gone or a zombie (not yet reaped by whoever inherited it); a killed
        // process can still show as running for a moment while it exits.
        let running = || {
            let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let alive = (state.rsplit(") ").next())
                .is_some_and(|rest| !rest.starts_with('Z') && !rest.is_empty());
            alive.then_some(state)
        };
        let waited = Instant::now();
        while running().is_some() && waited.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(state) = running() {
            panic!("the wrapper's child outlived the deadline: {state}");
        }
    }

    #[test]
    fn a_failing_program_shows_the_end_of_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let call = program(dir.path(), "echo loading weights >&2; exit 3", 10);
        let error = call.run("clip demo/a:1").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/bin/sh failed while making clip demo/a:1: exit status: 3\nloading weights"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("program.log")).unwrap(),
            "loading weights\n"
        );
    }

    fn cpu_lanes(n: usize) -> Vec<LaneSpec> {
        (0..n)
            .map(|index| LaneSpec {
                index,
                device: Device::Cpu,
                card: None,
            })
            .collect()
    }

    fn load(model: &str) -> Option<ModelLoad> {
        Some(ModelLoad {
            model: model.into(),
            file: format!("/nonexistent/{model}.pt").into(),
            device: Device::Cpu,
        })
    }

    #[test]
    fn lanes_preload_the_first_group_then_the_groups_with_the_most_work() {
        // Depth-first places: `b` has the first job, `a` the most, the program `p` more
        // than `c`.
        let jobs = [
            (5, "a", true),
            (0, "b", true),
            (6, "a", true),
            (7, "a", true),
            (2, "c", true),
            (3, "p", false),
            (4, "p", false),
        ];
        let order = by_work(jobs.into_iter().map(|(place, group, model)| {
            (place, group.to_string(), load(group).filter(|_| model))
        }));
        let names: Vec<&str> = order.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(names, ["b", "a", "p", "c"]);
        let lanes = BuildLanes {
            specs: cpu_lanes(3),
            vram: BTreeMap::new(),
            models: BTreeSet::new(),
            plan: Plan::new(),
        };
        // Lane 2's group is a program: it loads nothing, and `c` waits for a free lane.
        assert_eq!(lanes.preloads(&order), [load("b"), load("a"), None]);
    }

    #[test]
    fn a_lane_preloads_only_what_fits_beside_the_cards_other_preloads() {
        let card = |ordinal: usize| crate::device::Card {
            ordinal,
            id: ordinal.to_string(),
            memory_bytes: Some(80),
        };
        let specs: Vec<LaneSpec> = (0..3)
            .map(|index| LaneSpec {
                index,
                device: Device::Cuda(0),
                card: Some(card(0)),
            })
            .collect();
        let lanes = BuildLanes {
            specs,
            vram: BTreeMap::from([("a".into(), 50), ("b".into(), 40), ("c".into(), 30)]),
            models: BTreeSet::new(),
            plan: Plan::new(),
        };
        let order =
            [("a", load("a")), ("b", load("b")), ("c", load("c"))].map(|(g, l)| (g.to_string(), l));
        assert_eq!(lanes.preloads(&order), [load("a"), None, load("c")]);
    }

    #[test]
    fn every_lane_loads_its_model_as_the_lanes_start() {
        let lanes = Lanes::start(
            &cpu_lanes(3),
            vec![load("a"), load("b"), None],
            &Plan::new(),
            BTreeMap::from([("a".to_string(), 4), ("b".to_string(), 4)]),
            BTreeMap::new(),
            BTreeSet::from(["a".to_string(), "b".to_string()]),
            |_| {},
        );
        let events = lanes.finish();
        let mut loads: Vec<(usize, &str, &str)> = (events.iter())
            .map(|e| (e.lane, e.event, e.model.as_str()))
            .collect();
        loads.sort();
        // No call came: each load is the lane's own, before any (the files are missing).
        assert_eq!(loads, [(0, "load-failed", "a"), (1, "load-failed", "b")]);
    }

    /// A board of `lanes` CPU lanes: lane 0 runs the model `m` (6 calls to come), the last
    /// lane the program `p` (`left` calls to come); one call of each waits, `p`'s first.
    fn model_and_program(lanes: Vec<LaneSpec>, left: usize, dir: &std::path::Path) -> Board {
        let last = lanes.len() - 1;
        let mut board = Board::new(
            &lanes,
            BTreeMap::from([("m".to_string(), 6), ("p".to_string(), left)]),
            BTreeMap::new(),
            BTreeSet::from(["m".to_string()]),
        );
        board.lanes[0].group = Some("m".into());
        board.lanes[last].group = Some("p".into());
        for (node, group) in ["p", "m"].into_iter().enumerate() {
            let mut call = program(dir, "true", 10);
            call.group = group.into();
            board.queue.push(Queued {
                node,
                artifact: format!("clip {node}"),
                call: LaneCall::Program(call),
            });
        }
        board
    }

    #[test]
    fn a_lane_runs_a_long_program_call_beside_its_model_while_that_evens_the_ends() {
        let dir = tempfile::tempdir().unwrap();
        let beside = |board: &Board| matches!(board.choose(0), Choice::Beside(0));
        let own = |board: &Board| matches!(board.choose(0), Choice::Take(1));
        let mut board = model_and_program(cpu_lanes(3), 8, dir.path());
        // Unmeasured: the lane keeps to its model's calls.
        assert!(own(&board));
        // Model calls of 0.5 s (3 s left), program calls of 3 s (24 s left on one lane):
        // the lane helps, its model staying loaded.
        board.took.insert("m".into(), (1.0, 2));
        board.took.insert("p".into(), (6.0, 2));
        assert!(beside(&board));
        // Another lane already helps: 12 s left each, still more than 3 + 3 s.
        board.lanes[1].beside = Some("p".into());
        assert!(beside(&board));
        // Two program calls left over two lanes: helping would make this lane end last.
        board.expected.insert("p".into(), 2);
        assert!(own(&board));
        // On a card: only where both declare their memory and fit.
        let card = Some(crate::device::Card {
            ordinal: 0,
            id: "0".into(),
            memory_bytes: Some(80),
        });
        let mut specs = cpu_lanes(3);
        specs.iter_mut().for_each(|s| {
            s.device = Device::Cuda(0);
            s.card = card.clone();
        });
        let mut board = model_and_program(specs, 8, dir.path());
        board.took.insert("m".into(), (1.0, 2));
        board.took.insert("p".into(), (6.0, 2));
        assert!(own(&board), "undeclared memory: the card is emptied first");
        board.vram = BTreeMap::from([("m".into(), 30), ("p".into(), 40)]);
        board.lanes[0].held = 30;
        assert!(beside(&board));
        board.lanes[2].held = 20;
        assert!(own(&board), "30 + 40 beside 20 is more than 80");
    }

    #[test]
    fn a_lane_runs_a_program_call_while_its_first_model_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut board = model_and_program(cpu_lanes(3), 8, dir.path());
        // Lane 1 loads `m` too (a second lane on it); nothing is measured yet. The program's
        // lane is idle: the call is its.
        board.lanes[1].group = Some("m".into());
        board.lanes[1].loading = true;
        assert!(matches!(board.choose(1), Choice::Take(1)));
        // The program's lane runs a call: lane 1 runs the next beside its load.
        board.lanes[2].running = true;
        assert!(matches!(board.choose(1), Choice::Beside(0)));
        board.lanes[1].loading = false;
        assert!(matches!(board.choose(1), Choice::Take(1)));
        // Lane 0 carries the first scene's calls: they go first once its model is in.
        board.lanes[0].loading = true;
        assert!(matches!(board.choose(0), Choice::Take(1)));
    }

    #[test]
    fn a_planned_lane_runs_its_program_calls_beside_its_model_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut board = model_and_program(cpu_lanes(3), 8, dir.path());
        // Lane 0 loads `m`; nothing is measured. Without a plan it waits for its load to
        // run the first scene's `m` call.
        board.lanes[0].loading = true;
        assert!(matches!(board.choose(0), Choice::Take(1)));
        // Planned two of `p`'s calls (the history's times): the first beside the load.
        board.planned[0] = BTreeMap::from([("m".to_string(), 6), ("p".to_string(), 2)]);
        assert!(matches!(board.choose(0), Choice::Beside(0)));
        // Loaded: its own calls first while they wait, then `p`'s beside the model.
        board.lanes[0].loading = false;
        assert!(matches!(board.choose(0), Choice::Take(1)));
        board.queue.remove(1);
        assert!(matches!(board.choose(0), Choice::Beside(0)));
        // Its plan of `p` spent (and nothing measured): it waits for its model's calls.
        board.planned[0].insert("p".into(), 0);
        assert!(matches!(board.choose(0), Choice::Wait));
    }

    #[test]
    fn a_lane_keeps_to_its_plan_and_takes_any_work_once_it_is_spent() {
        let dir = tempfile::tempdir().unwrap();
        // Lane 0 runs `m` (12 calls to come), lane 2 `p`; lane 1 is free; an `m` call waits.
        let mut board = model_and_program(cpu_lanes(3), 8, dir.path());
        board.queue.remove(0);
        board.expected.insert("m".into(), 12);
        // Unplanned: 12 calls are enough for a second load of `m`.
        assert!(matches!(board.choose(1), Choice::Take(0)));
        // Planned for `p` alone: it leaves `m` to lane 0 and waits for `p`'s calls.
        board.planned[1] = BTreeMap::from([("p".to_string(), 2)]);
        assert!(matches!(board.choose(1), Choice::Wait));
        // Its plan spent, it takes any work it may.
        board.planned[1].insert("p".into(), 0);
        assert!(matches!(board.choose(1), Choice::Take(0)));
        // 6 calls of `m` are too few for a second load unplanned, not where the plan says.
        board.expected.insert("m".into(), 6);
        assert!(matches!(board.choose(1), Choice::Wait));
        board.planned[1] = BTreeMap::from([("m".to_string(), 3)]);
        assert!(matches!(board.choose(1), Choice::Take(0)));
        // A model whose worker crashed on the lane is no longer its plan.
        assert!(board.has_plan(1));
        board.lanes[1].crashed.insert("m".into());
        assert!(!board.has_plan(1));
    }

    #[test]
    fn a_plan_by_the_historys_times_gives_each_lane_its_models_and_lane_0_the_first() {
        let times = |entries: &[(&str, f64, Option<f64>)]| {
            (entries.iter())
                .map(|&(group, call, load)| {
                    (group.to_string(), crate::history::LaneTimes { call, load })
                })
                .collect::<BTreeMap<_, _>>()
        };
        let mut lanes = BuildLanes {
            specs: cpu_lanes(3),
            vram: BTreeMap::new(),
            models: BTreeSet::from(["a".to_string(), "b".to_string()]),
            plan: Plan::new(),
        };
        // `a` has the first call; a third of the calls each; `p` a long program.
        let groups = [("a", 8), ("b", 8), ("p", 8)].map(|(g, n)| (g.to_string(), n));
        // The history does not know `b`: no plan, the lanes preload by work.
        lanes.plan_by(&groups, &times(&[("a", 0.2, Some(0.5)), ("p", 1.6, None)]));
        assert!(lanes.plan.is_empty());
        let order =
            [("a", load("a")), ("b", load("b")), ("p", None)].map(|(g, l)| (g.to_string(), l));
        assert_eq!(lanes.preloads(&order), [load("a"), load("b"), None]);
        lanes.plan_by(
            &groups,
            &times(&[
                ("a", 0.2, Some(0.5)),
                ("b", 0.05, Some(0.5)),
                ("p", 1.6, None),
            ]),
        );
        let row = |entries: &[(&str, usize)]| -> BTreeMap<String, usize> {
            entries.iter().map(|(g, n)| (g.to_string(), *n)).collect()
        };
        // `p` on every lane; `a` where `p` has 2 calls, moved to lane 0 (the first scene's).
        assert_eq!(
            lanes.plan,
            [
                row(&[("a", 8), ("p", 2)]),
                row(&[("p", 3)]),
                row(&[("b", 8), ("p", 3)]),
            ]
        );
        assert_eq!(lanes.preloads(&order), [load("a"), None, load("b")]);
        assert_eq!(
            lanes.planned_lanes(),
            BTreeMap::from([("a".into(), 1), ("b".into(), 1), ("p".into(), 3)])
        );
    }

    #[test]
    fn a_second_lane_loads_a_model_when_its_measured_times_say_it_pays() {
        let models = BTreeSet::from(["slow".to_string()]);
        let mut board = Board::new(
            &cpu_lanes(2),
            BTreeMap::from([("slow".to_string(), 6)]),
            BTreeMap::new(),
            models,
        );
        board.lanes[0].group = Some("slow".into());
        let dir = tempfile::tempdir().unwrap();
        let mut call = program(dir.path(), "true", 10);
        call.group = "slow".into();
        board.queue.push(Queued {
            node: 0,
            artifact: "clip a".into(),
            call: LaneCall::Program(call),
        });
        let takes = |board: &Board| matches!(board.choose(1), Choice::Take(0));
        // Unmeasured: 6 calls left are fewer than `SPLIT_AT` per lane for two lanes.
        assert!(!takes(&board));
        // Calls of 2 s and a load of 0.5 s: one lane ends in 12 s, two in 6.25 s.
        board.took.insert("slow".into(), (4.0, 2));
        board.timed_load("slow", Duration::from_millis(500));
        assert!(takes(&board));
        // A load of 20 s: two lanes would end later than one.
        board.timed_load("slow", Duration::from_secs(20));
        assert!(!takes(&board));
    }
}
