//! The face landmark model's image side (contract `facemesh`: MediaPipe's Face Mesh, a
//! square RGB crop `[N,3,192,192]` in 0..1 → 468 landmarks in crop pixels and a score).
//!
//! The model wants the face upright and centred, as MediaPipe feeds it: a crop around the
//! detector's box, then a second crop levelled by the eyes that the first pass found and
//! fitted to its landmarks. rustface gives a box but no eyes, so the levelling needs the
//! model's own first pass — and a job has one lane call. So the CPU part sends a *context
//! patch* per frame (1.5× the first crop, same pixel scale), and both passes run in that one
//! call: the worker runs [`two_pass`], which crops the patch, runs the model, levels and
//! re-fits the crop, and runs it again. All the geometry is here, in the library, so it is
//! tested without libtorch; the worker only supplies the model.

use rayon::prelude::*;

use crate::error::Result;
use crate::frame::{FaceBox, Frame};
use crate::stage::face_track::Landmarks;

/// The worker's name for this call: context patches in, two passes, landmarks out.
pub const CONTRACT: &str = "facemesh";
/// The model's input side, in pixels.
pub const SIZE: usize = 192;
/// Landmarks per face.
pub const POINTS: usize = 468;
/// The context patch's side: 1.5× the first crop at the same scale, so the second crop
/// (levelled by up to ≈30°, re-fitted) still lies inside it.
pub const CONTEXT: usize = 288;
/// First crop's side, as a multiple of the larger side of rustface's box: rustface's box
/// is tight (brows to lips), so a little more than MediaPipe's 1.5 on its own detector;
/// the second pass re-fits the crop to the landmarks anyway.
pub const CROP_SCALE: f32 = 1.6;
/// The second crop's side, as a multiple of the landmarks' extent (MediaPipe's tracking
/// crop).
const LANDMARK_SCALE: f32 = 1.5;
/// Below this score a frame's landmarks are not trusted.
pub const MIN_SCORE: f32 = 0.5;
/// The outer eye corners (the subject's right eye is 33, image left): their line gives the
/// roll, as MediaPipe levels its crops.
const EYES: (usize, usize) = (33, 263);

/// One model input, `[3, SIZE, SIZE]`.
pub const CROP_LEN: usize = 3 * SIZE * SIZE;
/// One context patch, `[3, CONTEXT, CONTEXT]`.
pub const CONTEXT_LEN: usize = 3 * CONTEXT * CONTEXT;
/// One frame of the call's output: the landmarks `[468, 3]` in context-patch pixels, then
/// the score.
pub const OUT_LEN: usize = POINTS * 3 + 1;

/// A square region of an image, possibly rotated: `angle` (radians) is the direction of
/// the region's x axis in the image, so a face rolled by `angle` looks level in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    pub side: f32,
    pub angle: f32,
}

impl Roi {
    /// The image point at `(u, v)` of the region, each 0..1 from edge to edge.
    pub fn to_image(&self, u: f32, v: f32) -> (f32, f32) {
        let (dx, dy) = ((u - 0.5) * self.side, (v - 0.5) * self.side);
        let (sin, cos) = self.angle.sin_cos();
        (self.cx + cos * dx - sin * dy, self.cy + sin * dx + cos * dy)
    }

    /// Where the image point `(x, y)` lies in the region, each 0..1 inside it.
    pub fn to_region(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let (sin, cos) = self.angle.sin_cos();
        let (rx, ry) = (cos * dx + sin * dy, -sin * dx + cos * dy);
        (rx / self.side + 0.5, ry / self.side + 0.5)
    }

    /// Landmarks `[x, y, z]` in pixels of a `size` crop of this region → image pixels (z
    /// scaled as x and y are).
    pub fn points_to_image(&self, points: &[f32], size: usize) -> Vec<[f32; 3]> {
        let scale = self.side / size as f32;
        (points.chunks_exact(3))
            .map(|p| {
                let (x, y) = self.to_image(p[0] / size as f32, p[1] / size as f32);
                [x, y, p[2] * scale]
            })
            .collect()
    }

