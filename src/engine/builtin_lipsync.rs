//! The built-in face: lip-sync that runs on the CPU with no model of its own beyond the
//! face track's landmarks; its machinery is in `src/face/`. Speech becomes mouth shapes
//! (`viseme.rs`), the clip's key seeds blinks and, for a still portrait, an idle sway
//! (`idle.rs`), and each frame's landmarks move for them (`face_rig.rs`) and carry the
//! pixels with a mesh warp (`face_warp.rs`).
//!
//! A face track without landmarks (render's landmark model not installed) falls back to
//! the box-located mouth below: a warp of the region where a frontal face's mouth
//! usually is, with a dark opening. It is what always works, not what looks best.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::Result;
use crate::face::face_rig::{FaceRig, MouthShape, Pose};
use crate::face::face_warp::sample;
use crate::face::idle::Life;
use crate::face::viseme::mouth_shapes;
use crate::frame::{FaceBox, Frame};
use crate::manifest::AvatarKind;
use crate::stage::lipsync::{AvatarFrames, Inputs, OUTPUT};

/// Enters the clip's key: 2 is the landmark rig (mesh warp, visemes, blinks, idle sway).
pub const VERSION: &str = "builtin-face-2";

/// The clip engine: the avatar's frames with the mouth moved by the speech, blinking.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BuiltinLipsync(pub AvatarFrames);

impl Engine for BuiltinLipsync {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let Inputs {
            audio,
            track,
            frames,
            count,
            sources,
        } = job.clip_inputs(&self.0)?;
        let fps = self.0.fps.as_f64();
        let mut shapes = mouth_shapes(&audio.samples, audio.sample_rate, fps, count);
        // Every clip ends with the mouth closed, so the scene's pause holds a still face.
        if let Some(last) = shapes.last_mut() {
            *last = MouthShape::default();
        }
        // One rig per avatar frame that is shown and has landmarks.
        let mut rigs: Vec<Option<FaceRig>> = (0..frames.len()).map(|_| None).collect();
        for &src in &sources {
            if rigs[src].is_none() {
                let points = track.landmarks.get(src).and_then(|l| l.points.as_ref());
                rigs[src] = points.and_then(|p| FaceRig::new(p));
            }
        }
        let still = self.0.kind == AvatarKind::Image;
        let life = Life::new(job.key.seed(), count as f64 / fps, still);
        let size = (frames[0].width, frames[0].height);
        self.0.encode(job.name, dir, size, count, |i| {
            let src = sources[i];
            match &rigs[src] {
                Some(rig) => {
                    let t = i as f64 / fps;
                    let pose = Pose {
                        mouth: shapes[i],
                        // A video avatar blinks on its own.
                        blink: if still { life.blink(t) } else { 0.0 },
                        head: life.head(t),
                    };
                    rig.pose(&frames[src], &pose)
                }
                None => animate(&frames[src], &track.boxes[src], shapes[i].open),
            }
        })?;
        Ok(Step::Done(Made::cpu(&[OUTPUT])))
    }
}

/// Where the mouth sits in a frame, and the rectangle the animation may touch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MouthRegion {
    /// Centre of the line between the lips.
    pub centre_x: f32,
    pub centre_y: f32,
    /// Half the mouth's width, corner to corner.
    pub half_width: f32,
    /// How far the lower lip drops when fully open.
    pub max_drop: f32,
    /// Distance above the lips over which the upper lip's lift fades out.
    pub reach_up: f32,
    /// Distance below the lips over which the jaw's drop fades out (down past the chin).
    pub reach_down: f32,
    /// Half the width over which the jaw's drop fades out sideways.
    pub reach_side: f32,
    /// Pixel rectangle `[x0, x1) x [y0, y1)`, clamped to the frame; nothing outside changes.
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

// Mouth geometry as fractions of a SeetaFace box, checked on the astronaut portrait.
const MOUTH_Y: f32 = 0.80;
const MOUTH_HALF_WIDTH: f32 = 0.19;
const MAX_DROP: f32 = 0.10;
const REACH_UP: f32 = 0.12;
const REACH_DOWN: f32 = 0.36;
const REACH_SIDE: f32 = 0.34;

/// Share of the opening taken by the upper lip lifting; the jaw does the rest.
const UPPER_LIP_SHARE: f32 = 0.2;

