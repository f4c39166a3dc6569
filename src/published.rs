//! What render published to `out/`, so that it removes only that (ninja knows its outputs
//! from its log; make never deletes what it did not produce).
//!
//! `out/` is the user's folder as much as render's: people keep their final cuts, their
//! translated captions and their thumbnails beside the videos, and `out/<project>` may be a
//! symlink to a shared folder. So render does not treat "a file in `out/` no declared scene
//! publishes" as its own; it keeps a ledger, `cache/state/published`, of every file it
//! published there (its path and its identity: device, inode, size and mtime) and every
//! folder it created. A file leaves `out/` only when the ledger lists it **and** it is still
//! the very file render put there; a file the user replaced or edited is theirs again. A
//! folder is removed only if render created it and it is empty.
//!
//! The ledger is a journal of one line per change (`f` a file published, `d` a folder
//! created, `s` a copy being staged, `-` an entry forgotten), appended and synced to disk
//! before the change it announces, so a crash at any point leaves it describing at least
//! what is in `out/`; the identity check makes an entry whose change never happened
//! harmless. It is rewritten whole (atomically) when it grows to twice what it describes.
//!
//! A folder made by an earlier render has no ledger: the first command that needs one
//! adopts, as render's, the files in `out/` that are a cache object's file (the same inode,
//! or on another disk the size and mtime `publish` gives its copies) at a path the history
//! says render published; everything else there is the user's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::key::Key;

/// The ledger, in `cache/state/`.
pub const FILE: &str = "published";
const HEADER: &str = "render-published 1";

/// The build history's file in `cache/` (`history::FILE`; named here, below the history,
/// because adopting a folder from before the ledger reads what it says was published).
pub const HISTORY: &str = "history.jsonl";

/// The build report's page in `out/` (`commands::report::FILE`): render's own, but written
/// in place, not published from the cache, so it is known by what it holds ([`is_report`]).
pub const REPORT: &str = "report.html";

/// Names render as the page's maker, so `out/report.html` is replaced only when it is
/// render's page ([`is_report`]), never a user's file of that name; `html_report.rs` writes
/// it into every page.
pub const GENERATOR: &str = "<meta name=\"generator\" content=\"render\">";

/// How pages before [`GENERATOR`] began their title.
pub const OLD_TITLE: &str = "<title>render: build of ";

/// What makes a file in `out/` the one render put there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ident {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
}

impl Ident {
    pub fn of(meta: &std::fs::Metadata) -> Ident {
        Ident {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
        }
    }

    /// [`Ident::of`], from a stat taken through a folder (`stat_at.rs`).
    pub fn of_stat(stat: &crate::stat_at::Stat) -> Ident {
        Ident {
            dev: stat.dev,
            ino: stat.ino,
            size: stat.len,
            mtime_ns: stat.mtime.0 as i128 * 1_000_000_000 + stat.mtime.1 as i128,
        }
    }

    /// The identity of the regular file at `path` (not through a final symlink).
    pub fn of_path(path: &Path) -> Option<Ident> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        meta.is_file().then(|| Ident::of(&meta))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A file render published, as it was then, and the object it came from (unknown for
    /// a file adopted from a folder before the ledger, published as a copy).
    File(Ident, Option<Key>),
    /// A folder render created.
    Folder,
    /// A copy being staged beside its target (`out/` on another disk than the cache).
    Staged,
}

/// The ledger of one content folder.
pub struct Published {
    root: PathBuf,
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    /// Lines in the journal, to know when to rewrite it.
    lines: usize,
    journal: Option<std::fs::File>,
}

/// What became of a file render no longer publishes.
#[derive(Debug, PartialEq, Eq)]
pub enum Unpublished {
    /// Removed (relative to the content folder).
    Removed(String),
    /// Left in place: changed since render published it, so no longer render's.
    Changed(String),
}

impl Published {
    /// The ledger of the content folder `root` whose cache is `cache_dir`, for reading only
    /// (`plan`, `status`): a folder without one is adopted in memory, nothing is written.
    pub fn read(root: &Path, cache_dir: &Path) -> Published {
        Published::load(root, cache_dir).0
    }

