//! ffmpeg muxes a scene: each line's clip and speech laid into a slot of a whole number of
//! frames (the clip's frames, its last frame held through the pause; the speech padded with
//! silence to the slot's end sample), the slots concatenated, the faces placed on the
//! background, encoded H.264 yuv420p + AAC with faststart. The slots come from the scene's
//! `Timeline` (integer frames and samples), and every video timestamp is a frame index, so
//! the scene has exactly the frames it plans at any frame rate, and audio and video end
//! together. The lines of one scene may show different avatars (of different sizes): each
//! clip is scaled to the largest size with its own aspect ratio that fits the frame and
//! centred on a transparent frame-sized canvas, so all slots share one size for the concat
//! and a single overlay puts them on the background.
//! Or, by the scene's framing (`src/framing.rs`), cropped to cover the frame: in the
//! middle, or on the face, by a crop worked out from the line's face track.
//!
//! The audio is normalised to the scene's loudness (`src/loudness.rs`): the slots' audio
//! alone is measured first, and the second pass is appended to the mux's audio, stereo
//! 48 kHz.
//!
//! Then the stills, from the finished video in one more ffmpeg run (one decode, both
//! outputs): the poster and the contact sheet the build report shows, each frame picked by
//! its index from the `Timeline`, so no timestamp is rounded.

pub mod burn;

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::Result;
use crate::fps::Fps;
use crate::framing::{self, Framing};
use crate::loudness::{self, Audio};
use crate::manifest::{Background, BurnedCaptions};
use crate::media;
use crate::process;
use crate::stage::scene::{
    self, Info, Timeline, AUDIO_BITRATE, AUDIO_CHANNELS, AUDIO_RATE, CRF, OUTPUT, POSTER,
    POSTER_WIDTH, PRESET, SHEET, SHEET_COLUMNS, THUMB_WIDTH,
};
use crate::stage::{captions, face_track, lipsync, speech};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SceneMux {
    /// How many lines; line `i`'s clip and speech are the job's inputs `scene::line_inputs(i)`.
    pub lines: usize,
    pub background: Background,
    pub fps: Fps,
    pub width: u32,
    pub height: u32,
    pub pause: f64,
    /// How each clip fills the frame (`src/framing.rs`).
    pub framing: Framing,
    /// The scene's captions drawn into the video (its captions object is then the job's
    /// input `scene::CAPTIONS`), with the font file at `font`; None = not burned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn: Option<Burn>,
    /// What the scene's audio is normalised to (`crate::loudness`).
    pub loudness: loudness::Target,
}

/// How a scene's captions are burned in: the style, and the font file to draw with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Burn {
    pub style: BurnedCaptions,
    pub font: std::path::PathBuf,
}

impl Engine for SceneMux {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let mut lines = Vec::with_capacity(self.lines);
        for i in 0..self.lines {
            let (clip_name, speech_name) = scene::line_inputs(i);
            let clip = job.file(&clip_name, lipsync::OUTPUT)?;
            let speech = job.file(&speech_name, speech::OUTPUT)?;
            let audio = media::read_wav(&speech)
                .map_err(|detail| media::invalid(&format!("the speech of {}", job.name), detail))?;
            let short = audio.samples.len() < SHORT_SPEECH;
            lines.push((clip, speech, lipsync::frame_count(&audio, self.fps), short));
        }
        let clip_frames: Vec<usize> = lines.iter().map(|line| line.2).collect();
        let timeline = Timeline::new(&clip_frames, self.pause, self.fps);

