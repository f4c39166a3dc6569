//! The built-in face's rig: where a frame's 468 face landmarks (MediaPipe Face Mesh, from
//! the face track) move for a mouth shape, a blink and an idle head motion, and the mouth
//! interior painted into the opening. `face_warp.rs` then moves the pixels with them.
//!
//! Everything is measured on the face itself — a face-local frame on the lips, its x axis
//! along the eyes, lengths in face heights — so a three-quarter or tilted face opens along
//! its own lips, not along a box: the lower lip parts from the upper along their real
//! contour (wide in the middle, closed at the corners), the chin and jaw follow, the
//! upper lip lifts a little. Rings of anchor points around the head carry the head's
//! motion out to hair and neck and pin everything beyond them.

use super::face_warp::{self, Point};
use crate::frame::Frame;

/// A mouth shape: how open (0 closed .. 1 wide), and how spread (`ee`) or rounded (`oo`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MouthShape {
    pub open: f32,
    pub spread: f32,
    pub round: f32,
}

/// The head's idle motion: a shift in face heights and a roll in degrees about the neck.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeadMotion {
    pub dx: f32,
    pub dy: f32,
    pub roll_degrees: f32,
}

/// Everything that moves in one output frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pose {
    pub mouth: MouthShape,
    /// 0 eyes open .. 1 shut.
    pub blink: f32,
    pub head: HeadMotion,
}

impl Pose {
    pub fn is_rest(&self) -> bool {
        *self == Pose::default()
    }
}

// MediaPipe Face Mesh indices.
const UPPER_INNER_LIP: [usize; 11] = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308];
const LOWER_INNER_LIP: [usize; 11] = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308];
const MOUTH_CORNERS: [usize; 2] = [61, 291];
const FOREHEAD: usize = 10;
const CHIN: usize = 152;
const EYE_CORNERS: [usize; 2] = [33, 263];
/// Each eye's upper lid and the lower lid point below each, corner to corner.
const LIDS: [[(usize, usize); 7]; 2] = [
    [
        (246, 7),
        (161, 163),
        (160, 144),
        (159, 145),
        (158, 153),
        (157, 154),
        (173, 155),
    ],
    [
        (466, 249),
        (388, 390),
        (387, 373),
        (386, 374),
        (385, 380),
        (384, 381),
        (398, 382),
    ],
];
const LANDMARKS: usize = 468;

/// How far the chin drops at a wide-open mouth, in face heights (forehead to chin).
const JAW_DROP: f32 = 0.085;
/// How far the upper lip lifts at a wide-open mouth.
const LIP_LIFT: f32 = 0.02;
/// How much the mouth narrows when rounded and widens when spread (of its half width).
const ROUND_NARROWING: f32 = 0.22;
const SPREAD_WIDENING: f32 = 0.10;
/// The head's anchor rings, as multiples of the landmarks' hull about its centre: the inner
/// one moves with the head (hair, the top of the neck), the outer one stays.
const HEAD_RING: f32 = 1.5;
const STILL_RING: f32 = 2.3;
/// Where the lids meet in a blink: this far from the upper lid towards the lower.
const LIDS_MEET: f32 = 0.8;

/// One avatar frame's face, ready to pose: its landmarks and anchors, their triangulation
/// and the face-local frame.
pub struct FaceRig {
    /// The 468 landmarks, then the head ring, then the still ring.
    points: Vec<Point>,
    /// Points in each ring.
    ring_size: usize,
    triangles: Vec<[usize; 3]>,
    local: Local,
    height: f32,
    /// The neck point the head rolls about.
    pivot: Point,
    upper_lip: Vec<[f32; 2]>,
    lower_lip: Vec<[f32; 2]>,
    /// The lips' corners along the face's x axis (`u`, left then right).
    span: (f32, f32),
    chin_u: f32,
}

/// The face-local frame: origin between the lips, `u` along the eyes, `v` down the face.
#[derive(Clone, Copy, Debug)]
struct Local {
    origin: Point,
    x: [f32; 2],
    y: [f32; 2],
}

impl Local {
    fn to_local(self, p: Point) -> [f32; 2] {
        let d = [p[0] - self.origin[0], p[1] - self.origin[1]];
        [
            d[0] * self.x[0] + d[1] * self.x[1],
            d[0] * self.y[0] + d[1] * self.y[1],
        ]
    }

