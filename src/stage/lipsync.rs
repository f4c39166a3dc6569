//! Lip-sync: one clip per script line — the avatar's frames with the mouth moved by that
//! line's speech. A clip depends only on its own speech and the avatar's face track, never
//! on its neighbours, so editing one line re-makes one clip. For a video avatar the frames
//! are ping-ponged from an offset chosen by the clip's own key: stable across builds and
//! unaffected by other lines.

use std::path::Path;

use rayon::prelude::*;

use crate::engine::torch::{self, Accelerator};
use crate::engine::{builtin_lipsync, mel, wav2lip};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::manifest::diagnostic::ConfigError;
use crate::manifest::model::Model;
use crate::manifest::{Avatar, AvatarKind, SourceFile};
use crate::media::{self, Audio, VideoEncoder};
use crate::sources::SourceHashes;
use crate::stage::{face_track, speech, Context, FinishMade, GpuWork, Made, Node, Ran};
use crate::toolchain;

pub const OUTPUT: &str = "clip.mp4";
const VERSION: &str = "clip-2";
/// Clips are intermediate: keep them close to lossless, the scene encode decides quality.
const CLIP_CRF: u32 = 14;

#[derive(Debug)]
pub struct ClipJob {
    pub face_track: Key,
    pub speech: Key,
    pub source: SourceFile,
    pub kind: AvatarKind,
    pub fps: u32,
    /// None: the built-in CPU lip-sync.
    pub model: Option<ModelRun>,
}

/// A neural lip-sync model and where it runs.
#[derive(Debug, Clone)]
pub struct ModelRun {
    pub model: Model,
    pub accelerator: Accelerator,
}

pub fn plan(
    avatar: &Avatar,
    face_track: Key,
    speech: Key,
    fps: u32,
    accelerator: Option<Accelerator>,
    hashes: &SourceHashes,
) -> Result<(KeySpec, ClipJob)> {
    let mut spec = KeySpec::new(ArtifactKind::Clip, VERSION, &avatar.lipsync)
        .param("fps", fps)
        .param("crf", CLIP_CRF)
        .param("ffmpeg", toolchain::ffmpeg()?)
        .input("face-track", face_track)
        .input("speech", speech)
        .source("avatar", &avatar.source.rel, hashes.hash(&avatar.source)?);
    let model = match (&avatar.model, accelerator) {
        (None, _) => None,
        (Some(model), Some(accelerator)) => {
            let hash = hashes.hash(&model.file)?;
            if let Some(pin) = &model.pin {
                if *pin != hash.hex() {
                    return Err(ConfigError::in_file(
                        &model.manifest.rel,
                        format!(
                            "model `{}`: `{}` does not match the blake3 pinned in `{}` (pinned {}…, file {}…)",
                            model.name,
                            model.file.rel,
                            model.manifest.rel,
                            &pin[..12],
                            &hash.hex()[..12]
                        ),
                    )
                    .with_help("the weights changed since the pin was written: re-export the model, or update `blake3` if the change is intended")
                    .into());
                }
            }
            spec = spec.param("contract", model.contract.as_str()).source(
                "model",
                &model.file.rel,
                hash,
            );
            spec.precision = accelerator.precision().to_string();
            Some(ModelRun {
                model: model.clone(),
                accelerator,
            })
        }
        (Some(_), None) => unreachable!("the build resolves a device when an avatar uses a model"),
    };
    let job = ClipJob {
        face_track,
        speech,
        source: avatar.source.clone(),
        kind: avatar.kind,
        fps,
        model,
    };
    Ok((spec, job))
}

/// How many video frames cover `seconds` of speech.
pub fn frame_count(seconds: f64, fps: u32) -> usize {
    ((seconds * fps as f64) - 1e-9).ceil().max(1.0) as usize
}

