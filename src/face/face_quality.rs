//! The face quality measurement behind `render bench face VIDEO --reference IMAGE`: how a
//! rendered talking head moves compared with its still portrait. The worker finds the
//! landmarks (MediaPipe's 468 points, on the reference and on every frame) and the audio's
//! loudness per frame; everything here is pure arithmetic on those, so it is tested without
//! libtorch or ffmpeg.
//!
//! Every measure is in face-local, scale-free units, so a video that scales or moves the
//! avatar into a bigger frame still compares with the reference:
//!
//! - the *unit* is the reference's face height (forehead top 10 ↔ chin 152);
//! - points are placed in the *eye frame*: on the reference, origin at the midpoint of the
//!   outer eye corners 33 and 263, x along 33 → 263, y perpendicular to it (down the face),
//!   in units. A frame's eye frame is the reference's carried over by the similarity
//!   (shift, roll, scale) that best fits the face's upper half — forehead, brows, eye
//!   corners, nose bridge, 45 points that neither the jaw nor a blink moves — to the
//!   reference's, by least squares. Two eye corners alone would do on a frontal face, but
//!   on a turned face the far corner is a guess that wobbles by degrees from frame to frame;
//! - head pose (the eye midpoint and the roll of 33 → 263) is relative to the reference's,
//!   in pixels and in units.

use serde::Serialize;

use crate::frame::Frame;

/// Forehead top and chin: the face height.
const FOREHEAD: usize = 10;
const CHIN: usize = 152;
/// Inner lips, upper and lower, at the centre.
const LIPS: (usize, usize) = (13, 14);
/// The lips' contours, outer and inner (corners once): their centroid is the mouth centre,
/// steadier than the corners alone where a turned face hides its far corner.
const LIP_CONTOURS: [usize; 40] = [
    61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 146, 91, 181, 84, 17, 314, 405, 321, 375, 78,
    191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 95, 88, 178, 87, 14, 317, 402, 318, 324,
];
/// Outer eye corners (the subject's right eye, image left, first).
const EYES: (usize, usize) = (33, 263);
/// Per eye: its corners, and its upper ↔ lower lid pairs around the middle.
const RIGHT_EYE: Eye = Eye {
    corners: (33, 133),
    lids: [(160, 144), (159, 145), (158, 153)],
};
const LEFT_EYE: Eye = Eye {
    corners: (263, 362),
    lids: [(387, 373), (386, 374), (385, 380)],
};

/// Loudness below this (dBFS, RMS over the frame) counts as silence.
pub const SILENCE_DBFS: f64 = -45.0;
/// Loudness is floored here (digital silence would be −∞), so that silent frames do not
/// outweigh speech in a correlation.
pub const FLOOR_DBFS: f64 = -60.0;
/// A blink: both eyes below this share of the reference's openness. Not a half: this
/// landmark model never closes the lids fully on a shut eye (the demo portrait with its
/// eyes painted shut measures 0.52–0.55 of its open eyes), while open eyes stay within a
/// few percent of the portrait's.
pub const BLINK_SHARE: f64 = 0.6;
/// A series (lip gap, chin) whose peak-to-peak is below this many face heights (≈ 0.2 px on
/// a 100 px face) is still: what varies is the landmarks' noise (and a codec's), and its
/// correlation with loudness is not reported (`null`), as noise can correlate by chance.
pub const STILL: f64 = 0.002;

struct Eye {
    corners: (usize, usize),
    lids: [(usize, usize); 3],
}

type Point = [f64; 2];

fn at(points: &[[f32; 3]], i: usize) -> Point {
    [points[i][0] as f64, points[i][1] as f64]
}

fn distance(a: Point, b: Point) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn centroid(points: impl Iterator<Item = Point>) -> Point {
    let (mut sum, mut n) = ([0.0, 0.0], 0.0);
    for q in points {
        sum = [sum[0] + q[0], sum[1] + q[1]];
        n += 1.0;
    }
    [sum[0] / n, sum[1] / n]
}

fn midpoint(a: Point, b: Point) -> Point {
    [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
}

/// The eye frame of one face: where its origin is, its x axis, and its unit in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EyeFrame {
    pub origin: Point,
    /// The roll: the direction of 33 → 263 in the image, radians (0 when level).
    pub angle: f64,
    /// One unit (a face height), in pixels.
    pub unit: f64,
}

impl EyeFrame {
    /// `p` (image pixels) in this frame's units: x along the eyes, y down the face.
    pub fn local(&self, p: Point) -> Point {
        let (sin, cos) = self.angle.sin_cos();
        let (dx, dy) = (p[0] - self.origin[0], p[1] - self.origin[1]);
        [
            (cos * dx + sin * dy) / self.unit,
            (-sin * dx + cos * dy) / self.unit,
        ]
    }
}

