//! ffmpeg muxes a scene: each line's clip and speech laid into a slot of a whole number of
//! frames (the clip's frames, its last frame held through the pause; the speech padded with
//! silence to the same length), the slots concatenated, the faces placed on the background,
//! encoded H.264 yuv420p + AAC with faststart. Because every slot is a whole number of
//! frames, audio and video end together. The lines of one scene may show different avatars
//! (of different sizes): each clip is scaled to the largest size with its own aspect ratio
//! that fits the frame and centred on a transparent frame-sized canvas, so all slots share
//! one size for the concat and a single overlay puts them on the background.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::{Error, Result};
use crate::manifest::Background;
use crate::process;
use crate::stage::scene::{self, AUDIO_BITRATE, AUDIO_RATE, CRF, OUTPUT, PRESET};
use crate::stage::{lipsync, speech};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SceneMux {
    /// How many lines; line `i`'s clip and speech are the job's inputs `scene::line_inputs(i)`.
    pub lines: usize,
    pub background: Background,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    pub pause: f64,
}

impl Engine for SceneMux {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let pause_frames = (self.pause * self.fps as f64).round() as usize;
        let mut command = Command::new("ffmpeg");
        command.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
        match &self.background {
            Background::Colour([r, g, b]) => command.args([
                "-f",
                "lavfi",
                "-i",
                &format!(
                    "color=c=0x{r:02x}{g:02x}{b:02x}:s={}x{}:r={}",
                    self.width, self.height, self.fps
                ),
            ]),
            Background::Image(file) => command
                .args(["-loop", "1", "-framerate", &self.fps.to_string(), "-i"])
                .arg(&file.abs),
        };

        let (w, h) = (self.width, self.height);
        let mut graph = format!(
            "[0:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1[bg];"
        );
        let mut concat_inputs = String::new();
        let mut total_frames = 0;
        // Each clip fitted by its own size (ffmpeg reads it: nothing is probed here).
        let fit = format!(
            "scale=w={w}:h={h}:force_original_aspect_ratio=decrease:force_divisible_by=2,\
             setsar=1,format=yuva420p,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black@0"
        );
        for i in 0..self.lines {
            let (clip_name, speech_name) = scene::line_inputs(i);
            let clip_path = job.file(&clip_name, lipsync::OUTPUT)?;
            let speech_path = job.file(&speech_name, speech::OUTPUT)?;
            let seconds = wav_seconds(&speech_path)?;
            let clip_frames = lipsync::frame_count(seconds, self.fps);
            let pause = if i + 1 < self.lines { pause_frames } else { 0 };
            let slot_frames = clip_frames + pause;
            let slot_samples = slot_frames as u64 * AUDIO_RATE as u64 / self.fps as u64;
            total_frames += slot_frames;
            command
                .arg("-i")
                .arg(&clip_path)
                .arg("-i")
                .arg(&speech_path);
            let (v, a) = (2 * i + 1, 2 * i + 2);
            graph.push_str(&format!(
                "[{v}:v]{fit},tpad=stop_mode=clone:stop={pause},setpts=PTS-STARTPTS[v{i}];\
                 [{a}:a]aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=mono,\
                 apad=whole_len={slot_samples},atrim=end_sample={slot_samples}[a{i}];"
            ));
            concat_inputs.push_str(&format!("[v{i}][a{i}]"));
        }
        graph.push_str(&format!(
            "{concat_inputs}concat=n={n}:v=1:a=1[cv][ca];\
             [bg][cv]overlay=shortest=1,format=yuv420p[outv]",
            n = self.lines,
        ));
        let output = dir.join(OUTPUT);
        command
            .args(["-filter_complex", &graph, "-map", "[outv]", "-map", "[ca]"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                PRESET,
                "-crf",
                &CRF.to_string(),
            ])
            .args(["-r", &self.fps.to_string(), "-pix_fmt", "yuv420p"])
            .args([
                "-c:a",
                "aac",
                "-b:a",
                AUDIO_BITRATE,
                "-ar",
                &AUDIO_RATE.to_string(),
            ])
            .args(["-movflags", "+faststart", "-f", "mp4"])
            .arg(&output);
        // Encoding takes a fraction of real time here; ten times it, per 720p of frame.
        let seconds = total_frames as f64 / self.fps as f64;
        let pixels = (self.width * self.height) as f64 / (1280.0 * 720.0);
        let deadline = process::deadline(60.0 + 10.0 * seconds * pixels.max(1.0));
        process::run(&mut command, job.name, deadline)?;
        scene::check(job.name, &output, total_frames, self.fps)?;
        Ok(Step::Done(Made::cpu(&[OUTPUT])))
    }
}

fn wav_seconds(path: &Path) -> Result<f64> {
    let reader = hound::WavReader::open(path)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    Ok(reader.duration() as f64 / reader.spec().sample_rate as f64)
}