/// Which avatar frame shows at clip frame `i`: the source plays forward then backward
/// (ping-pong) from `offset`, at its own frame rate.
pub fn source_frame(
    i: usize,
    offset: usize,
    source_frames: usize,
    source_fps: f64,
    fps: u32,
) -> usize {
    if source_frames <= 1 {
        return 0;
    }
    let period = 2 * (source_frames - 1);
    let position = offset + (i as f64 * source_fps / fps as f64).floor() as usize;
    let phase = position % period;
    if phase < source_frames {
        phase
    } else {
        period - phase
    }
}

/// What both engines start from: the line's speech and the avatar's frames and boxes.
struct Inputs {
    audio: Audio,
    track: face_track::Track,
    frames: Vec<Frame>,
    /// Clip frames.
    count: usize,
    /// Avatar frame shown at each clip frame.
    sources: Vec<usize>,
}

impl ClipJob {
    pub fn run(&self, node: &Node, ctx: &Context, dir: &Path) -> Result<Ran> {
        let inputs = self.inputs(node, ctx)?;
        match &self.model {
            None => self.run_builtin(node, dir, inputs).map(Ran::Made),
            Some(run) => Ok(Ran::Gpu(self.run_model(node, dir, inputs, run.clone()))),
        }
    }

    fn inputs(&self, node: &Node, ctx: &Context) -> Result<Inputs> {
        let speech_path = ctx.cache.object_dir(&self.speech).join(speech::OUTPUT);
        let audio = media::read_wav(&speech_path)
            .map_err(|detail| media::invalid(&format!("the speech of {}", node.name), detail))?;
        let track = face_track::read_track(
            &ctx.cache
                .object_dir(&self.face_track)
                .join(face_track::OUTPUT),
        )?;
        let (frames, source_fps) = face_track::load_frames(&self.source, self.kind)?;
        if frames.len() != track.boxes.len() {
            return Err(Error::Other(format!(
                "the face track of `{}` has {} frames but the avatar has {}",
                self.source.rel,
                track.boxes.len(),
                frames.len()
            )));
        }
        let count = frame_count(audio.seconds(), self.fps);
        let offset = (node.key.seed() % frames.len() as u64) as usize;
        let sources = (0..count)
            .map(|i| source_frame(i, offset, frames.len(), source_fps, self.fps))
            .collect();
        Ok(Inputs {
            audio,
            track,
            frames,
            count,
            sources,
        })
    }

    fn run_builtin(&self, node: &Node, dir: &Path, inputs: Inputs) -> Result<Made> {
        let Inputs {
            audio,
            track,
            frames,
            count,
            sources,
            ..
        } = inputs;
        let mut openness = builtin_lipsync::mouth_openness(
            &audio.samples,
            audio.sample_rate,
            self.fps as f64,
            count,
        );
        // Every clip ends with the mouth closed, so the scene's pause holds a still face.
        if let Some(last) = openness.last_mut() {
            *last = 0.0;
        }

        let size = (frames[0].width, frames[0].height);
        encode(&node.name, &dir.join(OUTPUT), size, self.fps, count, |i| {
            let src = sources[i];
            builtin_lipsync::animate(&frames[src], &track.boxes[src], openness[i])
        })?;
        Ok(Made::cpu(vec![OUTPUT]))
    }

