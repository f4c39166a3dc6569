//! The content-addressed cache: `cache/objects/<2 hex>/<key>/` holds an artifact's files
//! plus `record.json`. Everything is written under `cache/tmp/`, checked, synced to disk
//! and renamed into place whole, so a crash or a power cut at any instant leaves the old
//! state or the new one, never half of either. `out/` is published from the cache the same
//! way (hard link, or a copy when `out/` is on another disk, then rename).
//!
//! The cache does not trust itself blindly: before an object is reused, `check` reads its
//! record and stats every output it lists (cheap: no hashing), and `verify` re-hashes
//! them. A build's checks go through the check log (`check_log.rs`), which reads a record
//! again only when it is not the one last found sound, and still stats every output. A damaged object is moved aside to `cache/quarantine/` — never deleted, so
//! nothing is lost that someone may want to look at — and its artifact is made again.
//!
//! A cache that several machines share (a farm's nodes mounting one folder) adds two rules.
//! Every input a job reads is hashed first (`verify_input`): the cheap check passes a byte
//! flipped in place, and a job must never turn damage into a new object that looks sound. A
//! damaged input is read again after a bounded wait (NFS may show an object renamed into
//! place before all of its bytes), then quarantined. And a commit that finds the object
//! already there (another node made the same key at the same moment) keeps the one that is
//! there when it verifies, and replaces it when it does not.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::{hash_file, sync_dir, sync_file, unique_suffix, write_json};
use crate::key::{Key, KeySpec};
use crate::loudness::Loudness;
use crate::published::{Entry, Ident, Published};
use crate::scratch::owned_name;
use crate::stat_at::{stat_path, Folder, Stat};

/// What an object is and how it was made; written last, so its presence means "complete".
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub key: Key,
    pub spec: KeySpec,
    pub outputs: Vec<OutputFile>,
    pub tool: String,
    pub device: String,
    pub precision: String,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// A scene's loudness: its target, the first pass's figures, what the video measures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loudness: Option<Loudness>,
}

/// A record as a commit writes it: with the machine that made the object, which the cache
/// adds (the job does not say where it runs; `Cache::maker` reads it back).
#[derive(Serialize)]
struct Sealed<'a> {
    #[serde(flatten)]
    record: &'a Record,
    host: String,
}

impl Sealed<'_> {
    fn here(record: &Record) -> Sealed<'_> {
        Sealed {
            record,
            host: crate::scratch::node(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub file: String,
    pub bytes: u64,
    pub blake3: Key,
}

pub const RECORD: &str = "record.json";

/// How many times a job reads an input that does not verify before it calls it damaged.
pub const INPUT_TRIES: u32 = 3;
/// How long it waits between two reads (NFS attribute caches hold for seconds).
pub const INPUT_REREAD: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Clone, Debug)]
pub struct Cache {
    pub dir: PathBuf,
}

impl Cache {
    pub fn new(content_root: &Path) -> Cache {
        Cache::at(&content_root.join("cache"))
    }

    /// The cache in folder `dir` (a job spec names it).
    pub fn at(dir: &Path) -> Cache {
        Cache {
            dir: dir.to_path_buf(),
        }
    }

