//! libtorch, inside the worker process only (`render-worker`; the coordinator never links
//! it): TorchScript modules loaded with tch's `CModule` and run under no-grad, in FP16 on
//! CUDA and FP32 on the CPU. This file owns loading, the wav2lip contract's shapes, halving
//! the batch on CUDA out-of-memory, and the CUDA caching allocator (emptied through a small
//! C++ shim; tch has no binding).

use std::path::Path;

use tch::{CModule, Device, IValue, Kind, Tensor};

use render::error::{Error, Result};
use render::face::facemesh;

extern "C" {
    fn render_cuda_empty_cache() -> i32;
    fn render_cuda_peak_allocated(device: i32) -> i64;
    fn render_cuda_reset_peak(device: i32) -> i32;
}

/// Where models run, as libtorch sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accelerator {
    pub device: Device,
}

impl Accelerator {
    pub fn new(device: render::device::Device) -> Accelerator {
        Accelerator {
            device: match device {
                render::device::Device::Cpu => Device::Cpu,
                render::device::Device::Cuda(index) => Device::Cuda(index),
            },
        }
    }

    /// How many CUDA devices libtorch sees.
    pub fn cuda_devices() -> usize {
        if tch::Cuda::is_available() {
            tch::Cuda::device_count() as usize
        } else {
            0
        }
    }

    pub fn is_cuda(&self) -> bool {
        self.device.is_cuda()
    }

    /// FP16 on CUDA (half the memory, tensor cores); FP32 on the CPU, where half is slow.
    pub fn kind(&self) -> Kind {
        if self.is_cuda() {
            Kind::Half
        } else {
            Kind::Float
        }
    }

    /// Returns the CUDA caching allocator's free blocks to the driver, so the next model
    /// (or another GPU program) can have the memory.
    pub fn empty_cache(&self) {
        if self.is_cuda() {
            // SAFETY: plain C call into libtorch; it catches its own exceptions.
            unsafe {
                render_cuda_empty_cache();
            }
        }
    }

    pub fn reset_peak_memory(&self) {
        if let Device::Cuda(index) = self.device {
            // SAFETY: as above.
            unsafe {
                render_cuda_reset_peak(index as i32);
            }
        }
    }

    pub fn peak_memory(&self) -> Option<u64> {
        match self.device {
            // SAFETY: as above.
            Device::Cuda(index) => {
                let peak = unsafe { render_cuda_peak_allocated(index as i32) };
                (peak >= 0).then_some(peak as u64)
            }
            _ => None,
        }
    }
}

/// One frame's worth of each wav2lip tensor: mel `[1,80,16]`, faces `[6,96,96]`, output
/// `[3,96,96]`.
pub const WAV2LIP_MEL: usize = 80 * 16;
pub const WAV2LIP_FACE: usize = 6 * 96 * 96;
pub const WAV2LIP_OUT: usize = 3 * 96 * 96;

/// One crop of the facemesh contract, `[3,192,192]`, and its landmarks, `[468,3]`.
pub const FACEMESH_IN: usize = 3 * 192 * 192;
pub const FACEMESH_OUT: usize = 468 * 3;

/// A TorchScript module loaded on the lane's device.
pub struct LoadedModel {
    pub name: String,
    pub module: CModule,
    pub accelerator: Accelerator,
}

impl LoadedModel {
    pub fn load(name: &str, file: &Path, accelerator: Accelerator) -> Result<LoadedModel> {
        let mut module = CModule::load_on_device(file, accelerator.device).map_err(|e| {
            Error::Other(format!(
                "model `{name}`: cannot load {} as TorchScript: {}",
                file.display(),
                first_line(&e.to_string())
            ))
        })?;
        module.set_eval();
        module.to(accelerator.device, accelerator.kind(), false);
        Ok(LoadedModel {
            name: name.to_string(),
            module,
            accelerator,
        })
    }

