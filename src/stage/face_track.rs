//! Face track: one per avatar — a face box on every frame of the avatar image or video,
//! gap-filled and smoothed (made by `engine/rustface.rs`). It reads the avatar's file. The
//! object holds `track.json` and a padded crop of the first frame (`face.png`) to look at
//! when a lip-sync looks off.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::{FaceBox, Frame};
use crate::key::{ArtifactKind, KeySpec};
use crate::manifest::{Avatar, AvatarKind, SourceFile};
use crate::media;
use crate::sources::SourceHashes;

pub const OUTPUT: &str = "track.json";
pub const CROP: &str = "face.png";
/// 2: the largest face is followed, not the highest-scoring one.
const VERSION: &str = "face-track-2";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Track {
    pub width: u32,
    pub height: u32,
    /// The avatar's own frame rate (0 for an image).
    pub fps: f64,
    pub boxes: Vec<FaceBox>,
}

/// The avatar's face-track key (made by `engine`).
pub fn key(avatar: &Avatar, engine: &str, hashes: &SourceHashes) -> Result<KeySpec> {
    Ok(
        KeySpec::new(ArtifactKind::FaceTrack, VERSION, engine).source(
            "avatar",
            &avatar.source.rel,
            hashes.hash(&avatar.source)?,
        ),
    )
}

/// The avatar's frames: one for an image, every frame for a video.
pub fn load_frames(source: &SourceFile, kind: AvatarKind) -> Result<(Vec<Frame>, f64)> {
    let unreadable = |detail: String| Error::UnreadableMedia {
        file: source.rel.clone(),
        detail,
        hint: match kind {
            AvatarKind::Image => "avatars must be PNG or JPEG images".into(),
            AvatarKind::Video => "avatar videos must be readable by ffmpeg".into(),
        },
    };
    match kind {
        AvatarKind::Image => Ok((
            vec![media::read_image(&source.abs).map_err(unreadable)?],
            0.0,
        )),
        AvatarKind::Video => {
            let video = media::read_video(&source.abs).map_err(unreadable)?;
            Ok((video.frames, video.fps))
        }
    }
}

/// Writes a track; read back with [`read_track`] before it may enter the cache.
pub fn write_track(path: &Path, track: &Track) -> Result<()> {
    let json = serde_json::to_vec(track).expect("track serialises");
    std::fs::write(path, json).map_err(|e| Error::io("cannot write", path, e))?;
    read_track(path).map(|_| ())
}

pub fn read_track(path: &Path) -> Result<Track> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Other(format!("{} is not a face track: {e}", path.display())))
}
