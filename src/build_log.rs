//! The build log: each artifact's key at the last build, by name, so `render plan` can say
//! why an artifact is stale (`cache/state/build-log`).
//!
//! Only keys are logged: the object of each key already holds its full key spec in its
//! record, so the old spec is read from there when a change has to be explained. And a
//! no-op build must not pay for a log that grows with the folder, so the first line holds
//! a digest of what the build that wrote it logged: a build logging the same names and
//! keys reads that one line and writes nothing. The full log is read only to explain a
//! stale artifact or to merge in a change.
//!
//! Format, one artifact a line after the header, sorted by name:
//! ```text
//! render build log 1 <digest of the last build's entries>
//! <key> <name>
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::cache::Cache;
use crate::error::Result;
use crate::files::write_atomically;
use crate::graph::Node;
use crate::key::Key;

const HEADER: &str = "render build log 1 ";
const FILE: &str = "build-log";
/// How much of the digest's input is laid out before it is hashed.
const PENDING: usize = 1 << 16;

pub struct BuildLog<'a> {
    cache: Cache,
    path: PathBuf,
    /// The log as the last build left it, read on first need.
    before: OnceLock<BTreeMap<String, Key>>,
    /// What this build logs, in graph order.
    now: Vec<(&'a str, Key)>,
    /// What the digest is taken over: each entry's name length, name and key, in order,
    /// laid out in `pending` and hashed into `digested` a 64 KiB block at a time (blake3
    /// gives the same digest however its input is split): neither 20,000 small hasher
    /// updates on a no-op, nor a buffer of every entry (1.7 MB of fresh memory at 10,000
    /// lines).
    digested: blake3::Hasher,
    pending: Vec<u8>,
    digest: OnceLock<String>,
}

impl<'a> BuildLog<'a> {
    /// Opens the log of `cache` without reading it.
    pub fn open(cache: &Cache) -> BuildLog<'a> {
        BuildLog {
            cache: cache.clone(),
            path: cache.state_dir().join(FILE),
            before: OnceLock::new(),
            now: Vec::new(),
            digested: blake3::Hasher::new(),
            pending: Vec::new(),
            digest: OnceLock::new(),
        }
    }

    /// Room for `entries` entries (a build logs one per artifact it made or reused).
    pub fn reserve(&mut self, entries: usize) {
        self.now.reserve(entries);
        self.pending.reserve(PENDING + 4096);
    }

    /// Logs that `name` is `key` as of this build.
    pub fn record(&mut self, name: &'a str, key: Key) {
        self.pending
            .extend_from_slice(&(name.len() as u64).to_le_bytes());
        self.pending.extend_from_slice(name.as_bytes());
        self.pending.extend_from_slice(&key.0);
        if self.pending.len() >= PENDING {
            self.digested.update(&self.pending);
            self.pending.clear();
        }
        self.now.push((name, key));
        self.digest = OnceLock::new();
    }

    /// Merges this build's entries into the log, unless it already holds exactly them.
    /// Returns whether the file was written.
    pub fn save(&self) -> Result<bool> {
        let digest = self.digest();
        if self.header().as_deref() == Some(digest.as_str()) {
            return Ok(false);
        }
        let mut log = self.before().clone();
        for (name, key) in &self.now {
            // A name is one line of the log; none has a line break, but never split one.
            if !name.contains('\n') {
                log.insert(name.to_string(), *key);
            }
        }
        let mut text = String::with_capacity(HEADER.len() + 65 + log.len() * 100);
        text.push_str(HEADER);
        text.push_str(&digest);
        text.push('\n');
        for (name, key) in &log {
            text.push_str(&key.hex());
            text.push(' ');
            text.push_str(name);
            text.push('\n');
        }
        write_atomically(&self.path, text.as_bytes())?;
        Ok(true)
    }

    /// The digest of what this build logged (names the set in the history's `used/`).
    pub fn digest(&self) -> String {
        (self.digest)
            .get_or_init(|| {
                let mut digested = self.digested.clone();
                digested.update(&self.pending);
                digested.finalize().to_hex().to_string()
            })
            .clone()
    }

    /// What this build logged: every artifact it made or reused, in graph order.
    pub fn entries(&self) -> &[(&'a str, Key)] {
        &self.now
    }

    /// Why `node` must be made.
    pub fn reason(&self, node: &Node) -> String {
        match self.before().get(node.name()) {
            None => "new".to_string(),
            // Same key, so the same spec: only the object is gone.
            Some(key) if *key == node.key() => node.spec().explain_change(node.spec()),
            Some(key) => match self.cache.record(key) {
                Some(record) => node.spec().explain_change(&record.spec),
                None => "changed (the last build's object is no longer in the cache)".to_string(),
            },
        }
    }

    /// The digest in the log's first line.
    fn header(&self) -> Option<String> {
        let file = std::fs::File::open(&self.path).ok()?;
        let mut line = String::new();
        BufReader::new(file.take(256)).read_line(&mut line).ok()?;
        Some(line.strip_prefix(HEADER)?.trim_end().to_string())
    }

    fn before(&self) -> &BTreeMap<String, Key> {
        self.before.get_or_init(|| {
            // A missing or unreadable log only costs explanations ("new"), never a rebuild.
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            let mut lines = text.lines();
            if !lines.next().is_some_and(|line| line.starts_with(HEADER)) {
                return BTreeMap::new();
            }
            lines
                .filter_map(|line| {
                    let (key, name) = entry(line)?;
                    Some((name.to_string(), key))
                })
                .collect()
        })
    }
}

