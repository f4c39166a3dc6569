//! The command engine: an external program declared as `[engines.<name>]`
//! (`manifest/command.rs`) makes a line's speech, a cloned voice's conditioning or a line's
//! clip. It is how render drives the models people already run — XTTS, Piper, SadTalker,
//! MuseTalk, … each in its own environment (see `engines/` for adapters).
//!
//! Each run gets a fresh working folder (also its cwd and TMPDIR), no shell, stdin closed,
//! a minimal environment, its own process group and a deadline (`process::run_program`),
//! and a fresh process: no model server whose memory creeps over a night of jobs. Its
//! stdout and stderr become the object's `program.log`. Because some of these programs
//! exit 0 after failing, nothing is trusted until checked: a WAV must parse, hold samples
//! and not be silent; a clip must probe, have frames and last as long as its speech within
//! one frame. A clip is then re-encoded to the scene's frame rate with exactly one frame
//! per `1/fps` of speech, as every lip-sync engine's clip is.
//!
//! A `gpu = true` engine's runs go to the GPU lane (one job at a time, after any model
//! worker has exited); the others run on the CPU pool.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::openai_speech;
use super::{Engine, LaneCall, LaneDone, Made, ProgramCall, Resource, Step, Task};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::key::KeySpec;
use crate::manifest::command::{expand, uses, CommandEngine, Stage};
use crate::manifest::input_files;
use crate::manifest::openai_speech::OpenaiSpeech;
use crate::manifest::shots::{Prompted, Shot};
use crate::manifest::{AvatarKind, SourceFile};
use crate::media::{self, Audio};
use crate::process::{self, ProgramRun};
use crate::sources::SourceHashes;
use crate::stage::lipsync::{self, AvatarFrames, CLIP_CRF};
use crate::stage::{face_track, pose, segment, shot, speech, still, two_shot, voice};
use std::time::{Duration, Instant};

/// Silence kept at each side of a join when a long line's pieces are rejoined.
const JOIN_SILENCE_SECONDS: f64 = 0.15;
/// How many frames longer than its speech a program's clip may be (then cut).
const MAX_SURPLUS_FRAMES: f64 = 4.0;
/// Quieter than this counts as silence (about -60 dBFS).
const SILENCE: f32 = 1e-3;

/// One job of a command engine, as data.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CommandJob {
    /// The engine's name (`[engines.<name>]`), also its GPU lane group. (Not `engine` in
    /// a job spec: that is the tag naming the kind of engine, "command".)
    #[serde(rename = "name")]
    pub engine: String,
    pub stage: Stage,
    pub program: PathBuf,
    /// The argv template.
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub timeout_seconds: u64,
    pub gpu: bool,
    /// What a `gpu` engine declares it needs of a card's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram: Option<crate::device::Vram>,
    /// Where a `gpu` engine runs (sets CUDA_VISIBLE_DEVICES).
    pub device: Device,
    pub output: Option<String>,
    /// Plain placeholder values: the engine's vars, then `text`, `language`, `voice`, `fps`.
    pub values: BTreeMap<String, String>,
    /// `{samples}`: the voice's reference recordings.
    pub samples: Vec<SourceFile>,
    /// Speech: the pieces of the line's text, one run each (one unless `max_chars` split it).
    pub pieces: Vec<String>,
    /// Lip-sync: the avatar.
    pub avatar: Option<AvatarFrames>,
    /// `{engine_dir}`: a path, so not in the key (like `program`).
    pub engine_dir: PathBuf,
    /// `[engines.<name>.files]`: input files written for each run, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// `kind = "openai-speech"`: the server posted each piece instead of a program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openai: Option<Box<crate::manifest::openai_speech::OpenaiSpeech>>,
    /// `audio = "mux"`: the program's video may run past the speech; it is cut to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mux: bool,
    /// Lip-sync: one segment of a long line (`stage/segment.rs`) instead of its whole clip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Box<segment::Part>>,
    /// Lip-sync: a two-person shot (`stage/two_shot.rs`), the second person's avatar
    /// (`avatar` is the first's), instead of one line's clip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<Box<AvatarFrames>>,
    /// Still, shot and pose: their files (boxed: most jobs have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<Box<Generation>>,
}

/// What a still, shot or pose job reads besides its input objects.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Generation {
    /// Still and shot: `{image}` when it is a file (a still's picture is the job's input
    /// `image` instead). Pose: `{video}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<SourceFile>,
    /// Still and shot: each LoRA file and its scale, `{lora_files}` and `{lora_scales}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loras: Vec<(SourceFile, f64)>,
}

impl CommandJob {
    fn new(engine: &CommandEngine, device: Option<Device>) -> CommandJob {
        let mut job = CommandJob {
            engine: engine.name.clone(),
            stage: engine.stage,
            program: engine.program.clone(),
            args: engine.args.clone(),
            env: engine.env.clone(),
            timeout_seconds: engine.timeout_seconds,
            gpu: engine.gpu,
            vram: engine.vram.clone(),
            device: device.filter(|_| engine.gpu).unwrap_or(Device::Cpu),
            output: engine.output.clone(),
            values: engine.vars.clone(),
            samples: Vec::new(),
            pieces: Vec::new(),
            avatar: None,
            engine_dir: engine.engine_dir.clone(),
            files: engine.files.clone(),
            mux: engine.mux,
            openai: engine.openai.clone().map(Box::new),
            segment: None,
            generation: None,
            second: None,
        };
        // A declared seed is a plain value, so it enters the key; else `{seed}` comes from
        // the key itself when the job runs.
        if let Some(seed) = engine.seed {
            job.values.insert("seed".into(), seed.to_string());
        }
        job
    }

