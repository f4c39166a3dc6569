//! Speech: one WAV per script line. Made by espeak-ng from the line's text and its voice
//! profile, or imported from a recorded WAV. The key holds the text and the voice's
//! settings, never the line's position, so inserting a line re-makes only that line.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::key::{ArtifactKind, KeySpec};
use crate::manifest::{Line, SourceFile, Voice, VoiceEngine};
use crate::media::{self, Audio};
use crate::process;
use crate::sources::SourceHashes;
use crate::stage::{Made, Node};
use crate::toolchain;

pub const OUTPUT: &str = "speech.wav";
const VERSION: &str = "speech-1";

#[derive(Debug)]
pub enum SpeechJob {
    Espeak {
        text: String,
        voice_arg: String,
        pitch: u32,
        rate: u32,
    },
    Import {
        file: SourceFile,
    },
}

pub fn plan(line: &Line, voice: &Voice, hashes: &SourceHashes) -> Result<(KeySpec, SpeechJob)> {
    if let Some(file) = &line.audio {
        let spec = KeySpec::new(ArtifactKind::Speech, VERSION, "import").source(
            "audio",
            &file.rel,
            hashes.hash(file)?,
        );
        return Ok((spec, SpeechJob::Import { file: file.clone() }));
    }
    let VoiceEngine::Espeak {
        language,
        variant,
        pitch,
        rate,
    } = &voice.engine;
    let voice_arg = match variant {
        Some(variant) => format!("{language}+{variant}"),
        None => language.clone(),
    };
    let spec = KeySpec::new(ArtifactKind::Speech, VERSION, "espeak-ng")
        .param("espeak-ng", toolchain::espeak()?)
        .param("text", &line.text)
        .param("voice", &voice_arg)
        .param("pitch", pitch)
        .param("rate", rate);
    let job = SpeechJob::Espeak {
        text: line.text.clone(),
        voice_arg,
        pitch: *pitch,
        rate: *rate,
    };
    Ok((spec, job))
}

impl SpeechJob {
    pub fn run(&self, node: &Node, dir: &Path) -> Result<Made> {
        let output = dir.join(OUTPUT);
        match self {
            SpeechJob::Espeak {
                text,
                voice_arg,
                pitch,
                rate,
            } => {
                // The text goes through a file: a line starting with `-` must stay text.
                let text_file = dir.join("text.txt");
                std::fs::write(&text_file, text)
                    .map_err(|e| Error::io("cannot write", &text_file, e))?;
                let mut command = Command::new("espeak-ng");
                command
                    .args(["-v", voice_arg, "-p", &pitch.to_string()])
                    .args(["-s", &rate.to_string(), "-w"])
                    .arg(&output)
                    .arg("-f")
                    .arg(&text_file);
                process::run(&mut command, &node.name)?;
                if check(&node.name, &output)?
                    .samples
                    .iter()
                    .all(|s| s.abs() < 1e-4)
                {
                    return Err(media::invalid(
                        &node.name,
                        format!("espeak-ng made only silence (voice `{voice_arg}`)"),
                    ));
                }
            }
            SpeechJob::Import { file } => {
                let audio = media::read_wav(&file.abs).map_err(|detail| Error::UnreadableMedia {
                    file: file.rel.clone(),
                    detail,
                    hint: "render reads PCM WAV files; convert others with `ffmpeg -i in.mp3 out.wav`"
                        .into(),
                })?;
                media::write_wav(&output, &audio)?;
                check(&node.name, &output)?;
            }
        }
        Ok(Made::cpu(vec![OUTPUT]))
    }
}

/// A speech WAV must parse before it may enter the cache.
fn check(artifact: &str, path: &Path) -> Result<Audio> {
    media::read_wav(path).map_err(|detail| media::invalid(artifact, detail))
}