    /// Samples the region into `out`, `[3, size, size]` channel-major, bilinear, from an
    /// image of `width × height` read through `pixel` (RGB, 0..1). Outside the image the
    /// edge is repeated. A region much larger than `size` is averaged over `k × k` samples
    /// per pixel, so a big face does not alias.
    pub fn sample(
        &self,
        (width, height): (usize, usize),
        pixel: impl Fn(usize, usize) -> [f32; 3],
        size: usize,
        out: &mut [f32],
    ) {
        assert_eq!(out.len(), 3 * size * size);
        let k = ((self.side / size as f32).round() as usize).clamp(1, 4);
        let weight = 1.0 / (k * k) as f32;
        let plane = size * size;
        let at = |x: f32, y: f32| -> [f32; 3] {
            // Pixel (i, j) covers [i, i + 1) × [j, j + 1): its centre is at i + 0.5.
            let (x, y) = (x - 0.5, y - 0.5);
            let (x0, y0) = (x.floor(), y.floor());
            let (fx, fy) = (x - x0, y - y0);
            let clamp = |v: f32, max: usize| (v.max(0.0) as usize).min(max - 1);
            let (xa, xb) = (clamp(x0, width), clamp(x0 + 1.0, width));
            let (ya, yb) = (clamp(y0, height), clamp(y0 + 1.0, height));
            let (a, b, c, d) = (pixel(xa, ya), pixel(xb, ya), pixel(xa, yb), pixel(xb, yb));
            let mut rgb = [0.0; 3];
            for ch in 0..3 {
                let top = a[ch] * (1.0 - fx) + b[ch] * fx;
                let bottom = c[ch] * (1.0 - fx) + d[ch] * fx;
                rgb[ch] = top * (1.0 - fy) + bottom * fy;
            }
            rgb
        };
        for row in 0..size {
            for col in 0..size {
                let mut rgb = [0.0; 3];
                for sy in 0..k {
                    for sx in 0..k {
                        let u = (col as f32 + (sx as f32 + 0.5) / k as f32) / size as f32;
                        let v = (row as f32 + (sy as f32 + 0.5) / k as f32) / size as f32;
                        let (x, y) = self.to_image(u, v);
                        let s = at(x, y);
                        for ch in 0..3 {
                            rgb[ch] += s[ch] * weight;
                        }
                    }
                }
                for (ch, value) in rgb.into_iter().enumerate() {
                    out[ch * plane + row * size + col] = value;
                }
            }
        }
    }
}

/// The context patch around a face box, in image pixels (level: video frames are not
/// rolled often enough to guess; the second pass levels).
pub fn context_roi(face: &FaceBox) -> Roi {
    let (cx, cy) = face.centre();
    let crop = CROP_SCALE * face.w.max(face.h);
    Roi {
        cx,
        cy,
        side: crop * (CONTEXT as f32 / SIZE as f32),
        angle: 0.0,
    }
}

/// Writes a frame's context patch, `[3, CONTEXT, CONTEXT]` RGB 0..1.
pub fn context_input(frame: &Frame, face: &FaceBox, out: &mut [f32]) {
    let size = (frame.width as usize, frame.height as usize);
    let pixel = |x: usize, y: usize| {
        let [r, g, b] = frame.pixel(x as u32, y as u32);
        [r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0]
    };
    context_roi(face).sample(size, pixel, CONTEXT, out);
}

/// Every frame's context patch (`frames.len() × CONTEXT_LEN`), each around its box.
pub fn context_inputs(frames: &[Frame], boxes: &[FaceBox]) -> Vec<f32> {
    assert_eq!(frames.len(), boxes.len());
    let mut context = vec![0f32; frames.len() * CONTEXT_LEN];
    context
        .par_chunks_mut(CONTEXT_LEN)
        .zip(frames.par_iter().zip(boxes))
        .for_each(|(out, (frame, face))| context_input(frame, face, out));
    context
}

