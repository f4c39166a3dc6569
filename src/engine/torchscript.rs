//! Lip-sync through a TorchScript model (`models/<name>/model.toml`, contract `wav2lip`) on
//! the GPU lane. The CPU parts run on the pool, around the model: before it, the mel
//! chunks and the masked face crops; after it, the feathered paste back and the encode. The
//! model itself runs in a worker process that links libtorch (`src/worker.rs`), so tensors
//! cross as files in the job folder: `mel.f32`, `faces.f32` in, `faces-out.f32` back.
//!
//! The weights' hash and the precision (FP16 on CUDA, FP32 on the CPU: they give different
//! pixels) enter the key.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    read_f32, write_f32, Engine, LaneCall, LaneDone, Made, ModelCall, Resource, Step, Task,
};
use crate::device::Device;
use crate::diagnostic::ConfigError;
use crate::error::Result;
use crate::face::{mel, wav2lip};
use crate::key::KeySpec;
use crate::manifest::model::Model;
use crate::manifest::SourceFile;
use crate::sources::SourceHashes;
use crate::stage::lipsync::{AvatarFrames, Inputs, OUTPUT};

const MEL_FILE: &str = "mel.f32";
const FACES_FILE: &str = "faces.f32";
const FACES_OUT_FILE: &str = "faces-out.f32";
const FACE: usize = 6 * wav2lip::SIZE * wav2lip::SIZE;
const OUT: usize = 3 * wav2lip::SIZE * wav2lip::SIZE;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Torchscript {
    pub avatar: AvatarFrames,
    /// The model's name, which is its lane group.
    pub model: String,
    pub file: SourceFile,
    pub contract: String,
    pub batch_size: usize,
    pub device: Device,
    /// What the model declares it needs of a card's memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vram: Option<crate::device::Vram>,
}

impl Torchscript {
    /// Adds the model to the clip's key (refusing weights that do not match their pin).
    pub fn plan(
        spec: KeySpec,
        avatar: AvatarFrames,
        model: &Model,
        device: Device,
        hashes: &SourceHashes,
    ) -> Result<(KeySpec, Torchscript)> {
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
        let mut spec =
            spec.param("contract", model.contract.as_str())
                .source("model", &model.file.rel, hash);
        spec.precision = device.precision().into();
        let engine = Torchscript {
            avatar,
            model: model.name.clone(),
            file: model.file.clone(),
            contract: model.contract.as_str().to_string(),
            batch_size: model.batch_size,
            device,
            vram: model.vram.clone(),
        };
        Ok((spec, engine))
    }
}

impl Engine for Torchscript {
    fn resource(&self) -> Resource {
        Resource::Gpu {
            group: self.model.clone(),
            vram: self.vram.clone(),
        }
    }

    fn model_load(&self) -> Option<crate::engine::ModelLoad> {
        Some(crate::engine::ModelLoad {
            model: self.model.clone(),
            file: self.file.abs.clone(),
            device: self.device,
        })
    }

    /// Mel chunks and face crops for every clip frame, written for the model.
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let Inputs {
            audio,
            track,
            frames,
            count,
            sources,
        } = job.clip_inputs(&self.avatar)?;
        let samples = mel::resample(&audio.samples, audio.sample_rate, mel::SAMPLE_RATE);
        let spectrogram = mel::wav2lip_mel(&samples);
        let mel_input: Vec<f32> = mel::mel_chunks(&spectrogram, self.avatar.fps.as_f64(), count)
            .into_iter()
            .flatten()
            .collect();
        let mut face_input = vec![0f32; count * FACE];
        face_input
            .par_chunks_mut(FACE)
            .enumerate()
            .for_each(|(i, out)| {
                let src = sources[i];
                wav2lip::face_input(&frames[src], &track.boxes[src], out)
            });
        write_f32(&dir.join(MEL_FILE), &mel_input)?;
        write_f32(&dir.join(FACES_FILE), &face_input)?;
        Ok(Step::Lane(LaneCall::Model(ModelCall {
            model: self.model.clone(),
            file: self.file.abs.clone(),
            device: self.device,
            contract: self.contract.clone(),
            batch_size: self.batch_size,
            frames: count,
            inputs: BTreeMap::from([
                ("mel".to_string(), dir.join(MEL_FILE)),
                ("faces".to_string(), dir.join(FACES_FILE)),
            ]),
            output: dir.join(FACES_OUT_FILE),
        })))
    }

    /// Pastes the model's faces back into the avatar's frames and encodes the clip.
    fn finish(&self, job: &Task, dir: &Path, model: LaneDone) -> Result<Made> {
        let Inputs {
            track,
            frames,
            count,
            sources,
            ..
        } = job.clip_inputs(&self.avatar)?;
        let faces = read_f32(&dir.join(FACES_OUT_FILE), count * OUT)?;
        let size = (frames[0].width, frames[0].height);
        self.avatar.encode(job.name, dir, size, count, |i| {
            let src = sources[i];
            let mut frame = frames[src].clone();
            wav2lip::paste(
                &mut frame,
                &track.boxes[src],
                &faces[i * OUT..(i + 1) * OUT],
            );
            frame
        })?;
        Ok(Made {
            outputs: vec![OUTPUT.to_string()],
            device: model.device,
            precision: model.precision,
            batch_size: model.batch_size,
            peak_memory_bytes: model.peak_memory_bytes,
            loudness: None,
        })
    }
}
