//! Audio preprocessing for Wav2Lip-family lip-sync models.
//!
//! Wav2Lip (Rudrabha/Wav2Lip, `audio.py` + `hparams.py`) was trained on one
//! very specific log-mel representation of 16 kHz audio: pre-emphasis 0.97,
//! an 800-point STFT with hop 200 (80 mel frames per second), a Slaney-style
//! 80-band filterbank over 55..7600 Hz, a dB conversion with a -100 dB floor
//! and a symmetric normalisation into [-4, 4]. The network never sees anything
//! else, so any deviation (a different window, mel scale, padding mode or
//! normalisation) does not fail loudly: it silently degrades lip-sync. This
//! module reproduces that pipeline step by step (checked against a fixture
//! generated with librosa itself, to within 1e-3), plus the resampler
//! that brings arbitrary input audio to 16 kHz and Wav2Lip's per-video-frame
//! chunking of the spectrogram.

use std::f64::consts::PI;
use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Sample rate every Wav2Lip checkpoint was trained on.
pub const SAMPLE_RATE: u32 = 16_000;
/// Number of mel bands (`num_mels`).
pub const N_MELS: usize = 80;
/// Mel frames per second: 16 000 Hz / hop 200.
pub const MEL_FPS: f64 = 80.0;
/// Columns per inference chunk (`mel_step_size`), i.e. 0.2 s of audio.
pub const MEL_STEP: usize = 16;

const N_FFT: usize = 800;
const HOP: usize = 200;
const N_BINS: usize = N_FFT / 2 + 1;
const PREEMPHASIS: f64 = 0.97;
const FMIN: f64 = 55.0;
const FMAX: f64 = 7600.0;
const REF_LEVEL_DB: f64 = 20.0;
const MIN_LEVEL_DB: f64 = -100.0;
const MAX_ABS_VALUE: f64 = 4.0;

/// Log-mel spectrogram, row-major `[n_mels][frames]` like librosa's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Mel {
    /// Always [`N_MELS`] (80) for Wav2Lip.
    pub n_mels: usize,
    /// Number of STFT frames: `1 + samples / 200` (centred STFT).
    pub frames: usize,
    /// `n_mels * frames` values in [-4, 4]; band `b`, frame `t` at `b * frames + t`.
    pub data: Vec<f32>,
}

impl Mel {
    /// Value of band `band` at frame `frame`.
    pub fn at(&self, band: usize, frame: usize) -> f32 {
        self.data[band * self.frames + frame]
    }
}

// ---------------------------------------------------------------------------
// Resampling
// ---------------------------------------------------------------------------

/// Zero crossings of the sinc on each side of the kernel centre.
const RS_ZERO_CROSSINGS: usize = 64;
/// Cutoff as a fraction of the lower Nyquist: leaves room for the transition
/// band so that little folds back below Nyquist.
const RS_ROLLOFF: f64 = 0.945;
/// Kaiser window shape; ~140 dB stop band with 64 zero crossings (the
/// parameters of resampy's `kaiser_best`, librosa's long-time default).
const RS_KAISER_BETA: f64 = 14.77;
/// Above this many polyphase phases the kernel is evaluated on the fly
/// instead of tabulated (only for exotic, nearly coprime rate pairs).
const RS_MAX_TABLE_PHASES: u64 = 4096;

