//! The farm's folders in `cache/farm/`: one per `--farm slurm` build
//! (`render-<folder>-<stamp>-<pid>/`), with its Slurm jobs' specs, batch scripts, stdout,
//! stderr and results. They are the build's evidence (a failure's log is named there), so
//! they stay after the build; `render gc` removes those of builds older than the kept ones,
//! `render clean` all of them.
//!
//! Why so careful: a folder may still be in use after its build is over. A driver killed
//! with SIGKILL leaves Slurm jobs that run on, write their logs there and read their specs
//! from there; and a build of another content folder sharing the cache, or a dry run beside
//! a build, does not hold the build lock that `gc` and `clean` take. So a folder is removed
//! only when it is **finished**: its driver's lock ([`DRIVER_LOCK`], an `flock` the driver
//! holds while it lives) is free, and no Slurm job of it can still be queued or running —
//! `squeue` lists none under its name, or, where no Slurm client answers, its driver wrote
//! [`ENDED`] after every Slurm job it submitted had ended. And only render's own files
//! go: the names it writes there; anything else is left, and said.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;

/// `cache/farm/`.
pub const DIR: &str = "farm";

/// The file the driver holds an `flock` on while it lives.
pub const DRIVER_LOCK: &str = "driver.lock";

/// Written by the driver when every Slurm job it submitted has ended.
pub const ENDED: &str = "ended";

/// The first round's jobs (the cuts of long lines), in a folder of their own.
pub const CUTS: &str = "cuts";

/// One build's folder.
#[derive(Clone, Debug)]
pub struct BuildFolder {
    pub path: PathBuf,
    /// Its name, the build's Slurm job name.
    pub name: String,
    /// When its build started (seconds since the epoch, from its name).
    pub stamp: u64,
}

/// Why a folder is not finished, in the user's words; None: it is.
pub fn busy(folder: &BuildFolder, queued: Option<&[String]>) -> Option<&'static str> {
    if crate::lock::is_held(&folder.path.join(DRIVER_LOCK)) {
        return Some("its build is running");
    }
    match queued {
        Some(names) if names.contains(&folder.name) => {
            Some("Slurm jobs of its build are still queued or running")
        }
        Some(_) => None,
        None if folder.path.join(ENDED).is_file() => None,
        None => {
            Some("its build did not say its Slurm jobs ended, and no Slurm client answers to tell")
        }
    }
}

/// How long `gc` and `clean` wait for Slurm's answer: a client with no controller to reach
/// (no slurm.conf) takes a minute to give up, and they only ask in passing.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(5);

/// The names of the farm builds with Slurm jobs still queued or running (this user's),
/// or None when no Slurm client answers (within [`QUERY_DEADLINE`]; then it says so).
pub fn queued() -> Option<Vec<String>> {
    let slurm = crate::slurm::Slurm {
        deadline: Some(QUERY_DEADLINE),
        ..crate::slurm::Slurm::default()
    };
    if !slurm.available() {
        return None;
    }
    match slurm.unfinished("render-") {
        Ok(jobs) => Some(jobs.into_iter().map(|(_, name, _)| name).collect()),
        Err(error) => {
            eprintln!("render: Slurm did not answer, so farm builds are judged by their `{ENDED}` mark: {error}");
            None
        }
    }
}

/// The build folders under `cache_dir/farm/` (real folders named as render names them),
/// oldest first.
pub fn list(cache_dir: &Path) -> Vec<BuildFolder> {
    let mut folders: Vec<BuildFolder> = std::fs::read_dir(cache_dir.join(DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| std::fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stamp = stamp_of(&name)?;
            Some(BuildFolder {
                path: e.path(),
                name,
                stamp,
            })
        })
        .collect();
    folders.sort_by(|a, b| (a.stamp, &a.name).cmp(&(b.stamp, &b.name)));
    folders
}

/// The start of a build from its folder's name, `render-<8 hex>-<stamp>-<pid>`; None for
/// a name render does not make.
fn stamp_of(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("render-")?;
    let mut parts = rest.split('-');
    let (hash, stamp, pid) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let hex = hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (parts.next().is_none() && hex && digits(stamp) && digits(pid)).then(|| stamp.parse().ok())?
}