    fn to_image(self, q: [f32; 2]) -> Point {
        [
            self.origin[0] + q[0] * self.x[0] + q[1] * self.y[0],
            self.origin[1] + q[0] * self.x[1] + q[1] * self.y[1],
        ]
    }
}

impl FaceRig {
    /// The rig of a frame's landmarks (`[x, y, z]` image pixels, 468 of them); `None` for
    /// a degenerate face (too few points, no height, eyes on top of each other).
    pub fn new(landmarks: &[[f32; 3]]) -> Option<FaceRig> {
        if landmarks.len() != LANDMARKS
            || landmarks
                .iter()
                .any(|p| !p[0].is_finite() || !p[1].is_finite())
        {
            return None;
        }
        let at = |i: usize| [landmarks[i][0], landmarks[i][1]];
        let height = distance(at(FOREHEAD), at(CHIN));
        let eyes = [
            at(EYE_CORNERS[1])[0] - at(EYE_CORNERS[0])[0],
            at(EYE_CORNERS[1])[1] - at(EYE_CORNERS[0])[1],
        ];
        let eye_span = (eyes[0] * eyes[0] + eyes[1] * eyes[1]).sqrt();
        if height < 8.0 || eye_span < 2.0 {
            return None;
        }
        let x = [eyes[0] / eye_span, eyes[1] / eye_span];
        let y = [-x[1], x[0]];
        let origin = midpoint(at(13), at(14));
        let local = Local { origin, x, y };

        let contour = |indices: &[usize]| {
            let mut c: Vec<[f32; 2]> = indices.iter().map(|&i| local.to_local(at(i))).collect();
            c.sort_by(|a, b| a[0].total_cmp(&b[0]));
            c
        };
        let (a, b) = (
            local.to_local(at(MOUTH_CORNERS[0]))[0],
            local.to_local(at(MOUTH_CORNERS[1]))[0],
        );
        let span = (a.min(b), a.max(b));
        if span.1 - span.0 < 1.0 {
            return None;
        }

        let mut points: Vec<Point> = (0..LANDMARKS).map(at).collect();
        // The rings: the landmarks' convex hull grown about its centre, so every ring
        // point lies outside the face even where a turned face's far side folds inwards.
        let hull = face_warp::convex_hull(&points);
        let centre = [
            hull.iter().map(|p| p[0]).sum::<f32>() / hull.len() as f32,
            hull.iter().map(|p| p[1]).sum::<f32>() / hull.len() as f32,
        ];
        let ring_size = hull.len();
        for scale in [HEAD_RING, STILL_RING] {
            points.extend(hull.iter().map(|p| {
                [
                    centre[0] + (p[0] - centre[0]) * scale,
                    centre[1] + (p[1] - centre[1]) * scale,
                ]
            }));
        }
        let triangles = face_warp::triangulate(&points);
        let chin = at(CHIN);
        Some(FaceRig {
            ring_size,
            pivot: [chin[0] + y[0] * height * 0.3, chin[1] + y[1] * height * 0.3],
            chin_u: local.to_local(chin)[0],
            upper_lip: contour(&UPPER_INNER_LIP),
            lower_lip: contour(&LOWER_INNER_LIP),
            points,
            triangles,
            local,
            height,
            span,
        })
    }

    /// The face height (forehead to chin) in pixels.
    pub fn height(&self) -> f32 {
        self.height
    }

    /// The source frame posed: the mesh warped to the pose's landmarks, the mouth interior
    /// painted into the opening. The rest pose returns the frame unchanged.
    pub fn pose(&self, frame: &Frame, pose: &Pose) -> Frame {
        if pose.is_rest() {
            return frame.clone();
        }
        // The mouth and head first, then the blink on top, each scaled down on its own if
        // it would fold the mesh (a blink that cannot close must not still the mouth).
        let without_blink = Pose {
            blink: 0.0,
            ..*pose
        };
        let mut target =
            face_warp::unfolded(&self.points, &self.target(&without_blink), &self.triangles);
        if pose.blink > 0.0 {
            let (open, shut) = (self.target(&without_blink), self.target(pose));
            for scale in [1.0, 0.75, 0.5, 0.25] {
                let blinking: Vec<Point> = (target.iter().zip(&open).zip(&shut))
                    .map(|((t, o), s)| [t[0] + (s[0] - o[0]) * scale, t[1] + (s[1] - o[1]) * scale])
                    .collect();
                if face_warp::keeps_orientation(&self.points, &blinking, &self.triangles) {
                    target = blinking;
                    break;
                }
            }
        }
        let mut out = face_warp::warp(frame, &self.points, &target, &self.triangles);
        self.paint_mouth(frame, &mut out, &target, pose);
        out
    }

