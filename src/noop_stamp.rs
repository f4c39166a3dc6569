//! The no-op stamp (`cache/state/noop`): what lets `render build` with nothing to make
//! answer before loading anything — the no-op path designed first, as git's index, tup and
//! buck2 do. A build's graph and keys are a pure function of what it read (the TOML files,
//! the folders listed, the source files hashed, the tools asked, the render binary, the
//! environment and arguments it planned under), and a no-op's answer of the objects and
//! published files it checked. A build that was a no-op (exit 0, nothing made, published
//! or removed) writes down the stat signature of each of those paths, and what it said; the
//! next build whose context is the same and whose every listed path stats identically says
//! it again (same stderr, same history line, same exit code) and stops, touching nothing.
//! Anything else — a file changed, added to a listed folder, missing; another binary,
//! argument, target or environment; an unreadable or older stamp — takes the full path,
//! which is unchanged, removes the stamp first and writes a fresh one if it ends a no-op.
//!
//! Paths are recorded where they are read (`consulted`): the manifest loader (each file
//! read, each folder listed), the source hashes (each file stat'ed), the tool facts (each
//! program and the PATH folders searched for it), the face model's and fonts' lookups; the
//! check log adds each record and output the cheap checks stat'ed, the build its published
//! files, its state files and `out/report.html`. What cannot be written down — a program
//! run to probe a GPU, a file left in `cache/tmp/`, an undeclared file left in `out/` —
//! makes the build write no stamp (`unstampable`).
//!
//! Racy entries (git's "racy clean"): a path whose mtime or ctime is not older than the
//! build's start by more than the filesystems' timestamp granularity (`GRAIN_NS`) may have
//! changed after it was read without its stat showing it; it is written as "always check
//! again" (`r`), so the next build takes the full path (which writes a clean stamp). Files
//! only render writes under the build lock (`cache/state/`) are exempt: every build that
//! writes them removes the stamp first, and `gc`, `clean` and `verify` remove it too.
//!
//! Format: a header line, `context <hex>` (a digest of the binary's stat, the working
//! folder, the content folder, targets, `--keep-going`, whether stdout/stderr are
//! terminals, and each environment variable render reads when planning), `reused <n>`,
//! `used <digest>`, then what was said in order (`say <json string>`, `summary <json
//! string>` for the summary line less its seconds), then one path a line: `<f|d|-|r>
//! <size> <mtime ns> <ctime ns> <inode> <path>` (`-`: absent; `r`: racy; a relative path
//! is under the content folder).

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::Result;
use crate::files::write_atomically;
use crate::stat_at::{self, Stat};

const HEADER: &str = "render no-op stamp 1";
/// Its name in `cache/state/`.
pub const FILE: &str = "noop";
/// How far a file's time may lag the moment it was written (2 s: FAT's granularity; ext4
/// and xfs keep nanoseconds but tick with the kernel's coarse clock).
const GRAIN_NS: i128 = 2_000_000_000;

/// The environment variables read while loading and planning (`grep -rn 'env::var' src`):
/// where engines, models, fonts and programs are found, the GPU probe, the tmp sweep.
const ENV: &[&str] = &[
    "PATH",
    "HOME",
    "XDG_CONFIG_HOME",
    "RENDER_ENGINES",
    "RENDER_MODELS",
    "RENDER_FONTS",
    "RENDER_WORKER",
    "RENDER_NVIDIA_SMI",
    "CUDA_VISIBLE_DEVICES",
    "RENDER_TMP_MAX_AGE",
    "RENDER_FARM",
    "SLURMD_NODENAME",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "TERM",
    "COLUMNS",
];

static CONSULTED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static SAID: Mutex<Vec<Said>> = Mutex::new(Vec::new());
static UNSTAMPABLE: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Said {
    Text(String),
    /// The summary line, less its ` in <seconds> s`.
    Summary(String),
}

/// Notes that planning depended on `path` (its contents, its listing, or its absence).
pub fn consulted(path: &Path) {
    CONSULTED.lock().unwrap().push(path.to_path_buf());
}

/// Notes that this build depended on something a stamp cannot list: it writes none.
pub fn unstampable() {
    UNSTAMPABLE.store(true, Ordering::Relaxed);
}

/// Prints `text` to stderr as is, and remembers it for the stamp.
pub fn say(text: &str) {
    eprint!("{text}");
    SAID.lock().unwrap().push(Said::Text(text.to_string()));
}

/// Prints the summary line (`render: made …, reused …, failed … in 0.01 s`) and a newline.
pub fn say_summary(line: &str) {
    eprintln!("{line}");
    let head = line.rsplit_once(" in ").map_or(line, |(head, _)| head);
    SAID.lock().unwrap().push(Said::Summary(head.to_string()));
}

