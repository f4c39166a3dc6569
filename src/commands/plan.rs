//! `render plan`: every stale artifact and why, without making anything or taking the lock.

use std::path::Path;

use crate::build_log::BuildLog;
use crate::cache::Cache;
use crate::commands;
use crate::error::Result;
use crate::graph::Graph;
use crate::sources::SourceHashes;

pub fn run(dir: &Path) -> i32 {
    let (manifest, partial) = match commands::load(dir, true) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let result = (|| -> Result<i32> {
        let cache = Cache::new(&manifest.root);
        // Read-only: remembered hashes are used but not updated.
        let hashes = SourceHashes::load(&cache.state_dir().join("sources.json"));
        let accelerator = commands::accelerator(&manifest)?;
        let graph = Graph::from_manifest(&manifest, &hashes, accelerator)?;
        let make = graph.stale(&cache);
        let last = BuildLog::open(&cache);
        print(&graph, &make, &last);
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
        println!("{}: {}", node.name, last.reason(node));
    }
    if stale.is_empty() {
        println!("up to date ({} artifacts)", graph.nodes.len());
    } else {
        println!("{} of {} artifacts to make", stale.len(), graph.nodes.len());
    }
}