    /// A line's speech: `text` in voice `voice` (its `language` and `samples`).
    pub fn speech(
        engine: &CommandEngine,
        device: Option<Device>,
        voice: &str,
        language: &str,
        samples: &[SourceFile],
        text: &str,
    ) -> CommandJob {
        let mut job = CommandJob::new(engine, device);
        job.values.insert("language".into(), language.into());
        job.values.insert("voice".into(), voice.into());
        job.pieces = match engine.max_chars {
            Some(max) => split_text(text, max),
            None => vec![text.to_string()],
        };
        if engine.uses("samples") || engine.openai.as_ref().is_some_and(|o| o.upload) {
            job.samples = samples.to_vec();
        }
        job
    }

    /// A cloned voice's conditioning, from its samples.
    pub fn voice(
        engine: &CommandEngine,
        device: Option<Device>,
        voice: &str,
        language: &str,
        samples: &[SourceFile],
    ) -> CommandJob {
        let mut job = CommandJob::new(engine, device);
        job.values.insert("language".into(), language.into());
        job.values.insert("voice".into(), voice.into());
        job.samples = samples.to_vec();
        job
    }

    /// A line's clip of `avatar`.
    pub fn clip(
        engine: &CommandEngine,
        device: Option<Device>,
        avatar: AvatarFrames,
    ) -> CommandJob {
        let mut job = CommandJob::new(engine, device);
        job.values.insert("fps".into(), avatar.fps.to_string());
        job.avatar = Some(avatar);
        job
    }

    /// A two-person shot of `first` and `second` (`stage/two_shot.rs`).
    pub fn two_shot(
        engine: &CommandEngine,
        device: Option<Device>,
        first: AvatarFrames,
        second: AvatarFrames,
    ) -> CommandJob {
        let mut job = CommandJob::clip(engine, device, first);
        job.second = Some(Box::new(second));
        job
    }

    /// A still: its prompt, numbers, LoRAs and picture file (a still's picture is an input).
    pub fn still(
        engine: &CommandEngine,
        device: Option<Device>,
        made: &Prompted,
        image: Option<SourceFile>,
    ) -> CommandJob {
        let mut job = CommandJob::new(engine, device);
        let values = [
            ("prompt", made.prompt.clone()),
            ("negative_prompt", made.negative.clone()),
            ("width", made.width.to_string()),
            ("height", made.height.to_string()),
            ("steps", made.steps.to_string()),
            ("guidance", made.guidance.to_string()),
        ];
        for (name, value) in values {
            job.values.insert(name.into(), value);
        }
        // A declared seed is a value (so it is in the key); else it comes from the key.
        if let Some(seed) = made.seed {
            job.values.insert("seed".into(), seed.to_string());
        }
        job.generation = Some(Box::new(Generation {
            picture: image,
            loras: (made.loras.iter())
                .map(|l| (l.file.clone(), l.scale))
                .collect(),
        }));
        job
    }

    /// A shot: a still's values, and its frames, fps and seconds.
    pub fn shot(
        engine: &CommandEngine,
        device: Option<Device>,
        shot: &Shot,
        image: Option<SourceFile>,
    ) -> CommandJob {
        let mut job = CommandJob::still(engine, device, &shot.made, image);
        job.values.insert("frames".into(), shot.frames.to_string());
        job.values.insert("fps".into(), shot.fps.to_string());
        job.values
            .insert("seconds".into(), format!("{:.3}", shot.seconds));
        job
    }

    /// A pose video read from `video`.
    pub fn pose(engine: &CommandEngine, device: Option<Device>, video: SourceFile) -> CommandJob {
        let mut job = CommandJob::new(engine, device);
        job.generation = Some(Box::new(Generation {
            picture: Some(video),
            loras: Vec::new(),
        }));
        job
    }

    /// Adds what changes the program's output: the argv template, environment, output
    /// name, version, the content of the `hash` files and samples, and every plain value.
    /// Not the program's path, timeout or device: the same program and weights on another
    /// machine make the same artifact.
    pub fn key(
        &self,
        spec: KeySpec,
        engine: &CommandEngine,
        hashes: &SourceHashes,
    ) -> Result<KeySpec> {
        let mut spec = spec
            .param(
                "args",
                serde_json::to_string(&self.args).expect("strings serialise"),
            )
            .param(
                "env",
                serde_json::to_string(&self.env).expect("strings serialise"),
            )
            .param("output", self.output.as_deref().unwrap_or("-"))
            .param("version", &engine.version);
        for (name, value) in &self.values {
            spec = spec.param(format!("value.{name}"), value);
        }
        // Only engines that declare them: every other engine's keys stay as they were.
        if !self.files.is_empty() {
            spec = spec.param(
                "files",
                serde_json::to_string(&self.files).expect("strings serialise"),
            );
        }
        if self.mux {
            spec = spec.param("audio", "mux");
        }
        // What the server is asked for; never its URL (another host, the same speech) nor
        // the API key.
        if let Some(server) = &self.openai {
            spec = spec
                .param("openai.model", &server.model)
                .param("openai.voice", server.voice.as_deref().unwrap_or("-"))
                .param("openai.format", &server.format)
                .param("openai.sample_rate", server.sample_rate);
            // Only engines that upload the voice's sample (its content is `sample1`):
            // every other server engine's keys stay as they were.
            if server.upload {
                spec = spec.param("openai.reference", "upload");
            }
        }
        if self.stage == Stage::Speech {
            spec = spec.param(
                "text",
                serde_json::to_string(&self.pieces).expect("strings serialise"),
            );
        }
        for (i, file) in engine.hash.iter().enumerate() {
            spec = spec.source(format!("hash{}", i + 1), &file.rel, hashes.hash(file)?);
        }
        for (i, file) in self.samples.iter().enumerate() {
            spec = spec.source(format!("sample{}", i + 1), &file.rel, hashes.hash(file)?);
        }
        Ok(spec)
    }

