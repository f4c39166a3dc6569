//! render: a make-like builder of talking-head videos from TOML declarations.

pub mod engine;
pub mod frame;
pub mod manifest;

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    0
}
