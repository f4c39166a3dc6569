//! Engines: how a stage is done. `builtin_lipsync` and `rustface` ship in the binary and
//! need no weights; `torch` runs TorchScript models on the GPU lane, with `mel` and
//! `wav2lip` preparing and placing their tensors exactly as the wav2lip contract expects.

pub mod builtin_lipsync;
pub mod mel;
pub mod rustface;
pub mod torch;
pub mod wav2lip;
