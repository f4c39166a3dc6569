//! A line's clip in a two-person shot (`stage/two_shot.rs`): the shot's frames from the
//! line's first to its last, cut by ffmpeg and encoded as every clip is (H.264, the
//! scene's fps, `CLIP_CRF`), exactly the frames covering the line's speech. Where the line
//! starts is the sum of the frames of the lines before it, read from their speech.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::Result;
use crate::fps::Fps;
use crate::process;
use crate::stage::lipsync::{self, CLIP_CRF};
use crate::stage::two_shot;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShotCut {
    /// The line, from 0.
    pub line: usize,
    pub fps: Fps,
}

impl Engine for ShotCut {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let frames = (0..=self.line)
            .map(|i| (job.line_speech(i)).map(|audio| lipsync::frame_count(&audio, self.fps)))
            .collect::<Result<Vec<usize>>>()?;
        let (starts, _) = two_shot::starts(&frames);
        let (start, count) = (starts[self.line], frames[self.line]);
        let shot = job.file(two_shot::SHOT, two_shot::OUTPUT)?;
        let output = dir.join(lipsync::OUTPUT);
        let mut command = Command::new("ffmpeg");
        command
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
            .arg(&shot)
            .args(["-an", "-vf"])
            .arg(format!(
                "trim=start_frame={start}:end_frame={},setpts=PTS-STARTPTS",
                start + count
            ))
            .args(["-frames:v", &count.to_string(), "-c:v", "libx264", "-crf"])
            .arg(CLIP_CRF.to_string())
            .args(["-pix_fmt", "yuv420p", "-r", &self.fps.to_string()])
            .arg(&output);
        let seconds = self.fps.seconds(start + count);
        process::run(
            &mut command,
            job.name,
            process::deadline(60.0 + 2.0 * seconds),
        )?;
        lipsync::check(job.name, &output, count)?;
        Ok(Step::Done(Made::cpu(&[lipsync::OUTPUT])))
    }
}
