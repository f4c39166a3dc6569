//! Lip-sync: one clip per script line — the avatar's frames with the mouth moved by that
//! line's speech. Made by the built-in CPU mouth (`engine/builtin_lipsync.rs`) or a
//! TorchScript model on the GPU lane (`engine/torchscript.rs`); this file holds what both
//! share. A clip reads only its own speech and the avatar's face track (its key's inputs),
//! never its neighbours, so editing one line re-makes one clip. For a video avatar the frames are ping-ponged from an offset chosen by
//! the clip's own key: stable across builds and unaffected by other lines.

use std::path::Path;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::fps::Fps;
use crate::frame::Frame;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::{Avatar, AvatarKind, SourceFile};
use crate::media::{self, Audio, VideoEncoder};
use crate::sources::SourceHashes;
use crate::stage::face_track;
use crate::toolchain;

pub const OUTPUT: &str = "clip.mp4";
const VERSION: &str = "clip-2";
/// Clips are intermediate: keep them close to lossless, the scene encode decides quality.
pub const CLIP_CRF: u32 = 14;

/// The stage's part of a clip key: its inputs (the avatar's face track and the line's
/// speech), the avatar's file and the encode; the engine adds its own.
pub fn key(
    avatar: &Avatar,
    face_track: Key,
    speech: Key,
    fps: Fps,
    hashes: &SourceHashes,
) -> Result<KeySpec> {
    let spec = KeySpec::new(ArtifactKind::Clip, VERSION, avatar.lipsync.clone())
        .param("fps", fps)
        .param("crf", CLIP_CRF)
        .param("ffmpeg", toolchain::ffmpeg()?)
        .input(FACE_TRACK, face_track)
        .input(SPEECH, speech);
    face_track::with_avatar(spec, avatar, hashes)
}

/// The names of a clip's inputs in its key spec.
pub const FACE_TRACK: &str = "face-track";
pub const SPEECH: &str = "speech";

/// What every lip-sync engine needs to know of the avatar.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AvatarFrames {
    pub source: SourceFile,
    pub kind: AvatarKind,
    /// The clip's frame rate (the scene's).
    pub fps: Fps,
}

/// How many video frames cover a line's speech: the fewest whole frames that last at least
/// as long (at least one). Counted in integers — samples × fps over the sample rate,
/// rounded up, with the rate's exact fraction — so every engine, the scene's mux and every
/// check plan the same number.
pub fn frame_count(speech: &Audio, fps: Fps) -> usize {
    fps.frames_covering(speech.samples.len() as u64, speech.sample_rate)
}

/// Which avatar frame shows at clip frame `i`: the source plays forward then backward
/// (ping-pong) from `offset`, at its own frame rate.
pub fn source_frame(
    i: usize,
    offset: usize,
    source_frames: usize,
    source_fps: f64,
    fps: Fps,
) -> usize {
    if source_frames <= 1 {
        return 0;
    }
    let period = 2 * (source_frames - 1);
    let position = offset + (i as f64 * source_fps / fps.as_f64()).floor() as usize;
    let phase = position % period;
    if phase < source_frames {
        phase
    } else {
        period - phase
    }
}

/// What every engine starts from: the line's speech and the avatar's frames and boxes,
/// read from the job's input objects.
pub struct Inputs {
    pub audio: Audio,
    pub track: face_track::Track,
    pub frames: Vec<Frame>,
    /// Clip frames.
    pub count: usize,
    /// Avatar frame shown at each clip frame.
    pub sources: Vec<usize>,
}

