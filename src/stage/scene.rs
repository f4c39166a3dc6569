//! Scene: the finished MP4, muxed by ffmpeg (`engine/ffmpeg.rs`) from each line's clip and
//! speech, in script order, over the background. The key names every line's clip and
//! speech as inputs (which is also what makes them the scene's dependencies), plus the
//! encode settings and the background; the output must be H.264 + AAC with the planned
//! frame count.
//!
//! Time in a scene is counted in whole frames, never in seconds: a float timestamp rounds
//! differently at 7, 23 or 119 fps, and one rounding is a dropped frame. The `Timeline`
//! below says how many frames each line's slot has and where its audio ends, in integers,
//! and the mux and the check both follow it.

use std::path::Path;

use crate::error::Result;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::{Background, Scene};
use crate::media;
use crate::sources::SourceHashes;
use crate::toolchain;

pub const OUTPUT: &str = "scene.mp4";
const VERSION: &str = "scene-3";
pub const CRF: u32 = 20;
pub const PRESET: &str = "veryfast";
pub const AUDIO_RATE: u32 = 48_000;
pub const AUDIO_BITRATE: &str = "160k";

/// The input names of line `i` (0-based) in a scene's key spec: its clip and its speech.
pub fn line_inputs(i: usize) -> (String, String) {
    (
        format!("line{:04}.clip", i + 1),
        format!("line{:04}.speech", i + 1),
    )
}

/// The scene's key. `lines` is (clip, speech) per line, in script order.
pub fn key(scene: &Scene, lines: &[(Key, Key)], hashes: &SourceHashes) -> Result<KeySpec> {
    let mut spec = KeySpec::new(ArtifactKind::Scene, VERSION, "ffmpeg")
        .param("ffmpeg", toolchain::ffmpeg()?)
        .param("fps", scene.fps)
        .param("size", format!("{}x{}", scene.width, scene.height))
        .param("pause", scene.pause)
        .param("crf", CRF)
        .param("preset", PRESET)
        .param("audio", format!("aac {AUDIO_BITRATE} {AUDIO_RATE} Hz"));
    match &scene.background {
        Background::Colour([r, g, b]) => {
            spec = spec.param("background", format!("#{r:02x}{g:02x}{b:02x}"));
        }
        Background::Image(file) => {
            spec = spec.param("background", "image").source(
                "background",
                &file.rel,
                hashes.hash(file)?,
            );
        }
    }
    for (i, (clip, speech)) in lines.iter().enumerate() {
        let (clip_name, speech_name) = line_inputs(i);
        spec = spec.input(&clip_name, *clip).input(&speech_name, *speech);
    }
    Ok(spec)
}

/// One line's part of a scene: its clip's frames, then the pause after it (its last frame
/// held, silence), and the audio samples that cover both.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slot {
    pub clip_frames: usize,
    pub pause_frames: usize,
    pub samples: u64,
}

/// A scene's frames and samples, line by line.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub slots: Vec<Slot>,
    /// Every slot's frames: the frames the scene must have.
    pub frames: usize,
}

impl Timeline {
    /// The timeline of clips of `clip_frames` each, with `pause` seconds between two lines.
    /// A slot's audio ends at the sample nearest its last frame's end, counted from the
    /// scene's start, so the audio never drifts from the video by more than half a sample
    /// however many lines there are.
    pub fn new(clip_frames: &[usize], pause: f64, fps: u32) -> Timeline {
        let pause_frames = (pause * fps as f64).round() as usize;
        let (rate, fps) = (u64::from(AUDIO_RATE), u64::from(fps.max(1)));
        let sample_at = |frame: usize| (2 * frame as u64 * rate + fps) / (2 * fps);
        let last = clip_frames.len().saturating_sub(1);
        let mut frames = 0;
        let slots = (clip_frames.iter().enumerate())
            .map(|(i, &clip_frames)| {
                let pause_frames = if i < last { pause_frames } else { 0 };
                let start = sample_at(frames);
                frames += clip_frames + pause_frames;
                Slot {
                    clip_frames,
                    pause_frames,
                    samples: sample_at(frames) - start,
                }
            })
            .collect();
        Timeline { slots, frames }
    }
}

/// A scene must be H.264 + AAC with the planned frame count and matching durations.
pub fn check(artifact: &str, path: &Path, frames: usize, fps: u32) -> Result<()> {
    let probe = media::probe_output(artifact, path)?;
    let video = probe
        .video
        .ok_or_else(|| media::invalid(artifact, "no video stream"))?;
    let audio = probe
        .audio
        .ok_or_else(|| media::invalid(artifact, "no audio stream"))?;
    if video.codec != "h264" || audio.codec != "aac" {
        return Err(media::invalid(
            artifact,
            format!(
                "expected H.264 + AAC, found {} + {}",
                video.codec, audio.codec
            ),
        ));
    }
    if video.packets as usize != frames {
        return Err(media::invalid(
            artifact,
            format!("expected {frames} frames, found {}", video.packets),
        ));
    }
    if (video.seconds - audio.seconds).abs() > 1.0 / fps as f64 {
        return Err(media::invalid(
            artifact,
            format!(
                "video lasts {:.3} s but audio {:.3} s",
                video.seconds, audio.seconds
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_hold_whole_frames_and_the_pause_goes_between_lines() {
        let timeline = Timeline::new(&[5, 14, 35], 0.4, 12);
        let frames: Vec<(usize, usize)> = (timeline.slots.iter())
            .map(|s| (s.clip_frames, s.pause_frames))
            .collect();
        assert_eq!(frames, [(5, 5), (14, 5), (35, 0)]);
        assert_eq!(timeline.frames, 64);
    }

    #[test]
    fn audio_ends_with_the_last_frame_at_every_rate() {
        for fps in 1..=120 {
            let clips: Vec<usize> = (0..40).map(|i| 1 + (i * 7 + fps as usize) % 23).collect();
            let timeline = Timeline::new(&clips, 0.37, fps);
            let samples: u64 = timeline.slots.iter().map(|s| s.samples).sum();
            // Summed per slot, the samples still end where the frames do (to the nearest
            // sample): nothing is truncated line after line.
            let exact = timeline.frames as f64 * f64::from(AUDIO_RATE) / f64::from(fps);
            assert!((samples as f64 - exact).abs() <= 0.5, "{fps} fps");
        }
    }
}
