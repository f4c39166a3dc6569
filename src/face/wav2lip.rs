//! The wav2lip contract's image side: Wav2Lip's face crop (box padded 10 px at the bottom,
//! resized to 96×96, BGR, 0..1, lower half masked, stacked on the unmasked reference) and
//! the way back — the 96×96 output resized to the box and blended in with a feathered
//! mask, so unlike the reference implementation's hard paste there is no visible seam.

use crate::frame::{FaceBox, Frame};

pub const SIZE: usize = 96;
/// Wav2Lip's `--pads 0 10 0 0` (top, bottom, left, right) in pixels: keeps the chin.
const PAD_BOTTOM: f32 = 10.0;
/// Width of the blend at the crop's edges, as a fraction of the crop's smaller side.
const FEATHER: f32 = 0.12;

/// The crop rectangle `[x0, x1) × [y0, y1)` for a face box, inside the frame.
pub fn crop_box(face: &FaceBox, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let x0 = face.x.max(0.0).floor() as u32;
    let y0 = face.y.max(0.0).floor() as u32;
    let x1 = ((face.x + face.w).ceil() as u32).clamp(x0 + 1, width);
    let y1 = ((face.y + face.h + PAD_BOTTOM).ceil() as u32).clamp(y0 + 1, height);
    (x0.min(width - 1), y0.min(height - 1), x1, y1)
}

