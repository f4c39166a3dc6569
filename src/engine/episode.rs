//! ffmpeg joins a project's scenes into its episode (`stage/episode.rs`), in one run.
//!
//! Video: when the parts are scenes alone, of one size and frame rate, joined by cuts, their
//! H.264 streams (encoded alike by `engine/ffmpeg.rs`) are stream-copied through the concat
//! demuxer: nothing is re-encoded, so the episode costs a copy of its scenes. Otherwise
//! (an intro or outro, a fade, scenes of different sizes) every part is fitted to the first
//! scene's frame and rate, cut to its whole frames, faded where it joins another, and
//! encoded with the scenes' settings.
//!
//! Audio is always made again, since the parts' AAC streams cannot be cut at a frame's
//! end: each part's sound (silence for a silent intro) is laid into its exact samples, the
//! parts concatenated, and the music bed, looped to the episode's length, is ducked under
//! the voices by `sidechaincompress` keyed by them and mixed in. The chain ends in one
//! labelled output, [`AUDIO_OUT`], and is normalised two-pass to the loudness of the
//! episode's first scene (`src/loudness.rs`: the mixed whole is measured, since a bed or an
//! intro changes its loudness).
//!
//! Then the poster (the first scene's) and the captions (each scene's cues, shifted to
//! where its part starts) are written beside the video.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::{Error, Result};
use crate::fps::Fps;
use crate::loudness::{self, Audio};
use crate::manifest::{Bookend, SourceFile, Transition};
use crate::media;
use crate::process;
use crate::stage::captions;
use crate::stage::episode::{self, Info, DUCK, OUTPUT, POSTER, SRT, VTT};
use crate::stage::scene::{self, AUDIO_BITRATE, AUDIO_RATE, CRF, PRESET};

/// The label of the audio chain's last output in the filter graph.
pub const AUDIO_OUT: &str = "aout";

/// One part of an episode, in order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Intro(Bookend),
    /// The episode's scene `i` (0-based): inputs `episode::scene_inputs(i)`.
    Scene(usize),
    Outro(Bookend),
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpisodeMux {
    pub parts: Vec<Part>,
    pub transition: Transition,
    pub transition_seconds: f64,
    pub music: Option<SourceFile>,
    pub music_volume: f64,
    /// What the episode's audio is normalised to (`crate::loudness`).
    pub loudness: loudness::Target,
}

/// A part as the mux sees it: its file, frames and whether it has sound.
struct Input {
    file: PathBuf,
    /// A still picture, read as a video of its seconds at the episode's rate.
    still: Option<f64>,
    kind: &'static str,
    frames: usize,
    audio: bool,
    /// A scene's own size and rate (None for an intro or outro).
    scene: Option<scene::Info>,
}

