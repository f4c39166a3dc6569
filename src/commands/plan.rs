//! `render plan` (and `render build --dry-run`): every stale artifact and why, without
//! making anything or taking the lock — nothing in the content folder is written, so it
//! works on a read-only one. `--write-jobs DIR` also writes each stale artifact's job spec,
//! numbered in an order that runs every job after its inputs, for `render run-job` (e.g. on
//! a cluster).

use std::path::Path;

use crate::build_log::BuildLog;
use crate::cache::Cache;
use crate::commands;
use crate::error::{Error, Result};
use crate::graph::{Graph, Stale};

pub fn run(dir: &Path, write_jobs: Option<&Path>) -> i32 {
    show(dir, true, false, write_jobs)
}

/// Prints the plan of the folder; with `keep_going`, of its valid scenes when some are not;
/// with `verify`, re-hashing the cached objects behind the scenes (damage is only shown).
pub fn show(dir: &Path, keep_going: bool, verify: bool, write_jobs: Option<&Path>) -> i32 {
    let (manifest, partial, hashes) = match commands::load(dir, keep_going) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let result = (|| -> Result<i32> {
        let cache = Cache::new(&manifest.root);
        // Read-only: remembered hashes (and media checks) are used but not saved.
        let device = commands::device(&manifest)?;
        let graph = Graph::from_manifest(&manifest, &hashes, device)?;
        let stale = graph.stale(verify);
        let last = BuildLog::open(&cache);
        // Ctrl-C while planning: no answer rather than a partial one.
        crate::process::check_interrupted()?;
        print(&graph, &stale, &last);
        if let Some(out) = write_jobs {
            write(&graph, &stale.make, out)?;
        }
        Ok(if partial { commands::EXIT_CONFIG } else { 0 })
    })();
    commands::exit_code(result)
}

/// One line per stale artifact, `name: reason`, then a count (on stdout: it is the answer).
pub fn print(graph: &Graph, stale: &Stale, last: &BuildLog<'_>) {
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
    if stale.is_empty() {
        println!("up to date ({} artifacts)", graph.nodes.len());
    } else {
        println!("{} of {} artifacts to make", stale.len(), graph.nodes.len());
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