    /// [`Published::read`], and what the journal on disk was: None when there is none,
    /// else whether it must be rewritten before appending (a torn last line, or no header).
    fn load(root: &Path, cache_dir: &Path) -> (Published, Option<bool>) {
        let path = cache_dir.join("state").join(FILE);
        let mut published = Published {
            root: root.to_path_buf(),
            path: path.clone(),
            entries: BTreeMap::new(),
            lines: 0,
            journal: None,
        };
        let torn = match std::fs::read_to_string(&path) {
            Ok(text) => {
                published.replay(&text);
                // Torn, empty or not a ledger: rewritten whole before anything is appended.
                Some(!text.ends_with('\n') || !text.starts_with(&format!("{HEADER}\n")))
            }
            Err(_) => {
                published.adopt(cache_dir);
                None
            }
        };
        (published, torn)
    }

    /// The ledger for changing `out/`; only under the build lock. Adopts a folder an
    /// earlier render made (and writes the ledger), removes copies a killed build was
    /// staging, and rewrites a journal grown large or torn.
    pub fn open(root: &Path, cache_dir: &Path) -> Result<Published> {
        let (mut published, torn) = Published::load(root, cache_dir);
        if torn != Some(false) || published.lines > 2 * published.entries.len() + 64 {
            published.rewrite()?;
        }
        published.journal = Some(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&published.path)
                .map_err(|e| Error::io("cannot open", &published.path, e))?,
        );
        let staged: Vec<String> = (published.entries.iter())
            .filter(|(_, e)| **e == Entry::Staged)
            .map(|(p, _)| p.clone())
            .collect();
        for rel in staged {
            let path = root.join(&rel);
            if Ident::of_path(&path).is_some() {
                std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
            }
            published.forget(&path)?;
        }
        Ok(published)
    }

    fn replay(&mut self, text: &str) {
        let mut lines = text.split_inclusive('\n');
        if lines.next().map(str::trim_end) != Some(HEADER) {
            return;
        }
        for line in lines {
            // A torn last line (a crash mid-append) announced nothing that happened.
            let Some(line) = line.strip_suffix('\n') else {
                break;
            };
            self.lines += 1;
            let Some((tag, rest)) = line.split_once(' ') else {
                continue;
            };
            match tag {
                "f" => {
                    let mut fields = rest.splitn(6, ' ');
                    let mut number = || fields.next().and_then(|f| f.parse::<i128>().ok());
                    let (Some(dev), Some(ino), Some(size), Some(mtime_ns)) =
                        (number(), number(), number(), number())
                    else {
                        continue;
                    };
                    let Some(object) = fields.next() else {
                        continue;
                    };
                    let Some(rel) = fields.next() else { continue };
                    let object = Key::from_hex(object);
                    let ident = Ident {
                        dev: dev as u64,
                        ino: ino as u64,
                        size: size as u64,
                        mtime_ns,
                    };
                    self.entries
                        .insert(rel.to_string(), Entry::File(ident, object));
                }
                "d" => {
                    self.entries.insert(rest.to_string(), Entry::Folder);
                }
                "s" => {
                    self.entries.insert(rest.to_string(), Entry::Staged);
                }
                "-" => {
                    self.entries.remove(rest);
                }
                _ => {}
            }
        }
    }

    fn line(rel: &str, entry: &Entry) -> String {
        match entry {
            Entry::File(i, object) => format!(
                "f {} {} {} {} {} {rel}\n",
                i.dev,
                i.ino,
                i.size,
                i.mtime_ns,
                object.map_or("-".to_string(), |k| k.hex())
            ),
            Entry::Folder => format!("d {rel}\n"),
            Entry::Staged => format!("s {rel}\n"),
        }
    }