    /// The argv and working folder of each run, preparing the input files they name.
    fn runs(&self, job: &Task, dir: &Path) -> Result<Vec<ProgramRun>> {
        let mut env = self.env.clone();
        if self.gpu {
            let visible = match self.device {
                Device::Cuda(n) => n.to_string(),
                Device::Cpu => String::new(),
            };
            env.insert("CUDA_VISIBLE_DEVICES".into(), visible);
        }
        let inputs = dir.join("inputs");
        create_dir(&inputs)?;
        let mut values = self.values.clone();
        values.insert("engine_dir".into(), path_string(&self.engine_dir));
        // Where a `gpu` engine runs, as PyTorch names it (CUDA_VISIBLE_DEVICES picks the card).
        let device = if self.device.is_cuda() { "cuda" } else { "cpu" };
        values.insert("device".into(), device.into());
        values
            .entry("seed".into())
            .or_insert_with(|| seed_of(&job.key).to_string());
        let mut lists = BTreeMap::new();
        lists.insert(
            "samples".to_string(),
            self.samples
                .iter()
                .map(|s| s.abs.to_string_lossy().into_owned())
                .collect(),
        );
        match self.stage {
            Stage::Speech => {
                if job.inputs.contains_key(voice::CONDITIONING) {
                    let conditioning = job.file(voice::CONDITIONING, voice::OUTPUT)?;
                    values.insert("conditioning".into(), path_string(&conditioning));
                }
            }
            Stage::Voice => {}
            Stage::Lipsync if self.second.is_some() => {
                self.two_inputs(job, dir, &inputs, &mut values)?
            }
            Stage::Lipsync => self.clip_inputs(job, &inputs, &mut values)?,
            Stage::Still | Stage::Shot => {
                self.generation_inputs(job, &inputs, &mut values, &mut lists)?
            }
            Stage::Pose => {
                values.insert("video".into(), path_string(&self.pose_source()?.abs));
            }
        }
        let pieces: Vec<Option<&String>> = match self.stage {
            Stage::Speech => self.pieces.iter().map(Some).collect(),
            _ => vec![None],
        };
        let mut runs = Vec::new();
        for (i, piece) in pieces.into_iter().enumerate() {
            let workdir = dir.join(format!("work-{}", i + 1));
            create_dir(&workdir)?;
            let out = match self.stage {
                Stage::Speech => workdir.join("out.wav"),
                Stage::Lipsync | Stage::Shot | Stage::Pose => workdir.join("out.mp4"),
                Stage::Still => workdir.join("out.png"),
                Stage::Voice => {
                    let out = workdir.join(voice::OUTPUT);
                    create_dir(&out)?;
                    out
                }
            };
            let mut values = values.clone();
            values.insert("workdir".into(), path_string(&workdir));
            values.insert("out".into(), path_string(&out));
            if let Some(text) = piece {
                let text_file = inputs.join(format!("text-{}.txt", i + 1));
                write(&text_file, text.as_bytes())?;
                values.insert("text".into(), text.clone());
                values.insert("text_file".into(), path_string(&text_file));
            }
            self.write_files(
                job.name,
                &inputs.join(format!("files-{}", i + 1)),
                &mut values,
            )?;
            runs.push(ProgramRun {
                name: format!("engine `{}` ({})", self.engine, self.program.display()),
                program: self.program.clone(),
                args: expand(&self.args, &values, &lists),
                env: env.clone(),
                dir: workdir,
                log: dir.join(format!("log-{}.txt", i + 1)),
            });
        }
        Ok(runs)
    }

