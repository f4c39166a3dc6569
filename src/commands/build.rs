//! `render build`: load, plan, make the stale artifacts, publish the scenes, report.

use std::collections::{BTreeMap, HashMap};
use std::mem::ManuallyDrop;
use std::path::Path;
use std::time::Instant;

use crate::build_log::BuildLog;
use crate::cache::Cache;
use crate::cli::BuildArgs;
use crate::commands::{self, EXIT_CONFIG, EXIT_FAILED};
use crate::error::{Error, Result};
use crate::events::{BuildEvent, Events};
use crate::executor;
use crate::graph::{Graph, Node};
use crate::history::{self, History};
use crate::lock::BuildLock;
use crate::noop_stamp;
use crate::published::{Published, Unpublished};
use crate::report::{ArtifactReport, Progress, Summary, Task};
use crate::scheduler::{self, Event, Lane, Outcome};

pub fn run(args: &BuildArgs) -> i32 {
    let (dir, targets) = match commands::locate(&args.args) {
        Ok(found) => found,
        Err(error) => return commands::exit_code(Err(error)),
    };
    if args.dry_run {
        // Only reads, like `render plan`: no lock, no cache folders, no state saved.
        let plan = commands::plan::Options {
            keep_going: args.keep_going,
            verify: args.verify,
            check: args.check,
            force: args.force,
            write_jobs: None,
            farm: args.farm.is_some(),
        };
        return commands::plan::show(&dir, &targets, &plan);
    }
    let start = Instant::now();
    let started_at = history::now();
    let started_ns = noop_stamp::now_ns();
    let mut held = None;
    match stamped(args, &dir, &targets, start, started_at) {
        Stamped::Said(code) => return code,
        Stamped::Locked(lock) => held = Some(lock),
        Stamped::Not => {}
    }
    let (mut manifest, partial, hashes) = match commands::load(&dir, args.keep_going) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if let Err(error) = crate::target::select(&mut manifest, &targets) {
        return commands::exit_code(Err(error));
    }
    // The manifest and the graph are never freed: the process ends with the build, and
    // freeing 10,000 lines' worth of small allocations costs a no-op more than its walk.
    let manifest = ManuallyDrop::new(manifest);
    let cache = Cache::new(&manifest.root);
    let result = (|| -> Result<i32> {
        let events = Events::open(args.events.as_deref())?;
        let _lock = match held.take() {
            Some(lock) => lock,
            None => BuildLock::acquire(&cache.dir)?,
        };
        // Whatever this build changes, the stamp of the last no-op no longer speaks for.
        noop_stamp::forget(&cache.state_dir())?;
        let _servers = crate::server::Servers; // declared servers stop with the build
        cache.prepare()?;
        cache.sweep_tmp()?;
        let mut ledger = Published::open(&manifest.root, &cache.dir)?;
        let hashes_path = cache.state_dir().join("sources.json");
        let device = commands::device(&manifest)?;
        let mut graph = ManuallyDrop::new(Graph::from_manifest(&manifest, &hashes, device)?);
        let jobs = args
            .jobs
            .map(usize::from)
            .or(manifest.settings.jobs)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let mut failures: Vec<history::Failure> = Vec::new();
        // The farm's setup, made once the build has something for it (shared by both rounds).
        let mut farm_setup: Option<executor::slurm::Setup> = None;
        // Long lines not cut yet: their cuts first, then the plan again, with their segments.
        let early = match graph.uncut.is_empty() {
            true => Early::default(),
            false => {
                if args.farm.is_some() {
                    farm_setup = Some(slurm_setup(args, &manifest.root, &cache)?);
                }
                let round = CutFirst {
                    farm: farm_setup.as_ref(),
                    graph: &graph,
                    cache: &cache,
                    args,
                    jobs,
                    manifest: &manifest,
                    device,
                    start,
                    events: &events,
                };
                let early = round.run(&mut failures)?;
                graph = ManuallyDrop::new(Graph::from_manifest(&manifest, &hashes, device)?);
                early
            }
        };
        hashes.save(&hashes_path)?;
        let mut stale = graph.stale(args.verify);
        if early.stop {
            // A failure (without --keep-going) or Ctrl-C in the first round: nothing more.
            stale.make.fill(false);
            stale.damaged.clear();
        }
        // Lines still not cut failed to be in the first round: not tried again.
        for (i, first) in graph.cuts_first(&stale.make).into_iter().enumerate() {
            stale.make[i] &= !first;
        }
        if args.force && !early.stop {
            // Everything the selected scenes need, made again: the old objects go first
            // (a commit never replaces an object). Not what the first round has just made
            // (a line's speech and cuts): that is this build's already.
            for (i, node) in graph.nodes.iter().enumerate() {
                let just_made = (early.outcomes.get(&node.key())).is_some_and(|o| o.0 == "made");
                if !stale.make[i] && !just_made {
                    cache.discard(&node.key())?;
                }
                stale.make[i] = !just_made;
            }
        }
        let mut last = BuildLog::open(&cache);
        last.reserve(graph.nodes.len());

        // Damage is moved aside, never deleted, and its artifact made again.
        for (i, reason) in &stale.damaged {
            let node = &graph.nodes[*i];
            cache.remake_damaged(&node.key(), node.name(), reason)?;
        }
        let make = stale.make;

        // Only what is made needs its edges and lane group copied for the scheduler.
        let stale = |i: usize| make[i];
        let deps: Vec<Vec<usize>> = (graph.nodes.iter().enumerate())
            .map(|(i, n)| {
                if stale(i) {
                    // A scene waits for its captions too: they are published together.
                    n.deps.iter().chain(&n.captions).copied().collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let model_of: Vec<Option<String>> = (graph.nodes.iter().enumerate())
            .map(|(i, n)| n.job.lane_group().filter(|_| stale(i)))
            .collect();
        let names: Vec<String> = (graph.nodes.iter().enumerate())
            .map(|(i, n)| {
                if stale(i) {
                    n.name().to_string()
                } else {
                    String::new()
                }
            })
            .collect();
        let something_to_make = make.contains(&true);
        // Depth-first: a no-op needs no ranks, nor the history's times.
        let rank = if something_to_make {
            graph.scene_rank()
        } else {
            Vec::new()
        };
        // On a farm, whole jobs go to the cluster: no lane here.
        let lane = match args.farm {
            Some(_) => None,
            None => lane(&graph, &model_of, &names, &rank, &manifest, device, &cache)?,
        };
        let mut progress = if something_to_make {
            let tasks: Vec<Option<Task>> = (graph.nodes.iter().enumerate())
                .map(|(i, n)| {
                    stale(i).then(|| Task {
                        kind: n.kind().to_string(),
                        on_lane: model_of[i].is_some(),
                        // An episode is published too, but it is not a scene.
                        scene: n.kind() == crate::key::ArtifactKind::Scene,
                    })
                })
                .collect();
            let seconds = history::seconds_by_kind(&History::of(&cache).read().builds);
            Progress::new(&tasks, jobs, seconds)
        } else {
            Progress::new(&[], jobs, Default::default())
        };

        events.send(&BuildEvent::Plan {
            to_make: make.iter().filter(|&&m| m).count(),
            scenes: (graph.nodes.iter().enumerate())
                .filter(|(i, n)| make[*i] && n.kind() == crate::key::ArtifactKind::Scene)
                .count(),
            jobs,
        });
        let mut summary = Summary::default();
        let mut changes: Vec<history::OutChange> = Vec::new();
        let mut failed_publish = false;
        // Each scene is published as soon as it is made (below); reused ones first.
        let mut publish_scene = |node: &Node, progress: &Progress| {
            let (changed, errors) = publish(&cache, &mut ledger, &manifest.root, &graph, node);
            summary.published += changed.len();
            for change in &changed {
                events.send(&BuildEvent::Published {
                    path: &change.path,
                    change: &change.change,
                });
            }
            changes.extend(changed);
            for error in errors {
                failed_publish = true;
                progress.println(&commands::render(&error));
            }
        };
        // A reused scene whose captions are to be made is published when they are.
        let mut waits_for_captions: HashMap<usize, Vec<usize>> = HashMap::new();
        for (i, node) in graph.nodes.iter().enumerate() {
            if node.publish.is_empty() || make[i] {
                continue;
            }
            match node.captions.filter(|&c| make[c]) {
                Some(captions) => waits_for_captions.entry(captions).or_default().push(i),
                // `stale` found every published node present, so nothing is stat'ed again.
                None => publish_scene(node, &progress),
            }
        }

        // When each job started, from the build's start (for --json and the history).
        let mut starts: Vec<Option<f64>> = vec![None; graph.nodes.len()];
        // What is made next is other files than the ones the checks above stat'ed.
        crate::cache::forget_checked_stats();
        let farm: Option<scheduler::Farm> = match args.farm {
            None => None,
            // A no-op asks nothing of the cluster.
            Some(_) if !something_to_make => None,
            Some(crate::cli::FarmKind::Slurm) => {
                use executor::slurm::{Farmed, SlurmExecutor};
                let setup = match farm_setup.take() {
                    Some(setup) => setup,
                    None => slurm_setup(args, &manifest.root, &cache)?,
                };
                let farmed: Vec<Option<Farmed>> = (graph.nodes.iter().enumerate())
                    .map(|(i, n)| {
                        make[i].then(|| Farmed {
                            job: n.job.clone(),
                            group: model_of[i].clone(),
                            scene: rank[i],
                        })
                    })
                    .collect();
                Some(Box::new(move |reports| {
                    Box::new(SlurmExecutor::start(setup, farmed, reports)) as _
                }))
            }
        };
        let reports = Reports {
            graph: &graph,
            model_of: &model_of,
            events: &events,
            start,
        };
        let (outcomes, lane_events) = scheduler::run_with(
            &deps,
            &make,
            &rank,
            jobs,
            args.keep_going,
            lane,
            farm,
            |i| executor::start(&graph.nodes[i].job),
            |i, pending, model| executor::finish(&graph.nodes[i].job, pending, model),
            |event, outcomes| {
                let told = reports.tell(event, outcomes, &mut starts, &mut progress, &mut failures);
                let Some((i, Outcome::Made { .. })) = told else {
                    return;
                };
                let node = &graph.nodes[i];
                if !node.publish.is_empty() {
                    publish_scene(node, &progress);
                }
                for &scene in waits_for_captions.get(&i).into_iter().flatten() {
                    publish_scene(&graph.nodes[scene], &progress);
                }
            },
        );
        progress.done();

        // The objects a no-op checks, when this build made some: the check log learns them.
        let checked_on_noop = if something_to_make {
            graph.checked_on_noop()
        } else {
            Vec::new()
        };
        for (i, node) in graph.nodes.iter().enumerate() {
            let (status, seconds) = match &outcomes[i] {
                // What the first round did is not reuse.
                None => match early.outcomes.get(&node.key()) {
                    Some(&(status, seconds, start)) => {
                        starts[i] = start;
                        (status, seconds)
                    }
                    None => ("reused", 0.0),
                },
                Some(outcome) => status(outcome),
            };
            if matches!(status, "made" | "reused") {
                last.record(node.name(), node.key());
            }
            if status == "made" && checked_on_noop.get(i) == Some(&true) {
                graph.checks().made(&node.key());
            }
            if status == "reused" && args.json.is_none() && !events.is_on() {
                // Only `--json` (and `--events`' summary) lists what was reused: the
                // history keeps what was made.
                summary.reused += 1;
                continue;
            }
            summary.add(ArtifactReport {
                name: node.name().to_string(),
                kind: node.kind().to_string(),
                key: node.key().hex(),
                status,
                start: starts[i],
                seconds,
                variants: node.variants.clone(),
            });
        }
        last.save()?;
        // A build that saw only some scenes keeps what the log knew of the others.
        graph.checks().save(partial || !targets.is_empty())?;
        // Only a build that saw every scene may say which videos are no longer declared.
        // (A scene waiting for its lines' cuts is declared: its videos stay.)
        let sweep = graph.waiting.is_empty() && !crate::process::interrupted();
        if !partial && targets.is_empty() && sweep {
            for done in ledger.unpublish_undeclared(&graph.published_files())? {
                match done {
                    Unpublished::Removed(stale) => {
                        let what = crate::stage::episode::owner_of_published(Path::new(&stale));
                        eprintln!("render: removed {stale} (its {what} is no longer declared)");
                        changes.push(history::OutChange {
                            path: stale,
                            change: "removed".into(),
                        });
                    }
                    Unpublished::Changed(left) => {
                        // Said again by every build while the file is there.
                        noop_stamp::unstampable();
                        eprintln!(
                            "render: left {left}: render published it, but it was changed since, so it is yours now"
                        )
                    }
                }
            }
        }
        summary.gpu_lane = [early.lane_events, lane_events].concat();
        // Each variant's build time, read from its objects' records (a few reads per
        // artifact of a scene with variants), for --json and the history.
        summary.variants = crate::variants::of(&graph, Some(&cache));
        summary.seconds = start.elapsed().as_secs_f64();
        noop_stamp::say_summary(&summary.line());
        if let Some(line) = crate::variants::line(&summary.variants) {
            noop_stamp::say(&format!("render: {line}\n"));
        }
        let engines = (graph.nodes.iter()).filter_map(|n| match &n.job.work {
            crate::engine::EngineJob::Command(job) => Some(job.engine.as_str()),
            _ => None,
        });
        if let Some(notice) = commands::engines::not_commercial(&manifest, engines) {
            noop_stamp::say(&format!("render: {notice}\n"));
        }
        let lanes = match args.farm {
            Some(_) => executor::slurm::summary(&summary.gpu_lane),
            None => crate::lanes::summary(&summary.gpu_lane, summary.seconds),
        };
        if let Some(line) = lanes {
            noop_stamp::say(&format!("{line}\n"));
        }
        if let Some(path) = &args.json {
            summary.write_json(path)?;
        }
        if partial {
            eprintln!("render: scenes with configuration errors (above) were left out");
        }
        let interrupted = crate::process::interrupted();
        if interrupted {
            eprintln!("render: interrupted; the cache is consistent and the next build resumes");
        }
        let code = if interrupted {
            commands::EXIT_INTERRUPTED
        } else if partial {
            EXIT_CONFIG
        } else if summary.failed > 0 || summary.skipped > 0 || failed_publish {
            EXIT_FAILED
        } else {
            0
        };
        let history = History::of(&cache);
        history.remember_used(&last.digest(), last.entries())?;
        let used = (!last.entries().is_empty()).then(|| last.digest());
        let mut record = record(&summary, started_at, code, failures, changes);
        record_makers(&mut record, &cache);
        if record.did_something() {
            record.variants = variant_times(&summary, &manifest);
        }
        record.used = used.unwrap_or_default();
        record.targets = targets.clone();
        history.append(&record)?;
        // The page is for people; a build that made its videos has not failed without it.
        // A no-op leaves it showing the last build that did something (the same page
        // `write` would make again), unless it is missing.
        let page = manifest.root.join("out").join(commands::report::FILE);
        let unchanged = !record.did_something() && crate::published::is_report(&page);
        if !unchanged {
            if let Err(error) = commands::report::write(&manifest) {
                eprintln!("render: could not write out/{}:", commands::report::FILE);
                commands::report(error);
            }
        }
        let plain = code == 0 && !record.did_something() && !something_to_make;
        if plain && summary.variants.is_empty() && plain_args(args) && !early.stop {
            let stamp = Noop {
                graph: &graph,
                cache: &cache,
                root: &manifest.root,
                targets: &targets,
                used: &record.used,
                reused: summary.reused,
            };
            stamp.write(args, started_ns)?;
        }
        // Last, so that a reader of the events finds the history and the page written.
        events.send(&BuildEvent::Summary {
            exit: code,
            summary: &summary,
        });
        Ok(code)
    })();
    commands::exit_code(result)
}

/// What `stamped` found.
enum Stamped {
    /// The stamp held: the no-op was said again, with this exit code.
    Said(i32),
    /// The stamp did not hold; the build lock taken to check it, for the full path.
    Locked(BuildLock),
    /// No stamp to check.
    Not,
}

/// A build whose flags change only how it runs, not what it says or writes: the only
/// kind the no-op stamp stands for (`--json`, `--events`, `--verify`, `--force` and
/// `--farm` each add something of their own; `--jobs` changes nothing a no-op does).
fn plain_args(args: &BuildArgs) -> bool {
    !args.verify
        && !args.force
        && args.json.is_none()
        && args.events.is_none()
        && args.farm.is_none()
}

/// The no-op path taken first (`noop_stamp.rs`): when the last no-op's stamp holds for this
/// build, say what it said, append its line to the history, and stop, having loaded
/// nothing. Checked under the build lock, which goes on to the full path when the stamp
/// does not hold.
fn stamped(
    args: &BuildArgs,
    dir: &Path,
    targets: &[String],
    start: Instant,
    started_at: f64,
) -> Stamped {
    if !plain_args(args) {
        return Stamped::Not;
    }
    let Ok(root) = commands::content_root(dir) else {
        return Stamped::Not;
    };
    let cache = Cache::new(&root);
    let state = cache.state_dir();
    if !state.join(noop_stamp::FILE).is_file() {
        return Stamped::Not;
    }
    let Ok(lock) = BuildLock::acquire(&cache.dir) else {
        return Stamped::Not;
    };
    let context = noop_stamp::context(&root, targets, args.keep_going);
    let Some(replay) = noop_stamp::check(&root, &state, &context) else {
        return Stamped::Locked(lock);
    };
    let summary = Summary {
        reused: replay.reused,
        seconds: start.elapsed().as_secs_f64(),
        ..Summary::default()
    };
    replay.say(summary.seconds);
    let mut record = record(&summary, started_at, 0, Vec::new(), Vec::new());
    record.used = replay.used.clone();
    record.targets = targets.to_vec();
    let appended = History::of(&cache).append(&record);
    drop(lock);
    Stamped::Said(commands::exit_code(appended.map(|()| 0)))
}

/// What a no-op build writes to its stamp (`noop_stamp::write`).
struct Noop<'a> {
    graph: &'a Graph,
    cache: &'a Cache,
    root: &'a Path,
    targets: &'a [String],
    used: &'a str,
    reused: usize,
}

impl Noop<'_> {
    /// Writes the stamp, listing what the no-op's answer rests on besides what was read
    /// while planning: each object its cheap checks stat'ed, each published file, the state
    /// files, `out/report.html`, the history's used set. A file left in `cache/tmp/` (a
    /// later build may sweep it) or an object checked without a log entry: no stamp.
    fn write(&self, args: &BuildArgs, started_ns: i128) -> Result<()> {
        let cache = self.cache;
        let tmp = cache.dir.join("tmp");
        let tmp_empty = std::fs::read_dir(&tmp).is_ok_and(|mut d| d.next().is_none());
        let checked = self.graph.checked_on_noop();
        let keys = (self.graph.nodes.iter().enumerate())
            .filter(|(i, _)| checked[*i])
            .map(|(_, n)| n.key());
        let Some(mut answer) = self.graph.checks().files(keys).filter(|_| tmp_empty) else {
            return Ok(());
        };
        answer.push(tmp);
        answer.extend(self.graph.published_files());
        answer.push(self.root.join("out").join(commands::report::FILE));
        let state = cache.state_dir();
        let entries = std::fs::read_dir(&state).into_iter().flatten().flatten();
        answer.extend((entries.map(|e| e.path())).filter(|p| !p.ends_with(noop_stamp::FILE)));
        if !self.used.is_empty() {
            answer.push(History::of(cache).used_path(self.used));
        }
        noop_stamp::write(noop_stamp::Written {
            root: self.root,
            state_dir: &state,
            context: &noop_stamp::context(self.root, self.targets, args.keep_going),
            reused: self.reused,
            used: self.used,
            started_ns,
            answer,
        })?;
        Ok(())
    }
}

/// The lanes, when some job to make needs the GPU (a model or a GPU program). Each loads a
/// model at once: the first lane the model of the lane job that comes first depth-first,
/// the others the groups with the most jobs, or, when the history knows every group's
/// call time, the models the lanes' plan by work gives them (`lane_plan`).
fn lane<'a>(
    graph: &Graph,
    model_of: &'a [Option<String>],
    names: &'a [String],
    rank: &[u32],
    manifest: &crate::manifest::Manifest,
    device: Option<crate::device::Device>,
    cache: &Cache,
) -> Result<Option<Lane<'a>>> {
    if !model_of.iter().any(Option::is_some) {
        return Ok(None);
    }
    let lane_jobs = (0..graph.nodes.len()).filter(|&i| model_of[i].is_some());
    let by_work = crate::lanes::by_work(lane_jobs.map(|i| {
        let group = model_of[i].clone().unwrap_or_default();
        ((rank[i], i), group, graph.nodes[i].job.model_load())
    }));
    let groups = (0..graph.nodes.len())
        .filter(|&i| model_of[i].is_some())
        .map(|i| {
            let job = &graph.nodes[i].job;
            let group = model_of[i].clone().unwrap_or_default();
            (group, job.vram(), job.model_load().is_some())
        });
    let device = device.unwrap_or(crate::device::Device::Cpu);
    let mut lanes = crate::lanes::for_build(manifest, device, groups)?;
    if lanes.specs.len() > 1 {
        let mut calls: BTreeMap<&str, usize> = BTreeMap::new();
        for group in model_of.iter().flatten() {
            *calls.entry(group).or_default() += 1;
        }
        let groups: Vec<(String, usize)> = (by_work.iter())
            .map(|(group, _)| {
                (
                    group.clone(),
                    calls.get(group.as_str()).copied().unwrap_or(0),
                )
            })
            .collect();
        let builds = History::of(cache).read().builds;
        lanes.plan_by(&groups, &history::lane_seconds(&builds));
    }
    Ok(Some(Lane {
        model_of,
        names,
        preloads: lanes.preloads(&by_work),
        lanes,
    }))
}

