//! A recorded line: the user's own WAV instead of speech synthesis, decoded and written
//! back as plain PCM so every later stage reads one format. Its content hash is its key.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::{Error, Result};
use crate::key::KeySpec;
use crate::manifest::SourceFile;
use crate::media;
use crate::sources::SourceHashes;
use crate::stage::speech::{check, OUTPUT};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Recording {
    pub file: SourceFile,
}

impl Recording {
    pub fn key(&self, spec: KeySpec, hashes: &SourceHashes) -> Result<KeySpec> {
        Ok(spec.source("audio", &self.file.rel, hashes.hash(&self.file)?))
    }
}

impl Engine for Recording {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let output = dir.join(OUTPUT);
        let audio = media::read_wav(&self.file.abs).map_err(|detail| Error::UnreadableMedia {
            file: self.file.rel.clone(),
            detail,
            hint: "render reads PCM WAV files; convert others with `ffmpeg -i in.mp3 out.wav`"
                .into(),
        })?;
        media::write_wav(&output, &audio)?;
        check(job.name, &output)?;
        Ok(Step::Done(Made::cpu(&[OUTPUT])))
    }
}
