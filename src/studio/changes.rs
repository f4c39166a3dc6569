//! Saved changes to a content folder, from file notifications (the `notify` crate:
//! inotify on Linux), debounced: an editor's save is several events (write, rename,
//! chmod), and a `git checkout` is hundreds; they are one change once the folder has been
//! quiet for `debounce()` (150 ms, `RENDER_WATCH_DEBOUNCE_MS`).
//!
//! What counts: any file under the folder except render's own (`cache/`, `out/`), hidden
//! entries (`.git`, `.venv`, editors' `.swp`) and editors' backups (`name~`), so the
//! declarations and every media file they reference (which live in the folder: nothing a
//! scene uses escapes it). The folder itself is watched alone and each of its other
//! entries recursively, so render's own writes during a build are not even delivered;
//! a folder made at the top later is watched from then on. Symbolic links are not
//! followed (a linked virtual environment would be thousands of watches).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};

/// How long the folder must be quiet before changes are reported.
pub fn debounce() -> Duration {
    let ms = std::env::var("RENDER_WATCH_DEBOUNCE_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(150);
    Duration::from_millis(ms)
}

pub struct Changes {
    root: PathBuf,
    watcher: notify::RecommendedWatcher,
    events: Receiver<notify::Result<Event>>,
    /// Changed paths (relative) not yet reported, and when the last one came.
    pending: BTreeSet<String>,
    last: Option<Instant>,
    debounce: Duration,
}

impl Changes {
    /// Starts watching `root` (canonical).
    pub fn watch(root: &Path) -> notify::Result<Changes> {
        let (send, events) = channel();
        let config = notify::Config::default().with_follow_symlinks(false);
        let watcher = notify::RecommendedWatcher::new(send, config)?;
        let mut changes = Changes {
            root: root.to_path_buf(),
            watcher,
            events,
            pending: BTreeSet::new(),
            last: None,
            debounce: debounce(),
        };
        changes.watcher.watch(root, RecursiveMode::NonRecursive)?;
        let entries = std::fs::read_dir(root).map_err(notify::Error::io)?;
        for entry in entries.flatten() {
            changes.watch_entry(&entry.path());
        }
        Ok(changes)
    }

    /// Watches a top-level entry of the folder, recursively, unless it is not the user's.
    fn watch_entry(&mut self, path: &Path) {
        let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
        if is_dir && self.counts(path) {
            // A folder removed meanwhile is simply not watched.
            let _ = self.watcher.watch(path, RecursiveMode::Recursive);
        }
    }

    /// Whether a change of `path` is one of the user's.
    fn counts(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return false;
        };
        let mut parts = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy());
        let Some(first) = parts.next() else {
            return false;
        };
        if first == "cache" || first == "out" {
            return false;
        }
        let name = relative
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let hidden = relative
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        !(hidden || name.ends_with('~') || name == "4913")
    }

    fn take(&mut self, event: notify::Result<Event>) {
        let Ok(event) = event else { return };
        let reads = matches!(
            event.kind,
            EventKind::Access(AccessKind::Open(_) | AccessKind::Read | AccessKind::Any)
                | EventKind::Access(AccessKind::Close(AccessMode::Read | AccessMode::Execute))
        );
        if reads {
            return;
        }
        for path in &event.paths {
            if !self.counts(path) {
                continue;
            }
            if path.parent() == Some(&self.root) && matches!(event.kind, EventKind::Create(_)) {
                let path = path.clone();
                self.watch_entry(&path);
            }
            let relative = path.strip_prefix(&self.root).unwrap_or(path);
            self.pending.insert(relative.display().to_string());
            self.last = Some(Instant::now());
        }
    }

    /// Waits up to `timeout` for changes to settle; returns them (relative paths) once the
    /// folder has been quiet for the debounce time, else None.
    pub fn wait(&mut self, timeout: Duration) -> Option<Vec<String>> {
        let until = Instant::now() + timeout;
        loop {
            if let Some(last) = self.last {
                if last.elapsed() >= self.debounce {
                    self.last = None;
                    return Some(std::mem::take(&mut self.pending).into_iter().collect());
                }
            }
            let now = Instant::now();
            if now >= until {
                return None;
            }
            let mut wake = until - now;
            if let Some(last) = self.last {
                wake = wake.min(self.debounce.saturating_sub(last.elapsed()));
            }
            match self.events.recv_timeout(wake.max(Duration::from_millis(1))) {
                Ok(event) => self.take(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(until.saturating_duration_since(Instant::now()));
                    return None;
                }
            }
        }
    }

    /// Whether a change is waiting (not necessarily settled yet).
    pub fn any(&mut self) -> bool {
        while let Ok(event) = self.events.try_recv() {
            self.take(event);
        }
        self.last.is_some()
    }
}