/// What both rounds (the cuts' and the build's) do with each of the scheduler's events:
/// the progress display, `--events`, each job's start, each failure.
struct Reports<'a> {
    graph: &'a Graph,
    model_of: &'a [Option<String>],
    events: &'a Events,
    start: Instant,
}

impl Reports<'_> {
    /// Tells `event`; a finished job comes back with its outcome, for the round's own work
    /// (publishing a scene).
    fn tell<'o>(
        &self,
        event: Event,
        outcomes: &'o [Option<Outcome>],
        starts: &mut [Option<f64>],
        progress: &mut Progress,
        failures: &mut Vec<history::Failure>,
    ) -> Option<(usize, &'o Outcome)> {
        let graph = self.graph;
        match event {
            Event::Started(i) => {
                let at = self.start.elapsed().as_secs_f64();
                starts[i] = Some(at);
                let node = &graph.nodes[i];
                send_started(self.events, node, self.model_of[i].is_some(), at);
                progress.started(node.name());
                None
            }
            Event::Stalled(i, running) => {
                send_stalled(self.events, &graph.nodes[i], running);
                progress.stalled(graph.nodes[i].name(), running);
                None
            }
            Event::Tick => {
                progress.tick();
                None
            }
            Event::Finished(i) => {
                let node = &graph.nodes[i];
                let outcome = outcomes[i]
                    .as_ref()
                    .expect("finished nodes have an outcome");
                progress.finished(i, node.name(), outcome);
                send_finished(self.events, node, outcome);
                if let Outcome::Failed(error) = outcome {
                    failed(node, error, progress, failures);
                }
                Some((i, outcome))
            }
        }
    }
}

