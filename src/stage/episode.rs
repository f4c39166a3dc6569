//! Episode: a project's scenes joined into one video, `out/<project>.mp4`, muxed by
//! `engine/episode.rs`, with an optional intro and outro (videos, or still pictures shown
//! for a time), a transition and a music bed
//! ducked under the voices. Published beside it: a poster (the first scene's) and captions
//! (each scene's cues, shifted to where its part starts).
//!
//! The key names each scene's object and its captions object as inputs — so an edit to one
//! line re-makes that line's speech and clip, its scene, its captions and the episode, and
//! nothing else — plus the content hashes of the intro, outro and music (and how long a
//! still intro or outro shows; an intro or outro made by render, `{ still = "title" }` or
//! `{ shot = "city" }`, is an input by its key, so editing the still's prompt re-makes the
//! still and the episode, not the scenes), the transition,
//! the music's level and the encode settings. Like a scene, an episode is counted in whole
//! frames: every part has a whole number of frames, so the episode lasts exactly the sum of
//! its parts, and a fade takes its frames out of the parts it joins instead of adding any.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fps::Fps;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::{Bookend, Episode, Transition};
use crate::sources::SourceHashes;
use crate::stage::scene::{AUDIO_BITRATE, AUDIO_RATE, CRF, PRESET};
use crate::toolchain;

pub const OUTPUT: &str = "episode.mp4";
/// The first scene's poster.
pub const POSTER: &str = "poster.jpg";
pub const SRT: &str = "captions.srt";
pub const VTT: &str = "captions.vtt";
/// The episode's [`Info`]: its parts in frames.
pub const INFO: &str = "episode.json";
pub const OUTPUTS: [&str; 5] = [OUTPUT, POSTER, SRT, VTT, INFO];
const VERSION: &str = "episode-1";
/// The music bed's ducking: `sidechaincompress` keyed by the voices. A voice at -30 dBFS
/// (RMS) is 30 dB over the threshold; at a ratio of 20 that takes some 28 dB off the bed.
/// How `music_volume` is applied (`engine/episode.rs`): LU relative to the loudness
/// target, the bed measured first.
pub const MUSIC_LEVEL: &str = "relative-to-speech-1";
pub const DUCK: &str = "threshold=0.001:ratio=20:attack=5:release=250:knee=1";

/// What a file removed from `out/` (`file`, relative to the content folder) belonged to:
/// the files directly in `out/` (`out/<project>.mp4` and its poster and captions) are an
/// episode's, the files in `out/<project>/` a scene's.
pub fn owner_of_published(file: &Path) -> &'static str {
    if file.components().count() == 2 {
        "episode"
    } else if file
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains('@'))
    {
        "scene variant"
    } else {
        "scene"
    }
}

