//! Checks of what is inside the source files a folder names — avatar images and videos,
//! background images, recorded lines, voice samples — made while the folder loads, so a
//! damaged, cut-short or oversized file is reported at the key that names it (exit 2) before
//! any line is spoken, instead of by the stage that reads it, after minutes of work.
//!
//! Images and WAVs are decoded whole in-process (a truncated file fails only at its end);
//! an avatar video is probed with ffprobe. That costs time, so a pass is remembered with the
//! file's content hash in `cache/state/sources.json` ([`SourceHashes::pass`]): a no-op build
//! stats each file, as it does for its key anyway, and decodes nothing and starts nothing.
//!
//! An avatar image must show a face; with several, the face track follows the largest
//! (`FaceDetector::detect`), and the check says so in a warning that every build repeats.
//! An avatar with `face` is one of two people in its picture: it must show exactly two.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::engine::rustface::{FaceDetector, MIN_SIDE};
use crate::frame::Frame;
use crate::manifest::{CheckMedia, Media, MediaNote, SourceFile};
use crate::media::{self, ImageProblem, MAX_IMAGE_SIDE};
use crate::sources::SourceHashes;

/// The version of the rules below: a change to them must bump it, so that files that passed
/// the old rules are checked again (2: images are decoded upright, by their EXIF
/// orientation).
const RULES: u32 = 2;

type Answer = Result<Option<MediaNote>, MediaNote>;

/// The checks of one load, remembered in (and from) `hashes`.
pub struct MediaChecks<'a> {
    hashes: &'a SourceHashes,
    /// This load's answers by file and use: a recording that many lines play is checked once.
    answers: Mutex<HashMap<(String, Media), Answer>>,
}

impl<'a> MediaChecks<'a> {
    pub fn new(hashes: &'a SourceHashes) -> Self {
        MediaChecks {
            hashes,
            answers: Mutex::new(HashMap::new()),
        }
    }
}

impl CheckMedia for MediaChecks<'_> {
    fn check(&self, file: &SourceFile, media: Media) -> Answer {
        let id = (file.rel.clone(), media);
        if let Some(answer) = self.answers.lock().unwrap().get(&id) {
            return answer.clone();
        }
        let answer = self.remembered_or_checked(file, media);
        self.answers.lock().unwrap().insert(id, answer.clone());
        answer
    }
}

impl MediaChecks<'_> {
    fn remembered_or_checked(&self, file: &SourceFile, media: Media) -> Answer {
        if let Err(e) = self.hashes.hash(file) {
            let message = format!("cannot read {} `{}`: {e}", media.what(), file.rel);
            return Err(note(message, "unreadable", "check the file's permissions"));
        }
        let name = format!("{media:?}/{RULES}");
        if let Some(warning) = self.hashes.passed(file, &name) {
            return Ok(warning);
        }
        let answer = check(file, media);
        if let Ok(warning) = &answer {
            self.hashes.pass(file, &name, warning.clone());
        }
        answer
    }
}

/// Decodes `file` as `media` and applies its rules.
fn check(file: &SourceFile, media: Media) -> Answer {
    let what = media.what();
    let rel = &file.rel;
    match media {
        Media::AvatarImage
        | Media::TwoPeopleImage
        | Media::BackgroundImage
        | Media::EpisodeImage => {
            let image = media::check_image(&file.abs).map_err(|problem| match problem {
                ImageProblem::Unreadable(detail) => note(
                    format!("cannot read {what} `{rel}`: {detail}"),
                    "unreadable",
                    "it is damaged, cut short or not a PNG or JPEG: export it again as .png or .jpg",
                ),
                ImageProblem::TooLarge { width, height } => too_large(media, rel, width, height),
            })?;
            if !matches!(media, Media::AvatarImage | Media::TwoPeopleImage) {
                return Ok(None);
            }
            let (width, height) = image.dimensions();
            if width < MIN_SIDE || height < MIN_SIDE {
                return Err(too_small(media, rel, width, height));
            }
            let frame = Frame::from_rgb(width, height, image.into_raw());
            match media {
                Media::TwoPeopleImage => two_faces(rel, frame),
                _ => faces(rel, frame),
            }
        }
        Media::AvatarVideo => {
            let help = "an avatar video must be a video ffmpeg can read, such as H.264 in .mp4";
            let unreadable = |detail: String| {
                let message = format!("cannot read {what} `{rel}`: {detail}");
                note(message, "unreadable", help)
            };
            let probe = media::probe(&file.abs).map_err(unreadable)?;
            let video = probe
                .video
                .ok_or_else(|| unreadable("it has no video stream".into()))?;
            let (width, height) = (video.width, video.height);
            if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
                return Err(too_large(media, rel, width, height));
            }
            if width < MIN_SIDE || height < MIN_SIDE {
                return Err(too_small(media, rel, width, height));
            }
            Ok(None)
        }
        Media::EpisodeVideo | Media::Music => {
            // Probed, as the episode's mux reads them: any format ffmpeg reads will do.
            let music = media == Media::Music;
            let (stream, help) = if music {
                (
                    "audio",
                    "music must be audio ffmpeg can read, such as .wav, .mp3 or .flac",
                )
            } else {
                (
                    "video",
                    "an intro or outro must be a video ffmpeg can read, such as H.264 in .mp4",
                )
            };
            let unreadable = |detail: String| {
                let message = format!("cannot read {what} `{rel}`: {detail}");
                note(message, "unreadable", help)
            };
            let probe = media::probe(&file.abs).map_err(unreadable)?;
            let found = if music { probe.audio } else { probe.video };
            found.ok_or_else(|| unreadable(format!("it has no {stream} stream")))?;
            Ok(None)
        }
        Media::Recording | Media::VoiceSample => {
            media::read_wav(&file.abs).map_err(|detail| {
                let message = format!("cannot read {what} `{rel}`: {detail}");
                let help =
                    "render reads PCM WAV files; convert others with `ffmpeg -i in.mp3 out.wav`";
                note(message, "unreadable", help)
            })?;
            Ok(None)
        }
    }
}

