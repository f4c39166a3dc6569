//! Finds the avatar's face in every frame with rustface's built-in SeetaFace detector, so
//! lip-sync knows where the mouth is without any downloaded model. The model ships inside
//! the binary; a face track is detected, gap-filled and smoothed so the mouth does not jitter.
//!
//! With render's face landmark model installed (`face_model.rs`), the box is only the
//! start: `run` cuts a context patch around it on every frame, the model finds the 468
//! landmarks on the GPU lane (two passes in one call, `face/facemesh.rs`), and `finish` maps
//! them back to the image, fills low-score frames from their neighbours and smooths them
//! over time for videos.

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    read_f32, write_f32, Engine, LaneCall, LaneDone, Made, ModelCall, Resource, Step, Task,
};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::face::facemesh::{self, OUT_LEN};
use crate::frame::{FaceBox, Frame};
use crate::manifest::{AvatarKind, Face, SourceFile};
use crate::media;
use crate::stage::face_track::{self, Track, CROP, OUTPUT, WORKING};

/// The face-track engine: the detector on every avatar frame, then the landmark model when
/// render has one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Rustface {
    pub source: SourceFile,
    pub kind: AvatarKind,
    #[serde(default)]
    pub landmarks: Option<LandmarkModel>,
    /// A large still avatar is worked at this longest side (`face_track::work_side`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_side: Option<u32>,
    /// `face`: the avatar is this one of the two people its picture shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face: Option<Face>,
}

/// The landmark model a face track runs (`face_model.rs` found it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LandmarkModel {
    /// Its name, which is its lane group.
    pub model: String,
    pub file: std::path::PathBuf,
    /// The blake3 that model.toml pins (and the key holds).
    pub blake3: String,
    pub batch_size: usize,
    pub device: Device,
}

/// The boxes, kept in the job folder between `run` and `finish` (so `finish` need not
/// decode and detect again).
const BOXES_FILE: &str = "boxes.json";
const CONTEXT_FILE: &str = "context.f32";
const LANDMARKS_FILE: &str = "landmarks.f32";

impl Engine for Rustface {
    fn resource(&self) -> Resource {
        match &self.landmarks {
            Some(model) => Resource::Gpu {
                group: model.model.clone(),
                vram: None,
            },
            None => Resource::Cpu,
        }
    }

    fn run(&self, _job: &Task, dir: &Path) -> Result<Step> {
        let (frames, fps) = face_track::load_frames(&self.source, self.kind, self.work_side)?;
        // The scaled copy every clip is made from, so none decodes the large original.
        let working = self.work_side.is_some() && self.kind == AvatarKind::Image;
        if working {
            let path = dir.join(WORKING);
            media::write_png(&frames[0], &path).map_err(|detail| {
                Error::Other(format!("cannot write {}: {detail}", path.display()))
            })?;
        }
        let boxes = match self.face {
            Some(face) => vec![one_of_two(&frames[0], face, &self.source)?],
            None => track(&frames).map_err(|no_face| Error::NoFace {
                file: self.source.rel.clone(),
                frame: no_face.frame,
            })?,
        };
        let track = Track {
            width: frames[0].width,
            height: frames[0].height,
            fps,
            boxes,
            landmarks: Vec::new(),
        };
        save_crop(&frames[0], &track.boxes[0], &dir.join(CROP))?;
        let Some(model) = &self.landmarks else {
            face_track::write_track(&dir.join(OUTPUT), &track)?;
            let outputs: &[&str] = if working {
                &[OUTPUT, CROP, WORKING]
            } else {
                &[OUTPUT, CROP]
            };
            return Ok(Step::Done(Made::cpu(outputs)));
        };
        check_pin(model)?;
        let context = facemesh::context_inputs(&frames, &track.boxes);
        write_f32(&dir.join(CONTEXT_FILE), &context)?;
        face_track::write_track(&dir.join(BOXES_FILE), &track)?;
        Ok(Step::Lane(LaneCall::Model(ModelCall {
            model: model.model.clone(),
            file: model.file.clone(),
            device: model.device,
            contract: facemesh::CONTRACT.into(),
            batch_size: model.batch_size,
            frames: frames.len(),
            inputs: std::collections::BTreeMap::from([(
                "context".to_string(),
                dir.join(CONTEXT_FILE),
            )]),
            output: dir.join(LANDMARKS_FILE),
        })))
    }