/// `--events`: a job began (`lane`: its call runs on a GPU lane).
fn send_started(events: &Events, node: &Node, lane: bool, at: f64) {
    events.send(&BuildEvent::Started {
        name: node.name(),
        kind: node.kind().as_str(),
        lane,
        at,
    });
}

/// `--events`: a job runs past the stall limit.
fn send_stalled(events: &Events, node: &Node, running: std::time::Duration) {
    events.send(&BuildEvent::Stalled {
        name: node.name(),
        seconds: running.as_secs_f64(),
    });
}

/// `--events`: a job ended, with its failure's text (not for Ctrl-C).
fn send_finished(events: &Events, node: &Node, outcome: &Outcome) {
    let error_text = match outcome {
        Outcome::Failed(error) if !matches!(error, Error::Interrupted) => {
            Some(commands::render_plain(&ArtifactFailed {
                artifact: node.name(),
                cause: error,
            }))
        }
        _ => None,
    };
    let (status, seconds) = status(outcome);
    events.send(&BuildEvent::Finished {
        name: node.name(),
        kind: node.kind().as_str(),
        key: &node.key().hex(),
        status,
        seconds,
        error: error_text.as_deref(),
    });
}

/// Publishes a made or reused scene to its files in out/ (`node.publish`: each video with
/// its poster, contact sheet and captions): what changed there, for the history, and what could not
/// be published.
fn publish(
    cache: &Cache,
    ledger: &mut Published,
    root: &Path,
    graph: &Graph,
    node: &Node,
) -> (Vec<history::OutChange>, Vec<Error>) {
    let object = cache.object_dir(&node.key());
    let captions = (node.captions).map(|c| cache.object_dir(&graph.nodes[c].key()));
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for target in &node.publish {
        let published = if node.kind() == crate::key::ArtifactKind::Episode {
            cache.publish_episode(&object, target, ledger)
        } else {
            cache.publish_scene(&object, captions.as_deref(), target, ledger)
        };
        match published {
            Ok(published) => {
                changes.extend(
                    published
                        .into_iter()
                        .map(|(path, change)| history::OutChange {
                            path: commands::relative(root, &path),
                            change: change.as_str().into(),
                        }),
                )
            }
            Err(error) => errors.push(error),
        }
    }
    (changes, errors)
}

