//! Engines: how a stage is done.

pub mod mel;