    /// Maps the model's landmarks back to the frames and writes the track.
    fn finish(&self, _job: &Task, dir: &Path, done: LaneDone) -> Result<Made> {
        let mut track = face_track::read_track(&dir.join(BOXES_FILE))?;
        let output = read_f32(&dir.join(LANDMARKS_FILE), track.boxes.len() * OUT_LEN)?;
        let video = self.kind == AvatarKind::Video;
        track.landmarks = facemesh::to_track(&output, &track.boxes, video);
        face_track::write_track(&dir.join(OUTPUT), &track)?;
        for scratch in [BOXES_FILE, CONTEXT_FILE, LANDMARKS_FILE] {
            let path = dir.join(scratch);
            std::fs::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
        }
        let mut outputs = vec![OUTPUT.to_string(), CROP.to_string()];
        if dir.join(WORKING).exists() {
            outputs.push(WORKING.to_string());
        }
        Ok(Made {
            outputs,
            device: done.device,
            precision: done.precision,
            batch_size: done.batch_size,
            peak_memory_bytes: done.peak_memory_bytes,
            loudness: None,
        })
    }
}

/// The face `face` of the picture of two people `frame` (the avatar's `source`, a still:
/// the manifest refuses `face` on a video), or why there is none.
fn one_of_two(frame: &Frame, face: Face, source: &SourceFile) -> Result<FaceBox> {
    FaceDetector::new()
        .detect_one_of_two(frame, face)
        .map_err(|faces| {
            Error::Other(format!(
                "avatar image `{}` shows {faces} faces at {}×{} pixels, and `face = \"{}\"` picks one of exactly two",
                source.rel,
                frame.width,
                frame.height,
                face.name()
            ))
        })
}

/// The weights must be the ones model.toml pins (and the key names): a file changed since
/// the export would make tracks under another model's key.
fn check_pin(model: &LandmarkModel) -> Result<()> {
    let hash = crate::files::hash_file(&model.file)?.hex();
    if hash != model.blake3 {
        return Err(Error::Other(format!(
            "the face landmark model `{}` does not match the blake3 pinned in its model.toml (pinned {}…, file {}…); run ./tools/setup to export it again",
            model.file.display(),
            &model.blake3[..12],
            &hash[..12]
        )));
    }
    Ok(())
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

/// rustface's frontal-face model, copied into `OUT_DIR` by build.rs.
static MODEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));

/// Longest run of frames without a detection that is bridged from its neighbours.
const MAX_GAP: usize = 5;

/// Frames averaged when smoothing a track (centred).
const SMOOTH_WINDOW: usize = 5;

/// An avatar in which no face could be followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no face found in frame {frame}")]
pub struct NoFace {
    /// First frame (0-based) of the stretch where the face was lost.
    pub frame: usize,
}

/// rustface's detector set up for talking-head portraits.
pub struct FaceDetector {
    inner: Box<dyn rustface::Detector>,
}

impl Default for FaceDetector {
    fn default() -> Self {
        FaceDetector::new()
    }
}

impl FaceDetector {
    pub fn new() -> FaceDetector {
        // The model is compiled in and known good, so failing to parse it is a build bug.
        let model = rustface::read_model(std::io::Cursor::new(MODEL))
            .expect("embedded SeetaFace model parses");
        let mut inner = rustface::create_detector_with_model(model);
        inner.set_min_face_size(MIN_SIDE);
        inner.set_score_thresh(2.0);
        inner.set_pyramid_scale_factor(PYRAMID_STEP as f32);
        inner.set_slide_window_step(4, 4);
        FaceDetector { inner }
    }

    /// The face that speaks: the largest in the frame, if any. A second face (a photo on the
    /// wall, someone behind) is smaller as a rule, and a score would pick among them at random.
    /// When the folder loads, an avatar image with several faces is reported as a warning.
    pub fn detect(&mut self, frame: &Frame) -> Option<FaceBox> {
        self.faces(frame).into_iter().next()
    }