/// The measures of one face (one frame's landmarks), given the reference's face height per
/// eye span (`height_per_span`: the reference's own ratio; for the reference itself, pass
/// its own, so its unit is its face height).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Face {
    /// The eye frame (not serialised: the fields below say what matters).
    #[serde(skip)]
    pub frame: EyeFrame,
    /// Forehead top ↔ chin, in pixels (grows with an open jaw).
    pub face_height_px: f64,
    /// Outer eye corners' distance, in pixels.
    pub eye_span_px: f64,
    /// Inner-lip gap (13 ↔ 14), in units.
    pub opening: f64,
    /// The lips' centroid in the eye frame.
    pub mouth: Point,
    /// The chin (152) in the eye frame.
    pub chin: Point,
    /// Mean lid gap / corner distance, right eye then left.
    pub eyes: [f64; 2],
}

impl Face {
    /// A frame's measures, its eye frame fitted to the reference's (see the module doc).
    pub fn aligned(points: &[[f32; 3]], reference: &[[f32; 3]], frame: &EyeFrame) -> Face {
        let pairs: Vec<(Point, Point)> = (UPPER_FACE.iter())
            .map(|&i| (at(reference, i), at(points, i)))
            .collect();
        let fit = Similarity::fit(&pairs);
        let origin = fit.apply(frame.origin);
        Face::measure(
            points,
            EyeFrame {
                origin,
                angle: frame.angle + fit.angle(),
                unit: frame.unit * fit.scale(),
            },
        )
    }

    /// A face's measures in `frame`.
    pub fn measure(points: &[[f32; 3]], frame: EyeFrame) -> Face {
        let p = |i| at(points, i);
        let eye_span_px = distance(p(EYES.0), p(EYES.1));
        let openness = |eye: &Eye| {
            let width = distance(p(eye.corners.0), p(eye.corners.1));
            let gap: f64 = eye.lids.iter().map(|&(u, l)| distance(p(u), p(l))).sum();
            gap / eye.lids.len() as f64 / width
        };
        Face {
            frame,
            face_height_px: distance(p(FOREHEAD), p(CHIN)),
            eye_span_px,
            opening: distance(p(LIPS.0), p(LIPS.1)) / frame.unit,
            mouth: frame.local(centroid(LIP_CONTOURS.iter().map(|&i| p(i)))),
            chin: frame.local(p(CHIN)),
            eyes: [openness(&RIGHT_EYE), openness(&LEFT_EYE)],
        }
    }

    /// The reference's own measures: its unit is its face height.
    pub fn reference(points: &[[f32; 3]]) -> Face {
        let (a, b) = (at(points, EYES.0), at(points, EYES.1));
        let frame = EyeFrame {
            origin: midpoint(a, b),
            angle: (b[1] - a[1]).atan2(b[0] - a[0]),
            unit: distance(at(points, FOREHEAD), at(points, CHIN)),
        };
        Face::measure(points, frame)
    }
}

/// Each eye's opening as a polygon: the upper lid corner to corner, then the lower lid
/// back (MediaPipe indices; the subject's right eye, image left, first).
const EYE_OPENINGS: [[usize; 16]; 2] = [
    [
        33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7,
    ],
    [
        263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249,
    ],
];

/// An eye counts as covered (shut) when the pixels of its opening differ from the
/// reference's by this much: mean absolute luma change over the opening's own contrast.
pub const BLINK_COVER: f64 = 0.5;
/// How far (pixels, each way) the opening is searched for its best match.
const COVER_SEARCH_PX: u32 = 3;

/// How much each eye's opening has changed from the reference's: for every reference
/// pixel between the lids, the frame's pixel at the same place on the face (carried over
/// by the upper-face fit) — mean absolute luma difference over the opening's standard
/// deviation. Near 0 for an open eye however the head moves; large when a lid covers it.
/// The landmark model's lid points barely follow a blink (its eyes are its weak spot), so
/// blinks are counted from what the pixels show as well.
pub fn eye_cover(
    reference_image: &Frame,
    reference: &[[f32; 3]],
    frame_image: &Frame,
    frame: &[[f32; 3]],
) -> [f64; 2] {
    let pairs: Vec<(Point, Point)> = (UPPER_FACE.iter())
        .map(|&i| (at(reference, i), at(frame, i)))
        .collect();
    let fit = Similarity::fit(&pairs);
    let luma = |image: &Frame, x: f64, y: f64| {
        let rgb = crate::face::face_warp::sample(image, x as f32, y as f32);
        0.299 * rgb[0] as f64 + 0.587 * rgb[1] as f64 + 0.114 * rgb[2] as f64
    };
    EYE_OPENINGS.map(|opening| {
        let polygon: Vec<Point> = opening.iter().map(|&i| at(reference, i)).collect();
        let (x0, x1) = polygon
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p[0]), b.max(p[0])));
        let (y0, y1) = polygon
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p[1]), b.max(p[1])));
        let (mut before, mut places) = (Vec::new(), Vec::new());
        let (w, h) = (reference_image.width as f64, reference_image.height as f64);
        for y in (y0.floor().max(0.0) as u32)..(y1.ceil().min(h) as u32) {
            for x in (x0.floor().max(0.0) as u32)..(x1.ceil().min(w) as u32) {
                let p = [x as f64 + 0.5, y as f64 + 0.5];
                if inside(&polygon, p) {
                    before.push(luma(reference_image, p[0], p[1]));
                    places.push(fit.apply(p));
                }
            }
        }
        if before.is_empty() {
            return 0.0;
        }
        let n = before.len() as f64;
        let mean = before.iter().sum::<f64>() / n;
        let spread = (before.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        // The best match within a few pixels: the fit is good to a pixel or two, and an
        // open eye that is only misplaced must not read as shut.
        let reach = COVER_SEARCH_PX as i32;
        let mut change = f64::MAX;
        for dy in -reach..=reach {
            for dx in -reach..=reach {
                let (dx, dy) = (dx as f64, dy as f64);
                let moved = (before.iter().zip(&places))
                    .map(|(a, q)| (a - luma(frame_image, q[0] + dx, q[1] + dy)).abs())
                    .sum::<f64>()
                    / n;
                change = change.min(moved);
            }
        }
        change / spread.max(8.0)
    })
}

