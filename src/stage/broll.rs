//! B-roll: a scene line that shows a shot instead of a talking head (`{ shot = "city",
//! seconds = 4 }`, `manifest/broll.rs`). It is two artifacts in the places a spoken line
//! has its clip and its speech, so the scene, its timeline and its captions treat it as any
//! line: its clip is the shot conformed to the scene (its fps, exactly the line's frames,
//! looped when the shot is shorter, cut when longer; `engine/broll.rs`), and its speech is
//! silence of exactly those frames (`engine/silence.rs`) — so the scene's frame count is
//! the sum of its parts, the audio stays in sync, and its captions have no cue for it (a
//! b-roll line has no text). Neither key holds a line's position: the same b-roll twice
//! is one artifact.
//!
//! A voice-over b-roll (`{ shot = "city", text = "Meanwhile…" }`) has a speech like any
//! line's (the same key as the same words said on camera), and its clip is the shot
//! conformed to that speech's frames: the clip's key takes the speech's key instead of a
//! frame count, and the engine counts the frames from the speech (as a lip-sync clip
//! does). Its captions show its words where they are said.

use crate::error::Result;
use crate::fps::Fps;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::stage::lipsync::CLIP_CRF;
use crate::toolchain;

/// The input name of a b-roll clip's shot.
pub const SHOT: &str = "shot";
/// The input name of a voice-over b-roll clip's speech, whose frames it lasts.
pub const SPEECH: &str = "speech";

/// How long a b-roll clip is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Length {
    /// This many frames, over silence.
    Frames(usize),
    /// As many frames as this speech (the key of a voice-over's speech) covers.
    Speech(Key),
}
const CLIP_VERSION: &str = "broll-1";
const SILENCE_VERSION: &str = "silence-1";
/// The sample rate of a b-roll line's silence.
pub const SILENCE_RATE: u32 = 48_000;

/// The frames of a b-roll line of `seconds` at `fps`: the nearest whole count, at least one.
pub fn frames(seconds: f64, fps: Fps) -> usize {
    fps.frames_in(seconds).max(1)
}

/// The samples of silence whose frames at `fps` are exactly `frames`
/// (`lipsync::frame_count` of it gives `frames` back): rounded down, never over.
pub fn silence_samples(frames: usize, fps: Fps) -> u64 {
    frames as u64 * u64::from(SILENCE_RATE) * u64::from(fps.den()) / u64::from(fps.num())
}

/// The key of a b-roll clip: `shot` conformed to `length` at `fps`.
pub fn clip_key(shot: Key, length: Length, fps: Fps) -> Result<KeySpec> {
    let spec = KeySpec::new(ArtifactKind::Clip, CLIP_VERSION, "ffmpeg").param("fps", fps);
    let spec = match length {
        Length::Frames(frames) => spec.param("frames", frames),
        Length::Speech(_) => spec,
    };
    let spec = (spec.param("crf", CLIP_CRF))
        .param("ffmpeg", toolchain::ffmpeg()?)
        .input(SHOT, shot);
    Ok(match length {
        Length::Frames(_) => spec,
        Length::Speech(speech) => spec.input(SPEECH, speech),
    })
}

/// The key of a b-roll line's silence: `frames` frames at `fps`.
pub fn silence_key(frames: usize, fps: Fps) -> KeySpec {
    KeySpec::new(ArtifactKind::Speech, SILENCE_VERSION, "silence")
        .param("fps", fps)
        .param("frames", frames)
        .param("rate", SILENCE_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_covers_exactly_its_frames_at_every_rate() {
        for fps in [
            Fps::whole(25),
            Fps::whole(24),
            Fps::ntsc(30),
            Fps::whole(7),
            Fps::whole(120),
        ] {
            for frames in [1, 2, 99, 100, 101, 12_345] {
                let samples = silence_samples(frames, fps);
                assert_eq!(
                    fps.frames_covering(samples, SILENCE_RATE),
                    frames,
                    "{fps} {frames}"
                );
            }
        }
    }
}
