//! Scene: the finished MP4, muxed by ffmpeg (`engine/ffmpeg.rs`) from each line's clip and
//! speech, in script order, over the background. The key names every line's clip and
//! speech as inputs (which is also what makes them the scene's dependencies), plus the
//! encode settings and the background; the output must be H.264 + AAC with the planned
//! frame count.
//!
//! Time in a scene is counted in whole frames, never in seconds: a float timestamp rounds
//! differently at 7, 23 or 119 fps, and one rounding is a dropped frame. The `Timeline`
//! below says how many frames each line's slot has and where its audio ends, in integers,
//! and the mux and the check both follow it.
//!
//! Besides the video, a scene object holds its stills — a poster (a frame from the middle
//! of the first line) and a contact sheet (a frame from the middle of each line, tiled) —
//! and `scene.json`, its timeline in frames, so the build report can show a scene and its
//! duration without opening the video.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fps::Fps;
use crate::framing::Framing;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::{Background, BurnedCaptions, Scene};
use crate::media;
use crate::sources::SourceHashes;
use crate::toolchain;

pub const OUTPUT: &str = "scene.mp4";
/// A frame from the middle of the first line, at most [`POSTER_WIDTH`] wide.
pub const POSTER: &str = "poster.jpg";
/// A frame from the middle of each line (at most [`SHEET_FRAMES`]), tiled.
pub const SHEET: &str = "sheet.jpg";
/// The scene's [`Info`].
pub const INFO: &str = "scene.json";
/// Every file of a scene object.
pub const OUTPUTS: [&str; 4] = [OUTPUT, POSTER, SHEET, INFO];
pub const POSTER_WIDTH: u32 = 640;
pub const THUMB_WIDTH: u32 = 240;
pub const SHEET_COLUMNS: usize = 4;
/// A sheet of a long scene shows this many lines, spread evenly over it.
pub const SHEET_FRAMES: usize = 12;
const VERSION: &str = "scene-4";
pub const CRF: u32 = 20;
pub const PRESET: &str = "veryfast";
pub const AUDIO_RATE: u32 = 48_000;
pub const AUDIO_BITRATE: &str = "160k";
/// Stereo: a mono voice in both ears (`crate::loudness`).
pub const AUDIO_CHANNELS: u32 = 2;

/// A scene's files in `out/` beside its video `out/<project>/<scene>.mp4`: the video, the
/// poster `<scene>.jpg` and the contact sheet `<scene>.sheet.jpg`, each with the object's
/// file it is.
pub fn published(video: &Path) -> [(&'static str, PathBuf); 3] {
    [
        (OUTPUT, video.to_path_buf()),
        (POSTER, video.with_extension("jpg")),
        (SHEET, video.with_extension("sheet.jpg")),
    ]
}

/// The input names of line `i` (0-based) in a scene's key spec: its clip and its speech.
pub fn line_inputs(i: usize) -> (String, String) {
    (
        format!("line{:04}.clip", i + 1),
        format!("line{:04}.speech", i + 1),
    )
}

/// The input name of line `i`'s face track (0-based): an input only of scenes framed on
/// the face, so that the other framings keep their keys and dependencies.
pub fn face_input(i: usize) -> String {
    format!("line{:04}.face", i + 1)
}

/// What the framing adds to a scene's key: nothing for "fit" (the look before framing
/// could be chosen: those scenes keep their keys); "fill"; for "face" its size and
/// headroom, and each line's face track (`faces`, in script order; none for a b-roll
/// line, which is filled), read by the mux.
pub fn framing_key(spec: KeySpec, framing: Framing, faces: &[Option<Key>]) -> KeySpec {
    match framing {
        Framing::Fit => spec,
        Framing::Fill => spec.param("framing", "fill"),
        Framing::Face { size, headroom } => {
            let spec = (spec.param("framing", "face"))
                .param("face-size", size)
                .param("headroom", headroom);
            (faces.iter().enumerate())
                .filter_map(|(i, face)| face.map(|face| (i, face)))
                .fold(spec, |spec, (i, face)| spec.input(face_input(i), face))
        }
    }
}

/// The scene's key. `lines` is (clip, speech) per line, in script order.
pub fn key(scene: &Scene, lines: &[(Key, Key)], hashes: &SourceHashes) -> Result<KeySpec> {
    let mut spec = KeySpec::new(ArtifactKind::Scene, VERSION, "ffmpeg")
        .param("ffmpeg", toolchain::ffmpeg()?)
        .param("fps", scene.fps)
        .param("size", format!("{}x{}", scene.width, scene.height))
        .param("pause", scene.pause)
        .param("crf", CRF)
        .param("preset", PRESET)
        .param("audio", format!("aac {AUDIO_BITRATE} {AUDIO_RATE} Hz"))
        .param("channels", AUDIO_CHANNELS)
        .param("loudness", scene.loudness)
        .param("true_peak", scene.true_peak);
    match &scene.background {
        Background::Colour([r, g, b]) => {
            spec = spec.param("background", format!("#{r:02x}{g:02x}{b:02x}"));
        }
        Background::Image(file) => {
            spec = spec.param("background", "image").source(
                "background",
                &file.rel,
                hashes.hash(file)?,
            );
        }
        // The artifact itself is the input `BACKGROUND`, which the plan adds by its key.
        Background::Still(_) => spec = spec.param("background", "still"),
        Background::Shot(_) => spec = spec.param("background", "shot"),
    }
    spec.inputs.reserve(2 * lines.len());
    for (i, (clip, speech)) in lines.iter().enumerate() {
        let (clip_name, speech_name) = line_inputs(i);
        spec = spec.input(clip_name, *clip).input(speech_name, *speech);
    }
    Ok(spec)
}

/// The input name of a scene's background when it is a still or a shot.
pub const BACKGROUND: &str = "background";

/// The input name of a burning scene's captions object.
pub const CAPTIONS: &str = "captions";
/// How captions are burned in (`engine/ffmpeg/burn.rs`); bumped when the drawing changes.
const BURN_VERSION: &str = "burn-1";

/// A scene that burns its captions: its key `spec` plus the captions object it draws (an
/// input, so the scene waits for it and changes with every cue), the style and the font
/// file's blake3 (a font update re-makes it). A scene that does not burn never comes here,
/// so its key is what it was before burned captions existed.
pub fn burned(spec: KeySpec, style: &BurnedCaptions, captions: Key, font: &str) -> KeySpec {
    let hex = |[r, g, b]: [u8; 3]| format!("#{r:02x}{g:02x}{b:02x}");
    spec.input(CAPTIONS, captions)
        .param("captions", BURN_VERSION)
        .param("caption_size", style.size)
        .param("caption_position", style.position.name())
        .param("caption_colour", hex(style.colour))
        .param("caption_outline", hex(style.outline))
        .param("font", font)
}

/// One line's part of a scene: its clip's frames, then the pause after it (its last frame
/// held, silence), and the audio samples that cover both.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slot {
    pub clip_frames: usize,
    pub pause_frames: usize,
    pub samples: u64,
}

