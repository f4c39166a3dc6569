//! An RGB24 video frame in memory — the unit every CPU image stage works on — and the box
//! of a face in one.

use serde::{Deserialize, Serialize};

/// Row-major RGB24 pixels, `width * height * 3` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Frame {
    pub fn new(width: u32, height: u32) -> Frame {
        Frame {
            width,
            height,
            data: vec![0; width as usize * height as usize * 3],
        }
    }

    pub fn from_rgb(width: u32, height: u32, data: Vec<u8>) -> Frame {
        assert_eq!(data.len(), width as usize * height as usize * 3);
        Frame {
            width,
            height,
            data,
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    pub fn set_pixel(&mut self, x: u32, y: u32, rgb: [u8; 3]) {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.data[i..i + 3].copy_from_slice(&rgb);
    }

    /// The frame scaled by `k` (bilinear; at least 1×1).
    pub fn scaled(&self, k: f64) -> Frame {
        let size = |side: u32| ((f64::from(side) * k).round() as u32).max(1);
        let (w, h) = (size(self.width), size(self.height));
        let image = image::RgbImage::from_raw(self.width, self.height, self.data.clone())
            .expect("a frame's pixels fill it");
        let scaled = image::imageops::resize(&image, w, h, image::imageops::FilterType::Triangle);
        Frame::from_rgb(w, h, scaled.into_raw())
    }

    /// ITU-R BT.601 luma, what the face detector reads.
    pub fn to_gray(&self) -> Vec<u8> {
        self.data
            .chunks_exact(3)
            .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8)
            .collect()
    }
}

/// A face's bounding box in pixel coordinates of its frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl FaceBox {
    /// Grows the box by fractions of its height (`top`, `bottom`) and width (`left`,
    /// `right`), then clamps it to the frame: crops for lip-sync models want chin and cheeks.
    pub fn padded(
        &self,
        top: f32,
        bottom: f32,
        left: f32,
        right: f32,
        frame_w: u32,
        frame_h: u32,
    ) -> FaceBox {
        let x0 = (self.x - left * self.w).clamp(0.0, frame_w as f32);
        let y0 = (self.y - top * self.h).clamp(0.0, frame_h as f32);
        let x1 = (self.x + self.w + right * self.w).clamp(0.0, frame_w as f32);
        let y1 = (self.y + self.h + bottom * self.h).clamp(0.0, frame_h as f32);
        FaceBox {
            x: x0,
            y: y0,
            w: (x1 - x0).max(0.0),
            h: (y1 - y0).max(0.0),
        }
    }

    /// The box's centre point.
    pub fn centre(&self) -> (f32, f32) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }

    pub fn lerp(&self, other: &FaceBox, t: f32) -> FaceBox {
        FaceBox {
            x: self.x + (other.x - self.x) * t,
            y: self.y + (other.y - self.y) * t,
            w: self.w + (other.w - self.w) * t,
            h: self.h + (other.h - self.h) * t,
        }
    }
}
