//! Loudness: every published video is brought to a target integrated loudness (LUFS) under
//! a true-peak ceiling (dBTP), so one scene is not louder than the next, nor one project
//! than another, whatever voice or recording its lines came from.
//!
//! **Why two passes.** ffmpeg's `loudnorm` in one pass cannot know a programme's loudness
//! before it has heard it: it guesses from the first seconds and rides the gain. Here the
//! first pass runs the audio alone through `loudnorm`'s analysis ([`measure`]), and its
//! figures (integrated loudness, true peak, range, gate threshold) feed the second pass
//! ([`second_pass`]), which then knows the whole programme up front.
//!
//! **Why linear.** Given those figures, `loudnorm` applies one constant gain when it can (the
//! gain does not push the true peak over the ceiling): the speech keeps its dynamics exactly,
//! and lands on the target. When it cannot — speech synthesis peaks 17–19 dB over its
//! loudness, so at −14 LUFS under −1 dBTP it rarely can — `loudnorm` falls back to its dynamic
//! mode: a gain that follows the short-term loudness, and a true-peak limiter.
//!
//! What `loudnorm` (ffmpeg 5.1) needs besides, each measured on the demo's speech:
//! - Input shorter than 3 s takes a path of its own that computes a wrong gain (a 2 s line
//!   came out at −31 LUFS for −14). The audio is padded with 3 s of silence, which the
//!   loudness gate ignores, and cut back to its samples after ([`PREPARE`], [`second_pass`]).
//! - The dynamic mode lands under its aim, not on it (−14.8 for −14 on the demo's welcome):
//!   its limiter takes part of the gain. [`normalise`] runs the second pass without output
//!   first, reads what it measured of its own output, and moves the aim by the miss (the
//!   secant through the last two tries), until the output is within [`TOLERANCE`] of the
//!   target; two or three dry runs of the audio alone, far cheaper than the video's encode.
//! - The AAC encoder overshoots the true peak it is given by up to 0.6 dB, so the limiter's
//!   ceiling is [`HEADROOM`] under the target's.
//!
//! Whoever muxes audio reuses this: [`normalise`] takes the command holding the inputs and the
//! audio part of its filter graph, and answers the chain to append to that audio and what to
//! record; [`published`] measures the finished file as ffmpeg's `ebur128` hears it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::media;
use crate::process;

/// Enters the key of whatever is normalised: a change to the method below changes it.
pub const VERSION: &str = "loudnorm-2pass-1";
/// Published audio: stereo at this rate.
pub const RATE: u32 = 48_000;
/// The limiter's ceiling is this far (dB) under the target's true peak: AAC's overshoot.
pub const HEADROOM: f64 = 1.0;
/// How near (LU) the second pass's own measure must land to the target.
pub const TOLERANCE: f64 = 0.2;
/// The second pass's dry runs at most, each moving the aim by its miss.
const TRIES: usize = 5;
/// The loudness range loudnorm allows before it compresses (its maximum): the range of
/// speech is left alone; only the integrated loudness and the peaks are targets.
const LRA: f64 = 20.0;
/// Before loudnorm, in both passes: stereo (a mono voice in both ears), then 3 s of silence
/// so that loudnorm never takes its path for short input.
pub const PREPARE: &str = "aformat=channel_layouts=stereo,apad=pad_dur=3";

/// What a video is normalised to.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Target {
    /// Integrated loudness, LUFS.
    pub integrated: f64,
    /// The true-peak ceiling, dBTP.
    pub true_peak: f64,
}

impl Target {
    /// The targets of the platforms these videos go to (and `[defaults]`'s).
    pub const DEFAULT: Target = Target {
        integrated: -14.0,
        true_peak: -1.0,
    };
}

/// loudnorm's first pass: the audio as it came.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    pub input_i: f64,
    pub input_tp: f64,
    pub input_lra: f64,
    pub input_thresh: f64,
    pub target_offset: f64,
}

