//! The check log (`cache/state/checked`): what the cheap check of each object a no-op build
//! reuses needs to know of its `record.json`, so that a no-op stats that file instead of
//! reading and parsing it — ninja's lesson: one compact log read once costs less than one
//! file read per artifact. It exists because reading, parsing and re-keying one record per
//! reused scene and captions was a fifth of a no-op.
//!
//! The check is not weakened. An entry holds the record file's stamp (size, inode, mtime
//! and ctime) as it was when `Cache::check` read that record, found that it parses and
//! describes its key, and each output's name and recorded size. An entry is used only
//! while the record file still has that stamp (a record rewritten, replaced or removed
//! since has another, or none, and is read again the full way), and every output is still
//! stat'ed against its recorded size, exactly as `Cache::check` does: a truncated, grown or
//! missing file in `cache/objects/` is caught before use, with the same words.
//!
//! It holds the objects a no-op checks (the published scenes and episodes and the scenes'
//! captions: `Graph::checked_on_noop`). A build writes it only when it learned an entry it
//! did not have (an object made, or a record read because its entry was missing or
//! stale), so a no-op after a build that did something reads one file and writes none. A
//! missing, unreadable or foreign log costs only the full reads.
//!
//! Format, one object a line after the header, fields separated by tabs:
//! ```text
//! render check log 1
//! <key> <record size> <record inode> <record mtime ns> <record ctime ns> [<bytes> <file>]…
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use crate::cache::{check_outputs_by, Cache, Check, Record, RecordStamp, RECORD};
use crate::error::Result;
use crate::files::write_atomically;
use crate::key::{Key, KeyMap};
use crate::stat_at::{stat_path, Folder};

const HEADER: &str = "render check log 1";
/// Its name in `cache/state/` (`render clean` removes it with the other state).
pub const FILE: &str = "checked";

#[derive(Debug)]
pub struct CheckLog {
    cache: Cache,
    path: PathBuf,
    /// The log as the last build left it, read on first need.
    before: OnceLock<Logged>,
    /// `cache/objects/`, opened on first need (`stat_at.rs`); None when it cannot be.
    objects: OnceLock<Option<Folder>>,
    /// This build's entries, by key: the logged line when it was used as is, or a line
    /// learned from a record read this build.
    now: Mutex<Now>,
}

#[derive(Debug, Default)]
struct Logged {
    text: String,
    /// Each entry's line (without its key) in `text`, by key.
    lines: KeyMap<(usize, usize)>,
}

#[derive(Debug, Default)]
struct Now {
    entries: HashMap<Key, Option<String>>,
    /// Whether some entry was learned this build (the file must be written).
    learned: bool,
}

impl CheckLog {
    /// The log of `cache`, not read yet.
    pub fn open(cache: &Cache) -> CheckLog {
        CheckLog {
            cache: cache.clone(),
            path: cache.state_dir().join(FILE),
            before: OnceLock::new(),
            objects: OnceLock::new(),
            now: Mutex::new(Now::default()),
        }
    }

    /// The cheap check of the object of `key` (`Cache::check`), through its entry when the
    /// object's record is the one the entry describes. With `remember`, what a full check
    /// learns becomes the object's entry.
    pub fn check(&self, key: &Key, remember: bool) -> Check {
        if let Some(check) = self.check_logged(key) {
            if remember && check == Check::Intact {
                self.now.lock().unwrap().entries.entry(*key).or_insert(None);
            }
            return check;
        }
        match self.cache.checked_record_stamped(key) {
            Ok((record, stamp)) => {
                if remember {
                    self.learn(&record, stamp);
                }
                Check::Intact
            }
            Err(check) => check,
        }
    }

    /// Remembers the object of `key`, just made: its record is read and checked now.
    pub fn made(&self, key: &Key) {
        if let Ok((record, stamp)) = self.cache.checked_record_stamped(key) {
            self.learn(&record, stamp);
        }
    }

    /// Writes the log when this build learned an entry: this build's entries, and, with
    /// `keep_others` (a build that saw only some scenes), the other entries it had.
    /// Returns whether the file was written.
    pub fn save(&self, keep_others: bool) -> Result<bool> {
        let now = self.now.lock().unwrap();
        if !now.learned {
            return Ok(false);
        }
        let before = self.before();
        let mut text = String::with_capacity(before.text.len() + now.entries.len() * 200);
        text.push_str(HEADER);
        text.push('\n');
        let mut line = |key: &Key, rest: &str| {
            text.push_str(&key.hex());
            text.push_str(rest);
            text.push('\n');
        };
        // Sorted by key: the same entries make the same file.
        let mut entries: Vec<_> = now.entries.iter().collect();
        entries.sort_unstable_by_key(|(key, _)| **key);
        for (key, entry) in entries {
            match entry {
                Some(rest) => line(key, rest),
                None => line(key, before.line(key).unwrap_or_default()),
            }
        }
        if keep_others {
            for key in before.lines.keys() {
                if !now.entries.contains_key(key) {
                    line(key, before.line(key).unwrap_or_default());
                }
            }
        }
        write_atomically(&self.path, text.as_bytes())?;
        Ok(true)
    }

