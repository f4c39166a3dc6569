//! Cache upkeep: what the cache holds against what is still wanted, for `render status`
//! and `render gc`. The cache only grows (an edit and its undo leave the edited version's
//! objects behind), so something must say what can go.
//!
//! An object is wanted for two reasons. *Needed*: its key is a node of the graph of the
//! current declarations, stale or not (DVC's `gc` rule: reachable from the workspace).
//! *Kept*: a recent build used it (its `used` set in the history names it) — an edit
//! undone yesterday may be redone today, and remaking a clip costs minutes. Which builds
//! are recent is the `Keep` rule: by default every build of the last 7 days, or the last
//! N builds. The rest is removable. Under a size limit, kept objects go too, least
//! recently used first; needed ones never.
//!
//! This module only reads and decides; `commands::gc` removes, under the build lock.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use crate::cache::Cache;
use crate::history::History;
use crate::key::Key;

/// Seconds in the default window of recent builds.
pub const WEEK: f64 = 7.0 * 86_400.0;

/// Which builds' objects are kept though no declared scene needs them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Keep {
    /// The last N builds (0: none).
    Last(usize),
    /// Every build started at or after this time (seconds since the epoch).
    Since(f64),
}

impl Keep {
    /// `--keep-builds N`, else a week's worth of builds before `now`.
    pub fn from_flag(keep_builds: Option<usize>, now: f64) -> Keep {
        keep_builds.map_or(Keep::Since(now - WEEK), Keep::Last)
    }

    /// When the oldest kept build of `builds` (oldest first) started: what is older than
    /// this belongs to no kept build (infinity when none is kept).
    pub fn oldest_kept(&self, builds: &[crate::history::BuildRecord]) -> f64 {
        match *self {
            Keep::Last(0) => f64::INFINITY,
            Keep::Last(n) if builds.len() >= n => builds[builds.len() - n].started,
            Keep::Last(_) => builds.first().map_or(f64::INFINITY, |b| b.started),
            Keep::Since(since) => since,
        }
    }

    /// In the user's words, for output.
    pub fn describe(&self) -> String {
        match self {
            Keep::Last(0) => "no build".to_string(),
            Keep::Last(1) => "the last build".to_string(),
            Keep::Last(n) => format!("the last {n} builds"),
            Keep::Since(_) => "the builds of the last 7 days".to_string(),
        }
    }
}

/// One object in `cache/objects/`.
#[derive(Clone, Debug)]
pub struct Object {
    pub key: Key,
    /// The bytes of its files (record included).
    pub bytes: u64,
    /// A node of the current graph names it.
    pub needed: bool,
    /// When the newest kept build that used it started; None: no kept build did.
    pub last_used: Option<f64>,
}

impl Object {
    /// Neither needed nor kept: `render gc` removes it.
    pub fn removable(&self) -> bool {
        !self.needed && self.last_used.is_none()
    }
}

/// What the cache holds, each object classified.
#[derive(Debug, Default)]
pub struct Survey {
    /// Sorted by key.
    pub objects: Vec<Object>,
    /// How many builds are kept.
    pub kept_builds: usize,
    /// The `used` sets (file names in `cache/state/used/`) the kept builds name.
    pub kept_sets: BTreeSet<String>,
}