/// What a normalised object records of its loudness.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Loudness {
    pub target: Target,
    /// The first pass; none when the audio is silent (nothing to normalise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Measured>,
    /// loudnorm's mode in the second pass: "linear" or "dynamic"; "none" for silence.
    pub normalization: String,
    /// The integrated loudness the second pass was asked for (the target, moved by the
    /// dynamic mode's miss).
    pub aim: f64,
    /// The published file as ffmpeg's `ebur128` measures it (none: silence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_i: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tp: Option<f64>,
}

/// The audio part of a filter graph and the command holding its inputs.
pub struct Audio<'a> {
    /// A fresh ffmpeg command with the inputs the graph reads (and nothing after them).
    pub command: &'a dyn Fn() -> Command,
    /// Filter graph text whose audio ends at `label` (no `;` after it).
    pub graph: &'a str,
    /// e.g. `[ca]`.
    pub label: &'a str,
    /// The samples at [`RATE`] the audio has (and the normalised audio must have).
    pub samples: u64,
}

/// What [`normalise`] found: the chain to append to the audio, and the record (its
/// `output_*` filled by [`published`] once the file is made).
#[derive(Clone, Debug)]
pub struct Normalised {
    /// Filters from the audio's label to stereo [`RATE`] audio of its samples.
    pub chain: String,
    pub loudness: Loudness,
}

/// The first pass: loudnorm's analysis of `audio`, aiming at `target`; none for silence.
pub fn measure(
    artifact: &str,
    audio: &Audio<'_>,
    target: &Target,
    deadline: Duration,
) -> Result<Option<Measured>> {
    let chain = format!(
        "{PREPARE},loudnorm=I={}:TP={}:LRA={LRA}:print_format=json",
        aim_range(target.integrated),
        ceiling(target),
    );
    let figures = dry_run(artifact, audio, &chain, deadline)?;
    let get = |name: &str| number(&figures, name);
    // Silence measures -inf (or the gate's -70): no gain can bring it to a target.
    match (get("input_i"), get("input_tp"), get("input_thresh")) {
        (Some(i), Some(tp), Some(thresh)) if i > -70.0 => Ok(Some(Measured {
            input_i: i,
            input_tp: tp,
            input_lra: get("input_lra").unwrap_or(0.0),
            input_thresh: thresh,
            target_offset: get("target_offset").unwrap_or(0.0),
        })),
        _ => Ok(None),
    }
}

/// The second pass, aiming at `aim` LUFS: loudnorm fed the first pass's figures (linear when
/// the gain fits under the ceiling), then stereo [`RATE`] audio of `samples` samples.
pub fn second_pass(target: &Target, measured: &Measured, aim: f64, samples: u64) -> String {
    format!(
        "{PREPARE},loudnorm=I={aim:.2}:TP={tp}:LRA={LRA}:measured_I={i}:measured_TP={itp}:\
         measured_LRA={lra}:measured_thresh={thresh}:offset={offset}:linear=true,{}",
        finish(samples),
        aim = aim_range(aim),
        tp = ceiling(target),
        i = measured.input_i.clamp(-99.0, 0.0),
        itp = measured.input_tp.clamp(-99.0, 99.0),
        lra = measured.input_lra.clamp(0.0, 99.0),
        thresh = measured.input_thresh.clamp(-99.0, 0.0),
        offset = measured.target_offset.clamp(-99.0, 99.0),
    )
}