/// The longest side an avatar image is searched for faces at: a larger one is scaled down
/// first (an 8192 px portrait took seconds to search at full size).
const CHECK_SIDE: u32 = 2048;

/// An avatar image must show a face; with several, the largest speaks (a warning says so).
fn faces(rel: &str, frame: Frame) -> Answer {
    let faces = found(frame);
    match &faces[..] {
        [] => Err(note(
            format!("no face found in avatar image `{rel}`"),
            "no face",
            "use a front-facing portrait where the whole face is visible and at least 40 pixels tall",
        )),
        [_] => Ok(None),
        [largest, ..] => Ok(Some(note(
            format!(
                "avatar image `{rel}` shows {} faces; render follows the largest, {}×{} pixels at ({}, {})",
                faces.len(),
                largest.w.round(),
                largest.h.round(),
                largest.x.round(),
                largest.y.round(),
            ),
            "several faces",
            "to follow another face, crop the image to it",
        ))),
    }
}

/// The picture of two people that avatars with `face` name: exactly two faces (the face
/// track counts them again on the picture it works at).
fn two_faces(rel: &str, frame: Frame) -> Answer {
    let faces = found(frame).len();
    if faces == 2 {
        return Ok(None);
    }
    let shows = match faces {
        0 => "no face".to_string(),
        1 => "one face".to_string(),
        n => format!("{n} faces"),
    };
    Err(note(
        format!("avatar image `{rel}` shows {shows}, and `face` picks one of exactly two"),
        "not two faces",
        "`face = \"left\"` or `\"right\"` is for a picture of two people: use one where both faces are front-facing and at least 40 pixels tall, and no other face shows (or leave `face` out for a portrait of one person)",
    ))
}

/// Every face the detector finds in `frame` (searched at [`CHECK_SIDE`] at most), the
/// largest first, in `frame`'s pixels.
fn found(frame: Frame) -> Vec<crate::frame::FaceBox> {
    let longest = frame.width.max(frame.height);
    let (frame, k) = if longest > CHECK_SIDE {
        let k = f64::from(CHECK_SIDE) / f64::from(longest);
        (frame.scaled(k), k as f32)
    } else {
        (frame, 1.0)
    };
    (FaceDetector::new().faces(&frame).into_iter())
        .map(|f| crate::frame::FaceBox {
            x: f.x / k,
            y: f.y / k,
            w: f.w / k,
            h: f.h / k,
        })
        .collect()
}

fn too_large(media: Media, rel: &str, width: u32, height: u32) -> MediaNote {
    note(
        format!(
            "{} `{rel}` is {width}×{height} pixels, over the limit of {MAX_IMAGE_SIDE} pixels a side",
            media.what()
        ),
        "too large",
        &format!("scale it down to at most {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} (a video frame is at most 7680 wide)"),
    )
}

fn too_small(media: Media, rel: &str, width: u32, height: u32) -> MediaNote {
    note(
        format!("{} `{rel}` is {width}×{height} pixels, under the minimum of {MIN_SIDE}×{MIN_SIDE}", media.what()),
        "too small",
        &format!("faces are found from {MIN_SIDE} pixels up: use a portrait in which the face is at least {MIN_SIDE} pixels tall"),
    )
}

fn note(message: String, label: &str, help: &str) -> MediaNote {
    MediaNote {
        message,
        label: label.to_string(),
        help: help.to_string(),
    }
}