/// Whether `p` is inside `polygon` (even-odd rule).
fn inside(polygon: &[Point], p: Point) -> bool {
    let mut inside = false;
    let mut j = polygon.len() - 1;
    for i in 0..polygon.len() {
        let (a, b) = (polygon[i], polygon[j]);
        if (a[1] > p[1]) != (b[1] > p[1])
            && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]
        {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The face's upper half: oval from temple to temple over the forehead, brows, eye corners
/// and nose bridge.
const UPPER_FACE: [usize; 45] = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 109, 67, 103, 54, 21, 162, 127, 234, 70, 63, 105,
    66, 107, 55, 65, 52, 53, 46, 300, 293, 334, 296, 336, 285, 295, 282, 283, 276, 168, 6, 197,
    195, 33, 133, 263, 362,
];

/// `p ↦ a·p + t` in complex numbers: a scale and rotation (`a`), then a shift (`t`).
struct Similarity {
    a: [f64; 2],
    t: [f64; 2],
}

impl Similarity {
    /// The least-squares similarity taking each pair's first point onto its second.
    fn fit(pairs: &[(Point, Point)]) -> Similarity {
        let n = pairs.len().max(1) as f64;
        let mean = |k: usize| {
            let c = |f: fn(&(Point, Point)) -> Point| {
                let s = pairs
                    .iter()
                    .map(f)
                    .fold([0.0, 0.0], |s, p| [s[0] + p[0], s[1] + p[1]]);
                [s[0] / n, s[1] / n]
            };
            if k == 0 {
                c(|p| p.0)
            } else {
                c(|p| p.1)
            }
        };
        let (from, to) = (mean(0), mean(1));
        let (mut re, mut im, mut norm) = (0.0, 0.0, 0.0);
        for (p, q) in pairs {
            let (x, y) = (p[0] - from[0], p[1] - from[1]);
            let (u, v) = (q[0] - to[0], q[1] - to[1]);
            // conj(p) · q
            re += x * u + y * v;
            im += x * v - y * u;
            norm += x * x + y * y;
        }
        let a = if norm > 0.0 {
            [re / norm, im / norm]
        } else {
            [1.0, 0.0]
        };
        let t = [
            to[0] - (a[0] * from[0] - a[1] * from[1]),
            to[1] - (a[0] * from[1] + a[1] * from[0]),
        ];
        Similarity { a, t }
    }

    fn apply(&self, p: Point) -> Point {
        [
            self.a[0] * p[0] - self.a[1] * p[1] + self.t[0],
            self.a[0] * p[1] + self.a[1] * p[0] + self.t[1],
        ]
    }

    fn angle(&self) -> f64 {
        self.a[1].atan2(self.a[0])
    }

    fn scale(&self) -> f64 {
        self.a[0].hypot(self.a[1])
    }
}

/// Pearson's r, or `None` when either side is constant (or there are fewer than 2 pairs).
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    // Below this, "constant" up to float noise: r would be noise too.
    let tiny = 1e-12 * n as f64;
    (va > tiny && vb > tiny).then(|| cov / (va * vb).sqrt())
}

/// RMS loudness of each video frame's share of `samples` (mono, `rate` Hz), in dBFS floored
/// at [`FLOOR_DBFS`]; frames past the audio's end are at the floor.
pub fn loudness(samples: &[f32], rate: u32, fps: f64, frames: usize) -> Vec<f64> {
    (0..frames)
        .map(|i| {
            let span =
                |i: usize| ((i as f64 * rate as f64 / fps).round() as usize).min(samples.len());
            let chunk = &samples[span(i)..span(i + 1)];
            if chunk.is_empty() {
                return FLOOR_DBFS;
            }
            let power = chunk.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / chunk.len() as f64;
            (10.0 * power.max(1e-30).log10()).max(FLOOR_DBFS)
        })
        .collect()
}

/// The frames that are silent: loudness below [`SILENCE_DBFS`].
pub fn silent(loudness: &[f64]) -> Vec<bool> {
    loudness.iter().map(|&db| db < SILENCE_DBFS).collect()
}

