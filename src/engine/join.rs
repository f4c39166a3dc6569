//! Joining a long line's segments into its clip (`stage/segment.rs`): ffmpeg's concat
//! filter over the segments' clips, in order, re-encoded as every clip is (H.264, the
//! scene's fps, `CLIP_CRF`) to exactly the line's frames — the frames its speech covers,
//! which its segments' frames add up to — so the scene's mux lays the line's speech under
//! it in sync. The segments' pictures are scaled to the first one's size (a continued
//! segment starts from a frame of the one before, which is that size already).

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::Result;
use crate::fps::Fps;
use crate::media;
use crate::process;
use crate::stage::lipsync::{self, CLIP_CRF};
use crate::stage::{segment, speech};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Join {
    pub fps: Fps,
    pub segments: usize,
}

impl Engine for Join {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let speech = job.file(lipsync::SPEECH, speech::OUTPUT)?;
        let audio = media::read_wav(&speech)
            .map_err(|detail| media::invalid(&format!("the speech of {}", job.name), detail))?;
        let count = lipsync::frame_count(&audio, self.fps);
        let clips = (0..self.segments)
            .map(|i| job.file(&segment::input_name(i), segment::OUTPUT))
            .collect::<Result<Vec<_>>>()?;
        let first = media::probe(&clips[0])
            .ok()
            .and_then(|p| p.video)
            .ok_or_else(|| media::invalid(job.name, "its first segment's clip cannot be read"))?;
        let (width, height) = (first.width, first.height);
        let mut graph = String::new();
        for i in 0..clips.len() {
            graph.push_str(&format!("[{i}:v]scale={width}:{height},setsar=1[v{i}];"));
        }
        for i in 0..clips.len() {
            graph.push_str(&format!("[v{i}]"));
        }
        graph.push_str(&format!(
            "concat=n={}:v=1:a=0,fps={},tpad=stop_mode=clone:stop=2[out]",
            clips.len(),
            self.fps
        ));
        let output = dir.join(lipsync::OUTPUT);
        let mut command = Command::new("ffmpeg");
        command.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
        for clip in &clips {
            command.arg("-i").arg(clip);
        }
        command
            .args(["-filter_complex", &graph, "-map", "[out]", "-an"])
            .args(["-frames:v", &count.to_string(), "-c:v", "libx264", "-crf"])
            .arg(CLIP_CRF.to_string())
            .args(["-pix_fmt", "yuv420p", "-r", &self.fps.to_string()])
            .arg(&output);
        process::run(
            &mut command,
            job.name,
            process::deadline(60.0 + 2.0 * audio.seconds()),
        )?;
        lipsync::check(job.name, &output, count)?;
        Ok(Step::Done(Made::cpu(&[lipsync::OUTPUT])))
    }
}
