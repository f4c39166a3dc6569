//! Two people in one shot (`shot = "two"` on a scene): the scene's lines are one exchange
//! between two avatars, made by one run of a two-person lip-sync engine (InfiniteTalk's
//! multi-person mode, say) instead of one clip per line. Three artifacts, each keyed by
//! what its bytes depend on:
//!
//! - **a track per person** (`track.wav`): the exchange's length, that person's lines at
//!   their place and silence elsewhere — what such models take as one audio per face
//!   (InfiniteTalk's `cond_audio: {person1, person2}`). Its key names every line's speech
//!   (each line's length places the next) and which lines are this person's.
//! - **the shot** (`clip.mp4`): the engine's video of the whole exchange, exactly its frames,
//!   from one picture showing both (`picture.png` in the object: the two avatars side by
//!   side, or, when both avatars name one picture of both with their `face`, that picture
//!   as it is) and each face's box in it, taken from that avatar's face track (which, with
//!   `face`, follows that one of the picture's two faces). Which voice
//!   drives which face is render's decision — a line's avatar is its person, person 1 is
//!   the avatar of the first line — never the model's left-to-right guess.
//! - **each line's clip**, cut from the shot at the line's frames, so the scene, its
//!   captions and its timeline are made as for any scene.
//!
//! Time in the exchange is counted in frames, as in a scene: line `i` starts at the sum of
//! the frames covering the lines before it (`lipsync::frame_count`), and its samples start
//! at the sample nearest that frame's start. The exchange has no pauses: the scene's pause
//! after a line holds its last frame, as after any clip.

use crate::error::Result;
use crate::fps::Fps;
use crate::frame::{FaceBox, Frame};
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::{Avatar, SourceFile};
use crate::sources::SourceHashes;
use crate::stage::lipsync::CLIP_CRF;
use crate::stage::scene;
use crate::toolchain;

/// A person's audio track.
pub const TRACK: &str = "track.wav";
/// The tracks' sample rate: what the two-person models resample their audio to anyway.
pub const TRACK_RATE: u32 = 16_000;
/// The shot's video (a clip: H.264 at the scene's fps, exactly the exchange's frames).
pub const OUTPUT: &str = crate::stage::lipsync::OUTPUT;
/// The picture the engine was given: both avatars side by side, or the one picture of both.
pub const PICTURE: &str = "picture.png";
const TRACK_VERSION: &str = "track-1";
const SHOT_VERSION: &str = "shot-1";
const CUT_VERSION: &str = "clip-cut-1";

/// The name of person `p`'s (0-based) track among the shot's inputs.
pub fn track_input(p: usize) -> String {
    format!("track{}", p + 1)
}

/// The name of person `p`'s face track among the shot's inputs.
pub fn face_input(p: usize) -> String {
    format!("face{}", p + 1)
}

/// The input name of line `i`'s speech (the scene's name for it).
pub fn speech_input(i: usize) -> String {
    scene::line_inputs(i).1
}

/// The input name of the shot among a line clip's inputs.
pub const SHOT: &str = "shot";

/// Person `person`'s (0-based) track: every line's speech (`speeches`, in script order),
/// and which person says each line (`people`).
pub fn track_key(person: usize, speeches: &[Key], people: &[usize], fps: Fps) -> KeySpec {
    let said: Vec<String> = people.iter().map(|p| (p + 1).to_string()).collect();
    let spec = KeySpec::new(ArtifactKind::Track, TRACK_VERSION, "render")
        .param("person", person + 1)
        .param("people", said.join(","))
        .param("fps", fps)
        .param("rate", TRACK_RATE);
    (speeches.iter().enumerate()).fold(spec, |spec, (i, speech)| {
        spec.input(speech_input(i), *speech)
    })
}

/// The shot's stage part: both tracks, both avatars (their files and face tracks, in
/// person order) and the encode; the engine adds its own.
pub fn shot_key(
    engine: &str,
    avatars: [&Avatar; 2],
    faces: [Key; 2],
    tracks: [Key; 2],
    fps: Fps,
    hashes: &SourceHashes,
) -> Result<KeySpec> {
    let mut spec = KeySpec::new(ArtifactKind::TwoShot, SHOT_VERSION, engine.to_string())
        .param("fps", fps)
        .param("crf", CLIP_CRF)
        .param("ffmpeg", toolchain::ffmpeg()?);
    if one_picture(&avatars[0].source, &avatars[1].source) {
        // Which face is whose is in the face tracks' keys (`face`).
        spec = spec.param("picture", "one of both");
    }
    for p in 0..2 {
        let avatar = avatars[p];
        spec = spec
            .input(track_input(p), tracks[p])
            .input(face_input(p), faces[p])
            .source(
                format!("avatar{}", p + 1),
                &avatar.source.rel,
                hashes.hash(&avatar.source)?,
            );
    }
    Ok(spec)
}

/// Line `line`'s clip cut from the shot: the shot and the speech of that line and of every
/// line before it (whose lengths place it).
pub fn cut_key(shot: Key, speeches: &[Key], line: usize, fps: Fps) -> Result<KeySpec> {
    let spec = KeySpec::new(ArtifactKind::Clip, CUT_VERSION, "ffmpeg")
        .param("fps", fps)
        .param("crf", CLIP_CRF)
        .param("ffmpeg", toolchain::ffmpeg()?)
        .param("line", line + 1)
        .input(SHOT, shot);
    Ok(
        (speeches[..=line].iter().enumerate()).fold(spec, |spec, (i, speech)| {
            spec.input(speech_input(i), *speech)
        }),
    )
}

/// Where each line starts in the exchange, in frames, and the exchange's frames.
pub fn starts(frames: &[usize]) -> (Vec<usize>, usize) {
    let mut at = 0;
    let starts = (frames.iter())
        .map(|f| {
            let start = at;
            at += f;
            start
        })
        .collect();
    (starts, at)
}