/// The first crop, in context-patch pixels: its centre `SIZE` square, level.
fn first_roi() -> Roi {
    let centre = CONTEXT as f32 / 2.0;
    Roi {
        cx: centre,
        cy: centre,
        side: SIZE as f32,
        angle: 0.0,
    }
}

/// The roll of a face: the angle of the line between its outer eye corners (0 when level).
pub fn roll(points: &[[f32; 3]]) -> f32 {
    let (a, b) = (points[EYES.0], points[EYES.1]);
    (b[1] - a[1]).atan2(b[0] - a[0])
}

/// MediaPipe's crop from landmarks: levelled by the eyes, centred on the landmarks' extent
/// (measured along the levelled axes) and `LANDMARK_SCALE` times its longer side.
pub fn roi_from_landmarks(points: &[[f32; 3]]) -> Roi {
    let angle = roll(points);
    let (sin, cos) = angle.sin_cos();
    let (mut min, mut max) = ([f32::MAX; 2], [f32::MIN; 2]);
    for p in points {
        let (rx, ry) = (cos * p[0] + sin * p[1], -sin * p[0] + cos * p[1]);
        min = [min[0].min(rx), min[1].min(ry)];
        max = [max[0].max(rx), max[1].max(ry)];
    }
    let (mx, my) = ((min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0);
    Roi {
        cx: cos * mx - sin * my,
        cy: sin * mx + cos * my,
        side: LANDMARK_SCALE * (max[0] - min[0]).max(max[1] - min[1]),
        angle,
    }
}

/// What the model gives for a batch of crops: landmarks `[k, 468, 3]` in crop pixels and
/// scores `[k]`.
pub type ModelOutput = (Vec<f32>, Vec<f32>);

/// Both passes over `n` context patches, with `model` run on a batch of `k` crops
/// (`[k, 3, 192, 192]`) each time. Returns `n × OUT_LEN`: per frame its landmarks in
/// context-patch pixels and its score. A frame keeps its first pass when the second scores
/// lower (the re-fitted crop lost the face).
pub fn two_pass(
    context: &[f32],
    n: usize,
    mut model: impl FnMut(&[f32], usize) -> Result<ModelOutput>,
) -> Result<Vec<f32>> {
    assert_eq!(context.len(), n * CONTEXT_LEN);
    let crops = |rois: &[Roi]| -> Vec<f32> {
        let mut crops = vec![0f32; n * CROP_LEN];
        crops
            .par_chunks_mut(CROP_LEN)
            .zip(context.par_chunks(CONTEXT_LEN))
            .zip(rois.par_iter())
            .for_each(|((out, patch), roi)| {
                let plane = CONTEXT * CONTEXT;
                let pixel = |x: usize, y: usize| {
                    let i = y * CONTEXT + x;
                    [patch[i], patch[plane + i], patch[2 * plane + i]]
                };
                roi.sample((CONTEXT, CONTEXT), pixel, SIZE, out);
            });
        crops
    };
    let run = |model: &mut dyn FnMut(&[f32], usize) -> Result<ModelOutput>, rois: &[Roi]| {
        let (landmarks, scores) = model(&crops(rois), n)?;
        assert_eq!((landmarks.len(), scores.len()), (n * POINTS * 3, n));
        let points: Vec<Vec<[f32; 3]>> = (landmarks.chunks_exact(POINTS * 3))
            .zip(rois)
            .map(|(lm, roi)| roi.points_to_image(lm, SIZE))
            .collect();
        Ok::<_, crate::error::Error>((points, scores))
    };
    let first = vec![first_roi(); n];
    let (points1, scores1) = run(&mut model, &first)?;
    let second: Vec<Roi> = points1.iter().map(|p| roi_from_landmarks(p)).collect();
    let (points2, scores2) = run(&mut model, &second)?;
    let mut out = Vec::with_capacity(n * OUT_LEN);
    for i in 0..n {
        let (points, score) = if scores2[i] >= scores1[i] {
            (&points2[i], scores2[i])
        } else {
            (&points1[i], scores1[i])
        };
        out.extend(points.iter().flatten());
        out.push(score);
    }
    Ok(out)
}

/// Weights of the centred smoothing window over a video's frames (a binomial kernel: it
/// halves frame-to-frame jitter with no lag, and a still face stays exactly still).
const SMOOTH: [f32; 5] = [1.0, 4.0, 6.0, 4.0, 1.0];

/// The track's landmarks from the call's output (`n × OUT_LEN`, context-patch pixels) and
/// each frame's box: in image pixels, low-score frames of a video filled from their
/// neighbours, a video smoothed over time, rounded to 0.01 px.
pub fn to_track(output: &[f32], boxes: &[FaceBox], video: bool) -> Vec<Landmarks> {
    assert_eq!(output.len(), boxes.len() * OUT_LEN);
    let mut frames: Vec<(f32, Option<Vec<[f32; 3]>>)> = (output.chunks_exact(OUT_LEN))
        .zip(boxes)
        .map(|(out, face)| {
            let score = out[POINTS * 3];
            let points = context_roi(face).points_to_image(&out[..POINTS * 3], CONTEXT);
            (score, (score >= MIN_SCORE).then_some(points))
        })
        .collect();
    let mut interpolated = vec![false; frames.len()];
    if video {
        interpolated = fill_gaps(&mut frames);
        smooth(&mut frames);
    }
    (frames.into_iter().zip(interpolated))
        .map(|((score, points), interpolated)| Landmarks {
            score: round(score, 1000.0),
            points: points.map(|p| p.iter().map(|q| q.map(|v| round(v, 100.0))).collect()),
            interpolated,
        })
        .collect()
}

fn round(value: f32, scale: f32) -> f32 {
    (value * scale).round() / scale
}

/// Fills frames without points from the nearest frames with points on either side
/// (linearly), or holds the only side there is. Returns which frames were filled.
fn fill_gaps(frames: &mut [(f32, Option<Vec<[f32; 3]>>)]) -> Vec<bool> {
    let known: Vec<usize> = (0..frames.len())
        .filter(|&i| frames[i].1.is_some())
        .collect();
    let mut filled = vec![false; frames.len()];
    if known.is_empty() {
        return filled;
    }
    for i in 0..frames.len() {
        if frames[i].1.is_some() {
            continue;
        }
        let after = known.partition_point(|&k| k < i);
        let points = match (after.checked_sub(1).map(|b| known[b]), known.get(after)) {
            (Some(a), Some(&b)) => {
                let t = (i - a) as f32 / (b - a) as f32;
                let (pa, pb) = (frames[a].1.as_ref().unwrap(), frames[b].1.as_ref().unwrap());
                (pa.iter().zip(pb))
                    .map(|(p, q)| std::array::from_fn(|c| p[c] + (q[c] - p[c]) * t))
                    .collect()
            }
            (Some(k), None) | (None, Some(&k)) => frames[k].1.clone().unwrap(),
            (None, None) => unreachable!("some frame has points"),
        };
        frames[i].1 = Some(points);
        filled[i] = true;
    }
    filled
}

/// Centred weighted average over `SMOOTH`, the ends repeated; frames without points (a
/// video where no frame had any) are left alone.
fn smooth(frames: &mut [(f32, Option<Vec<[f32; 3]>>)]) {
    let n = frames.len() as isize;
    if frames.iter().any(|f| f.1.is_none()) || n < 2 {
        return;
    }
    let half = (SMOOTH.len() / 2) as isize;
    let total: f32 = SMOOTH.iter().sum();
    let source: Vec<Vec<[f32; 3]>> = frames.iter().map(|f| f.1.clone().unwrap()).collect();
    for (i, frame) in frames.iter_mut().enumerate() {
        let points = frame.1.as_mut().unwrap();
        for (p, point) in points.iter_mut().enumerate() {
            let mut sum = [0.0f32; 3];
            for (k, weight) in (-half..=half).zip(SMOOTH) {
                let j = (i as isize + k).clamp(0, n - 1) as usize;
                for c in 0..3 {
                    sum[c] += weight * source[j][p][c];
                }
            }
            *point = sum.map(|v| v / total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f32, f32), b: (f32, f32), tolerance: f32) -> bool {
        (a.0 - b.0).abs() <= tolerance && (a.1 - b.1).abs() <= tolerance
    }

    #[test]
    fn a_region_maps_there_and_back() {
        let roi = Roi {
            cx: 120.0,
            cy: 80.0,
            side: 64.0,
            angle: 0.35,
        };
        for (u, v) in [(0.0, 0.0), (0.5, 0.5), (1.0, 0.25), (0.1, 0.9)] {
            let (x, y) = roi.to_image(u, v);
            assert!(close(roi.to_region(x, y), (u, v), 1e-5), "({u}, {v})");
        }
        assert_eq!(roi.to_image(0.5, 0.5), (120.0, 80.0));
        // The region's x axis points along `angle`.
        let (x, y) = roi.to_image(1.0, 0.5);
        assert!(close(
            (x - 120.0, y - 80.0),
            (32.0 * 0.35f32.cos(), 32.0 * 0.35f32.sin()),
            1e-4
        ));
    }

    #[test]
    fn a_level_region_at_scale_one_copies_pixels() {
        // A 6×6 image whose pixel (x, y) holds (x, y, 1) / 10.
        let pixel = |x: usize, y: usize| [x as f32 / 10.0, y as f32 / 10.0, 0.1];
        let roi = Roi {
            cx: 3.0,
            cy: 3.0,
            side: 4.0,
            angle: 0.0,
        };
        let mut out = vec![0.0; 3 * 4 * 4];
        roi.sample((6, 6), pixel, 4, &mut out);
        // Crop pixel (col, row) is image pixel (col + 1, row + 1).
        assert!((out[2 * 4 + 3] - 0.4).abs() < 1e-6);
        assert!((out[16 + 2 * 4 + 3] - 0.3).abs() < 1e-6);
        // Outside, the edge repeats.
        let far = Roi { cx: 0.0, ..roi };
        far.sample((6, 6), pixel, 4, &mut out);
        assert_eq!(out[0], 0.0);
    }

    /// A synthetic face: 468 points on an ellipse-ish cloud, eyes at 33 and 263.
    fn face(cx: f32, cy: f32, scale: f32, angle: f32) -> Vec<[f32; 3]> {
        let (sin, cos) = angle.sin_cos();
        (0..POINTS)
            .map(|i| {
                let t = i as f32 * 0.37;
                let (mut x, mut y) = (t.cos() * 40.0, t.sin() * 55.0);
                if i == EYES.0 {
                    (x, y) = (-30.0, -15.0);
                }
                if i == EYES.1 {
                    (x, y) = (30.0, -15.0);
                }
                let (x, y) = (x * scale, y * scale);
                [
                    cx + cos * x - sin * y,
                    cy + sin * x + cos * y,
                    i as f32 * 0.01,
                ]
            })
            .collect()
    }

    #[test]
    fn the_landmark_crop_levels_a_rolled_face() {
        let angle = 20f32.to_radians();
        let points = face(150.0, 90.0, 1.0, angle);
        assert!((roll(&points) - angle).abs() < 1e-5);
        let roi = roi_from_landmarks(&points);
        assert!((roi.angle - angle).abs() < 1e-5);
        // In the levelled crop the eyes are level and the face is centred.
        let (ax, ay) = roi.to_region(points[33][0], points[33][1]);
        let (bx, by) = roi.to_region(points[263][0], points[263][1]);
        assert!((ay - by).abs() < 1e-5 && bx > ax);
        assert!(
            close(roi.to_region(150.0, 90.0), (0.5, 0.5), 1e-3),
            "{roi:?}"
        );
        // 1.5× the face's extent (80 × 110 before the roll).
        assert!((roi.side - 165.0).abs() < 0.5, "{roi:?}");
    }

    /// A fake model that "sees" a known face: it returns the synthetic face's points as they
    /// lie in each crop it is given, and a score that is high only when the crop is level.
    /// Which crop was asked for is read back from the pixels: the patch encodes each
    /// pixel's own position.
    #[test]
    fn two_passes_find_a_rolled_face_exactly_in_patch_pixels() {
        let angle = -25f32.to_radians();
        let truth = face(150.0, 140.0, 1.2, angle);
        // Context pixel (x, y) holds (x, y, 0) / CONTEXT: a crop's pixels say where they
        // came from.
        let mut context = vec![0f32; CONTEXT_LEN];
        let plane = CONTEXT * CONTEXT;
        for y in 0..CONTEXT {
            for x in 0..CONTEXT {
                context[y * CONTEXT + x] = (x as f32 + 0.5) / CONTEXT as f32;
                context[plane + y * CONTEXT + x] = (y as f32 + 0.5) / CONTEXT as f32;
            }
        }
        let mut calls = Vec::new();
        let model = |crops: &[f32], k: usize| {
            assert_eq!(crops.len(), k * CROP_LEN);
            // Recover the crop's region from three of its pixels' recorded positions.
            let at = |col: usize, row: usize| {
                let i = row * SIZE + col;
                let s = CONTEXT as f32;
                (crops[i] * s, crops[SIZE * SIZE + i] * s)
            };
            let (o, xa, ya) = (at(0, 0), at(SIZE - 1, 0), at(0, SIZE - 1));
            let step = (SIZE - 1) as f32;
            let ex = ((xa.0 - o.0) / step, (xa.1 - o.1) / step);
            let ey = ((ya.0 - o.0) / step, (ya.1 - o.1) / step);
            let crop_angle = ex.1.atan2(ex.0);
            calls.push(crop_angle);
            let det = ex.0 * ey.1 - ex.1 * ey.0;
            let mut landmarks = Vec::new();
            for p in &truth {
                // Solve p = o + (u - 0.5) ex + (v - 0.5) ey for the crop pixel (u, v).
                let (dx, dy) = (p[0] - o.0, p[1] - o.1);
                let u = (dx * ey.1 - dy * ey.0) / det + 0.5;
                let v = (ex.0 * dy - ex.1 * dx) / det + 0.5;
                landmarks.extend([u, v, p[2] / ex.0.hypot(ex.1)]);
            }
            let score = 1.0 - (crop_angle - angle).abs();
            Ok((landmarks, vec![score; k]))
        };
        let out = two_pass(&context, 1, model).unwrap();
        assert_eq!(out.len(), OUT_LEN);
        assert_eq!(calls.len(), 2);
        assert!(calls[0].abs() < 1e-3, "first pass is level: {calls:?}");
        assert!(
            (calls[1] - angle).abs() < 1e-3,
            "second levels the face: {calls:?}"
        );
        for (i, p) in truth.iter().enumerate() {
            let got = &out[i * 3..i * 3 + 3];
            assert!(
                (got[0] - p[0]).abs() < 0.02 && (got[1] - p[1]).abs() < 0.02,
                "point {i}: {got:?} vs {p:?}"
            );
            assert!((got[2] - p[2]).abs() < 1e-3, "z of {i}");
        }
        assert!(out[POINTS * 3] > 0.99);
    }

    #[test]
    fn the_context_patch_is_centred_on_the_box_at_the_crops_scale() {
        let face = FaceBox {
            x: 100.0,
            y: 50.0,
            w: 100.0,
            h: 120.0,
        };
        let roi = context_roi(&face);
        assert_eq!((roi.cx, roi.cy), (150.0, 110.0));
        // One context pixel is one first-crop pixel: 1.6 × 120 px over 192.
        assert!((roi.side / CONTEXT as f32 - CROP_SCALE * 120.0 / SIZE as f32).abs() < 1e-6);
    }

    fn out_frame(points: &[[f32; 3]], score: f32) -> Vec<f32> {
        let mut out: Vec<f32> = points.iter().flatten().copied().collect();
        out.push(score);
        out
    }

    fn boxes(n: usize) -> Vec<FaceBox> {
        vec![
            FaceBox {
                x: 60.0,
                y: 40.0,
                w: 120.0,
                h: 120.0,
            };
            n
        ]
    }

    #[test]
    fn landmarks_map_from_the_patch_to_the_image() {
        let face = face(144.0, 144.0, 1.0, 0.0);
        let track = to_track(&out_frame(&face, 0.9), &boxes(1), false);
        let points = track[0].points.as_ref().unwrap();
        // The patch's centre is the box's centre; one patch pixel is 1.6 × 120 / 192 = 1 px.
        assert_eq!(points[33], [120.0 - 30.0, 100.0 - 15.0, 0.33]);
        assert_eq!(track[0].score, 0.9);
        assert!(!track[0].interpolated);
    }

    #[test]
    fn a_low_score_still_has_no_points_and_a_video_fills_them_in() {
        let a = face(144.0, 144.0, 1.0, 0.0);
        let b = face(154.0, 144.0, 1.0, 0.0);
        let image = to_track(&out_frame(&a, 0.3), &boxes(1), false);
        assert_eq!((image[0].points.as_ref(), image[0].score), (None, 0.3));

        let mut output = Vec::new();
        for (points, score) in [(&a, 0.9), (&a, 0.1), (&b, 0.2), (&b, 0.95), (&b, 0.9)] {
            output.extend(out_frame(points, score));
        }
        let mut frames: Vec<(f32, Option<Vec<[f32; 3]>>)> = (output.chunks_exact(OUT_LEN))
            .map(|o| {
                (
                    o[POINTS * 3],
                    (o[POINTS * 3] >= MIN_SCORE).then(|| to_points(o)),
                )
            })
            .collect();
        let filled = fill_gaps(&mut frames);
        assert_eq!(filled, [false, true, true, false, false]);
        // A third and two thirds of the way from a to b.
        let x = |i: usize| frames[i].1.as_ref().unwrap()[33][0];
        assert!((x(1) - (x(0) + 10.0 / 3.0)).abs() < 1e-4);
        assert!((x(2) - (x(0) + 20.0 / 3.0)).abs() < 1e-4);

        let video = to_track(&output, &boxes(5), true);
        assert!(video.iter().all(|f| f.points.is_some()));
        assert!(video[1].interpolated && video[2].interpolated && !video[3].interpolated);
        assert_eq!(video[1].score, 0.1);

        // Nothing to fill from: nothing is made up.
        let lost = to_track(&out_frame(&a, 0.1).repeat(3), &boxes(3), true);
        assert!(lost.iter().all(|f| f.points.is_none() && !f.interpolated));
    }

    fn to_points(out: &[f32]) -> Vec<[f32; 3]> {
        out[..POINTS * 3]
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2]])
            .collect()
    }

    #[test]
    fn smoothing_keeps_a_still_face_still_and_calms_jitter() {
        let still = face(144.0, 144.0, 1.0, 0.1);
        let mut frames = vec![(0.9, Some(still.clone())); 6];
        smooth(&mut frames);
        for frame in &frames {
            for (p, q) in frame.1.as_ref().unwrap().iter().zip(&still) {
                assert!((p[0] - q[0]).abs() < 1e-4 && (p[1] - q[1]).abs() < 1e-4);
            }
        }

        let jitter = |i: usize| if i.is_multiple_of(2) { 2.0 } else { -2.0 };
        let mut frames: Vec<_> = (0..12)
            .map(|i| (0.9, Some(face(144.0 + jitter(i), 144.0, 1.0, 0.0))))
            .collect();
        smooth(&mut frames);
        for frame in &frames[2..10] {
            let x = frame.1.as_ref().unwrap()[33][0];
            // ±2 px of jitter becomes ±0.25 px around the true place.
            assert!((x - (144.0 - 30.0)).abs() <= 0.25 + 1e-4, "{x}");
        }
    }
}
