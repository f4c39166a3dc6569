//! The build history: one record per build, appended to `cache/history.jsonl`, so "which
//! night broke this scene" and "how long do builds take now" have answers, the report can
//! draw a trend, progress can estimate the time left and `render gc` can keep what recent
//! builds used.
//!
//! Like `.ninja_log` it is append-only: a record is one line of JSON, written with one
//! `write` on a file opened for appending and synced. A build killed mid-append leaves at
//! worst a torn last line; readers skip lines that do not parse, and the next append
//! starts on a fresh line, so one torn record never hides the others.
//!
//! A record lists every artifact the build made, failed, cancelled or skipped, with its
//! status and seconds. What it reused is the rest of the build's artifacts: all of them
//! (made and reused, name and key) are in `cache/state/used/<digest>`, one file per
//! distinct set, named by the digest the build log already computes — consecutive builds
//! of an unchanged folder share one file, so a no-op build appends one short line and
//! writes nothing else.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::key::Key;

/// One change a build made in `out/`, as the history records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutChange {
    /// Relative to the content folder, e.g. `out/demo/welcome.mp4`.
    pub path: String,
    /// added | updated | removed
    pub change: String,
}

/// The history's file, in `cache/`.
pub const FILE: &str = crate::published::HISTORY;
const USED: &str = "used";
/// The format of a record; a reader skips records of another version.
pub const VERSION: u32 = 1;

/// One build, as the history remembers it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BuildRecord {
    pub version: u32,
    /// Seconds since the Unix epoch (UTC).
    pub started: f64,
    pub ended: f64,
    pub host: String,
    /// The command line, as typed.
    pub command: Vec<String>,
    /// The targets it built (`project` or `project/scene`); empty: everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    pub exit: i32,
    pub counts: Counts,
    /// The digest naming the file in `cache/state/used/` with every artifact the build
    /// made or reused; empty when it used none.
    #[serde(default)]
    pub used: String,
    /// Every artifact not reused: made, failed, cancelled, skipped, not-started.
    #[serde(default)]
    pub artifacts: Vec<ArtifactRun>,
    /// Each failure with its message (and the tail of its program's log, when it had one).
    #[serde(default)]
    pub failures: Vec<Failure>,
    /// What changed in `out/`.
    #[serde(default)]
    pub changes: Vec<OutChange>,
    /// The GPU lane's record (loads, unloads, calls), seconds from the build's start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lane: Vec<LaneEntry>,
    /// Each scene variant the build saw, with what it cost (for the studio's compare page
    /// and the report); empty when no scene declares variants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantTime>,
}