/// Both passes: measures `audio`, then finds the aim that brings it to `target` (the dynamic
/// mode's dry runs), and answers the chain to append after `audio.label`.
pub fn normalise(
    artifact: &str,
    audio: &Audio<'_>,
    target: &Target,
    deadline: Duration,
) -> Result<Normalised> {
    let Some(measured) = measure(artifact, audio, target, deadline)? else {
        return Ok(Normalised {
            chain: format!("{PREPARE},aresample={RATE},{}", finish(audio.samples)),
            loudness: Loudness {
                target: *target,
                input: None,
                normalization: "none".into(),
                aim: target.integrated,
                output_i: None,
                output_tp: None,
            },
        });
    };
    let mut aim = target.integrated;
    let mut normalization = String::new();
    // How much the output moves per dB of aim: the limiter takes part of each step, so the
    // next aim is found by the secant through the last two tries.
    let mut slope = 1.0;
    let mut last: Option<(f64, f64)> = None;
    for _ in 0..TRIES {
        // The second pass as it will run, printing what it measured of its own output.
        let chain = second_pass(target, &measured, aim, audio.samples)
            .replace(":linear=true,", ":linear=true:print_format=json,");
        let figures = dry_run(artifact, audio, &chain, deadline)?;
        normalization = figures
            .get("normalization_type")
            .cloned()
            .unwrap_or_default();
        let Some(output) = number(&figures, "output_i") else {
            break;
        };
        // Linear is exact; the dynamic mode is moved by its miss.
        let miss = target.integrated - output;
        if normalization == "linear" || miss.abs() <= TOLERANCE {
            break;
        }
        if let Some((last_aim, last_output)) = last {
            slope = ((output - last_output) / (aim - last_aim)).clamp(0.2, 1.0);
        }
        last = Some((aim, output));
        let next = aim_range(aim + miss / slope);
        if next == aim {
            break;
        }
        aim = next;
    }
    Ok(Normalised {
        chain: second_pass(target, &measured, aim, audio.samples),
        loudness: Loudness {
            target: *target,
            input: Some(measured),
            normalization,
            aim,
            output_i: None,
            output_tp: None,
        },
    })
}

/// The integrated loudness and the true peak of `file`'s audio as ffmpeg's `ebur128` measures
/// them (none: silence), put into `loudness`.
pub fn published(
    artifact: &str,
    file: &Path,
    loudness: &mut Loudness,
    deadline: Duration,
) -> Result<()> {
    let mut command = Command::new("ffmpeg");
    command
        .args([
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            "info",
            "-i",
        ])
        .arg(file)
        .args([
            "-map",
            "0:a:0",
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ]);
    let output = process::run(&mut command, artifact, deadline)?;
    let log = String::from_utf8_lossy(&output.stderr);
    let (i, tp) = ebur128_summary(&log)
        .ok_or_else(|| media::invalid(artifact, "ffmpeg's ebur128 printed no summary"))?;
    loudness.output_i = Some(i).filter(|v| v.is_finite() && *v > -70.0);
    loudness.output_tp = Some(tp).filter(|v| v.is_finite());
    Ok(())
}

/// The limiter's ceiling: [`HEADROOM`] under the target's, within loudnorm's -9..=0.
fn ceiling(target: &Target) -> f64 {
    (target.true_peak - HEADROOM).clamp(-9.0, 0.0)
}

/// loudnorm's `I` accepts -70..=-5.
fn aim_range(aim: f64) -> f64 {
    ((aim * 100.0).round() / 100.0).clamp(-70.0, -5.0)
}

/// After loudnorm (192 kHz, padded): back to the published rate, stereo, the audio's samples.
fn finish(samples: u64) -> String {
    format!(
        "aresample={RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,\
         atrim=end_sample={samples}"
    )
}

/// Runs `audio` through `chain` (which prints loudnorm's JSON) to nothing; the figures.
fn dry_run(artifact: &str, audio: &Audio<'_>, chain: &str, deadline: Duration) -> Result<Figures> {
    let mut command = (audio.command)();
    // loudnorm prints at the info level; -nostats keeps the progress line out of it.
    command
        .args(["-nostats", "-loglevel", "info", "-filter_complex"])
        .arg(format!("{};{}{chain}[loudness]", audio.graph, audio.label))
        .args(["-map", "[loudness]", "-f", "null", "-"]);
    let output = process::run(&mut command, artifact, deadline)?;
    json_block(&String::from_utf8_lossy(&output.stderr))
        .ok_or_else(|| media::invalid(artifact, "ffmpeg's loudnorm printed no measurement"))
}