/// What a no-op said and recorded, to be said and recorded again.
#[derive(Debug, PartialEq, Eq)]
pub struct Replay {
    pub reused: usize,
    pub used: String,
    said: Vec<Said>,
}

impl Replay {
    /// Prints what the no-op printed, with this run's seconds in the summary line.
    pub fn say(&self, seconds: f64) {
        let mut text = String::new();
        for said in &self.said {
            match said {
                Said::Text(t) => text.push_str(t),
                Said::Summary(head) => text.push_str(&format!("{head} in {seconds:.2} s\n")),
            }
        }
        eprint!("{text}");
    }
}

/// The digest of everything besides files that a build's plan and words depend on.
pub fn context(root: &Path, targets: &[String], keep_going: bool) -> String {
    let mut hasher = blake3::Hasher::new();
    let mut part = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    part(HEADER.as_bytes());
    // The binary itself: a rebuilt render may plan differently.
    let exe = stat_at::stat_path(Path::new("/proc/self/exe"), true).ok();
    let exe = exe.map(|s| signature(Ok(s))).unwrap_or_default();
    part(exe.as_bytes());
    let cwd = std::env::current_dir().unwrap_or_default();
    part(cwd.as_os_str().as_bytes());
    part(root.as_os_str().as_bytes());
    part(&(targets.len() as u64).to_le_bytes());
    for target in targets {
        part(target.as_bytes());
    }
    part(&[
        keep_going as u8,
        std::io::stdout().is_terminal() as u8,
        std::io::stderr().is_terminal() as u8,
    ]);
    for name in ENV {
        part(name.as_bytes());
        match std::env::var_os(name) {
            Some(value) => part(&[&[1], value.as_bytes()].concat()),
            None => part(&[0]),
        }
    }
    hasher.finalize().to_hex().to_string()
}

/// A path's stat signature as the stamp writes it: `<f|d|-> <size> <mtime> <ctime> <inode>`.
fn signature(stat: std::io::Result<Stat>) -> String {
    match stat {
        Ok(s) => {
            let kind = if s.mode & libc::S_IFMT == libc::S_IFDIR {
                'd'
            } else {
                'f'
            };
            let ns = |(secs, nsec): (i64, i64)| secs as i128 * 1_000_000_000 + nsec as i128;
            format!("{kind} {} {} {} {}", s.len, ns(s.mtime), ns(s.ctime), s.ino)
        }
        Err(_) => "- 0 0 0 0".to_string(),
    }
}

/// Stats a stamp's paths through an open handle of their folder (`stat_at.rs`): the
/// paths come sorted, so siblings come together and each folder is looked up from `/`
/// once, not once per file (a stat by absolute path walked every component; at 10,000
/// lines that walk was most of writing and checking a stamp). What a stat says is the
/// same either way, links at the end followed as `std::fs::metadata` follows them.
#[derive(Default)]
struct Stats {
    /// The folder of the last path stat'ed, and its handle (None: it could not be opened).
    folder: Option<(PathBuf, Option<stat_at::Folder>)>,
}

impl Stats {
    fn stat(&mut self, path: &Path) -> std::io::Result<Stat> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return stat_at::stat_path(path, true);
        };
        if !matches!(&self.folder, Some((open, _)) if open == parent) {
            self.folder = Some((parent.to_path_buf(), stat_at::Folder::open(parent)));
        }
        match &self.folder {
            Some((_, Some(folder))) => folder.stat(&[name], true),
            _ => stat_at::stat_path(path, true),
        }
    }
}

/// The replay of the stamp in `state_dir`, when it holds for `context` and every path it
/// lists stats as it did; None otherwise (the full path is taken).
pub fn check(root: &Path, state_dir: &Path, context: &str) -> Option<Replay> {
    let text = std::fs::read(state_dir.join(FILE)).ok()?;
    let mut lines = text.split(|&b| b == b'\n');
    if lines.next()? != HEADER.as_bytes() {
        return None;
    }
    let field = |line: Option<&[u8]>, name: &str| -> Option<String> {
        let line = std::str::from_utf8(line?).ok()?;
        Some(line.strip_prefix(name)?.strip_prefix(' ')?.to_string())
    };
    if field(lines.next(), "context")? != context {
        return None;
    }
    let reused = field(lines.next(), "reused")?.parse().ok()?;
    let used = field(lines.next(), "used")?;
    let mut said = Vec::new();
    let mut stats = Stats::default();
    let mut ended = false;
    for line in lines {
        if line.is_empty() {
            ended = true;
            continue;
        }
        if ended {
            return None; // a line after the last: torn or foreign
        }
        if let Some(json) = line.strip_prefix(b"say ") {
            said.push(Said::Text(serde_json::from_slice(json).ok()?));
            continue;
        }
        if let Some(json) = line.strip_prefix(b"summary ") {
            said.push(Said::Summary(serde_json::from_slice(json).ok()?));
            continue;
        }
        // `<kind> <size> <mtime> <ctime> <inode> <path>`: five fields, then the path.
        let mut at = 0;
        for _ in 0..5 {
            at += line[at..].iter().position(|&b| b == b' ')? + 1;
        }
        let (recorded, path) = line.split_at(at);
        let recorded = &recorded[..recorded.len() - 1];
        if recorded[0] == b'r' {
            return None;
        }
        let path = Path::new(OsStr::from_bytes(path));
        if signature(stats.stat(&root.join(path))).as_bytes() != recorded {
            return None;
        }
    }
    // The last line ends in a newline: a stamp cut short is no stamp.
    ended.then_some(Replay { reused, used, said })
}

