//! Versions of the external programs render drives. They enter the keys of the artifacts
//! those programs make, so upgrading ffmpeg or espeak-ng re-makes what they made — the same
//! rule as a change to render's own stage code.

use std::process::Command;
use std::sync::OnceLock;

use crate::error::Result;
use crate::process;

fn first_line(program: &'static str, args: &[&str]) -> Result<String> {
    let output = process::run(Command::new(program).args(args), "a version check")?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

/// The version line, asked once per process (only a success is remembered).
fn cached(cell: &'static OnceLock<String>, program: &'static str, args: &[&str]) -> Result<String> {
    if let Some(version) = cell.get() {
        return Ok(version.clone());
    }
    let version = first_line(program, args)?;
    Ok(cell.get_or_init(|| version).clone())
}

pub fn espeak() -> Result<String> {
    static CELL: OnceLock<String> = OnceLock::new();
    cached(&CELL, "espeak-ng", &["--version"])
}

pub fn ffmpeg() -> Result<String> {
    static CELL: OnceLock<String> = OnceLock::new();
    // "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) ..." → keep the version words only.
    cached(&CELL, "ffmpeg", &["-version"])
        .map(|line| line.split(" Copyright").next().unwrap_or(&line).to_string())
}
