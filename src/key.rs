//! Artifact keys: blake3 over a canonical encoding of everything that can change an
//! artifact's bytes — its kind, the stage version, the engine, its parameters, the keys of
//! its inputs, the content hashes of its source files and the precision it runs at. Paths,
//! timestamps and a line's position never enter a key, so moving or reordering changes
//! nothing that does not have to change.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A key spec's text that is mostly a constant of the code (a stage's version, a field's
/// name): borrowed then, owned only when it is made at run time (`clip0001`). A no-op build
/// makes a key spec per artifact, some ten names each: owning every one was a quarter of
/// its allocations.
pub type Text = Cow<'static, str>;

/// What an artifact is, in the user's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// A cloned voice's conditioning (e.g. XTTS speaker latents), made once per voice.
    Voice,
    Speech,
    FaceTrack,
    Clip,
    Scene,
    /// A scene's subtitles (SubRip and WebVTT), timed by its lines' speech.
    Captions,
    /// A project's scenes joined into one video (`[episode]`), with its captions.
    Episode,
    /// Where a long line's speech is cut at its pauses, and the pieces' WAVs
    /// (`max_seconds` on its lip-sync engine).
    Cuts,
    /// One piece of a long line's clip, made from one piece of its speech.
    Segment,
    /// A picture made from a prompt (`[stills.<name>]`).
    Still,
    /// A video made from a prompt and/or a picture (`[shots.<name>]`).
    Shot,
    /// A pose video read from a video, for a pose-guided shot.
    Pose,
    /// One person's audio in a two-person shot: their lines in place, silence elsewhere.
    Track,
    /// A two-person shot: one engine run for a scene's whole exchange.
    TwoShot,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Voice => "voice",
            ArtifactKind::Speech => "speech",
            ArtifactKind::FaceTrack => "face-track",
            ArtifactKind::Clip => "clip",
            ArtifactKind::Scene => "scene",
            ArtifactKind::Captions => "captions",
            ArtifactKind::Episode => "episode",
            ArtifactKind::Cuts => "cuts",
            ArtifactKind::Segment => "segment",
            ArtifactKind::Still => "still",
            ArtifactKind::Shot => "shot",
            ArtifactKind::Pose => "pose",
            ArtifactKind::Track => "track",
            ArtifactKind::TwoShot => "two-shot",
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A 256-bit content key, shown as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    pub fn hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    pub fn from_hex(hex: &str) -> Option<Key> {
        blake3::Hash::from_hex(hex)
            .ok()
            .map(|hash| Key(*hash.as_bytes()))
    }

    /// A stable number derived from the key, for choices that must not depend on
    /// anything but the artifact itself (e.g. a video avatar's start frame).
    pub fn seed(&self) -> u64 {
        u64::from_le_bytes(self.0[..8].try_into().unwrap())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Key({})", &self.hex()[..12])
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let hex = String::deserialize(d)?;
        Key::from_hex(&hex).ok_or_else(|| serde::de::Error::custom("not a 64-digit hex key"))
    }
}

/// A map by key. Keys are blake3 hashes, so their first eight bytes already are a good
/// hash: such a map needs no SipHash over 32 bytes (a no-op looks up every artifact).
pub type KeyMap<V> = std::collections::HashMap<Key, V, BuildKeyHasher>;

/// The hasher of a [`KeyMap`]: a key's first eight bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildKeyHasher;

impl std::hash::BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // A key hashes as its length, then its 32 bytes; anything else still hashes whole.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length: usize) {}

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A source file as it enters a key: its content hash. The path is kept for explanations
/// only and is not hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    pub path: String,
    pub hash: Key,
}

/// Everything an artifact's bytes depend on. Stored in each object's record so that
/// `render plan` can say what changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpec {
    pub kind: ArtifactKind,
    /// Bumped whenever a stage's code changes its output.
    pub version: Text,
    pub engine: Text,
    /// "fp32", "fp16", or "-" for stages with no numeric model.
    pub precision: Text,
    pub params: Fields<String>,
    pub inputs: Fields<Key>,
    pub sources: Fields<SourceRef>,
}

/// A key spec's named fields (its params, inputs or sources), sorted by name: a map, as a
/// `BTreeMap` would be, in the same order (so the same key and the same JSON), kept in one
/// small vector. A no-op build makes one key spec per artifact (22,001 for 10,000 lines)
/// and keeps them all; a B-tree's first node (eleven slots) for a field or two cost a
/// no-op more in fresh memory than anything it computed.
#[derive(Clone, PartialEq, Eq)]
pub struct Fields<V>(Vec<(Text, V)>);