    /// Writes the whole ledger anew, atomically.
    fn rewrite(&mut self) -> Result<()> {
        let mut text = format!("{HEADER}\n");
        for (rel, entry) in &self.entries {
            text.push_str(&Published::line(rel, entry));
        }
        crate::files::write_atomically(&self.path, text.as_bytes())?;
        crate::files::sync_file(&self.path)?;
        self.lines = self.entries.len();
        if self.journal.is_some() {
            self.journal = Some(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&self.path)
                    .map_err(|e| Error::io("cannot open", &self.path, e))?,
            );
        }
        Ok(())
    }

    /// Appends one line and syncs it: on disk before the change it announces.
    fn append(&mut self, line: &str) -> Result<()> {
        let journal = self
            .journal
            .as_mut()
            .expect("the ledger is open for writing");
        journal
            .write_all(line.as_bytes())
            .and_then(|()| journal.sync_data())
            .map_err(|e| Error::io("cannot write", &self.path, e).on_disk(&self.path))?;
        self.lines += 1;
        Ok(())
    }

    /// `path` relative to the content folder, as the ledger writes it.
    fn relative(&self, path: &Path) -> Result<String> {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        match rel.to_str() {
            Some(rel) if !rel.contains('\n') => Ok(rel.to_string()),
            _ => Err(Error::Other(format!(
                "cannot publish to `{}`: render keeps track only of UTF-8 paths without line breaks",
                path.display()
            ))),
        }
    }

    fn set(&mut self, path: &Path, entry: Entry) -> Result<()> {
        let rel = self.relative(path)?;
        self.append(&Published::line(&rel, &entry))?;
        self.entries.insert(rel, entry);
        Ok(())
    }

    /// Records that the file now at `path` is render's, made from `object` (call before
    /// renaming it there, with the identity of what is renamed).
    pub fn add_file(&mut self, path: &Path, ident: Ident, object: Option<Key>) -> Result<()> {
        let entry = Entry::File(ident, object);
        if self.entry(path) == Some(entry) {
            return Ok(());
        }
        self.set(path, entry)
    }

    /// Records a copy about to be staged at `path`, so a killed build's is removed.
    pub fn add_staged(&mut self, path: &Path) -> Result<()> {
        self.set(path, Entry::Staged)
    }

    /// Forgets `path` (after removing it, or when it is no longer render's).
    pub fn forget(&mut self, path: &Path) -> Result<()> {
        let rel = self.relative(path)?;
        if self.entries.contains_key(&rel) {
            self.append(&format!("- {rel}\n"))?;
            self.entries.remove(&rel);
        }
        Ok(())
    }

    pub fn entry(&self, path: &Path) -> Option<Entry> {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        self.entries.get(rel.to_str()?).copied()
    }

    /// Whether the file at `path` is one render published: the same file, unchanged — or
    /// the same inode still linked elsewhere (a hard link to a cache object, written
    /// through in place: the cache's own check finds that object damaged and quarantines
    /// it, so those bytes are kept there, and unlinking or replacing this name loses
    /// nothing).
    pub fn owns(&self, path: &Path) -> bool {
        let Some(Entry::File(ident, _)) = self.entry(path) else {
            return false;
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => {
                let now = Ident::of(&meta);
                now == ident || (now.dev, now.ino) == (ident.dev, ident.ino) && meta.nlink() > 1
            }
            _ => false,
        }
    }

    /// Creates `dir` and the folders above it that are missing (up to the content
    /// folder), recording each one it creates.
    pub fn create_folders(&mut self, dir: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut at = dir;
        while std::fs::symlink_metadata(at).is_err() && at != self.root {
            missing.push(at.to_path_buf());
            match at.parent() {
                Some(parent) => at = parent,
                None => break,
            }
        }
        for folder in missing.into_iter().rev() {
            self.set(&folder, Entry::Folder)?;
            match std::fs::create_dir(&folder) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::io("cannot create", &folder, e))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The files render published that `declared` (every file the declared scenes and
    /// episodes publish) no longer names and that are still as render left them: what
    /// the next build removes. Only reads.
    pub fn undeclared(&self, declared: &HashSet<PathBuf>) -> Vec<PathBuf> {
        (self.entries.iter())
            .filter(|(_, e)| matches!(e, Entry::File(..)))
            .map(|(rel, _)| self.root.join(rel))
            .filter(|path| !declared.contains(path) && self.owns(path))
            .collect()
    }

    /// Removes the files render published that `declared` no longer names — only those
    /// still as render left them — and then the folders render created that are left
    /// empty. A file changed since is forgotten and left in place.
    pub fn unpublish_undeclared(
        &mut self,
        declared: &HashSet<PathBuf>,
    ) -> Result<Vec<Unpublished>> {
        let files: Vec<String> = (self.entries.iter())
            .filter(|(rel, e)| {
                matches!(e, Entry::File(..)) && !declared.contains(&self.root.join(rel))
            })
            .map(|(rel, _)| rel.clone())
            .collect();
        let mut done = Vec::new();
        for rel in files {
            let path = self.root.join(&rel);
            if self.owns(&path) {
                std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
                done.push(Unpublished::Removed(rel));
            } else if std::fs::symlink_metadata(&path).is_ok() {
                done.push(Unpublished::Changed(rel));
            }
            self.forget(&path)?;
        }
        self.remove_empty_folders()?;
        Ok(done)
    }

    /// Removes, deepest first, the folders render created that are empty (a folder still
    /// holding something stays, and stays render's), and forgets those that are gone.
    fn remove_empty_folders(&mut self) -> Result<Vec<String>> {
        let folders: Vec<String> = (self.entries.iter().rev())
            .filter(|(_, e)| **e == Entry::Folder)
            .map(|(rel, _)| rel.clone())
            .collect();
        let mut removed = Vec::new();
        for rel in folders {
            let path = self.root.join(&rel);
            match std::fs::symlink_metadata(&path) {
                // A real folder (never a link to one), removed only when empty.
                Ok(meta) if meta.is_dir() => {
                    if std::fs::remove_dir(&path).is_ok() {
                        removed.push(rel);
                        self.forget(&path)?;
                    }
                }
                // Gone, or a file or link in its place: not render's folder any more.
                _ => self.forget(&path)?,
            }
        }
        Ok(removed)
    }

    /// Every file render published that is still as it left it (relative paths).
    pub fn owned_files(&self) -> Vec<String> {
        (self.entries.iter())
            .filter(|(rel, e)| matches!(e, Entry::File(..)) && self.owns(&self.root.join(rel)))
            .map(|(rel, _)| rel.clone())
            .collect()
    }

    /// `render clean`: removes every file render published that is still as it left it,
    /// then the folders it created that are empty. Returns (removed files, removed folders,
    /// files render published but that were changed since, left in place). With `dry_run`,
    /// only says what it would remove.
    pub fn remove_all(&mut self, dry_run: bool) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
        let mut removed = Vec::new();
        let mut changed = Vec::new();
        let files: Vec<String> = (self.entries.iter())
            .filter(|(_, e)| matches!(e, Entry::File(..)))
            .map(|(rel, _)| rel.clone())
            .collect();
        for rel in files {
            let path = self.root.join(&rel);
            if self.owns(&path) {
                if !dry_run {
                    std::fs::remove_file(&path)
                        .map_err(|e| Error::io("cannot remove", &path, e))?;
                    self.forget(&path)?;
                }
                removed.push(rel);
            } else {
                if std::fs::symlink_metadata(&path).is_ok() {
                    changed.push(rel);
                }
                if !dry_run {
                    self.forget(&path)?;
                }
            }
        }
        let folders = if dry_run {
            Vec::new()
        } else {
            self.remove_empty_folders()?
        };
        Ok((removed, folders, changed))
    }

    /// The files and folders in `out/` that are not render's (render never removes or
    /// replaces them), relative to the content folder; a folder render did not create is
    /// listed once, with a trailing `/`, not entered. Only reads.
    pub fn not_renders(&self) -> Vec<String> {
        let mut found = Vec::new();
        let out = self.root.join("out");
        self.list_foreign(&out, 0, &mut found);
        found.sort();
        found
    }

    fn list_foreign(&self, dir: &Path, depth: usize, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(&self.root).unwrap_or(&path);
            let rel = rel.display().to_string();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if depth == 0 && rel == format!("out/{REPORT}") {
                if is_report(&path) {
                    continue;
                }
            } else if meta.is_file() && self.owns(&path) {
                continue;
            }
            let folder_like = meta.is_dir() || (meta.is_symlink() && path.is_dir());
            if folder_like && depth == 0 && self.holds_renders(&path) {
                // A folder render publishes into (made by it, or the user's link to
                // one): what is inside is judged file by file.
                self.list_foreign(&path, depth + 1, found);
            } else if folder_like {
                found.push(format!("{rel}/"));
            } else {
                found.push(rel);
            }
        }
    }

    /// Whether render created `dir` or published something in it.
    fn holds_renders(&self, dir: &Path) -> bool {
        if self.entry(dir) == Some(Entry::Folder) {
            return true;
        }
        let Ok(rel) = dir.strip_prefix(&self.root) else {
            return false;
        };
        let prefix = format!("{}/", rel.display());
        (self.entries.range(prefix.clone()..))
            .take_while(|(p, _)| p.starts_with(&prefix))
            .next()
            .is_some()
    }

    /// Adopts what an earlier render published (see the module's docs): the files in
    /// `out/` (and one level of folders) that are a cache object's file at a path the
    /// history names as published, and the folders holding them.
    fn adopt(&mut self, cache_dir: &Path) {
        let out = self.root.join("out");
        if !out.is_dir() {
            return;
        }
        let objects = ObjectFiles::scan(&cache_dir.join("objects"));
        let history = published_in_history(&cache_dir.join(HISTORY));
        let adopt = |path: &Path, entries: &mut BTreeMap<String, Entry>| -> bool {
            let Ok(meta) = std::fs::symlink_metadata(path) else {
                return false;
            };
            let Ok(rel) = path.strip_prefix(&self.root) else {
                return false;
            };
            let rel = rel.display().to_string();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if meta.is_file() && is_old_staged(&name) {
                // A copy an earlier render was staging when it was stopped.
                entries.insert(rel, Entry::Staged);
                return true;
            }
            let named = history.as_ref().is_none_or(|h| h.contains(&rel));
            if let Some(object) = objects.holds(&meta).filter(|_| meta.is_file() && named) {
                entries.insert(rel, Entry::File(Ident::of(&meta), object));
                return true;
            }
            false
        };
        let mut entries = BTreeMap::new();
        for entry in std::fs::read_dir(&out).into_iter().flatten().flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                let mut any = false;
                for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                    any |= adopt(&inner.path(), &mut entries);
                }
                if any {
                    entries.insert(self.relative_lossy(&path), Entry::Folder);
                }
            } else {
                adopt(&path, &mut entries);
            }
        }
        if !entries.is_empty() {
            entries.insert("out".into(), Entry::Folder);
        }
        self.entries = entries;
    }

    fn relative_lossy(&self, path: &Path) -> String {
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        rel.display().to_string()
    }
}