    /// Runs the wav2lip contract on every frame of `mel` and `faces` into `output`, in
    /// batches of at most `batch_size` that halve on CUDA out-of-memory. Returns the batch
    /// size that worked.
    pub fn wav2lip_frames(
        &self,
        mel: &[f32],
        faces: &[f32],
        output: &mut [f32],
        batch_size: usize,
    ) -> Result<usize> {
        let frames = output.len() / WAV2LIP_OUT;
        in_batches(frames, batch_size, &self.accelerator, |range| {
            let out = self.wav2lip(
                &mel[range.start * WAV2LIP_MEL..range.end * WAV2LIP_MEL],
                &faces[range.start * WAV2LIP_FACE..range.end * WAV2LIP_FACE],
                range.len(),
            )?;
            output[range.start * WAV2LIP_OUT..range.end * WAV2LIP_OUT].copy_from_slice(&out);
            Ok(())
        })
    }

    /// Runs the wav2lip contract on `batch` frames: mel `[B,1,80,16]` and faces
    /// `[B,6,96,96]` (0..1) in, `[B,3,96,96]` out. Returns the output as f32.
    pub fn wav2lip(&self, mel: &[f32], faces: &[f32], batch: usize) -> Result<Vec<f32>> {
        let _guard = tch::no_grad_guard();
        let device = self.accelerator.device;
        let kind = self.accelerator.kind();
        let torch = |e: tch::TchError| self.torch_error(e);
        let mel = Tensor::from_slice(mel)
            .f_view([batch as i64, 1, 80, 16])
            .and_then(|t| t.f_to_device(device))
            .and_then(|t| t.f_to_kind(kind))
            .map_err(torch)?;
        let faces = Tensor::from_slice(faces)
            .f_view([batch as i64, 6, 96, 96])
            .and_then(|t| t.f_to_device(device))
            .and_then(|t| t.f_to_kind(kind))
            .map_err(torch)?;
        let output = self.module.forward_ts(&[mel, faces]).map_err(torch)?;
        let expected = vec![batch as i64, 3, 96, 96];
        if output.size() != expected {
            return Err(Error::ContractViolation {
                model: self.name.clone(),
                contract: "wav2lip".into(),
                expected: format!("{expected:?}"),
                got: format!("{:?}", output.size()),
            });
        }
        let output = output
            .f_to_kind(Kind::Float)
            .and_then(|t| t.f_to_device(Device::Cpu))
            .and_then(|t| t.f_contiguous())
            .map_err(torch)?;
        let len = batch * 3 * 96 * 96;
        let mut data = vec![0f32; len];
        output.f_copy_data(&mut data, len).map_err(torch)?;
        Ok(data)
    }

    /// Runs the facemesh model on every crop (`[k,3,192,192]`, RGB 0..1) into `landmarks`
    /// (`[k,468,3]`, crop pixels) and `scores` (`[k]`), in batches that halve on CUDA
    /// out-of-memory. Returns the batch size that worked.
    pub fn facemesh_frames(
        &self,
        crops: &[f32],
        landmarks: &mut [f32],
        scores: &mut [f32],
        batch_size: usize,
    ) -> Result<usize> {
        let frames = scores.len();
        in_batches(frames, batch_size, &self.accelerator, |range| {
            let (points, score) = self.facemesh(
                &crops[range.start * FACEMESH_IN..range.end * FACEMESH_IN],
                range.len(),
            )?;
            landmarks[range.start * FACEMESH_OUT..range.end * FACEMESH_OUT]
                .copy_from_slice(&points);
            scores[range.clone()].copy_from_slice(&score);
            Ok(())
        })
    }

    /// Both facemesh passes over `frames` context patches (`[N,3,288,288]`, RGB 0..1):
    /// [`render::face::facemesh::two_pass`] with this model, in batches of at most
    /// `batch_size`. Returns the landmarks and scores (`N × OUT_LEN`, context-patch pixels;
    /// `facemesh::to_track` maps them to the image) and the batch size that worked. The lane's
    /// facemesh call and `render bench face` both find their landmarks here.
    pub fn facemesh_two_pass(
        &self,
        context: &[f32],
        frames: usize,
        batch_size: usize,
    ) -> Result<(Vec<f32>, usize)> {
        let mut used = batch_size;
        let output = facemesh::two_pass(context, frames, |crops, n| {
            let mut landmarks = vec![0f32; n * facemesh::POINTS * 3];
            let mut scores = vec![0f32; n];
            used = self.facemesh_frames(crops, &mut landmarks, &mut scores, batch_size)?;
            Ok((landmarks, scores))
        })?;
        Ok((output, used))
    }