    /// The face in a still picture, read finer than one detection gives: the detector's
    /// boxes come in the steps of its pyramid (scales 0.8 apart), so one reading can be most
    /// of a step off (a face framed at 40 % of the frame would show at 44 %). The picture is
    /// read at four scales spread over one step, and the face's boxes averaged.
    pub fn detect_still(&mut self, frame: &Frame) -> Option<FaceBox> {
        let first = self.detect(frame)?;
        Some(self.finer(frame, first, |detector, scaled, _| detector.detect(scaled)))
    }

    /// Face `face` of a picture of two people (`face = "left"` on an avatar): the two faces
    /// ordered left to right by their centres, the one named read finer as
    /// [`detect_still`](Self::detect_still) reads the largest. `Err` holds how many faces
    /// the picture shows when they are not two.
    pub fn detect_one_of_two(&mut self, frame: &Frame, face: Face) -> Result<FaceBox, usize> {
        let mut faces = self.faces(frame);
        if faces.len() != 2 {
            return Err(faces.len());
        }
        faces.sort_by(|a, b| a.centre().0.total_cmp(&b.centre().0));
        let first = faces[face.index()];
        Ok(self.finer(frame, first, |detector, scaled, k| {
            let (x, y) = first.centre();
            let off = |b: &FaceBox| {
                let (bx, by) = b.centre();
                (bx / k - x).abs() + (by / k - y).abs()
            };
            (detector.faces(scaled).into_iter()).min_by(|a, b| off(a).total_cmp(&off(b)))
        }))
    }

    /// `first`, the face found in the still `frame`, averaged with its readings at the
    /// other scales of one pyramid step (`find`: the face a scaled copy shows, given the
    /// scale).
    fn finer(
        &mut self,
        frame: &Frame,
        first: FaceBox,
        mut find: impl FnMut(&mut Self, &Frame, f32) -> Option<FaceBox>,
    ) -> FaceBox {
        let (mut sum, mut n) = ([0.0f64; 4], 0.0);
        for i in 0..STILL_READINGS {
            let k = PYRAMID_STEP.powf(f64::from(i) / f64::from(STILL_READINGS));
            let found = if i == 0 {
                Some(first)
            } else {
                find(self, &frame.scaled(k), k as f32)
            };
            // The same face, seen at this scale (a miss or another face is left out).
            let Some(b) = found.filter(|b| {
                let k = k as f32;
                (b.centre().0 / k - first.centre().0).abs() < first.w / 4.0
                    && (b.centre().1 / k - first.centre().1).abs() < first.h / 4.0
            }) else {
                continue;
            };
            for (s, v) in sum.iter_mut().zip([b.x, b.y, b.w, b.h]) {
                *s += f64::from(v) / k;
            }
            n += 1.0;
        }
        let [x, y, w, h] = sum.map(|s| (s / n) as f32);
        FaceBox { x, y, w, h }
    }

    /// Every face in the frame, the largest first.
    pub fn faces(&mut self, frame: &Frame) -> Vec<FaceBox> {
        // The detector scans 40 px windows and panics on malformed images.
        let expected = frame.width as usize * frame.height as usize * 3;
        if frame.width < MIN_SIDE || frame.height < MIN_SIDE || frame.data.len() != expected {
            return Vec::new();
        }
        let gray = frame.to_gray();
        let image = rustface::ImageData::new(&gray, frame.width, frame.height);
        let mut faces: Vec<FaceBox> = (self.inner.detect(&image).iter())
            .map(|face| {
                let b = face.bbox();
                FaceBox {
                    x: b.x() as f32,
                    y: b.y() as f32,
                    w: b.width() as f32,
                    h: b.height() as f32,
                }
            })
            .collect();
        faces.sort_by(|a, b| (b.w * b.h).total_cmp(&(a.w * a.h)));
        faces
    }
}

/// The scale between two levels of the detector's image pyramid.
const PYRAMID_STEP: f64 = 0.8;
/// Readings of a still picture, spread over one pyramid step (see
/// [`FaceDetector::detect_still`]).
const STILL_READINGS: u32 = 4;

/// The smallest face the detector finds, in pixels, so the smallest frame it can read.
pub const MIN_SIDE: u32 = 40;

