//! Builds the server did not start: a `render build` in a terminal, a nightly cron job, a
//! farm's driver. Each build appends its record to the history (`cache/history.jsonl`)
//! when it ends, so following that one append-only file tells open pages of every build
//! on the folder, whoever ran it, without `--watch` and without reading the folder's
//! declarations: a `recorded` event (its counts, exit and command) goes out on the event
//! stream, and each page fetches its scenes again.
//!
//! It polls: one `stat` of the history four times a second, reading only the bytes
//! appended since (`History::since`). inotify would wake less, but would need the cache
//! folder to exist before the first build and a second watcher beside `--watch`'s; a
//! `stat` is a few microseconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::cache::Cache;
use crate::history::{BuildRecord, History};
use crate::studio::builds::Builds;

/// How often the history's length is looked at.
const POLL: Duration = Duration::from_millis(250);

/// Announces on `builds`' event stream every record appended to the folder's history from
/// now on; runs until the process ends (on its own thread).
pub fn follow(root: PathBuf, builds: Arc<Builds>) {
    let history = History::of(&Cache::new(&root));
    // What is there already was announced to nobody: pages read it on load.
    let (_, mut offset) = history.since(0);
    loop {
        std::thread::sleep(POLL);
        let length = std::fs::metadata(history.path()).map_or(0, |m| m.len());
        if length == offset {
            continue;
        }
        let (records, next) = history.since(offset);
        offset = next;
        for record in &records {
            builds.announce(event(record));
        }
    }
}

/// The `recorded` event of one history record.
fn event(record: &BuildRecord) -> serde_json::Value {
    json!({
        "event": "recorded",
        "started": record.started,
        "ended": record.ended,
        "exit": record.exit,
        "counts": record.counts,
        "targets": record.targets,
        "command": record.command,
    })
}