    /// Where every mesh point goes for `pose`.
    pub fn target(&self, pose: &Pose) -> Vec<Point> {
        let mut target = self.points.clone();
        let ring_start = LANDMARKS;
        for (i, p) in target.iter_mut().enumerate().take(ring_start) {
            let [u, v] = self.local.to_local(*p);
            let [du, dv] = self.mouth_motion(i, u, v, &pose.mouth);
            *p = self.local.to_image([u + du, v + dv]);
        }
        self.blink(&mut target, pose.blink);
        // The head moves the face and the head ring; the still ring stays.
        let head = self.head_transform(&pose.head);
        for p in target.iter_mut().take(ring_start + self.ring_size) {
            *p = head.apply(*p);
        }
        target
    }

    /// The lips' and jaw's motion of landmark `i` at face-local `(u, v)`.
    fn mouth_motion(&self, i: usize, u: f32, v: f32, mouth: &MouthShape) -> [f32; 2] {
        let h = self.height;
        let open = mouth.open.clamp(0.0, 1.0);
        let line = (interpolate(&self.upper_lip, u) + interpolate(&self.lower_lip, u)) / 2.0;
        let is_upper = UPPER_INNER_LIP.contains(&i);
        let is_lower = !is_upper && (LOWER_INNER_LIP.contains(&i) || v > line);
        let lip_shape = self.lip_shape(u);
        let dv = if is_lower {
            // Near the lips the opening follows the lips' shape; lower down the whole
            // jaw drops, fading out sideways past the chin's width.
            let k = smoothstep(0.0, 0.10 * h, v - line);
            let jaw = 1.0 - smoothstep(0.22 * h, 0.5 * h, (u - self.chin_u).abs());
            open * JAW_DROP * h * ((1.0 - k) * lip_shape + k * jaw)
        } else {
            let above = line - v;
            -open * LIP_LIFT * h * lip_shape * (1.0 - smoothstep(0.0, 0.14 * h, above))
        };
        // Rounding narrows the mouth, spreading widens it, around the lips only.
        let (left, right) = self.span;
        let (centre, half) = ((left + right) / 2.0, (right - left) / 2.0);
        let near = (1.0 - smoothstep(0.06 * h, 0.2 * h, (v - line).abs()))
            * (1.0 - smoothstep(1.0, 1.7, (u - centre).abs() / half));
        let squeeze = mouth.spread.clamp(0.0, 1.0) * SPREAD_WIDENING
            - mouth.round.clamp(0.0, 1.0) * ROUND_NARROWING;
        let du = (u - centre) * squeeze * open.max(0.3) * near;
        [du, dv]
    }

    /// 1 between the lips' middle, easing to 0 at the corners.
    fn lip_shape(&self, u: f32) -> f32 {
        let (left, right) = self.span;
        let t = (u - left) / (right - left);
        if !(0.0..=1.0).contains(&t) {
            return 0.0;
        }
        (std::f32::consts::PI * t).sin().max(0.0).powf(0.7)
    }