    /// `{audio}`, `{face}`, and `{image}` / `{video}` made from the avatar when its args
    /// use them: a still for an engine that wants an image of a video avatar, a video
    /// lasting the speech for one that wants a video of a still.
    fn clip_inputs(
        &self,
        job: &Task,
        inputs: &Path,
        values: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        let avatar = self.avatar.as_ref().expect("a clip job has its avatar");
        let speech = self.speech_file(job, inputs)?;
        let audio = media::read_wav(&speech)
            .map_err(|detail| media::invalid(&format!("the speech of {}", job.name), detail))?;
        // A copy: the program must not be able to change an object in the cache.
        let audio_file = inputs.join("speech.wav");
        std::fs::copy(&speech, &audio_file).map_err(|e| Error::io("cannot copy", &speech, e))?;
        values.insert("audio".into(), path_string(&audio_file));
        // A photo stored sideways (EXIF orientation) is given to the program upright, as
        // the face track saw it: many programs ignore the tag.
        // A large one, the face track's scaled copy (`face_track::WORKING`), already upright.
        let track = job.file(lipsync::FACE_TRACK, face_track::OUTPUT)?;
        let working = track.with_file_name(face_track::WORKING);
        // A continued segment starts from the previous one's last frame, a still.
        let previous = (self.segment.as_ref())
            .filter(|part| part.continued)
            .map(|_| job.file(segment::PREVIOUS, segment::LAST_FRAME))
            .transpose()?;
        let kind = match previous {
            Some(_) => AvatarKind::Image,
            None => avatar.kind,
        };
        let upright = match avatar.kind {
            _ if previous.is_some() => previous.expect("checked"),
            AvatarKind::Image if working.exists() => working,
            AvatarKind::Image if !media::upright_filter(&avatar.source.abs).is_empty() => {
                let copy = inputs.join("face-upright.png");
                media::write_upright_png(&avatar.source.abs, &copy).map_err(|detail| {
                    media::invalid(&format!("the avatar of {}", job.name), detail)
                })?;
                copy
            }
            _ => avatar.source.abs.clone(),
        };
        values.insert("face".into(), path_string(&upright));
        let frames = self.frames(&audio, avatar.fps);
        values.insert("frames".into(), frames.to_string());
        values.insert("seconds".into(), format!("{:.3}", audio.seconds()));
        let (width, height) = picture_size(&upright, kind)
            .ok_or_else(|| media::invalid(job.name, "the avatar's picture size cannot be read"))?;
        values.insert("width".into(), width.to_string());
        values.insert("height".into(), height.to_string());
        let uses = |name: &str| {
            uses(&self.args, name)
                || (self.files.values()).any(|body| body.contains(&format!("{{{name}}}")))
        };
        let ffmpeg = |args: &[&str], output: &Path| {
            let mut command = Command::new("ffmpeg");
            command
                .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
                .args(args)
                .arg(output);
            let deadline = process::deadline(60.0 + 10.0 * audio.seconds());
            process::run(&mut command, job.name, deadline).map(|_| ())
        };
        let source = path_string(&upright);
        match kind {
            AvatarKind::Image => {
                values.insert("image".into(), source.clone());
                if uses("video") {
                    let video = inputs.join("face.mp4");
                    let frames = frames.to_string();
                    let fps = avatar.fps.to_string();
                    ffmpeg(
                        &[
                            "-loop",
                            "1",
                            "-framerate",
                            &fps,
                            "-i",
                            &source,
                            "-frames:v",
                            &frames,
                        ]
                        .into_iter()
                        .chain([
                            "-vf",
                            "scale=trunc(iw/2)*2:trunc(ih/2)*2",
                            "-c:v",
                            "libx264",
                        ])
                        .chain(["-crf", "14", "-pix_fmt", "yuv420p"])
                        .collect::<Vec<_>>(),
                        &video,
                    )?;
                    values.insert("video".into(), path_string(&video));
                }
            }
            // An idle motion shot (made by render): looped or cut to the speech's frames,
            // so a video lip-sync program gets exactly as much video as speech.
            AvatarKind::Video if job.inputs.contains_key(face_track::MADE) => {
                let video = inputs.join("motion.mp4");
                let (frames, fps) = (frames.to_string(), avatar.fps.to_string());
                ffmpeg(
                    &[
                        "-stream_loop",
                        "-1",
                        "-i",
                        &source,
                        "-an",
                        "-vf",
                        &format!("fps={fps},scale=trunc(iw/2)*2:trunc(ih/2)*2"),
                        "-frames:v",
                        &frames,
                        "-c:v",
                        "libx264",
                        "-crf",
                        "14",
                        "-pix_fmt",
                        "yuv420p",
                    ],
                    &video,
                )?;
                values.insert("video".into(), path_string(&video));
                if uses("image") {
                    let image = inputs.join("face.png");
                    ffmpeg(&["-i", &source, "-frames:v", "1"], &image)?;
                    values.insert("image".into(), path_string(&image));
                }
            }
            AvatarKind::Video => {
                values.insert("video".into(), source.clone());
                if uses("image") {
                    let image = inputs.join("face.png");
                    ffmpeg(&["-i", &source, "-frames:v", "1"], &image)?;
                    values.insert("image".into(), path_string(&image));
                }
            }
        }
        Ok(())
    }

    /// A still's or shot's `{image}` (a file, or a copy of the still it names: the program
    /// must not be able to change an object in the cache), `{pose}` (a copy of the pose
    /// video), `{lora_files}` and `{lora_scales}`.
    fn generation_inputs(
        &self,
        job: &Task,
        inputs: &Path,
        values: &mut BTreeMap<String, String>,
        lists: &mut BTreeMap<String, Vec<String>>,
    ) -> Result<()> {
        let copy = |from: &Path, name: &str| -> Result<String> {
            let to = inputs.join(name);
            std::fs::copy(from, &to).map_err(|e| Error::io("cannot copy", from, e))?;
            Ok(path_string(&to))
        };
        let generation = self.generation.as_deref().cloned().unwrap_or_default();
        if let Some(file) = &generation.picture {
            values.insert("image".into(), path_string(&file.abs));
        } else if job.inputs.contains_key(still::IMAGE) {
            let file = job.file(still::IMAGE, still::OUTPUT)?;
            values.insert("image".into(), copy(&file, "image.png")?);
        }
        if job.inputs.contains_key(shot::POSE) {
            let file = job.file(shot::POSE, pose::OUTPUT)?;
            values.insert("pose".into(), copy(&file, "pose.mp4")?);
        }
        let (files, scales) = (generation.loras.iter())
            .map(|(file, scale)| (path_string(&file.abs), scale.to_string()))
            .unzip();
        lists.insert("lora_files".into(), files);
        lists.insert("lora_scales".into(), scales);
        Ok(())
    }

    /// Writes the engine's input files for one run into `folder`, from their templates and
    /// `values`, and adds each one's path to `values` as `file:<name>`.
    fn write_files(
        &self,
        artifact: &str,
        folder: &Path,
        values: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        if self.files.is_empty() {
            return Ok(());
        }
        create_dir(folder)?;
        // Every path first: one file may name another.
        for name in self.files.keys() {
            values.insert(format!("file:{name}"), path_string(&folder.join(name)));
        }
        for (name, body) in &self.files {
            let text =
                input_files::fill(body, input_files::Format::of(name), values).map_err(|why| {
                    media::invalid(
                        artifact,
                        format!(
                            "engine `{}`: cannot write its file `{name}`: {why}",
                            self.engine
                        ),
                    )
                })?;
            write(&folder.join(name), text.as_bytes())?;
        }
        Ok(())
    }

    fn call(&self, runs: Vec<ProgramRun>) -> ProgramCall {
        ProgramCall {
            group: self.engine.clone(),
            runs,
            timeout_seconds: self.timeout_seconds,
            device: self.device,
        }
    }