/// Whether render writes a file of this name in a build folder (`in_specs`: in `specs/`).
fn is_renders(name: &str, in_specs: bool) -> bool {
    if in_specs {
        // `<5 digits>-<kind>.json`.
        let Some(stem) = name.strip_suffix(".json") else {
            return false;
        };
        let Some((number, kind)) = stem.split_once('-') else {
            return false;
        };
        return number.len() == 5
            && number.bytes().all(|b| b.is_ascii_digit())
            && !kind.is_empty()
            && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    }
    if name == DRIVER_LOCK || name == ENDED {
        return true;
    }
    // `<n>.sh`, `.out`, `.err`, `.results`; an atomic write's leftover `.<name>.tmp-…`.
    let Some((number, extension)) = name.split_once('.') else {
        return false;
    };
    let numbered = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    numbered && ["sh", "out", "err", "results"].contains(&extension)
}

/// What removing a folder did: files and bytes gone, and what stayed (paths relative to
/// the folder) because render did not make it.
#[derive(Debug, Default)]
pub struct Removed {
    pub files: usize,
    pub bytes: u64,
    pub left: Vec<String>,
}

/// Removes render's files in `folder` (its own and those of its `specs/` and `cuts/`),
/// then its folders once empty; never through a link. `dry_run`: only counts.
pub fn remove(folder: &Path, dry_run: bool) -> Result<Removed> {
    let mut removed = Removed::default();
    remove_in(folder, folder, false, dry_run, &mut removed)?;
    // The mark goes last, and only with the rest: a folder still holding someone's files
    // still reads as finished.
    let ended = folder.join(ENDED);
    if removed.left.is_empty() && ended.is_file() {
        if !dry_run {
            std::fs::remove_file(&ended)
                .map_err(|e| crate::error::Error::io("cannot remove", &ended, e))?;
            let _ = std::fs::remove_dir(folder);
        }
        removed.files += 1;
    }
    Ok(removed)
}

fn remove_in(
    top: &Path,
    dir: &Path,
    in_specs: bool,
    dry_run: bool,
    removed: &mut Removed,
) -> Result<()> {
    for entry in crate::files::entries_sorted(dir) {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if dir == top && name == ENDED {
            continue;
        }
        let sub = !in_specs && (name == "specs" || (name == CUTS && dir == top));
        if meta.is_dir() && sub {
            remove_in(top, &path, name == "specs", dry_run, removed)?;
        } else if meta.is_file() && is_renders(&name, in_specs) {
            if !dry_run {
                std::fs::remove_file(&path)
                    .map_err(|e| crate::error::Error::io("cannot remove", &path, e))?;
            }
            removed.files += 1;
            removed.bytes += meta.len();
        } else {
            let rel = path
                .strip_prefix(top)
                .unwrap_or(&path)
                .display()
                .to_string();
            removed.left.push(rel);
        }
    }
    if !dry_run {
        // Fails, harmlessly, when something not render's is still there.
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_render_gives_are_its_own() {
        assert_eq!(
            stamp_of("render-0a1b2c3d-1764928000-4242"),
            Some(1764928000)
        );
        assert_eq!(stamp_of("render-0a1b2c3d-1764928000"), None);
        assert_eq!(stamp_of("render-0a1b2c3x-1764928000-1"), None);
        assert_eq!(stamp_of("notes"), None);
        for name in ["1.sh", "12.out", "3.err", "3.results", DRIVER_LOCK, ENDED] {
            assert!(is_renders(name, false), "{name}");
        }
        for name in ["notes.txt", "1.txt", "a.sh", "1.sh.bak", "specs"] {
            assert!(!is_renders(name, false), "{name}");
        }
        assert!(is_renders("00012-speech.json", true));
        assert!(is_renders("00012-face-track.json", true));
        assert!(!is_renders("12-speech.json", true));
        assert!(!is_renders("00012-speech.json.orig", true));
    }
}