impl Engine for EpisodeMux {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let mut inputs = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            if let Part::Scene(i) = part {
                let (video, _) = episode::scene_inputs(*i);
                let info = read_info(job, &job.file(&video, scene::INFO)?)?;
                inputs.push(Input {
                    file: job.file(&video, scene::OUTPUT)?,
                    still: None,
                    kind: "scene",
                    frames: info.frames,
                    audio: true,
                    scene: Some(info),
                });
            }
        }
        let first = (inputs.first())
            .and_then(|input| input.scene.clone())
            .ok_or_else(|| Error::Other(format!("{} has no scenes", job.name)))?;
        let (fps, width, height) = (first.fps, first.width, first.height);
        // Intro and outro: as many whole frames, at the episode's rate, as they last.
        let mut inputs = inputs.into_iter();
        let inputs: Vec<Input> = (self.parts.iter())
            .map(|part| match part {
                Part::Scene(_) => Ok(inputs.next().expect("one input per scene")),
                Part::Intro(bookend) | Part::Outro(bookend) => {
                    // Its kind is also its input's name when render made it.
                    let kind = if matches!(part, Part::Intro(_)) {
                        episode::INTRO
                    } else {
                        episode::OUTRO
                    };
                    // The file, and how long a picture shows (None: a video, as long as it is).
                    let (file, still) = match bookend {
                        Bookend::Video(file) => (file.abs.clone(), None),
                        Bookend::Picture { file, seconds } => (file.abs.clone(), Some(*seconds)),
                        Bookend::Still { seconds, .. } => {
                            (job.file(kind, crate::stage::still::OUTPUT)?, Some(*seconds))
                        }
                        Bookend::Shot(_) => (job.file(kind, crate::stage::shot::OUTPUT)?, None),
                    };
                    if let Some(seconds) = still {
                        return Ok(Input {
                            file,
                            still,
                            kind,
                            frames: whole_frames(seconds, fps),
                            audio: false,
                            scene: None,
                        });
                    }
                    let probe = media::probe(&file).map_err(|detail| {
                        let name = match bookend {
                            Bookend::Video(source) => source.rel.clone(),
                            _ => file.display().to_string(),
                        };
                        media::invalid(job.name, format!("cannot read `{name}`: {detail}"))
                    })?;
                    let seconds = (probe.video.as_ref())
                        .map(|v| v.seconds)
                        .filter(|s| *s > 0.0)
                        .unwrap_or(probe.format_seconds);
                    Ok(Input {
                        file,
                        still: None,
                        kind,
                        frames: whole_frames(seconds, fps),
                        audio: probe.audio.is_some(),
                        scene: None,
                    })
                }
            })
            .collect::<Result<_>>()?;
        let kinds: Vec<&str> = inputs.iter().map(|i| i.kind).collect();
        let frames: Vec<usize> = inputs.iter().map(|i| i.frames).collect();
        let info = Info::new(&kinds, &frames, fps, width, height);
        let copy = self.transition == Transition::Cut
            && (inputs.iter()).all(|i| {
                i.scene
                    .as_ref()
                    .is_some_and(|s| (s.fps, s.width, s.height) == (fps, width, height))
            });

        // The inputs both the loudness passes and the mux read: the parts, then the music.
        let audio_command = || {
            let mut command = Command::new("ffmpeg");
            command.args(["-hide_banner", "-nostdin", "-y"]);
            for input in &inputs {
                if let Some(seconds) = input.still {
                    // One picture repeated at the episode's rate for its seconds, turned
                    // upright by the video graph (never by ffmpeg on its own).
                    command
                        .args(["-noautorotate", "-framerate", &fps.to_string()])
                        .args(["-loop", "1", "-t"])
                        .arg(seconds.to_string());
                }
                command.arg("-i").arg(&input.file);
            }
            if let Some(music) = &self.music {
                command.args(["-stream_loop", "-1", "-i"]).arg(&music.abs);
            }
            command
        };
        let seconds = fps.seconds(info.frames);
        let pixels = f64::from(width * height) / (1280.0 * 720.0);
        let deadline = process::deadline(60.0 + 10.0 * seconds * pixels.max(1.0));
        let music = match &self.music {
            Some(file) => Some((inputs.len(), self.bed_gain(job.name, file, deadline)?)),
            None => None,
        };
        let next = inputs.len() + usize::from(music.is_some());
        let audio_graph = self.audio_graph(&inputs, &info, music);
        // Loudness, two-pass, like a scene's: the parts' sound and the bed are measured as
        // mixed, since the bed and the intro change the whole's loudness.
        let audio = Audio {
            command: &audio_command,
            graph: &audio_graph,
            label: &format!("[{AUDIO_OUT}]"),
            samples: info.sample_at(info.frames),
        };
        let mut normalised = loudness::normalise(job.name, &audio, &self.loudness, deadline)?;
        let mut command = audio_command();
        command.args(["-loglevel", "error"]);
        let mut graph = format!("{audio_graph};[{AUDIO_OUT}]{}[outa]", normalised.chain);
        let video_map = if copy {
            // The concat demuxer reads the scenes' packets as they are.
            let list = dir.join("scenes.txt");
            let text: String = (inputs.iter())
                .map(|i| {
                    format!(
                        "file '{}'\n",
                        i.file.display().to_string().replace('\'', r"'\''")
                    )
                })
                .collect();
            std::fs::write(&list, text).map_err(|e| Error::io("cannot write", &list, e))?;
            // As they are: no bitstream filter puts parameter sets into the packets.
            command
                .args(["-f", "concat", "-safe", "0", "-auto_convert", "0", "-i"])
                .arg(&list);
            format!("{next}:v")
        } else {
            graph.push(';');
            graph.push_str(&self.video_graph(&inputs, &info));
            "[outv]".to_string()
        };
        let output = dir.join(OUTPUT);
        command
            .args(["-filter_complex", &graph])
            .args(["-map", &video_map, "-map", "[outa]"]);
        if copy {
            command.args(["-c:v", "copy"]);
        } else {
            command
                .args([
                    "-c:v",
                    "libx264",
                    "-preset",
                    PRESET,
                    "-crf",
                    &CRF.to_string(),
                ])
                .args(["-fps_mode", "passthrough", "-r", &fps.to_string()])
                .args(["-pix_fmt", "yuv420p"]);
        }
        command
            .args(["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ac", "2"])
            .args(["-ar", &AUDIO_RATE.to_string()])
            .args(["-movflags", "+faststart", "-f", "mp4"])
            .arg(&output);
        process::run(&mut command, job.name, deadline)?;
        episode::check(job.name, &output, info.frames, fps)?;
        loudness::published(job.name, &output, &mut normalised.loudness, deadline)?;

        // The poster: the first scene's, a frame from the middle of its first line.
        let first_video = (inputs.iter().find(|i| i.scene.is_some()))
            .map(|i| &i.file)
            .expect("an episode has a scene");
        let poster = first_video.with_file_name(scene::POSTER);
        std::fs::copy(&poster, dir.join(POSTER))
            .map_err(|e| Error::io("cannot copy", &poster, e))?;
        scene::check_still(job.name, &dir.join(POSTER))?;
        self.captions(job, dir, &inputs, &info)?;
        crate::files::write_json(&dir.join(episode::INFO), &info)?;
        Ok(Step::Done(Made {
            loudness: Some(normalised.loudness),
            ..Made::cpu(&episode::OUTPUTS)
        }))
    }
}

