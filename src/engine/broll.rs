//! A b-roll line's clip (`stage/broll.rs`): its shot conformed by ffmpeg to the scene's
//! frame rate and exactly the line's frames — looped when the shot is shorter, cut when it
//! is longer — H.264 like every clip, so the scene mixes it with the talking heads. A
//! voice-over's clip lasts its speech's frames, counted as a lip-sync clip counts them.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::Result;
use crate::fps::Fps;
use crate::process;
use crate::stage::lipsync::{self, CLIP_CRF};
use crate::stage::{broll, shot, speech};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BRollClip {
    /// None for a voice-over: as many frames as its input speech covers.
    pub frames: Option<usize>,
    pub fps: Fps,
}

impl Engine for BRollClip {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let source = job.file(broll::SHOT, shot::OUTPUT)?;
        let frames = match self.frames {
            Some(frames) => frames,
            None => {
                let speech = job.file(broll::SPEECH, speech::OUTPUT)?;
                lipsync::frame_count(&speech::check(job.name, &speech)?, self.fps)
            }
        };
        let output = dir.join(lipsync::OUTPUT);
        let mut command = Command::new("ffmpeg");
        command
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
            .args(["-stream_loop", "-1", "-i"])
            .arg(&source)
            .args(["-an", "-vf"])
            .arg(format!(
                "fps={},scale=trunc(iw/2)*2:trunc(ih/2)*2",
                self.fps
            ))
            .args(["-frames:v", &frames.to_string(), "-c:v", "libx264", "-crf"])
            .arg(CLIP_CRF.to_string())
            .args(["-pix_fmt", "yuv420p"])
            .arg(&output);
        let seconds = self.fps.seconds(frames);
        process::run(
            &mut command,
            job.name,
            process::deadline(60.0 + 10.0 * seconds),
        )?;
        lipsync::check(job.name, &output, frames)?;
        Ok(Step::Done(Made::cpu(&[lipsync::OUTPUT])))
    }
}