/// Whether `out/report.html` is render's page (it names render as its generator).
pub fn is_report(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 512];
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let n = file.read(&mut head).unwrap_or(0);
    let head = String::from_utf8_lossy(&head[..n]);
    head.contains(GENERATOR) || head.contains(OLD_TITLE)
}

/// `.<name>.tmp-<pid>-<n>`: how render before the ledger staged a copy in `out/`.
fn is_old_staged(name: &str) -> bool {
    let Some((head, suffix)) = name.rsplit_once(".tmp-") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    head.starts_with('.')
        && head.len() > 1
        && suffix
            .split_once('-')
            .is_some_and(|(a, b)| digits(a) && digits(b))
}

/// The identities of the cache objects' files: by inode, and by size and mtime (a copy on
/// another disk, as `publish` makes them).
struct ObjectFiles {
    /// (device, inode) → the object.
    inodes: HashMap<(u64, u64), Key>,
    /// (size, mtime) → the devices of the objects' files with them.
    copies: HashMap<(u64, i128), HashSet<u64>>,
}

impl ObjectFiles {
    fn scan(objects: &Path) -> ObjectFiles {
        let mut files = ObjectFiles {
            inodes: HashMap::new(),
            copies: HashMap::new(),
        };
        for shard in std::fs::read_dir(objects).into_iter().flatten().flatten() {
            for object in std::fs::read_dir(shard.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let Some(key) = object.file_name().to_str().and_then(Key::from_hex) else {
                    continue;
                };
                for file in std::fs::read_dir(object.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let Ok(meta) = std::fs::symlink_metadata(file.path()) else {
                        continue;
                    };
                    if !meta.is_file() {
                        continue;
                    }
                    let ident = Ident::of(&meta);
                    files.inodes.insert((ident.dev, ident.ino), key);
                    (files.copies.entry((ident.size, ident.mtime_ns)))
                        .or_default()
                        .insert(ident.dev);
                }
            }
        }
        files
    }