impl AvatarFrames {
    /// Reads clip `artifact`'s inputs: the speech and face-track files, and the avatar.
    /// `key` is the clip's own (a video avatar's start frame derives from it).
    pub fn inputs(&self, artifact: &str, key: Key, speech: &Path, track: &Path) -> Result<Inputs> {
        let audio = media::read_wav(speech)
            .map_err(|detail| media::invalid(&format!("the speech of {artifact}"), detail))?;
        let track_path = track;
        let track = face_track::read_track(track)?;
        let (frames, source_fps) = face_track::clip_frames(&self.source, self.kind, track_path)?;
        if frames.len() != track.boxes.len() {
            return Err(Error::Other(format!(
                "the face track of `{}` has {} frames but the avatar has {}",
                self.source.rel,
                track.boxes.len(),
                frames.len()
            )));
        }
        let count = frame_count(&audio, self.fps);
        let offset = (key.seed() % frames.len() as u64) as usize;
        let sources = (0..count)
            .map(|i| source_frame(i, offset, frames.len(), source_fps, self.fps))
            .collect();
        Ok(Inputs {
            audio,
            track,
            frames,
            count,
            sources,
        })
    }

    /// Makes frame `i` of `count` with `frame_at` (in parallel, written in order), encodes
    /// them into the clip in `dir` and checks the result.
    pub fn encode(
        &self,
        artifact: &str,
        dir: &Path,
        (width, height): (u32, u32),
        count: usize,
        frame_at: impl Fn(usize) -> Frame + Sync,
    ) -> Result<()> {
        let output = dir.join(OUTPUT);
        let mut encoder = VideoEncoder::new(&output, width, height, self.fps, CLIP_CRF)?;
        let indices: Vec<usize> = (0..count).collect();
        for chunk in indices.chunks(32) {
            crate::process::check_interrupted()?;
            let frames: Vec<Frame> = chunk.par_iter().map(|&i| frame_at(i)).collect();
            for frame in &frames {
                encoder.write(frame)?;
            }
        }
        encoder.finish(artifact)?;
        check(artifact, &output, count)
    }
}

/// A clip must be H.264 with exactly one frame per `1/fps` of its speech.
pub fn check(artifact: &str, path: &Path, frames: usize) -> Result<()> {
    let probe = media::probe_output(artifact, path)?;
    let video = probe
        .video
        .ok_or_else(|| media::invalid(artifact, "no video stream"))?;
    if video.codec != "h264" || video.packets as usize != frames {
        return Err(media::invalid(
            artifact,
            format!(
                "expected {frames} H.264 frames, ffprobe found {} {} frames",
                video.packets, video.codec
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_pong_walks_forward_then_back() {
        let walk: Vec<usize> = (0..8)
            .map(|i| source_frame(i, 0, 4, 25.0, Fps::whole(25)))
            .collect();
        assert_eq!(walk, [0, 1, 2, 3, 2, 1, 0, 1]);
        let offset: Vec<usize> = (0..4)
            .map(|i| source_frame(i, 2, 4, 25.0, Fps::whole(25)))
            .collect();
        assert_eq!(offset, [2, 3, 2, 1]);
        assert_eq!(source_frame(5, 3, 1, 0.0, Fps::whole(25)), 0);
    }

    fn speech(samples: usize, sample_rate: u32) -> Audio {
        Audio {
            samples: vec![0.0; samples],
            sample_rate,
        }
    }

    #[test]
    fn frame_count_covers_the_speech() {
        assert_eq!(frame_count(&speech(48_000, 48_000), Fps::whole(25)), 25);
        assert_eq!(frame_count(&speech(48_480, 48_000), Fps::whole(25)), 26);
        assert_eq!(frame_count(&speech(0, 48_000), Fps::whole(25)), 1);
        // One sample past a whole frame is one more frame, at any rate.
        assert_eq!(frame_count(&speech(22_051, 22_050), Fps::whole(12)), 13);
        assert_eq!(frame_count(&speech(22_050, 22_050), Fps::whole(120)), 120);
        assert_eq!(frame_count(&speech(16_000, 16_000), Fps::whole(1)), 1);
        assert_eq!(frame_count(&speech(16_001, 16_000), Fps::whole(1)), 2);
    }
}