/// A scene variant's build time, as a build recorded it under the variant's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantTime {
    /// `project/scene@variant`
    pub name: String,
    /// Its video, relative to the content folder (`out/<project>/<scene>@<variant>.mp4`).
    pub video: String,
    /// Its scene object's key (hex).
    pub key: String,
    /// Seconds every artifact behind its video took when made (whichever build made them);
    /// None when one of them was not made.
    pub seconds: Option<f64>,
    /// The part of `seconds` no other variant of the scene shares.
    pub own_seconds: Option<f64>,
    /// Seconds of its artifacts this build made (0 when it reused them all).
    pub made_seconds: f64,
    /// The engines its lines use (speech and lip-sync), as `render engines` names them.
    pub engines: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub made: usize,
    pub reused: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub skipped: usize,
    pub not_started: usize,
    pub published: usize,
    /// Files removed from `out/` (their scene is no longer declared).
    #[serde(default)]
    pub removed: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArtifactRun {
    pub name: String,
    pub kind: String,
    pub key: String,
    /// made | failed | cancelled | skipped | not-started
    pub status: String,
    /// When it started, seconds from the build's start (None: never started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    pub seconds: f64,
    /// The machine that made it (its object's record says; a farm's node), for what was
    /// made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The scene variants (`project/scene@variant`) that read it, when its scene declares
    /// variants: its seconds count for each of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    pub artifact: String,
    /// The diagnostic as the build printed it (plain text, cause chain and log tail).
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LaneEntry {
    pub seconds: f64,
    /// load | load-failed | unload | start | end
    pub event: String,
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// Which lane, and its device (builds before lanes had one: lane 0).
    #[serde(default)]
    pub lane: usize,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
}

impl From<&crate::lanes::LaneEvent> for LaneEntry {
    fn from(event: &crate::lanes::LaneEvent) -> LaneEntry {
        LaneEntry {
            seconds: event.seconds,
            event: event.event.to_string(),
            model: event.model.clone(),
            artifact: event.artifact.clone(),
            lane: event.lane,
            device: event.device.clone(),
        }
    }
}

impl BuildRecord {
    pub fn seconds(&self) -> f64 {
        (self.ended - self.started).max(0.0)
    }
}

/// The history of one content folder's builds.
pub struct History {
    path: PathBuf,
    used_dir: PathBuf,
}

/// What reading the history found.
#[derive(Debug, Default)]
pub struct Builds {
    /// Oldest first.
    pub builds: Vec<BuildRecord>,
    /// Lines that did not parse (a torn append, or a record of another version).
    pub skipped: usize,
}

impl BuildRecord {
    /// Whether the build did anything a person would look at: made, failed, cancelled or
    /// skipped an artifact, changed `out/`, or did not end well. A no-op did not.
    pub fn did_something(&self) -> bool {
        let c = &self.counts;
        self.exit != 0
            || c.made + c.failed + c.cancelled + c.skipped + c.not_started > 0
            || c.published + c.removed > 0
            || !self.failures.is_empty()
    }
}

impl History {
    pub fn of(cache: &Cache) -> History {
        History {
            path: cache.dir.join(FILE),
            used_dir: cache.state_dir().join(USED),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line, synced to disk.
    pub fn append(&self, record: &BuildRecord) -> Result<()> {
        let mut line = serde_json::to_vec(record).expect("a build record serialises");
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&self.path)
            .map_err(|e| Error::io("cannot open", &self.path, e))?;
        // A torn last line (a build killed mid-append) stays a line of its own.
        let length = file
            .metadata()
            .map_err(|e| Error::io("cannot read", &self.path, e))?
            .len();
        if length > 0 {
            let mut last = [0u8];
            let ends_in_newline = file
                .seek(SeekFrom::End(-1))
                .and_then(|_| file.read_exact(&mut last))
                .is_ok_and(|()| last[0] == b'\n');
            if !ends_in_newline {
                line.insert(0, b'\n');
            }
        }
        let write = |file: &mut std::fs::File, bytes: &[u8]| {
            file.write_all(bytes)
                .map_err(|e| Error::on_disk(Error::io("cannot write", &self.path, e), &self.path))
        };
        if let Some(pause) = pause_mid_append() {
            // For tests of a kill mid-append: half a record on disk, then a pause.
            let half = line.len() / 2;
            write(&mut file, &line[..half])?;
            let _ = file.sync_data();
            std::thread::sleep(pause);
            write(&mut file, &line[half..])?;
        } else {
            write(&mut file, &line)?;
        }
        file.sync_data()
            .map_err(|e| Error::io("cannot write", &self.path, e))
    }

    /// Every record that parses, oldest first.
    pub fn read(&self) -> Builds {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.path) {
            // A torn write may have cut a character in two: read bytes, decode lossily.
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        let mut read = Builds::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<BuildRecord>(line) {
                Ok(record) if record.version == VERSION => read.builds.push(record),
                _ => read.skipped += 1,
            }
        }
        read
    }

    /// The records appended after byte `offset` (what an earlier call returned; 0: all),
    /// oldest first, and the offset to ask from next time. Only whole lines are read: a
    /// record being appended now is returned by the next call. A file that shrank (a new
    /// history) is read again from its start.
    pub fn since(&self, offset: u64) -> (Vec<BuildRecord>, u64) {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return (Vec::new(), 0);
        };
        let length = file.metadata().map_or(0, |m| m.len());
        let offset = if length < offset { 0 } else { offset };
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(offset)).is_err() || file.read_to_end(&mut bytes).is_err() {
            return (Vec::new(), offset);
        }
        let whole = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        let records = (String::from_utf8_lossy(&bytes[..whole]).lines())
            .filter_map(|line| serde_json::from_str::<BuildRecord>(line).ok())
            .filter(|record| record.version == VERSION)
            .collect();
        (records, offset + whole as u64)
    }

    /// Remembers the set of artifacts a build made or reused (`digest` names it, as in the
    /// build log); a set already remembered is not written again.
    pub fn remember_used(&self, digest: &str, used: &[(&str, Key)]) -> Result<()> {
        let path = self.used_dir.join(digest);
        if used.is_empty() || path.exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.used_dir)
            .map_err(|e| Error::io("cannot create", &self.used_dir, e))?;
        let mut text = String::with_capacity(used.len() * 100);
        for (name, key) in used {
            text.push_str(&key.hex());
            text.push(' ');
            text.push_str(name);
            text.push('\n');
        }
        write_atomically(&path, text.as_bytes())
    }

    /// The file of the used set named `digest` (`cache/state/used/<digest>`).
    pub fn used_path(&self, digest: &str) -> PathBuf {
        self.used_dir.join(digest)
    }

    /// The artifacts (key → name) a build recorded as used; None when its set is gone.
    pub fn used_by(&self, record: &BuildRecord) -> Option<BTreeMap<Key, String>> {
        Some(self.used(record)?.into_iter().collect())
    }

    /// The artifacts (name → key) a build recorded as used, for the report, which looks
    /// its scenes up by name (two scenes that render identically share one key); None when
    /// its set is gone.
    pub fn used_names(&self, record: &BuildRecord) -> Option<BTreeMap<String, Key>> {
        Some(
            (self.used(record)?.into_iter())
                .map(|(key, name)| (name, key))
                .collect(),
        )
    }

    /// The (key, name) lines of a build's used set, in the build log's line format.
    fn used(&self, record: &BuildRecord) -> Option<Vec<(Key, String)>> {
        let text = if record.used.is_empty() {
            String::new()
        } else {
            std::fs::read_to_string(self.used_dir.join(&record.used)).ok()?
        };
        let entries = (text.lines())
            .filter_map(|line| {
                let (key, name) = crate::build_log::entry(line)?;
                Some((key, name.to_string()))
            })
            .collect();
        Some(entries)
    }

    /// The folder of used sets (for `render gc`, which removes sets no kept build names).
    pub fn used_dir(&self) -> &Path {
        &self.used_dir
    }
}

