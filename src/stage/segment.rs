//! Segments: a long line's clip made in pieces, for a lip-sync engine that declares
//! `max_seconds` (models that truncate, run out of memory or drift on long audio). The
//! line's speech is cut at its pauses (`stage/cuts.rs`); each piece is a segment — one run
//! of the engine, one job, one object — and the line's clip joins them frame-exact
//! (`engine/join.rs`), exactly the line's frames, so the scene lays the line's speech under
//! it in sync as under any clip.
//!
//! **Keys.** A segment's key holds its own audio by content hash (the blake3 of its WAV in
//! the cuts object, a key *source*), not the cuts' key: editing a line changes its speech
//! and its cuts, but a segment whose samples are the same keeps its key and is reused.
//! The rest is a clip's: the avatar, its face track, the engine and its settings, the
//! frame rate, the segment's frames. With `continue = "last_frame"` segment k+1 starts
//! from segment k's last frame (`last.png` in k's object, taken from its encoded clip), so
//! it names k as an input: the chain runs in order and an edit re-makes a segment and
//! every one after it. The line's clip names its speech and its segments as inputs, so
//! the cut points are in its key.
//!
//! **Why planned from the cuts object.** The number of segments is known only once the
//! speech is cut. The graph reads a line's `cuts.json` when it is in the cache and adds its
//! segments and the joined clip as ordinary nodes (so they spread over lanes and the
//! farm, and a crash loses one segment); a line not cut yet leaves its scene waiting, and
//! a build makes the waiting cuts first, then plans again (`commands/build.rs`). The
//! scheduler stays a scheduler of a fixed graph, and every key is computed before its job
//! runs, as everywhere else. A segment reads its WAV from the cuts object by path (an edge
//! in the graph, `Graph::add_segmented`, that is not a key input), and checks its bytes
//! against the hash its key holds before it runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fps::Fps;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::Avatar;
use crate::sources::SourceHashes;
use crate::stage::cuts;
use crate::stage::lipsync::{self, CLIP_CRF};
use crate::toolchain;

/// A segment's clip (as a line's: H.264, the scene's fps, exactly its frames).
pub const OUTPUT: &str = lipsync::OUTPUT;
/// A continued engine's segment also keeps its last frame, which the next one starts from.
pub const LAST_FRAME: &str = "last.png";
const VERSION: &str = "segment-1";
/// The version of a line's clip joined from segments.
const JOIN_VERSION: &str = "clip-joined-1";

/// The names of a segment's inputs in its key spec.
pub const FACE_TRACK: &str = lipsync::FACE_TRACK;
pub const PREVIOUS: &str = "previous";

/// A segment's key: its audio's content hash, its frames, the avatar and its face track,
/// and with `continue` the previous segment; the engine adds its own.
pub fn key(
    avatar: &Avatar,
    face_track: Key,
    segment: &cuts::Segment,
    fps: Fps,
    previous: Option<Key>,
    hashes: &SourceHashes,
) -> Result<KeySpec> {
    let spec = KeySpec::new(ArtifactKind::Segment, VERSION, avatar.lipsync.clone())
        .param("fps", fps)
        .param("frames", segment.frames)
        .param("crf", CLIP_CRF)
        .param("ffmpeg", toolchain::ffmpeg()?)
        .input(FACE_TRACK, face_track)
        .source("audio", &segment.file, segment.blake3);
    let mut spec = crate::stage::face_track::with_avatar(spec, avatar, hashes)?;
    if let Some(previous) = previous {
        spec = spec.input(PREVIOUS, previous);
    }
    Ok(spec)
}

/// The name of segment `i` (from 0) among a joined clip's inputs.
pub fn input_name(i: usize) -> String {
    format!("segment{:03}", i + 1)
}

/// A line's clip joined from its segments: its speech (whose frames it has) and each
/// segment, in order.
pub fn join_key(avatar: &Avatar, speech: Key, segments: &[Key], fps: Fps) -> Result<KeySpec> {
    let mut spec = KeySpec::new(ArtifactKind::Clip, JOIN_VERSION, avatar.lipsync.clone())
        .param("fps", fps)
        .param("crf", CLIP_CRF)
        .param("ffmpeg", toolchain::ffmpeg()?)
        .param("segments", segments.len())
        .input(lipsync::SPEECH, speech);
    for (i, segment) in segments.iter().enumerate() {
        spec = spec.input(input_name(i), *segment);
    }
    Ok(spec)
}

/// What a lip-sync engine's job needs to make a segment instead of a whole line's clip.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Part {
    /// Its WAV, in the line's cuts object (a path, so not in the key: `blake3` is).
    pub audio: PathBuf,
    pub blake3: Key,
    /// Its frames, from the cuts (they add up to the line's exactly).
    pub frames: usize,
    /// Starts from the previous segment's last frame (its `previous` input).
    pub continued: bool,
    /// Keeps its own last frame for the next segment.
    pub last_frame: bool,
}

impl Part {
    /// The segment's audio, checked to be the bytes its key names.
    pub fn audio(&self, artifact: &str) -> Result<&Path> {
        let bytes =
            std::fs::read(&self.audio).map_err(|e| Error::io("cannot read", &self.audio, e))?;
        let hash = Key(*blake3::hash(&bytes).as_bytes());
        if hash != self.blake3 {
            return Err(crate::media::invalid(
                artifact,
                format!(
                    "its audio `{}` is not the audio its key names (the line's cuts object was changed)",
                    self.audio.display()
                ),
            ));
        }
        Ok(&self.audio)
    }
}

/// Writes the last of `frames` frames of `clip` as `LAST_FRAME` in `dir`.
pub fn write_last_frame(artifact: &str, clip: &Path, frames: usize, dir: &Path) -> Result<()> {
    let output = dir.join(LAST_FRAME);
    let mut command = std::process::Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(clip)
        .args([
            "-vf",
            &format!("select=eq(n\\,{})", frames.saturating_sub(1)),
        ])
        .args(["-fps_mode", "passthrough", "-frames:v", "1"])
        .arg(&output);
    crate::process::run(&mut command, artifact, crate::process::deadline(60.0))?;
    if !crate::media::image_size(&output).is_some_and(|(w, h)| w > 0 && h > 0) {
        return Err(crate::media::invalid(
            artifact,
            "its last frame could not be taken from its clip",
        ));
    }
    Ok(())
}