    /// Lowers each upper lid towards its lower lid (and the lower a little up), with the
    /// skin above following part of the way.
    fn blink(&self, target: &mut [Point], blink: f32) {
        let b = blink.clamp(0.0, 1.0);
        if b <= 0.0 {
            return;
        }
        for lid in &LIDS {
            let mut gap = [0.0f32; 2];
            let mut centre = [0.0f32; 2];
            for &(up, low) in lid {
                let (pu, pl) = (self.points[up], self.points[low]);
                gap[0] += (pl[0] - pu[0]) / lid.len() as f32;
                gap[1] += (pl[1] - pu[1]) / lid.len() as f32;
                centre[0] += (pu[0] + pl[0]) / (2 * lid.len()) as f32;
                centre[1] += (pu[1] + pl[1]) / (2 * lid.len()) as f32;
            }
            let width = distance(self.points[lid[0].0], self.points[lid[6].0]).max(1.0);
            let [centre_u, centre_v] = self.local.to_local(centre);
            // The skin between lid and brow stretches down part of the way.
            for (i, p) in target.iter_mut().enumerate().take(LANDMARKS) {
                if lid.iter().any(|&(up, low)| up == i || low == i) {
                    continue;
                }
                let source = self.points[i];
                let [u, v] = self.local.to_local(source);
                if v >= centre_v {
                    continue;
                }
                // The crease just above the lid's middle follows most of the way, so the
                // lashes keep their thickness and the stretch falls on the skin under the
                // brow; towards the corners, where the lid barely moves, less.
                let across = 1.0 - smoothstep(0.3, 0.95, (u - centre_u).abs() / (width / 2.0));
                let up = 1.0 - smoothstep(0.25 * width, 0.9 * width, centre_v - v);
                let w = 0.75 * across * up;
                p[0] += gap[0] * b * w;
                p[1] += gap[1] * b * w;
            }
            for &(up, low) in lid {
                let (pu, pl) = (self.points[up], self.points[low]);
                let d = [pl[0] - pu[0], pl[1] - pu[1]];
                target[up] = [pu[0] + d[0] * b * LIDS_MEET, pu[1] + d[1] * b * LIDS_MEET];
                let back = 1.0 - LIDS_MEET;
                target[low] = [pl[0] - d[0] * b * back, pl[1] - d[1] * b * back];
            }
        }
    }

    fn head_transform(&self, head: &HeadMotion) -> Rigid {
        let angle = head.roll_degrees.to_radians();
        Rigid {
            pivot: self.pivot,
            cos: angle.cos(),
            sin: angle.sin(),
            shift: [head.dx * self.height, head.dy * self.height],
        }
    }

