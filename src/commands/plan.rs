//! `render plan` (and `render build --dry-run`): every stale artifact and why, without
//! making anything or taking the lock — nothing in the content folder is written, so it
//! works on a read-only one. `--write-jobs DIR` also writes each stale artifact's job spec,
//! numbered in an order that runs every job after its inputs, for `render run-job` (e.g. on
//! a cluster).

use std::path::{Path, PathBuf};

use crate::build_log::BuildLog;
use crate::cache::Cache;
use crate::commands;
use crate::error::{Error, Result};
use crate::graph::{Graph, Stale};
use crate::published::Published;
use crate::stage::{captions, scene};

/// What `plan` (or `build -n`) is asked.
#[derive(Default)]
pub struct Options<'a> {
    /// Plan the valid scenes when some are not.
    pub keep_going: bool,
    /// Re-hash the cached objects behind the scenes (damage is only shown).
    pub verify: bool,
    /// Exit 1 when the next build would make anything or change out/.
    pub check: bool,
    /// Plan as `build --force` would: every selected artifact made again.
    pub force: bool,
    pub write_jobs: Option<&'a Path>,
    /// Also show how `--farm slurm` would batch the stale jobs into Slurm jobs.
    pub farm: bool,
}

pub fn run(args: &[String], check: bool, write_jobs: Option<&Path>, farm: bool) -> i32 {
    let (dir, targets) = match commands::locate(args) {
        Ok(found) => found,
        Err(error) => return commands::exit_code(Err(error)),
    };
    let options = Options {
        keep_going: true,
        check,
        write_jobs,
        farm,
        ..Options::default()
    };
    show(&dir, &targets, &options)
}

/// Prints the plan of the folder (of `targets` only, when some are named).
pub fn show(dir: &Path, targets: &[String], options: &Options) -> i32 {
    let (mut manifest, partial, hashes) = match commands::load(dir, options.keep_going) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let result = (|| -> Result<i32> {
        crate::target::select(&mut manifest, targets)?;
        let cache = Cache::new(&manifest.root);
        // Read-only: remembered hashes (and media checks) are used but not saved.
        let device = commands::device(&manifest)?;
        let graph = Graph::from_manifest(&manifest, &hashes, device)?;
        let mut stale = graph.stale(options.verify);
        if options.force {
            stale.make.fill(true);
        }
        let last = BuildLog::open(&cache);
        // Only a plan of every scene can say which videos would be removed.
        let sweep = !partial && targets.is_empty() && graph.waiting.is_empty();
        let changes = out_changes(&graph, &stale, &cache, &manifest.root, sweep);
        // Ctrl-C while planning: no answer rather than a partial one.
        crate::process::check_interrupted()?;
        let anything = print(&graph, &stale, &last, &changes, &manifest.root, partial);
        if let Some(out) = options.write_jobs {
            write(&graph, &stale.make, out)?;
            if !graph.waiting.is_empty() {
                // Their segments, clips and scenes depend on where the pauses in their speech
                // are: no spec can be written for them before the cuts are made.
                eprintln!(
                    "render: wrote the first round only: {} scene(s) wait for their long lines' cuts; \
                     run these jobs (`render run-jobs`), then `render plan --write-jobs` again for the rest",
                    graph.waiting.len()
                );
            }
        }
        if options.farm {
            print_farm(&graph, &stale.make, &cache);
        }
        Ok(if partial {
            commands::EXIT_CONFIG
        } else if options.check && anything {
            commands::EXIT_FAILED
        } else {
            0
        })
    })();
    commands::exit_code(result)
}

/// A change the next build would make in out/.
pub enum OutChange {
    /// A scene's file published where none is.
    Add(PathBuf),
    /// A scene's file published over another.
    Replace(PathBuf),
    /// A file of a scene that is no longer declared.
    Remove(PathBuf),
    /// A file render did not publish where a declared scene publishes: the build stops
    /// there (render never replaces it).
    Blocked(PathBuf),
}

/// What the next build would publish and remove in out/: every scene to be made, every
/// scene whose file in out/ is missing or not its object's, and (with `sweep`) the videos
/// of scenes no longer declared.
fn out_changes(
    graph: &Graph,
    stale: &Stale,
    cache: &Cache,
    root: &Path,
    sweep: bool,
) -> Vec<OutChange> {
    let ledger = Published::read(root, &cache.dir);
    let mut changes = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let object = cache.object_dir(&node.key());
        // Each video with its poster and contact sheet, then its captions (their own
        // object, which may be made when the scene is not).
        let episode = node.kind() == crate::key::ArtifactKind::Episode;
        let episode_files = (node.publish.iter().filter(|_| episode))
            .flat_map(|video| crate::stage::episode::published(video))
            .map(|(file, target)| (stale.make[i], object.join(file), target));
        let scene_files = (node.publish.iter().filter(|_| !episode))
            .flat_map(|video| scene::published(video))
            .map(|(file, target)| (stale.make[i], object.join(file), target))
            .chain(episode_files);
        let captions = node
            .captions
            .map(|c| (stale.make[c], cache.object_dir(&graph.nodes[c].key())));
        let captions_files = (node.publish.iter()).flat_map(|video| {
            captions.iter().flat_map(move |(make, dir)| {
                captions::published(video).map(|(file, target)| (*make, dir.join(file), target))
            })
        });
        for (make, source, target) in scene_files.chain(captions_files) {
            if !make && cache.is_published(&source, &target) {
                continue;
            }
            changes.push(if std::fs::symlink_metadata(&target).is_err() {
                OutChange::Add(target)
            } else if ledger.owns(&target) {
                OutChange::Replace(target)
            } else {
                OutChange::Blocked(target)
            });
        }
    }
    if sweep {
        let undeclared = ledger.undeclared(&graph.published_files());
        changes.extend(undeclared.into_iter().map(OutChange::Remove));
    }
    changes
}

