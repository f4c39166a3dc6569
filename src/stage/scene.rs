//! Scene: the finished MP4, muxed by ffmpeg (`engine/ffmpeg.rs`) from each line's clip and
//! speech, in script order, over the background. The key names every line's clip and
//! speech as inputs (which is also what makes them the scene's dependencies), plus the
//! encode settings and the background; the output must be H.264 + AAC with the planned
//! frame count.

use std::path::Path;

use crate::error::Result;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::{Background, Scene};
use crate::media;
use crate::sources::SourceHashes;
use crate::toolchain;

pub const OUTPUT: &str = "scene.mp4";
const VERSION: &str = "scene-2";
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
