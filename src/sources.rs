//! Content hashes of the user's source files, remembered by (path, size, mtime, inode) so
//! that a no-op build stats files instead of reading them — the trick of ninja's log,
//! git's index and DVC's state. A touched but unchanged file is re-hashed once and keeps
//! its key. Within one build a file is stat'ed once (an avatar shown by 10,000 lines
//! enters 10,000 keys), and the state is written only when a stamp changed.
//!
//! The same state remembers which checks of its contents a file passed (`media_check.rs`:
//! an avatar image decodes, is within size limits, shows a face), keyed by its hash, so a
//! no-op build decodes nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::files::hash_file;
use crate::files::{write_atomically, Stamp};
use crate::key::Key;
use crate::manifest::{MediaNote, SourceFile};

/// A file's hash, valid while its stamp holds, and the checks its contents passed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Remembered {
    stamp: Stamp,
    hash: Key,
    /// Check (name and version) → the warning it gave, if any; kept while `hash` is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    passed: BTreeMap<String, Option<MediaNote>>,
}

/// The remembered hashes, loaded from and saved to `cache/state/sources.json`.
#[derive(Default)]
pub struct SourceHashes {
    stamps: Mutex<BTreeMap<String, Remembered>>,
    /// The hashes already checked this run, so each file is stat'ed once.
    checked: Mutex<HashMap<String, Key>>,
    /// Whether a stamp changed since the state was loaded.
    changed: AtomicBool,
    /// How many files were actually read this run (for tests and `--explain`).
    pub files_read: AtomicUsize,
}

impl SourceHashes {
    pub fn load(path: &Path) -> SourceHashes {
        // A missing or unreadable state only costs re-hashing, never correctness.
        let stamps = std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        SourceHashes {
            stamps: Mutex::new(stamps),
            ..Default::default()
        }
    }

    /// Writes the state, if anything changed since it was loaded.
    pub fn save(&self, path: &Path) -> Result<()> {
        if !self.changed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&*self.stamps.lock().unwrap()).expect("stamps serialise");
        write_atomically(path, &bytes)
    }

    /// Hashes every file in parallel (reading only those whose stamp changed).
    pub fn hash_all<'a>(&self, files: impl IntoIterator<Item = &'a SourceFile>) -> Result<()> {
        let mut files: Vec<&SourceFile> = files.into_iter().collect();
        files.sort();
        files.dedup();
        files
            .par_iter()
            .try_for_each(|file| self.hash(file).map(|_| ()))
    }

    /// The content hash of one file.
    pub fn hash(&self, file: &SourceFile) -> Result<Key> {
        if let Some(hash) = self.checked.lock().unwrap().get(&file.rel) {
            return Ok(*hash);
        }
        // Reading a folder's sources is the long part of planning: Ctrl-C stops it here.
        crate::process::check_interrupted()?;
        let hash = self.hash_by_stamp(file)?;
        self.checked.lock().unwrap().insert(file.rel.clone(), hash);
        Ok(hash)
    }

    fn hash_by_stamp(&self, file: &SourceFile) -> Result<Key> {
        crate::noop_stamp::consulted(&file.abs);
        let meta =
            std::fs::metadata(&file.abs).map_err(|e| Error::io("cannot read", &file.abs, e))?;
        let stamp = Stamp::of(&meta);
        if let Some(remembered) = self.stamps.lock().unwrap().get(&file.rel) {
            if remembered.stamp == stamp {
                return Ok(remembered.hash);
            }
        }
        let hash = hash_file(&file.abs)?;
        self.files_read.fetch_add(1, Ordering::Relaxed);
        self.changed.store(true, Ordering::Relaxed);
        let mut stamps = self.stamps.lock().unwrap();
        // A touched file with the same contents keeps the checks it passed.
        let passed = (stamps.remove(&file.rel))
            .filter(|old| old.hash == hash)
            .map(|old| old.passed)
            .unwrap_or_default();
        let remembered = Remembered {
            stamp,
            hash,
            passed,
        };
        stamps.insert(file.rel.clone(), remembered);
        Ok(hash)
    }

    /// Whether `file`'s current contents passed `check` (Some, with its warning if any).
    /// Call after [`SourceHashes::hash`], which brings the file's entry up to date.
    pub fn passed(&self, file: &SourceFile, check: &str) -> Option<Option<MediaNote>> {
        let stamps = self.stamps.lock().unwrap();
        stamps.get(&file.rel)?.passed.get(check).cloned()
    }

    /// Remembers that `file`'s current contents passed `check`, with `warning`.
    pub fn pass(&self, file: &SourceFile, check: &str, warning: Option<MediaNote>) {
        if let Some(entry) = self.stamps.lock().unwrap().get_mut(&file.rel) {
            entry.passed.insert(check.to_string(), warning);
            self.changed.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rereads_only_when_the_stamp_changes() {
        let dir = tempfile::tempdir().unwrap();
        let abs = dir.path().join("a.txt");
        std::fs::write(&abs, "one").unwrap();
        let file = SourceFile {
            rel: "a.txt".into(),
            abs: abs.clone(),
        };
        let hashes = SourceHashes::default();
        let first = hashes.hash(&file).unwrap();
        assert_eq!(hashes.hash(&file).unwrap(), first);
        assert_eq!(hashes.files_read.load(Ordering::Relaxed), 1);

        let state = dir.path().join("state.json");
        hashes.save(&state).unwrap();
        let reloaded = SourceHashes::load(&state);
        assert_eq!(reloaded.hash(&file).unwrap(), first);
        assert_eq!(reloaded.files_read.load(Ordering::Relaxed), 0);
        // Nothing changed: the state is not rewritten.
        std::fs::remove_file(&state).unwrap();
        reloaded.save(&state).unwrap();
        assert!(!state.exists());
        hashes.save(&state).unwrap();

        // Within one build a file is checked once; the next build sees the change.
        std::fs::write(&abs, "two!").unwrap();
        assert_eq!(reloaded.hash(&file).unwrap(), first);
        let next = SourceHashes::load(&state);
        assert_ne!(next.hash(&file).unwrap(), first);
        assert_eq!(next.files_read.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_check_passed_is_kept_while_the_contents_are() {
        let dir = tempfile::tempdir().unwrap();
        let abs = dir.path().join("a.png");
        std::fs::write(&abs, "one").unwrap();
        let file = SourceFile {
            rel: "a.png".into(),
            abs: abs.clone(),
        };
        let state = dir.path().join("state.json");
        let hashes = SourceHashes::load(&state);
        hashes.hash(&file).unwrap();
        assert_eq!(hashes.passed(&file, "image/1"), None);
        hashes.pass(&file, "image/1", None);
        hashes.save(&state).unwrap();

        let reloaded = SourceHashes::load(&state);
        reloaded.hash(&file).unwrap();
        assert_eq!(reloaded.passed(&file, "image/1"), Some(None));
        assert_eq!(reloaded.passed(&file, "image/2"), None);

        // Touched, same contents: still passed. Changed: to be checked again.
        std::fs::write(&abs, "one").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&abs)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let touched = SourceHashes::load(&state);
        touched.hash(&file).unwrap();
        assert_eq!(touched.files_read.load(Ordering::Relaxed), 1);
        assert_eq!(touched.passed(&file, "image/1"), Some(None));
        std::fs::write(&abs, "two").unwrap();
        let changed = SourceHashes::load(&state);
        changed.hash(&file).unwrap();
        assert_eq!(changed.passed(&file, "image/1"), None);
    }
}
