//! Face track: one per avatar — a face box on every frame of the avatar image or video,
//! gap-filled and smoothed, and, when render's face landmark model is installed
//! (`face_model.rs`), the face's 468 landmarks on every frame (made by `engine/rustface.rs`
//! with `face/facemesh.rs` on the GPU lane). It reads the avatar's file. The object holds
//! `track.json` and a padded crop of the first frame (`face.png`) to look at when a
//! lip-sync looks off.

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
/// 2: the largest face is followed, not the highest-scoring one. 3: landmarks. 4: a still
/// picture's box read at four scales.
const VERSION: &str = "face-track-4";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Track {
    pub width: u32,
    pub height: u32,
    /// The avatar's own frame rate (0 for an image).
    pub fps: f64,
    pub boxes: Vec<FaceBox>,
    /// One per frame when the track was made with the landmark model; empty without it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub landmarks: Vec<Landmarks>,
}

/// A frame's face landmarks (MediaPipe Face Mesh's 468 points).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Landmarks {
    /// The model's confidence that the crop shows a face, 0..1.
    pub score: f32,
    /// `[x, y, z]` in image pixels (z: relative depth at the same scale, smaller is nearer),
    /// 0.01 px; `None` when the score is too low to trust and no neighbour could stand in.
    pub points: Option<Vec<[f32; 3]>>,
    /// The points were interpolated from neighbouring frames (this frame's score was low).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interpolated: bool,
}

/// What a face track with landmarks adds to its key: the model's weights (by their blake3)
/// and the precision it ran in (FP16 on CUDA gives other points than FP32).
pub struct LandmarkKey<'a> {
    pub model: &'a str,
    pub blake3: &'a str,
    pub precision: &'a str,
}

/// The avatar's face-track key (made by `engine`).
pub fn key(
    avatar: &Avatar,
    engine: &str,
    landmarks: Option<LandmarkKey>,
    hashes: &SourceHashes,
) -> Result<KeySpec> {
    let mut spec = KeySpec::new(ArtifactKind::FaceTrack, VERSION, engine).source(
        "avatar",
        &avatar.source.rel,
        hashes.hash(&avatar.source)?,
    );
    if let Some(landmarks) = landmarks {
        spec = spec
            .param("landmarks", landmarks.model)
            .param("landmark-model", landmarks.blake3);
        spec.precision = landmarks.precision.to_string();
    }
    Ok(spec)
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
