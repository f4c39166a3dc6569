//! `render clean`: removes what render made, and only that — the objects, quarantine,
//! history, state and farm builds' Slurm files (`farm_logs`) in `cache/`, the files it published in `out/` (`published.rs`'s
//! ledger: still as render left them) and the folders it created there, once empty.
//!
//! Why so careful: `clean` runs in folders people keep other things in. It needs a content
//! folder that loads (a `Renderfile.toml` that parses and declares a project: an empty one
//! in a home folder, found from below, is not enough), takes the build lock, leaves what a
//! running `render run-job` reads or writes (`scratch::InUse`), never deletes through a
//! symlink (a `cache` linked to a shared disk is left whole: other folders may share it),
//! prints each thing it removes, and lists what it left because it is not render's.
//! `-n` lists without removing and takes no lock.

use std::path::{Path, PathBuf};

use crate::cache::Cache;
use crate::commands;
use crate::disk::human_bytes;
use crate::error::{Error, Result};
use crate::files::entries_sorted;
use crate::lock::BuildLock;
use crate::manifest;
use crate::published::{is_report, Published};
use crate::scratch::{self, InUse};

/// The files render keeps in `cache/state/` (besides the `used/` sets).
/// The check log (`check_log.rs`) goes with the build log, as one thing: both are what the
/// last builds left of their artifacts.
const STATE_FILES: [&str; 5] = [
    "sources.json",
    "tools.json",
    BUILD_LOG,
    "published",
    crate::check_log::FILE,
];
const BUILD_LOG: &str = "build-log";

pub fn run(dir: &Path, dry_run: bool) -> i32 {
    let result = (|| -> Result<i32> {
        let root = commands::content_root(dir)?;
        let loaded = manifest::load(&root).map_err(|errors| {
            errors.into_iter().for_each(|e| commands::report(e.into()));
            refuse(&root, "its Renderfile.toml does not load (above)")
        })?;
        if loaded.manifest.projects.is_empty() {
            loaded
                .errors
                .into_iter()
                .for_each(|e| commands::report(e.into()));
            return Err(refuse(&root, "it declares no project"));
        }
        let cache = Cache::new(&root);
        let _lock = if dry_run {
            None
        } else {
            let lock = BuildLock::acquire(&cache.dir)?;
            // What clean removes, the last no-op's stamp lists.
            crate::noop_stamp::forget(&cache.state_dir())?;
            Some(lock)
        };
        let mut clean = Clean {
            root: root.clone(),
            dry_run,
            removed: Vec::new(),
            left: Vec::new(),
        };
        // What went is listed even when something then fails (a permission, a busy disk).
        let done = clean.out(&cache).and_then(|()| clean.cache(&cache));
        let verb = if dry_run { "would remove" } else { "removed" };
        for line in &clean.removed {
            println!("{verb} {line}");
        }
        done?;
        for line in &clean.left {
            println!("left {line}");
        }
        let left = if clean.left.is_empty() {
            String::new()
        } else {
            format!(
                "; left {} that {} not render's or in use (listed)",
                plural(clean.left.len(), "thing"),
                if clean.left.len() == 1 { "is" } else { "are" }
            )
        };
        eprintln!(
            "render: {verb} {} made by render{left}",
            plural(clean.removed.len(), "thing")
        );
        Ok(0)
    })();
    commands::exit_code(result)
}

fn refuse(root: &Path, why: &str) -> Error {
    Error::Other(format!(
        "refusing to clean `{}`: {why}; clean removes only what render made in a content folder it can load, and removed nothing",
        root.display()
    ))
}

struct Clean {
    root: PathBuf,
    dry_run: bool,
    /// What went (or would go), as lines: a path relative to the content folder, and what.
    removed: Vec<String>,
    /// What stayed, and why.
    left: Vec<String>,
}

impl Clean {
    fn relative(&self, path: &Path) -> String {
        commands::relative(&self.root, path)
    }

    /// The files render published (still as it left them), its report, then its folders.
    fn out(&mut self, cache: &Cache) -> Result<()> {
        let out = self.root.join("out");
        let mut ledger = if self.dry_run {
            Published::read(&self.root, &cache.dir)
        } else {
            Published::open(&self.root, &cache.dir)?
        };
        let report = out.join(commands::report::FILE);
        let report_is_ours =
            std::fs::symlink_metadata(&report).is_ok_and(|m| m.is_file()) && is_report(&report);
        if report_is_ours {
            if !self.dry_run {
                std::fs::remove_file(&report)
                    .map_err(|e| Error::io("cannot remove", &report, e))?;
            }
            self.removed.push(self.relative(&report));
        }
        let (files, folders, changed) = ledger.remove_all(self.dry_run)?;
        self.removed.extend(files);
        self.removed
            .extend(folders.into_iter().map(|f| format!("{f}/")));
        for path in changed {
            self.left.push(format!(
                "{path} (render published it, but it was changed since)"
            ));
        }
        // The ledger as it is now (what was removed is forgotten, and gone).
        for path in ledger.not_renders() {
            if !self.left.iter().any(|l| l.starts_with(&format!("{path} "))) {
                self.left.push(format!("{path} (not render's)"));
            }
        }
        Ok(())
    }

