//! Engines: how a stage is done. Built-in ones ship in the binary and need no weights;
//! `mel` is the audio preprocessing neural lip-sync models expect.

pub mod builtin_lipsync;
pub mod mel;
pub mod rustface;