/// The history's record of this build.
fn record(
    summary: &Summary,
    started: f64,
    exit: i32,
    failures: Vec<history::Failure>,
    changes: Vec<history::OutChange>,
) -> history::BuildRecord {
    let removed = changes.iter().filter(|c| c.change == "removed").count();
    history::BuildRecord {
        version: history::VERSION,
        started,
        ended: history::now(),
        host: crate::scratch::hostname(),
        command: std::env::args().collect(),
        targets: Vec::new(),
        exit,
        counts: history::Counts {
            made: summary.made,
            reused: summary.reused,
            failed: summary.failed,
            cancelled: summary.cancelled,
            skipped: summary.skipped,
            not_started: summary.not_started,
            published: summary.published,
            removed,
        },
        used: String::new(),
        artifacts: (summary.artifacts.iter())
            .filter(|a| a.status != "reused")
            .map(|a| history::ArtifactRun {
                name: a.name.clone(),
                kind: a.kind.clone(),
                key: a.key.clone(),
                status: a.status.to_string(),
                start: a.start,
                seconds: a.seconds,
                host: None,
                variants: a.variants.clone(),
            })
            .collect(),
        failures,
        changes,
        lane: summary.gpu_lane.iter().map(Into::into).collect(),
        variants: Vec::new(),
    }
}

