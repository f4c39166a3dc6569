//! render's own temporary work: the names it gives what it writes under `cache/tmp/` (job
//! folders, staged hard links, objects on their way out), who made each one, and the
//! registrations of running `render run-job`s under `cache/jobs/`.
//!
//! Why names and not a blanket `rm -rf cache/tmp/*`: `cache/tmp` may be a symlink to a
//! scratch disk that holds other people's files, and a `run-job` (or, on a shared cache,
//! another machine's build) may be working in it right now. So every entry render makes is
//! named `<label>_<pid>_<host>_<n>`, and a sweep removes only such entries, and only when
//! their maker is gone: the process has exited (same host), or, for another host whose
//! processes cannot be asked, the entry has not changed for [`other_host_bound`]. Nothing is
//! followed through a symlink while deleting (`std::fs::remove_dir_all` unlinks links
//! inside, it does not enter them).
//!
//! A `run-job` takes no build lock (a cluster runs many beside a build), so it registers
//! itself: `cache/jobs/<label>_<pid>_<host>_<n>.json` names the job's key and its inputs'
//! keys. `gc` and `clean` read the live registrations and leave those objects alone.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::key::Key;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// This machine's name, as the system gives it (the history records it so; owned names use
/// [`host`], cleaned).
pub fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into a buffer we own.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    if ok {
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    } else {
        String::new()
    }
}

/// The machine a job runs on, as records and the history name it: the Slurm node's name
/// inside a Slurm job (`SLURMD_NODENAME`: several nodes may share a host name, as on a test
/// cluster), else [`hostname`].
pub fn node() -> String {
    match std::env::var("SLURMD_NODENAME") {
        Ok(name) if !name.is_empty() => name,
        _ => hostname(),
    }
}

/// This machine's name as it appears in owned names: letters, digits, `-` and `.` (anything
/// else becomes `-`).
pub fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let host = hostname();
        let clean: String = (host.chars())
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if clean.is_empty() {
            "localhost".into()
        } else {
            clean
        }
    })
}

/// A name no other writer (in this process, another process, another machine) is using,
/// that says who made it: `<label>_<pid>_<host>_<n>` (only letters, digits, `-`, `.` and
/// `_`: programs that pass paths through a shell unquoted still get them whole). `label`
/// must not hold `_`.
pub fn owned_name(label: &str) -> String {
    debug_assert!(!label.contains('_'));
    format!(
        "{label}_{}_{}_{}",
        std::process::id(),
        host(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Who made an owned entry, read back from its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub host: String,
}

impl Owner {
    /// The maker of `name`, when it is a name [`owned_name`] gives (a `.json` after the
    /// counter is allowed).
    pub fn of(name: &str) -> Option<Owner> {
        let name = name.strip_suffix(".json").unwrap_or(name);
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let [label, pid, host, counter] = name.split('_').collect::<Vec<_>>()[..] else {
            return None;
        };
        let host_ok = !host.is_empty()
            && (host.chars()).all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if label.is_empty() || !digits(pid) || !digits(counter) || !host_ok {
            return None;
        }
        Some(Owner {
            pid: pid.parse().ok()?,
            host: host.to_string(),
        })
    }

    /// Whether the maker may still be using its entry: a process of this machine that is
    /// still running, or another machine's entry changed within the bound.
    pub fn alive(&self, entry: &Path) -> bool {
        if self.host == host() {
            return self.pid == std::process::id() || process_exists(self.pid);
        }
        let newest = newest_change(entry);
        let age = SystemTime::now()
            .duration_since(newest)
            .unwrap_or(Duration::ZERO);
        age < other_host_bound()
    }
}

/// How long another machine's entry is left alone after its last change (its process
/// cannot be asked): `RENDER_TMP_MAX_AGE` seconds, else two days — longer than any job
/// render runs without writing into its folder.
pub fn other_host_bound() -> Duration {
    std::env::var("RENDER_TMP_MAX_AGE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(2 * 24 * 3600), Duration::from_secs_f64)
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only asks whether the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists, owned by someone else.
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The latest mtime of `entry` and, for a folder, of what it holds directly.
fn newest_change(entry: &Path) -> SystemTime {
    let mtime = |meta: std::fs::Metadata| meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let own = std::fs::symlink_metadata(entry).map_or(SystemTime::now(), mtime);
    (std::fs::read_dir(entry).into_iter().flatten().flatten())
        .filter_map(|e| e.metadata().ok().map(mtime))
        .fold(own, SystemTime::max)
}

/// What a sweep of a scratch folder did.
#[derive(Debug, Default)]
pub struct Swept {
    /// Entries removed and their bytes.
    pub removed: usize,
    pub bytes: u64,
    /// Entries left because their maker may still be using them.
    pub live: usize,
    /// Entries render did not make (left alone, not counted in `bytes`).
    pub not_ours: usize,
}

/// Removes the entries of `dir` that render made and whose makers are gone; leaves the rest.
/// Never deletes through a symlink: a link render made is unlinked, not entered.
pub fn sweep(dir: &Path) -> Result<Swept> {
    let mut swept = Swept::default();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(swept);
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let path = entry.path();
        let Some(owner) = name.to_str().and_then(Owner::of) else {
            swept.not_ours += 1;
            continue;
        };
        if owner.alive(&path) {
            swept.live += 1;
            continue;
        }
        swept.bytes += bytes_of(&path);
        remove_entry(&path)?;
        swept.removed += 1;
    }
    Ok(swept)
}

/// Removes one entry without following a symlink: a folder with what it holds (links
/// inside unlinked, not entered), a file or a link itself.
pub fn remove_entry(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("cannot remove", path, e)),
    };
    let removed = if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("cannot remove", path, e))
        }
        _ => Ok(()),
    }
}

