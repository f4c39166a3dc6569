//! Cuts: where a long line's speech is cut into segments, for a lip-sync engine that
//! declares `max_seconds` (the longest speech one run of its program takes). One artifact
//! per line, made on the CPU from the line's speech: `cuts.json` (the cut points, in
//! frames and samples) and one WAV per segment, each exactly its samples of the speech.
//!
//! **Why an artifact of its own.** Where the pauses are is known only once the speech
//! exists, and the segments — each its own job, so they spread over lanes and the farm and
//! a crash loses one — are keyed by their own audio. So the graph plans a long line's
//! segments from its cuts object (`stage/segment.rs`); a build whose lines are not yet cut
//! makes their cuts first, then plans again (`commands/build.rs`, ninja's dyndep in
//! one extra step). Cutting is cheap (one pass over the samples), so it needs no lane.
//!
//! **The rule** (`find`), in whole frames at the scene's fps, so every cut falls on a frame
//! boundary and the segments' frames add up to the line's:
//! - a frame is *quiet* when the RMS of its samples is more than [`RELATIVE_DB`] (30 dB)
//!   under the speaking level — the 90th percentile of the frames' RMS over the window
//!   being cut — or under [`FLOOR`] (digital silence, whatever the level);
//! - a *pause* is a run of at least [`MIN_PAUSE_SECONDS`] (and two frames) of quiet frames,
//!   not touching the window's start: a word never ends inside one;
//! - a segment starting at frame `s` may end at most `max_frames` later (the whole frames
//!   within `max_seconds`); if the rest of the line fits, it is the last; else it ends in
//!   the middle of a pause whose middle lies in the window, preferring those in the
//!   window's second half (no needlessly short segments), the longest of them, the later
//!   of equals; no pause in the window is an error that names where to add one.
//!
//! Each cut looks only at the audio from its segment's start to `max_frames` past it, so an
//! edit of a line's end leaves the earlier cuts, and the earlier segments' audio (hence
//! their keys), as they were.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fps::Fps;
use crate::key::{ArtifactKind, Key, KeySpec};

pub const OUTPUT: &str = "cuts.json";
/// The rule's version: a change to it or its constants moves cuts.
const VERSION: &str = "cuts-1";
/// A frame this far under the speaking level is quiet.
pub const RELATIVE_DB: f64 = -30.0;
/// The shortest pause a cut may fall in.
pub const MIN_PAUSE_SECONDS: f64 = 0.25;
/// Below this RMS a frame is quiet whatever the level (digital silence, hiss).
pub const FLOOR: f32 = 1e-4;

/// The name of the cuts' input in its key spec.
pub const SPEECH: &str = "speech";

/// A line's cuts' key: its speech, the frame rate and the longest segment.
pub fn key(speech: Key, fps: Fps, max_seconds: f64) -> KeySpec {
    KeySpec::new(ArtifactKind::Cuts, VERSION, "pauses")
        .param("fps", fps)
        .param("max-seconds", max_seconds)
        .input(SPEECH, speech)
}

/// One segment of a line, as the cuts object lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Segment {
    /// Its WAV in the cuts object.
    pub file: String,
    pub first_frame: usize,
    pub frames: usize,
    pub first_sample: u64,
    pub samples: u64,
    /// blake3 of its WAV file: what its segment's key holds instead of the cuts' key, so
    /// a segment whose audio did not change keeps its key when the line is edited.
    pub blake3: Key,
}

/// `cuts.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Cuts {
    pub fps: String,
    pub sample_rate: u32,
    /// The line's speech: its samples and the frames that cover them.
    pub samples: u64,
    pub frames: usize,
    pub max_frames: usize,
    pub segments: Vec<Segment>,
    /// The pause each cut fell in, `[first, end)` in frames (one fewer than segments).
    pub pauses: Vec<(usize, usize)>,
}

impl Cuts {
    /// The cuts in a cuts object, or None when it is missing or unreadable (then the line
    /// is not cut yet: its cuts are made, and checked, before its segments are planned).
    pub fn read(object: &Path) -> Option<Cuts> {
        let bytes = std::fs::read(object.join(OUTPUT)).ok()?;
        let cuts: Cuts = serde_json::from_slice(&bytes).ok()?;
        let consistent = !cuts.segments.is_empty()
            && cuts.segments.iter().map(|s| s.frames).sum::<usize>() == cuts.frames
            && cuts.segments.iter().map(|s| s.samples).sum::<u64>() == cuts.samples;
        consistent.then_some(cuts)
    }
}

/// One cut: the first frame of the segment after it, and the pause it falls in, `[first,
/// end)` in frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub at: usize,
    pub pause: (usize, usize),
}