/// Each scene variant's build time, recorded under its name (`project/scene@variant`) for
/// the studio's compare page and the report: what `--json` says of it, the seconds of its
/// artifacts this build made, and the engines its lines use.
fn variant_times(
    summary: &Summary,
    manifest: &crate::manifest::Manifest,
) -> Vec<history::VariantTime> {
    (summary.variants.iter())
        .map(|v| {
            let name = format!("{}@{}", v.scene, v.variant);
            let made_seconds = (summary.artifacts.iter())
                .filter(|a| a.status == "made" && a.variants.contains(&name))
                .map(|a| a.seconds)
                .sum();
            let engines = commands::engines::of_variant(manifest, &v.scene, &v.variant);
            history::VariantTime {
                video: v.video.clone(),
                key: v.key.clone(),
                seconds: v.seconds,
                own_seconds: v.own_seconds,
                made_seconds,
                engines: engines.into_iter().map(str::to_string).collect(),
                name,
            }
        })
        .collect()
}

/// Names, for each artifact the build made, the machine that made it (its object's record
/// says: on a farm, the node), for `render log`'s per-node counts.
fn record_makers(record: &mut history::BuildRecord, cache: &Cache) {
    for run in record.artifacts.iter_mut().filter(|a| a.status == "made") {
        run.host = crate::key::Key::from_hex(&run.key).and_then(|key| cache.maker(&key));
    }
}

