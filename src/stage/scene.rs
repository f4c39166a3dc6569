//! Scene: the finished MP4. ffmpeg lays each line's clip and speech into a slot of a whole
//! number of frames (the clip's frames, its last frame held through the pause; the speech
//! padded with silence to the same length), concatenates the slots, places the avatar on
//! the background and encodes H.264 yuv420p + AAC with faststart. Because every slot is a
//! whole number of frames, audio and video end together.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::{Background, Scene};
use crate::media;
use crate::process;
use crate::sources::SourceHashes;
use crate::stage::{lipsync, speech, Context, Made, Node};
use crate::toolchain;

pub const OUTPUT: &str = "scene.mp4";
const VERSION: &str = "scene-1";
const CRF: u32 = 20;
const PRESET: &str = "veryfast";
const AUDIO_RATE: u32 = 48_000;
const AUDIO_BITRATE: &str = "160k";

#[derive(Debug)]
pub struct SceneJob {
    /// (clip, speech) per line, in script order.
    pub lines: Vec<(Key, Key)>,
    pub background: Background,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    pub pause: f64,
}

pub fn plan(
    scene: &Scene,
    lines: Vec<(Key, Key)>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, SceneJob)> {
    let mut spec = KeySpec::new(ArtifactKind::Scene, VERSION, "ffmpeg")
        .param("ffmpeg", toolchain::ffmpeg()?)
        .param("fps", scene.fps)
        .param("size", format!("{}x{}", scene.width, scene.height))
        .param("pause", scene.pause)
        .param("crf", CRF)
        .param("preset", PRESET)
        .param("audio", format!("aac {AUDIO_BITRATE} {AUDIO_RATE} Hz"));
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
    }
    for (i, (clip, speech)) in lines.iter().enumerate() {
        spec = spec
            .input(&format!("line{:04}.clip", i + 1), *clip)
            .input(&format!("line{:04}.speech", i + 1), *speech);
    }
    let job = SceneJob {
        lines,
        background: scene.background.clone(),
        fps: scene.fps,
        width: scene.width,
        height: scene.height,
        pause: scene.pause,
    };
    Ok((spec, job))
}

impl SceneJob {
    pub fn run(&self, node: &Node, ctx: &Context, dir: &Path) -> Result<Made> {
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

        let mut graph = format!(
            "[0:v]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1[bg];",
            w = self.width,
            h = self.height
        );
        let mut concat_inputs = String::new();
        let mut total_frames = 0;
        let mut avatar_size = (0, 0);
        for (i, (clip, speech_key)) in self.lines.iter().enumerate() {
            let clip_path = ctx.cache.object_dir(clip).join(lipsync::OUTPUT);
            let speech_path = ctx.cache.object_dir(speech_key).join(speech::OUTPUT);
            let seconds = wav_seconds(&speech_path)?;
            let clip_frames = lipsync::frame_count(seconds, self.fps);
            let pause = if i + 1 < self.lines.len() {
                pause_frames
            } else {
                0
            };
            let slot_frames = clip_frames + pause;
            let slot_samples = slot_frames as u64 * AUDIO_RATE as u64 / self.fps as u64;
            total_frames += slot_frames;
            if i == 0 {
                let probe = media::probe_output(&node.name, &clip_path)?;
                let video = probe.video.unwrap_or_default();
                avatar_size = (video.width, video.height);
            }
            command
                .arg("-i")
                .arg(&clip_path)
                .arg("-i")
                .arg(&speech_path);
            let (v, a) = (2 * i + 1, 2 * i + 2);
            graph.push_str(&format!(
                "[{v}:v]tpad=stop_mode=clone:stop={pause},setpts=PTS-STARTPTS[v{i}];\
                 [{a}:a]aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=mono,\
                 apad=whole_len={slot_samples},atrim=end_sample={slot_samples}[a{i}];"
            ));
            concat_inputs.push_str(&format!("[v{i}][a{i}]"));
        }
        let (sw, sh) = fit(avatar_size, (self.width, self.height));
        graph.push_str(&format!(
            "{concat_inputs}concat=n={n}:v=1:a=1[cv][ca];\
             [cv]scale={sw}:{sh}[av];\
             [bg][av]overlay=x={x}:y={y}:shortest=1,format=yuv420p[outv]",
            n = self.lines.len(),
            x = (self.width - sw) / 2,
            y = (self.height - sh) / 2,
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
        process::run(&mut command, &node.name)?;
        check(&node.name, &output, total_frames, self.fps)?;
        Ok(Made::cpu(vec![OUTPUT]))
    }
}

fn wav_seconds(path: &Path) -> Result<f64> {
    let reader = hound::WavReader::open(path)
        .map_err(|e| Error::Other(format!("cannot read {}: {e}", path.display())))?;
    Ok(reader.duration() as f64 / reader.spec().sample_rate as f64)
}

/// The largest even size with the avatar's aspect ratio that fits the frame.
fn fit((w, h): (u32, u32), (fw, fh): (u32, u32)) -> (u32, u32) {
    if w == 0 || h == 0 {
        return (fw & !1, fh & !1);
    }
    let scale = (fw as f64 / w as f64).min(fh as f64 / h as f64);
    let even = |v: f64| ((v / 2.0).floor() as u32 * 2).max(2);
    (
        even(w as f64 * scale).min(fw),
        even(h as f64 * scale).min(fh),
    )
}

/// A scene must be H.264 + AAC with the planned frame count and matching durations.
fn check(artifact: &str, path: &Path, frames: usize, fps: u32) -> Result<()> {
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
    if video.packets as usize != frames {
        return Err(media::invalid(
            artifact,
            format!("expected {frames} frames, found {}", video.packets),
        ));
    }
    if (video.seconds - audio.seconds).abs() > 1.0 / fps as f64 {
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
    use super::fit;

    #[test]
    fn avatar_fits_inside_the_frame_with_even_sides() {
        assert_eq!(fit((512, 512), (1280, 720)), (720, 720));
        assert_eq!(fit((1920, 1080), (1280, 720)), (1280, 720));
        assert_eq!(fit((501, 333), (640, 360)), (540, 360));
    }
}
