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

/// The names espeak-ng accepts for `-v <language>+<variant>`, from `--voices` and
/// `--voices=variant`. espeak-ng quietly falls back to its default voice for an unknown
/// name, so render checks names itself. None when espeak-ng cannot be asked.
#[derive(Debug, Default)]
pub struct EspeakNames {
    /// Language codes ("en-us"), what render suggests.
    pub languages: std::collections::BTreeSet<String>,
    /// Voice file names ("en-US"), which espeak-ng accepts too.
    pub voice_files: std::collections::BTreeSet<String>,
    pub variants: std::collections::BTreeSet<String>,
}

pub fn espeak_names() -> Option<&'static EspeakNames> {
    static CELL: OnceLock<Option<EspeakNames>> = OnceLock::new();
    CELL.get_or_init(|| {
        let list = |arg: &str| -> Option<Vec<(String, String)>> {
            let output = process::run(Command::new("espeak-ng").arg(arg), "a voice list").ok()?;
            let text = String::from_utf8_lossy(&output.stdout).to_string();
            // "Pty Language Age/Gender VoiceName File Other Languages"
            Some(
                text.lines()
                    .skip(1)
                    .filter_map(|line| {
                        let columns: Vec<&str> = line.split_whitespace().collect();
                        let file = columns.get(4)?;
                        let base = file.rsplit('/').next()?;
                        Some((columns.get(1)?.to_string(), base.to_string()))
                    })
                    .collect(),
            )
        };
        let (languages, voice_files) = list("--voices")?.into_iter().unzip();
        let variants = list("--voices=variant")?
            .into_iter()
            .map(|(_, file)| file)
            .collect();
        Some(EspeakNames {
            languages,
            voice_files,
            variants,
        })
    })
    .as_ref()
}