/// Mean seconds to make one artifact of each kind over `builds` (the most recent ones
/// weigh as much as the old: a rough estimate is all progress needs).
pub fn seconds_by_kind(builds: &[BuildRecord]) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for artifact in builds.iter().flat_map(|b| &b.artifacts) {
        if artifact.status == "made" {
            let sum = sums.entry(artifact.kind.clone()).or_default();
            sum.0 += artifact.seconds;
            sum.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(kind, (sum, n))| (kind, sum / n as f64))
        .collect()
}

/// The mean seconds of a job of each engine (its key spec's `engine`), from the records of
/// what the last `builds` (newest first, at most `limit` artifacts) made: the job's own
/// time, not its wait, wherever it ran. For a farm's batch sizes (`executor/slurm.rs`).
pub fn seconds_by_engine(
    cache: &Cache,
    builds: &[BuildRecord],
    limit: usize,
) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let made = (builds.iter().rev())
        .flat_map(|b| &b.artifacts)
        .filter(|a| a.status == "made")
        .take(limit);
    for artifact in made {
        let Some(record) = Key::from_hex(&artifact.key).and_then(|k| cache.record(&k)) else {
            continue;
        };
        let sum = sums.entry(record.spec.engine.into_owned()).or_default();
        sum.0 += record.seconds;
        sum.1 += 1;
    }
    sums.into_iter()
        .map(|(engine, (sum, n))| (engine, sum / n as f64))
        .collect()
}

/// What the lanes' record says of one lane group (a model, a GPU program's engine).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LaneTimes {
    /// The mean seconds of one call.
    pub call: f64,
    /// A model's shortest load in seconds (from its lane's start, or the end of the lane's
    /// last call or unload, to the `load`); None where none was recorded (a program).
    pub load: Option<f64>,
}

