//! The one error type of render. Every variant carries what a user needs to act on it:
//! the file, the artifact, the program, and a hint. Configuration errors exit with 2,
//! failed artifacts with 1.

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

use crate::diagnostic::ConfigError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(Box<ConfigError>),

    #[error("{action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{program}` is not installed or not on PATH")]
    #[diagnostic(help("{hint}"))]
    ToolMissing { program: String, hint: String },

    #[error("{program} failed while making {artifact}: {status}\n{log}")]
    #[diagnostic(help("the full log is above; the inputs are left untouched"))]
    ToolFailed {
        program: String,
        artifact: String,
        status: String,
        log: String,
    },

    #[error("cannot read `{file}`: {detail}")]
    #[diagnostic(help("{hint}"))]
    UnreadableMedia {
        file: String,
        detail: String,
        hint: String,
    },

    #[error("no face found in `{file}` (frame {frame})")]
    #[diagnostic(help(
        "use a front-facing portrait where the whole face is visible and at least 40 pixels tall"
    ))]
    NoFace { file: String, frame: usize },

    #[error("cannot cut line {line} into segments: {detail}")]
    #[diagnostic(help(
        "a long line is cut only in its pauses, never inside a word: give that stretch a pause (end a sentence there, or record one), or raise its lip-sync engine's `max_seconds`"
    ))]
    NoPause { line: String, detail: String },

    #[error("{artifact} made an invalid output: {detail}")]
    InvalidOutput { artifact: String, detail: String },

    #[error(
        "model `{model}` broke the {contract} contract: expected output {expected}, got {got}"
    )]
    #[diagnostic(help(
        "re-export the model with tools/export, or check `contract` in its model.toml"
    ))]
    ContractViolation {
        model: String,
        contract: String,
        expected: String,
        got: String,
    },

    #[error("model `{model}` ran out of GPU memory even at batch size 1")]
    #[diagnostic(help("close other GPU programs, or lower `batch_size` in its model.toml"))]
    OutOfMemory { model: String },

    #[error("model `{model}`: its worker stopped while {doing} ({status})\n{log}")]
    #[diagnostic(help(
        "the end of the worker's log is above; a crash while loading is often a model file made by another torch version, or a GPU out of memory"
    ))]
    WorkerCrashed {
        model: String,
        doing: String,
        status: String,
        log: String,
    },

    #[error("the disk holding `{}` is full ({free} free)", disk.display())]
    #[diagnostic(help(
        "free some space, then build again: nothing made while the disk was full was kept"
    ))]
    DiskFull {
        disk: PathBuf,
        free: String,
        #[source]
        cause: Box<Error>,
    },

    #[error("no {what} `{target}` is declared")]
    #[diagnostic(help("{hint}"))]
    UnknownTarget {
        target: String,
        what: String,
        hint: String,
    },

    #[error("no Renderfile.toml in `{}` or any folder above it", from.display())]
    #[diagnostic(help(
        "run render inside a content folder, or name one: `render build DIR` or `render -C DIR build`"
    ))]
    NoContentFolder { from: PathBuf },

    #[error("cannot enter `{}` (-C)", folder.display())]
    NoSuchFolder {
        folder: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A declared scene or episode publishes to a path that holds a file render did not
    /// put there (or that was changed since): render never replaces it.
    #[error("`{path}` is a file render did not publish; render never replaces it")]
    #[diagnostic(help(
        "move or rename your file, then build again (render publishes a declared scene's video, poster, contact sheet and captions at that path)"
    ))]
    NotRenders { path: String },

    #[error("interrupted")]
    Interrupted,

    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Names a full disk as the cause of `self`, a failure while making something in
    /// `dir`: a program that cannot write may say anything (`moov atom not found`) or
    /// nothing, so the disk is asked. Below 1 MiB free counts as full.
    pub fn on_disk(self, dir: &std::path::Path) -> Error {
        if matches!(
            self,
            Error::Interrupted | Error::DiskFull { .. } | Error::Config(_)
        ) {
            return self;
        }
        match crate::disk::free_bytes(dir) {
            Some(free)
                if free < crate::disk::FULL || self.to_string().contains("No space left") =>
            {
                Error::DiskFull {
                    disk: dir.to_path_buf(),
                    free: crate::disk::human_bytes(free),
                    cause: Box::new(self),
                }
            }
            _ => self,
        }
    }

    /// Configuration errors are the user's to fix before anything can build.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::UnknownTarget { .. }
                | Error::NoContentFolder { .. }
                | Error::NoSuchFolder { .. }
        )
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Error {
        Error::Config(Box::new(error))
    }
}