/// "cannot make <artifact>", with the cause and its help underneath.
#[derive(Debug, thiserror::Error)]
#[error("cannot make {artifact}")]
struct ArtifactFailed<'a> {
    artifact: &'a str,
    cause: &'a Error,
}

impl miette::Diagnostic for ArtifactFailed<'_> {
    fn diagnostic_source(&self) -> Option<&dyn miette::Diagnostic> {
        Some(self.cause)
    }
}

/// An outcome as the report and the history name it.
fn status(outcome: &Outcome) -> (&'static str, f64) {
    match outcome {
        Outcome::Made { seconds } => ("made", *seconds),
        Outcome::Failed(_) => ("failed", 0.0),
        Outcome::Cancelled => ("cancelled", 0.0),
        Outcome::Skipped => ("skipped", 0.0),
        Outcome::NotStarted => ("not-started", 0.0),
    }
}

/// Prints "cannot make <artifact>" (not for Ctrl-C) and keeps it for the history.
fn failed(node: &Node, error: &Error, progress: &Progress, failures: &mut Vec<history::Failure>) {
    if matches!(error, Error::Interrupted) {
        return;
    }
    let failed = ArtifactFailed {
        artifact: node.name(),
        cause: error,
    };
    progress.println(&commands::render(&failed));
    failures.push(history::Failure {
        artifact: node.name().to_string(),
        message: commands::render_plain(&failed),
    });
}

