//! espeak-ng: speech from text on the CPU, no weights. The voice's language, variant, pitch
//! and rate and espeak-ng's own version enter the key; the text goes through a file so a
//! line starting with `-` stays text. The audio comes back on stdout and render writes the
//! WAV itself: espeak-ng writing a file on a full disk exits 0 with a shorter, well-formed
//! WAV, which must never be cached as the line's speech.

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

    pub fn key(&self, mut spec: KeySpec) -> Result<KeySpec> {
        spec.params.reserve(5); // one allocation for a line's five, not two
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
            .args(["-s", &self.rate.to_string(), "--stdout", "-f"])
            .arg(&text_file);
        // espeak-ng speaks hundreds of times faster than real time; a minute and a
        // second per 20 characters is far more than any line needs.
        let deadline = process::deadline(60.0 + self.text.chars().count() as f64 / 20.0);
        let stream = process::run(&mut command, job.name, deadline)?.stdout;
        write_stream(job.name, &stream, &output)?;
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

/// Writes the WAV that espeak-ng streamed to stdout (its header's sizes are placeholders,
/// as a pipe cannot be rewound) as a finished file, failing with the OS error on a write
/// error, and synced to disk.
fn write_stream(artifact: &str, stream: &[u8], path: &Path) -> Result<()> {
    let invalid = |detail: &str| media::invalid(artifact, format!("espeak-ng {detail}"));
    let (spec, data) = parse_stream(stream).map_err(invalid)?;
    let io = |e: hound::Error| match e {
        hound::Error::IoError(e) => Error::io("cannot write", path, e),
        other => Error::Other(format!("cannot write `{}`: {other}", path.display())),
    };
    let file = std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
    let mut writer = hound::WavWriter::new(std::io::BufWriter::new(file), spec).map_err(io)?;
    let mut samples = writer.get_i16_writer(data.len() as u32 / 2);
    for pair in data.chunks_exact(2) {
        samples.write_sample(i16::from_le_bytes([pair[0], pair[1]]));
    }
    samples.flush().map_err(io)?;
    writer.finalize().map_err(io)?;
    crate::files::sync_file(path)
}

/// The format and sample bytes of a 16-bit mono PCM WAV stream whose chunk sizes may be
/// placeholders: the data chunk runs to the end of the stream.
fn parse_stream(stream: &[u8]) -> std::result::Result<(hound::WavSpec, &[u8]), &'static str> {
    if stream.len() < 12 || &stream[..4] != b"RIFF" || &stream[8..12] != b"WAVE" {
        return Err("wrote no WAV on stdout");
    }
    let mut at = 12;
    let mut spec = None;
    while at + 8 <= stream.len() {
        let id = &stream[at..at + 4];
        let size = u32::from_le_bytes(stream[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &stream[at + 8..];
        match id {
            b"fmt " if size >= 16 && body.len() >= 16 => {
                let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
                let (format, channels, bits) = (u16_at(0), u16_at(2), u16_at(14));
                if format != 1 || channels != 1 || bits != 16 {
                    return Err("wrote a WAV that is not 16-bit mono PCM");
                }
                spec = Some(hound::WavSpec {
                    channels,
                    sample_rate: u32::from_le_bytes(body[4..8].try_into().unwrap()),
                    bits_per_sample: bits,
                    sample_format: hound::SampleFormat::Int,
                });
            }
            b"data" => {
                let spec = spec.ok_or("wrote WAV data before its format")?;
                // Only whole samples; a placeholder size says nothing.
                let whole = body.len() - body.len() % 2;
                return Ok((spec, &body[..whole]));
            }
            _ => {}
        }
        at += 8 + size + size % 2;
    }
    Err("wrote a WAV with no data")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What espeak-ng writes on stdout: sizes are placeholders.
    fn stream(samples: &[i16]) -> Vec<u8> {
        let mut bytes = b"RIFF\x24\xf0\xff\x7fWAVEfmt ".to_vec();
        bytes.extend(16u32.to_le_bytes());
        bytes.extend([1, 0, 1, 0]);
        bytes.extend(22050u32.to_le_bytes());
        bytes.extend(44100u32.to_le_bytes());
        bytes.extend([2, 0, 16, 0]);
        bytes.extend(b"data\x00\xf0\xff\x7f");
        for s in samples {
            bytes.extend(s.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn a_stream_is_written_as_a_finished_wav() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("speech.wav");
        write_stream("speech x", &stream(&[0, 1000, -1000, 32767]), &path).unwrap();
        let mut reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 22050);
        let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(samples, [0, 1000, -1000, 32767]);
        // The header's sizes are the real ones.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 44 + 8);
    }

    #[test]
    fn a_broken_stream_is_refused() {
        assert_eq!(
            parse_stream(b"not a wav").unwrap_err(),
            "wrote no WAV on stdout"
        );
        let mut eight_bit = stream(&[1, 2]);
        eight_bit[34] = 8;
        assert_eq!(
            parse_stream(&eight_bit).unwrap_err(),
            "wrote a WAV that is not 16-bit mono PCM"
        );
        assert_eq!(
            parse_stream(&stream(&[])[..36]).unwrap_err(),
            "wrote a WAV with no data"
        );
    }
}
