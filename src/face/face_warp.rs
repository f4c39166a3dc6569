//! The built-in face's mesh warp: a piecewise-affine warp over a triangulation of the face
//! landmarks (and rings of anchor points around the head), the same kind of warp face
//! morphing tools use. Each target triangle's pixels are sampled from the matching source
//! triangle, so skin, lips and eyelids move with their landmarks and stay continuous at
//! every edge: no seam, no sticker. Anchors that do not move pin everything outside the
//! head to the source, byte for byte.
//!
//! The triangulation is Delaunay over the source points (Bowyer–Watson; a few hundred
//! points, computed once per avatar frame). A warp whose target would fold a triangle
//! over (a displacement too large for the mesh) is scaled down until none folds, so a
//! strange face degrades to less motion, never to torn pixels.

use crate::frame::Frame;

/// A point in image pixels (pixel centres at `.5`).
pub type Point = [f32; 2];

/// Triangles (indices into the points) covering the convex hull of `points`.
pub fn triangulate(points: &[Point]) -> Vec<[usize; 3]> {
    let n = points.len();
    if n < 3 {
        return Vec::new();
    }
    let p: Vec<[f64; 2]> = points.iter().map(|q| [q[0] as f64, q[1] as f64]).collect();
    let (mut min, mut max) = ([f64::MAX; 2], [f64::MIN; 2]);
    for q in &p {
        for c in 0..2 {
            min[c] = min[c].min(q[c]);
            max[c] = max[c].max(q[c]);
        }
    }
    let span = (max[0] - min[0]).max(max[1] - min[1]).max(1.0);
    let mid = [(min[0] + max[0]) / 2.0, (min[1] + max[1]) / 2.0];
    // A triangle around everything; its corners are removed at the end.
    let mut all = p.clone();
    all.push([mid[0] - 20.0 * span, mid[1] - span]);
    all.push([mid[0], mid[1] + 20.0 * span]);
    all.push([mid[0] + 20.0 * span, mid[1] - span]);
    let mut triangles: Vec<([usize; 3], [f64; 3])> = vec![with_circle(&all, [n, n + 1, n + 2])];
    for i in 0..n {
        let q = all[i];
        let mut edges: Vec<[usize; 2]> = Vec::new();
        triangles.retain(|(t, circle)| {
            let inside = (q[0] - circle[0]).powi(2) + (q[1] - circle[1]).powi(2) < circle[2];
            if inside {
                for e in [[t[0], t[1]], [t[1], t[2]], [t[2], t[0]]] {
                    edges.push(e);
                }
            }
            !inside
        });
        // The hole's boundary: edges that belonged to one removed triangle only.
        let boundary: Vec<[usize; 2]> = edges
            .iter()
            .filter(|e| {
                edges
                    .iter()
                    .filter(|f| (f[0] == e[0] && f[1] == e[1]) || (f[0] == e[1] && f[1] == e[0]))
                    .count()
                    == 1
            })
            .copied()
            .collect();
        for e in boundary {
            triangles.push(with_circle(&all, [e[0], e[1], i]));
        }
    }
    triangles
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t.iter().all(|&v| v < n))
        .filter(|t| area(points, *t).abs() > 1e-6)
        .collect()
}

/// The triangle with its circumcircle (centre x, y and squared radius).
fn with_circle(p: &[[f64; 2]], t: [usize; 3]) -> ([usize; 3], [f64; 3]) {
    let (a, b, c) = (p[t[0]], p[t[1]], p[t[2]]);
    let d = 2.0 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]));
    if d.abs() < 1e-12 {
        // Collinear: a circle no point is inside, so the triangle is never split and
        // is dropped at the end for having no area.
        return (t, [0.0, 0.0, -1.0]);
    }
    let sq = |q: [f64; 2]| q[0] * q[0] + q[1] * q[1];
    let x = (sq(a) * (b[1] - c[1]) + sq(b) * (c[1] - a[1]) + sq(c) * (a[1] - b[1])) / d;
    let y = (sq(a) * (c[0] - b[0]) + sq(b) * (a[0] - c[0]) + sq(c) * (b[0] - a[0])) / d;
    (t, [x, y, (a[0] - x).powi(2) + (a[1] - y).powi(2)])
}