/// How many runs of consecutive `true` there are (each blink counted once).
pub fn runs(closed: &[bool]) -> usize {
    let mut count = 0;
    let mut previous = false;
    for &c in closed {
        if c && !previous {
            count += 1;
        }
        previous = c;
    }
    count
}

/// How open both eyes are, per frame, as a share of the reference's: the more open eye's
/// share (both eyes are below it).
pub fn eye_shares(eyes: &[[f64; 2]], reference: [f64; 2]) -> Vec<f64> {
    (eyes.iter())
        .map(|e| (e[0] / reference[0]).max(e[1] / reference[1]))
        .collect()
}

/// The frames where both eyes are below [`BLINK_SHARE`] of the reference's openness.
pub fn closed_eyes(eyes: &[[f64; 2]], reference: [f64; 2]) -> Vec<bool> {
    (eye_shares(eyes, reference).into_iter())
        .map(|share| share < BLINK_SHARE)
        .collect()
}

fn peak_to_peak(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::MIN, f64::max);
    let min = values.fold(f64::MAX, f64::min);
    if max >= min {
        max - min
    } else {
        0.0
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The per-frame series (`None`: no face found in that frame).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Series {
    /// Inner-lip opening, units.
    pub opening: Vec<Option<f64>>,
    /// RMS loudness, dBFS (floored at −60).
    pub loudness_dbfs: Vec<f64>,
    /// Mouth-centre distance from the reference's, units.
    pub mouth_offset: Vec<Option<f64>>,
    /// Eye openness, right then left (lid gap / eye width).
    pub eye_openness: Vec<Option<[f64; 2]>>,
    /// How much each eye's opening changed from the reference's ([`eye_cover`]).
    pub eye_cover: Vec<Option<[f64; 2]>>,
    /// The eye midpoint's displacement from the reference's, pixels.
    pub head_dx_px: Vec<Option<f64>>,
    pub head_dy_px: Vec<Option<f64>>,
    /// The same in units (the frame's own), image axes.
    pub head_dx: Vec<Option<f64>>,
    pub head_dy: Vec<Option<f64>>,
    /// Roll relative to the reference's, degrees (positive: clockwise on screen).
    pub roll_deg: Vec<Option<f64>>,
    /// The chin's drop below where the reference has it, units (eye frame y).
    pub chin_drop: Vec<Option<f64>>,
}

/// What `render bench face` reports (its `--json`, less the file names).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub frames: usize,
    pub fps: f64,
    pub seconds: f64,
    /// Frames where no face (or no trusted landmarks) was found; they are left out of
    /// every figure below.
    pub frames_without_face: usize,
    pub reference: Face,
    /// Pearson r of the inner-lip opening with the loudness (dBFS) over all frames
    /// (`None` when either is still: see [`STILL`]).
    pub opening_loudness_r: Option<f64>,
    /// Peak-to-peak of the opening, units.
    pub opening_range: f64,
    /// Mouth-centre distance from the reference's, units: mean and max.
    pub mouth_offset_mean: Option<f64>,
    pub mouth_offset_max: Option<f64>,
    pub silent_frames: usize,
    /// Mean opening over the silent frames, the reference's, and their difference (units).
    pub silent_opening: Option<f64>,
    pub reference_opening: f64,
    pub silent_opening_excess: Option<f64>,
    pub blinks: usize,
    pub blinks_per_minute: f64,
    /// How far both eyes closed at most: the smallest share of the reference's openness
    /// both were below in one frame (a blink is below [`BLINK_SHARE`]).
    pub eyes_min_share: Option<f64>,
    /// Mean eye-midpoint displacement from the reference, pixels (a moved avatar).
    pub head_offset_px: Option<[f64; 2]>,
    /// Peak-to-peak eye-midpoint motion over the video, pixels (x, y, and their length)
    /// and units.
    pub head_motion_x_px: f64,
    pub head_motion_y_px: f64,
    pub head_motion_px: f64,
    pub head_motion: f64,
    /// Mean roll relative to the reference, and the largest in magnitude (signed), degrees.
    pub roll_mean_deg: Option<f64>,
    pub roll_peak_deg: Option<f64>,
    /// Pearson r of the chin's drop with the loudness, its largest drop, and its
    /// peak-to-peak (units).
    pub chin_loudness_r: Option<f64>,
    pub chin_drop_max: Option<f64>,
    pub chin_range: f64,
    pub series: Series,
}