    /// The files the entries of `keys` describe: each object's record and outputs (what a
    /// no-op's cheap checks stat, for the no-op stamp); None when one has no entry.
    pub fn files(&self, keys: impl IntoIterator<Item = Key>) -> Option<Vec<PathBuf>> {
        let now = self.now.lock().unwrap();
        let mut files = Vec::with_capacity(now.entries.len() * 4);
        for key in keys {
            let rest = match now.entries.get(&key)? {
                Some(rest) => rest.as_str(),
                None => self.before().line(&key)?,
            };
            let dir = self.cache.object_dir(&key);
            files.push(dir.join(RECORD));
            // `<size> <inode> <mtime> <ctime>`, then `<bytes> <file>` pairs.
            let fields: Vec<&str> = rest.split('\t').skip(5).collect();
            files.extend(
                fields
                    .chunks(2)
                    .filter_map(|pair| Some(dir.join(pair.get(1)?))),
            );
        }
        Some(files)
    }

    /// The check through the object's entry; None when there is no entry, or the record
    /// is not the one it describes (then the record must be read).
    fn check_logged(&self, key: &Key) -> Option<Check> {
        let mut fields = self.before().line(key)?.split('\t').skip(1);
        let mut number = || fields.next()?.parse::<i128>().ok();
        let logged = RecordStamp {
            size: number()? as u64,
            inode: number()? as u64,
            mtime_ns: number()?,
            ctime_ns: number()?,
        };
        let dir = self.cache.object_dir(key);
        // Through the open objects folder: `<2 hex>/<key>/<file>`, three lookups, not ten.
        let hex = dir.file_name()?;
        let prefix = dir.parent()?.file_name()?;
        let stat = |file: &str| match self.objects() {
            Some(objects) if !file.starts_with('/') => {
                objects.stat(&[prefix, hex, std::ffi::OsStr::new(file)], true)
            }
            _ => stat_path(&dir.join(file), true),
        };
        if RecordStamp::of_stat(&stat(RECORD).ok()?) != logged {
            return None;
        }
        let mut outputs = Vec::new();
        while let Some(bytes) = fields.next() {
            outputs.push((fields.next()?, bytes.parse().ok()?));
        }
        Some(match check_outputs_by(&dir, outputs, stat) {
            Ok(()) => Check::Intact,
            Err(check) => check,
        })
    }

    fn learn(&self, record: &Record, stamp: RecordStamp) {
        use std::fmt::Write;
        // A name that would break the line is never logged: that object is read each time.
        if (record.outputs.iter()).any(|o| o.file.contains(['\t', '\n'])) {
            return;
        }
        let mut rest = format!(
            "\t{}\t{}\t{}\t{}",
            stamp.size, stamp.inode, stamp.mtime_ns, stamp.ctime_ns
        );
        for output in &record.outputs {
            let _ = write!(rest, "\t{}\t{}", output.bytes, output.file);
        }
        let mut now = self.now.lock().unwrap();
        if self.before().line(&record.key) != Some(rest.as_str()) {
            now.learned = true;
        }
        now.entries.insert(record.key, Some(rest));
    }

    fn objects(&self) -> Option<&Folder> {
        (self.objects)
            .get_or_init(|| Folder::open(&self.cache.objects_dir()))
            .as_ref()
    }

    fn before(&self) -> &Logged {
        self.before.get_or_init(|| {
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            Logged::parse(text)
        })
    }
}

impl Logged {
    fn parse(text: String) -> Logged {
        let mut lines = KeyMap::default();
        let Some(body) = text.strip_prefix(HEADER).and_then(|t| t.strip_prefix('\n')) else {
            return Logged::default();
        };
        let mut at = text.len() - body.len();
        for line in body.split_inclusive('\n') {
            let start = at;
            at += line.len();
            // A torn last line is no entry.
            let Some(line) = line.strip_suffix('\n') else {
                break;
            };
            if let Some(key) = line.get(..64).and_then(Key::from_hex) {
                lines.insert(key, (start + 64, start + line.len()));
            }
        }
        Logged { text, lines }
    }