impl Survey {
    /// Surveys `cache` against the keys of the current graph and the kept builds.
    pub fn take(cache: &Cache, needed: &HashSet<Key>, keep: Keep) -> Survey {
        let history = History::of(cache);
        let builds = history.read().builds;
        let kept: Vec<_> = match keep {
            Keep::Last(n) => builds.iter().rev().take(n).collect(),
            Keep::Since(since) => builds.iter().rev().filter(|b| b.started >= since).collect(),
        };
        let mut survey = Survey {
            kept_builds: kept.len(),
            ..Survey::default()
        };
        // Newest first: a key's first sighting is its last use. Consecutive builds of an
        // unchanged folder share one set, read once.
        let mut last_used: HashMap<Key, f64> = HashMap::new();
        for build in kept {
            if !survey.kept_sets.insert(build.used.clone()) {
                continue;
            }
            // A set gc forgot (its build was not kept then) protects nothing now.
            for key in history.used_by(build).unwrap_or_default().into_keys() {
                last_used.entry(key).or_insert(build.started);
            }
        }
        survey.kept_sets.remove("");
        survey.objects = (cache.keys().into_iter())
            .map(|key| Object {
                key,
                bytes: folder_bytes(&cache.object_dir(&key)).1,
                needed: needed.contains(&key),
                last_used: last_used.get(&key).copied(),
            })
            .collect();
        survey
    }

    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.bytes).sum()
    }

    /// Count and bytes of the objects `which` selects.
    pub fn tally(&self, which: impl Fn(&Object) -> bool) -> (usize, u64) {
        (self.objects.iter().filter(|o| which(o)))
            .fold((0, 0), |(n, bytes), o| (n + 1, bytes + o.bytes))
    }

    /// What `render gc` removes: every removable object, then, while the cache is over
    /// `max_bytes`, kept objects no scene needs, least recently used first (ties by key, so
    /// the choice is stable). Needed objects are never chosen.
    pub fn plan(&self, max_bytes: Option<u64>) -> Plan {
        let mut plan = Plan::default();
        let mut left = self.bytes();
        for (i, object) in self.objects.iter().enumerate() {
            if object.removable() {
                plan.remove.push((i, None));
                left -= object.bytes;
            }
        }
        if let Some(max) = max_bytes {
            let mut kept: Vec<(f64, usize)> = (self.objects.iter().enumerate())
                .filter_map(|(i, o)| Some((o.last_used?, i)).filter(|_| !o.needed))
                .collect();
            // Sorted by time, then key order (the objects are sorted by key).
            kept.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (used, i) in kept {
                if left <= max {
                    break;
                }
                plan.remove.push((i, Some(used)));
                left -= self.objects[i].bytes;
            }
            plan.over = (left > max).then_some(left);
        }
        plan
    }
}

/// The objects to remove, as indices into `Survey::objects`, each with the time of the
/// last build that used it when it goes only for the size limit.
#[derive(Debug, Default)]
pub struct Plan {
    pub remove: Vec<(usize, Option<f64>)>,
    /// The cache's bytes after the plan, when still over the limit.
    pub over: Option<u64>,
}

/// Files and bytes under `dir` (files only; a missing folder is empty).
pub fn folder_bytes(dir: &Path) -> (usize, u64) {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .fold((0, 0), |(n, bytes), meta| (n + 1, bytes + meta.len()))
}

/// Entries directly in `dir` and the bytes of every file under it: for `cache/quarantine/`
/// and `cache/tmp/`, whose entries are objects or jobs.
pub fn entries_and_bytes(dir: &Path) -> (usize, u64) {
    let entries = std::fs::read_dir(dir).map_or(0, |e| e.count());
    (entries, folder_bytes(dir).1)
}

/// A size as `--max-size` takes it: plain bytes, or a number with a unit. `K`, `M`, `G`,
/// `T` (alone or with `iB`) are powers of 1024, as `du -h` and render's own output count;
/// `KB`, `MB`, `GB`, `TB` powers of 1000. Case does not matter.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let bad = || {
        format!("`{text}` is not a size: write bytes (`1000000`) or a number with a unit (`500M`, `2G`, `1.5GiB`, `800MB`)")
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0_f64.powi(2),
        "g" | "gib" => 1024.0_f64.powi(3),
        "t" | "tib" => 1024.0_f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("800MB"), Ok(800_000_000));
        assert_eq!(parse_size("12 kib"), Ok(12 << 10));
        for bad in ["", "M", "-1G", "2X", "1.2.3M", "1e3", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
    }

    fn object(n: u8, bytes: u64, needed: bool, last_used: Option<f64>) -> Object {
        Object {
            key: Key([n; 32]),
            bytes,
            needed,
            last_used,
        }
    }

    #[test]
    fn over_the_limit_kept_objects_go_least_recently_used_first_and_needed_never() {
        let survey = Survey {
            objects: vec![
                object(0, 100, true, Some(5.0)),
                object(1, 10, false, None),
                object(2, 20, false, Some(3.0)),
                object(3, 30, false, Some(1.0)),
                object(4, 40, false, Some(3.0)),
            ],
            ..Survey::default()
        };
        let chosen = |plan: &Plan| plan.remove.iter().map(|r| r.0).collect::<Vec<_>>();
        let plain = survey.plan(None);
        assert_eq!(chosen(&plain), [1]);
        assert_eq!(plain.over, None);
        // 200 bytes; under 150: the removable one, then the oldest kept (30), then one of
        // the two used at 3.0 (20, the lower key).
        let limited = survey.plan(Some(150));
        assert_eq!(chosen(&limited), [1, 3, 2]);
        assert_eq!(limited.remove[1].1, Some(1.0));
        assert_eq!(limited.over, None);
        // Under 50 cannot be: the needed 100 bytes stay.
        let impossible = survey.plan(Some(50));
        assert_eq!(chosen(&impossible), [1, 3, 2, 4]);
        assert_eq!(impossible.over, Some(100));
    }
}