/// The convex hull of `points`, counter-clockwise (Andrew's monotone chain).
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    let mut sorted: Vec<Point> = points.to_vec();
    sorted.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    sorted.dedup();
    if sorted.len() < 3 {
        return sorted;
    }
    let cross = |o: Point, a: Point, b: Point| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<Point> = Vec::new();
    for pass in 0..2 {
        let start = hull.len();
        let ordered: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(sorted.iter())
        } else {
            Box::new(sorted.iter().rev())
        };
        for &p in ordered {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Twice the signed area of triangle `t` (its sign is its orientation).
pub fn area(points: &[Point], t: [usize; 3]) -> f32 {
    let (a, b, c) = (points[t[0]], points[t[1]], points[t[2]]);
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// Whether moving `source` to `target` keeps every triangle's orientation (no fold-over).
/// Slivers under a pixel are left out: where a turned face's landmarks crowd, flipping
/// one moves nothing visible.
pub fn keeps_orientation(source: &[Point], target: &[Point], triangles: &[[usize; 3]]) -> bool {
    triangles.iter().all(|&t| {
        let (before, after) = (area(source, t), area(target, t));
        before.abs() < 2.0
            || (before.signum() == after.signum() && after.abs() > before.abs() * 0.02)
    })
}

/// `source` moved towards `target` by the largest of 1, ½, ¼ … that folds no triangle
/// (or not at all).
pub fn unfolded(source: &[Point], target: &[Point], triangles: &[[usize; 3]]) -> Vec<Point> {
    let mut scale = 1.0f32;
    for _ in 0..6 {
        let moved: Vec<Point> = (source.iter().zip(target))
            .map(|(s, t)| [s[0] + (t[0] - s[0]) * scale, s[1] + (t[1] - s[1]) * scale])
            .collect();
        if keeps_orientation(source, &moved, triangles) {
            return moved;
        }
        scale *= 0.5;
    }
    source.to_vec()
}

/// `frame` with the mesh's `source` points moved to `target`: each target triangle is
/// filled from its source triangle (bilinear). Pixels in no moved triangle are copied.
pub fn warp(frame: &Frame, source: &[Point], target: &[Point], triangles: &[[usize; 3]]) -> Frame {
    let mut out = frame.clone();
    let (w, h) = (frame.width as usize, frame.height as usize);
    if frame.data.len() != w * h * 3 || w == 0 || h == 0 {
        return out;
    }
    let mut written = vec![false; w * h];
    for &t in triangles {
        let moved = t.iter().any(|&v| {
            (source[v][0] - target[v][0]).abs() > 1e-3 || (source[v][1] - target[v][1]).abs() > 1e-3
        });
        if !moved {
            continue;
        }
        let Some(map) = Affine::between(
            [target[t[0]], target[t[1]], target[t[2]]],
            [source[t[0]], source[t[1]], source[t[2]]],
        ) else {
            continue;
        };
        let (a, b, c) = (target[t[0]], target[t[1]], target[t[2]]);
        let x0 = a[0].min(b[0]).min(c[0]).floor().max(0.0) as usize;
        let y0 = a[1].min(b[1]).min(c[1]).floor().max(0.0) as usize;
        let x1 = (a[0].max(b[0]).max(c[0]).ceil().max(0.0) as usize).min(w);
        let y1 = (a[1].max(b[1]).max(c[1]).ceil().max(0.0) as usize).min(h);
        let d = area(target, t);
        for y in y0..y1 {
            for x in x0..x1 {
                let i = y * w + x;
                if written[i] {
                    continue;
                }
                let p = [x as f32 + 0.5, y as f32 + 0.5];
                // Barycentric weights, all ≥ 0 inside (a hair of slack for shared edges).
                let wa = edge(b, c, p) / d;
                let wb = edge(c, a, p) / d;
                let wc = 1.0 - wa - wb;
                if wa < -1e-4 || wb < -1e-4 || wc < -1e-4 {
                    continue;
                }
                let (sx, sy) = map.apply(p);
                let rgb = sample(frame, sx, sy);
                for (dst, value) in out.data[i * 3..i * 3 + 3].iter_mut().zip(rgb) {
                    *dst = value.round().clamp(0.0, 255.0) as u8;
                }
                written[i] = true;
            }
        }
    }
    out
}

fn edge(a: Point, b: Point, p: Point) -> f32 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

/// An affine map of the plane.
#[derive(Clone, Copy, Debug)]
struct Affine([f32; 6]);

impl Affine {
    /// The map taking triangle `from` onto triangle `to`, if `from` has an area.
    fn between(from: [Point; 3], to: [Point; 3]) -> Option<Affine> {
        let [a, b, c] = from;
        let (ux, uy, vx, vy) = (b[0] - a[0], b[1] - a[1], c[0] - a[0], c[1] - a[1]);
        let det = ux * vy - uy * vx;
        if det.abs() < 1e-9 {
            return None;
        }
        // Inverse of [[ux, vx], [uy, vy]].
        let inv = [vy / det, -vx / det, -uy / det, ux / det];
        let [p, q, r] = to;
        let (px, py, qx, qy) = (q[0] - p[0], q[1] - p[1], r[0] - p[0], r[1] - p[1]);
        // M = [[px, qx], [py, qy]] · inv
        let m00 = px * inv[0] + qx * inv[2];
        let m01 = px * inv[1] + qx * inv[3];
        let m10 = py * inv[0] + qy * inv[2];
        let m11 = py * inv[1] + qy * inv[3];
        Some(Affine([
            m00,
            m01,
            p[0] - m00 * a[0] - m01 * a[1],
            m10,
            m11,
            p[1] - m10 * a[0] - m11 * a[1],
        ]))
    }

    fn apply(&self, p: Point) -> (f32, f32) {
        let m = &self.0;
        (
            m[0] * p[0] + m[1] * p[1] + m[2],
            m[3] * p[0] + m[4] * p[1] + m[5],
        )
    }
}

/// Bilinear sample at pixel-centre coordinates, clamped to the frame.
pub fn sample(frame: &Frame, x: f32, y: f32) -> [f32; 3] {
    let max_x = frame.width as f32 - 1.0;
    let max_y = frame.height as f32 - 1.0;
    let fx = (x - 0.5).clamp(0.0, max_x);
    let fy = (y - 0.5).clamp(0.0, max_y);
    let x0 = fx.floor() as usize;
    let y0 = fy.floor() as usize;
    let x1 = (x0 + 1).min(frame.width as usize - 1);
    let y1 = (y0 + 1).min(frame.height as usize - 1);
    let tx = fx - x0 as f32;
    let ty = fy - y0 as f32;
    let stride = frame.width as usize;
    let at = |px: usize, py: usize, c: usize| frame.data[(py * stride + px) * 3 + c] as f32;
    let mut rgb = [0.0f32; 3];
    for (c, value) in rgb.iter_mut().enumerate() {
        let top = at(x0, y0, c) + (at(x1, y0, c) - at(x0, y0, c)) * tx;
        let bottom = at(x0, y1, c) + (at(x1, y1, c) - at(x0, y1, c)) * tx;
        *value = top + (bottom - top) * ty;
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize, step: f32) -> Vec<Point> {
        (0..n * n)
            .map(|i| [(i % n) as f32 * step + 10.0, (i / n) as f32 * step + 10.0])
            .collect()
    }

    fn textured(w: u32, h: u32) -> Frame {
        let mut frame = Frame::new(w, h);
        for y in 0..h {
            for x in 0..w {
                frame.set_pixel(x, y, [(x * 5 % 256) as u8, (y * 7 % 256) as u8, 90]);
            }
        }
        frame
    }

    #[test]
    fn triangulation_covers_the_hull_once() {
        let points = grid(6, 20.0);
        let triangles = triangulate(&points);
        // A 6×6 grid: 5×5 cells, two triangles each.
        assert_eq!(triangles.len(), 50);
        let total: f32 = triangles
            .iter()
            .map(|&t| area(&points, t).abs() / 2.0)
            .sum();
        assert!((total - 100.0 * 100.0).abs() < 1.0, "{total}");
        // Delaunay: no point inside another triangle's circumcircle.
        let p64: Vec<[f64; 2]> = points.iter().map(|q| [q[0] as f64, q[1] as f64]).collect();
        for &t in &triangles {
            let (_, c) = with_circle(&p64, t);
            for (i, q) in p64.iter().enumerate() {
                if t.contains(&i) {
                    continue;
                }
                let d = (q[0] - c[0]).powi(2) + (q[1] - c[1]).powi(2);
                assert!(d >= c[2] - 1e-6, "point {i} inside {t:?}");
            }
        }
    }

    #[test]
    fn unmoved_mesh_leaves_the_frame_untouched() {
        let frame = textured(120, 120);
        let points = grid(5, 20.0);
        let triangles = triangulate(&points);
        assert_eq!(warp(&frame, &points, &points, &triangles), frame);
    }

    #[test]
    fn moving_one_point_moves_pixels_only_in_its_triangles() {
        let frame = textured(120, 120);
        let points = grid(5, 20.0);
        let triangles = triangulate(&points);
        let mut target = points.clone();
        // The centre point (50, 50) moves 6 px right.
        target[12][0] += 6.0;
        let out = warp(&frame, &points, &target, &triangles);
        assert_ne!(out, frame);
        for y in 0..120 {
            for x in 0..120 {
                let near = (x as f32 - 50.0).abs() < 21.0 && (y as f32 - 50.0).abs() < 21.0;
                if !near {
                    assert_eq!(out.pixel(x, y), frame.pixel(x, y), "({x}, {y})");
                }
            }
        }
        // The pixel now at the moved point shows what was at the point.
        let want = sample(&frame, 50.0, 50.0);
        let got = out.pixel(56, 50);
        for c in 0..2 {
            assert!(
                (got[c] as f32 - want[c]).abs() <= 6.0,
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn a_folding_target_is_scaled_down_until_it_does_not_fold() {
        let points = grid(3, 20.0);
        let triangles = triangulate(&points);
        let mut target = points.clone();
        // The centre point jumps past its right neighbour: triangles flip.
        target[4][0] += 30.0;
        assert!(!keeps_orientation(&points, &target, &triangles));
        let safe = unfolded(&points, &target, &triangles);
        assert!(keeps_orientation(&points, &safe, &triangles));
        assert!(safe[4][0] > points[4][0] + 3.0, "{:?}", safe[4]);
    }

    #[test]
    fn the_hull_holds_every_point() {
        let mut points = grid(4, 10.0);
        points.push([25.0, 25.0]);
        let hull = convex_hull(&points);
        assert_eq!(hull.len(), 4, "{hull:?}");
        assert!(hull.contains(&[10.0, 10.0]) && hull.contains(&[40.0, 40.0]));
        assert!(convex_hull(&[[1.0, 1.0]]).len() == 1);
    }

    #[test]
    fn collinear_and_repeated_points_do_not_break_it() {
        let line: Vec<Point> = (0..5).map(|i| [i as f32, 0.0]).collect();
        assert!(triangulate(&line).is_empty());
        let mut points = grid(3, 10.0);
        points.push(points[4]);
        let triangles = triangulate(&points);
        assert!(!triangles.is_empty());
        assert!(triangulate(&[[0.0, 0.0], [1.0, 1.0]]).is_empty());
    }
}