/// One `<key> <name>` line of the log (also the format of the history's used sets).
pub(crate) fn entry(line: &str) -> Option<(Key, &str)> {
    let (key, name) = line.split_once(' ')?;
    Some((Key::from_hex(key)?, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Record;
    use crate::engine::espeak::Espeak;
    use crate::engine::EngineJob;
    use crate::job::Job;
    use crate::key::{ArtifactKind, KeySpec};

    fn speech(text: &str) -> Node {
        let spec = KeySpec::new(ArtifactKind::Speech, "speech-1", "espeak-ng")
            .param("text", text)
            .param("pitch", 50);
        let work = EngineJob::Espeak(Espeak {
            text: text.into(),
            voice: "en-us".into(),
            pitch: 50,
            rate: 165,
        });
        let cache = Cache::new(std::path::Path::new("/nonexistent"));
        Node {
            job: Job::new("speech demo/welcome:1".into(), spec, work, cache.dir.into()),
            deps: vec![],
            publish: vec![],
            captions: None,
            variants: vec![],
        }
    }

    /// Puts `node`'s object in the cache, as a build would.
    fn commit(cache: &Cache, node: &Node) {
        cache.prepare().unwrap();
        let dir = cache.job_dir(&node.key()).unwrap();
        std::fs::write(dir.join("speech.wav"), "wav").unwrap();
        let record = Record {
            name: node.name().to_string(),
            key: node.key(),
            spec: node.spec().clone(),
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
            .commit(&dir, record, &["speech.wav".to_string()])
            .unwrap();
    }

    fn build(cache: &Cache, nodes: &[&Node]) -> bool {
        let mut log = BuildLog::open(cache);
        for node in nodes {
            log.record(node.name(), node.key());
        }
        log.save().unwrap()
    }

    /// The log file's inode and mtime: a rewrite (a rename over it) changes the inode.
    fn identity(cache: &Cache) -> (u64, std::time::SystemTime) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(cache.state_dir().join(FILE)).unwrap();
        (meta.ino(), meta.modified().unwrap())
    }

    #[test]
    fn an_unchanged_build_does_not_rewrite_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let node = speech("hello");
        assert!(build(&cache, &[&node]));
        let written = identity(&cache);
        assert!(!build(&cache, &[&node]));
        assert_eq!(identity(&cache), written);
        // A changed key is merged in.
        assert!(build(&cache, &[&speech("hello there")]));
        assert_ne!(identity(&cache), written);
        assert!(!build(&cache, &[&speech("hello there")]));
    }

    /// The digest names the history's used sets: it must stay what one hasher update per
    /// part gave.
    #[test]
    fn the_digest_is_what_it_was() {
        let cache = Cache::new(std::path::Path::new("/nonexistent"));
        let (a, b) = (speech("hello"), speech("hello there"));
        let mut log = BuildLog::open(&cache);
        let mut hasher = blake3::Hasher::new();
        let mut record = |log: &mut BuildLog<'_>, node: &Node| {
            hasher.update(&(node.name().len() as u64).to_le_bytes());
            hasher.update(node.name().as_bytes());
            hasher.update(&node.key().0);
            let digest = hasher.finalize().to_hex().to_string();
            let name: &'static str = Box::leak(node.name().to_string().into_boxed_str());
            log.record(name, node.key());
            digest
        };
        for node in [&a, &b] {
            let expected = record(&mut log, node);
            assert_eq!(log.digest(), expected);
        }
        // Past the 64 KiB its input is laid out in before it is hashed, and after.
        let mut expected = String::new();
        for _ in 0..2_000 {
            expected = record(&mut log, &a);
        }
        assert_eq!(log.digest(), expected);
        let expected = record(&mut log, &b);
        assert_eq!(log.digest(), expected);
    }

    #[test]
    fn explains_a_change_from_the_old_keys_record() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        assert_eq!(BuildLog::open(&cache).reason(&speech("hello")), "new");

        let before = speech("hello");
        commit(&cache, &before);
        build(&cache, &[&before]);
        let after = speech("hello there");
        assert_eq!(
            BuildLog::open(&cache).reason(&after),
            "params changed: text \"hello\" → \"hello there\""
        );
        // The same key with its object gone.
        let missing = speech("never made");
        build(&cache, &[&missing]);
        assert_eq!(BuildLog::open(&cache).reason(&missing), "output missing");

        // An entry stays when a build does not log its name (a scene renamed and back).
        build(&cache, &[&before]);
        let mut elsewhere = speech("hello");
        elsewhere.job.name = "speech demo/talk:1".into();
        build(&cache, &[&elsewhere]);
        assert_eq!(
            BuildLog::open(&cache).reason(&after),
            "params changed: text \"hello\" → \"hello there\""
        );
    }
}