/// Removes the stamp in `state_dir` (a build about to change the cache or `out/`, `gc`,
/// `clean`, `verify`). A stamp that cannot be removed fails the command: it would lie.
pub fn forget(state_dir: &Path) -> Result<()> {
    let path = state_dir.join(FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::error::Error::io("cannot remove", &path, e)),
    }
}

/// What a no-op build writes to its stamp.
pub struct Written<'a> {
    pub root: &'a Path,
    pub state_dir: &'a Path,
    pub context: &'a str,
    pub reused: usize,
    pub used: &'a str,
    /// When the build began (ns since the epoch): files not older are racy.
    pub started_ns: i128,
    /// The paths the no-op's answer depends on, besides those consulted while planning.
    pub answer: Vec<PathBuf>,
}

/// Writes the stamp of a no-op build; does nothing when the build consulted something a
/// stamp cannot list.
pub fn write(stamp: Written) -> Result<bool> {
    if UNSTAMPABLE.load(Ordering::Relaxed) {
        return Ok(false);
    }
    let mut paths = std::mem::take(&mut *CONSULTED.lock().unwrap());
    paths.extend(stamp.answer);
    // By bytes (siblings together, for `Stats`), not by components: cheaper, same set.
    paths.sort_unstable_by(|a, b| a.as_os_str().as_bytes().cmp(b.as_os_str().as_bytes()));
    paths.dedup();
    let mut text = String::with_capacity(256 + paths.len() * 100);
    text.push_str(HEADER);
    text.push('\n');
    text.push_str(&format!("context {}\n", stamp.context));
    text.push_str(&format!("reused {}\n", stamp.reused));
    text.push_str(&format!("used {}\n", stamp.used));
    for said in SAID.lock().unwrap().iter() {
        let (name, value) = match said {
            Said::Text(t) => ("say", t),
            Said::Summary(head) => ("summary", head),
        };
        let json = serde_json::to_string(value).expect("a string serialises");
        text.push_str(&format!("{name} {json}\n"));
    }
    let mut bytes = text.into_bytes();
    let mut stats = Stats::default();
    for path in &paths {
        let shown = path.strip_prefix(stamp.root).unwrap_or(path);
        if shown.as_os_str().as_bytes().contains(&b'\n') || shown.as_os_str().is_empty() {
            return Ok(false);
        }
        let mut sig = signature(stats.stat(path));
        let own_state = path.starts_with(stamp.state_dir);
        if !own_state && racy(&sig, stamp.started_ns) {
            sig.replace_range(0..1, "r");
        }
        bytes.extend_from_slice(sig.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(shown.as_os_str().as_bytes());
        bytes.push(b'\n');
    }
    write_atomically(&stamp.state_dir.join(FILE), &bytes)?;
    Ok(true)
}

/// Whether a signature's mtime or ctime is within `GRAIN_NS` of the build's start, or later.
fn racy(signature: &str, started_ns: i128) -> bool {
    let mut fields = signature.split(' ').skip(2);
    let mut time = || fields.next().and_then(|t| t.parse::<i128>().ok());
    let (mtime, ctime) = (time().unwrap_or(i128::MAX), time().unwrap_or(i128::MAX));
    if signature.starts_with('-') {
        return false; // absent: whatever appears has a time of its own
    }
    mtime.max(ctime) >= started_ns - GRAIN_NS
}

/// Now, in nanoseconds since the epoch (a build's start, for racy entries).
pub fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_newer_than_the_start_less_the_grain_is_racy() {
        let started = 10 * GRAIN_NS;
        assert!(racy("f 1 0 20000000000 1", started));
        assert!(racy("f 1 18500000000 1 1", started));
        assert!(!racy("f 1 17000000000 17000000000 1", started));
        assert!(!racy("- 0 0 0 0", started));
    }
}