/// Where to cut a line whose `samples` at `rate` Hz cover `frames_covering` frames at
/// `fps`, in order.
pub fn find(
    samples: &[f32],
    rate: u32,
    fps: Fps,
    max_frames: usize,
) -> std::result::Result<Vec<Cut>, String> {
    let frames = fps.frames_covering(samples.len() as u64, rate);
    let rms: Vec<f32> = (0..frames)
        .map(|f| {
            let a = (fps.sample_at(f, rate) as usize).min(samples.len());
            let b = (fps.sample_at(f + 1, rate) as usize).min(samples.len());
            let part = &samples[a..b];
            if part.is_empty() {
                return 0.0;
            }
            (part.iter().map(|s| s * s).sum::<f32>() / part.len() as f32).sqrt()
        })
        .collect();
    let min_pause = fps.frames_in(MIN_PAUSE_SECONDS).max(2);
    let max_frames = max_frames.max(2 * min_pause);
    let mut cuts = Vec::new();
    let mut start = 0;
    while frames - start > max_frames {
        let window = &rms[start..start + max_frames];
        let mut sorted = window.to_vec();
        sorted.sort_by(f32::total_cmp);
        let level = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
        let threshold = (level * 10f32.powf(RELATIVE_DB as f32 / 20.0)).max(FLOOR);
        // Pauses in the window (a run may run past its end: its middle must lie inside).
        let mut pauses = Vec::new();
        let mut f = start;
        while f < frames {
            if rms[f] >= threshold {
                f += 1;
                continue;
            }
            let first = f;
            while f < frames && rms[f] < threshold {
                f += 1;
            }
            let (end, middle) = (f, first + (f - first) / 2);
            if middle > start + max_frames {
                break;
            }
            if first > start && end - first >= min_pause && end < frames {
                pauses.push((first, end, middle));
            }
        }
        let half = start + max_frames / 2;
        let late: Vec<_> = pauses.iter().filter(|p| p.2 > half).copied().collect();
        let pick = if late.is_empty() { &pauses } else { &late };
        let Some(&(first, end, middle)) = pick.iter().max_by_key(|p| (p.1 - p.0, p.2)) else {
            let from = fps.seconds(start);
            return Err(format!(
                "no pause of {MIN_PAUSE_SECONDS} s or more between {from:.2} s and {:.2} s of its speech (its engine takes at most {:.2} s at once)",
                fps.seconds(start + max_frames),
                fps.seconds(max_frames),
            ));
        };
        cuts.push(Cut {
            at: middle,
            pause: (first, end),
        });
        start = middle;
    }
    Ok(cuts)
}

/// Checks a cuts object: `cuts.json` reads, and each segment's WAV is there, with its
/// samples.
pub fn check(artifact: &str, dir: &Path) -> Result<Cuts> {
    let cuts = Cuts::read(dir).ok_or_else(|| Error::InvalidOutput {
        artifact: artifact.to_string(),
        detail: format!("its {OUTPUT} is missing or does not add up"),
    })?;
    for segment in &cuts.segments {
        let audio = crate::media::read_wav(&dir.join(&segment.file))
            .map_err(|detail| crate::media::invalid(artifact, detail))?;
        if audio.samples.len() as u64 != segment.samples {
            return Err(crate::media::invalid(
                artifact,
                format!(
                    "{} holds {} samples, not {}",
                    segment.file,
                    audio.samples.len(),
                    segment.samples
                ),
            ));
        }
    }
    Ok(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pattern` of (seconds, loud?) at 1000 Hz.
    fn speech(pattern: &[(f64, bool)]) -> Vec<f32> {
        let mut samples = Vec::new();
        for &(seconds, loud) in pattern {
            let n = (seconds * 1000.0) as usize;
            samples.extend((0..n).map(|i| {
                if loud {
                    0.3 * ((i % 7) as f32 - 3.0) / 3.0
                } else {
                    0.0
                }
            }));
        }
        samples
    }

    #[test]
    fn cuts_fall_in_the_middle_of_the_longest_late_pause() {
        // 10 fps, at most 10 s: pauses of 0.4 s at 3.6 s, 1.0 s at 6.6 s, 0.6 s at 9.0 s.
        let samples = speech(&[
            (3.6, true),
            (0.4, false),
            (2.6, true),
            (1.0, false),
            (1.4, true),
            (0.6, false),
            (5.0, true),
        ]);
        let cuts = find(&samples, 1000, Fps::whole(10), 100).unwrap();
        // The 1 s pause, frames [66, 76), is the longest in the second half: cut at 71.
        assert_eq!(
            cuts,
            [Cut {
                at: 71,
                pause: (66, 76)
            }]
        );
    }

    #[test]
    fn a_line_that_fits_is_not_cut_and_one_without_pauses_fails() {
        let samples = speech(&[(9.0, true)]);
        assert_eq!(find(&samples, 1000, Fps::whole(10), 100).unwrap(), []);
        let samples = speech(&[(12.0, true)]);
        let error = find(&samples, 1000, Fps::whole(10), 100).unwrap_err();
        assert!(error.contains("between 0.00 s and 10.00 s"), "{error}");
        // A pause too short (0.1 s) is inside a word.
        let samples = speech(&[(5.0, true), (0.1, false), (7.0, true)]);
        assert!(find(&samples, 1000, Fps::whole(10), 100).is_err());
    }

    #[test]
    fn every_segment_fits_and_an_edit_at_the_end_keeps_earlier_cuts() {
        let sentence = [(4.3, true), (0.7, false)];
        let line: Vec<(f64, bool)> = sentence.iter().cycle().take(2 * 19).copied().collect();
        let samples = speech(&line);
        let fps = Fps::whole(25);
        let cuts = find(&samples, 1000, fps, 750).unwrap();
        let frames = fps.frames_covering(samples.len() as u64, 1000);
        let mut bounds = vec![0];
        bounds.extend(cuts.iter().map(|c| c.at));
        bounds.push(frames);
        assert!(bounds.windows(2).all(|w| w[1] - w[0] <= 750 && w[1] > w[0]));
        assert!(cuts.len() >= 3);
        // Each cut lies in silence.
        for cut in &cuts {
            let at = fps.sample_at(cut.at, 1000) as usize;
            assert_eq!(samples[at - 5..at + 5], [0.0; 10]);
        }
        // A longer last sentence: the same cuts but maybe the last.
        let mut edited = line.clone();
        edited.push((2.0, true));
        let again = find(&speech(&edited), 1000, fps, 750).unwrap();
        assert_eq!(again[..cuts.len() - 1], cuts[..cuts.len() - 1]);
    }
}