/// Lays each line's samples (at [`TRACK_RATE`]) at its start into a track of the
/// exchange's length: `lines` is (first frame, samples) of this person's lines.
pub fn lay(lines: &[(usize, Vec<f32>)], frames: usize, fps: Fps) -> Vec<f32> {
    let len = fps.sample_at(frames, TRACK_RATE) as usize;
    let mut track = vec![0.0; len];
    for (start, samples) in lines {
        let at = fps.sample_at(*start, TRACK_RATE) as usize;
        let end = (at + samples.len()).min(len);
        if at < end {
            track[at..end].copy_from_slice(&samples[..end - at]);
        }
    }
    track
}

/// Where an avatar sits in the two-person picture: scaled by `scale`, then moved right by
/// `x` pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    pub scale: f64,
    pub x: u32,
}

impl Placement {
    /// A face box of the avatar's own picture, in the two-person picture.
    pub fn place(&self, b: &FaceBox) -> FaceBox {
        let k = self.scale as f32;
        FaceBox {
            x: b.x * k + self.x as f32,
            y: b.y * k,
            w: b.w * k,
            h: b.h * k,
        }
    }
}

/// The two avatars side by side, scaled to the same height (the smaller one's, even),
/// person 1 on the left; the picture's width is even too (the right edge padded black).
pub fn side_by_side(left: &Frame, right: &Frame) -> (Frame, [Placement; 2]) {
    let height = (left.height.min(right.height) & !1).max(2);
    let fit = |f: &Frame| {
        let scale = f64::from(height) / f64::from(f.height);
        let scaled = if f.height == height {
            f.clone()
        } else {
            f.scaled(scale)
        };
        (scaled, scale)
    };
    let (a, scale_a) = fit(left);
    let (b, scale_b) = fit(right);
    let width = (a.width + b.width + 1) & !1;
    let mut picture = Frame::new(width, height);
    for (frame, x0) in [(&a, 0), (&b, a.width)] {
        for y in 0..height.min(frame.height) {
            for x in 0..frame.width {
                picture.set_pixel(x0 + x, y, frame.pixel(x, y));
            }
        }
    }
    let placements = [
        Placement {
            scale: scale_a,
            x: 0,
        },
        Placement {
            scale: scale_b,
            x: a.width,
        },
    ];
    (picture, placements)
}

/// Whether the two people's avatars are one picture of both (each with their `face`; the
/// manifest allows the same file for two people only so), not two to put side by side.
pub fn one_picture(first: &SourceFile, second: &SourceFile) -> bool {
    first == second
}

/// The picture of both as it is (`first`, as person 1's face track measured it), and where
/// each person's face track's boxes go in it: person 2's track may have measured the
/// same picture at another size (`second`; each avatar is worked at the size its scenes
/// need, `face_track::work_side`).
pub fn both_in_one(first: &Frame, second: &Frame) -> (Frame, [Placement; 2]) {
    let scale = f64::from(first.width) / f64::from(second.width.max(1));
    let placements = [Placement { scale: 1.0, x: 0 }, Placement { scale, x: 0 }];
    (first.clone(), placements)
}

/// A box as the engines' placeholders give it: whole pixels, `x0,y0,x1,y1` (`yx`: `y0,x0,y1,x1`,
/// the order InfiniteTalk's `bbox` reads, its first number indexing the mask's rows),
/// clamped to the picture.
pub fn box_text(b: &FaceBox, (width, height): (u32, u32), yx: bool) -> String {
    let clamp = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
    let (x0, y0) = (clamp(b.x, width), clamp(b.y, height));
    let (x1, y1) = (clamp(b.x + b.w, width), clamp(b.y + b.h, height));
    if yx {
        format!("{y0},{x0},{y1},{x1}")
    } else {
        format!("{x0},{y0},{x1},{y1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_each_other_in_frames() {
        assert_eq!(starts(&[10, 5, 7]), (vec![0, 10, 15], 22));
    }

    #[test]
    fn a_track_holds_its_lines_in_place_and_silence_elsewhere() {
        let fps = Fps::whole(25);
        // Frame 10 starts at 0.4 s: sample 6400 at 16 kHz.
        let track = lay(&[(10, vec![0.5; 100])], 20, fps);
        assert_eq!(track.len(), 12_800);
        assert!(track[..6400].iter().all(|&s| s == 0.0));
        assert!(track[6400..6500].iter().all(|&s| s == 0.5));
        assert!(track[6500..].iter().all(|&s| s == 0.0));
    }

    #[test]
    fn one_picture_of_both_is_kept_and_each_box_scaled_to_it() {
        let (picture, at) = both_in_one(&Frame::new(640, 320), &Frame::new(320, 160));
        assert_eq!((picture.width, picture.height), (640, 320));
        assert_eq!(at[0], Placement { scale: 1.0, x: 0 });
        assert_eq!(at[1], Placement { scale: 2.0, x: 0 });
    }

    #[test]
    fn avatars_sit_side_by_side_at_one_height() {
        let (picture, at) = side_by_side(&Frame::new(100, 200), &Frame::new(300, 100));
        assert_eq!((picture.width, picture.height), (350, 100));
        assert_eq!(at[0], Placement { scale: 0.5, x: 0 });
        assert_eq!(at[1], Placement { scale: 1.0, x: 50 });
        let face = FaceBox {
            x: 10.0,
            y: 20.0,
            w: 30.0,
            h: 40.0,
        };
        let placed = at[1].place(&face);
        assert_eq!(box_text(&placed, (350, 100), false), "60,20,90,60");
        assert_eq!(box_text(&placed, (350, 100), true), "20,60,60,90");
    }
}
