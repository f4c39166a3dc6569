//! Voice conditioning: what a cloning speech model computes from a voice's reference
//! recordings (`samples`) before it can speak in that voice — XTTS's speaker latents, say.
//! It is made once per voice by the speech engine's `conditioning` engine and read by every
//! line of that voice (its key is an input of theirs), so the preprocessing that model
//! servers redo on every request is done once, and changing one sample re-makes this and
//! that voice's lines only.

use crate::key::{ArtifactKind, KeySpec};

/// The folder of files the conditioning program wrote.
pub const OUTPUT: &str = "voice";
const VERSION: &str = "voice-1";

/// The stage's part of a conditioning key; the engine adds its own (its samples' hashes).
pub fn key(engine: impl Into<crate::key::Text>) -> KeySpec {
    KeySpec::new(ArtifactKind::Voice, VERSION, engine)
}

/// The name of a speech key's input that is its voice's conditioning.
pub const CONDITIONING: &str = "conditioning";