/// Band-limited resampling with a Kaiser-windowed sinc.
///
/// Output sample `m` sits at input time `m * from_hz / to_hz` exactly (the
/// fraction is kept as an integer phase), samples outside the input count as
/// silence, and the output has `round(len * to_hz / from_hz)` samples. Equal
/// rates return the input unchanged.
///
/// # Panics
/// If either rate is zero while they differ.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz {
        return samples.to_vec();
    }
    assert!(
        from_hz > 0 && to_hz > 0,
        "resample: sample rates must be > 0"
    );
    let out_len =
        ((samples.len() as u128 * to_hz as u128 + from_hz as u128 / 2) / from_hz as u128) as usize;
    if out_len == 0 {
        return Vec::new();
    }

    let g = gcd(from_hz as u64, to_hz as u64);
    let (up, down) = (to_hz as u64 / g, from_hz as u64 / g);
    // Cutoff in cycles per input sample; when downsampling it must sit below
    // the *output* Nyquist, so the kernel widens by the rate ratio.
    let fc = 0.5 * RS_ROLLOFF * (to_hz as f64 / from_hz as f64).min(1.0);
    let half_width = RS_ZERO_CROSSINGS as f64 / (2.0 * fc);
    let reach = half_width.floor() as i64 + 1;
    let taps = (2 * reach + 1) as usize;

    // Weights for one phase p: input sample base + j, j in -reach..=reach, at
    // distance (p / up - j) from the output instant.
    let phase_weights = |p: u64, w: &mut [f32]| {
        let frac = p as f64 / up as f64;
        for (i, wi) in w.iter_mut().enumerate() {
            let x = frac - (i as i64 - reach) as f64;
            *wi = kernel(x, fc, half_width) as f32;
        }
    };
    let table: Option<Vec<f32>> = (up <= RS_MAX_TABLE_PHASES).then(|| {
        let mut t = vec![0.0f32; up as usize * taps];
        for (p, w) in t.chunks_exact_mut(taps).enumerate() {
            phase_weights(p as u64, w);
        }
        t
    });

    let n = samples.len() as i64;
    let mut scratch = vec![0.0f32; taps];
    let mut out = Vec::with_capacity(out_len);
    for m in 0..out_len as u64 {
        let pos = m * down;
        let (base, p) = ((pos / up) as i64, pos % up);
        let w: &[f32] = match &table {
            Some(t) => &t[p as usize * taps..(p as usize + 1) * taps],
            None => {
                phase_weights(p, &mut scratch);
                &scratch
            }
        };
        let first = base - reach;
        let acc: f64 = if first >= 0 && first + taps as i64 <= n {
            let xs = &samples[first as usize..first as usize + taps];
            xs.iter().zip(w).map(|(&x, &k)| x as f64 * k as f64).sum()
        } else {
            // Near the edges: implicit zeros outside the signal.
            (0..taps)
                .filter_map(|i| {
                    let k = first + i as i64;
                    (0..n)
                        .contains(&k)
                        .then(|| samples[k as usize] as f64 * w[i] as f64)
                })
                .sum()
        };
        out.push(acc as f32);
    }
    out
}