/// An episode's files in `out/` beside its video `out/<project>.mp4`: the video, the poster
/// `<project>.jpg` and the captions `<project>.srt` and `.vtt`, each with the object's file
/// it is.
pub fn published(video: &Path) -> [(&'static str, PathBuf); 4] {
    [
        (OUTPUT, video.to_path_buf()),
        (POSTER, video.with_extension("jpg")),
        (SRT, video.with_extension("srt")),
        (VTT, video.with_extension("vtt")),
    ]
}

/// The input names of the episode's scene `i` (0-based, counting scenes only): its video
/// and its captions.
pub fn scene_inputs(i: usize) -> (String, String) {
    (
        format!("scene{:04}.video", i + 1),
        format!("scene{:04}.captions", i + 1),
    )
}

/// The input names of an intro or outro that is a still or a shot.
pub const INTRO: &str = "intro";
pub const OUTRO: &str = "outro";

/// The episode's key. `scenes` is (scene, captions) per scene, in the episode's order;
/// `made` the keys of the intro and outro when they are a still or a shot.
pub fn key(
    episode: &Episode,
    scenes: &[(Key, Key)],
    made: [Option<Key>; 2],
    hashes: &SourceHashes,
) -> Result<KeySpec> {
    let mut spec = KeySpec::new(ArtifactKind::Episode, VERSION, "ffmpeg")
        .param("ffmpeg", toolchain::ffmpeg()?)
        .param("transition", episode.transition.as_str())
        .param("crf", CRF)
        .param("preset", PRESET)
        .param(
            "audio",
            format!("aac {AUDIO_BITRATE} {AUDIO_RATE} Hz stereo"),
        );
    if episode.transition == Transition::Fade {
        spec = spec.param("transition_seconds", episode.transition_seconds);
    }
    let bookends = [
        (INTRO, &episode.intro, made[0]),
        (OUTRO, &episode.outro, made[1]),
    ];
    for (name, bookend, made) in bookends {
        let Some(bookend) = bookend else {
            continue;
        };
        // A still or shot is an input by its key (`made`), which the plan adds.
        let made = || {
            made.ok_or_else(|| {
                Error::Other(format!(
                    "internal error (a bug in render): the {name} has no key"
                ))
            })
        };
        spec = match bookend {
            Bookend::Video(file) => spec.source(name, &file.rel, hashes.hash(file)?),
            Bookend::Picture { file, seconds } => spec
                .source(name, &file.rel, hashes.hash(file)?)
                .param(format!("{name}_seconds"), *seconds),
            Bookend::Still { seconds, .. } => spec
                .input(name, made()?)
                .param(format!("{name}_seconds"), *seconds),
            Bookend::Shot(_) => spec.input(name, made()?),
        };
    }
    if let Some(file) = &episode.music {
        spec = spec.source("music", &file.rel, hashes.hash(file)?);
    }
    if episode.music.is_some() {
        spec = spec
            .param("music_volume", episode.music_volume)
            // The bed measured and set relative to the speech's loudness (not a gain on
            // the file as it is): only the episodes with music change key.
            .param("music_level", MUSIC_LEVEL)
            .param("duck", DUCK);
    }
    for (i, (scene, captions)) in scenes.iter().enumerate() {
        let (video, subtitles) = scene_inputs(i);
        spec = spec.input(video, *scene).input(subtitles, *captions);
    }
    Ok(spec)
}

/// What an episode is, in frames: each part's first frame and length.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Info {
    /// A number, or `"N/D"` for a fractional rate (`crate::fps`).
    pub fps: Fps,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    pub parts: Vec<PartInfo>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartInfo {
    /// "intro", "scene" or "outro".
    pub kind: String,
    pub start: usize,
    pub frames: usize,
}

impl Info {
    pub fn new(kinds: &[&str], frames: &[usize], fps: Fps, width: u32, height: u32) -> Info {
        let mut start = 0;
        let parts = (kinds.iter().zip(frames))
            .map(|(kind, &frames)| {
                let part = PartInfo {
                    kind: kind.to_string(),
                    start,
                    frames,
                };
                start += frames;
                part
            })
            .collect();
        Info {
            fps,
            width,
            height,
            frames: start,
            parts,
        }
    }

    /// The audio sample at which `frame` starts, counted from the episode's start (as a
    /// scene's `Timeline` counts them, so no part drifts however many there are).
    pub fn sample_at(&self, frame: usize) -> u64 {
        self.fps.sample_at(frame, AUDIO_RATE)
    }

    /// Where `frame` starts, in whole milliseconds.
    pub fn ms_at(&self, frame: usize) -> u64 {
        self.fps.ms_at(frame)
    }
}

/// An episode must be H.264 + AAC with the planned frame count and matching durations.
/// (A scene's check says exactly that.)
pub fn check(artifact: &str, path: &Path, frames: usize, fps: Fps) -> Result<()> {
    crate::stage::scene::check(artifact, path, frames, fps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_follow_each_other_in_whole_frames() {
        let info = Info::new(
            &["intro", "scene", "scene"],
            &[7, 30, 12],
            crate::fps::Fps::whole(12),
            160,
            90,
        );
        let starts: Vec<usize> = info.parts.iter().map(|p| p.start).collect();
        assert_eq!(starts, [0, 7, 37]);
        assert_eq!(info.frames, 49);
        assert_eq!(info.sample_at(7), 28_000);
        assert_eq!(info.ms_at(37), 3_083);
    }

    #[test]
    fn files_are_published_beside_the_project_folder() {
        let files = published(Path::new("out/demo.mp4"));
        let paths: Vec<&str> = files.iter().map(|(_, p)| p.to_str().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "out/demo.mp4",
                "out/demo.jpg",
                "out/demo.srt",
                "out/demo.vtt"
            ]
        );
    }
}