impl MouthRegion {
    pub fn locate(face: &FaceBox, frame_w: u32, frame_h: u32) -> MouthRegion {
        let centre_x = face.x + face.w * 0.5;
        let centre_y = face.y + face.h * MOUTH_Y;
        let reach_up = face.h * REACH_UP;
        let reach_down = face.h * REACH_DOWN;
        let reach_side = face.w * REACH_SIDE;
        let clamp_x = |v: f32| v.clamp(0.0, frame_w as f32) as u32;
        let clamp_y = |v: f32| v.clamp(0.0, frame_h as f32) as u32;
        MouthRegion {
            centre_x,
            centre_y,
            half_width: face.w * MOUTH_HALF_WIDTH,
            max_drop: face.h * MAX_DROP,
            reach_up,
            reach_down,
            reach_side,
            x0: clamp_x((centre_x - reach_side).floor()),
            x1: clamp_x((centre_x + reach_side).ceil() + 1.0),
            y0: clamp_y((centre_y - reach_up).floor()),
            y1: clamp_y((centre_y + reach_down).ceil() + 1.0),
        }
    }

    /// Whether `(x, y)` lies in the region's rectangle.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        (self.x0..self.x1).contains(&x) && (self.y0..self.y1).contains(&y)
    }
}

/// The frame with the mouth opened by `openness` (0 closed .. 1 wide). A closed mouth
/// returns the frame unchanged, byte for byte; only the mouth region's rectangle is touched.
pub fn animate(frame: &Frame, face: &FaceBox, openness: f32) -> Frame {
    let mut out = frame.clone();
    let well_formed = frame.data.len() == frame.width as usize * frame.height as usize * 3;
    // NaN reads as closed.
    let closed = openness.is_nan() || openness <= 0.0;
    if closed || !well_formed || !face_is_finite(face) {
        return out;
    }
    let open = openness.min(1.0);
    let mouth = MouthRegion::locate(face, frame.width, frame.height);
    if mouth.x0 >= mouth.x1 || mouth.y0 >= mouth.y1 || mouth.half_width < 1.0 {
        return out;
    }

    let drop = mouth.max_drop * open * (1.0 - UPPER_LIP_SHARE);
    let lift = mouth.max_drop * open * UPPER_LIP_SHARE;
    let feather = feather_width(&mouth);

    for y in mouth.y0..mouth.y1 {
        for x in mouth.x0..mouth.x1 {
            let weight = feather_weight(&mouth, x, y, feather);
            if weight <= 0.0 {
                continue;
            }
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let dx = px - mouth.centre_x;
            let side = jaw_falloff(dx.abs() / mouth.reach_side);
            let lower_shift = drop * side;
            let upper_shift = lift * side;
            let dy = py - mouth.centre_y;

            let warped = if dy >= lower_shift {
                // Jaw and lower lip, pulled down: find where this pixel came from.
                let source_y = invert_drop(dy, lower_shift, mouth.reach_down);
                sample(frame, px, mouth.centre_y + source_y)
            } else if dy <= -upper_shift {
                let source_y = -invert_drop(-dy, upper_shift, mouth.reach_up);
                sample(frame, px, mouth.centre_y + source_y)
            } else {
                // Between the lips: stretched lip seam, with the dark interior over it.
                let seam = sample(frame, px, mouth.centre_y);
                let gap_top = -upper_shift;
                let gap_bottom = lower_shift;
                interior(seam, dx, dy, gap_top, gap_bottom, mouth.half_width)
            };

            let i = (y as usize * frame.width as usize + x as usize) * 3;
            let original = &frame.data[i..i + 3];
            for ((dst, &src), target) in out.data[i..i + 3].iter_mut().zip(original).zip(warped) {
                let blended = src as f32 + (target - src as f32) * weight;
                *dst = blended.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

fn face_is_finite(face: &FaceBox) -> bool {
    [face.x, face.y, face.w, face.h]
        .iter()
        .all(|v| v.is_finite())
}

/// 1 across the mouth, easing to 0 at the edge of the jaw's reach.
fn jaw_falloff(distance: f32) -> f32 {
    1.0 - smoothstep(0.45, 1.0, distance)
}

/// Forward map of a point `d` past the lip line: moved out by `shift` near the lips,
/// fading to no move at `reach`. Returns the source offset for output offset `d`.
fn invert_drop(d: f32, shift: f32, reach: f32) -> f32 {
    if shift <= 0.0 {
        return d;
    }
    // d = s + shift * (1 - smoothstep(0, reach, s)) is monotonic in s (shift < reach),
    // so a few fixed-point steps converge.
    let mut s = (d - shift).max(0.0);
    for _ in 0..6 {
        s = (d - shift * (1.0 - smoothstep(0.0, reach, s))).max(0.0);
    }
    s
}

/// Colour between the lips: a shaded dark ellipse filling the opening, with the
/// stretched lip seam showing only at the mouth corners where the ellipse narrows.
fn interior(
    seam: [f32; 3],
    dx: f32,
    dy: f32,
    gap_top: f32,
    gap_bottom: f32,
    half_width: f32,
) -> [f32; 3] {
    let centre = (gap_top + gap_bottom) * 0.5;
    let half_height = (gap_bottom - gap_top) * 0.5;
    let a = half_width * 0.95;
    if half_height <= 0.0 {
        return seam;
    }
    let u = dx / a;
    let v = (dy - centre) / half_height;
    let r = (u * u + v * v).sqrt();
    // Anti-aliased edge about a pixel wide.
    let edge_px = (1.0 - r) * half_height.min(a);
    let coverage = edge_px.clamp(0.0, 1.0);
    if coverage <= 0.0 {
        return seam;
    }
    // Darkest in the throat at the top, a hint of tongue at the bottom, lips' shadow at
    // the rim.
    let depth = (1.0 - r).clamp(0.0, 1.0).sqrt();
    let tongue = ((v + 0.2) / 1.2).clamp(0.0, 1.0) * depth;
    let throat = [18.0, 6.0, 8.0];
    let tongue_colour = [92.0, 32.0, 36.0];
    let rim = [seam[0] * 0.35, seam[1] * 0.25, seam[2] * 0.25];
    let mut colour = [0.0f32; 3];
    for c in 0..3 {
        let inner = throat[c] + (tongue_colour[c] - throat[c]) * tongue * 0.7;
        let shaded = rim[c] + (inner - rim[c]) * smoothstep(0.0, 0.35, depth);
        colour[c] = seam[c] + (shaded - seam[c]) * coverage;
    }
    colour
}

/// Width of the mask's fade-in from the region's border.
fn feather_width(mouth: &MouthRegion) -> f32 {
    let w = (mouth.x1 - mouth.x0) as f32;
    let h = (mouth.y1 - mouth.y0) as f32;
    (w.min(h) * 0.25).max(1.0)
}

/// Compositing weight: exactly 0 on the region's border rows and columns, rising
/// smoothly to 1 a `feather` inside, so the edit has no seam.
fn feather_weight(mouth: &MouthRegion, x: u32, y: u32, feather: f32) -> f32 {
    let to_edge = (x - mouth.x0)
        .min(mouth.x1 - 1 - x)
        .min(y - mouth.y0)
        .min(mouth.y1 - 1 - y) as f32;
    smoothstep(0.0, feather, to_edge)
}

fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::super::rustface::{test_portrait, FaceDetector};
    use super::*;

    /// A skin-coloured frame with lips and some texture, so warps visibly move pixels.
    fn synthetic_face() -> (Frame, FaceBox) {
        let (w, h) = (200u32, 200u32);
        let mut frame = Frame::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let stripe = ((y * 7 + x * 3) % 23) as u8;
                frame.set_pixel(x, y, [200 - stripe, 150 + stripe, 120 + stripe / 2]);
            }
        }
        let face = FaceBox {
            x: 50.0,
            y: 40.0,
            w: 100.0,
            h: 110.0,
        };
        let mouth = MouthRegion::locate(&face, w, h);
        for y in (mouth.centre_y - 5.0) as u32..(mouth.centre_y + 5.0) as u32 {
            for x in (mouth.centre_x - mouth.half_width) as u32
                ..(mouth.centre_x + mouth.half_width) as u32
            {
                frame.set_pixel(x, y, [170, 60, 70]);
            }
        }
        (frame, face)
    }

    fn mean_change(a: &Frame, b: &Frame, mouth: &MouthRegion) -> f64 {
        let mut total = 0u64;
        let mut count = 0u64;
        for y in mouth.y0..mouth.y1 {
            for x in mouth.x0..mouth.x1 {
                let (p, q) = (a.pixel(x, y), b.pixel(x, y));
                total += (0..3).map(|c| p[c].abs_diff(q[c]) as u64).sum::<u64>();
                count += 3;
            }
        }
        total as f64 / count as f64
    }

    #[test]
    fn closed_mouth_leaves_the_frame_untouched() {
        let (frame, face) = synthetic_face();
        assert_eq!(animate(&frame, &face, 0.0), frame);
        assert_eq!(animate(&frame, &face, -1.0), frame);
        assert_eq!(animate(&frame, &face, f32::NAN), frame);
    }

    #[test]
    fn open_mouth_changes_only_the_mouth_region() {
        let (frame, face) = synthetic_face();
        let mouth = MouthRegion::locate(&face, frame.width, frame.height);
        let opened = animate(&frame, &face, 1.0);
        let mut changed_inside = 0;
        for y in 0..frame.height {
            for x in 0..frame.width {
                let moved = opened.pixel(x, y) != frame.pixel(x, y);
                if mouth.contains(x, y) {
                    changed_inside += moved as usize;
                } else {
                    assert!(!moved, "pixel ({x}, {y}) outside {mouth:?} changed");
                }
            }
        }
        assert!(changed_inside > 200, "only {changed_inside} pixels changed");
        // The opening is dark at the lips' centre.
        let [r, g, b] = opened.pixel(mouth.centre_x as u32, (mouth.centre_y + 3.0) as u32);
        assert!(r < 110 && g < 60 && b < 60, "centre is {:?}", [r, g, b]);
    }

    #[test]
    fn more_openness_changes_more() {
        let (frame, face) = synthetic_face();
        let mouth = MouthRegion::locate(&face, frame.width, frame.height);
        let changes: Vec<f64> = [0.25, 0.5, 1.0]
            .iter()
            .map(|&o| mean_change(&frame, &animate(&frame, &face, o), &mouth))
            .collect();
        assert!(changes[0] > 0.0, "{changes:?}");
        assert!(
            changes[0] < changes[1] && changes[1] < changes[2],
            "{changes:?}"
        );
    }

    #[test]
    fn region_border_is_feathered_to_nothing() {
        let (frame, face) = synthetic_face();
        let mouth = MouthRegion::locate(&face, frame.width, frame.height);
        let opened = animate(&frame, &face, 1.0);
        for x in mouth.x0..mouth.x1 {
            for y in [mouth.y0, mouth.y1 - 1] {
                assert_eq!(opened.pixel(x, y), frame.pixel(x, y), "({x}, {y})");
            }
        }
        for y in mouth.y0..mouth.y1 {
            for x in [mouth.x0, mouth.x1 - 1] {
                assert_eq!(opened.pixel(x, y), frame.pixel(x, y), "({x}, {y})");
            }
        }
    }

    #[test]
    fn mask_is_zero_on_the_border_and_full_in_the_middle() {
        let (frame, face) = synthetic_face();
        let mouth = MouthRegion::locate(&face, frame.width, frame.height);
        let feather = feather_width(&mouth);
        for x in mouth.x0..mouth.x1 {
            assert_eq!(feather_weight(&mouth, x, mouth.y0, feather), 0.0);
            assert_eq!(feather_weight(&mouth, x, mouth.y1 - 1, feather), 0.0);
        }
        for y in mouth.y0..mouth.y1 {
            assert_eq!(feather_weight(&mouth, mouth.x0, y, feather), 0.0);
            assert_eq!(feather_weight(&mouth, mouth.x1 - 1, y, feather), 0.0);
        }
        let inside = feather_weight(&mouth, mouth.x0 + 1, mouth.centre_y as u32, feather);
        assert!(inside > 0.0 && inside < 0.1, "{inside}");
        let middle = feather_weight(
            &mouth,
            mouth.centre_x as u32,
            mouth.centre_y as u32,
            feather,
        );
        assert_eq!(middle, 1.0);
    }

    #[test]
    fn faces_off_the_frame_edge_do_not_panic() {
        let (frame, _) = synthetic_face();
        for face in [
            FaceBox {
                x: -80.0,
                y: 150.0,
                w: 100.0,
                h: 120.0,
            },
            FaceBox {
                x: 500.0,
                y: 500.0,
                w: 100.0,
                h: 100.0,
            },
            FaceBox {
                x: 10.0,
                y: 10.0,
                w: 0.0,
                h: 0.0,
            },
            FaceBox {
                x: f32::NAN,
                y: 10.0,
                w: 50.0,
                h: 50.0,
            },
        ] {
            let _ = animate(&frame, &face, 1.0);
        }
        let broken = Frame {
            width: 10,
            height: 10,
            data: vec![],
        };
        assert_eq!(
            animate(
                &broken,
                &FaceBox {
                    x: 0.0,
                    y: 0.0,
                    w: 10.0,
                    h: 10.0
                },
                1.0
            ),
            broken
        );
    }

    #[test]
    fn opens_the_astronauts_mouth_where_her_mouth_is() {
        let portrait = test_portrait();
        let face = FaceDetector::new().detect(&portrait).unwrap();
        let mouth = MouthRegion::locate(&face, portrait.width, portrait.height);
        // Her lips meet at about (222, 146) in the photo.
        assert!((mouth.centre_x - 222.0).abs() < 8.0, "{mouth:?}");
        assert!((mouth.centre_y - 146.0).abs() < 8.0, "{mouth:?}");
        let opened = animate(&portrait, &face, 1.0);
        let [r, g, b] = opened.pixel(mouth.centre_x as u32, (mouth.centre_y + 2.0) as u32);
        assert!(r < 90 && g < 50 && b < 50, "centre is {:?}", [r, g, b]);
    }

    #[test]
    fn animating_a_portrait_is_fast() {
        let portrait = test_portrait();
        let face = FaceDetector::new().detect(&portrait).unwrap();
        let start = std::time::Instant::now();
        for i in 0..50 {
            std::hint::black_box(animate(&portrait, &face, (i % 10) as f32 / 10.0));
        }
        let each = start.elapsed() / 50;
        // Generous for debug builds on a busy machine; release is far below a millisecond.
        assert!(
            each < std::time::Duration::from_millis(20),
            "{each:?} per frame"
        );
    }

    /// Writes `docs/builtin-face-<portrait>.png`: the face region of each demo portrait,
    /// before (the box-located mouth) above and after (the landmark rig) below, at rest,
    /// opening wider, rounded, and blinking. Run by hand when the face changes:
    /// `cargo test --release --lib write_before_after_sheets -- --ignored` (the committed
    /// copies are then quantised to 256 colours to stay small).
    #[test]
    #[ignore]
    fn write_before_after_sheets() {
        use crate::face::face_rig::HeadMotion;
        let root = env!("CARGO_MANIFEST_DIR");
        for name in ["astronaut", "camera"] {
            let image = image::open(format!("{root}/avatars/{name}.png"))
                .unwrap()
                .to_rgb8();
            let portrait = Frame::from_rgb(image.width(), image.height(), image.into_raw());
            let face = FaceDetector::new().detect(&portrait).unwrap();
            let text =
                std::fs::read_to_string(format!("{root}/tests/fixtures/{name}-landmarks.json"))
                    .unwrap();
            let points: Vec<[f32; 2]> = serde_json::from_str(&text).unwrap();
            let points: Vec<[f32; 3]> = points.iter().map(|p| [p[0], p[1], 0.0]).collect();
            let rig = FaceRig::new(&points).unwrap();
            let shape = |open, round| MouthShape {
                open,
                spread: 0.0,
                round,
            };
            let poses = [
                (shape(0.0, 0.0), 0.0),
                (shape(0.35, 0.0), 0.0),
                (shape(0.7, 0.0), 0.0),
                (shape(1.0, 0.0), 0.0),
                (shape(0.7, 1.0), 0.0),
                (shape(0.0, 0.0), 1.0),
            ];
            // The face and a margin, scaled so each cell is 160 px wide.
            let side = (rig.height() * 1.5) as u32;
            let (cx, cy) = (face.x + face.w / 2.0, face.y + face.h * 0.55);
            let x0 = (cx as i64 - side as i64 / 2).clamp(0, (portrait.width - side) as i64) as u32;
            let y0 = (cy as i64 - side as i64 / 2).clamp(0, (portrait.height - side) as i64) as u32;
            let cell = 160u32;
            let mut sheet = image::RgbImage::new(cell * poses.len() as u32, cell * 2);
            for (k, &(mouth, blink)) in poses.iter().enumerate() {
                let before = animate(&portrait, &face, mouth.open);
                let after = rig.pose(
                    &portrait,
                    &Pose {
                        mouth,
                        blink,
                        head: HeadMotion::default(),
                    },
                );
                for (row, frame) in [before, after].iter().enumerate() {
                    let full =
                        image::RgbImage::from_raw(frame.width, frame.height, frame.data.clone())
                            .unwrap();
                    let crop = image::imageops::crop_imm(&full, x0, y0, side, side).to_image();
                    let scaled = image::imageops::resize(
                        &crop,
                        cell,
                        cell,
                        image::imageops::FilterType::CatmullRom,
                    );
                    image::imageops::replace(
                        &mut sheet,
                        &scaled,
                        (k as u32 * cell) as i64,
                        (row as u32 * cell) as i64,
                    );
                }
            }
            sheet
                .save(format!("{root}/docs/builtin-face-{name}.png"))
                .unwrap();
        }
    }
}