    /// The file run `i` wrote: `output` (a name or a glob) or the `{out}` path.
    fn output_of(&self, artifact: &str, dir: &Path, i: usize) -> Result<PathBuf> {
        let workdir = dir.join(format!("work-{}", i + 1));
        let log = dir.join(format!("log-{}.txt", i + 1));
        let default = match self.stage {
            Stage::Speech => "out.wav",
            Stage::Lipsync | Stage::Shot | Stage::Pose => "out.mp4",
            Stage::Still => "out.png",
            Stage::Voice => voice::OUTPUT,
        };
        let pattern = self.output.as_deref().unwrap_or(default);
        let found = find(&workdir, pattern);
        match found.as_slice() {
            [one] if self.stage == Stage::Voice || one.is_file() => Ok(one.clone()),
            [] | [_] => Err(self.wrote_nothing(artifact, pattern, &log)),
            many => {
                let names: Vec<String> = (many.iter())
                    .map(|p| p.strip_prefix(&workdir).unwrap_or(p).display().to_string())
                    .collect();
                Err(media::invalid(
                    artifact,
                    format!(
                        "engine `{}`: `output = \"{pattern}\"` matches {} files ({}); it must match one",
                        self.engine,
                        many.len(),
                        names.join(", ")
                    ),
                ))
            }
        }
    }

    fn wrote_nothing(&self, artifact: &str, pattern: &str, log: &Path) -> Error {
        let log = std::fs::read(log).unwrap_or_default();
        let tail = process::tail(&String::from_utf8_lossy(&log), 10);
        let tail = if tail.is_empty() {
            "its log is empty".to_string()
        } else {
            format!("the end of its log:\n{tail}")
        };
        media::invalid(
            artifact,
            format!(
                "engine `{}` exited 0 but wrote no `{pattern}` in its working folder; {tail}",
                self.engine
            ),
        )
    }

    /// The runs' logs, concatenated into the object's `program.log`.
    fn keep_log(&self, dir: &Path, runs: usize) -> Result<()> {
        let mut log = Vec::new();
        for i in 0..runs {
            log.extend(std::fs::read(dir.join(format!("log-{}.txt", i + 1))).unwrap_or_default());
        }
        write(&dir.join(LOG), &log)
    }

    fn runs_made(&self) -> usize {
        match self.stage {
            Stage::Speech => self.pieces.len(),
            _ => 1,
        }
    }

    /// Checks what the program wrote and makes the object's files from it.
    fn collect(&self, job: &Task, dir: &Path) -> Result<Vec<String>> {
        let runs = self.runs_made();
        self.keep_log(dir, runs)?;
        let outputs = match self.stage {
            Stage::Speech => {
                let mut pieces = Vec::new();
                for i in 0..runs {
                    let file = self.output_of(job.name, dir, i)?;
                    pieces.push(self.checked_wav(job.name, &file)?);
                }
                let audio = join(job.name, pieces)?;
                let output = dir.join(speech::OUTPUT);
                media::write_wav(&output, &audio)?;
                speech::check(job.name, &output)?;
                vec![speech::OUTPUT.to_string()]
            }
            Stage::Voice => {
                let found = self.output_of(job.name, dir, 0)?;
                let target = dir.join(voice::OUTPUT);
                // The whole `{out}` folder, or the one file `output` names, put in it.
                let to = if found.is_dir() {
                    target.clone()
                } else {
                    create_dir(&target)?;
                    target.join(found.file_name().expect("a file has a name"))
                };
                std::fs::rename(&found, &to).map_err(|e| Error::io("cannot move", &found, e))?;
                let files = files_under(&target);
                let files: Vec<String> = (files.iter())
                    .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 0))
                    .map(|f| {
                        f.strip_prefix(dir)
                            .unwrap_or(f)
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect();
                if files.is_empty() {
                    let log = dir.join("log-1.txt");
                    return Err(self.wrote_nothing(
                        job.name,
                        self.output.as_deref().unwrap_or("{out}/*"),
                        &log,
                    ));
                }
                files
            }
            Stage::Still => {
                let found = self.output_of(job.name, dir, 0)?;
                let size = |name: &str| self.values.get(name).and_then(|v| v.parse().ok());
                let (width, height) = (size("width").unwrap_or(0), size("height").unwrap_or(0));
                still::check(job.name, &found, width, height)?;
                self.keep(&found, &dir.join(still::OUTPUT))?;
                vec![still::OUTPUT.to_string()]
            }
            Stage::Shot => {
                let found = self.output_of(job.name, dir, 0)?;
                let frames = (self.values.get("frames")).and_then(|f| f.parse().ok());
                let fps = (self.values.get("fps")).and_then(|f| f.parse().ok());
                let (Some(frames), Some(fps)) = (frames, fps) else {
                    return Err(media::invalid(
                        job.name,
                        "a shot job without its frames and fps",
                    ));
                };
                shot::check_frames(job.name, "shot", &found, frames, fps)?;
                self.keep(&found, &dir.join(shot::OUTPUT))?;
                vec![shot::OUTPUT.to_string()]
            }
            Stage::Pose => {
                let found = self.output_of(job.name, dir, 0)?;
                pose::check(job.name, &found, &self.pose_source()?.abs)?;
                self.keep(&found, &dir.join(pose::OUTPUT))?;
                vec![pose::OUTPUT.to_string()]
            }
            Stage::Lipsync => {
                let found = self.output_of(job.name, dir, 0)?;
                self.normalise_clip(job, dir, &found)?;
                let mut outputs = vec![lipsync::OUTPUT.to_string()];
                if self.second.is_some() {
                    outputs.push(two_shot::PICTURE.to_string());
                }
                if self.segment.as_ref().is_some_and(|part| part.last_frame) {
                    outputs.push(segment::LAST_FRAME.to_string());
                }
                outputs
            }
        };
        // Inputs and working folders are not part of the object.
        for i in 0..runs {
            let _ = std::fs::remove_dir_all(dir.join(format!("work-{}", i + 1)));
            let _ = std::fs::remove_file(dir.join(format!("log-{}.txt", i + 1)));
        }
        let _ = std::fs::remove_dir_all(dir.join("inputs"));
        Ok([outputs, vec![LOG.to_string()]].concat())
    }

    /// A pose job's source video.
    fn pose_source(&self) -> Result<&SourceFile> {
        (self.generation.as_ref())
            .and_then(|g| g.picture.as_ref())
            .ok_or_else(|| {
                Error::Other(
                    "internal error (a bug in render): a pose job without its video".into(),
                )
            })
    }