    /// Whether `meta` is an object's file: its hard link (Some(its object)), or, only on
    /// another disk than that object, where render copies, a copy with its size and mtime
    /// (Some(None): which object is not told).
    fn holds(&self, meta: &std::fs::Metadata) -> Option<Option<Key>> {
        let ident = Ident::of(meta);
        if let Some(key) = self.inodes.get(&(ident.dev, ident.ino)) {
            return Some(Some(*key));
        }
        let copy = (self.copies.get(&(ident.size, ident.mtime_ns)))
            .is_some_and(|devs| devs.iter().any(|&dev| dev != ident.dev));
        copy.then_some(None)
    }
}

/// The paths the history says builds added or updated in `out/`; None without a history
/// (a folder older than it: then identity alone decides).
fn published_in_history(history: &Path) -> Option<HashSet<String>> {
    let text = std::fs::read_to_string(history).ok()?;
    // Only what adoption needs of each record (`history::OutChange`'s fields), read here
    // so that the ledger does not depend on the history module.
    #[derive(serde::Deserialize)]
    struct Change {
        path: String,
        change: String,
    }
    #[derive(serde::Deserialize)]
    struct Changes {
        #[serde(default)]
        changes: Vec<Change>,
    }
    let mut paths = HashSet::new();
    for line in text.lines() {
        if let Ok(record) = serde_json::from_str::<Changes>(line) {
            for change in record.changes {
                if change.change != "removed" {
                    paths.insert(change.path);
                }
            }
        }
    }
    Some(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("cache");
        std::fs::create_dir_all(cache.join("state")).unwrap();
        (root, cache)
    }

    #[test]
    fn only_what_render_published_and_nobody_changed_is_removed() {
        let (root, cache) = folder();
        let root = root.path();
        let mut ledger = Published::open(root, &cache).unwrap();
        let dir = root.join("out/demo");
        ledger.create_folders(&dir).unwrap();
        let ours = dir.join("old.mp4");
        let edited = dir.join("edited.mp4");
        for file in [&ours, &edited] {
            std::fs::write(file, "render's").unwrap();
            ledger
                .add_file(file, Ident::of_path(file).unwrap(), None)
                .unwrap();
        }
        // The user edits one of render's files in place, and keeps files of their own.
        std::fs::write(&edited, "the user's cut").unwrap();
        std::fs::write(dir.join("final.mp4"), "mine").unwrap();
        std::fs::create_dir(root.join("out/other")).unwrap();
        assert_eq!(
            ledger.not_renders(),
            ["out/demo/edited.mp4", "out/demo/final.mp4", "out/other/"]
        );
        drop(ledger);

        // The journal read back by another process says the same.
        let mut ledger = Published::open(root, &cache).unwrap();
        assert_eq!(
            ledger.undeclared(&HashSet::new()),
            std::slice::from_ref(&ours)
        );
        let done = ledger.unpublish_undeclared(&HashSet::new()).unwrap();
        assert_eq!(
            done,
            [
                Unpublished::Changed("out/demo/edited.mp4".into()),
                Unpublished::Removed("out/demo/old.mp4".into()),
            ]
        );
        assert!(!ours.exists());
        assert_eq!(std::fs::read_to_string(&edited).unwrap(), "the user's cut");
        // out/demo still holds the user's files: it stays.
        assert!(dir.is_dir());
        std::fs::remove_file(&edited).unwrap();
        std::fs::remove_file(dir.join("final.mp4")).unwrap();
        ledger.unpublish_undeclared(&HashSet::new()).unwrap();
        assert!(!dir.exists(), "render's folder, now empty, goes");
        assert!(root.join("out/other").is_dir(), "the user's folder stays");
    }

    #[test]
    fn a_torn_last_line_announced_nothing() {
        let (root, cache) = folder();
        let file = cache.join("state").join(FILE);
        std::fs::write(
            &file,
            format!("{HEADER}\nd out\nf 1 2 3 4 - out/a.mp4\nf 1 2"),
        )
        .unwrap();
        let ledger = Published::read(root.path(), &cache);
        assert_eq!(ledger.entries.len(), 2);
        // Opened for writing, it is rewritten whole, so the next append is a line of its own.
        let mut ledger = Published::open(root.path(), &cache).unwrap();
        ledger.forget(&root.path().join("out/a.mp4")).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text,
            format!("{HEADER}\nd out\nf 1 2 3 4 - out/a.mp4\n- out/a.mp4\n")
        );
    }

    #[test]
    fn an_old_folder_adopts_only_object_files_the_history_published() {
        let (root, cache) = folder();
        let root = root.path();
        let object = cache.join(format!("objects/ab/ab{}", "0".repeat(62)));
        std::fs::create_dir_all(&object).unwrap();
        std::fs::write(object.join("scene.mp4"), "video").unwrap();
        std::fs::create_dir_all(root.join("out/demo")).unwrap();
        std::fs::hard_link(object.join("scene.mp4"), root.join("out/demo/welcome.mp4")).unwrap();
        // The same object linked under a name render never published, and a user's copy.
        std::fs::hard_link(object.join("scene.mp4"), root.join("out/demo/mine.mp4")).unwrap();
        std::fs::copy(object.join("scene.mp4"), root.join("out/demo/copy.mp4")).unwrap();
        std::fs::write(root.join("out/demo/.x.mp4.tmp-12-3"), "half").unwrap();
        let history = r#"{"changes":[{"path":"out/demo/welcome.mp4","change":"added"},{"path":"out/demo/mine.mp4","change":"removed"}]}"#;
        std::fs::write(cache.join(HISTORY), format!("{history}\n")).unwrap();
        let ledger = Published::read(root, &cache);
        let entries: Vec<(&str, bool)> = (ledger.entries.iter())
            .map(|(p, e)| (p.as_str(), matches!(e, Entry::File(..))))
            .collect();
        assert_eq!(
            entries,
            [
                ("out", false),
                ("out/demo", false),
                ("out/demo/.x.mp4.tmp-12-3", false),
                ("out/demo/welcome.mp4", true)
            ]
        );
        assert!(
            !cache.join("state").join(FILE).exists(),
            "reading writes nothing"
        );
    }
}
