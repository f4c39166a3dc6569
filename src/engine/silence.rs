//! Silence: a b-roll line's speech (`stage/broll.rs`), exactly its frames long, so that the
//! scene's timeline counts the b-roll as any line and the audio stays in sync.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::Result;
use crate::fps::Fps;
use crate::media::{self, Audio};
use crate::stage::broll;
use crate::stage::speech::{check, OUTPUT};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Silence {
    pub frames: usize,
    pub fps: Fps,
}

impl Engine for Silence {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let output = dir.join(OUTPUT);
        let samples = broll::silence_samples(self.frames, self.fps) as usize;
        let audio = Audio {
            samples: vec![0.0; samples],
            sample_rate: broll::SILENCE_RATE,
        };
        media::write_wav(&output, &audio)?;
        let written = check(job.name, &output)?;
        if crate::stage::lipsync::frame_count(&written, self.fps) != self.frames {
            return Err(media::invalid(
                job.name,
                "the silence does not cover its frames",
            ));
        }
        Ok(Step::Done(Made::cpu(&[OUTPUT])))
    }
}