/// The report from the reference's landmarks, each frame's (`None` where none was found),
/// each frame's loudness (dBFS, see [`loudness`]) and the frame rate.
pub fn report(
    reference: &[[f32; 3]],
    frames: &[Option<Vec<[f32; 3]>>],
    eye_cover: &[Option<[f64; 2]>],
    loudness: &[f64],
    fps: f64,
) -> Report {
    assert_eq!(frames.len(), loudness.len());
    assert_eq!(frames.len(), eye_cover.len());
    let points = reference;
    let reference = Face::reference(points);
    let faces: Vec<Option<Face>> = frames
        .iter()
        .map(|p| {
            p.as_ref()
                .map(|p| Face::aligned(p, points, &reference.frame))
        })
        .collect();
    let mut series = Series {
        loudness_dbfs: loudness.to_vec(),
        eye_cover: eye_cover.to_vec(),
        ..Series::default()
    };
    for face in &faces {
        let f = face.as_ref();
        series.opening.push(f.map(|f| f.opening));
        series
            .mouth_offset
            .push(f.map(|f| distance(f.mouth, reference.mouth)));
        series.eye_openness.push(f.map(|f| f.eyes));
        series
            .head_dx_px
            .push(f.map(|f| f.frame.origin[0] - reference.frame.origin[0]));
        series
            .head_dy_px
            .push(f.map(|f| f.frame.origin[1] - reference.frame.origin[1]));
        series
            .head_dx
            .push(f.map(|f| (f.frame.origin[0] - reference.frame.origin[0]) / f.frame.unit));
        series
            .head_dy
            .push(f.map(|f| (f.frame.origin[1] - reference.frame.origin[1]) / f.frame.unit));
        series
            .roll_deg
            .push(f.map(|f| (f.frame.angle - reference.frame.angle).to_degrees()));
        series
            .chin_drop
            .push(f.map(|f| f.chin[1] - reference.chin[1]));
    }
    // Figures over the frames with a face.
    let found: Vec<usize> = (0..faces.len()).filter(|&i| faces[i].is_some()).collect();
    let values = |s: &[Option<f64>]| found.iter().map(|&i| s[i].unwrap()).collect::<Vec<_>>();
    let heard: Vec<f64> = found.iter().map(|&i| loudness[i]).collect();
    let opening = values(&series.opening);
    let mouth = values(&series.mouth_offset);
    let (dx, dy) = (values(&series.head_dx_px), values(&series.head_dy_px));
    let roll = values(&series.roll_deg);
    let chin = values(&series.chin_drop);
    let quiet = silent(&heard);
    let silent_opening: Vec<f64> = (opening.iter().zip(&quiet))
        .filter(|(_, q)| **q)
        .map(|(o, _)| *o)
        .collect();
    let eyes: Vec<[f64; 2]> = found.iter().map(|&i| faces[i].unwrap().eyes).collect();
    // Shut: the lid points say so, or both openings are covered.
    let covered: Vec<bool> = found
        .iter()
        .map(|&i| eye_cover[i].is_some_and(|c| c[0] >= BLINK_COVER && c[1] >= BLINK_COVER))
        .collect();
    let shut: Vec<bool> = (closed_eyes(&eyes, reference.eyes).into_iter().zip(&covered))
        .map(|(a, b)| a || *b)
        .collect();
    let blinks = runs(&shut);
    let eyes_min_share = eye_shares(&eyes, reference.eyes)
        .into_iter()
        .reduce(f64::min);
    let seconds = frames.len() as f64 / fps;
    let (motion_x, motion_y) = (
        peak_to_peak(dx.iter().copied()),
        peak_to_peak(dy.iter().copied()),
    );
    let unit = mean(
        &found
            .iter()
            .map(|&i| faces[i].unwrap().frame.unit)
            .collect::<Vec<_>>(),
    )
    .unwrap_or(reference.frame.unit);
    let max = |v: &[f64]| v.iter().copied().reduce(f64::max);
    let (opening_range, chin_range) = (
        peak_to_peak(opening.iter().copied()),
        peak_to_peak(chin.iter().copied()),
    );
    let moving_r = |range: f64, v: &[f64]| {
        if range < STILL {
            None
        } else {
            pearson(v, &heard)
        }
    };
    Report {
        frames: frames.len(),
        fps,
        seconds,
        frames_without_face: frames.len() - found.len(),
        opening_loudness_r: moving_r(opening_range, &opening),
        opening_range,
        mouth_offset_mean: mean(&mouth),
        mouth_offset_max: max(&mouth),
        silent_frames: silent_opening.len(),
        silent_opening: mean(&silent_opening),
        reference_opening: reference.opening,
        silent_opening_excess: mean(&silent_opening).map(|o| o - reference.opening),
        blinks,
        eyes_min_share,
        blinks_per_minute: if seconds > 0.0 {
            blinks as f64 * 60.0 / seconds
        } else {
            0.0
        },
        head_offset_px: mean(&dx).zip(mean(&dy)).map(|(x, y)| [x, y]),
        head_motion_x_px: motion_x,
        head_motion_y_px: motion_y,
        head_motion_px: motion_x.hypot(motion_y),
        head_motion: motion_x.hypot(motion_y) / unit,
        roll_mean_deg: mean(&roll),
        roll_peak_deg: roll
            .iter()
            .copied()
            .reduce(|a, b| if b.abs() > a.abs() { b } else { a }),
        chin_loudness_r: moving_r(chin_range, &chin),
        chin_drop_max: max(&chin),
        chin_range,
        reference,
        series,
    }
}