impl EpisodeMux {
    /// Frames (and, halved, seconds) of a fade's half at each join; none for a cut.
    fn fade_frames(&self, fps: Fps) -> usize {
        match self.transition {
            Transition::Cut => 0,
            Transition::Fade => fps.frames_in(self.transition_seconds / 2.0),
        }
    }

    /// The gain (dB) that puts the music bed `file` at `music_volume` LU relative to the
    /// speech's loudness target: the bed is measured as it is (loudnorm's first pass over
    /// the whole file, which is what loops), so a quiet bed is raised and a loud one
    /// lowered. A silent bed gets none.
    fn bed_gain(&self, artifact: &str, file: &SourceFile, deadline: Duration) -> Result<f64> {
        let command = || {
            let mut command = Command::new("ffmpeg");
            command
                .args(["-hide_banner", "-nostdin", "-y", "-i"])
                .arg(&file.abs);
            command
        };
        let graph = format!("[0:a]aresample={AUDIO_RATE}[bed]");
        let bed = Audio {
            command: &command,
            graph: &graph,
            label: "[bed]",
            samples: 0,
        };
        let measured = loudness::measure(artifact, &bed, &self.loudness, deadline)?;
        Ok(measured.map_or(0.0, |bed| {
            bed_gain(bed.input_i, self.loudness.integrated, self.music_volume)
        }))
    }

    /// Each part's sound laid into its samples, concatenated, the music (input `.0`, at
    /// gain `.1` dB) ducked under it; ends in `[aout]`.
    fn audio_graph(&self, inputs: &[Input], info: &Info, music: Option<(usize, f64)>) -> String {
        let fade = self.fade_frames(info.fps);
        let last = inputs.len() - 1;
        let mut graph = String::new();
        let mut concat = String::new();
        for (i, (input, part)) in inputs.iter().zip(&info.parts).enumerate() {
            let start = info.sample_at(part.start);
            let samples = info.sample_at(part.start + part.frames) - start;
            if input.audio {
                graph.push_str(&format!(
                    "[{i}:a]aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,\
                     apad,atrim=end_sample={samples}"
                ));
            } else {
                graph.push_str(&format!(
                    "anullsrc=r={AUDIO_RATE}:cl=stereo,atrim=end_sample={samples}"
                ));
            }
            // A fade's half dips the sound too, within the part's own samples.
            let fade = (info.sample_at(fade.min(part.frames / 2))).min(samples);
            if fade > 0 && i > 0 {
                graph.push_str(&format!(",afade=t=in:ss=0:ns={fade}"));
            }
            if fade > 0 && i < last {
                graph.push_str(&format!(",afade=t=out:ss={}:ns={fade}", samples - fade));
            }
            graph.push_str(&format!(",asetpts=N/SR/TB[a{i}];"));
            concat.push_str(&format!("[a{i}]"));
        }
        let n = inputs.len();
        let total = info.sample_at(info.frames);
        match music {
            None => graph.push_str(&format!("{concat}concat=n={n}:v=0:a=1,anull[{AUDIO_OUT}]")),
            Some((m, gain)) => graph.push_str(&format!(
                "{concat}concat=n={n}:v=0:a=1,asplit=2[speech][key];\
                 [{m}:a]aresample={AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,\
                 atrim=end_sample={total},volume={gain:.2}dB[bed];\
                 [bed][key]sidechaincompress={DUCK}[ducked];\
                 [speech][ducked]amix=inputs=2:duration=first:normalize=0[{AUDIO_OUT}]",
            )),
        }
        graph
    }