/// One line per stale artifact, `name: reason`, one per change in out/, then a count (on
/// stdout: it is the answer). Returns whether the next build would do anything.
fn print(
    graph: &Graph,
    stale: &Stale,
    last: &BuildLog<'_>,
    changes: &[OutChange],
    root: &Path,
    partial: bool,
) -> bool {
    let damage: std::collections::HashMap<usize, &str> = (stale.damaged.iter())
        .map(|(i, reason)| (*i, reason.as_str()))
        .collect();
    let stale: Vec<_> = (0..graph.nodes.len()).filter(|&i| stale.make[i]).collect();
    for &i in &stale {
        let node = &graph.nodes[i];
        match damage.get(&i) {
            Some(reason) => println!(
                "{}: its object in the cache is damaged ({reason})",
                node.name()
            ),
            None => println!("{}: {}", node.name(), last.reason(node)),
        }
    }
    // Their segments depend on where the pauses in their speech are.
    for scene in &graph.waiting {
        println!("scene {scene}: planned once its long lines are cut into segments");
    }
    let (mut publish, mut remove, mut blocked) = (0, 0, 0);
    for change in changes {
        let removal;
        let (path, what) = match change {
            OutChange::Add(path) => (path, "publish (new)"),
            OutChange::Replace(path) => (path, "publish (replaces the file there)"),
            OutChange::Remove(path) => {
                let file = path.strip_prefix(root).unwrap_or(path);
                let owner = crate::stage::episode::owner_of_published(file);
                removal = format!("remove (its {owner} is no longer declared)");
                (path, removal.as_str())
            }
            OutChange::Blocked(path) => (
                path,
                "blocked: a file render did not publish is there, and render never replaces it (move it away)",
            ),
        };
        match change {
            OutChange::Remove(_) => remove += 1,
            OutChange::Blocked(_) => blocked += 1,
            _ => publish += 1,
        }
        println!("{}: {what}", commands::relative(root, path));
    }
    if stale.is_empty() && changes.is_empty() {
        if partial {
            // Never "up to date" while some scene cannot even be planned.
            println!(
                "the valid scenes are up to date ({} artifacts); scenes with configuration errors (above) are left out",
                graph.nodes.len()
            );
        } else {
            println!("up to date ({} artifacts)", graph.nodes.len());
        }
        print_variants(graph);
        return false;
    }
    let mut line = format!("{} of {} artifacts to make", stale.len(), graph.nodes.len());
    for (count, what) in [
        (publish, "to publish"),
        (remove, "to remove"),
        (blocked, "blocked by files render did not publish"),
    ] {
        if count > 0 {
            let files = if count == 1 { "file" } else { "files" };
            line.push_str(&format!(", {count} {files} in out/ {what}"));
        }
    }
    if partial {
        line.push_str("; scenes with configuration errors (above) are left out");
    }
    println!("{line}");
    print_variants(graph);
    true
}

/// `2 variants of 1 scene: p/talk@builtin, p/talk@fast`, when scenes declare variants.
fn print_variants(graph: &Graph) {
    if let Some(line) = crate::variants::line(&crate::variants::of(graph, None)) {
        println!("{line}");
    }
}

/// `DIR/0001-speech.json`, …: nodes are in dependency order already (inputs first).
fn write(graph: &Graph, make: &[bool], out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io("cannot create", out, e))?;
    let stale = graph.nodes.iter().zip(make).filter(|(_, make)| **make);
    for (n, (node, _)) in stale.enumerate() {
        crate::process::check_interrupted()?;
        let path = out.join(format!("{:04}-{}.json", n + 1, node.kind()));
        crate::files::write_atomically(&path, &node.job.to_json())?;
    }
    Ok(())
}

/// The farm's view (`--farm slurm`): in each round (as inputs allow), the Slurm jobs the
/// stale jobs would go in — a GPU group's jobs together (one model load per part; a group
/// with several batches' worth of work by the history in that many parts, as the build
/// splits it), a scene's CPU jobs together, with the next scenes' while the history says
/// they are short. The build batches what is ready at once, so its Slurm jobs can be fewer.
fn print_farm(graph: &Graph, make: &[bool], cache: &Cache) {
    use crate::executor::slurm;
    let rank = graph.scene_rank();
    let farmed: Vec<Option<crate::executor::slurm::Farmed>> = (graph.nodes.iter().enumerate())
        .map(|(i, node)| {
            make[i].then(|| crate::executor::slurm::Farmed {
                job: node.job.clone(),
                group: node.job.lane_group(),
                scene: rank[i],
            })
        })
        .collect();
    let deps: Vec<Vec<usize>> = (graph.nodes.iter())
        .map(|n| n.deps.iter().chain(&n.captions).copied().collect())
        .collect();
    // Sized as the build would: by the history's job times and the farm file's target
    // (the cluster's defaults when this machine has no farm file or a wrong one).
    let seconds = crate::executor::slurm::job_seconds(cache);
    let targets = crate::farm::Farm::load()
        .map_or([slurm::GPU_TARGET, slurm::CPU_TARGET], |farm| {
            [slurm::gpu_target(&farm), slurm::cpu_target(&farm)]
        });
    let rounds = slurm::plan(&farmed, &deps, &seconds, targets);
    let count: usize = rounds.iter().map(Vec::len).sum();
    println!(
        "farm (slurm): {count} Slurm job(s) in {} round(s)",
        rounds.len()
    );
    for (r, round) in rounds.iter().enumerate() {
        for (what, names) in round {
            println!("  round {}: {what}: {}", r + 1, names.join(", "));
        }
    }
}
