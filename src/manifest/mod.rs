//! The content folder's declarations: `Renderfile.toml` (farm settings, voices, avatars,
//! defaults) and `projects/*/project.toml` (scenes and their script lines), resolved into
//! plain values with every default applied and every path confined to the content folder.
//!
//! Parsing and diagnostics live in the submodules; this file is the resolved model that the
//! rest of render reads.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything `render build` needs to know about a content folder.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The content folder, canonicalised.
    pub root: PathBuf,
    pub settings: Settings,
    pub voices: BTreeMap<String, Voice>,
    pub avatars: BTreeMap<String, Avatar>,
    /// Sorted by name.
    pub projects: Vec<Project>,
}

/// `[render]` in Renderfile.toml.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// "auto" | "cpu" | "cuda:N"
    pub device: String,
    /// Parallel CPU jobs; None = number of cores.
    pub jobs: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Voice {
    pub name: String,
    pub engine: VoiceEngine,
}

#[derive(Clone, Debug, PartialEq)]
pub enum VoiceEngine {
    /// `engine = "espeak"`: espeak-ng's `-v <language>[+<variant>] -p <pitch> -s <rate>`.
    Espeak {
        language: String,
        variant: Option<String>,
        /// 0..=99
        pitch: u32,
        /// words per minute, 80..=450
        rate: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Avatar {
    pub name: String,
    pub source: SourceFile,
    pub kind: AvatarKind,
    /// Lip-sync engine: "builtin" or the name of a model under models/.
    pub lipsync: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvatarKind {
    Image,
    Video,
}

/// A user file inside the content folder.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceFile {
    /// Relative to the content folder, `/`-separated, normalised (no `.`/`..`).
    pub rel: String,
    /// Absolute path (content folder joined with `rel`); never outside the content folder.
    pub abs: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub name: String,
    /// The project.toml, for diagnostics.
    pub file: PathBuf,
    /// In declaration order.
    pub scenes: Vec<Scene>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub name: String,
    pub avatar: String,
    pub background: Background,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    /// Seconds of silence between consecutive lines.
    pub pause: f64,
    /// Never empty.
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Background {
    Colour([u8; 3]),
    Image(SourceFile),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// What is said; for an `audio` line, an optional caption (may be empty).
    pub text: String,
    /// Always a key of `Manifest::voices`; for `audio` lines the scene's voice (unused).
    pub voice: String,
    /// A recorded WAV to use instead of synthesising `text`.
    pub audio: Option<SourceFile>,
}