/// Bytes under `path`, not following symlinks.
pub fn bytes_of(path: &Path) -> u64 {
    (walkdir::WalkDir::new(path).follow_links(false).into_iter())
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// A `run-job` on its way: registered while it runs, so `gc` and `clean` leave its inputs
/// and its folder alone. Removed when dropped (a killed job's is swept once it is gone).
pub struct Registration {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct JobFile {
    name: String,
    key: Key,
    inputs: Vec<Key>,
}

/// Where registrations live, in the cache folder.
pub fn jobs_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("jobs")
}

impl Registration {
    /// Registers job `name` (key `key`, reading `inputs`) in the cache at `cache_dir`.
    pub fn new(cache_dir: &Path, name: &str, key: Key, inputs: Vec<Key>) -> Result<Registration> {
        let dir = jobs_dir(cache_dir);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let path = dir.join(format!("{}.json", owned_name(&key.hex()[..16])));
        let file = JobFile {
            name: name.to_string(),
            key,
            inputs,
        };
        let bytes = serde_json::to_vec(&file).expect("render's own types serialise");
        std::fs::write(&path, bytes).map_err(|e| Error::io("cannot write", &path, e))?;
        crate::files::sync_file(&path)?;
        Ok(Registration { path })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The jobs running on the cache at `cache_dir` (outside this process's build): their
/// names with their makers, and every key they make or read.
#[derive(Debug, Default)]
pub struct InUse {
    pub jobs: Vec<(String, Owner)>,
    pub keys: HashSet<Key>,
}

impl InUse {
    /// Reads the live registrations; forgets those whose makers are gone.
    pub fn read(cache_dir: &Path) -> InUse {
        let mut in_use = InUse::default();
        let dir = jobs_dir(cache_dir);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Some(owner) = entry.file_name().to_str().and_then(Owner::of) else {
                continue;
            };
            if !owner.alive(&path) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Ok(file) = std::fs::read(&path)
                .map_err(|_| ())
                .and_then(|b| serde_json::from_slice::<JobFile>(&b).map_err(|_| ()))
            else {
                continue;
            };
            in_use.keys.insert(file.key);
            in_use.keys.extend(file.inputs);
            in_use.jobs.push((file.name, owner));
        }
        in_use.jobs.sort_by(|a, b| a.0.cmp(&b.0));
        in_use
    }

    /// "render run-job for clip x (pid 12 on host)", one per job, joined.
    pub fn describe(&self) -> String {
        (self.jobs.iter())
            .map(|(name, owner)| format!("{name} (pid {} on {})", owner.pid, owner.host))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_names_say_who_made_them() {
        let name = owned_name("4f3a9c0d1e2b3a4c");
        let owner = Owner::of(&name).unwrap();
        assert_eq!(owner.pid, std::process::id());
        assert_eq!(owner.host, host());
        assert_eq!(
            Owner::of("gc-ab12_42_node-7.cluster.local_3"),
            Some(Owner {
                pid: 42,
                host: "node-7.cluster.local".into()
            })
        );
        assert_eq!(
            Owner::of("ab12_42_node_3.json").map(|o| o.host),
            Some("node".into())
        );
        // What users and other programs name their files.
        for name in [
            "notes.txt",
            "scratch",
            "a_b",
            "x_12__3",
            "_12_host_3",
            "x_12_host",
            "x_1a_host_3",
            "x_12_host_3_4",
            "x_12_ho@st_3",
            "4f3a9c0d1e2b3a4c-123-4",
            "my_holiday_2024_01",
        ] {
            assert_eq!(Owner::of(name), None, "{name}");
        }
    }

    #[test]
    fn a_sweep_removes_only_what_a_gone_process_made() {
        let root = tempfile::tempdir().unwrap();
        let tmp = root.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        // The user's: a file, a folder, a link to a folder outside.
        let outside = root.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), "keep").unwrap();
        std::fs::write(tmp.join("notes.txt"), "mine").unwrap();
        std::fs::create_dir(tmp.join("folder")).unwrap();
        std::os::unix::fs::symlink(&outside, tmp.join("link")).unwrap();
        // Ours, live: this process's.
        let live = tmp.join(owned_name("live"));
        std::fs::create_dir(&live).unwrap();
        // Ours, gone: a pid no process has, holding a link to the outside folder.
        let gone = tmp.join(format!("job_{}_{}_1", i32::MAX - 1, host()));
        std::fs::create_dir(&gone).unwrap();
        std::fs::write(gone.join("a.wav"), "12345").unwrap();
        std::os::unix::fs::symlink(&outside, gone.join("inputs")).unwrap();
        // Another machine's: recent, so left.
        let remote = tmp.join("job_1_some-other-host_1");
        std::fs::create_dir(&remote).unwrap();

        let swept = sweep(&tmp).unwrap();
        assert_eq!((swept.removed, swept.live, swept.not_ours), (1, 2, 3));
        assert_eq!(swept.bytes, 5);
        assert!(!gone.exists());
        assert!(live.is_dir() && remote.is_dir());
        assert_eq!(
            std::fs::read_to_string(outside.join("keep.txt")).unwrap(),
            "keep"
        );
        assert!(tmp.join("notes.txt").is_file() && tmp.join("folder").is_dir());
        assert!(tmp.join("link").is_symlink());
    }

    #[test]
    fn registrations_are_read_while_their_job_runs() {
        let root = tempfile::tempdir().unwrap();
        let key = Key([1; 32]);
        let input = Key([2; 32]);
        {
            let _registration = Registration::new(root.path(), "clip x", key, vec![input]).unwrap();
            let in_use = InUse::read(root.path());
            assert_eq!(in_use.keys, HashSet::from([key, input]));
            assert_eq!(in_use.jobs.len(), 1);
            assert!(in_use.describe().starts_with("clip x (pid "));
        }
        assert!(InUse::read(root.path()).keys.is_empty());
        // A registration whose process is gone is forgotten.
        let dead = jobs_dir(root.path()).join(format!("x_{}_{}_1.json", i32::MAX - 1, host()));
        std::fs::write(
            &dead,
            serde_json::to_vec(&JobFile {
                name: "clip y".into(),
                key,
                inputs: vec![],
            })
            .unwrap(),
        )
        .unwrap();
        assert!(InUse::read(root.path()).keys.is_empty());
        assert!(!dead.exists());
    }
}
