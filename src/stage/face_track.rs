//! Face track: one per avatar. The built-in detector (rustface, its model inside the
//! binary) runs on every frame of the avatar image or video; boxes are gap-filled and
//! smoothed. The object holds `track.json` and a padded crop of the first frame
//! (`face.png`) to look at when a lip-sync looks off.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::rustface::{self, FaceBox};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::key::{ArtifactKind, KeySpec};
use crate::manifest::{Avatar, AvatarKind, SourceFile};
use crate::media;
use crate::sources::SourceHashes;
use crate::stage::{Made, Node};

pub const OUTPUT: &str = "track.json";
const CROP: &str = "face.png";
const VERSION: &str = "face-track-1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Track {
    pub width: u32,
    pub height: u32,
    /// The avatar's own frame rate (0 for an image).
    pub fps: f64,
    pub boxes: Vec<FaceBox>,
}

#[derive(Debug)]
pub struct FaceTrackJob {
    pub source: SourceFile,
    pub kind: AvatarKind,
}

pub fn plan(avatar: &Avatar, hashes: &SourceHashes) -> Result<(KeySpec, FaceTrackJob)> {
    let spec = KeySpec::new(ArtifactKind::FaceTrack, VERSION, "rustface").source(
        "avatar",
        &avatar.source.rel,
        hashes.hash(&avatar.source)?,
    );
    let job = FaceTrackJob {
        source: avatar.source.clone(),
        kind: avatar.kind,
    };
    Ok((spec, job))
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

impl FaceTrackJob {
    pub fn run(&self, _node: &Node, dir: &Path) -> Result<Made> {
        let (frames, fps) = load_frames(&self.source, self.kind)?;
        let boxes = rustface::track(&frames).map_err(|no_face| Error::NoFace {
            file: self.source.rel.clone(),
            frame: no_face.frame,
        })?;
        let track = Track {
            width: frames[0].width,
            height: frames[0].height,
            fps,
            boxes,
        };
        let path = dir.join(OUTPUT);
        let json = serde_json::to_vec(&track).expect("track serialises");
        std::fs::write(&path, json).map_err(|e| Error::io("cannot write", &path, e))?;
        save_crop(&frames[0], &track.boxes[0], &dir.join(CROP))?;
        read_track(&path)?;
        Ok(Made::cpu(vec![OUTPUT, CROP]))
    }
}

pub fn read_track(path: &Path) -> Result<Track> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Other(format!("{} is not a face track: {e}", path.display())))
}

fn save_crop(frame: &Frame, face: &FaceBox, path: &Path) -> Result<()> {
    let crop = face.padded(0.1, 0.1, 0.1, 0.1, frame.width, frame.height);
    let (x0, y0) = (crop.x.max(0.0) as u32, crop.y.max(0.0) as u32);
    let w = (crop.w as u32).clamp(1, frame.width - x0);
    let h = (crop.h as u32).clamp(1, frame.height - y0);
    let mut image = image::RgbImage::new(w, h);
    for (x, y, pixel) in image.enumerate_pixels_mut() {
        *pixel = image::Rgb(frame.pixel(x0 + x, y0 + y));
    }
    image
        .save(path)
        .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))
}
