//! Engines that turn text, audio and avatars into frames; built-in ones need no model weights.
pub mod builtin_lipsync;
pub mod rustface;