    /// Moves what the program wrote to its place in the object.
    fn keep(&self, found: &Path, to: &Path) -> Result<()> {
        std::fs::rename(found, to).map_err(|e| Error::io("cannot move", found, e))
    }

    fn checked_wav(&self, artifact: &str, file: &Path) -> Result<Audio> {
        let audio = media::read_wav(file).map_err(|detail| {
            media::invalid(
                artifact,
                format!(
                    "engine `{}` wrote a WAV that cannot be read: {detail}",
                    self.engine
                ),
            )
        })?;
        if audio.samples.iter().all(|s| s.abs() < SILENCE) {
            return Err(media::invalid(
                artifact,
                format!(
                    "engine `{}` wrote a silent WAV ({:.2} s of silence)",
                    self.engine,
                    audio.seconds()
                ),
            ));
        }
        Ok(audio)
    }

    /// Checks the program's clip against the speech and re-encodes it as the stage's clip:
    /// H.264, the scene's frame rate, exactly one frame per `1/fps` of speech, no audio.
    fn normalise_clip(&self, job: &Task, dir: &Path, found: &Path) -> Result<()> {
        let avatar = self.avatar.as_ref().expect("a clip job has its avatar");
        let speech = self.speech_file(job, &dir.join("inputs"))?;
        let audio = media::read_wav(&speech).map_err(|detail| media::invalid(job.name, detail))?;
        let seconds = audio.seconds();
        let probe = media::probe(found).map_err(|detail| {
            media::invalid(
                job.name,
                format!(
                    "engine `{}` wrote a video that cannot be read: {detail}",
                    self.engine
                ),
            )
        })?;
        let video = probe.video.filter(|v| v.packets > 0).ok_or_else(|| {
            media::invalid(
                job.name,
                format!("engine `{}` wrote a video with no frames", self.engine),
            )
        })?;
        let length = if video.seconds > 0.0 {
            video.seconds
        } else {
            probe.format_seconds
        };
        let frame = 1.0 / avatar.fps.as_f64();
        let source_frame = if video.fps > 0.0 {
            1.0 / video.fps
        } else {
            frame
        };
        // Short by more than a frame is a broken clip. A few frames long is how some
        // models end (LatentSync emits its last chunk whole): the surplus is cut below.
        let short = seconds - length > frame.max(source_frame) + 1e-3;
        // A program without sound of its own (`audio = "mux"`) may run past the speech:
        // models that make frames in whole chunks; the surplus is cut below.
        let long =
            !self.mux && length - seconds > MAX_SURPLUS_FRAMES * source_frame.max(frame) + 1e-3;
        if short || long {
            return Err(media::invalid(
                job.name,
                format!(
                    "engine `{}` wrote a {length:.3} s video for {seconds:.3} s of speech (it must last as long as the speech, within one frame)",
                    self.engine
                ),
            ));
        }
        let count = self.frames(&audio, avatar.fps);
        let output = dir.join(lipsync::OUTPUT);
        let mut command = Command::new("ffmpeg");
        command
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
            .arg(found)
            .args(["-an", "-vf"])
            .arg(format!(
                "fps={},scale=trunc(iw/2)*2:trunc(ih/2)*2,tpad=stop_mode=clone:stop=2",
                avatar.fps
            ))
            .args(["-frames:v", &count.to_string(), "-c:v", "libx264", "-crf"])
            .arg(CLIP_CRF.to_string())
            .args(["-pix_fmt", "yuv420p"])
            .arg(&output);
        process::run(
            &mut command,
            job.name,
            process::deadline(60.0 + 10.0 * seconds),
        )?;
        lipsync::check(job.name, &output, count)?;
        if self.segment.as_ref().is_some_and(|part| part.last_frame) {
            segment::write_last_frame(job.name, &output, count, dir)?;
        }
        Ok(())
    }

    /// A clip's speech: the line's, or a segment's piece of it (checked to be the bytes
    /// its key names), or a two-person shot's two tracks mixed (in the job's `inputs`).
    fn speech_file(&self, job: &Task, inputs: &Path) -> Result<PathBuf> {
        if self.second.is_some() {
            return Ok(inputs.join(MIX));
        }
        match &self.segment {
            Some(part) => part.audio(job.name).map(Path::to_path_buf),
            None => job.file(lipsync::SPEECH, speech::OUTPUT),
        }
    }

    /// A clip's frames: those covering its speech, or a segment's from its line's cuts
    /// (they add up to the line's exactly), or a shot's: its tracks last its whole frames
    /// to the nearest sample.
    fn frames(&self, audio: &Audio, fps: crate::fps::Fps) -> usize {
        if self.second.is_some() {
            return fps.frames_in(audio.seconds());
        }
        match &self.segment {
            Some(part) => part.frames,
            None => lipsync::frame_count(audio, fps),
        }
    }