        let (w, h, fps) = (self.width, self.height, self.fps);
        let tb = fps.time_base();
        let total_frames = timeline.frames;
        let mut command = Command::new("ffmpeg");
        command.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
        // A photo's EXIF orientation, applied as the face track and the clips apply it.
        let mut upright = "";
        let mut shot_rate = String::new();
        match &self.background {
            Background::Colour([r, g, b]) => command.args([
                "-f",
                "lavfi",
                "-i",
                &format!("color=c=0x{r:02x}{g:02x}{b:02x}:s={w}x{h}:r={fps}"),
            ]),
            Background::Still(_) => {
                let file = job.file(scene::BACKGROUND, crate::stage::still::OUTPUT)?;
                command
                    .args(["-loop", "1", "-framerate", &fps.to_string(), "-i"])
                    .arg(file)
            }
            // A shot: looped (or cut below) to the scene's frames, at its rate.
            Background::Shot(_) => {
                let file = job.file(scene::BACKGROUND, crate::stage::shot::OUTPUT)?;
                shot_rate = format!("fps={fps},");
                command.args(["-stream_loop", "-1", "-i"]).arg(file)
            }
            Background::Image(file) => {
                upright = media::upright_filter(&file.abs);
                command
                    .args([
                        "-noautorotate",
                        "-loop",
                        "1",
                        "-framerate",
                        &fps.to_string(),
                    ])
                    .arg("-i")
                    .arg(&file.abs)
            }
        };

        // Every video stream is renumbered to frame indices (time base 1/fps, pts = N)
        // before the overlay: concat adds up segment lengths in microseconds, and a frame
        // that lands a microsecond before the background's would be merged with its
        // neighbour. The background is cut to the scene's exact frames.
        let mut graph = format!(
            "[0:v]{upright}{shot_rate}trim=end_frame={total_frames},scale={w}:{h}:force_original_aspect_ratio=increase,\
             crop={w}:{h},setsar=1,settb={tb},setpts=N[bg];"
        );
        let mut concat_inputs = String::new();
        // Each clip fitted by its own size (ffmpeg reads it: nothing is probed here).
        let fit = format!(
            "scale=w={w}:h={h}:force_original_aspect_ratio=decrease:force_divisible_by=2,\
             setsar=1,format=yuva420p,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black@0"
        );
        for (i, ((clip, speech, _, short), slot)) in lines.iter().zip(&timeline.slots).enumerate() {
            command.arg("-i").arg(clip).arg("-i").arg(speech);
            let fit = self.framed(job, i, &fit)?;
            let (v, a) = (2 * i + 1, 2 * i + 2);
            let (pause, samples) = (slot.pause_frames, slot.samples);
            graph.push_str(&format!(
                "[{v}:v]{fit},tpad=stop_mode=clone:stop={pause},settb={tb},setpts=N[v{i}];{}",
                slot_audio(a, i, samples, *short),
            ));
            concat_inputs.push_str(&format!("[v{i}][a{i}]"));
        }
        // Burned captions are drawn last, over the faces and the background; ffmpeg then
        // runs in the job folder, where `burn::prepare` put what the filter reads.
        let burn = match &self.burn {
            Some(burn) => {
                let srt = job.file(scene::CAPTIONS, captions::SRT)?;
                command.current_dir(dir);
                burn::prepare(dir, &srt, &burn.font, &burn.style, (w, h, fps))?
            }
            None => String::new(),
        };
        graph.push_str(&format!(
            "{concat_inputs}concat=n={n}:v=1:a=1[cv][ca];\
             [cv]settb={tb},setpts=N[faces];\
             [bg][faces]overlay=eof_action=endall{burn},format=yuv420p[outv]",
            n = self.lines,
        ));
        // Encoding takes a fraction of real time here; ten times it, per 720p of frame.
        let seconds = fps.seconds(total_frames);
        let pixels = (self.width * self.height) as f64 / (1280.0 * 720.0);
        let deadline = process::deadline(60.0 + 10.0 * seconds * pixels.max(1.0));