/// A scene's frames and samples, line by line.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    pub slots: Vec<Slot>,
    /// Every slot's frames: the frames the scene must have.
    pub frames: usize,
}

impl Timeline {
    /// The timeline of clips of `clip_frames` each, with `pause` seconds between two lines.
    /// A slot's audio ends at the sample nearest its last frame's end, counted from the
    /// scene's start, so the audio never drifts from the video by more than half a sample
    /// however many lines there are.
    pub fn new(clip_frames: &[usize], pause: f64, fps: Fps) -> Timeline {
        let pause_frames = fps.frames_in(pause);
        let sample_at = |frame: usize| fps.sample_at(frame, AUDIO_RATE);
        let last = clip_frames.len().saturating_sub(1);
        let mut frames = 0;
        let slots = (clip_frames.iter().enumerate())
            .map(|(i, &clip_frames)| {
                let pause_frames = if i < last { pause_frames } else { 0 };
                let start = sample_at(frames);
                frames += clip_frames + pause_frames;
                Slot {
                    clip_frames,
                    pause_frames,
                    samples: sample_at(frames) - start,
                }
            })
            .collect();
        Timeline { slots, frames }
    }
}

/// What a scene is, in frames: read by the build report (no video is opened for it).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Info {
    /// A number, or `"N/D"` for a fractional rate (`crate::fps`).
    pub fps: Fps,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    /// Each line's slot, in frames (its clip and the pause after it).
    pub lines: Vec<usize>,
}

impl Info {
    pub fn new(timeline: &Timeline, fps: Fps, width: u32, height: u32) -> Info {
        Info {
            fps,
            width,
            height,
            frames: timeline.frames,
            lines: (timeline.slots.iter())
                .map(|s| s.clip_frames + s.pause_frames)
                .collect(),
        }
    }

    pub fn seconds(&self) -> f64 {
        self.fps.seconds(self.frames)
    }

    /// The frame in the middle of each line's slot.
    pub fn middles(&self) -> Vec<usize> {
        let mut start = 0;
        (self.lines.iter())
            .map(|&frames| {
                let middle = start + frames / 2;
                start += frames;
                middle.min(self.frames.saturating_sub(1))
            })
            .collect()
    }

    /// The frames of the contact sheet: each line's middle, or, past [`SHEET_FRAMES`]
    /// lines, that many spread evenly from the first line to the last.
    pub fn sheet_frames(&self) -> Vec<usize> {
        let middles = self.middles();
        let n = middles.len();
        if n <= SHEET_FRAMES {
            return middles;
        }
        (0..SHEET_FRAMES)
            .map(|i| middles[i * (n - 1) / (SHEET_FRAMES - 1)])
            .collect()
    }
}

