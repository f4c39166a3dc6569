//! Speech: one WAV per script line. Made by the line's voice engine from its text (espeak-ng
//! today), or imported from a recorded WAV. The key holds the text and the voice's settings,
//! never the line's position, so inserting a line re-makes only that line.

use std::path::Path;

use crate::engine::espeak::Espeak;
use crate::engine::recording::Recording;
use crate::engine::EngineJob;
use crate::error::Result;
use crate::key::{ArtifactKind, KeySpec};
use crate::manifest::{Line, Voice, VoiceEngine};
use crate::media::{self, Audio};
use crate::sources::SourceHashes;

pub const OUTPUT: &str = "speech.wav";
const VERSION: &str = "speech-1";

/// The line's speech: its key spec and the engine that makes it.
pub fn plan(line: &Line, voice: &Voice, hashes: &SourceHashes) -> Result<(KeySpec, EngineJob)> {
    if let Some(file) = &line.audio {
        let engine = Recording { file: file.clone() };
        let spec = engine.key(
            KeySpec::new(ArtifactKind::Speech, VERSION, "import"),
            hashes,
        )?;
        return Ok((spec, EngineJob::Recording(engine)));
    }
    match &voice.engine {
        VoiceEngine::Espeak { .. } => {
            let engine = Espeak::new(&line.text, &voice.engine);
            let spec = engine.key(KeySpec::new(ArtifactKind::Speech, VERSION, "espeak-ng"))?;
            Ok((spec, EngineJob::Espeak(engine)))
        }
    }
}

/// A speech WAV must parse before it may enter the cache.
pub fn check(artifact: &str, path: &Path) -> Result<Audio> {
    media::read_wav(path).map_err(|detail| media::invalid(artifact, detail))
}