    /// Paints the mouth's inside between the posed inner lips: the source's teeth where it
    /// showed them (the upper ones with the upper lip, the lower with the lower), a shaded
    /// dark interior in the new opening, anti-aliased at the lips.
    fn paint_mouth(&self, source: &Frame, out: &mut Frame, target: &[Point], pose: &Pose) {
        let head = self.head_transform(&pose.head);
        // The posed lips in the face-local frame of the unmoved head.
        let unmove = |p: Point| self.local.to_local(head.invert(p));
        let contour = |indices: &[usize]| {
            let mut c: Vec<[f32; 2]> = indices.iter().map(|&i| unmove(target[i])).collect();
            c.sort_by(|a, b| a[0].total_cmp(&b[0]));
            c
        };
        let (upper, lower) = (contour(&UPPER_INNER_LIP), contour(&LOWER_INNER_LIP));
        let widest = (upper.iter())
            .map(|a| interpolate(&lower, a[0]) - a[1])
            .fold(0.0f32, f32::max);
        if widest < 0.5 {
            return;
        }
        // The opening's box in the image.
        let corners: Vec<Point> = (upper.iter().chain(&lower))
            .map(|q| head.apply(self.local.to_image(*q)))
            .collect();
        let x0 = corners
            .iter()
            .map(|p| p[0])
            .fold(f32::MAX, f32::min)
            .floor()
            - 1.0;
        let x1 = corners.iter().map(|p| p[0]).fold(f32::MIN, f32::max).ceil() + 1.0;
        let y0 = corners
            .iter()
            .map(|p| p[1])
            .fold(f32::MAX, f32::min)
            .floor()
            - 1.0;
        let y1 = corners.iter().map(|p| p[1]).fold(f32::MIN, f32::max).ceil() + 1.0;
        let (w, h) = (out.width as f32, out.height as f32);
        let (u_min, u_max) = (upper[0][0].max(lower[0][0]), upper[10][0].min(lower[10][0]));
        for y in (y0.max(0.0) as u32)..(y1.min(h) as u32) {
            for x in (x0.max(0.0) as u32)..(x1.min(w) as u32) {
                let [u, v] = unmove([x as f32 + 0.5, y as f32 + 0.5]);
                if u <= u_min || u >= u_max {
                    continue;
                }
                let (top, bottom) = (interpolate(&upper, u), interpolate(&lower, u));
                let gap = bottom - top;
                if gap <= 0.0 {
                    continue;
                }
                let coverage = (v - top + 0.5).clamp(0.0, 1.0) * (bottom - v + 0.5).clamp(0.0, 1.0);
                if coverage <= 0.0 {
                    continue;
                }
                // The source's own opening here: its teeth stay with their lips.
                let (source_top, source_bottom) = (
                    interpolate(&self.upper_lip, u),
                    interpolate(&self.lower_lip, u),
                );
                let shown = (source_bottom - source_top).max(0.0);
                let upper_teeth = shown * 0.65;
                let lower_teeth = shown - upper_teeth;
                let from_top = v - top;
                let from_bottom = bottom - v;
                let colour = if from_top < upper_teeth {
                    let p = self.local.to_image([u, source_top + from_top]);
                    face_warp::sample(source, p[0], p[1])
                } else if from_bottom < lower_teeth {
                    let p = self.local.to_image([u, source_bottom - from_bottom]);
                    face_warp::sample(source, p[0], p[1])
                } else {
                    let lip = {
                        let p = self.local.to_image([u, source_top]);
                        face_warp::sample(source, p[0], p[1])
                    };
                    let across = (2.0 * (u - u_min) / (u_max - u_min) - 1.0).abs();
                    let depth = ((from_top - upper_teeth).min(from_bottom - lower_teeth)
                        / (gap * 0.5))
                        .clamp(0.0, 1.0);
                    interior(lip, depth * (1.0 - across * across), (v - top) / gap)
                };
                let i = ((y * out.width + x) * 3) as usize;
                for (c, value) in colour.iter().enumerate() {
                    let under = out.data[i + c] as f32;
                    out.data[i + c] = (under + (value - under) * coverage)
                        .round()
                        .clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
}

/// The inside of the mouth: the lips' colour in shadow at the rim, a dark throat deeper
/// in, a hint of tongue low down. `depth` 0 at the lips .. 1 in the middle, `down` 0 at
/// the upper lip .. 1 at the lower.
fn interior(lip: [f32; 3], depth: f32, down: f32) -> [f32; 3] {
    // Shades of the lips' own colour, so a black-and-white portrait stays grey.
    let throat = lip.map(|c| c * 0.1);
    let tongue = lip.map(|c| c * 0.45);
    let rim = lip.map(|c| c * 0.35);
    let tongue_share = (smoothstep(0.55, 1.0, down) * depth).min(1.0) * 0.6;
    let mut colour = [0.0f32; 3];
    for c in 0..3 {
        let inner = throat[c] + (tongue[c] - throat[c]) * tongue_share;
        colour[c] = rim[c] + (inner - rim[c]) * smoothstep(0.0, 0.5, depth);
    }
    colour
}

/// A rotation about `pivot` then a shift.
struct Rigid {
    pivot: Point,
    cos: f32,
    sin: f32,
    shift: [f32; 2],
}

impl Rigid {
    fn apply(&self, p: Point) -> Point {
        let d = [p[0] - self.pivot[0], p[1] - self.pivot[1]];
        [
            self.pivot[0] + d[0] * self.cos - d[1] * self.sin + self.shift[0],
            self.pivot[1] + d[0] * self.sin + d[1] * self.cos + self.shift[1],
        ]
    }

    fn invert(&self, p: Point) -> Point {
        let d = [
            p[0] - self.shift[0] - self.pivot[0],
            p[1] - self.shift[1] - self.pivot[1],
        ];
        [
            self.pivot[0] + d[0] * self.cos + d[1] * self.sin,
            self.pivot[1] - d[0] * self.sin + d[1] * self.cos,
        ]
    }
}

/// `v` of a contour (sorted by `u`) at `u`, linearly, held at its ends.
fn interpolate(contour: &[[f32; 2]], u: f32) -> f32 {
    let last = contour.len() - 1;
    if u <= contour[0][0] {
        return contour[0][1];
    }
    if u >= contour[last][0] {
        return contour[last][1];
    }
    let k = contour.partition_point(|p| p[0] <= u).clamp(1, last);
    let (a, b) = (contour[k - 1], contour[k]);
    let t = if b[0] > a[0] {
        (u - a[0]) / (b[0] - a[0])
    } else {
        0.0
    };
    a[1] + (b[1] - a[1]) * t
}

fn distance(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn midpoint(a: Point, b: Point) -> Point {
    [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
}

pub fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A demo portrait with its landmarks (from the real model, `tests/fixtures/`).
    fn portrait(name: &str) -> (Frame, Vec<[f32; 3]>) {
        let root = env!("CARGO_MANIFEST_DIR");
        let image = image::open(format!("{root}/avatars/{name}.png"))
            .unwrap()
            .to_rgb8();
        let frame = Frame::from_rgb(image.width(), image.height(), image.into_raw());
        let text = std::fs::read_to_string(format!("{root}/tests/fixtures/{name}-landmarks.json"))
            .unwrap();
        let points: Vec<[f32; 2]> = serde_json::from_str(&text).unwrap();
        (frame, points.iter().map(|p| [p[0], p[1], 0.0]).collect())
    }

    fn open(open: f32) -> Pose {
        Pose {
            mouth: MouthShape {
                open,
                ..MouthShape::default()
            },
            ..Pose::default()
        }
    }

    fn luma(rgb: [u8; 3]) -> f32 {
        0.299 * rgb[0] as f32 + 0.587 * rgb[1] as f32 + 0.114 * rgb[2] as f32
    }

    /// Pixels that changed, and whether all of them lie within `radius` of `centre`.
    fn changed(a: &Frame, b: &Frame) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for y in 0..a.height {
            for x in 0..a.width {
                if a.pixel(x, y) != b.pixel(x, y) {
                    out.push((x, y));
                }
            }
        }
        out
    }

    #[test]
    fn the_rest_pose_is_the_source_byte_for_byte() {
        let (frame, points) = portrait("astronaut");
        let rig = FaceRig::new(&points).unwrap();
        assert_eq!(rig.pose(&frame, &Pose::default()), frame);
        for (a, b) in rig.target(&Pose::default()).iter().zip(&rig.points) {
            assert!((a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3);
        }
    }

    #[test]
    fn the_lower_lip_and_chin_drop_and_the_corners_stay() {
        let (_, points) = portrait("astronaut");
        let rig = FaceRig::new(&points).unwrap();
        let h = rig.height();
        let target = rig.target(&open(1.0));
        let drop = |i: usize| target[i][1] - points[i][1];
        // The lower lip's middle and the chin drop by about the jaw's full travel.
        for i in [14, 17, 152] {
            assert!(drop(i) > 0.07 * h && drop(i) < 0.1 * h, "{i}: {}", drop(i));
        }
        // The upper lip lifts a little; the corners, nose and eyes stay.
        assert!(drop(13) < -0.01 * h && drop(13) > -0.03 * h, "{}", drop(13));
        for i in [61, 291, 1, 33, 263, 10] {
            assert!(drop(i).abs() < 0.005 * h, "{i}: {}", drop(i));
        }
    }

    #[test]
    fn an_open_mouth_is_dark_between_the_real_lips_and_nothing_far_away_moves() {
        for name in ["astronaut", "camera"] {
            let (frame, points) = portrait(name);
            let rig = FaceRig::new(&points).unwrap();
            let posed = rig.pose(&frame, &open(1.0));
            let moved = changed(&frame, &posed);
            assert!(moved.len() > 100, "{name}: {} pixels moved", moved.len());
            // Nothing beyond the chin's reach moves: the eyes' line and above stay.
            let eyes_y = points[33][1].max(points[263][1]);
            assert!(moved.iter().all(|&(_, y)| y as f32 > eyes_y), "{name}");
            // The new dark pixels sit between the lips, whatever the head's angle: their
            // centre is on the source's lip centre (within 3 % of the face height).
            let dark: Vec<(u32, u32)> = moved
                .iter()
                .copied()
                .filter(|&(x, y)| luma(posed.pixel(x, y)) < luma(frame.pixel(x, y)) - 40.0)
                .collect();
            assert!(dark.len() > 10, "{name}: {} dark pixels", dark.len());
            let cx = dark.iter().map(|p| p.0 as f32 + 0.5).sum::<f32>() / dark.len() as f32;
            let lips = midpoint(
                [points[61][0], points[61][1]],
                [points[291][0], points[291][1]],
            );
            let h = rig.height();
            assert!(
                (cx - lips[0]).abs() < 0.03 * h,
                "{name}: dark centre x {cx} vs lips {lips:?}"
            );
        }
    }

    #[test]
    fn more_openness_opens_wider() {
        let (frame, points) = portrait("camera");
        let rig = FaceRig::new(&points).unwrap();
        let dark = |o: f32| {
            let posed = rig.pose(&frame, &open(o));
            changed(&frame, &posed)
                .iter()
                .filter(|&&(x, y)| (luma(posed.pixel(x, y)) - luma(frame.pixel(x, y))).abs() > 20.0)
                .count()
        };
        let (a, b, c) = (dark(0.3), dark(0.6), dark(1.0));
        assert!(a < b && b < c, "{a} {b} {c}");
    }

    #[test]
    fn a_blink_brings_the_lids_together() {
        let (frame, points) = portrait("astronaut");
        let rig = FaceRig::new(&points).unwrap();
        let shut = rig.target(&Pose {
            blink: 1.0,
            ..Pose::default()
        });
        for eye in &LIDS {
            for &(up, low) in eye {
                let gap = distance(shut[up], shut[low]);
                assert!(gap < 0.01, "{up}-{low}: {gap}");
            }
        }
        // The eye's opening (between the source's lids) is covered by the lid.
        let posed = rig.pose(
            &frame,
            &Pose {
                blink: 1.0,
                ..Pose::default()
            },
        );
        let mut inside = 0;
        let mut covered = 0;
        for &(up, low) in &LIDS[0] {
            let (top, bottom) = (points[up][1].ceil() as u32, points[low][1].floor() as u32);
            let x = points[up][0] as u32;
            for y in top..bottom {
                inside += 1;
                covered +=
                    ((luma(posed.pixel(x, y)) - luma(frame.pixel(x, y))).abs() > 15.0) as usize;
            }
        }
        assert!(inside > 10 && covered * 2 > inside, "{covered} of {inside}");
    }

    #[test]
    fn the_head_sways_but_the_background_beyond_it_stays() {
        let (frame, points) = portrait("astronaut");
        let rig = FaceRig::new(&points).unwrap();
        let pose = Pose {
            head: HeadMotion {
                dx: 0.02,
                dy: 0.0,
                roll_degrees: 0.0,
            },
            ..Pose::default()
        };
        let target = rig.target(&pose);
        let shift = 0.02 * rig.height();
        assert!((target[1][0] - points[1][0] - shift).abs() < 0.01);
        let posed = rig.pose(&frame, &pose);
        let moved = changed(&frame, &posed);
        assert!(moved.len() > 1000);
        // Only pixels inside the still ring may change.
        let ring = &rig.points[LANDMARKS + rig.ring_size..];
        let (min_x, max_x) = ring
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p[0]), b.max(p[0])));
        let (min_y, max_y) = ring
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p[1]), b.max(p[1])));
        for &(x, y) in &moved {
            let (x, y) = (x as f32, y as f32);
            assert!(x >= min_x - 1.0 && x <= max_x + 1.0 && y >= min_y - 1.0 && y <= max_y + 1.0);
        }
        // The frame's corners are far outside it.
        assert_eq!(posed.pixel(0, 0), frame.pixel(0, 0));
        assert_eq!(posed.pixel(511, 511), frame.pixel(511, 511));
    }

    #[test]
    fn absurd_poses_do_not_tear_or_panic() {
        let (frame, points) = portrait("camera");
        let rig = FaceRig::new(&points).unwrap();
        let pose = Pose {
            mouth: MouthShape {
                open: 40.0,
                spread: 9.0,
                round: -3.0,
            },
            blink: f32::NAN,
            head: HeadMotion {
                dx: 0.9,
                dy: -0.9,
                roll_degrees: 170.0,
            },
        };
        let _ = rig.pose(&frame, &pose);
        assert!(FaceRig::new(&points[..100]).is_none());
        let mut broken = points.clone();
        broken[5][0] = f32::NAN;
        assert!(FaceRig::new(&broken).is_none());
        let flat = vec![[3.0, 4.0, 0.0]; LANDMARKS];
        assert!(FaceRig::new(&flat).is_none());
    }
}