/// `--farm slurm`'s setup: this machine's farm file (every mistake shown; the build fails
/// with the first) and the build's folder in `cache/farm/`.
fn slurm_setup(
    args: &BuildArgs,
    root: &std::path::Path,
    cache: &Cache,
) -> Result<executor::slurm::Setup> {
    let farm = crate::farm::Farm::load()
        .map_err(|errors| commands::config_errors(errors, "the farm file"))?;
    executor::slurm::Setup::new(farm, root, &cache.dir, args.retries)
}

/// What the first round made, failed or cancelled, by key, with when each started (the
/// build's report lists them where the second round's graph sees them reused).
#[derive(Default)]
struct Early {
    outcomes: HashMap<crate::key::Key, (&'static str, f64, Option<f64>)>,
    lane_events: Vec<crate::lanes::LaneEvent>,
    /// The build stops here: a failure without --keep-going, or Ctrl-C.
    stop: bool,
}

/// The first round of a build with long lines not cut yet (`stage/segment.rs`): their
/// speech and cuts (what `Graph::cuts_first` names), so that the graph can be planned
/// again with their segments. It publishes nothing: no scene is in it.
struct CutFirst<'a> {
    /// `--farm slurm`: the build's farm, which runs this round's jobs too.
    farm: Option<&'a executor::slurm::Setup>,
    graph: &'a Graph,
    cache: &'a Cache,
    args: &'a BuildArgs,
    jobs: usize,
    manifest: &'a crate::manifest::Manifest,
    device: Option<crate::device::Device>,
    start: Instant,
    /// `--events`: the first round's jobs are told as the second's.
    events: &'a Events,
}

