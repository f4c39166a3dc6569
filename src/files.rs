//! File primitives shared by the cache, the source hashes and the state files: content
//! hashing and atomic replacement. A leaf module on purpose, so `cache` and `sources` can
//! both use it without depending on each other.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::key::Key;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other writer in this process (or another process) is using right now.
pub fn unique_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// What says a file is unchanged without reading it: its size, mtime and inode (the trick of
/// ninja's log, git's index and DVC's state). Source hashes and tool facts are both
/// remembered under one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: i128,
    pub inode: u64,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            inode: meta.ino(),
        }
    }
}

/// The blake3 of a file's bytes.
pub fn hash_file(path: &Path) -> Result<Key> {
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_mmap(path)
        .map_err(|e| Error::io("cannot read", path, e))?;
    Ok(Key(*hasher.finalize().as_bytes()))
}

/// Writes `value` as pretty JSON (the records and infos a person may read in the cache).
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).expect("render's own types serialise");
    std::fs::write(path, json).map_err(|e| Error::io("cannot write", path, e))
}

/// Writes a small file by writing a sibling temp file and renaming it over the target.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().unwrap();
    std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap().to_string_lossy(),
        unique_suffix()
    ));
    std::fs::write(&tmp, bytes).map_err(|e| {
        // A full disk must not leave half a file beside the target.
        let _ = std::fs::remove_file(&tmp);
        Error::io("cannot write", &tmp, e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io("cannot write", path, e)
    })
}

/// Flushes a file's bytes to disk, so a power cut cannot leave a published name pointing
/// at an empty or partial file.
pub fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|e| Error::io("cannot sync", path, e))
}

/// Flushes a folder's entries (names created or renamed in it) to disk.
pub fn sync_dir(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| Error::io("cannot sync", path, e))
}

/// The entries of `dir` by name (none when it cannot be read): for what lists or removes
/// them in a stable order.
pub fn entries_sorted(dir: &Path) -> Vec<std::fs::DirEntry> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    entries
}
