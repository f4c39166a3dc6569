//! `render status`: the state of a content folder at a glance, for a nightly log or before
//! a `render gc` — per artifact kind how many are declared and how many are stale (the
//! staleness `render plan` reports), and the cache's size: what the declared scenes need,
//! what recent builds still protect, and what `render gc` would remove.
//!
//! It only reads, like `plan`: no lock, nothing written. It exits 0 even when something is
//! stale — it describes; `render plan` says what and why. With configuration errors it
//! shows the valid scenes and exits 2, and does not guess what the others need.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use crate::cache::Cache;
use crate::commands;
use crate::disk::human_bytes;
use crate::error::Result;
use crate::graph::Graph;
use crate::history;
use crate::key::{ArtifactKind, Key};
use crate::published::Published;
use crate::upkeep::{self, Keep, Survey};

/// The kinds in the order a line is made.
const KINDS: [ArtifactKind; 7] = [
    ArtifactKind::Voice,
    ArtifactKind::Speech,
    ArtifactKind::FaceTrack,
    ArtifactKind::Clip,
    ArtifactKind::Scene,
    ArtifactKind::Captions,
    ArtifactKind::Episode,
];

pub fn run(dir: &Path) -> i32 {
    let (manifest, partial, hashes) = match commands::load(dir, true) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let result = (|| -> Result<i32> {
        let cache = Cache::new(&manifest.root);
        let device = commands::device(&manifest)?;
        let graph = Graph::from_manifest(&manifest, &hashes, device)?;
        let stale = graph.stale(false);
        let needed: HashSet<Key> = graph.nodes.iter().map(|n| n.key()).collect();
        let keep = Keep::from_flag(None, history::now());
        let survey = Survey::take(&cache, &needed, keep);
        // Ctrl-C while looking: no answer rather than a partial one.
        crate::process::check_interrupted()?;

        let mut artifacts = vec![row(["kind", "declared", "stale"])];
        let mut all = (0, 0);
        for kind in KINDS {
            let (declared, stale) = (graph.nodes.iter().zip(&stale.make))
                .filter(|(node, _)| node.kind() == kind)
                .fold((0, 0), |(d, s), (_, make)| (d + 1, s + usize::from(*make)));
            if declared > 0 {
                artifacts.push(row([
                    kind.as_str(),
                    &declared.to_string(),
                    &stale.to_string(),
                ]));
                all = (all.0 + declared, all.1 + stale);
            }
        }
        artifacts.push(row(["all", &all.0.to_string(), &all.1.to_string()]));

        let mut sizes = vec![row(["cache", "objects", "size"])];
        let tally = |label: &str, (n, bytes): (usize, u64)| {
            row([label, &n.to_string(), &human_bytes(bytes)])
        };
        sizes.push(tally("objects", survey.tally(|_| true)));
        if !partial {
            sizes.push(tally(
                "  needed by the declared scenes",
                survey.tally(|o| o.needed),
            ));
            sizes.push(tally("  not needed", survey.tally(|o| !o.needed)));
            sizes.push(tally(
                &format!("    used by {}", keep.describe()),
                survey.tally(|o| !o.needed && o.last_used.is_some()),
            ));
            sizes.push(tally(
                "    removable by render gc",
                survey.tally(|o| o.removable()),
            ));
        }
        for (label, folder) in [
            ("quarantine", cache.quarantine_dir()),
            ("tmp", cache.tmp_dir()),
        ] {
            let (entries, bytes) = upkeep::entries_and_bytes(&folder);
            if entries > 0 {
                sizes.push(tally(label, (entries, bytes)));
            }
        }
        let mut out = table(&artifacts);
        out.push('\n');
        out.push_str(&table(&sizes));
        if partial {
            out.push_str(
                "(scenes with configuration errors are left out: what they need cannot be told)\n",
            );
        }
        // What render will never remove or replace in out/ (`published.rs`).
        let foreign = Published::read(&manifest.root, &cache.dir).not_renders();
        if !foreign.is_empty() {
            out.push_str("\nin out/, not render's (never removed or replaced by render):\n");
            for path in &foreign {
                out.push_str(&format!("  {path}\n"));
            }
        }
        print!("{out}");
        Ok(if partial { commands::EXIT_CONFIG } else { 0 })
    })();
    commands::exit_code(result)
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Aligned columns: the first left-aligned, the others right-aligned, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |c: usize| {
        rows.iter()
            .filter_map(|r| r.get(c))
            .map(String::len)
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let mut out = String::new();
    for row in rows {
        for (c, cell) in row.iter().enumerate() {
            let w = widths[c];
            let _ = match c {
                0 => write!(out, "{cell:<w$}"),
                _ => write!(out, "  {cell:>w$}"),
            };
        }
        out.push('\n');
    }
    out
}
