//! `render gc`: removes the objects no declared scene needs and no recent build used
//! (`upkeep` decides which; DVC's `gc`, ninja's `-t cleandead`). By default the builds of
//! the last 7 days are recent; `--keep-builds N` keeps the last N instead. `--max-size`
//! also removes kept objects, least recently used first, until the cache fits.
//!
//! It takes the build lock, like a build: a running build holds it, so gc waits, and never
//! removes an object that build is about to read or has just made. Under the lock the
//! declarations and the history are read as the last build left them. Each object is
//! renamed into `cache/tmp/` before it is deleted, so a crash leaves it whole in
//! `objects/` or out of it, never a record without its files (the next build sweeps
//! `tmp/`). With configuration errors it refuses: the scenes they leave out would look
//! unneeded. `-n` lists what would go and takes no lock. Never touches `out/` or
//! `cache/quarantine/`. The farm's folders of builds older than the kept ones
//! (`cache/farm/<build>/`, their Slurm jobs' files) go too, each once nothing uses it
//! (`farm_logs` says when).

use std::collections::HashSet;
use std::path::Path;

use crate::cache::Cache;
use crate::commands;
use crate::disk::human_bytes;
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::history::{self, History};
use crate::key::Key;
use crate::lock::BuildLock;
use crate::scratch::InUse;
use crate::upkeep::{self, Keep, Survey};

pub fn run(dir: &Path, dry_run: bool, keep_builds: Option<usize>, max_size: Option<u64>) -> i32 {
    // A folder that is not there is the user's to fix, as for a build (exit 2).
    let root = match commands::content_root(dir) {
        Ok(root) => root,
        Err(error) => {
            commands::report(error);
            return commands::EXIT_CONFIG;
        }
    };
    let result = (|| -> Result<i32> {
        let cache = Cache::new(&root);
        if !cache.objects_dir().is_dir() {
            eprintln!("render: the cache is empty; nothing to remove");
            return Ok(0);
        }
        let lock = if dry_run {
            None
        } else {
            let lock = BuildLock::acquire(&cache.dir)?;
            // What gc removes, the last no-op's stamp may list.
            crate::noop_stamp::forget(&cache.state_dir())?;
            Some(lock)
        };
        let needed = match needed_keys(dir) {
            Ok(needed) => needed,
            Err(code) => {
                match code {
                    commands::EXIT_INTERRUPTED => {}
                    commands::EXIT_CONFIG => eprintln!(
                        "render: gc removed nothing: with configuration errors, the objects of \
                         the scenes they leave out would look unneeded; fix the errors above first"
                    ),
                    _ => eprintln!("render: gc removed nothing"),
                }
                return Ok(code);
            }
        };
        // A `run-job` running beside us (it takes no lock) reads its inputs and commits
        // its object: both stay, as if declared.
        let in_use = InUse::read(&cache.dir);
        let mut needed = needed;
        needed.extend(in_use.keys.iter().copied());
        let keep = Keep::from_flag(keep_builds, history::now());
        let survey = Survey::take(&cache, &needed, keep);
        crate::process::check_interrupted()?;
        let plan = survey.plan(max_size);
        let lines = lines(&cache, &survey, &plan);
        if lock.is_none() {
            lines.iter().for_each(|(_, line)| println!("{line}"));
        } else {
            cache.prepare()?;
            let swept = cache.sweep_tmp()?;
            if swept.removed > 0 {
                eprintln!(
                    "render: cleared cache/tmp/ ({} left by interrupted builds)",
                    human_bytes(swept.bytes)
                );
            }
            // Each line once its object is gone: after an error, the list is what went.
            for (i, line) in &lines {
                crate::process::check_interrupted()?;
                if remove(&cache, &survey.objects[*i].key)? {
                    println!("{line}");
                }
            }
            remove_empty_shards(&cache);
            forget_used_sets(&cache, &survey)?;
        }
        farm_folders(&cache, keep, dry_run)?;
        let chosen: HashSet<usize> = plan.remove.iter().map(|r| r.0).collect();
        let (gone, gone_bytes) = plan
            .remove
            .iter()
            .fold((0, 0), |(n, b), r| (n + 1, b + survey.objects[r.0].bytes));
        let staying = (survey.objects.iter().enumerate()).filter(|(i, _)| !chosen.contains(i));
        let (left, left_bytes, only_recent) = staying.fold((0, 0, 0), |(n, b, r), (_, o)| {
            (n + 1, b + o.bytes, r + usize::from(!o.needed))
        });
        let (removed, kept, stay) = if dry_run {
            ("would remove", "would keep", "would stay")
        } else {
            ("removed", "kept", "stays")
        };
        let recent = if only_recent > 0 {
            format!(", {only_recent} of them only for {}", keep.describe())
        } else {
            String::new()
        };
        eprintln!(
            "render: {removed} {} ({}); {kept} {left} ({}){recent}",
            objects(gone),
            human_bytes(gone_bytes),
            human_bytes(left_bytes),
        );
        if !in_use.jobs.is_empty() {
            eprintln!(
                "render: {} what running jobs read and make (render run-job): {}",
                if dry_run { "would keep" } else { "kept" },
                in_use.describe(),
            );
        }
        if let (Some(over), Some(max)) = (plan.over, max_size) {
            eprintln!(
                "render: the cache {stay} at {}, over --max-size {}: the rest is needed by the \
                 declared scenes",
                human_bytes(over),
                human_bytes(max)
            );
        }
        Ok(0)
    })();
    commands::exit_code(result)
}