/// One face box per frame: detected in parallel, short misses bridged from the
/// neighbouring detections, then smoothed so the box does not jitter between frames. A
/// still picture's one box is read finer ([`FaceDetector::detect_still`]): framing on the
/// face sizes the crop by it. (A video's frames are read once each; its framing takes the
/// median box, which evens out some of the steps.)
pub fn track(frames: &[Frame]) -> Result<Vec<FaceBox>, NoFace> {
    if let [still] = frames {
        return FaceDetector::new()
            .detect_still(still)
            .map(|face| vec![face])
            .ok_or(NoFace { frame: 0 });
    }
    let detections: Vec<Option<FaceBox>> = frames
        .par_iter()
        .map_init(FaceDetector::new, |detector, frame| detector.detect(frame))
        .collect();
    let filled = fill_gaps(detections)?;
    Ok(smooth(&filled))
}

/// Replaces missed detections with boxes interpolated from the nearest detections on
/// either side (or held from the only side there is), when the miss lasts at most
/// `MAX_GAP` frames.
fn fill_gaps(detections: Vec<Option<FaceBox>>) -> Result<Vec<FaceBox>, NoFace> {
    let n = detections.len();
    let mut filled = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        if let Some(face) = detections[i] {
            filled.push(face);
            i += 1;
            continue;
        }
        let start = i;
        let end = (start..n).find(|&j| detections[j].is_some()).unwrap_or(n);
        let before = start.checked_sub(1).and_then(|j| detections[j]);
        let after = detections.get(end).copied().flatten();
        let gap = end - start;
        match (before, after) {
            (Some(a), Some(b)) if gap <= MAX_GAP => {
                for k in 1..=gap {
                    filled.push(a.lerp(&b, k as f32 / (gap + 1) as f32));
                }
            }
            (Some(held), None) | (None, Some(held)) if gap <= MAX_GAP => {
                filled.extend(std::iter::repeat_n(held, gap));
            }
            _ => return Err(NoFace { frame: start }),
        }
        i = end;
    }
    Ok(filled)
}

/// Centred moving average over `SMOOTH_WINDOW` frames; at the ends the edge box is
/// repeated so a still face stays exactly still.
fn smooth(track: &[FaceBox]) -> Vec<FaceBox> {
    let n = track.len();
    let half = (SMOOTH_WINDOW / 2) as isize;
    (0..n as isize)
        .map(|i| {
            let mut sum = [0.0f32; 4];
            for k in -half..=half {
                let b = track[(i + k).clamp(0, n as isize - 1) as usize];
                sum[0] += b.x;
                sum[1] += b.y;
                sum[2] += b.w;
                sum[3] += b.h;
            }
            let count = SMOOTH_WINDOW as f32;
            FaceBox {
                x: sum[0] / count,
                y: sum[1] / count,
                w: sum[2] / count,
                h: sum[3] / count,
            }
        })
        .collect()
}