    /// The facemesh contract on `batch` crops: `[B,3,192,192]` in, a tuple of landmarks
    /// `[B,468,3]` and score `[B]` out, as f32.
    fn facemesh(&self, crops: &[f32], batch: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let _guard = tch::no_grad_guard();
        let torch = |e: tch::TchError| self.torch_error(e);
        let input = Tensor::from_slice(crops)
            .f_view([batch as i64, 3, 192, 192])
            .and_then(|t| t.f_to_device(self.accelerator.device))
            .and_then(|t| t.f_to_kind(self.accelerator.kind()))
            .map_err(torch)?;
        let output = self
            .module
            .forward_is(&[IValue::Tensor(input)])
            .map_err(torch)?;
        let violation = |got: String| Error::ContractViolation {
            model: self.name.clone(),
            contract: "facemesh".into(),
            expected: format!("([{batch}, 468, 3], [{batch}])"),
            got,
        };
        let IValue::Tuple(parts) = output else {
            return Err(violation(format!("{output:?}").chars().take(80).collect()));
        };
        let [IValue::Tensor(points), IValue::Tensor(score)] = parts.as_slice() else {
            return Err(violation(format!("a tuple of {} values", parts.len())));
        };
        let b = batch as i64;
        if points.size() != [b, 468, 3] || score.size() != [b] {
            return Err(violation(format!(
                "({:?}, {:?})",
                points.size(),
                score.size()
            )));
        }
        Ok((self.to_f32(points)?, self.to_f32(score)?))
    }

    fn to_f32(&self, tensor: &Tensor) -> Result<Vec<f32>> {
        let torch = |e: tch::TchError| self.torch_error(e);
        let tensor = tensor
            .f_to_kind(Kind::Float)
            .and_then(|t| t.f_to_device(Device::Cpu))
            .and_then(|t| t.f_contiguous())
            .map_err(torch)?;
        let len = tensor.numel();
        let mut data = vec![0f32; len];
        tensor.f_copy_data(&mut data, len).map_err(torch)?;
        Ok(data)
    }

    pub fn torch_error(&self, error: tch::TchError) -> Error {
        let message = error.to_string();
        if is_out_of_memory(&message) {
            Error::OutOfMemory {
                model: self.name.clone(),
            }
        } else {
            Error::Other(format!("model `{}`: {}", self.name, first_line(&message)))
        }
    }
}

fn is_out_of_memory(message: &str) -> bool {
    message.contains("CUDA out of memory") || message.contains("OutOfMemoryError")
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}

/// Runs `frames` items through `run` in batches of at most `batch_size`, halving the batch
/// and retrying when the GPU runs out of memory. Returns the batch size that worked.
pub fn in_batches(
    frames: usize,
    batch_size: usize,
    accelerator: &Accelerator,
    mut run: impl FnMut(std::ops::Range<usize>) -> Result<()>,
) -> Result<usize> {
    let mut size = batch_size.max(1);
    let mut start = 0;
    while start < frames {
        let end = (start + size).min(frames);
        match run(start..end) {
            Ok(()) => start = end,
            Err(Error::OutOfMemory { .. }) if size > 1 => {
                size /= 2;
                accelerator.empty_cache();
            }
            Err(error) => return Err(error),
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_halves_the_batch_and_retries() {
        let cpu = Accelerator {
            device: Device::Cpu,
        };
        let mut seen = Vec::new();
        let used = in_batches(10, 8, &cpu, |range| {
            seen.push(range.clone());
            if range.len() > 2 {
                Err(Error::OutOfMemory { model: "m".into() })
            } else {
                Ok(())
            }
        })
        .unwrap();
        assert_eq!(used, 2);
        assert_eq!(seen[..3], [0..8, 0..4, 0..2]);
        assert_eq!(seen.last().unwrap(), &(8..10));
        let covered: usize = seen.iter().filter(|r| r.len() <= 2).map(|r| r.len()).sum();
        assert_eq!(covered, 10);
    }
}
