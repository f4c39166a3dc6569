//! Cutting a long line's speech at its pauses (`stage/cuts.rs` holds the rule): Rust on the
//! CPU, one pass over the samples. Writes `cuts.json` and one WAV per segment, each exactly
//! its samples of the line's speech (16-bit PCM, as every speech object), so a segment
//! whose samples did not change has the same bytes, hence the same hash and key.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Engine, Made, Step, Task};
use crate::error::{Error, Result};
use crate::fps::Fps;
use crate::media;
use crate::stage::cuts::{self, Cuts, Segment};
use crate::stage::speech;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pauses {
    pub fps: Fps,
    pub max_seconds: f64,
}

impl Engine for Pauses {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let speech = job.file(cuts::SPEECH, speech::OUTPUT)?;
        let audio = media::read_wav(&speech)
            .map_err(|detail| media::invalid(&format!("the speech of {}", job.name), detail))?;
        let rate = audio.sample_rate;
        let fps = self.fps;
        let max_frames = (self.max_seconds * fps.as_f64() + 1e-9).floor() as usize;
        let found =
            cuts::find(&audio.samples, rate, fps, max_frames).map_err(|detail| Error::NoPause {
                line: job.name.trim_start_matches("cuts ").to_string(),
                detail,
            })?;
        let frames = fps.frames_covering(audio.samples.len() as u64, rate);
        let mut bounds = vec![0];
        bounds.extend(found.iter().map(|c| c.at));
        bounds.push(frames);
        let total = audio.samples.len() as u64;
        let sample = |frame: usize| fps.sample_at(frame, rate).min(total);
        let mut segments = Vec::new();
        let mut outputs = vec![cuts::OUTPUT.to_string()];
        for (i, pair) in bounds.windows(2).enumerate() {
            let (first, end) = (pair[0], pair[1]);
            let (a, b) = if i + 2 == bounds.len() {
                (sample(first), total)
            } else {
                (sample(first), sample(end))
            };
            let file = format!("segment-{:03}.wav", i + 1);
            let path = dir.join(&file);
            write_pcm16(&path, &audio.samples[a as usize..b as usize], rate)?;
            let bytes = std::fs::read(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            segments.push(Segment {
                file: file.clone(),
                first_frame: first,
                frames: end - first,
                first_sample: a,
                samples: b - a,
                blake3: crate::key::Key(*blake3::hash(&bytes).as_bytes()),
            });
            outputs.push(file);
        }
        let made = Cuts {
            fps: fps.to_string(),
            sample_rate: rate,
            samples: total,
            frames,
            max_frames,
            segments,
            pauses: found.iter().map(|c| c.pause).collect(),
        };
        let json = serde_json::to_vec_pretty(&made).expect("cuts serialise");
        let path = dir.join(cuts::OUTPUT);
        std::fs::write(&path, json).map_err(|e| Error::io("cannot write", &path, e))?;
        cuts::check(job.name, dir)?;
        let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        Ok(Step::Done(Made::cpu(&outputs)))
    }
}

/// Mono 16-bit PCM whose samples are exactly the speech's: a speech object's 16-bit
/// sample `s` reads as `s / 32768`, so it is written back as itself.
fn write_pcm16(path: &Path, samples: &[f32], rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let io = |e: hound::Error| Error::Other(format!("cannot write {}: {e}", path.display()));
    let mut writer = hound::WavWriter::create(path, spec).map_err(io)?;
    for sample in samples {
        let value = (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
        writer.write_sample(value).map_err(io)?;
    }
    writer.finalize().map_err(io)
}