    /// A two-person shot's inputs: `{audio_1}`, `{audio_2}` (copies of the people's tracks),
    /// `{audio}` (both mixed), `{image}` and `{face}` (both avatars side by side, or the one
    /// picture both name with their `face`; also kept in the object as `picture.png`), `{box_1}`, `{box_2}` (each face's box in it, from
    /// its avatar's face track; `{box_1_yx}`, `{box_2_yx}` in InfiniteTalk's order), and
    /// the exchange's `{frames}`, `{seconds}`, `{width}`, `{height}`.
    fn two_inputs(
        &self,
        job: &Task,
        dir: &Path,
        inputs: &Path,
        values: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        let first = self
            .avatar
            .as_ref()
            .expect("a shot job has its first avatar");
        let second = self.second.as_deref().expect("checked");
        let mut mix: Vec<f32> = Vec::new();
        let mut pictures = Vec::new();
        let mut faces = Vec::new();
        for (p, avatar) in [first, second].into_iter().enumerate() {
            let track = job.file(&two_shot::track_input(p), two_shot::TRACK)?;
            let audio = media::read_wav(&track).map_err(|detail| {
                media::invalid(
                    &format!("the track of person {} of {}", p + 1, job.name),
                    detail,
                )
            })?;
            mix.resize(mix.len().max(audio.samples.len()), 0.0);
            for (m, s) in mix.iter_mut().zip(&audio.samples) {
                *m += s;
            }
            // A copy: the program must not be able to change an object in the cache.
            let copy = inputs.join(format!("person{}.wav", p + 1));
            std::fs::copy(&track, &copy).map_err(|e| Error::io("cannot copy", &track, e))?;
            values.insert(format!("audio_{}", p + 1), path_string(&copy));
            let face = job.file(&two_shot::face_input(p), face_track::OUTPUT)?;
            let boxes = face_track::read_track(&face)?.boxes;
            let (frames, _) = face_track::clip_frames(&avatar.source, avatar.kind, &face)?;
            let (Some(frame), Some(face_box)) = (frames.into_iter().next(), boxes.first()) else {
                return Err(media::invalid(
                    job.name,
                    format!(
                        "the avatar `{}` has no picture or no face",
                        avatar.source.rel
                    ),
                ));
            };
            pictures.push(frame);
            faces.push(*face_box);
        }
        let mix = Audio {
            samples: mix.into_iter().map(|s| s.clamp(-1.0, 1.0)).collect(),
            sample_rate: two_shot::TRACK_RATE,
        };
        media::write_wav(&inputs.join(MIX), &mix)?;
        values.insert("audio".into(), path_string(&inputs.join(MIX)));
        let (picture, at) = match two_shot::one_picture(&first.source, &second.source) {
            true => two_shot::both_in_one(&pictures[0], &pictures[1]),
            false => two_shot::side_by_side(&pictures[0], &pictures[1]),
        };
        let size = (picture.width, picture.height);
        let kept = dir.join(two_shot::PICTURE);
        media::write_png(&picture, &kept).map_err(|detail| media::invalid(job.name, detail))?;
        let given = inputs.join(two_shot::PICTURE);
        std::fs::copy(&kept, &given).map_err(|e| Error::io("cannot copy", &kept, e))?;
        for key in ["image", "face"] {
            values.insert(key.into(), path_string(&given));
        }
        for p in 0..2 {
            let placed = at[p].place(&faces[p]);
            let n = p + 1;
            values.insert(format!("box_{n}"), two_shot::box_text(&placed, size, false));
            values.insert(
                format!("box_{n}_yx"),
                two_shot::box_text(&placed, size, true),
            );
        }
        let frames = self.frames(&mix, first.fps);
        values.insert("frames".into(), frames.to_string());
        values.insert("seconds".into(), format!("{:.3}", mix.seconds()));
        values.insert("width".into(), size.0.to_string());
        values.insert("height".into(), size.1.to_string());
        Ok(())
    }
}

/// The object's log: every run's stdout and stderr.
pub const LOG: &str = "program.log";
/// A two-person shot's tracks mixed, in the job's inputs: its `{audio}`.
const MIX: &str = "speech.wav";

impl Engine for CommandJob {
    fn resource(&self) -> Resource {
        if self.gpu {
            Resource::Gpu {
                group: self.engine.clone(),
                vram: self.vram.clone(),
            }
        } else {
            Resource::Cpu
        }
    }

    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        if self.stage == Stage::Voice {
            for sample in &self.samples {
                media::read_wav(&sample.abs).map_err(|detail| Error::UnreadableMedia {
                    file: sample.rel.clone(),
                    detail,
                    hint: "voice samples must be WAV recordings of the person, 6 to 30 s each"
                        .into(),
                })?;
            }
        }
        if let Some(server) = &self.openai {
            return self.ask_server(job, dir, server);
        }
        let call = self.call(self.runs(job, dir)?);
        if self.gpu {
            return Ok(Step::Lane(LaneCall::Program(call)));
        }
        let done = call.run(job.name)?;
        self.finish(job, dir, done).map(Step::Done)
    }

    fn finish(&self, job: &Task, dir: &Path, done: LaneDone) -> Result<Made> {
        self.made(job, dir, done)
    }
}

impl CommandJob {
    /// Speech from an `openai-speech` server: one request per piece, each piece's WAV
    /// where a program's would be, then the same checks and join.
    fn ask_server(&self, job: &Task, dir: &Path, server: &OpenaiSpeech) -> Result<Step> {
        let voice = self.values.get("voice").map_or("", String::as_str);
        for (i, text) in self.pieces.iter().enumerate() {
            let workdir = dir.join(format!("work-{}", i + 1));
            create_dir(&workdir)?;
            let request = openai_speech::Request {
                engine: &self.engine,
                artifact: job.name,
                text,
                voice,
                reference: self.samples.first().map(|s| s.abs.as_path()),
            };
            let deadline = Instant::now() + Duration::from_secs(self.timeout_seconds);
            let log = dir.join(format!("log-{}.txt", i + 1));
            openai_speech::speak(server, &request, &workdir.join("out.wav"), &log, deadline)?;
        }
        let done = LaneDone {
            device: "server".into(),
            precision: "-".into(),
            batch_size: None,
            peak_memory_bytes: None,
        };
        self.made(job, dir, done).map(Step::Done)
    }

    fn made(&self, job: &Task, dir: &Path, done: LaneDone) -> Result<Made> {
        let outputs = self.collect(job, dir)?;
        Ok(Made {
            outputs,
            device: done.device,
            precision: done.precision,
            batch_size: None,
            peak_memory_bytes: None,
            loudness: None,
        })
    }
}

/// `{seed}` when the engine declares none: the key's first four bytes, below 2^31 (many
/// programs take a signed 32-bit seed). The same job gets the same seed on every machine.
fn seed_of(key: &crate::key::Key) -> u32 {
    u32::from_le_bytes([key.0[0], key.0[1], key.0[2], key.0[3]]) & 0x7fff_ffff
}