    pub fn objects_dir(&self) -> PathBuf {
        self.dir.join("objects")
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn quarantine_dir(&self) -> PathBuf {
        self.dir.join("quarantine")
    }

    pub fn object_dir(&self, key: &Key) -> PathBuf {
        let hex = key.hex();
        self.objects_dir().join(&hex[..2]).join(hex)
    }

    /// Creates the cache folders; call with the build lock held.
    pub fn prepare(&self) -> Result<()> {
        for dir in [self.objects_dir(), self.tmp_dir(), self.state_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        }
        Ok(())
    }

    /// Removes what interrupted builds and jobs left under `cache/tmp/`: only entries
    /// render named, and only when their maker is gone (`scratch::sweep`); a `run-job`
    /// working there now, or a file of the user's, is left alone.
    pub fn sweep_tmp(&self) -> Result<crate::scratch::Swept> {
        crate::scratch::sweep(&self.tmp_dir())
    }

    /// Whether the object exists (its record is the last thing written).
    pub fn has(&self, key: &Key) -> bool {
        self.object_dir(key).join(RECORD).is_file()
    }

    pub fn record(&self, key: &Key) -> Option<Record> {
        let bytes = std::fs::read(self.object_dir(key).join(RECORD)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The machine that made the object of `key` (`scratch::node` where it was committed),
    /// when its record names one.
    pub fn maker(&self, key: &Key) -> Option<String> {
        #[derive(Deserialize)]
        struct Maker {
            host: Option<String>,
        }
        let bytes = std::fs::read(self.object_dir(key).join(RECORD)).ok()?;
        serde_json::from_slice::<Maker>(&bytes).ok()?.host
    }

    /// The cheap check made before an object is reused: its record parses and describes
    /// this key, and every output it lists exists with the recorded size. No hashing: a
    /// no-op build pays a read and a few stats per object it reuses.
    pub fn check(&self, key: &Key) -> Check {
        match self.checked_record(key) {
            Ok(_) => Check::Intact,
            Err(check) => check,
        }
    }

    /// The record of an object that passes the cheap check, or what is wrong with it.
    fn checked_record(&self, key: &Key) -> std::result::Result<Record, Check> {
        self.checked_record_stamped(key).map(|(record, _)| record)
    }

    /// [`Cache::checked_record`], with the stamp its `record.json` had when it was read
    /// (taken from the file it was read through), for the check log (`check_log.rs`).
    pub(crate) fn checked_record_stamped(
        &self,
        key: &Key,
    ) -> std::result::Result<(Record, RecordStamp), Check> {
        let dir = self.object_dir(key);
        let damaged = |reason: String| Err(Check::Damaged(reason));
        let read = std::fs::File::open(dir.join(RECORD)).and_then(|mut file| {
            use std::io::Read;
            let meta = file.metadata()?;
            let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
            file.read_to_end(&mut bytes)?;
            Ok((bytes, RecordStamp::of(&meta)))
        });
        let (bytes, stamp) = match read {
            Ok(read) => read,
            Err(_) if !dir.exists() => return Err(Check::Missing),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return damaged(format!("its {RECORD} is missing"))
            }
            Err(e) => return damaged(format!("its {RECORD} cannot be read: {e}")),
        };
        let record: Record = match serde_json::from_slice(&bytes) {
            Ok(record) => record,
            Err(_) => return damaged(format!("its {RECORD} is not a valid record")),
        };
        if record.key != *key || record.spec.key() != *key {
            return damaged(format!("its {RECORD} describes another artifact"));
        }
        let outputs = (record.outputs.iter()).map(|o| (o.file.as_str(), o.bytes));
        check_outputs(&dir, outputs)?;
        Ok((record, stamp))
    }

    /// Moves a damaged object aside to `cache/quarantine/<key>-<n>/`, with a `reason.txt`,
    /// so its artifact can be made again. Returns where it went. Only under the lock.
    pub fn quarantine(&self, key: &Key, name: &str, reason: &str) -> Result<PathBuf> {
        let dir = self.object_dir(key);
        let aside = self
            .quarantine_dir()
            .join(format!("{}-{}", key.hex(), unique_suffix()));
        let parent = self.quarantine_dir();
        std::fs::create_dir_all(&parent).map_err(|e| Error::io("cannot create", &parent, e))?;
        std::fs::rename(&dir, &aside).map_err(|e| Error::io("cannot quarantine", &dir, e))?;
        let note = format!("{name}\n{reason}\n");
        // The object is already out of the way; a missing note loses nothing.
        let _ = std::fs::write(aside.join("reason.txt"), note);
        Ok(aside)
    }

    /// Quarantines a damaged object whose artifact is about to be made again, and says so
    /// (where it went, relative to the content folder).
    pub fn remake_damaged(&self, key: &Key, name: &str, reason: &str) -> Result<()> {
        let aside = self.quarantine(key, name, reason)?;
        let root = self.dir.parent().unwrap_or(&self.dir);
        eprintln!(
            "render: {name}: its object in the cache was damaged ({reason}); moved to {} and making it again",
            aside.strip_prefix(root).unwrap_or(&aside).display()
        );
        Ok(())
    }

    /// A fresh private folder under `cache/tmp/` for one job, named for its key and its
    /// maker (`scratch::owned_name`), so a sweep knows whose it is.
    pub fn job_dir(&self, key: &Key) -> Result<PathBuf> {
        let dir = self.tmp_dir().join(owned_name(&key.hex()[..16]));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        Ok(dir)
    }

    /// Seals a finished job folder as the object for `record.key`: hashes the outputs into
    /// the record, writes the record, and renames the folder into place.
    pub fn commit(&self, job_dir: &Path, mut record: Record, outputs: &[String]) -> Result<Record> {
        record.outputs = outputs
            .iter()
            .map(|name| {
                let path = job_dir.join(name);
                // On disk before its name is published: a power cut must not leave an
                // object whose files are empty.
                sync_file(&path)?;
                let bytes = std::fs::metadata(&path)
                    .map_err(|e| Error::io("cannot read", &path, e))?
                    .len();
                Ok(OutputFile {
                    file: name.clone(),
                    bytes,
                    blake3: hash_file(&path)?,
                })
            })
            .collect::<Result<_>>()?;
        // Anything else the job left (logs, intermediate files) stays out of the object.
        for entry in std::fs::read_dir(job_dir).map_err(|e| Error::io("cannot read", job_dir, e))? {
            let entry = entry.map_err(|e| Error::io("cannot read", job_dir, e))?;
            let name = entry.file_name();
            // An output may sit in a folder (`voice/ada.pth`): keep the folder.
            let top = |o: &String| o.split('/').next().unwrap_or_default().to_string();
            if !outputs.iter().any(|o| name.to_string_lossy() == top(o)) {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
        let record_path = job_dir.join(RECORD);
        write_json(&record_path, &Sealed::here(&record))?;
        sync_file(&record_path)?;
        // The folders holding outputs (`voice/`), then the object's own entries.
        for folder in outputs
            .iter()
            .filter_map(|o| o.rsplit_once('/').map(|(d, _)| d))
        {
            sync_dir(&job_dir.join(folder))?;
        }
        sync_dir(job_dir)?;

        let target = self.object_dir(&record.key);
        let parent = target.parent().unwrap();
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        let mut renamed = std::fs::rename(job_dir, &target);
        if renamed
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            // `gc` or `clean` removed the shard folder, empty, between the two calls.
            std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
            renamed = std::fs::rename(job_dir, &target);
        }
        if renamed.is_err() && self.has(&record.key) {
            // Another job with the same key (on this machine or another node) won the race:
            // its object is just as good when it verifies; a damaged one gives way to ours.
            match self.verify_input(&record.key) {
                Check::Intact => {
                    let _ = std::fs::remove_dir_all(job_dir);
                    return Ok(record);
                }
                Check::Missing => {}
                Check::Damaged(reason) => {
                    // Another racer may have moved it aside first: then ours goes in.
                    let _ = self.quarantine(&record.key, &record.name, &reason);
                }
            }
            renamed = std::fs::rename(job_dir, &target);
        }
        match renamed {
            Ok(()) => {
                sync_dir(parent)?;
                Ok(record)
            }
            Err(_) if self.verify(&record.key) == Check::Intact => {
                let _ = std::fs::remove_dir_all(job_dir);
                Ok(record)
            }
            Err(e) => Err(Error::io("cannot move into the cache", &target, e)),
        }
    }

    /// The full check of an object a job is about to read (or found in its place when it
    /// committed): [`Cache::verify`], and when that finds damage, again after
    /// [`INPUT_REREAD`] — on NFS another node's fresh object may be visible before all of
    /// its bytes are — up to [`INPUT_TRIES`] times in all. Missing is said at once.
    pub fn verify_input(&self, key: &Key) -> Check {
        let mut check = self.verify(key);
        for _ in 1..INPUT_TRIES {
            if !matches!(check, Check::Damaged(_)) {
                break;
            }
            std::thread::sleep(INPUT_REREAD);
            check = self.verify(key);
        }
        check
    }

    /// Removes the object of `key`, if any (`build --force`): moved out of `objects/` in one
    /// rename first, so no half-removed object is ever seen there.
    pub fn discard(&self, key: &Key) -> Result<()> {
        if !self.object_dir(key).exists() {
            return Ok(());
        }
        let aside = self.set_aside(key, "discarded")?;
        crate::scratch::remove_entry(&aside)
    }

    /// Moves an object out of `objects/` in one rename, into `cache/tmp/` under a name of
    /// render's (`<why>-<key>_<pid>_<host>_<n>`), so no half-removed object is ever seen
    /// there and a crash leaves it for a sweep; returns where it went (for `discard`, `gc`
    /// and `clean` to delete, or put back).
    pub fn set_aside(&self, key: &Key, why: &str) -> Result<PathBuf> {
        let object = self.object_dir(key);
        let tmp = self.tmp_dir();
        std::fs::create_dir_all(&tmp).map_err(|e| Error::io("cannot create", &tmp, e))?;
        let aside = tmp.join(owned_name(&format!("{why}-{}", &key.hex()[..16])));
        std::fs::rename(&object, &aside).map_err(|e| Error::io("cannot remove", &object, e))?;
        Ok(aside)
    }

    /// Whether `target` (in `out/`) is published from `source`, the object's file.
    pub fn is_published(&self, source: &Path, target: &Path) -> bool {
        stat_path(target, false).is_ok_and(|meta| meta.is_file() && same_file(source, &meta))
    }

    /// The full check: `check`, then every output re-hashed against its record.
    pub fn verify(&self, key: &Key) -> Check {
        let record = match self.checked_record(key) {
            Ok(record) => record,
            Err(check) => return check,
        };
        let dir = self.object_dir(key);
        for output in &record.outputs {
            match hash_file(&dir.join(&output.file)) {
                Ok(hash) if hash == output.blake3 => {}
                Ok(_) => {
                    return Check::Damaged(format!(
                        "{} does not match its record (its bytes changed)",
                        output.file
                    ))
                }
                Err(e) => return Check::Damaged(format!("{} cannot be read: {e}", output.file)),
            }
        }
        Check::Intact
    }

    /// Every object's key in the cache (folders named like a key), for `render verify`.
    pub fn keys(&self) -> Vec<Key> {
        let mut keys = Vec::new();
        for shard in std::fs::read_dir(self.objects_dir()).into_iter().flatten() {
            for object in std::fs::read_dir(shard.map(|s| s.path()).unwrap_or_default())
                .into_iter()
                .flatten()
                .flatten()
            {
                if let Some(key) = object.file_name().to_str().and_then(Key::from_hex) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        keys
    }

    /// Publishes `source` (an object's file) at `target` atomically, recording it in the
    /// ledger of what render published (`published.rs`) before it appears. Returns false
    /// when `target` already is that file, so a no-op build leaves `out/` untouched.
    /// A file at `target` that render did not publish (or that was changed since) is never
    /// replaced: that is an error naming it.
    ///
    /// A hard link staged under `cache/tmp/` when `out/` shares the cache's disk; else a
    /// copy staged beside the target (a rename cannot cross disks), given the object's
    /// mtime so the next build can tell it is the same file without reading it.
    pub fn publish(&self, source: &Path, target: &Path, ledger: &mut Published) -> Result<bool> {
        self.publish_over(source, target, stat_path(target, false).ok(), ledger)
    }

    /// [`Cache::publish`], given what is at `target` now (its stat, not following a link): one stat
    /// of the target serves the no-op's question, the ledger's (a link of the user's there,
    /// even to the object, is not render's file) and the caller's.
    fn publish_over(
        &self,
        source: &Path,
        target: &Path,
        there: Option<Stat>,
        ledger: &mut Published,
    ) -> Result<bool> {
        if let Some(meta) = there.as_ref().filter(|m| m.is_file()) {
            if same_stat(checked_stat(source), meta) {
                let ident = Ident::of_stat(meta);
                if !matches!(ledger.entry(target), Some(Entry::File(known, _)) if known == ident) {
                    // Published before the ledger knew it (a power cut between the two).
                    ledger.add_file(target, ident, object_of(source))?;
                }
                return Ok(false);
            }
        }
        if there.is_some() && !ledger.owns(target) {
            return Err(Error::NotRenders {
                path: relative_to_content(&self.dir, target),
            });
        }
        let previous = ledger.entry(target);
        let parent = target.parent().unwrap();
        ledger.create_folders(parent)?;
        let linked = self.tmp_dir().join(owned_name("publish"));
        let link = std::fs::hard_link(source, &linked).is_ok();
        let same_disk = |meta: std::io::Result<std::fs::Metadata>| {
            meta.is_ok_and(|m| Some(m.dev()) == std::fs::metadata(parent).ok().map(|p| p.dev()))
        };
        let staged = if link && same_disk(std::fs::metadata(&linked)) {
            linked
        } else {
            let _ = std::fs::remove_file(&linked);
            // Another disk: a copy, staged in the target's folder so the rename stays on it.
            let name = target.file_name().unwrap().to_string_lossy();
            let copy = parent.join(format!(".{name}.render-{}", unique_suffix()));
            ledger.add_staged(&copy)?;
            copy_synced(source, &copy).inspect_err(|_| {
                let _ = std::fs::remove_file(&copy);
            })?;
            copy
        };
        let ident = Ident::of_path(&staged)
            .ok_or_else(|| Error::Other(format!("cannot read `{}`", staged.display())))?;
        ledger.add_file(target, ident, object_of(source))?;
        if let Err(e) = std::fs::rename(&staged, target) {
            let _ = std::fs::remove_file(&staged);
            if let Some(Entry::File(ident, object)) = previous {
                ledger.add_file(target, ident, object)?;
            }
            return Err(Error::io("cannot publish", target, e));
        }
        if ledger.entry(&staged) == Some(Entry::Staged) {
            ledger.forget(&staged)?;
        }
        sync_dir(parent)?;
        Ok(true)
    }
}

/// The object a file in `cache/objects/<2 hex>/<key>/` belongs to.
fn object_of(file: &Path) -> Option<Key> {
    let folder = file.parent()?.file_name()?.to_str()?;
    Key::from_hex(folder)
}

/// `path` as the user would write it: relative to the content folder holding `cache_dir`.
fn relative_to_content(cache_dir: &Path, path: &Path) -> String {
    let root = cache_dir.parent().unwrap_or(cache_dir);
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// What publishing did to a file in `out/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Added,
    Updated,
}

impl Change {
    /// As the history writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Updated => "updated",
        }
    }
}

impl Cache {
    /// Publishes a scene object (`object_dir`) for its video at `video`: the video, its
    /// poster and its contact sheet (`stage::scene::published`), then, from the scene's
    /// captions object (`captions_dir`), its `.srt` and `.vtt` (`stage::captions::published`).
    /// Returns each file it added or replaced; a file that already is the object's is left
    /// alone (a no-op build changes nothing in `out/`). Stops at the first file it cannot
    /// publish.
    pub fn publish_scene(
        &self,
        object_dir: &Path,
        captions_dir: Option<&Path>,
        video: &Path,
        ledger: &mut Published,
    ) -> Result<Vec<(PathBuf, Change)>> {
        let scene = (crate::stage::scene::published(video).into_iter())
            .map(|(file, target)| (object_dir.join(file), target));
        let captions = (captions_dir.into_iter()).flat_map(|dir| {
            crate::stage::captions::published(video).map(|(file, target)| (dir.join(file), target))
        });
        self.publish_all(scene.chain(captions), ledger)
    }

    /// Publishes an episode object (`object_dir`) for its video at `video`
    /// (`out/<project>.mp4`): the video, its poster and its captions
    /// (`stage::episode::published`). As [`Cache::publish_scene`].
    pub fn publish_episode(
        &self,
        object_dir: &Path,
        video: &Path,
        ledger: &mut Published,
    ) -> Result<Vec<(PathBuf, Change)>> {
        let files = (crate::stage::episode::published(video).into_iter())
            .map(|(file, target)| (object_dir.join(file), target));
        self.publish_all(files, ledger)
    }

    /// Publishes each (object file, file in `out/`) pair in order; returns each file it
    /// added or replaced. Stops at the first file it cannot publish.
    fn publish_all(
        &self,
        files: impl Iterator<Item = (PathBuf, PathBuf)>,
        ledger: &mut Published,
    ) -> Result<Vec<(PathBuf, Change)>> {
        let mut changed = Vec::new();
        // A scene's files in out/ share a folder: opened once, each file is looked up in it
        // (`stat_at.rs`), not from `/`.
        let mut folder: Option<(PathBuf, Option<Folder>)> = None;
        for (source, target) in files {
            let parent = target.parent().unwrap_or(Path::new("/"));
            if folder.as_ref().is_none_or(|(path, _)| path != parent) {
                folder = Some((parent.to_path_buf(), Folder::open(parent)));
            }
            let there = match (&folder, target.file_name()) {
                (Some((_, Some(folder))), Some(name)) => folder.stat(&[name], false),
                _ => stat_path(&target, false),
            }
            .ok();
            let existed = there.is_some();
            if self.publish_over(&source, &target, there, ledger)? {
                let change = if existed {
                    Change::Updated
                } else {
                    Change::Added
                };
                changed.push((target, change));
            }
        }
        Ok(changed)
    }
}

/// What the cache found of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    Intact,
    /// Never made (or already quarantined).
    Missing,
    /// Present but not whole; the reason, in a user's words.
    Damaged(String),
}

/// The cheap check's second half: every output of the object in `dir` exists with the
/// size its record gives (`(file, bytes)`), or the reason it is damaged.
pub(crate) fn check_outputs<'a>(
    dir: &Path,
    outputs: impl IntoIterator<Item = (&'a str, u64)>,
) -> std::result::Result<(), Check> {
    check_outputs_by(dir, outputs, |file| stat_path(&dir.join(file), true))
}

/// [`check_outputs`], each output stat'ed by `stat` (given its name: e.g. through the open
/// objects folder, `stat_at.rs`).
pub(crate) fn check_outputs_by<'a>(
    dir: &Path,
    outputs: impl IntoIterator<Item = (&'a str, u64)>,
    stat: impl Fn(&str) -> std::io::Result<Stat>,
) -> std::result::Result<(), Check> {
    for (file, bytes) in outputs {
        match stat(file) {
            Ok(meta) if meta.len == bytes => {
                let path = dir.join(file).into_os_string();
                CHECKED.with(|checked| checked.borrow_mut().insert(path, FileStat::of(&meta)));
            }
            Ok(meta) => {
                return Err(Check::Damaged(format!(
                    "{file} is {} bytes, its record says {bytes}",
                    meta.len,
                )))
            }
            Err(_) => return Err(Check::Damaged(format!("{file} is missing"))),
        }
    }
    Ok(())
}

/// What says an object's `record.json` is the one a check read: its size, inode, mtime and
/// ctime (a record rewritten in place, even with its mtime set back, has another ctime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordStamp {
    pub size: u64,
    pub inode: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl RecordStamp {
    pub fn of(meta: &std::fs::Metadata) -> RecordStamp {
        RecordStamp {
            size: meta.len(),
            inode: meta.ino(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        }
    }

    /// [`RecordStamp::of`], from a stat taken through a folder (`stat_at.rs`).
    pub fn of_stat(stat: &Stat) -> RecordStamp {
        RecordStamp {
            size: stat.len,
            inode: stat.ino,
            mtime_ns: stat.mtime.0 as i128 * 1_000_000_000 + stat.mtime.1 as i128,
            ctime_ns: stat.ctime.0 as i128 * 1_000_000_000 + stat.ctime.1 as i128,
        }
    }
}

thread_local! {
    /// Each object file `check_outputs` found whole on this thread, with its stat, for
    /// `same_file` to use once instead of stat'ing it again: a no-op checks a scene's
    /// objects and then publishes them, and the second stat of 5,000 files was a tenth
    /// of its time. Taken at first use by `publish_over` (a file checked again is stat'ed
    /// again), and forgotten before a build makes anything (`forget_checked_stats`). Kept
    /// by the path's bytes: hashing a `Path` walks its components, and was a few percent
    /// of a no-op.
    static CHECKED: std::cell::RefCell<std::collections::HashMap<std::ffi::OsString, FileStat>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Forgets the stats `check_outputs` took: a build calls it before it makes anything (an
/// object set aside or discarded after its check is made again, as other files).
pub fn forget_checked_stats() {
    CHECKED.with(|checked| std::mem::take(&mut *checked.borrow_mut()));
}

/// What [`same_file`] compares of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStat {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl FileStat {
    fn of(stat: &Stat) -> FileStat {
        FileStat {
            dev: stat.dev,
            ino: stat.ino,
            len: stat.len,
            mtime: stat.mtime,
        }
    }
}

/// The stat of `path`, an object's file: the one its check took, if any.
fn checked_stat(path: &Path) -> Option<FileStat> {
    let checked = CHECKED.with(|checked| checked.borrow_mut().remove(path.as_os_str()));
    checked.or_else(|| stat_path(path, true).ok().map(|m| FileStat::of(&m)))
}

/// Whether the file of `b` (in `out/`) is the object's file `a`: the same inode, or, on
/// another disk, a copy with the object's size and mtime (what `publish` gives its copies).
fn same_file(a: &Path, b: &Stat) -> bool {
    same_stat(stat_path(a, true).ok().map(|m| FileStat::of(&m)), b)
}

/// [`same_file`], given `a`'s stat.
fn same_stat(a: Option<FileStat>, b: &Stat) -> bool {
    let b = FileStat::of(b);
    match a {
        Some(a) if a.dev == b.dev => a.ino == b.ino,
        Some(a) => a.len == b.len && a.mtime == b.mtime,
        _ => false,
    }
}

/// Copies `source` to `copy` with its mtime, synced to disk.
fn copy_synced(source: &Path, copy: &Path) -> Result<()> {
    std::fs::copy(source, copy).map_err(|e| Error::io("cannot copy", source, e))?;
    let modified = std::fs::metadata(source)
        .and_then(|meta| meta.modified())
        .map_err(|e| Error::io("cannot read", source, e))?;
    let file = std::fs::File::options()
        .write(true)
        .open(copy)
        .map_err(|e| Error::io("cannot write", copy, e))?;
    file.set_modified(modified)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("cannot write", copy, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::scene;

    /// A scene object's folder with its three published files, and a captions object's
    /// with its two.
    fn object(dir: &Path, marker: &str) -> (PathBuf, PathBuf) {
        let captions = dir.join("captions");
        std::fs::create_dir_all(&captions).unwrap();
        for file in [scene::OUTPUT, scene::POSTER, scene::SHEET] {
            std::fs::write(dir.join(file), format!("{marker} {file}")).unwrap();
        }
        for file in crate::stage::captions::OUTPUTS {
            std::fs::write(captions.join(file), format!("{marker} {file}")).unwrap();
        }
        (dir.to_path_buf(), captions)
    }

    #[test]
    fn a_commit_that_meets_its_object_keeps_it_when_it_verifies_and_replaces_it_when_not() {
        use crate::key::{ArtifactKind, KeySpec};
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path());
        cache.prepare().unwrap();
        let spec = KeySpec::new(ArtifactKind::Captions, "test", "test").param("text", "a");
        let key = spec.key();
        // Another node's job of the same key: its folder, its text, committed.
        let commit = |text: &str| {
            let dir = cache.job_dir(&key).unwrap();
            std::fs::write(dir.join("captions.srt"), text).unwrap();
            let record = Record {
                name: "captions p/talk".into(),
                key,
                spec: spec.clone(),
                outputs: vec![],
                tool: "test".into(),
                device: "cpu".into(),
                precision: "-".into(),
                seconds: 0.0,
                batch_size: None,
                peak_memory_bytes: None,
                loudness: None,
            };
            cache
                .commit(&dir, record, &["captions.srt".to_string()])
                .unwrap();
            assert!(!dir.exists());
        };
        let file = cache.object_dir(&key).join("captions.srt");
        commit("first");
        // The second finds the first's object whole: it is kept, no error.
        commit("again");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "first");
        assert!(!cache.quarantine_dir().exists());
        assert_eq!(cache.maker(&key), Some(crate::scratch::node()));
        // Damaged in place (same size): the next commit moves it aside and takes its place.
        std::fs::write(&file, "fir5t").unwrap();
        commit("third");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "third");
        assert_eq!(cache.verify(&key), Check::Intact);
        let aside: Vec<_> = std::fs::read_dir(cache.quarantine_dir()).unwrap().collect();
        assert_eq!(aside.len(), 1);
    }

    #[test]
    fn a_checked_objects_stats_serve_its_publishing_until_a_build_makes_something() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path());
        cache.prepare().unwrap();
        let video = root.path().join("out/demo/talk.mp4");
        let (scene, captions) = object(&root.path().join("a"), "a");
        let mut ledger = Published::open(root.path(), &cache.dir).unwrap();
        assert_eq!(
            (cache.publish_scene(&scene, Some(&captions), &video, &mut ledger))
                .unwrap()
                .len(),
            5
        );
        // The check stats the object's video; then the object is made again (set aside,
        // made anew: the same size, another file). Publishing must see the new file.
        let size = std::fs::metadata(scene.join(scene::OUTPUT)).unwrap().len();
        check_outputs(&scene, [(scene::OUTPUT, size)]).unwrap();
        forget_checked_stats();
        std::fs::remove_file(scene.join(scene::OUTPUT)).unwrap();
        std::fs::write(scene.join(scene::OUTPUT), "b scene.mp4").unwrap();
        let published = cache.publish_scene(&scene, Some(&captions), &video, &mut ledger);
        assert_eq!(
            published.unwrap(),
            [(video.clone(), Change::Updated)],
            "the made file is published"
        );
        assert_eq!(std::fs::read_to_string(&video).unwrap(), "b scene.mp4");
        // Checked and unchanged: the check's stat says it is the published file.
        check_outputs(&scene, [(scene::OUTPUT, size)]).unwrap();
        let checked = scene.join(scene::OUTPUT).into_os_string();
        assert!(CHECKED.with(|c| c.borrow().contains_key(&checked)));
        let again = cache.publish_scene(&scene, Some(&captions), &video, &mut ledger);
        assert!(again.unwrap().is_empty());
        assert!(
            CHECKED.with(|c| c.borrow().is_empty()),
            "each stat is used once"
        );
    }