/// Windowed-sinc low-pass kernel at distance `x` input samples, unity DC gain.
fn kernel(x: f64, fc: f64, half_width: f64) -> f64 {
    let r = x / half_width;
    if r.abs() >= 1.0 {
        return 0.0;
    }
    let u = 2.0 * fc * x;
    let sinc = if u == 0.0 {
        1.0
    } else {
        (PI * u).sin() / (PI * u)
    };
    let kaiser = bessel_i0(RS_KAISER_BETA * (1.0 - r * r).sqrt()) / bessel_i0(RS_KAISER_BETA);
    2.0 * fc * sinc * kaiser
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let (mut sum, mut term, mut k) = (1.0, 1.0, 1.0);
    while term > 1e-17 * sum {
        term *= q / (k * k);
        sum += term;
        k += 1.0;
    }
    sum
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

// ---------------------------------------------------------------------------
// Mel spectrogram
// ---------------------------------------------------------------------------

/// Wav2Lip's `audio.melspectrogram` on 16 kHz mono samples.
///
/// Pipeline (all in f64, stored as f32): pre-emphasis `y[n] = x[n] - 0.97
/// x[n-1]` with `y[0] = x[0]`; centred STFT (n_fft 800, hop 200, periodic
/// Hann, numpy-style reflect padding of 400 on both sides); magnitude; Slaney
/// mel filterbank (librosa `filters.mel(sr=16000, n_fft=800, n_mels=80,
/// fmin=55, fmax=7600)`); `20 log10(max(1e-5, m)) - 20`; symmetric clip-
/// normalisation into [-4, 4]. Empty input gives a `Mel` with zero frames.
pub fn wav2lip_mel(samples_16k: &[f32]) -> Mel {
    let n = samples_16k.len();
    if n == 0 {
        return Mel {
            n_mels: N_MELS,
            frames: 0,
            data: Vec::new(),
        };
    }

    // Pre-emphasis (scipy lfilter([1, -0.97], [1]): zero initial state).
    let mut pre = Vec::with_capacity(n);
    let mut prev = 0.0f64;
    for &s in samples_16k {
        let x = s as f64;
        pre.push(x - PREEMPHASIS * prev);
        prev = x;
    }

    let frames = 1 + n / HOP;
    let window = hann_periodic(N_FFT);
    let filters = mel_filterbank();
    let fft: Arc<dyn Fft<f64>> = FftPlanner::new().plan_fft_forward(N_FFT);
    let mut buf = vec![Complex::new(0.0f64, 0.0); N_FFT];
    let mut scratch = vec![Complex::new(0.0f64, 0.0); fft.get_inplace_scratch_len()];
    let mut mag = vec![0.0f64; N_BINS];
    let mut data = vec![0.0f32; N_MELS * frames];
    let pad = (N_FFT / 2) as i64;

    for t in 0..frames {
        // Frame t covers padded[t*hop .. t*hop + n_fft], i.e. original indices
        // starting at t*hop - n_fft/2, mirrored at the edges.
        let start = (t * HOP) as i64 - pad;
        for (i, (b, &w)) in buf.iter_mut().zip(&window).enumerate() {
            *b = Complex::new(pre[reflect_index(start + i as i64, n)] * w, 0.0);
        }
        fft.process_with_scratch(&mut buf, &mut scratch);
        for (m, c) in mag.iter_mut().zip(&buf[..N_BINS]) {
            *m = c.norm();
        }
        for (band, f) in filters.iter().enumerate() {
            let energy: f64 = f
                .weights
                .iter()
                .zip(&mag[f.first_bin..])
                .map(|(w, m)| w * m)
                .sum();
            data[band * frames + t] = normalize(energy) as f32;
        }
    }

    Mel {
        n_mels: N_MELS,
        frames,
        data,
    }
}

/// Amplitude -> dB (with Wav2Lip's 1e-5 floor and ref level) -> [-4, 4].
fn normalize(mel_amplitude: f64) -> f64 {
    let min_level = 10f64.powf(MIN_LEVEL_DB / 20.0);
    let s = 20.0 * mel_amplitude.max(min_level).log10() - REF_LEVEL_DB;
    let v = 2.0 * MAX_ABS_VALUE * ((s - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS_VALUE;
    v.clamp(-MAX_ABS_VALUE, MAX_ABS_VALUE)
}

/// numpy `pad(mode="reflect")` index: mirror without repeating the edge
/// sample, repeatedly if the pad exceeds the signal (period 2(n-1)).
fn reflect_index(i: i64, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as i64 - 1);
    let k = i.rem_euclid(period);
    (if k < n as i64 { k } else { period - k }) as usize
}

/// scipy `get_window("hann", n, fftbins=True)`: the periodic Hann window.
fn hann_periodic(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos())
        .collect()
}

/// One triangular mel filter, stored sparsely from its first non-zero bin.
struct MelFilter {
    first_bin: usize,
    weights: Vec<f64>,
}

/// librosa `filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600,
/// htk=False, norm="slaney")`.
fn mel_filterbank() -> Vec<MelFilter> {
    let sr = SAMPLE_RATE as f64;
    // librosa.mel_frequencies: n_mels + 2 points evenly spaced on the mel axis.
    let (lo, hi) = (hz_to_mel_slaney(FMIN), hz_to_mel_slaney(FMAX));
    let points = N_MELS + 2;
    let step = (hi - lo) / (points - 1) as f64;
    let mel_f: Vec<f64> = (0..points)
        .map(|i| {
            let m = if i == points - 1 {
                hi
            } else {
                lo + i as f64 * step
            };
            mel_to_hz_slaney(m)
        })
        .collect();
    let fft_freqs: Vec<f64> = (0..N_BINS).map(|k| k as f64 * sr / N_FFT as f64).collect();

    (0..N_MELS)
        .map(|i| {
            let (left, centre, right) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
            // Slaney normalisation: each filter has unit area in Hz.
            let enorm = 2.0 / (right - left);
            let full: Vec<f64> = fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - left) / (centre - left);
                    let upper = (right - f) / (right - centre);
                    lower.min(upper).max(0.0) * enorm
                })
                .collect();
            let first_bin = full.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last_bin = full.iter().rposition(|&w| w > 0.0).unwrap_or(0);
            MelFilter {
                first_bin,
                weights: full[first_bin..=last_bin.max(first_bin)].to_vec(),
            }
        })
        .collect()
}

// Slaney's Auditory Toolbox mel scale (librosa htk=False): linear below
// 1 kHz (200/3 Hz per mel), logarithmic above.
const SLANEY_F_SP: f64 = 200.0 / 3.0;
const SLANEY_MIN_LOG_HZ: f64 = 1000.0;
const SLANEY_MIN_LOG_MEL: f64 = SLANEY_MIN_LOG_HZ / SLANEY_F_SP;

fn slaney_logstep() -> f64 {
    6.4f64.ln() / 27.0
}