/// loudnorm's JSON: every value a string.
type Figures = BTreeMap<String, String>;

/// A figure as a finite number (silence prints `-inf`).
fn number(figures: &Figures, name: &str) -> Option<f64> {
    let value = figures.get(name)?.trim().parse::<f64>().ok();
    value.filter(|v| v.is_finite())
}

/// The last `{...}` block of an ffmpeg log (loudnorm prints its JSON last), as strings.
fn json_block(log: &str) -> Option<Figures> {
    let end = log.rfind('}')?;
    let start = log[..end].rfind('{')?;
    serde_json::from_str(&log[start..=end]).ok()
}

/// `I:` and the true `Peak:` from the Summary that ebur128 prints when it ends.
fn ebur128_summary(log: &str) -> Option<(f64, f64)> {
    let summary = &log[log.rfind("Summary:")?..];
    let value = |after: &str| -> Option<f64> {
        let rest = &summary[summary.find(after)? + after.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((value("I:")?, value("Peak:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_loudnorms_json_from_the_end_of_the_log() {
        let log = "Input #0, wav\n  Stream #0:0: Audio: pcm_s16le {weird}\n\
                   [Parsed_loudnorm_3 @ 0x55] \n{\n\t\"input_i\" : \"-19.15\",\n\
                   \t\"input_tp\" : \"-inf\",\n\t\"normalization_type\" : \"dynamic\"\n}\n";
        let json = json_block(log).unwrap();
        assert_eq!(json["input_i"], "-19.15");
        assert_eq!(json["normalization_type"], "dynamic");
        assert_eq!(json["input_tp"].parse::<f64>().unwrap(), f64::NEG_INFINITY);
    }

    #[test]
    fn reads_ebur128s_summary() {
        let log = "[Parsed_ebur128_0 @ 0x5] t: 11.1  M: -20 S: -19 I: -18.0 LUFS\n\
                   [Parsed_ebur128_0 @ 0x5] Summary:\n\n  Integrated loudness:\n    \
                   I:         -14.2 LUFS\n    Threshold: -24.6 LUFS\n\n  Loudness range:\n    \
                   LRA:         2.1 LU\n\n  True peak:\n    Peak:       -1.4 dBFS\n";
        assert_eq!(ebur128_summary(log), Some((-14.2, -1.4)));
        let silent = "Summary:\n    I:         -70.0 LUFS\n    Peak:       -inf dBFS\n";
        let (i, tp) = ebur128_summary(silent).unwrap();
        assert_eq!((i, tp.is_infinite()), (-70.0, true));
    }

    #[test]
    fn the_second_pass_is_fed_the_first_and_cut_to_the_samples() {
        let target = Target {
            integrated: -14.0,
            true_peak: -1.0,
        };
        let measured = Measured {
            input_i: -19.15,
            input_tp: -2.95,
            input_lra: 2.6,
            input_thresh: -29.78,
            target_offset: 0.87,
        };
        assert_eq!(
            second_pass(&target, &measured, -13.5, 537_600),
            "aformat=channel_layouts=stereo,apad=pad_dur=3,loudnorm=I=-13.50:TP=-2:LRA=20:\
             measured_I=-19.15:measured_TP=-2.95:measured_LRA=2.6:measured_thresh=-29.78:\
             offset=0.87:linear=true,aresample=48000,aformat=sample_fmts=fltp:\
             channel_layouts=stereo,atrim=end_sample=537600"
        );
        // The aim stays where loudnorm accepts it.
        assert!(second_pass(&target, &measured, -2.0, 1).contains("I=-5.00:"));
    }
}