/// The demo's NASA astronaut portrait (public domain, from scikit-image's sample data): a
/// real face for detector and lip-sync tests.
#[cfg(test)]
pub(crate) fn test_portrait() -> Frame {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/avatars/astronaut.png");
    let image = image::open(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_rgb8();
    Frame::from_rgb(image.width(), image.height(), image.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, w: f32, h: f32) -> FaceBox {
        FaceBox { x, y, w, h }
    }

    /// One reading of the portrait at 0.75 of its size puts the face 8 % taller than at
    /// the other scales (a pyramid step); the finer reading holds within 5 % at all of them.
    #[test]
    fn a_still_face_reads_the_same_size_at_every_scale() {
        let portrait = test_portrait();
        let mut detector = FaceDetector::new();
        let scales = (0..12).map(|i| 0.6 * 1.25f64.powf(f64::from(i) / 6.0));
        let heights = |read: &mut dyn FnMut(&Frame) -> Option<FaceBox>| -> Vec<f64> {
            (scales.clone())
                .map(|k| f64::from(read(&portrait.scaled(k)).unwrap().h) / k)
                .collect()
        };
        let spread = |heights: &[f64]| {
            let mut sorted = heights.to_vec();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            (heights.iter().map(|h| (h / median - 1.0).abs())).fold(0.0, f64::max)
        };
        let one = spread(&heights(&mut |f| detector.detect(f)));
        let fine = spread(&heights(&mut |f| detector.detect_still(f)));
        assert!(one > 0.05, "one reading's spread {one:.3}");
        assert!(fine <= 0.05, "the finer reading's spread {fine:.3}");
    }

    #[test]
    fn finds_the_astronauts_face() {
        let portrait = test_portrait();
        let found = FaceDetector::new()
            .detect(&portrait)
            .expect("a face in the portrait");
        let (cx, cy) = found.centre();
        // Her face spans about x 170..280, y 50..185 in the 512x512 photo.
        assert!((190.0..260.0).contains(&cx), "{found:?}");
        assert!((90.0..150.0).contains(&cy), "{found:?}");
        assert!((70.0..160.0).contains(&found.w), "{found:?}");
        assert!((70.0..160.0).contains(&found.h), "{found:?}");
    }

    /// The portrait pasted twice on a grey canvas: at half size on the left, whole on the
    /// right.
    fn two_faces() -> Frame {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/avatars/astronaut.png");
        let portrait = image::open(path).unwrap().to_rgb8();
        let half = image::imageops::resize(&portrait, 256, 256, image::imageops::Triangle);
        let mut canvas = image::RgbImage::from_pixel(800, 512, image::Rgb([128, 128, 128]));
        image::imageops::overlay(&mut canvas, &half, 0, 128);
        image::imageops::overlay(&mut canvas, &portrait, 288, 0);
        Frame::from_rgb(800, 512, canvas.into_raw())
    }

    #[test]
    fn the_demo_avatars_show_one_face_each() {
        for name in ["astronaut", "camera"] {
            let path = format!("{}/avatars/{name}.png", env!("CARGO_MANIFEST_DIR"));
            let image = image::open(&path).unwrap().to_rgb8();
            let frame = Frame::from_rgb(image.width(), image.height(), image.into_raw());
            assert_eq!(FaceDetector::new().faces(&frame).len(), 1, "{name}");
        }
    }

    #[test]
    fn of_several_faces_the_largest_is_followed() {
        let frame = two_faces();
        let faces = FaceDetector::new().faces(&frame);
        assert_eq!(faces.len(), 2, "{faces:?}");
        let (large, small) = (faces[0], faces[1]);
        assert!(large.x > 288.0 && small.x < 256.0, "{faces:?}");
        assert!(large.w > 1.5 * small.w, "{faces:?}");
        assert_eq!(FaceDetector::new().detect(&frame), Some(large));
    }

    #[test]
    fn of_two_faces_each_is_named_by_its_side() {
        let frame = two_faces();
        let mut detector = FaceDetector::new();
        let left = detector.detect_one_of_two(&frame, Face::Left).unwrap();
        let right = detector.detect_one_of_two(&frame, Face::Right).unwrap();
        // The half-size portrait at x 0..256, the whole one at x 288..800.
        assert!(left.x >= 0.0 && left.x + left.w <= 256.0, "{left:?}");
        assert!(right.x >= 288.0 && right.x + right.w <= 800.0, "{right:?}");
        // The smaller face is followed though the larger is what `detect` picks.
        assert!(right.w > 1.5 * left.w, "{left:?} {right:?}");
        // Read finer, as a still's one face is.
        let first = detector.faces(&frame)[1];
        assert!(
            (left.x - first.x).abs() < left.w / 4.0,
            "{left:?} {first:?}"
        );
        assert_eq!(
            detector.detect_one_of_two(&test_portrait(), Face::Left),
            Err(1)
        );
    }

    #[test]
    fn tracks_a_still_portrait_without_drift() {
        let portrait = test_portrait();
        let frames = vec![portrait; 3];
        let boxes = track(&frames).unwrap();
        assert_eq!(boxes.len(), 3);
        let single = FaceDetector::new().detect(&frames[0]).unwrap();
        for b in &boxes {
            assert!((b.x - single.x).abs() < 1e-3 && (b.h - single.h).abs() < 1e-3);
        }
    }

    #[test]
    fn flat_grey_image_has_no_face() {
        let grey = Frame::from_rgb(256, 256, vec![128; 256 * 256 * 3]);
        assert_eq!(track(&[grey]), Err(NoFace { frame: 0 }));
    }

    #[test]
    fn tiny_or_malformed_frames_have_no_face() {
        let mut detector = FaceDetector::new();
        assert_eq!(detector.detect(&Frame::new(0, 0)), None);
        assert_eq!(detector.detect(&Frame::new(20, 300)), None);
        let broken = Frame {
            width: 100,
            height: 100,
            data: vec![0; 10],
        };
        assert_eq!(detector.detect(&broken), None);
    }

    #[test]
    fn no_face_names_the_frame() {
        assert_eq!(NoFace { frame: 7 }.to_string(), "no face found in frame 7");
    }

    #[test]
    fn short_gap_is_interpolated() {
        let a = face(0.0, 10.0, 100.0, 100.0);
        let b = face(40.0, 10.0, 140.0, 100.0);
        let filled = fill_gaps(vec![Some(a), None, None, None, Some(b)]).unwrap();
        assert_eq!(filled.len(), 5);
        assert_eq!(filled[0], a);
        assert_eq!(filled[2], face(20.0, 10.0, 120.0, 100.0));
        assert_eq!(filled[1].x, 10.0);
        assert_eq!(filled[3].x, 30.0);
        assert_eq!(filled[4], b);
    }

    #[test]
    fn gaps_at_the_ends_hold_the_nearest_face() {
        let a = face(5.0, 6.0, 50.0, 60.0);
        let b = face(9.0, 6.0, 50.0, 60.0);
        let filled = fill_gaps(vec![None, None, Some(a), Some(b), None]).unwrap();
        assert_eq!(filled, vec![a, a, a, b, b]);
    }

    #[test]
    fn long_gap_is_an_error_at_its_first_frame() {
        let a = face(0.0, 0.0, 50.0, 50.0);
        let mut detections = vec![Some(a), Some(a)];
        detections.extend(std::iter::repeat_n(None, MAX_GAP + 1));
        detections.push(Some(a));
        assert_eq!(fill_gaps(detections), Err(NoFace { frame: 2 }));

        // Exactly MAX_GAP is still bridged.
        let mut detections = vec![Some(a)];
        detections.extend(std::iter::repeat_n(None, MAX_GAP));
        detections.push(Some(a));
        assert_eq!(fill_gaps(detections).unwrap().len(), MAX_GAP + 2);

        let mut trailing = vec![Some(a)];
        trailing.extend(std::iter::repeat_n(None, MAX_GAP + 1));
        assert_eq!(fill_gaps(trailing), Err(NoFace { frame: 1 }));
    }

    #[test]
    fn no_detection_at_all_is_frame_zero() {
        assert_eq!(fill_gaps(vec![None]), Err(NoFace { frame: 0 }));
        assert_eq!(fill_gaps(vec![None; 3]), Err(NoFace { frame: 0 }));
    }

    #[test]
    fn smoothing_keeps_a_still_face_still() {
        let still = vec![face(12.5, 30.0, 80.0, 90.0); 9];
        assert_eq!(smooth(&still), still);
        assert_eq!(smooth(&still[..1]), still[..1].to_vec());
        assert!(smooth(&[]).is_empty());
    }

    #[test]
    fn smoothing_reduces_jitter() {
        let jittery: Vec<FaceBox> = (0..20)
            .map(|i| {
                let wobble = if i % 2 == 0 { 4.0 } else { -4.0 };
                face(100.0 + wobble, 50.0 - wobble, 80.0 + wobble, 80.0)
            })
            .collect();
        let smoothed = smooth(&jittery);
        let step = |t: &[FaceBox]| -> f32 {
            t.windows(2).map(|w| (w[1].x - w[0].x).abs()).sum::<f32>() / (t.len() - 1) as f32
        };
        assert!(step(&smoothed) < step(&jittery) / 4.0);
        // Still centred on the true position.
        for b in &smoothed[2..18] {
            assert!((b.x - 100.0).abs() <= 1.0, "{b:?}");
            assert!((b.y - 50.0).abs() <= 1.0, "{b:?}");
        }
    }

    #[test]
    fn padding_grows_and_clamps_to_the_frame() {
        let b = face(100.0, 100.0, 100.0, 50.0);
        let p = b.padded(0.2, 0.1, 0.5, 0.0, 1000, 1000);
        assert_eq!(p, face(50.0, 90.0, 150.0, 65.0));
        let edge = face(10.0, 10.0, 100.0, 100.0).padded(0.5, 0.5, 0.5, 0.5, 150, 130);
        assert_eq!(edge, face(0.0, 0.0, 150.0, 130.0));
    }
}
