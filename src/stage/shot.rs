//! Shot: a video made from a prompt and/or a picture (`[shots.<name>]`) by a command engine
//! of stage "shot" — Wan2.1/2.2 text- or image-to-video, Stable Video Diffusion, a
//! pose-guided model. Its key is a still's (`stage/still.rs`: prompt texts, numbers, seed,
//! picture, LoRAs, the engine's own key) plus its frames, fps and seconds (values of the
//! command engine) and, for a pose-guided engine, the pose video's artifact (an input).
//!
//! Video models cap their length silently (Wan makes 4n+1 frames, a model may stop at its
//! own maximum), so the output must have exactly the frames render asked for (`{frames}`,
//! the shot's seconds × fps rounded up to the engine's `frames` form) at `{fps}`; otherwise
//! the job fails and nothing is committed.
//!
//! A shot is used as a video: a b-roll line (`stage/broll.rs`), an avatar's idle `motion`
//! (its face track and clips then read the object's `shot.mp4`, an input of their keys).

use std::path::Path;

use crate::error::Result;
use crate::fps::Fps;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::shots::Shot;
use crate::media;
use crate::sources::SourceHashes;
use crate::stage::still::{self, Image};

pub const OUTPUT: &str = "shot.mp4";
/// The input name of a pose-guided shot's pose video.
pub const POSE: &str = "pose";
const VERSION: &str = "shot-1";

/// A shot's key; the command engine adds its own (`CommandJob::key`).
pub fn key(
    shot: &Shot,
    image: Option<&Image>,
    pose: Option<Key>,
    hashes: &SourceHashes,
) -> Result<KeySpec> {
    let spec = KeySpec::new(ArtifactKind::Shot, VERSION, shot.made.engine.clone());
    let spec = still::prompted(spec, &shot.made, image, hashes)?;
    Ok(match pose {
        Some(pose) => spec.input(POSE, pose),
        None => spec,
    })
}

/// A video must have exactly `frames` frames at `fps` (the programs' silent caps).
pub fn check_frames(
    artifact: &str,
    what: &str,
    path: &Path,
    frames: usize,
    fps: Fps,
) -> Result<()> {
    let probe = media::probe(path).map_err(|detail| {
        media::invalid(artifact, format!("the {what} cannot be read: {detail}"))
    })?;
    let video = (probe.video.filter(|v| v.packets > 0))
        .ok_or_else(|| media::invalid(artifact, format!("the {what} has no frames")))?;
    if video.packets as usize != frames {
        return Err(media::invalid(
            artifact,
            format!(
                "the {what} has {} frames, not the {frames} asked for",
                video.packets
            ),
        ));
    }
    if (video.fps - fps.as_f64()).abs() > 0.01 {
        return Err(media::invalid(
            artifact,
            format!(
                "the {what} runs at {:.3} fps, not the {fps} asked for",
                video.fps
            ),
        ));
    }
    Ok(())
}