    /// The model path: mel chunks and face crops are made here on the CPU; the returned
    /// work runs the model on the GPU lane, then pastes and encodes back on the CPU.
    fn run_model(&self, node: &Node, dir: &Path, inputs: Inputs, run: ModelRun) -> GpuWork {
        let Inputs {
            audio,
            track,
            frames,
            count,
            sources,
            ..
        } = inputs;
        let samples = mel::resample(&audio.samples, audio.sample_rate, mel::SAMPLE_RATE);
        let spectrogram = mel::wav2lip_mel(&samples);
        let mel_input: Vec<f32> = mel::mel_chunks(&spectrogram, self.fps as f64, count)
            .into_iter()
            .flatten()
            .collect();
        const FACE: usize = 6 * wav2lip::SIZE * wav2lip::SIZE;
        const OUT: usize = 3 * wav2lip::SIZE * wav2lip::SIZE;
        const MEL: usize = 80 * 16;
        let mut face_input = vec![0f32; count * FACE];
        face_input
            .par_chunks_mut(FACE)
            .enumerate()
            .for_each(|(i, out)| {
                let src = sources[i];
                wav2lip::face_input(&frames[src], &track.boxes[src], out)
            });

        let name = node.name.clone();
        let output = dir.join(OUTPUT);
        let fps = self.fps;
        let accelerator = run.accelerator;
        let batch_size = run.model.batch_size;
        GpuWork {
            model: run.model.name.clone(),
            file: run.model.file.abs.clone(),
            infer: Box::new(move |loaded| {
                accelerator.reset_peak_memory();
                let mut faces_out = vec![0f32; count * OUT];
                let used = torch::in_batches(count, batch_size, &accelerator, |range| {
                    let result = loaded.wav2lip(
                        &mel_input[range.start * MEL..range.end * MEL],
                        &face_input[range.start * FACE..range.end * FACE],
                        range.len(),
                    )?;
                    faces_out[range.start * OUT..range.end * OUT].copy_from_slice(&result);
                    Ok(())
                })?;
                let peak = accelerator.peak_memory();
                drop(face_input);
                Ok(Box::new(move || {
                    let size = (frames[0].width, frames[0].height);
                    encode(&name, &output, size, fps, count, |i| {
                        let src = sources[i];
                        let mut frame = frames[src].clone();
                        let face = &faces_out[i * OUT..(i + 1) * OUT];
                        wav2lip::paste(&mut frame, &track.boxes[src], face);
                        frame
                    })?;
                    Ok(Made {
                        outputs: vec![OUTPUT],
                        device: accelerator.describe(),
                        precision: accelerator.precision().to_string(),
                        batch_size: Some(used),
                        peak_memory_bytes: peak,
                    })
                }) as FinishMade)
            }),
        }
    }
}

/// Makes frame `i` of `count` with `frame_at` (in parallel, written in order), encodes them
/// into the clip at `output` and checks the result.
fn encode(
    artifact: &str,
    output: &Path,
    (width, height): (u32, u32),
    fps: u32,
    count: usize,
    frame_at: impl Fn(usize) -> Frame + Sync,
) -> Result<()> {
    let mut encoder = VideoEncoder::new(output, width, height, fps, CLIP_CRF)?;
    let indices: Vec<usize> = (0..count).collect();
    for chunk in indices.chunks(32) {
        crate::process::check_interrupted()?;
        let frames: Vec<Frame> = chunk.par_iter().map(|&i| frame_at(i)).collect();
        for frame in &frames {
            encoder.write(frame)?;
        }
    }
    encoder.finish(artifact)?;
    check(artifact, output, count)
}

/// A clip must be H.264 with exactly one frame per `1/fps` of its speech.
fn check(artifact: &str, path: &Path, frames: usize) -> Result<()> {
    let probe = media::probe_output(artifact, path)?;
    let video = probe
        .video
        .ok_or_else(|| media::invalid(artifact, "no video stream"))?;
    if video.codec != "h264" || video.packets as usize != frames {
        return Err(media::invalid(
            artifact,
            format!(
                "expected {frames} H.264 frames, ffprobe found {} {} frames",
                video.packets, video.codec
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_pong_walks_forward_then_back() {
        let walk: Vec<usize> = (0..8).map(|i| source_frame(i, 0, 4, 25.0, 25)).collect();
        assert_eq!(walk, [0, 1, 2, 3, 2, 1, 0, 1]);
        let offset: Vec<usize> = (0..4).map(|i| source_frame(i, 2, 4, 25.0, 25)).collect();
        assert_eq!(offset, [2, 3, 2, 1]);
        assert_eq!(source_frame(5, 3, 1, 0.0, 25), 0);
    }

    #[test]
    fn frame_count_covers_the_speech() {
        assert_eq!(frame_count(1.0, 25), 25);
        assert_eq!(frame_count(1.01, 25), 26);
        assert_eq!(frame_count(0.0, 25), 1);
    }
}