impl<V> Default for Fields<V> {
    fn default() -> Self {
        Fields(Vec::new())
    }
}

impl<V> Fields<V> {
    pub fn new() -> Self {
        Fields::default()
    }

    /// Sets `name` to `value`; returns the value it had.
    pub fn insert(&mut self, name: impl Into<Text>, value: V) -> Option<V> {
        let name = name.into();
        // Fields are mostly added in order (a scene's clip0001, clip0002, …): append.
        if self.0.last().is_none_or(|(last, _)| *last < name) {
            self.0.push((name, value));
            return None;
        }
        match self
            .0
            .binary_search_by(|(n, _)| n.as_ref().cmp(name.as_ref()))
        {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    /// Room for `more` fields (a scene's inputs, two a line), without growing as they come.
    pub fn reserve(&mut self, more: usize) {
        self.0.reserve(more);
    }

    pub fn get(&self, name: &str) -> Option<&V> {
        let i = self
            .0
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .ok()?;
        Some(&self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The fields in name order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &V)> + ExactSizeIterator {
        self.0.iter().map(|(name, value)| (name.as_ref(), value))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.0.iter().map(|(name, _)| name.as_ref())
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.0.iter().map(|(_, value)| value)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a, V> IntoIterator for &'a Fields<V> {
    type Item = (&'a str, &'a V);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (Text, V)>, fn(&'a (Text, V)) -> (&'a str, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(name, value)| (name.as_ref(), value))
    }
}

impl<V> FromIterator<(String, V)> for Fields<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(fields: I) -> Self {
        let mut all = Fields::new();
        for (name, value) in fields {
            all.insert(name, value);
        }
        all
    }
}

impl<V: fmt::Debug> fmt::Debug for Fields<V> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Serialize> Serialize for Fields<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Fields<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fields<V>, D::Error> {
        // As a map reads: sorted, the last of a name repeated wins.
        let map = std::collections::BTreeMap::<String, V>::deserialize(d)?;
        Ok(Fields(
            map.into_iter().map(|(n, v)| (n.into(), v)).collect(),
        ))
    }
}

impl KeySpec {
    /// `version` and `engine` are mostly constants (`&'static str`): then nothing is copied.
    pub fn new(kind: ArtifactKind, version: impl Into<Text>, engine: impl Into<Text>) -> KeySpec {
        KeySpec {
            kind,
            version: version.into(),
            engine: engine.into(),
            precision: Text::Borrowed("-"),
            params: Fields::new(),
            inputs: Fields::new(),
            sources: Fields::new(),
        }
    }

    /// A field's `name` is a constant (`&'static str`) or, made at run time, a `String`.
    pub fn param(mut self, name: impl Into<Text>, value: impl ToString) -> KeySpec {
        self.params.insert(name, value.to_string());
        self
    }

    pub fn input(mut self, name: impl Into<Text>, key: Key) -> KeySpec {
        self.inputs.insert(name, key);
        self
    }

    pub fn source(mut self, name: impl Into<Text>, path: &str, hash: Key) -> KeySpec {
        self.sources.insert(
            name,
            SourceRef {
                path: path.to_string(),
                hash,
            },
        );
        self
    }

