//! `render build`: load, plan, make the stale artifacts, publish the scenes, report.

use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::path::Path;
use std::time::Instant;

use crate::build_log::BuildLog;
use crate::cache::Cache;
use crate::cli::BuildArgs;
use crate::commands::{self, EXIT_CONFIG, EXIT_FAILED};
use crate::error::{Error, Result};
use crate::executor;
use crate::graph::{Graph, Node};
use crate::history::{self, History};
use crate::lock::BuildLock;
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
        };
        return commands::plan::show(&dir, &targets, &plan);
    }
    let start = Instant::now();
    let started_at = history::now();
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
        let _lock = BuildLock::acquire(&cache.dir)?;
        let _servers = crate::server::Servers; // declared servers stop with the build
        cache.prepare()?;
        cache.sweep_tmp()?;
        let mut ledger = Published::open(&manifest.root, &cache.dir)?;
        let hashes_path = cache.state_dir().join("sources.json");
        let device = commands::device(&manifest)?;
        let graph = ManuallyDrop::new(Graph::from_manifest(&manifest, &hashes, device)?);
        hashes.save(&hashes_path)?;
        let mut stale = graph.stale(args.verify);
        if args.force {
            // Everything the selected scenes need, made again: the old objects go first
            // (a commit never replaces an object).
            for (i, node) in graph.nodes.iter().enumerate() {
                if !stale.make[i] {
                    cache.discard(&node.key())?;
                }
            }
            stale.make.fill(true);
        }
        let mut last = BuildLog::open(&cache);

        // Damage is moved aside, never deleted, and its artifact made again.
        for (i, reason) in &stale.damaged {
            let node = &graph.nodes[*i];
            cache.remake_damaged(&node.key(), node.name(), reason)?;
        }
        let make = stale.make;

        let jobs = args
            .jobs
            .map(usize::from)
            .or(manifest.settings.jobs)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
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
        // The lanes exist when some job to make needs the GPU (a model or a GPU program).
        // Each loads a model at once: the first lane the model of the lane job that comes
        // first depth-first, the others the groups with the most jobs.
        let lane_jobs = (0..graph.nodes.len()).filter(|&i| model_of[i].is_some());
        let by_work = crate::lanes::by_work(lane_jobs.map(|i| {
            let group = model_of[i].clone().unwrap_or_default();
            ((rank[i], i), group, graph.nodes[i].job.model_load())
        }));
        let lane = match model_of.iter().any(Option::is_some) {
            false => None,
            true => {
                let groups = (0..graph.nodes.len())
                    .filter(|&i| model_of[i].is_some())
                    .map(|i| {
                        let job = &graph.nodes[i].job;
                        let group = model_of[i].clone().unwrap_or_default();
                        (group, job.vram(), job.model_load().is_some())
                    });
                let device = device.unwrap_or(crate::device::Device::Cpu);
                let lanes = crate::lanes::for_build(&manifest, device, groups)?;
                Some(Lane {
                    model_of: &model_of,
                    names: &names,
                    preloads: lanes.preloads(&by_work),
                    lanes,
                })
            }
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

        let mut summary = Summary::default();
        let mut changes: Vec<history::OutChange> = Vec::new();
        let mut failed_publish = false;
        // Each scene is published as soon as it is made (below); reused ones first.
        let mut publish_scene = |node: &Node, progress: &Progress| {
            let (changed, errors) = publish(&cache, &mut ledger, &manifest.root, &graph, node);
            summary.published += changed.len();
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
        let mut failures: Vec<history::Failure> = Vec::new();
        // What is made next is other files than the ones the checks above stat'ed.
        crate::cache::forget_checked_stats();
        let (outcomes, lane_events) = scheduler::run(
            &deps,
            &make,
            &rank,
            jobs,
            args.keep_going,
            lane,
            |i| executor::start(&graph.nodes[i].job),
            |i, pending, model| executor::finish(&graph.nodes[i].job, pending, model),
            |event, outcomes| match event {
                Event::Started(i) => {
                    starts[i] = Some(start.elapsed().as_secs_f64());
                    progress.started(graph.nodes[i].name())
                }
                Event::Stalled(i, running) => progress.stalled(graph.nodes[i].name(), running),
                Event::Tick => progress.tick(),
                Event::Finished(i) => {
                    let node = &graph.nodes[i];
                    let outcome = outcomes[i]
                        .as_ref()
                        .expect("finished nodes have an outcome");
                    progress.finished(i, node.name(), outcome);
                    if matches!(outcome, Outcome::Made { .. }) {
                        if !node.publish.is_empty() {
                            publish_scene(node, &progress);
                        }
                        for &scene in waits_for_captions.get(&i).into_iter().flatten() {
                            publish_scene(&graph.nodes[scene], &progress);
                        }
                    }
                    if let Outcome::Failed(error) = outcome {
                        if !matches!(error, Error::Interrupted) {
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
                    }
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
                Some(Outcome::Made { seconds }) => ("made", *seconds),
                Some(Outcome::Failed(_)) => ("failed", 0.0),
                Some(Outcome::Cancelled) => ("cancelled", 0.0),
                Some(Outcome::Skipped) => ("skipped", 0.0),
                Some(Outcome::NotStarted) => ("not-started", 0.0),
                None => ("reused", 0.0),
            };
            if matches!(status, "made" | "reused") {
                last.record(node.name(), node.key());
            }
            if status == "made" && checked_on_noop[i] {
                graph.checks().made(&node.key());
            }
            if status == "reused" && args.json.is_none() {
                // Only `--json` lists what was reused: the history keeps what was made.
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
            });
        }
        last.save()?;
        // A build that saw only some scenes keeps what the log knew of the others.
        graph.checks().save(partial || !targets.is_empty())?;
        // Only a build that saw every scene may say which videos are no longer declared.
        if !partial && targets.is_empty() && !crate::process::interrupted() {
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
                    Unpublished::Changed(left) => eprintln!(
                        "render: left {left}: render published it, but it was changed since, so it is yours now"
                    ),
                }
            }
        }
        summary.gpu_lane = lane_events;
        summary.seconds = start.elapsed().as_secs_f64();
        eprintln!("{}", summary.line());
        let engines = (graph.nodes.iter()).filter_map(|n| match &n.job.work {
            crate::engine::EngineJob::Command(job) => Some(job.engine.as_str()),
            _ => None,
        });
        if let Some(notice) = commands::engines::not_commercial(&manifest, engines) {
            eprintln!("render: {notice}");
        }
        if let Some(line) = crate::lanes::summary(&summary.gpu_lane, summary.seconds) {
            eprintln!("{line}");
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
        Ok(code)
    })();
    commands::exit_code(result)
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
            })
            .collect(),
        failures,
        changes,
        lane: summary.gpu_lane.iter().map(Into::into).collect(),
    }
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