impl CutFirst<'_> {
    fn run(&self, failures: &mut Vec<history::Failure>) -> Result<Early> {
        let graph = self.graph;
        let stale = graph.stale(self.args.verify);
        let make = graph.cuts_first(&stale.make);
        for (i, reason) in stale.damaged.iter().filter(|(i, _)| make[*i]) {
            let node = &graph.nodes[*i];
            self.cache
                .remake_damaged(&node.key(), node.name(), reason)?;
        }
        let deps: Vec<Vec<usize>> = (graph.nodes.iter().enumerate())
            .map(|(i, n)| if make[i] { n.deps.clone() } else { Vec::new() })
            .collect();
        let model_of: Vec<Option<String>> = (graph.nodes.iter().enumerate())
            .map(|(i, n)| n.job.lane_group().filter(|_| make[i]))
            .collect();
        let names: Vec<String> = (graph.nodes.iter().enumerate())
            .map(|(i, n)| {
                if make[i] {
                    n.name().to_string()
                } else {
                    String::new()
                }
            })
            .collect();
        // No scene is in it (the ranks of scenes would leave its nodes unranked).
        let rank = vec![0; graph.nodes.len()];
        let lane = match self.farm {
            Some(_) => None,
            None => lane(
                graph,
                &model_of,
                &names,
                &rank,
                self.manifest,
                self.device,
                self.cache,
            )?,
        };
        let farm: Option<scheduler::Farm> = match self.farm {
            Some(setup) => {
                use executor::slurm::{Farmed, SlurmExecutor};
                let setup = setup.cuts()?;
                // No scenes yet: each job is its own unit (a line's speech, then its cuts).
                let farmed: Vec<Option<executor::slurm::Farmed>> = (graph.nodes.iter())
                    .enumerate()
                    .map(|(i, n)| {
                        make[i].then(|| Farmed {
                            job: n.job.clone(),
                            group: model_of[i].clone(),
                            scene: i as u32,
                        })
                    })
                    .collect();
                Some(Box::new(move |reports| {
                    Box::new(SlurmExecutor::start(setup, farmed, reports)) as _
                }))
            }
            None => None,
        };
        let tasks: Vec<Option<Task>> = (graph.nodes.iter().enumerate())
            .map(|(i, n)| {
                make[i].then(|| Task {
                    kind: n.kind().to_string(),
                    on_lane: model_of[i].is_some(),
                    scene: false,
                })
            })
            .collect();
        let seconds = history::seconds_by_kind(&History::of(self.cache).read().builds);
        let mut progress = Progress::new(&tasks, self.jobs, seconds);
        let mut starts: Vec<Option<f64>> = vec![None; graph.nodes.len()];
        let reports = Reports {
            graph,
            model_of: &model_of,
            events: self.events,
            start: self.start,
        };
        let (outcomes, lane_events) = scheduler::run_with(
            &deps,
            &make,
            &rank,
            self.jobs,
            self.args.keep_going,
            lane,
            farm,
            |i| executor::start(&graph.nodes[i].job),
            |i, pending, model| executor::finish(&graph.nodes[i].job, pending, model),
            |event, outcomes| {
                reports.tell(event, outcomes, &mut starts, &mut progress, failures);
            },
        );
        progress.done();
        let mut early = Early {
            lane_events,
            ..Early::default()
        };
        for (i, outcome) in outcomes.iter().enumerate() {
            let Some(outcome) = outcome else { continue };
            let (status, seconds) = status(outcome);
            early.stop |= status != "made" && !self.args.keep_going;
            early
                .outcomes
                .insert(graph.nodes[i].key(), (status, seconds, starts[i]));
        }
        early.stop |= crate::process::interrupted();
        Ok(early)
    }
}