/// Per lane group, its calls' and loads' seconds by the lanes' record (`lane`) of the
/// newest of `builds` (oldest first, as read) that ran its calls: what sizes the groups'
/// lanes when a build starts (`lane_plan`). The calls' own times, from their start to their
/// end on a lane, not their jobs' (which count the CPU work around them).
pub fn lane_seconds(builds: &[BuildRecord]) -> BTreeMap<String, LaneTimes> {
    let mut known: BTreeMap<String, LaneTimes> = BTreeMap::new();
    for build in builds.iter().rev().filter(|b| !b.lane.is_empty()) {
        let mut calls: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        let mut loads: BTreeMap<&str, f64> = BTreeMap::new();
        let mut free_since: BTreeMap<usize, f64> = BTreeMap::new();
        let mut open: BTreeMap<(usize, &str), f64> = BTreeMap::new();
        for entry in &build.lane {
            let artifact = entry.artifact.as_deref().unwrap_or("");
            match entry.event.as_str() {
                "start" => {
                    open.insert((entry.lane, artifact), entry.seconds);
                }
                "end" => {
                    if let Some(start) = open.remove(&(entry.lane, artifact)) {
                        let sum = calls.entry(&entry.model).or_default();
                        *sum = (sum.0 + entry.seconds - start, sum.1 + 1);
                    }
                    free_since.insert(entry.lane, entry.seconds);
                }
                "unload" => {
                    free_since.insert(entry.lane, entry.seconds);
                }
                "load" => {
                    let from = free_since.get(&entry.lane).copied().unwrap_or(0.0);
                    let took = (entry.seconds - from).max(0.0);
                    let shortest = loads.entry(&entry.model).or_insert(took);
                    *shortest = shortest.min(took);
                }
                _ => {}
            }
        }
        for (group, (seconds, n)) in calls.into_iter().filter(|(_, (_, n))| *n > 0) {
            known.entry(group.to_string()).or_insert(LaneTimes {
                call: seconds / n as f64,
                load: loads.get(group).copied(),
            });
        }
    }
    known
}

/// `RENDER_TEST_PAUSE_IN_HISTORY` (seconds): write half of the record, pause, then the
/// rest — only so that a test can kill a build mid-append.
fn pause_mid_append() -> Option<std::time::Duration> {
    let seconds: f64 = std::env::var("RENDER_TEST_PAUSE_IN_HISTORY")
        .ok()?
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds))
}

/// Per machine that made something in `build`: how many artifacts and their seconds,
/// by name (`ArtifactRun::host`); empty when none names one.
pub fn made_by_node(build: &BuildRecord) -> BTreeMap<String, (usize, f64)> {
    let mut nodes: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for run in build.artifacts.iter().filter(|a| a.status == "made") {
        if let Some(host) = &run.host {
            let entry = nodes.entry(host.clone()).or_default();
            entry.0 += 1;
            entry.1 += run.seconds;
        }
    }
    nodes
}

/// [`made_by_node`] for a build whose work was spread over machines (a farm's nodes); empty
/// for one made wholly on its own host (every local build).
pub fn made_on_nodes(build: &BuildRecord) -> BTreeMap<String, (usize, f64)> {
    let nodes = made_by_node(build);
    if nodes.len() == 1 && nodes.contains_key(&build.host) {
        return BTreeMap::new();
    }
    nodes
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A length of time as a person reads it: `0.42 s`, `6.9 s`, `3 min 10 s`, `2 h 05 min`.
pub fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 1.0 {
        format!("{seconds:.2} s")
    } else if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3600.0 {
        let whole = seconds.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    } else {
        let minutes = (seconds / 60.0).round() as u64;
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    }
}