/// `{width}` and `{height}`: the size of the avatar's picture as the program gets it.
fn picture_size(path: &Path, kind: AvatarKind) -> Option<(u32, u32)> {
    match kind {
        AvatarKind::Image => media::image_size(path),
        AvatarKind::Video => {
            let video = media::probe(path).ok()?.video?;
            Some((video.width, video.height))
        }
    }
}

fn path_string(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io("cannot write", path, e))
}

/// Every file under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// The paths under `dir` matching `pattern` (`/`-separated; `*` and `?` match within one
/// name), sorted.
fn find(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![dir.to_path_buf()];
    for part in pattern.split('/').filter(|p| !p.is_empty() && *p != ".") {
        found = (found.iter())
            .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
            .filter(|e| wildcard(part, &e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
    }
    found.sort();
    found
}

/// Whether `name` matches `pattern`, where `*` is any run of characters and `?` one.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Splits `text` into pieces of at most `max` characters, at sentence ends where it can,
/// else at clause marks, else between words (a single longer word is cut).
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let text = text.trim();
    if text.chars().count() <= max {
        return vec![text.to_string()];
    }
    let mut pieces: Vec<String> = Vec::new();
    let push = |pieces: &mut Vec<String>, part: &str| {
        let part = part.trim();
        if part.is_empty() {
            return;
        }
        match pieces.last_mut() {
            Some(last) if last.chars().count() + 1 + part.chars().count() <= max => {
                last.push(' ');
                last.push_str(part);
            }
            _ => pieces.push(part.to_string()),
        }
    };
    for sentence in split_after(text, &['.', '!', '?', '…', '。', '！', '？']) {
        if sentence.chars().count() <= max {
            push(&mut pieces, &sentence);
            continue;
        }
        for clause in split_after(&sentence, &[',', ';', ':', '—']) {
            if clause.chars().count() <= max {
                push(&mut pieces, &clause);
                continue;
            }
            for word in clause.split_whitespace() {
                let chars: Vec<char> = word.chars().collect();
                for chunk in chars.chunks(max) {
                    push(&mut pieces, &chunk.iter().collect::<String>());
                }
            }
        }
    }
    pieces
}

/// `text` cut after each run of `marks` that is followed by whitespace.
fn split_after(text: &str, marks: &[char]) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        if marks.contains(&c) && chars.peek().is_some_and(|n| n.is_whitespace()) {
            parts.push(std::mem::take(&mut current));
        }
    }
    parts.push(current);
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// Rejoins a long line's pieces, keeping at most [`JOIN_SILENCE_SECONDS`] of silence on
/// each side of a join, so the line flows as one.
fn join(artifact: &str, pieces: Vec<Audio>) -> Result<Audio> {
    let rate = pieces[0].sample_rate;
    if let Some(other) = pieces.iter().find(|p| p.sample_rate != rate) {
        return Err(media::invalid(
            artifact,
            format!(
                "its pieces have different sample rates ({rate} and {} Hz)",
                other.sample_rate
            ),
        ));
    }
    let keep = (JOIN_SILENCE_SECONDS * rate as f64) as usize;
    let count = pieces.len();
    let mut samples = Vec::new();
    for (i, piece) in pieces.into_iter().enumerate() {
        let s = &piece.samples;
        let first = s.iter().position(|x| x.abs() >= SILENCE).unwrap_or(0);
        let last = s
            .iter()
            .rposition(|x| x.abs() >= SILENCE)
            .map_or(s.len(), |l| l + 1);
        let start = if i == 0 {
            0
        } else {
            first.saturating_sub(keep)
        };
        let end = if i + 1 == count {
            s.len()
        } else {
            (last + keep).min(s.len())
        };
        samples.extend_from_slice(&s[start..end]);
    }
    Ok(Audio {
        samples,
        sample_rate: rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_splits_at_sentences_then_clauses_then_words() {
        let text = "One two three. Four five six! Seven, eight nine ten eleven twelve.";
        assert_eq!(
            split_text(text, 30),
            [
                "One two three. Four five six!",
                "Seven,",
                "eight nine ten eleven twelve."
            ]
        );
        assert_eq!(split_text("short", 30), ["short"]);
        let pieces = split_text(&"word ".repeat(1000), 250);
        assert!(pieces.iter().all(|p| p.chars().count() <= 250));
        assert_eq!(pieces.join(" ").split_whitespace().count(), 1000);
    }

    #[test]
    fn globs_match_within_one_name() {
        assert!(wildcard("*.mp4", "2024_01_01_result.mp4"));
        assert!(wildcard("res?lt*", "result.mp4"));
        assert!(!wildcard("*.mp4", "result.wav"));
        assert!(!wildcard("a", "ab"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("results/x")).unwrap();
        std::fs::write(dir.path().join("results/x/a.mp4"), "").unwrap();
        std::fs::write(dir.path().join("results/b.mp4"), "").unwrap();
        assert_eq!(
            find(dir.path(), "results/*.mp4"),
            [dir.path().join("results/b.mp4")]
        );
        assert_eq!(
            find(dir.path(), "results/*/*.mp4"),
            [dir.path().join("results/x/a.mp4")]
        );
    }

    #[test]
    fn joins_keep_little_silence() {
        let rate = 1000;
        let piece = |lead: usize, tail: usize| Audio {
            samples: [vec![0.0; lead], vec![0.5; 100], vec![0.0; tail]].concat(),
            sample_rate: rate,
        };
        let joined = join("x", vec![piece(50, 900), piece(700, 20)]).unwrap();
        // 50 lead + 100 + 150 kept + 150 kept + 100 + 20 tail.
        assert_eq!(joined.samples.len(), 50 + 100 + 150 + 150 + 100 + 20);
    }
}