        // Loudness, two-pass: the same audio alone first (measured, and the second pass's aim
        // found), then its second pass appended to the mux's audio.
        let speeches: Vec<&Path> = lines.iter().map(|line| line.1.as_path()).collect();
        let audio_command = || {
            let mut command = Command::new("ffmpeg");
            command.args(["-hide_banner", "-nostdin", "-y"]);
            for speech in &speeches {
                command.arg("-i").arg(speech);
            }
            command
        };
        let mut audio_graph = String::new();
        let mut audio_inputs = String::new();
        for (i, (slot, line)) in timeline.slots.iter().zip(&lines).enumerate() {
            audio_graph.push_str(&slot_audio(i, i, slot.samples, line.3));
            audio_inputs.push_str(&format!("[a{i}]"));
        }
        audio_graph.push_str(&format!(
            "{audio_inputs}concat=n={}:v=0:a=1[ca]",
            self.lines
        ));
        let audio = Audio {
            command: &audio_command,
            graph: &audio_graph,
            label: "[ca]",
            samples: timeline.slots.iter().map(|slot| slot.samples).sum(),
        };
        let mut normalised = loudness::normalise(job.name, &audio, &self.loudness, deadline)?;
        graph.push_str(&format!(";[ca]{}[outa]", normalised.chain));

        let output = dir.join(OUTPUT);
        command
            .args([
                "-filter_complex",
                &graph,
                "-map",
                "[outv]",
                "-map",
                "[outa]",
            ])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                PRESET,
                "-crf",
                &CRF.to_string(),
            ])
            // Frames pass through as numbered: no drop or duplicate by the output's clock.
            .args(["-fps_mode", "passthrough", "-r", &fps.to_string()])
            .args(["-pix_fmt", "yuv420p"])
            .args([
                "-c:a",
                "aac",
                "-b:a",
                AUDIO_BITRATE,
                "-ar",
                &AUDIO_RATE.to_string(),
                "-ac",
                &AUDIO_CHANNELS.to_string(),
            ])
            .args(["-movflags", "+faststart", "-f", "mp4"])
            .arg(&output);
        process::run(&mut command, job.name, deadline)?;
        scene::check(job.name, &output, total_frames, self.fps)?;
        loudness::published(job.name, &output, &mut normalised.loudness, deadline)?;

        let info = Info::new(&timeline, self.fps, self.width, self.height);
        stills(job.name, dir, &info, pixels)?;
        crate::files::write_json(&dir.join(scene::INFO), &info)?;
        Ok(Step::Done(Made {
            loudness: Some(normalised.loudness),
            ..Made::cpu(&scene::OUTPUTS)
        }))
    }
}

impl SceneMux {
    /// Line `i`'s clip into a frame-sized picture by the scene's framing: `fit` as given,
    /// or cropped to fill the frame (on the face, read from the line's face track; in the
    /// middle when the track has no box). The crop is in fractions of the clip's picture,
    /// so it holds at whatever size the clip has.
    fn framed(&self, job: &Task, i: usize, fit: &str) -> Result<String> {
        let (w, h) = (self.width, self.height);
        let cover = format!(
            "scale=w={w}:h={h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,\
             format=yuva420p"
        );
        // A b-roll line has no face: it fills the frame.
        let framing = match self.framing {
            Framing::Face { .. } if !job.inputs.contains_key(&scene::face_input(i)) => {
                Framing::Fill
            }
            framing => framing,
        };
        let Framing::Face { size, headroom } = framing else {
            return Ok(match framing {
                Framing::Fill => cover,
                _ => fit.to_string(),
            });
        };
        let track = face_track::read_track(&job.file(&scene::face_input(i), face_track::OUTPUT)?)?;
        let Some(face) = framing::steady_box(&track.boxes) else {
            return Ok(cover);
        };
        let aspect = f64::from(w) / f64::from(h);
        let c = framing::face_crop(track.width, track.height, &face, aspect, size, headroom);
        // Six decimals: a thousandth of a pixel of a 7680 px picture; never past the edge.
        // At least 2 pixels a side: a frame of 7680×16 asks for a crop a fraction of a
        // pixel tall (ffmpeg keeps the crop inside the picture).
        let f = |v: f64| format!("{:.6}", v.clamp(0.0, 1.0));
        Ok(format!(
            "crop=w='max(2,iw*{})':h='max(2,ih*{})':x=iw*{}:y=ih*{},{cover}",
            f(c.w),
            f(c.h),
            f(c.x),
            f(c.y)
        ))
    }
}