/// The keys of every artifact the folder declares, stale or not — loaded as a build loads
/// it — or the exit code when some scene cannot be loaded (its errors printed).
pub fn needed_keys(dir: &Path) -> std::result::Result<HashSet<Key>, i32> {
    let (manifest, partial, hashes) = commands::load(dir, true)?;
    if partial {
        return Err(commands::EXIT_CONFIG);
    }
    let graph = (|| -> Result<Graph> {
        let device = commands::device(&manifest)?;
        Graph::from_manifest(&manifest, &hashes, device)
    })();
    match graph {
        Ok(graph) => Ok(graph.nodes.iter().map(|n| n.key()).collect()),
        Err(error) => Err(commands::exit_code(Err(error))),
    }
}

/// One line per object to remove, for stdout (the answer), with its index in the survey:
/// kind, name, size, key, and for one removed only to fit `--max-size`, when it was last
/// used. Unneeded first, by kind and name, then those removed for the size limit, least
/// recently used first.
fn lines(cache: &Cache, survey: &Survey, plan: &upkeep::Plan) -> Vec<(usize, String)> {
    let mut rows: Vec<([String; 4], usize)> = (plan.remove.iter())
        .map(|&(i, used)| {
            let object = &survey.objects[i];
            let (kind, name) = match cache.record(&object.key) {
                Some(record) => {
                    let kind = record.spec.kind.as_str();
                    let name = (record.name.strip_prefix(kind))
                        .and_then(|n| n.strip_prefix(' '))
                        .unwrap_or(&record.name)
                        .to_string();
                    (kind.to_string(), name)
                }
                None => ("?".to_string(), "(its record is unreadable)".to_string()),
            };
            let hex = object.key.hex();
            let used = used.map_or(String::new(), |t| {
                format!("  last used by the build of {} UTC", history::utc(t))
            });
            let cells = [
                kind,
                name,
                human_bytes(object.bytes),
                format!("{}{used}", &hex[..12]),
            ];
            (cells, i)
        })
        .collect();
    let unneeded = plan.remove.iter().filter(|r| r.1.is_none()).count();
    rows[..unneeded].sort();
    let width = |c: usize| rows.iter().map(|r| r.0[c].len()).max().unwrap_or(0);
    let (kind, name, size) = (width(0), width(1), width(2));
    (rows.into_iter())
        .map(|([k, n, s, rest], i)| (i, format!("{k:<kind$}  {n:<name$}  {s:>size$}  {rest}")))
        .collect()
}