/// `2026-11-24 03:00:12` (UTC) for seconds since the epoch.
pub fn utc(seconds: f64) -> String {
    let total = seconds.max(0.0) as i64;
    let (days, rest) = (total.div_euclid(86_400), total.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(made: usize) -> BuildRecord {
        BuildRecord {
            version: VERSION,
            started: 1.0,
            ended: 3.5,
            counts: Counts {
                made,
                ..Counts::default()
            },
            artifacts: vec![ArtifactRun {
                name: "speech demo/welcome:1".into(),
                kind: "speech".into(),
                key: "00".into(),
                status: "made".into(),
                start: Some(0.1),
                seconds: 2.0,
                host: None,
                variants: Vec::new(),
            }],
            ..BuildRecord::default()
        }
    }

    #[test]
    fn a_torn_append_hides_no_other_record() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        std::fs::create_dir_all(&cache.dir).unwrap();
        let history = History::of(&cache);
        history.append(&record(1)).unwrap();
        // A build killed mid-append: half a line, no newline.
        let line = serde_json::to_string(&record(2)).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(history.path())
            .unwrap();
        file.write_all(&line.as_bytes()[..line.len() / 2]).unwrap();
        history.append(&record(3)).unwrap();
        let read = history.read();
        let made: Vec<usize> = read.builds.iter().map(|b| b.counts.made).collect();
        assert_eq!(made, [1, 3]);
        assert_eq!(read.skipped, 1);
        assert_eq!(read.builds[0].seconds(), 2.5);
    }

    #[test]
    fn since_returns_only_whole_records_appended_after_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        std::fs::create_dir_all(&cache.dir).unwrap();
        let history = History::of(&cache);
        assert_eq!(history.since(0).0.len(), 0);
        history.append(&record(1)).unwrap();
        let (first, offset) = history.since(0);
        assert_eq!(first.iter().map(|b| b.counts.made).collect::<Vec<_>>(), [1]);
        assert_eq!(history.since(offset).0.len(), 0);
        // Half a record (being appended): not yet.
        let line = serde_json::to_string(&record(2)).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(history.path())
            .unwrap();
        file.write_all(&line.as_bytes()[..10]).unwrap();
        let (none, same) = history.since(offset);
        assert_eq!((none.len(), same), (0, offset));
        file.write_all(&line.as_bytes()[10..]).unwrap();
        file.write_all(b"\n").unwrap();
        let (second, later) = history.since(offset);
        assert_eq!(
            second.iter().map(|b| b.counts.made).collect::<Vec<_>>(),
            [2]
        );
        assert!(later > offset);
        // A new, shorter history is read from its start.
        std::fs::write(history.path(), "").unwrap();
        history.append(&record(3)).unwrap();
        let (fresh, _) = history.since(later);
        assert_eq!(fresh.iter().map(|b| b.counts.made).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn used_sets_are_written_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let history = History::of(&cache);
        let key = crate::key::Key([7; 32]);
        history
            .remember_used("abc", &[("speech demo/welcome:1", key)])
            .unwrap();
        let record = BuildRecord {
            used: "abc".into(),
            ..BuildRecord::default()
        };
        let used = history.used_by(&record).unwrap();
        assert_eq!(
            used.get(&key).map(String::as_str),
            Some("speech demo/welcome:1")
        );
        let gone = BuildRecord {
            used: "gone".into(),
            ..BuildRecord::default()
        };
        assert!(history.used_by(&gone).is_none());
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_795_489_212.0), "2026-11-24 03:00:12");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00");
    }

    #[test]
    fn lane_seconds_are_the_newest_builds_calls_and_shortest_loads_per_group() {
        let entry =
            |seconds: f64, event: &str, model: &str, artifact: Option<&str>, lane| LaneEntry {
                seconds,
                event: event.into(),
                model: model.into(),
                artifact: artifact.map(str::to_string),
                lane,
                device: "cpu".into(),
            };
        let old = BuildRecord {
            lane: vec![
                entry(0.0, "start", "p", Some("clip x"), 1),
                entry(9.0, "end", "p", Some("clip x"), 1),
                entry(1.0, "load", "m", None, 0),
                entry(1.0, "start", "m", Some("clip y"), 0),
                entry(2.0, "end", "m", Some("clip y"), 0),
            ],
            ..record(0)
        };
        let new = BuildRecord {
            lane: vec![
                // Lane 1 runs `p`: two calls of 2 and 4 s.
                entry(0.0, "start", "p", Some("clip a"), 1),
                entry(2.0, "end", "p", Some("clip a"), 1),
                entry(2.0, "start", "p", Some("clip b"), 1),
                entry(6.0, "end", "p", Some("clip b"), 1),
                // `q` loads on lane 0 in 0.5 s and after its unload in 0.25 s on lane 2.
                entry(0.5, "load", "q", None, 0),
                entry(0.5, "start", "q", Some("clip c"), 0),
                entry(0.6, "end", "q", Some("clip c"), 0),
                entry(1.0, "unload", "m", None, 2),
                entry(1.25, "load", "q", None, 2),
                entry(1.25, "start", "q", Some("clip d"), 2),
                entry(1.55, "end", "q", Some("clip d"), 2),
            ],
            ..record(0)
        };
        // A build that ran no call (a no-op) says nothing.
        let times = lane_seconds(&[old, new, record(0)]);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert_eq!(times.len(), 3);
        assert!(close(times["p"].call, 3.0) && times["p"].load.is_none());
        assert!(close(times["q"].call, 0.2) && close(times["q"].load.unwrap(), 0.25));
        // Only the older build ran `m`: its times are those.
        assert!(close(times["m"].call, 1.0) && close(times["m"].load.unwrap(), 1.0));
    }

    #[test]
    fn seconds_by_kind_averages_what_was_made() {
        let mut a = record(1);
        a.artifacts[0].seconds = 1.0;
        let mut b = record(1);
        b.artifacts[0].seconds = 3.0;
        b.artifacts.push(ArtifactRun {
            status: "failed".into(),
            seconds: 100.0,
            ..b.artifacts[0].clone()
        });
        assert_eq!(seconds_by_kind(&[a, b])["speech"], 2.0);
    }
}
