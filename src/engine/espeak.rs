//! espeak-ng: speech from text on the CPU, no weights. The voice's language, variant, pitch
//! and rate and espeak-ng's own version enter the key; the text goes through a file so a
//! line starting with `-` stays text.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::{Error, Result};
use crate::key::KeySpec;
use crate::manifest::VoiceEngine;
use crate::media;
use crate::process;
use crate::stage::speech::{check, OUTPUT};
use crate::toolchain;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Espeak {
    pub text: String,
    /// `-v`: `<language>[+<variant>]`
    pub voice: String,
    pub pitch: u32,
    pub rate: u32,
}

impl Espeak {
    /// `voice` must be an espeak voice.
    pub fn new(text: &str, voice: &VoiceEngine) -> Espeak {
        let VoiceEngine::Espeak {
            language,
            variant,
            pitch,
            rate,
        } = voice
        else {
            unreachable!("plan gives espeak only espeak voices")
        };
        Espeak {
            text: text.to_string(),
            voice: match variant {
                Some(variant) => format!("{language}+{variant}"),
                None => language.clone(),
            },
            pitch: *pitch,
            rate: *rate,
        }
    }

    pub fn key(&self, spec: KeySpec) -> Result<KeySpec> {
        Ok(spec
            .param("espeak-ng", toolchain::espeak()?)
            .param("text", &self.text)
            .param("voice", &self.voice)
            .param("pitch", self.pitch)
            .param("rate", self.rate))
    }
}

impl Engine for Espeak {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let output = dir.join(OUTPUT);
        let text_file = dir.join("text.txt");
        std::fs::write(&text_file, &self.text)
            .map_err(|e| Error::io("cannot write", &text_file, e))?;
        let mut command = Command::new("espeak-ng");
        command
            .args(["-v", &self.voice, "-p", &self.pitch.to_string()])
            .args(["-s", &self.rate.to_string(), "-w"])
            .arg(&output)
            .arg("-f")
            .arg(&text_file);
        process::run(&mut command, job.name)?;
        if check(job.name, &output)?
            .samples
            .iter()
            .all(|s| s.abs() < 1e-4)
        {
            return Err(media::invalid(
                job.name,
                format!("espeak-ng made only silence (voice `{}`)", self.voice),
            ));
        }
        Ok(Step::Done(Made::cpu(&[OUTPUT])))
    }
}