    /// The key: length-prefixed fields in a fixed order, maps in sorted order. The fields
    /// are laid out in one buffer and hashed at once: the same bytes, so the same key, as
    /// hashing field by field, without some 40 tiny hasher updates per artifact.
    pub fn key(&self) -> Key {
        thread_local! {
            /// The buffer every key of this thread is laid out in: no fresh allocation
            /// (nor a fresh page) per artifact.
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut buffer) => self.key_in(&mut buffer),
            Err(_) => self.key_in(&mut Vec::new()),
        })
    }

    fn key_in(&self, bytes_to_hash: &mut Vec<u8>) -> Key {
        bytes_to_hash.clear();
        let mut field = |tag: &str, bytes: &[u8]| {
            bytes_to_hash.extend_from_slice(&(tag.len() as u64).to_le_bytes());
            bytes_to_hash.extend_from_slice(tag.as_bytes());
            bytes_to_hash.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            bytes_to_hash.extend_from_slice(bytes);
        };
        field("render-key", b"1");
        field("kind", self.kind.as_str().as_bytes());
        field("version", self.version.as_bytes());
        field("engine", self.engine.as_bytes());
        field("precision", self.precision.as_bytes());
        for (name, value) in &self.params {
            field("param", name.as_bytes());
            field("value", value.as_bytes());
        }
        for (name, key) in &self.inputs {
            field("input", name.as_bytes());
            field("key", &key.0);
        }
        for (name, source) in &self.sources {
            field("source", name.as_bytes());
            field("hash", &source.hash.0);
        }
        Key(*blake3::hash(bytes_to_hash).as_bytes())
    }

    /// Why `self` differs from the spec the same artifact had before, in a few words.
    pub fn explain_change(&self, before: &KeySpec) -> String {
        if self.engine != before.engine {
            return format!("engine changed: {} → {}", before.engine, self.engine);
        }
        if self.version != before.version {
            return format!(
                "stage version changed: {} → {}",
                before.version, self.version
            );
        }
        if self.precision != before.precision {
            return format!(
                "precision changed: {} → {}",
                before.precision, self.precision
            );
        }
        let mut changes = Vec::new();
        for name in union(&self.params, &before.params) {
            match (before.params.get(name), self.params.get(name)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b)) => {
                    let (a, b) = (shown(before, name, a), shown(self, name, b));
                    changes.push(format!("{name} {} → {}", short(&a), short(&b)))
                }
                (None, Some(b)) => {
                    changes.push(format!("{name} added ({})", short(&shown(self, name, b))))
                }
                (Some(_), None) => changes.push(format!("{name} removed")),
                (None, None) => {}
            }
        }
        if !changes.is_empty() {
            return format!("params changed: {}", changes.join(", "));
        }
        let sources: Vec<&str> = union(&self.sources, &before.sources)
            .filter(|name| self.sources.get(name) != before.sources.get(name))
            .map(|name| {
                self.sources
                    .get(name)
                    .or(before.sources.get(name))
                    .map(|s| s.path.as_str())
                    .unwrap_or(name)
            })
            .collect();
        if !sources.is_empty() {
            return format!("source changed: {}", sources.join(", "));
        }
        let inputs: Vec<&str> = union(&self.inputs, &before.inputs)
            .filter(|name| self.inputs.get(name) != before.inputs.get(name))
            .collect();
        if !inputs.is_empty() {
            return format!("input changed: {}", inputs.join(", "));
        }
        "output missing".to_string()
    }
}

fn union<'a, V>(a: &'a Fields<V>, b: &'a Fields<V>) -> impl Iterator<Item = &'a str> {
    let mut names: Vec<&str> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names.into_iter()
}

/// A param's value as a person reads it: a command engine's `text` (its spec has `args`) is
/// kept in the key as the JSON list of the pieces its program is given (a long line cut at
/// the engine's `max_chars`), and is shown as the text they say, not as escaped JSON.
fn shown<'a>(spec: &KeySpec, name: &str, value: &'a str) -> std::borrow::Cow<'a, str> {
    if name == "text" && spec.params.contains_key("args") {
        if let Ok(pieces) = serde_json::from_str::<Vec<String>>(value) {
            return pieces.join(" ").into();
        }
    }
    value.into()
}