    /// render's own entries in `cache/`; never through a link.
    fn cache(&mut self, cache: &Cache) -> Result<()> {
        let dir = &cache.dir;
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            return Ok(());
        };
        if meta.is_symlink() {
            let target = std::fs::read_link(dir).unwrap_or_default();
            self.left.push(format!(
                "cache/ (a link to `{}`: clean does not delete through it, other folders may share it; `render gc` removes what this folder does not need)",
                target.display()
            ));
            return Ok(());
        }
        let in_use = InUse::read(dir);
        self.objects(cache, &in_use)?;
        if !in_use.jobs.is_empty() {
            self.left.push(format!(
                "what running jobs read and make (render run-job): {}",
                in_use.describe()
            ));
        }
        self.quarantine(cache)?;
        self.tmp(cache)?;
        self.farm(cache)?;
        let jobs = scratch::jobs_dir(dir);
        self.remove_if_empty(&jobs);
        self.state(cache)?;
        let history = dir.join(crate::history::FILE);
        if std::fs::symlink_metadata(&history).is_ok_and(|m| m.is_file()) {
            self.remove(&history, String::new())?;
        }
        // The lock stays: a build waiting on it must lock the same file as any later one.
        let known = [
            "objects",
            "quarantine",
            "tmp",
            "state",
            "jobs",
            "lock",
            crate::farm_logs::DIR,
        ];
        for entry in entries_sorted(dir) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = self.relative(&entry.path());
            if !known.contains(&name.as_str()) && name != crate::history::FILE {
                self.left.push(format!("{rel} (not render's)"));
            } else if !self.dry_run && name != "lock" && is_real_dir(&entry.path()) {
                self.left.push(format!(
                    "{rel}/ (what it still holds is not render's, or in use)"
                ));
            }
        }
        Ok(())
    }

    fn objects(&mut self, cache: &Cache, in_use: &InUse) -> Result<()> {
        let objects = cache.objects_dir();
        if !is_real_dir(&objects) {
            return Ok(());
        }
        let (mut count, mut bytes) = (0, 0);
        for shard in entries_sorted(&objects) {
            let shard_path = shard.path();
            let shard_name = shard.file_name().to_string_lossy().into_owned();
            if !(is_real_dir(&shard_path) && is_hex(&shard_name, 2)) {
                continue;
            }
            for object in entries_sorted(&shard_path) {
                let path = object.path();
                let name = object.file_name().to_string_lossy().into_owned();
                let Some(key) = crate::key::Key::from_hex(&name) else {
                    continue;
                };
                if !is_real_dir(&path) || in_use.keys.contains(&key) {
                    continue;
                }
                bytes += scratch::bytes_of(&path);
                count += 1;
                if !self.dry_run {
                    scratch::remove_entry(&cache.set_aside(&key, "clean")?)?;
                }
            }
            self.remove_if_empty(&shard_path);
        }
        if count > 0 {
            self.removed.push(format!(
                "cache/objects/ ({}, {})",
                plural(count, "object"),
                human_bytes(bytes)
            ));
        }
        self.remove_if_empty(&objects);
        Ok(())
    }

    /// `cache/quarantine/<key>-<pid>-<n>/`: damaged objects render moved aside.
    fn quarantine(&mut self, cache: &Cache) -> Result<()> {
        let dir = cache.quarantine_dir();
        if !is_real_dir(&dir) {
            return Ok(());
        }
        let (mut count, mut bytes) = (0, 0);
        for entry in entries_sorted(&dir) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.len() > 65 && is_hex(&name[..64], 64) && name[64..].starts_with('-');
            if ours && is_real_dir(&entry.path()) {
                count += 1;
                bytes += scratch::bytes_of(&entry.path());
                if !self.dry_run {
                    scratch::remove_entry(&entry.path())?;
                }
            }
        }
        if count > 0 {
            self.removed.push(format!(
                "cache/quarantine/ ({}, {})",
                plural(count, "damaged object"),
                human_bytes(bytes)
            ));
        }
        self.remove_if_empty(&dir);
        Ok(())
    }

    /// `cache/tmp/` (or the folder it links to): the entries render named whose makers
    /// are gone.
    fn tmp(&mut self, cache: &Cache) -> Result<()> {
        let dir = cache.tmp_dir();
        if self.dry_run || !dir.is_dir() {
            return Ok(());
        }
        let swept = scratch::sweep(&dir)?;
        if swept.removed > 0 {
            self.removed.push(format!(
                "cache/tmp/: {} left by interrupted builds ({})",
                plural(swept.removed, "job folder"),
                human_bytes(swept.bytes)
            ));
        }
        // Not a link: only a folder of render's own, and only when empty.
        self.remove_if_empty(&dir);
        Ok(())
    }

    /// `cache/farm/<build>/`: the Slurm jobs' files of farm builds (`farm_logs`), each
    /// once its build and its Slurm jobs are over.
    fn farm(&mut self, cache: &Cache) -> Result<()> {
        let folders = crate::farm_logs::list(&cache.dir);
        if folders.is_empty() {
            return Ok(());
        }
        let queued = crate::farm_logs::queued();
        let (mut count, mut bytes) = (0, 0);
        for folder in &folders {
            let rel = self.relative(&folder.path);
            if let Some(why) = crate::farm_logs::busy(folder, queued.as_deref()) {
                self.left.push(format!("{rel}/ ({why})"));
                continue;
            }
            let removed = crate::farm_logs::remove(&folder.path, self.dry_run)?;
            count += usize::from(removed.files > 0);
            bytes += removed.bytes;
            for path in removed.left {
                self.left.push(format!("{rel}/{path} (not render's)"));
            }
        }
        if count > 0 {
            self.removed.push(format!(
                "cache/farm/ (the Slurm jobs' files of {}, {})",
                plural(count, "farm build"),
                human_bytes(bytes)
            ));
        }
        self.remove_if_empty(&cache.dir.join(crate::farm_logs::DIR));
        Ok(())
    }

    /// `cache/state/`: the files render keeps there, its `used/` sets, and what an
    /// interrupted atomic write of one of them left.
    fn state(&mut self, cache: &Cache) -> Result<()> {
        let dir = cache.state_dir();
        if !is_real_dir(&dir) {
            return Ok(());
        }
        for entry in entries_sorted(&dir) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let leftover = STATE_FILES
                .iter()
                .any(|f| name.starts_with(&format!(".{f}.tmp-")));
            let is_file = |path: &Path| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
            let check_log = dir.join(crate::check_log::FILE);
            if name == crate::check_log::FILE && is_file(&dir.join(BUILD_LOG)) {
                // Listed and removed with the build log (in a dry run it is still there).
                continue;
            }
            if name == BUILD_LOG && is_file(&path) && is_file(&check_log) {
                if !self.dry_run {
                    std::fs::remove_file(&check_log)
                        .map_err(|e| Error::io("cannot remove", &check_log, e))?;
                }
                let with = format!(" and {}", self.relative(&check_log));
                self.remove(&path, with)?;
                continue;
            }
            if is_file(&path) && (STATE_FILES.contains(&name.as_str()) || leftover) {
                self.remove(&path, String::new())?;
            }
        }
        let used = crate::history::History::of(cache).used_dir().to_path_buf();
        if is_real_dir(&used) {
            let mut count = 0;
            for entry in entries_sorted(&used) {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                let digest = is_hex(&name, 64);
                let leftover = name.starts_with('.') && name.contains(".tmp-");
                if (digest || leftover)
                    && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
                {
                    count += 1;
                    if !self.dry_run {
                        std::fs::remove_file(&path)
                            .map_err(|e| Error::io("cannot remove", &path, e))?;
                    }
                }
            }
            if count > 0 {
                self.removed
                    .push(format!("cache/state/used/ ({})", plural(count, "used set")));
            }
            self.remove_if_empty(&used);
        }
        self.remove_if_empty(&dir);
        Ok(())
    }

    /// Removes one file render made, and says so (`what`: a note after its path).
    fn remove(&mut self, path: &Path, what: String) -> Result<()> {
        if !self.dry_run {
            std::fs::remove_file(path).map_err(|e| Error::io("cannot remove", path, e))?;
        }
        self.removed.push(format!("{}{what}", self.relative(path)));
        Ok(())
    }

    /// Removes a folder render made when nothing is left in it (silently: what it held
    /// was listed).
    fn remove_if_empty(&self, dir: &Path) {
        if !self.dry_run && is_real_dir(dir) {
            // Fails, harmlessly, when something (the user's, or in use) is still there.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A folder itself, not a link to one.
fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn is_hex(name: &str, len: usize) -> bool {
    name.len() == len && name.bytes().all(|b| b.is_ascii_hexdigit())
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