/// Moves the object out of `objects/` in one rename, then deletes it — unless a `run-job`
/// registered since the survey reads it: then it goes back. Returns whether it went.
fn remove(cache: &Cache, key: &Key) -> Result<bool> {
    let dir = cache.object_dir(key);
    let aside = cache.set_aside(key, "gc")?;
    if InUse::read(&cache.dir).keys.contains(key) {
        std::fs::rename(&aside, &dir).map_err(|e| Error::io("cannot restore", &dir, e))?;
        return Ok(false);
    }
    crate::scratch::remove_entry(&aside)?;
    Ok(true)
}

/// The farm's folders (`cache/farm/<build>/`, `farm_logs`) of builds older than the kept
/// ones, each once finished: a line for each on stdout, what stayed on stderr.
fn farm_folders(cache: &Cache, keep: Keep, dry_run: bool) -> Result<()> {
    let folders = crate::farm_logs::list(&cache.dir);
    if folders.is_empty() {
        return Ok(());
    }
    let oldest_kept = keep.oldest_kept(&History::of(cache).read().builds);
    // Its start is within the second after its stamp: older only when that second is.
    let old: Vec<_> = (folders.into_iter())
        .filter(|f| (f.stamp + 1) as f64 <= oldest_kept)
        .collect();
    if old.is_empty() {
        return Ok(());
    }
    let queued = crate::farm_logs::queued();
    let (mut gone, mut bytes) = (0, 0);
    for folder in &old {
        crate::process::check_interrupted()?;
        if let Some(why) = crate::farm_logs::busy(folder, queued.as_deref()) {
            eprintln!("render: kept cache/farm/{}/: {why}", folder.name);
            continue;
        }
        let removed = crate::farm_logs::remove(&folder.path, dry_run)?;
        bytes += removed.bytes;
        for path in &removed.left {
            eprintln!(
                "render: left cache/farm/{}/{path} (not render's)",
                folder.name
            );
        }
        if removed.files == 0 {
            continue;
        }
        gone += 1;
        println!(
            "farm  {}  {}  the Slurm jobs' files of the build of {} UTC",
            folder.name,
            human_bytes(removed.bytes),
            history::utc(folder.stamp as f64)
        );
    }
    if gone > 0 {
        eprintln!(
            "render: {} the files of {gone} farm build(s) ({}) older than {}",
            if dry_run { "would remove" } else { "removed" },
            human_bytes(bytes),
            keep.describe()
        );
    }
    if !dry_run {
        // Fails, harmlessly, while a build's folder is still there.
        let _ = std::fs::remove_dir(cache.dir.join(crate::farm_logs::DIR));
    }
    Ok(())
}

/// Shard folders (`objects/<2 hex>/`) left empty.
fn remove_empty_shards(cache: &Cache) {
    for shard in std::fs::read_dir(cache.objects_dir()).into_iter().flatten() {
        // Fails, harmlessly, on a shard that still holds an object.
        let _ = shard.map(|s| std::fs::remove_dir(s.path()));
    }
}

/// Deletes the `used` sets no kept build names: what they list is no longer protected.
fn forget_used_sets(cache: &Cache, survey: &Survey) -> Result<()> {
    let history = History::of(cache);
    for entry in std::fs::read_dir(history.used_dir()).into_iter().flatten() {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        // Only the sets render wrote (named by their digest): anything else is not ours.
        let digest = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if digest && !survey.kept_sets.contains(&name) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
        }
    }
    Ok(())
}

/// "1 object", "3 objects".
pub fn objects(n: usize) -> String {
    format!("{n} object{}", if n == 1 { "" } else { "s" })
}