/// The human table.
pub fn table(report: &Report) -> String {
    let num = |v: Option<f64>, digits: usize| match v {
        Some(v) => format!("{v:.digits$}"),
        None => "-".to_string(),
    };
    // "still": the series does not move beyond landmark noise; "-": the audio does not.
    let correlation = |r: Option<f64>, range: f64| match r {
        _ if range < STILL => "still".to_string(),
        r => num(r, 3),
    };
    let mut out = String::new();
    let mut row = |name: &str, value: String, note: &str| {
        out += &format!("{name:<28} {value:>14}  {note}\n");
    };
    row(
        "frames",
        format!("{} ({:.2} s)", report.frames, report.seconds),
        &format!("{:.3} fps", report.fps),
    );
    row(
        "frames without a face",
        report.frames_without_face.to_string(),
        "left out below",
    );
    row(
        "opening ~ loudness r",
        correlation(report.opening_loudness_r, report.opening_range),
        &format!(
            "inner lips 13-14 (range {:.4} face heights) vs RMS dBFS; near 1: follows the voice",
            report.opening_range
        ),
    );
    row(
        "mouth offset mean / max",
        format!(
            "{} / {}",
            num(report.mouth_offset_mean, 4),
            num(report.mouth_offset_max, 4)
        ),
        "mouth centre from the reference's, face heights",
    );
    row(
        "silent opening",
        format!(
            "{} vs {:.4}",
            num(report.silent_opening, 4),
            report.reference_opening
        ),
        &format!(
            "{} silent frames (< {SILENCE_DBFS} dBFS) vs the reference, face heights",
            report.silent_frames
        ),
    );
    row(
        "blinks",
        format!("{} ({:.1}/min)", report.blinks, report.blinks_per_minute),
        &format!(
            "both eyes' lids below {:.0}% of the reference's gap or openings covered \
             (cover >= {BLINK_COVER}); least open lids: {}",
            BLINK_SHARE * 100.0,
            report
                .eyes_min_share
                .map(|s| format!("{:.0}%", s * 100.0))
                .unwrap_or_else(|| "-".into())
        ),
    );
    row(
        "head motion",
        format!(
            "{:.1} px / {:.4}",
            report.head_motion_px, report.head_motion
        ),
        &format!(
            "peak-to-peak eye midpoint (x {:.1}, y {:.1} px) / face heights",
            report.head_motion_x_px, report.head_motion_y_px
        ),
    );
    let offset = report
        .head_offset_px
        .map(|[x, y]| format!("{x:.1}, {y:.1} px"))
        .unwrap_or_else(|| "-".into());
    row(
        "head offset",
        offset,
        "mean eye midpoint from the reference's",
    );
    row(
        "roll mean / peak",
        format!(
            "{} / {}°",
            num(report.roll_mean_deg, 2),
            num(report.roll_peak_deg, 2)
        ),
        "eye line's angle from the reference's (clockwise +)",
    );
    row(
        "chin drop ~ loudness r",
        correlation(report.chin_loudness_r, report.chin_range),
        &format!(
            "chin 152 below the reference's: max {}, range {:.4} face heights",
            num(report.chin_drop_max, 4),
            report.chin_range
        ),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 468 points with the ones the measures read placed on a level face: eyes at y = 100,
    /// span 60 px, face height 150 px, lips 6 px apart, eyes 10 px open over 30 px.
    fn face() -> Vec<[f32; 3]> {
        let mut points = vec![[0f32; 3]; 468];
        let mut put = |i: usize, x: f32, y: f32| points[i] = [x, y, 0.0];
        put(33, 170.0, 100.0);
        put(263, 230.0, 100.0);
        put(133, 190.0, 100.0);
        put(362, 210.0, 100.0);
        for (u, l) in RIGHT_EYE.lids {
            put(u, 180.0, 97.0);
            put(l, 180.0, 103.0);
        }
        for (u, l) in LEFT_EYE.lids {
            put(u, 220.0, 97.0);
            put(l, 220.0, 103.0);
        }
        put(10, 200.0, 50.0);
        put(152, 200.0, 200.0);
        put(13, 200.0, 157.0);
        put(14, 200.0, 163.0);
        // The lips, symmetric about (200, 160): upper contours above, lower below.
        let spread = |n: usize, k: usize| 185.0 + 30.0 * k as f32 / (n - 1) as f32;
        let outer_upper = &LIP_CONTOURS[0..11];
        let outer_lower = &LIP_CONTOURS[11..20];
        let inner_upper = &LIP_CONTOURS[20..31];
        let inner_lower = &LIP_CONTOURS[31..40];
        for (k, &i) in outer_upper.iter().enumerate() {
            put(i, spread(11, k), 157.0);
        }
        for (k, &i) in outer_lower.iter().enumerate() {
            put(i, spread(11, k + 1), 163.0);
        }
        for (k, &i) in inner_upper.iter().enumerate() {
            put(i, spread(11, k), 159.0);
        }
        for (k, &i) in inner_lower.iter().enumerate() {
            put(i, spread(11, k + 1), 161.0);
        }
        put(78, 185.0, 160.0);
        put(308, 215.0, 160.0);
        put(13, 200.0, 157.0);
        put(14, 200.0, 163.0);
        put(61, 185.0, 160.0);
        put(291, 215.0, 160.0);
        points
    }

    /// `points` rotated by `degrees` about `(cx, cy)`, scaled by `scale`, then moved.
    fn moved(points: &[[f32; 3]], degrees: f32, scale: f32, shift: (f32, f32)) -> Vec<[f32; 3]> {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let (cx, cy) = (200.0, 125.0);
        points
            .iter()
            .map(|p| {
                let (x, y) = ((p[0] - cx) * scale, (p[1] - cy) * scale);
                [
                    cx + cos * x - sin * y + shift.0,
                    cy + sin * x + cos * y + shift.1,
                    0.0,
                ]
            })
            .collect()
    }

    fn near(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn the_reference_is_measured_in_its_face_height() {
        let f = Face::reference(&face());
        assert!(near(f.frame.unit, 150.0, 1e-9));
        assert!(near(f.opening, 6.0 / 150.0, 1e-9));
        // The mouth centre is 60 px below the eye midpoint, on its axis.
        assert!(near(f.mouth[0], 0.0, 1e-9) && near(f.mouth[1], 60.0 / 150.0, 1e-9));
        assert!(near(f.eyes[0], 6.0 / 20.0, 1e-9) && near(f.eyes[1], 6.0 / 20.0, 1e-9));
        assert!(near(f.chin[1], 100.0 / 150.0, 1e-9));
    }

    #[test]
    fn face_local_measures_ignore_moving_scaling_and_rolling() {
        let reference = Face::reference(&face());
        let other = moved(&face(), 12.0, 1.7, (55.0, -20.0));
        let f = Face::aligned(&other, &face(), &reference.frame);
        assert!(near(f.frame.unit, 150.0 * 1.7, 1e-3));
        assert!(near(f.opening, reference.opening, 1e-6));
        assert!(near(distance(f.mouth, reference.mouth), 0.0, 1e-6));
        assert!(near(f.chin[1], reference.chin[1], 1e-6));
        assert!(near(f.eyes[0], reference.eyes[0], 1e-6));
        assert!(near(f.frame.angle.to_degrees(), 12.0, 1e-4));
    }

    #[test]
    fn a_dropping_jaw_does_not_change_the_unit() {
        let reference = Face::reference(&face());
        let mut open = face();
        open[152][1] += 15.0;
        open[14][1] += 15.0;
        let f = Face::aligned(&open, &face(), &reference.frame);
        assert!(near(f.frame.unit, 150.0, 1e-9));
        assert!(near(f.opening, 21.0 / 150.0, 1e-9));
        assert!(near(f.chin[1] - reference.chin[1], 0.1, 1e-9));
    }

    #[test]
    fn pearson_r() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!(near(
            pearson(&a, &[2.0, 4.0, 6.0, 8.0]).unwrap(),
            1.0,
            1e-12
        ));
        assert!(near(
            pearson(&a, &[8.0, 6.0, 4.0, 2.0]).unwrap(),
            -1.0,
            1e-12
        ));
        assert!(near(
            pearson(&a, &[1.0, -1.0, -1.0, 1.0]).unwrap(),
            0.0,
            1e-12
        ));
        assert_eq!(pearson(&a, &[3.0; 4]), None, "a constant side has no r");
        assert_eq!(pearson(&[1.0], &[2.0]), None);
    }

    #[test]
    fn blinks_are_counted_once_per_run_of_closed_frames() {
        assert_eq!(
            runs(&[false, true, true, false, true, false, false, true]),
            3
        );
        assert_eq!(runs(&[]), 0);
        let reference = [0.3, 0.3];
        let eyes = [[0.3, 0.3], [0.1, 0.1], [0.1, 0.2], [0.3, 0.3], [0.05, 0.05]];
        // Frame 2: the left eye is still at 2/3, so not a blink; frames 1 and 4 are.
        assert!(near(eye_shares(&eyes, reference)[2], 2.0 / 3.0, 1e-12));
        assert_eq!(
            closed_eyes(&eyes, reference),
            [false, true, false, false, true]
        );
    }

    #[test]
    fn loudness_is_rms_per_frame_and_silence_is_below_minus_45() {
        let rate = 1000;
        // 0.5 s at amplitude 0.5 (a square wave: RMS 0.5, −6 dBFS), then 0.5 s of silence.
        let mut samples: Vec<f32> = (0..500)
            .map(|i| if i % 2 == 0 { 0.5 } else { -0.5 })
            .collect();
        samples.extend(vec![0.0; 500]);
        let db = loudness(&samples, rate, 10.0, 12);
        assert_eq!(db.len(), 12);
        assert!(near(db[0], -6.0206, 1e-3), "{db:?}");
        assert_eq!(db[5], FLOOR_DBFS);
        assert_eq!(db[11], FLOOR_DBFS, "past the audio's end");
        let quiet = silent(&db);
        assert_eq!(quiet.iter().filter(|q| **q).count(), 7);
        assert!(!quiet[4] && quiet[5]);
    }

    #[test]
    fn a_report_on_a_moving_talking_face() {
        let reference = face();
        let fps = 10.0;
        let mut frames = Vec::new();
        let mut loud = Vec::new();
        for i in 0..20 {
            let mut points = moved(&reference, 0.0, 1.0, (i as f32 * 0.5, 0.0));
            // Speaking on odd frames: the lips and chin open with the voice.
            let open = if i % 2 == 1 { 9.0 } else { 0.0 };
            points[14][1] += open;
            points[152][1] += open / 3.0;
            // A blink at frames 5 and 6.
            if i == 5 || i == 6 {
                for (u, l) in RIGHT_EYE.lids.iter().chain(&LEFT_EYE.lids) {
                    points[*u][1] += 2.5;
                    points[*l][1] -= 2.5;
                }
            }
            frames.push((i != 13).then_some(points));
            loud.push(if i % 2 == 1 { -20.0 } else { FLOOR_DBFS });
        }
        let r = report(&reference, &frames, &vec![None; 20], &loud, fps);
        assert_eq!((r.frames, r.frames_without_face), (20, 1));
        assert!(near(r.seconds, 2.0, 1e-12));
        assert!(near(r.opening_loudness_r.unwrap(), 1.0, 1e-9));
        assert!(near(r.chin_loudness_r.unwrap(), 1.0, 1e-9));
        assert!(near(r.chin_drop_max.unwrap(), 3.0 / 150.0, 1e-6));
        assert_eq!(r.silent_frames, 10);
        assert!(near(r.silent_opening_excess.unwrap(), 0.0, 1e-6));
        assert_eq!((r.blinks, r.blinks_per_minute), (1, 30.0));
        assert!(near(r.eyes_min_share.unwrap(), 1.0 / 6.0, 1e-6));
        assert!(near(r.head_motion_x_px, 9.5, 1e-4) && near(r.head_motion_y_px, 0.0, 1e-4));
        assert!(near(r.head_motion, 9.5 / 150.0, 1e-4));
        assert!(near(r.roll_peak_deg.unwrap(), 0.0, 1e-6));
        // The lower lip's 9 px is one of the lips' 40 points: the centroid moves 9/40 px.
        assert!(near(r.mouth_offset_max.unwrap(), 9.0 / 40.0 / 150.0, 1e-6));
        assert!(near(r.opening_range, 9.0 / 150.0, 1e-6));
        assert_eq!(r.series.opening[13], None);
        // Landmark noise is not a correlation.
        let noisy: Vec<_> = (0..20)
            .map(|i| {
                let mut points = reference.clone();
                points[14][1] += 0.1 * (i % 2) as f32;
                Some(points)
            })
            .collect();
        let still = report(&reference, &noisy, &vec![None; noisy.len()], &loud, fps);
        assert_eq!(still.opening_loudness_r, None);
        assert!(table(&still).contains("still"));
        assert_eq!(r.series.opening.len(), 20);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["series"]["head_dx_px"][2], 1.0);
        assert!(near(r.series.head_dx[2].unwrap(), 1.0 / 150.0, 1e-9));
        assert!(table(&r).contains("blinks"));
    }

    #[test]
    fn an_eye_painted_over_is_covered_and_a_shifted_one_is_not() {
        let root = env!("CARGO_MANIFEST_DIR");
        let image = image::open(format!("{root}/avatars/astronaut.png"))
            .unwrap()
            .to_rgb8();
        let portrait = Frame::from_rgb(image.width(), image.height(), image.into_raw());
        let text =
            std::fs::read_to_string(format!("{root}/tests/fixtures/astronaut-landmarks.json"))
                .unwrap();
        let points: Vec<[f32; 2]> = serde_json::from_str(&text).unwrap();
        let points: Vec<[f32; 3]> = points.iter().map(|p| [p[0], p[1], 0.0]).collect();
        let same = eye_cover(&portrait, &points, &portrait, &points);
        assert!(same[0] < 0.01 && same[1] < 0.01, "{same:?}");
        // Moved 2 px right (image and landmarks): found again.
        let mut moved = Frame::new(portrait.width, portrait.height);
        for y in 0..portrait.height {
            for x in 2..portrait.width {
                moved.set_pixel(x, y, portrait.pixel(x - 2, y));
            }
        }
        let shifted: Vec<[f32; 3]> = points.iter().map(|p| [p[0] + 2.0, p[1], 0.0]).collect();
        let found = eye_cover(&portrait, &points, &moved, &shifted);
        assert!(found[0] < 0.1 && found[1] < 0.1, "{found:?}");
        // The right eye painted with the skin below it: that eye is covered, the other not.
        let mut painted = portrait.clone();
        let skin = portrait.pixel(points[145][0] as u32, points[145][1] as u32 + 6);
        for y in (points[159][1] as u32 - 4)..(points[145][1] as u32 + 3) {
            for x in (points[33][0] as u32)..=(points[133][0] as u32) {
                painted.set_pixel(x, y, skin);
            }
        }
        let cover = eye_cover(&portrait, &points, &painted, &points);
        assert!(cover[0] > BLINK_COVER && cover[1] < 0.01, "{cover:?}");
    }
}
