//! Pose: the pose (OpenPose or DWPose skeletons) read from a video by a command engine of
//! stage "pose", for a pose-guided shot (`pose` and `pose_engine` on `[shots.<name>]`). It is
//! its own artifact so that the extraction runs once per video and engine, whatever the
//! shots that follow it. Its key holds the video's content hash and the engine's key; the
//! output must have the video's frames at its rate.

use std::path::Path;

use crate::error::Result;
use crate::key::{ArtifactKind, KeySpec};
use crate::manifest::SourceFile;
use crate::media;
use crate::sources::SourceHashes;

pub const OUTPUT: &str = "pose.mp4";
const VERSION: &str = "pose-1";

/// A pose video's key; the command engine adds its own.
pub fn key(engine: &str, video: &SourceFile, hashes: &SourceHashes) -> Result<KeySpec> {
    Ok(
        KeySpec::new(ArtifactKind::Pose, VERSION, engine.to_string()).source(
            "video",
            &video.rel,
            hashes.hash(video)?,
        ),
    )
}

/// The pose video must have the source video's frames at its rate.
pub fn check(artifact: &str, path: &Path, source: &Path) -> Result<()> {
    let frames_of = |file: &Path, what: &str| {
        let probe = media::probe(file).map_err(|detail| {
            media::invalid(artifact, format!("the {what} cannot be read: {detail}"))
        })?;
        (probe.video.filter(|v| v.packets > 0))
            .ok_or_else(|| media::invalid(artifact, format!("the {what} has no frames")))
    };
    let source = frames_of(source, "pose's source video")?;
    let pose = frames_of(path, "pose video")?;
    if pose.packets != source.packets || (pose.fps - source.fps).abs() > 0.01 {
        return Err(media::invalid(
            artifact,
            format!(
                "the pose video has {} frames at {:.3} fps; its source has {} at {:.3}",
                pose.packets, pose.fps, source.packets, source.fps
            ),
        ));
    }
    Ok(())
}