    #[test]
    fn a_scene_is_published_with_its_stills_and_captions_and_unpublished_with_them() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::new(root.path());
        cache.prepare().unwrap();
        let out = root.path().join("out");
        let video = out.join("demo/talk.mp4");
        let first = object(&root.path().join("a"), "a");
        let mut ledger = Published::open(root.path(), &cache.dir).unwrap();
        let mut publish = |(scene, captions): &(PathBuf, PathBuf), video: &Path| {
            cache
                .publish_scene(scene, Some(captions), video, &mut ledger)
                .unwrap()
        };

        let changes = |published: Vec<(PathBuf, Change)>| -> Vec<(String, Change)> {
            (published.into_iter())
                .map(|(p, c)| (p.strip_prefix(&out).unwrap().display().to_string(), c))
                .collect()
        };
        let added = changes(publish(&first, &video));
        assert_eq!(
            added,
            [
                ("demo/talk.mp4".to_string(), Change::Added),
                ("demo/talk.jpg".to_string(), Change::Added),
                ("demo/talk.sheet.jpg".to_string(), Change::Added),
                ("demo/talk.srt".to_string(), Change::Added),
                ("demo/talk.vtt".to_string(), Change::Added),
            ]
        );
        assert_eq!(
            std::fs::read_to_string(out.join("demo/talk.jpg")).unwrap(),
            "a poster.jpg"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("demo/talk.srt")).unwrap(),
            "a captions.srt"
        );
        // Already the object's files: nothing is published again.
        assert!(publish(&first, &video).is_empty());
        let second = object(&root.path().join("b"), "b");
        let updated = changes(publish(&second, &video));
        assert!(updated.iter().all(|(_, c)| *c == Change::Updated));
        assert_eq!(updated.len(), 5);

        // A file render did not publish is never replaced.
        let mine = out.join("demo/mine.mp4");
        std::fs::write(&mine, "mine").unwrap();
        let refused = cache.publish_scene(&first.0, Some(&first.1), &mine, &mut ledger);
        assert_eq!(
            refused.unwrap_err().to_string(),
            "`out/demo/mine.mp4` is a file render did not publish; render never replaces it"
        );
        assert_eq!(std::fs::read_to_string(&mine).unwrap(), "mine");
        std::fs::remove_file(&mine).unwrap();

        // Undeclared: the video, both stills and both captions go; what render did not
        // publish stays.
        std::fs::write(out.join("demo/notes.txt"), "mine").unwrap();
        let other = out.join("demo/other.mp4");
        let mut publish = |(scene, captions): &(PathBuf, PathBuf), video: &Path| {
            cache
                .publish_scene(scene, Some(captions), video, &mut ledger)
                .unwrap()
        };
        publish(&first, &other);
        let declared: std::collections::HashSet<PathBuf> =
            (scene::published(&other).into_iter().map(|(_, p)| p))
                .chain(crate::stage::captions::published(&other).map(|(_, p)| p))
                .collect();
        let removed = ledger.unpublish_undeclared(&declared).unwrap();
        let removed: Vec<String> = (removed.into_iter())
            .map(|r| match r {
                crate::published::Unpublished::Removed(p) => p,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            removed,
            [
                "out/demo/talk.jpg",
                "out/demo/talk.mp4",
                "out/demo/talk.sheet.jpg",
                "out/demo/talk.srt",
                "out/demo/talk.vtt",
            ]
        );
        let mut left: Vec<String> = std::fs::read_dir(out.join("demo"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "notes.txt",
                "other.jpg",
                "other.mp4",
                "other.sheet.jpg",
                "other.srt",
                "other.vtt"
            ]
        );
    }
}