/// A speech of fewer samples than this is padded with silence before it is resampled.
const SHORT_SPEECH: usize = 1024;

/// Line `i`'s speech (input `input`) resampled and padded with silence to its slot's samples:
/// `[a{i}]`. The mux and the loudness passes share it, so both hear the same audio.
///
/// A `short` speech (under [`SHORT_SPEECH`] samples) is padded at its own rate first: the
/// resampler holds back its first few dozen samples, and a line shorter than that (a
/// 16-sample recording) reached `concat` as an empty stream, which fails the whole graph
/// ("Invalid data found when processing input", loudnorm measuring `-inf`). Longer speech
/// is resampled as it always was, so its scenes' audio is unchanged.
fn slot_audio(input: usize, i: usize, samples: u64, short: bool) -> String {
    let pad = if short {
        format!("apad=pad_len={SHORT_SPEECH},")
    } else {
        String::new()
    };
    format!(
        "[{input}:a]{pad}aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=mono,\
         apad=whole_len={samples},atrim=end_sample={samples}[a{i}];"
    )
}

/// The contact sheet's thumbnails: [`THUMB_WIDTH`] wide, except where a frame's shape
/// would make one absurd — a frame over 4 times as tall as wide gets a thumbnail
/// 4 × [`THUMB_WIDTH`] tall (not 115 200 px: JPEG stops at 65 500), one over 120 times as
/// wide as tall a thumbnail 2 px tall (not 0).
fn thumb_scale() -> String {
    let t = THUMB_WIDTH;
    let (tall, wide) = (format!("gt(ih*{t},iw*{})", 4 * t), "gt(iw,ih*120)");
    format!(
        "scale=w='if({tall},-2,if({wide},-2,{t}))':h='if({tall},{},if({wide},2,-2))'",
        4 * t
    )
}

/// Writes the poster and the contact sheet from the scene's video in `dir`. `pixels`: the
/// frame's size in 720p frames, for the deadline.
fn stills(artifact: &str, dir: &Path, info: &Info, pixels: f64) -> Result<()> {
    let pick = |frames: &[usize]| {
        let terms: Vec<String> = frames.iter().map(|f| format!("eq(n,{f})")).collect();
        terms.join("+")
    };
    let poster = info.middles()[..1].to_vec();
    let sheet = info.sheet_frames();
    let columns = sheet.len().clamp(1, SHEET_COLUMNS);
    let rows = sheet.len().div_ceil(columns).max(1);
    // Quoted arguments: the commas inside an expression are not the graph's.
    let graph = format!(
        "[0:v]split=2[p][s];\
         [p]select='{}',scale='min({POSTER_WIDTH},iw)':-2,setsar=1[poster];\
         [s]select='{}',{},setsar=1,tile={columns}x{rows}:padding=4:margin=4[sheet]",
        pick(&poster),
        pick(&sheet),
        thumb_scale(),
    );
    let mut command = Command::new("ffmpeg");
    command
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(dir.join(OUTPUT))
        .args(["-filter_complex", &graph]);
    for (label, file) in [("[poster]", POSTER), ("[sheet]", SHEET)] {
        command
            .args(["-map", label, "-frames:v", "1", "-q:v", "3", "-update", "1"])
            .arg(dir.join(file));
    }
    // One decode, far quicker than the mux's encode; the mux's deadline is ample.
    let deadline = process::deadline(60.0 + 10.0 * info.seconds() * pixels.max(1.0));
    process::run(&mut command, artifact, deadline)?;
    for file in [POSTER, SHEET] {
        scene::check_still(artifact, &dir.join(file))?;
    }
    Ok(())
}
