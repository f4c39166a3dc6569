//! Face track: one per avatar — a face box on every frame of the avatar image or video,
//! gap-filled and smoothed, and, when render's face landmark model is installed
//! (`face_model.rs`), the face's 468 landmarks on every frame (made by `engine/rustface.rs`
//! with `face/facemesh.rs` on the GPU lane). It reads the avatar's file. The object holds
//! `track.json` and a padded crop of the first frame (`face.png`) to look at when a
//! lip-sync looks off. An avatar with `face = "left"` / `"right"` is one of the two people
//! of its picture: its track follows that face (`FaceDetector::detect_one_of_two`), so a
//! two-person shot made from that picture takes each person's box from their own track.

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
/// A large still avatar scaled to what the frames that show it need ([`work_side`]): the
/// picture the track measured and every clip is made from, decoded and scaled once.
pub const WORKING: &str = "avatar.png";
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

/// The longest side of an avatar a frame whose longest side is `frame_side` needs: twice
/// that (a fitted or filled picture has a source pixel per frame pixel with room to
/// spare; face framing, cropping to half the picture, one). The same for every framing,
/// so that changing a scene's framing re-makes the scene, not the face track.
pub fn needed_side(frame_side: u32) -> u32 {
    frame_side.saturating_mul(2)
}

/// The longest side a still avatar is worked at when the frames that show it need
/// `needed` pixels ([`needed_side`], the largest over its scenes). None when the image is
/// no larger (the avatar is used as it is, as before: its keys do not change) or is not a
/// still picture. An 8192 px portrait on a 320×240 line is worked at 640 px: its clip
/// costs what a 640 px portrait's does, not 160 times more.
pub fn work_side(avatar: &Avatar, needed: u32) -> Option<u32> {
    if avatar.kind != AvatarKind::Image {
        return None;
    }
    // A still's size is declared: the same before and after it is made.
    let (width, height) = match &avatar.made {
        Some(made) => (made.width, made.height),
        None => media::image_size(&avatar.source.abs)?,
    };
    let side = needed.max(MIN_WORK_SIDE);
    (width.max(height) > side).then_some(side)
}

/// No avatar is worked smaller than this: the face detector needs a face of 40 px, and a
/// portrait of up to 640 px (the demo's is 512) is always used as it is.
const MIN_WORK_SIDE: u32 = 640;

/// The avatar's face-track key (made by `engine`); `work_side` as [`work_side`] says, which
/// enters the key only when the avatar is scaled.
pub fn key(
    avatar: &Avatar,
    engine: &'static str,
    landmarks: Option<LandmarkKey>,
    work_side: Option<u32>,
    hashes: &SourceHashes,
) -> Result<KeySpec> {
    let mut spec = with_avatar(
        KeySpec::new(ArtifactKind::FaceTrack, VERSION, engine),
        avatar,
        hashes,
    )?;
    if let Some(side) = work_side {
        spec = spec.param("work-side", side);
    }
    // One of two people (`face`): another face of the same picture is another track.
    if let Some(face) = avatar.face {
        spec = spec.param("face", face.name());
    }
    if let Some(landmarks) = landmarks {
        spec = spec
            .param("landmarks", landmarks.model)
            .param("landmark-model", landmarks.blake3);
        spec.precision = landmarks.precision.to_string().into();
    }
    Ok(spec)
}

/// The avatar's frames: one for an image (scaled to fit `work_side` when it is larger),
/// every frame for a video.
pub fn load_frames(
    source: &SourceFile,
    kind: AvatarKind,
    work_side: Option<u32>,
) -> Result<(Vec<Frame>, f64)> {
    let unreadable = |detail: String| Error::UnreadableMedia {
        file: source.rel.clone(),
        detail,
        hint: match kind {
            AvatarKind::Image => "avatars must be PNG or JPEG images".into(),
            AvatarKind::Video => "avatar videos must be readable by ffmpeg".into(),
        },
    };
    match kind {
        AvatarKind::Image => {
            let frame = media::read_image(&source.abs).map_err(unreadable)?;
            let longest = frame.width.max(frame.height);
            let frame = match work_side {
                Some(side) if longest > side => fitted(&frame, side),
                _ => frame,
            };
            Ok((vec![frame], 0.0))
        }
        AvatarKind::Video => {
            let video = media::read_video(&source.abs).map_err(unreadable)?;
            Ok((video.frames, video.fps))
        }
    }
}

/// `frame` scaled to `side` pixels on its longest side, its sides even (yuv420p).
fn fitted(frame: &Frame, side: u32) -> Frame {
    let scaled = frame.scaled(f64::from(side) / f64::from(frame.width.max(frame.height)));
    let (width, height) = (scaled.width & !1, scaled.height & !1);
    if (width, height) == (scaled.width, scaled.height) {
        return scaled;
    }
    let mut even = Frame::new(width.max(2), height.max(2));
    for y in 0..even.height.min(scaled.height) {
        for x in 0..even.width.min(scaled.width) {
            even.set_pixel(x, y, scaled.pixel(x, y));
        }
    }
    even
}

/// The input name of an avatar's picture or video when render made it (a still, or an
/// idle motion shot): the face track, clips and segments of that avatar read it.
pub const MADE: &str = "avatar";

/// `spec` with the avatar's picture: its file's content hash, or, for a still or motion
/// avatar, the artifact it is (an input: the graph's edge to it).
pub fn with_avatar(spec: KeySpec, avatar: &Avatar, hashes: &SourceHashes) -> Result<KeySpec> {
    Ok(match &avatar.made {
        Some(made) => spec.input(MADE, made.key),
        None => spec.source("avatar", &avatar.source.rel, hashes.hash(&avatar.source)?),
    })
}

/// The frames a clip is made from: the face track's working copy when it made one (read
/// from `track`'s folder), else the avatar's own frames.
pub fn clip_frames(
    source: &SourceFile,
    kind: AvatarKind,
    track: &Path,
) -> Result<(Vec<Frame>, f64)> {
    let working = track.with_file_name(WORKING);
    if kind == AvatarKind::Image && working.exists() {
        let frame = media::read_image(&working).map_err(|detail| {
            Error::Other(format!("cannot read {}: {detail}", working.display()))
        })?;
        return Ok((vec![frame], 0.0));
    }
    load_frames(source, kind, None)
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