    /// Each part fitted to the frame, cut to its whole frames, faded at its joins,
    /// concatenated; ends in `[outv]`.
    fn video_graph(&self, inputs: &[Input], info: &Info) -> String {
        let (w, h, fps) = (info.width, info.height, info.fps);
        let fade = self.fade_frames(fps);
        let last = inputs.len() - 1;
        let mut graph = String::new();
        let mut concat = String::new();
        for (i, (part, input)) in info.parts.iter().zip(inputs).enumerate() {
            let frames = part.frames;
            let upright = match input.still {
                Some(_) => media::upright_filter(&input.file),
                None => "",
            };
            graph.push_str(&format!(
                "[{i}:v]{upright}fps={fps},scale=w={w}:h={h}:force_original_aspect_ratio=decrease:\
                 force_divisible_by=2,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,\
                 format=yuv420p,tpad=stop_mode=clone:stop={frames},trim=end_frame={frames},\
                 settb={tb},setpts=N",
                tb = fps.time_base()
            ));
            let fade = fade.min(frames / 2);
            if fade > 0 && i > 0 {
                graph.push_str(&format!(",fade=t=in:s=0:n={fade}"));
            }
            if fade > 0 && i < last {
                graph.push_str(&format!(",fade=t=out:s={}:n={fade}", frames - fade));
            }
            graph.push_str(&format!("[v{i}];"));
            concat.push_str(&format!("[v{i}]"));
        }
        graph.push_str(&format!(
            "{concat}concat=n={}:v=1:a=0,settb={},setpts=N[outv]",
            inputs.len(),
            fps.time_base()
        ));
        graph
    }

    /// Every scene's cues, shifted to where its part starts; intro and outro have none.
    fn captions(&self, job: &Task, dir: &Path, inputs: &[Input], info: &Info) -> Result<()> {
        let mut cues = Vec::new();
        let mut scenes = (self.parts.iter()).filter_map(|p| match p {
            Part::Scene(i) => Some(*i),
            _ => None,
        });
        for (input, part) in inputs.iter().zip(&info.parts) {
            if input.scene.is_none() {
                continue;
            }
            let (_, name) = episode::scene_inputs(scenes.next().expect("a scene per part"));
            let path = job.file(&name, captions::SRT)?;
            let text =
                std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            let parsed = captions::parse_srt(&text).ok_or_else(|| {
                media::invalid(job.name, format!("{} is not SubRip", path.display()))
            })?;
            let shift = info.ms_at(part.start);
            cues.extend(parsed.into_iter().map(|cue| captions::Cue {
                start_ms: cue.start_ms + shift,
                end_ms: cue.end_ms + shift,
                rows: cue.rows,
            }));
        }
        let (srt, vtt) = (dir.join(SRT), dir.join(VTT));
        for (path, text) in [(&srt, captions::srt(&cues)), (&vtt, captions::vtt(&cues))] {
            std::fs::write(path, text).map_err(|e| Error::io("cannot write", path, e))?;
        }
        captions::check(job.name, &srt, &vtt, cues.len())
    }
}

/// The gain (dB) that brings a bed measured at `bed` LUFS to `relative` LU from `speech`
/// LUFS: where it sits in the pauses, before the whole mix is normalised (which moves
/// speech and bed together, by the little the bed adds to the speech's loudness).
fn bed_gain(bed: f64, speech: f64, relative: f64) -> f64 {
    speech + relative - bed
}

/// As many whole frames at `fps` as `seconds` last (at least one).
fn whole_frames(seconds: f64, fps: Fps) -> usize {
    fps.frames_in(seconds).max(1)
}

fn read_info(job: &Task, path: &Path) -> Result<scene::Info> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| media::invalid(job.name, format!("{}: {e}", path.display())))
}