fn hz_to_mel_slaney(hz: f64) -> f64 {
    if hz >= SLANEY_MIN_LOG_HZ {
        SLANEY_MIN_LOG_MEL + (hz / SLANEY_MIN_LOG_HZ).ln() / slaney_logstep()
    } else {
        hz / SLANEY_F_SP
    }
}

fn mel_to_hz_slaney(mel: f64) -> f64 {
    if mel >= SLANEY_MIN_LOG_MEL {
        SLANEY_MIN_LOG_HZ * (slaney_logstep() * (mel - SLANEY_MIN_LOG_MEL)).exp()
    } else {
        mel * SLANEY_F_SP
    }
}

// ---------------------------------------------------------------------------
// Chunking
// ---------------------------------------------------------------------------

/// Wav2Lip inference chunking: one `[80][16]` row-major window per video frame.
///
/// Frame `i` starts at column `floor(i * (80 / fps))`, evaluated the way
/// Wav2Lip's `int(i * mel_idx_multiplier)` does so rounding matches it; a
/// window that would run past the end is replaced by the last 16 columns
/// (as Wav2Lip does for its final chunk). Each chunk is `80 * 16` floats,
/// ready for a `[B, 1, 80, 16]` tensor.
///
/// Wav2Lip itself cannot handle fewer than 16 mel columns (< 0.2 s of audio);
/// here such a spectrogram is padded on the right by repeating its last
/// column, and an empty spectrogram yields all-silence chunks (-4.0, the
/// value silence normalises to).
pub fn mel_chunks(mel: &Mel, fps: f64, n_frames: usize) -> Vec<Vec<f32>> {
    debug_assert!(fps > 0.0, "mel_chunks: fps must be positive");
    let rows = mel.n_mels;
    let cols = mel.frames.max(MEL_STEP);
    // Column c of the (possibly padded) spectrogram.
    let col = |band: usize, c: usize| -> f32 {
        if mel.frames == 0 {
            -MAX_ABS_VALUE as f32
        } else {
            mel.data[band * mel.frames + c.min(mel.frames - 1)]
        }
    };
    let multiplier = MEL_FPS / fps;
    (0..n_frames)
        .map(|i| {
            let start_f = (i as f64 * multiplier).floor();
            // Compare in f64 so a huge or non-finite start cannot overflow.
            let start = if start_f + MEL_STEP as f64 > cols as f64 {
                cols - MEL_STEP
            } else {
                start_f as usize
            };
            let mut chunk = Vec::with_capacity(rows * MEL_STEP);
            for band in 0..rows {
                chunk.extend((start..start + MEL_STEP).map(|c| col(band, c)));
            }
            chunk
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn read_f32(name: &str) -> Vec<f32> {
        let bytes = std::fs::read(fixture(name)).expect("fixture missing");
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    fn sine(freq: f64, rate: u32, len: usize, amp: f64) -> Vec<f32> {
        (0..len)
            .map(|n| (amp * (2.0 * PI * freq * n as f64 / rate as f64).sin()) as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn mel_matches_librosa_fixture() {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture("mel_expected.json")).unwrap()).unwrap();
        let input = read_f32("mel_input_16k.f32");
        let expected = read_f32("mel_expected.f32");
        assert_eq!(input.len() as u64, meta["samples"].as_u64().unwrap());

        let mel = wav2lip_mel(&input);
        assert_eq!(mel.n_mels as u64, meta["n_mels"].as_u64().unwrap());
        assert_eq!(mel.frames as u64, meta["frames"].as_u64().unwrap());
        assert_eq!(mel.data.len(), expected.len());

        let max_err = mel
            .data
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!("wav2lip_mel vs librosa fixture: max abs error {max_err:.3e}");
        assert!(max_err <= 1e-3, "max abs error {max_err}");
    }

    #[test]
    fn mel_shape_and_edge_cases() {
        assert_eq!(wav2lip_mel(&[]).frames, 0);
        let one = wav2lip_mel(&[0.5]);
        assert_eq!((one.n_mels, one.frames, one.data.len()), (80, 1, 80));
        let short = wav2lip_mel(&vec![0.1; 300]);
        assert_eq!(short.frames, 2);
        let silence = wav2lip_mel(&vec![0.0; 16_000]);
        assert_eq!(silence.frames, 81);
        assert!(silence.data.iter().all(|&v| v == -4.0));
    }

    #[test]
    fn reflect_matches_numpy() {
        // np.pad([a, b, c], 5, "reflect") -> b a b c b a b c b a b c b
        let idx: Vec<usize> = (-5..8).map(|i| reflect_index(i, 3)).collect();
        assert_eq!(idx, [1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]);
    }

    #[test]
    fn chunks_follow_wav2lip_indexing() {
        let frames = 100;
        let mel = Mel {
            n_mels: N_MELS,
            frames,
            data: (0..N_MELS * frames).map(|v| v as f32).collect(),
        };
        let chunks = mel_chunks(&mel, 25.0, 40);
        assert_eq!(chunks.len(), 40);
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.len(), N_MELS * MEL_STEP);
            let start = ((i as f64 * 3.2).floor() as usize).min(frames - MEL_STEP);
            for band in 0..N_MELS {
                for j in 0..MEL_STEP {
                    assert_eq!(c[band * MEL_STEP + j], mel.at(band, start + j));
                }
            }
        }
        // Frame 26 starts at 83 (83..99 fits); frame 27 would start at 86,
        // past the end, so it takes the last 16 columns 84..100.
        assert_eq!(chunks[26][0], mel.at(0, 83));
        assert_eq!(chunks[27][0], mel.at(0, 84));

        // Short spectrogram: edge column repeated; empty: silence.
        let short = Mel {
            n_mels: N_MELS,
            frames: 3,
            data: (0..N_MELS * 3).map(|v| v as f32).collect(),
        };
        let c = &mel_chunks(&short, 25.0, 2)[1];
        assert_eq!(&c[..MEL_STEP][..4], &[0.0, 1.0, 2.0, 2.0]);
        let empty = Mel {
            n_mels: N_MELS,
            frames: 0,
            data: vec![],
        };
        assert!(mel_chunks(&empty, 25.0, 1)[0].iter().all(|&v| v == -4.0));
    }

    #[test]
    fn resample_identity_and_length() {
        let x = sine(440.0, 16_000, 1234, 0.3);
        assert_eq!(resample(&x, 16_000, 16_000), x);
        assert_eq!(resample(&x, 44_100, 16_000).len(), 448); // 447.7 -> 448
        assert_eq!(resample(&[], 22_050, 16_000).len(), 0);
    }

    #[test]
    fn resample_keeps_1khz_tone() {
        for (from, to) in [(22_050, 16_000), (16_000, 22_050), (48_000, 16_000)] {
            let x = sine(1000.0, from, from as usize, 0.5);
            let y = resample(&x, from, to);
            assert_eq!(y.len(), to as usize);
            // Away from the zero-padded edges the output is the same sine
            // sampled at the new rate: same frequency, phase and amplitude.
            let edge = to as usize / 20;
            let want = sine(1000.0, to, y.len(), 0.5);
            let max_dev = y[edge..y.len() - edge]
                .iter()
                .zip(&want[edge..])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max_dev < 0.005, "{from}->{to}: deviation {max_dev}");
            let ratio = rms(&y[edge..y.len() - edge]) / rms(&want[edge..y.len() - edge]);
            assert!((ratio - 1.0).abs() < 0.01, "{from}->{to}: gain {ratio}");
        }
    }

    #[test]
    fn resample_rejects_tone_above_nyquist() {
        let x = sine(10_000.0, 22_050, 22_050, 0.5);
        let y = resample(&x, 22_050, 16_000);
        let edge = 800;
        let atten_db = 20.0 * (rms(&y[edge..y.len() - edge]) / rms(&x)).log10();
        println!("10 kHz tone 22050->16000: {atten_db:.1} dB");
        assert!(atten_db < -40.0, "only {atten_db} dB");
    }

    #[test]
    fn bench_ten_seconds() {
        let x: Vec<f32> = (0..10 * SAMPLE_RATE as usize)
            .map(|n| (0.3 * (n as f64 * 0.05).sin() + 0.1 * (n as f64 * 0.71).sin()) as f32)
            .collect();
        let t0 = std::time::Instant::now();
        let mel = wav2lip_mel(&x);
        let mel_time = t0.elapsed();
        let x22 = resample(&x, 16_000, 22_050);
        let t1 = std::time::Instant::now();
        let _ = resample(&x22, 22_050, 16_000);
        let rs_time = t1.elapsed();
        println!(
            "bench: wav2lip_mel on 10 s ({} frames): {:.1} ms; resample 10 s 22050->16000: {:.1} ms",
            mel.frames,
            mel_time.as_secs_f64() * 1e3,
            rs_time.as_secs_f64() * 1e3
        );
        assert_eq!(mel.frames, 801);
    }
}