/// A still must be a JPEG (a zero-byte or truncated file would pass the cache's size check).
pub fn check_still(artifact: &str, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| {
        media::invalid(
            artifact,
            format!("{} was not written: {e}", file_name(path)),
        )
    })?;
    if !(bytes.starts_with(&[0xFF, 0xD8]) && bytes.ends_with(&[0xFF, 0xD9])) {
        return Err(media::invalid(
            artifact,
            format!("{} is not a whole JPEG image", file_name(path)),
        ));
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// A scene must be H.264 + stereo 48 kHz AAC with the planned frame count and matching
/// durations.
pub fn check(artifact: &str, path: &Path, frames: usize, fps: Fps) -> Result<()> {
    let probe = media::probe_output(artifact, path)?;
    let video = probe
        .video
        .ok_or_else(|| media::invalid(artifact, "no video stream"))?;
    let audio = probe
        .audio
        .ok_or_else(|| media::invalid(artifact, "no audio stream"))?;
    if video.codec != "h264" || audio.codec != "aac" {
        return Err(media::invalid(
            artifact,
            format!(
                "expected H.264 + AAC, found {} + {}",
                video.codec, audio.codec
            ),
        ));
    }
    // Published audio is what loudness normalisation makes: stereo AAC at 48 kHz.
    if audio.channels != AUDIO_CHANNELS || audio.sample_rate != AUDIO_RATE {
        return Err(media::invalid(
            artifact,
            format!(
                "expected stereo audio at {AUDIO_RATE} Hz, found {} channel(s) at {} Hz",
                audio.channels, audio.sample_rate
            ),
        ));
    }
    if video.packets as usize != frames {
        return Err(media::invalid(
            artifact,
            format!("expected {frames} frames, found {}", video.packets),
        ));
    }
    if (video.seconds - audio.seconds).abs() > 1.0 / fps.as_f64() {
        return Err(media::invalid(
            artifact,
            format!(
                "video lasts {:.3} s but audio {:.3} s",
                video.seconds, audio.seconds
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_hold_whole_frames_and_the_pause_goes_between_lines() {
        let timeline = Timeline::new(&[5, 14, 35], 0.4, Fps::whole(12));
        let frames: Vec<(usize, usize)> = (timeline.slots.iter())
            .map(|s| (s.clip_frames, s.pause_frames))
            .collect();
        assert_eq!(frames, [(5, 5), (14, 5), (35, 0)]);
        assert_eq!(timeline.frames, 64);
    }

    #[test]
    fn stills_are_published_beside_the_video() {
        let files = published(Path::new("out/demo/a.b.mp4"));
        let paths: Vec<&str> = files.iter().map(|(_, p)| p.to_str().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "out/demo/a.b.mp4",
                "out/demo/a.b.jpg",
                "out/demo/a.b.sheet.jpg"
            ]
        );
    }

    #[test]
    fn stills_come_from_the_middle_of_each_line() {
        let timeline = Timeline::new(&[5, 14, 35], 0.4, Fps::whole(12));
        let info = Info::new(&timeline, Fps::whole(12), 320, 180);
        assert_eq!(info.lines, [10, 19, 35]);
        assert_eq!(info.middles(), [5, 19, 46]);
        assert_eq!(info.sheet_frames(), info.middles());
        assert!((info.seconds() - 64.0 / 12.0).abs() < 1e-9);
        // A long scene: twelve frames, the first and the last line's among them.
        let long = Info::new(
            &Timeline::new(&[10; 40], 0.0, Fps::whole(25)),
            Fps::whole(25),
            320,
            180,
        );
        let frames = long.sheet_frames();
        assert_eq!(frames.len(), SHEET_FRAMES);
        assert_eq!((frames[0], frames[11]), (5, 395));
        assert!(frames.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ntsc_slots_hold_their_exact_samples() {
        // 29.97 fps: 30 frames last 1.001 s, 48 048 samples; the pause of 0.4 s is 12 frames.
        let timeline = Timeline::new(&[30, 18], 0.4, Fps::ntsc(30));
        let slots: Vec<(usize, usize, u64)> = (timeline.slots.iter())
            .map(|s| (s.clip_frames, s.pause_frames, s.samples))
            .collect();
        assert_eq!(slots, [(30, 12, 67_267), (18, 0, 28_829)]);
        assert_eq!(timeline.frames, 60);
        // 60 frames at 30000/1001 are 2.002 s: 96 096 samples in all.
        assert_eq!(67_267 + 28_829, 96_096);
    }

    #[test]
    fn audio_ends_with_the_last_frame_at_every_rate() {
        for fps in 1..=120 {
            let clips: Vec<usize> = (0..40).map(|i| 1 + (i * 7 + fps as usize) % 23).collect();
            let timeline = Timeline::new(&clips, 0.37, Fps::whole(fps));
            let samples: u64 = timeline.slots.iter().map(|s| s.samples).sum();
            // Summed per slot, the samples still end where the frames do (to the nearest
            // sample): nothing is truncated line after line.
            let exact = timeline.frames as f64 * f64::from(AUDIO_RATE) / f64::from(fps);
            assert!((samples as f64 - exact).abs() <= 0.5, "{fps} fps");
        }
    }
}