/// Bilinear sample of the frame at a real-valued pixel position (clamped to the edges).
fn sample(frame: &Frame, x: f32, y: f32) -> [f32; 3] {
    let max_x = (frame.width - 1) as f32;
    let max_y = (frame.height - 1) as f32;
    let (x, y) = (x.clamp(0.0, max_x), y.clamp(0.0, max_y));
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as u32, y0 as u32);
    let (x1, y1) = (
        (x0 + 1).min(frame.width - 1),
        (y0 + 1).min(frame.height - 1),
    );
    let (a, b, c, d) = (
        frame.pixel(x0, y0),
        frame.pixel(x1, y0),
        frame.pixel(x0, y1),
        frame.pixel(x1, y1),
    );
    let mut out = [0.0; 3];
    for ch in 0..3 {
        let top = a[ch] as f32 * (1.0 - fx) + b[ch] as f32 * fx;
        let bottom = c[ch] as f32 * (1.0 - fx) + d[ch] as f32 * fx;
        out[ch] = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// Writes one frame's model input, `[6, 96, 96]` channel-major: the masked crop (BGR, lower
/// half zero) then the reference crop (BGR), both 0..1.
pub fn face_input(frame: &Frame, face: &FaceBox, out: &mut [f32]) {
    assert_eq!(out.len(), 6 * SIZE * SIZE);
    let (x0, y0, x1, y1) = crop_box(face, frame.width, frame.height);
    let scale_x = (x1 - x0) as f32 / SIZE as f32;
    let scale_y = (y1 - y0) as f32 / SIZE as f32;
    let plane = SIZE * SIZE;
    for row in 0..SIZE {
        for col in 0..SIZE {
            // Pixel centres map to pixel centres, as cv2.resize does.
            let x = x0 as f32 + (col as f32 + 0.5) * scale_x - 0.5;
            let y = y0 as f32 + (row as f32 + 0.5) * scale_y - 0.5;
            let [r, g, b] = sample(frame, x, y);
            let i = row * SIZE + col;
            for (channel, value) in [b, g, r].into_iter().enumerate() {
                let value = value / 255.0;
                out[(3 + channel) * plane + i] = value;
                out[channel * plane + i] = if row >= SIZE / 2 { 0.0 } else { value };
            }
        }
    }
}

/// Blends a model output (`[3, 96, 96]`, BGR, 0..1) back into the frame at the face's crop,
/// with a mask that fades to nothing at the crop's edges.
pub fn paste(frame: &mut Frame, face: &FaceBox, output: &[f32]) {
    assert_eq!(output.len(), 3 * SIZE * SIZE);
    let (x0, y0, x1, y1) = crop_box(face, frame.width, frame.height);
    let (w, h) = ((x1 - x0) as f32, (y1 - y0) as f32);
    let feather = (w.min(h) * FEATHER).max(1.0);
    let plane = SIZE * SIZE;
    let at = |channel: usize, u: f32, v: f32| {
        let u = u.clamp(0.0, (SIZE - 1) as f32);
        let v = v.clamp(0.0, (SIZE - 1) as f32);
        let (c0, r0) = (u.floor() as usize, v.floor() as usize);
        let (c1, r1) = ((c0 + 1).min(SIZE - 1), (r0 + 1).min(SIZE - 1));
        let (fu, fv) = (u - c0 as f32, v - r0 as f32);
        let p = |r: usize, c: usize| output[channel * plane + r * SIZE + c];
        let top = p(r0, c0) * (1.0 - fu) + p(r0, c1) * fu;
        let bottom = p(r1, c0) * (1.0 - fu) + p(r1, c1) * fu;
        top * (1.0 - fv) + bottom * fv
    };
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = ((x - x0) as f32 + 0.5, (y - y0) as f32 + 0.5);
            let edge = dx.min(w - dx).min(dy).min(h - dy);
            let t = (edge / feather).clamp(0.0, 1.0);
            let mask = t * t * (3.0 - 2.0 * t);
            if mask <= 0.0 {
                continue;
            }
            let u = dx / w * SIZE as f32 - 0.5;
            let v = dy / h * SIZE as f32 - 0.5;
            let bgr = [at(0, u, v), at(1, u, v), at(2, u, v)];
            let old = frame.pixel(x, y);
            let new = [bgr[2], bgr[1], bgr[0]];
            let mut rgb = [0u8; 3];
            for ch in 0..3 {
                let value = old[ch] as f32 * (1.0 - mask) + new[ch].clamp(0.0, 1.0) * 255.0 * mask;
                rgb[ch] = value.round() as u8;
            }
            frame.set_pixel(x, y, rgb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient() -> Frame {
        let mut frame = Frame::new(200, 160);
        for y in 0..160 {
            for x in 0..200 {
                frame.set_pixel(x, y, [x as u8, y as u8, 200]);
            }
        }
        frame
    }

    fn face() -> FaceBox {
        FaceBox {
            x: 50.0,
            y: 30.0,
            w: 96.0,
            h: 86.0,
        }
    }

    #[test]
    fn input_is_bgr_masked_then_reference() {
        let frame = gradient();
        let mut input = vec![0.0; 6 * SIZE * SIZE];
        face_input(&frame, &face(), &mut input);
        let plane = SIZE * SIZE;
        // Crop 96 px wide at x 50: column c samples x = 50 + c; blue channel comes first.
        let at = |ch: usize, row: usize, col: usize| input[ch * plane + row * SIZE + col];
        assert!((at(3, 10, 0) - 200.0 / 255.0).abs() < 1e-6, "B first");
        assert!((at(5, 10, 7) - 57.0 / 255.0).abs() < 1e-6, "R = x");
        assert_eq!(at(2, 60, 7), 0.0, "lower half masked");
        assert!(
            (at(2, 10, 7) - at(5, 10, 7)).abs() < 1e-6,
            "upper half kept"
        );
        assert_eq!(crop_box(&face(), 200, 160), (50, 30, 146, 126));
    }

    #[test]
    fn paste_of_the_input_changes_little_and_leaves_the_outside_alone() {
        let frame = gradient();
        let mut input = vec![0.0; 6 * SIZE * SIZE];
        face_input(&frame, &face(), &mut input);
        let mut pasted = frame.clone();
        paste(&mut pasted, &face(), &input[3 * SIZE * SIZE..]);
        let (x0, y0, x1, y1) = crop_box(&face(), 200, 160);
        for y in 0..160 {
            for x in 0..200 {
                let (a, b) = (frame.pixel(x, y), pasted.pixel(x, y));
                if x < x0 || x >= x1 || y < y0 || y >= y1 {
                    assert_eq!(a, b);
                } else {
                    for ch in 0..3 {
                        assert!((a[ch] as i32 - b[ch] as i32).abs() <= 2, "({x},{y})");
                    }
                }
            }
        }
    }

    #[test]
    fn paste_is_feathered_at_the_edges() {
        let frame = gradient();
        let mut pasted = frame.clone();
        let black = vec![0.0; 3 * SIZE * SIZE];
        paste(&mut pasted, &face(), &black);
        let (x0, y0, x1, y1) = crop_box(&face(), 200, 160);
        let centre = pasted.pixel((x0 + x1) / 2, (y0 + y1) / 2);
        assert_eq!(centre, [0, 0, 0]);
        let edge = pasted.pixel(x0, (y0 + y1) / 2);
        let original = frame.pixel(x0, (y0 + y1) / 2);
        assert!(
            edge[2] as i32 > original[2] as i32 - 20,
            "edge barely changes: {edge:?}"
        );
    }
}