fn short(value: &str) -> String {
    let value = value.replace('\n', " ");
    if value.chars().count() > 40 {
        format!("{:?}…", value.chars().take(37).collect::<String>())
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> KeySpec {
        KeySpec::new(ArtifactKind::Speech, "1", "espeak")
            .param("text", "hello")
            .param("pitch", 50)
    }

    #[test]
    fn key_changes_with_every_part_but_source_paths() {
        let base = spec().key();
        assert_eq!(base, spec().key());
        assert_ne!(base, spec().param("pitch", 51).key());
        assert_ne!(base, KeySpec::new(ArtifactKind::Clip, "1", "espeak").key());
        let mut fp16 = spec();
        fp16.precision = "fp16".into();
        assert_ne!(base, fp16.key());
        let hash = Key([7; 32]);
        assert_eq!(
            spec().source("audio", "a.wav", hash).key(),
            spec().source("audio", "renamed/b.wav", hash).key()
        );
        assert_ne!(
            spec().source("audio", "a.wav", hash).key(),
            spec().source("audio", "a.wav", Key([8; 32])).key()
        );
    }

    #[test]
    fn explains_what_changed() {
        assert_eq!(
            spec().param("pitch", 60).explain_change(&spec()),
            "params changed: pitch \"50\" → \"60\""
        );
        assert_eq!(spec().explain_change(&spec()), "output missing");
        let before = spec().input("speech", Key([1; 32]));
        let after = spec().input("speech", Key([2; 32]));
        assert_eq!(after.explain_change(&before), "input changed: speech");
    }

    #[test]
    fn a_command_engines_text_is_shown_as_text() {
        let command = |text: &str| {
            let pieces = serde_json::to_string(&[text]).unwrap();
            KeySpec::new(ArtifactKind::Speech, "speech-1", "piper")
                .param("args", "[]")
                .param("text", pieces)
        };
        assert_eq!(
            command("Great. Let us begin!").explain_change(&command("Great. Let us get started!")),
            "params changed: text \"Great. Let us get started!\" → \"Great. Let us begin!\""
        );
        // Not a command engine's: the text is as written, brackets and all.
        let espeak = |text: &str| {
            KeySpec::new(ArtifactKind::Speech, "speech-1", "espeak-ng").param("text", text)
        };
        assert_eq!(
            espeak("[\"a\"]").explain_change(&espeak("b")),
            "params changed: text \"b\" → \"[\\\"a\\\"]\""
        );
    }

    /// The key as it was first computed, one hasher update per part: the one-buffer
    /// version must give the same keys, or every cached object would go stale.
    fn key_field_by_field(spec: &KeySpec) -> Key {
        let mut hasher = blake3::Hasher::new();
        let mut field = |tag: &str, bytes: &[u8]| {
            hasher.update(&(tag.len() as u64).to_le_bytes());
            hasher.update(tag.as_bytes());
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field("render-key", b"1");
        field("kind", spec.kind.as_str().as_bytes());
        field("version", spec.version.as_bytes());
        field("engine", spec.engine.as_bytes());
        field("precision", spec.precision.as_bytes());
        for (name, value) in &spec.params {
            field("param", name.as_bytes());
            field("value", value.as_bytes());
        }
        for (name, key) in &spec.inputs {
            field("input", name.as_bytes());
            field("key", &key.0);
        }
        for (name, source) in &spec.sources {
            field("source", name.as_bytes());
            field("hash", &source.hash.0);
        }
        Key(*hasher.finalize().as_bytes())
    }

    #[test]
    fn keys_stay_what_they_were() {
        let long = "a long line of text ".repeat(100);
        let full = spec()
            .param("text", &long)
            .input("speech", Key([1; 32]))
            .input("face-track", Key([2; 32]))
            .source("avatar", "avatars/a.png", Key([3; 32]));
        for spec in [spec(), full, KeySpec::new(ArtifactKind::Scene, "", "")] {
            assert_eq!(spec.key(), key_field_by_field(&spec));
        }
    }

    #[test]
    fn fields_are_a_sorted_map_in_json_and_in_keys() {
        let spec = spec()
            .param("b", 2)
            .param("a", 1)
            .param("text", "again")
            .input("z", Key([1; 32]))
            .input("clip0002", Key([2; 32]))
            .input("clip0001", Key([3; 32]));
        let names: Vec<&str> = spec.params.keys().collect();
        assert_eq!(names, ["a", "b", "pitch", "text"]);
        assert_eq!(spec.params.get("text").map(String::as_str), Some("again"));
        // The same JSON as the B-tree maps a record has always held, and back.
        let json = serde_json::to_string(&spec).unwrap();
        let params: std::collections::BTreeMap<&str, &str> =
            [("a", "1"), ("b", "2"), ("pitch", "50"), ("text", "again")].into();
        assert!(
            json.contains(&serde_json::to_string(&params).unwrap()),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<KeySpec>(&json).unwrap(), spec);
        let written = json.replace("\"a\":\"1\"", "\"z\":\"0\",\"a\":\"1\",\"z\":\"9\"");
        let read: KeySpec = serde_json::from_str(&written).unwrap();
        assert_eq!(read.params.keys().last(), Some("z"));
        assert_eq!(read.params.get("z").map(String::as_str), Some("9"));
        assert_eq!(spec.key(), key_field_by_field(&spec));
    }

    #[test]
    fn hex_round_trips() {
        let key = spec().key();
        assert_eq!(Key::from_hex(&key.hex()), Some(key));
    }
}
