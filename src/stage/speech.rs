//! Speech: one WAV per script line, made by the line's voice engine from its text
//! (`engine/espeak.rs`) or imported from a recorded WAV (`engine/recording.rs`). It reads no
//! other artifact. Its key is the engine's: the text and the voice's settings, never the
//! line's position, so inserting a line re-makes only that line.

use std::path::Path;

use crate::error::Result;
use crate::key::{ArtifactKind, KeySpec};
use crate::media::{self, Audio};

pub const OUTPUT: &str = "speech.wav";
const VERSION: &str = "speech-1";

/// The stage's part of a speech key; the engine adds its own.
pub fn key(engine: impl Into<crate::key::Text>) -> KeySpec {
    KeySpec::new(ArtifactKind::Speech, VERSION, engine)
}

/// A speech WAV must parse before it may enter the cache.
pub fn check(artifact: &str, path: &Path) -> Result<Audio> {
    media::read_wav(path).map_err(|detail| media::invalid(artifact, detail))
}
