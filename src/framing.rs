//! Framing: how a line's clip fills the scene's frame — the whole picture fitted (bars
//! where the shapes differ), the picture cropped to fill the frame, or framed on the face
//! the way a camera operator frames a presenter: the face box at a chosen share of the
//! frame's height, with a chosen headroom above it, centred across.
//!
//! The crop is worked out here, from the avatar's face track, in fractions of the picture
//! (not pixels): the scene's ffmpeg graph applies it to whatever size the clip has (a
//! command engine may give another size than the avatar's) without probing it. It never
//! asks for picture the avatar does not have — a crop that would reach past an edge is
//! shifted inside, and one larger than the picture is shrunk (the face then shows larger
//! than asked) — so a framed scene never has bars. A video avatar gets one steady crop
//! for all its frames, from the median box of its track: a locked-off camera does not
//! follow every nod, so the frame cannot jitter.

use serde::{Deserialize, Serialize};

use crate::frame::FaceBox;

/// How a scene's lines fill its frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Framing {
    /// The whole picture, as large as fits (today's look: bars where the shapes differ).
    Fit,
    /// Scaled to cover the frame, the middle kept.
    Fill,
    /// On the face: `size` is the face box's height and `headroom` the space above it,
    /// both as fractions of the frame's height.
    Face { size: f64, headroom: f64 },
}

impl Framing {
    /// The built-in framing: the whole picture, as before framing could be chosen.
    pub const DEFAULT: Framing = Framing::Fit;
    /// The face box at 40 % of the frame's height: a presenter's close-up.
    pub const DEFAULT_FACE_SIZE: f64 = 0.4;
    /// 15 % of the frame above the face box puts the eyes near the upper third.
    pub const DEFAULT_HEADROOM: f64 = 0.15;
    /// What `framing = "..."` may say.
    pub const NAMES: [&'static str; 3] = ["fit", "fill", "face"];
}

/// A rectangle of a picture in fractions of its width (`x`, `w`) and height (`y`, `h`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crop {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// The crop of a `width`×`height` picture that frames `face` (in its pixels) in a frame
/// of `aspect` (width / height): the face box `size` of the crop's height, `headroom` of
/// it above the box (at most what leaves the whole box in the frame), centred across —
/// as nearly as the picture allows, never reaching past its edges.
pub fn face_crop(
    width: u32,
    height: u32,
    face: &FaceBox,
    aspect: f64,
    size: f64,
    headroom: f64,
) -> Crop {
    let (iw, ih) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let mut h = f64::from(face.h) / size;
    let mut w = h * aspect;
    // More picture than there is: the largest crop of the frame's shape that fits.
    let over = (w / iw).max(h / ih);
    if over > 1.0 {
        (w, h) = (w / over, h / over);
    }
    let centre = f64::from(face.x) + f64::from(face.w) / 2.0;
    let headroom = headroom.min((1.0 - f64::from(face.h) / h).max(0.0));
    let x = (centre - w / 2.0).clamp(0.0, iw - w);
    let y = (f64::from(face.y) - headroom * h).clamp(0.0, ih - h);
    Crop {
        x: x / iw,
        y: y / ih,
        w: w / iw,
        h: h / ih,
    }
}

/// One box for a whole track, so the framing holds still: the median of the boxes'
/// centres and sizes (a few stray frames do not move it). None for an empty track.
pub fn steady_box(boxes: &[FaceBox]) -> Option<FaceBox> {
    if boxes.is_empty() {
        return None;
    }
    let median = |value: fn(&FaceBox) -> f32| {
        let mut values: Vec<f32> = boxes.iter().map(value).collect();
        values.sort_by(f32::total_cmp);
        values[values.len() / 2]
    };
    let (cx, cy) = (median(|b| b.centre().0), median(|b| b.centre().1));
    let (w, h) = (median(|b| b.w), median(|b| b.h));
    Some(FaceBox {
        x: cx - w / 2.0,
        y: cy - h / 2.0,
        w,
        h,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, w: f32, h: f32) -> FaceBox {
        FaceBox { x, y, w, h }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_face_with_room_is_framed_at_its_size_centred_below_its_headroom() {
        // A 100 px face in the middle of a 1000×1000 picture, for a 16:9 frame.
        let crop = face_crop(
            1000,
            1000,
            &face(450.0, 400.0, 100.0, 100.0),
            16.0 / 9.0,
            0.4,
            0.15,
        );
        // 250 px tall (100 / 0.4), 444.4 wide, centred on x = 500, 37.5 px above the face.
        assert!(close(crop.h, 0.25) && close(crop.w, 250.0 * 16.0 / 9.0 / 1000.0));
        assert!(close(crop.x + crop.w / 2.0, 0.5));
        assert!(close(crop.y, (400.0 - 37.5) / 1000.0));
        // The face's share of the crop's height is the size asked for.
        assert!(close(100.0 / (crop.h * 1000.0), 0.4));
    }

    #[test]
    fn a_crop_near_an_edge_shifts_inside_the_picture() {
        let crop = face_crop(1000, 1000, &face(0.0, 10.0, 100.0, 100.0), 1.0, 0.4, 0.15);
        assert!(close(crop.x, 0.0) && close(crop.y, 0.0));
        let crop = face_crop(
            1000,
            1000,
            &face(900.0, 880.0, 100.0, 100.0),
            1.0,
            0.4,
            0.15,
        );
        assert!(close(crop.x + crop.w, 1.0) && close(crop.y + crop.h, 1.0));
    }

    #[test]
    fn a_crop_larger_than_the_picture_shrinks_to_it_and_the_face_shows_larger() {
        // 9:16 of a 288×384 portrait asking for a small face: the full height is too wide.
        let crop = face_crop(
            288,
            384,
            &face(100.0, 100.0, 80.0, 80.0),
            16.0 / 9.0,
            0.1,
            0.15,
        );
        assert!(close(crop.w, 1.0) && crop.h <= 1.0);
        assert!(close(crop.w * 288.0 / (crop.h * 384.0), 16.0 / 9.0));
        assert!(80.0 / (crop.h * 384.0) > 0.1);
        for v in [crop.x, crop.y] {
            assert!((0.0..=1.0).contains(&v));
        }
        assert!(crop.y + crop.h <= 1.0 + 1e-9);
    }

    #[test]
    fn headroom_never_pushes_the_face_out_of_the_bottom() {
        let crop = face_crop(1000, 1000, &face(450.0, 450.0, 100.0, 100.0), 1.0, 0.9, 0.5);
        let bottom = (450.0 + 100.0) / 1000.0;
        assert!(crop.y + crop.h >= bottom - 1e-9);
    }

    #[test]
    fn a_steady_box_ignores_stray_frames() {
        let mut boxes = vec![face(100.0, 50.0, 40.0, 40.0); 9];
        boxes[3] = face(300.0, 200.0, 90.0, 90.0);
        assert_eq!(steady_box(&boxes), Some(face(100.0, 50.0, 40.0, 40.0)));
        assert_eq!(steady_box(&[]), None);
    }
}
