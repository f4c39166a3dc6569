//! A person's audio track in a two-person shot (`stage/two_shot.rs`), made in Rust: every
//! line's speech is read (each one's frames place the next), this person's lines are
//! resampled to the track's rate and laid at their start, silence elsewhere.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::Result;
use crate::face::mel::resample;
use crate::fps::Fps;
use crate::media::{self, Audio};
use crate::stage::lipsync;
use crate::stage::two_shot::{self, TRACK, TRACK_RATE};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Tracks {
    /// This track's person, from 0.
    pub person: usize,
    /// Who says each line of the exchange, in script order.
    pub people: Vec<usize>,
    pub fps: Fps,
}

impl Engine for Tracks {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let speeches = (0..self.people.len())
            .map(|i| job.line_speech(i))
            .collect::<Result<Vec<Audio>>>()?;
        let frames: Vec<usize> = (speeches.iter())
            .map(|audio| lipsync::frame_count(audio, self.fps))
            .collect();
        let (starts, total) = two_shot::starts(&frames);
        let mine: Vec<(usize, Vec<f32>)> = (speeches.iter().enumerate())
            .filter(|(i, _)| self.people[*i] == self.person)
            .map(|(i, audio)| {
                let samples = resample(&audio.samples, audio.sample_rate, TRACK_RATE);
                (starts[i], samples)
            })
            .collect();
        let track = Audio {
            samples: two_shot::lay(&mine, total, self.fps),
            sample_rate: TRACK_RATE,
        };
        let output = dir.join(TRACK);
        media::write_wav(&output, &track)?;
        let back = media::read_wav(&output).map_err(|detail| media::invalid(job.name, detail))?;
        let expected = self.fps.sample_at(total, TRACK_RATE) as usize;
        if back.samples.len() != expected || back.sample_rate != TRACK_RATE {
            return Err(media::invalid(
                job.name,
                format!(
                    "its track has {} samples at {} Hz, not {expected} at {TRACK_RATE} Hz",
                    back.samples.len(),
                    back.sample_rate
                ),
            ));
        }
        Ok(Step::Done(Made::cpu(&[TRACK])))
    }
}