    /// An entry's line after its key (starting with a tab).
    fn line(&self, key: &Key) -> Option<&str> {
        let &(start, end) = self.lines.get(key)?;
        self.text.get(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{ArtifactKind, KeySpec};

    /// Commits an object of two outputs to `cache`, as a build would; returns its key.
    fn commit(cache: &Cache, text: &str) -> Key {
        cache.prepare().unwrap();
        let spec = KeySpec::new(ArtifactKind::Captions, "test", "test").param("text", text);
        let key = spec.key();
        let dir = cache.job_dir(&key).unwrap();
        std::fs::write(dir.join("captions.srt"), text).unwrap();
        std::fs::write(dir.join("captions.vtt"), "WEBVTT").unwrap();
        let record = Record {
            name: "captions p/talk".into(),
            key,
            spec,
            outputs: vec![],
            tool: "test".into(),
            device: "cpu".into(),
            precision: "-".into(),
            seconds: 0.0,
            batch_size: None,
            peak_memory_bytes: None,
            loudness: None,
        };
        let outputs = ["captions.srt".to_string(), "captions.vtt".to_string()];
        cache.commit(&dir, record, &outputs).unwrap();
        key
    }

    #[test]
    fn a_logged_object_is_checked_without_its_record_and_damage_is_still_caught() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = commit(&cache, "one two");
        let other = commit(&cache, "three four");

        // The first check reads the records and learns them.
        let log = CheckLog::open(&cache);
        assert_eq!(log.check(&key, true), Check::Intact);
        assert_eq!(log.check(&other, false), Check::Intact);
        assert!(log.save(false).unwrap());
        let text = std::fs::read_to_string(cache.state_dir().join(FILE)).unwrap();
        assert_eq!(text.lines().count(), 2, "the header and one entry:\n{text}");

        // The next build checks through the entry and has nothing to write.
        let log = CheckLog::open(&cache);
        assert_eq!(log.check(&key, true), Check::Intact);
        assert!(!log.save(false).unwrap());

        // An output cut short is caught through the entry, in the full check's words.
        let srt = cache.object_dir(&key).join("captions.srt");
        std::fs::write(&srt, "one").unwrap();
        let expected = Check::Damaged("captions.srt is 3 bytes, its record says 7".into());
        assert_eq!(CheckLog::open(&cache).check(&key, true), expected);
        assert_eq!(cache.check(&key), expected);
        std::fs::remove_file(&srt).unwrap();
        let expected = Check::Damaged("captions.srt is missing".into());
        assert_eq!(CheckLog::open(&cache).check(&key, true), expected);
        std::fs::write(&srt, "one two").unwrap();
        assert_eq!(CheckLog::open(&cache).check(&key, true), Check::Intact);

        // A record rewritten since it was logged is read again.
        let record = cache.object_dir(&key).join(RECORD);
        let bytes = std::fs::read(&record).unwrap();
        std::fs::write(&record, &bytes[..bytes.len() - 1]).unwrap();
        let expected = Check::Damaged("its record.json is not a valid record".into());
        assert_eq!(CheckLog::open(&cache).check(&key, true), expected);
        std::fs::write(&record, &bytes).unwrap();
        std::fs::remove_file(&record).unwrap();
        let expected = Check::Damaged("its record.json is missing".into());
        assert_eq!(CheckLog::open(&cache).check(&key, true), expected);
        std::fs::remove_dir_all(cache.object_dir(&key)).unwrap();
        assert_eq!(CheckLog::open(&cache).check(&key, true), Check::Missing);
    }

    #[test]
    fn a_made_object_is_learned_and_others_are_kept_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = commit(&cache, "one two");
        let log = CheckLog::open(&cache);
        log.made(&key);
        assert!(log.save(false).unwrap());

        // A build that saw other objects only keeps the first one's entry when asked to.
        let other = commit(&cache, "three four");
        let entries = |cache: &Cache| {
            let text = std::fs::read_to_string(cache.state_dir().join(FILE)).unwrap();
            text.lines()
                .skip(1)
                .map(|l| l[..64].to_string())
                .collect::<Vec<_>>()
        };
        let log = CheckLog::open(&cache);
        log.made(&other);
        assert!(log.save(true).unwrap());
        let mut both = vec![key.hex(), other.hex()];
        both.sort();
        assert_eq!(entries(&cache), both);
        let log = CheckLog::open(&cache);
        log.made(&key);
        // Nothing new learned: not written.
        assert!(!log.save(false).unwrap());
        let third = commit(&cache, "five six");
        log.made(&third);
        assert!(log.save(false).unwrap());
        let mut two = vec![key.hex(), third.hex()];
        two.sort();
        assert_eq!(entries(&cache), two);

        // A log of another format, or a torn one, is only a log with fewer entries.
        std::fs::write(cache.state_dir().join(FILE), "render check log 0\n").unwrap();
        let log = CheckLog::open(&cache);
        assert_eq!(log.check(&key, true), Check::Intact);
        assert!(log.save(false).unwrap());
        let text = std::fs::read_to_string(cache.state_dir().join(FILE)).unwrap();
        std::fs::write(cache.state_dir().join(FILE), &text[..text.len() - 5]).unwrap();
        let log = CheckLog::open(&cache);
        assert_eq!(log.check(&key, true), Check::Intact);
        assert!(log.save(false).unwrap(), "the torn entry is learned again");
    }
}
