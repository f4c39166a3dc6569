//! `render plan`: every stale artifact and why, without making anything or taking the lock.
//! `--write-jobs DIR` also writes each stale artifact's job spec, numbered in an order that
//! runs every job after its inputs, for `render run-job` (e.g. on a cluster).

use std::path::Path;

use crate::build_log::BuildLog;
use crate::cache::Cache;
use crate::commands;
use crate::error::{Error, Result};
use crate::graph::Graph;

pub fn run(dir: &Path, write_jobs: Option<&Path>) -> i32 {
    let (manifest, partial, hashes) = match commands::load(dir, true) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let result = (|| -> Result<i32> {
        let cache = Cache::new(&manifest.root);
        // Read-only: remembered hashes (and media checks) are used but not saved.
        let device = commands::device(&manifest)?;
        let graph = Graph::from_manifest(&manifest, &hashes, device)?;
        let make = graph.stale();
        let last = BuildLog::open(&cache);
        print(&graph, &make, &last);
        if let Some(out) = write_jobs {
            write(&graph, &make, out)?;
        }
        Ok(if partial { commands::EXIT_CONFIG } else { 0 })
    })();
    commands::exit_code(result)
}

/// One line per stale artifact, `name: reason`, then a count (on stdout: it is the answer).
pub fn print(graph: &Graph, make: &[bool], last: &BuildLog<'_>) {
    let stale: Vec<_> = graph
        .nodes
        .iter()
        .zip(make)
        .filter(|(_, make)| **make)
        .map(|(node, _)| node)
        .collect();
    for node in &stale {
        println!("{}: {}", node.name(), last.reason(node));
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
        let path = out.join(format!("{:04}-{}.json", n + 1, node.kind()));
        crate::files::write_atomically(&path, &node.job.to_json())?;
    }
    Ok(())
}
