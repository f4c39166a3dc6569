//! Speech → mouth shapes, one per video frame: how open the mouth is follows the speech's
//! loudness (fast to open so syllables land on time, slower to close so it does not
//! flutter), and the spectrum says which way — open vowels (high first formant) open
//! wider, `ee` spreads the lips, `oo` rounds them, and the low hum of `m` with little
//! above it closes them. A simple viseme class from the audio, not a phoneme recogniser.

use super::face_rig::MouthShape;
use super::mel;

/// The mouth shape in each of `n_frames` video frames of mono `samples` in [-1, 1].
pub fn mouth_shapes(
    samples: &[f32],
    sample_rate: u32,
    fps: f64,
    n_frames: usize,
) -> Vec<MouthShape> {
    let open = mouth_openness(samples, sample_rate, fps, n_frames);
    let bands = Bands::of(samples, sample_rate, fps, n_frames);
    (0..n_frames)
        .map(|i| {
            if open[i] <= 0.0 {
                return MouthShape::default();
            }
            let s = bands.shape(i);
            MouthShape {
                open: open[i] * s.open,
                spread: s.spread,
                round: s.round,
            }
        })
        .collect()
}

/// A frame's vowel colour: a factor on the opening, and spread/round amounts.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Colour {
    open: f32,
    spread: f32,
    round: f32,
}

/// The log-mel energy (dB, relative) of the bands a frame's shape is read from.
struct Bands {
    mel: mel::Mel,
    /// Mel frames per video frame.
    step: f64,
}

/// Wav2Lip's mel: normalised units of 12.5 dB.
const DB_PER_UNIT: f32 = 12.5;

impl Bands {
    fn of(samples: &[f32], sample_rate: u32, fps: f64, _n_frames: usize) -> Bands {
        let resampled;
        let at_16k = if sample_rate == mel::SAMPLE_RATE || sample_rate == 0 {
            samples
        } else {
            resampled = mel::resample(samples, sample_rate, mel::SAMPLE_RATE);
            &resampled
        };
        let clean: Vec<f32> = at_16k
            .iter()
            .map(|s| if s.is_finite() { *s } else { 0.0 })
            .collect();
        Bands {
            mel: mel::wav2lip_mel(&clean),
            step: if fps > 0.0 { mel::MEL_FPS / fps } else { 1.0 },
        }
    }

    /// Mean power (dB) over the mel bands centred in `[low, high)` Hz in video frame `i`.
    fn level(&self, i: usize, (low, high): (f64, f64)) -> f32 {
        let first = (i as f64 * self.step).floor() as usize;
        let last = (((i + 1) as f64 * self.step).ceil() as usize).min(self.mel.frames);
        let bands: Vec<usize> = (0..self.mel.n_mels)
            .filter(|&b| (low..high).contains(&band_centre_hz(b)))
            .collect();
        if first >= last || bands.is_empty() {
            return 0.0;
        }
        // Averaged as power, so a formant's peak counts, not the valleys around it.
        let mut power = 0.0f64;
        for &b in &bands {
            for t in first..last {
                power += 10f64.powf((self.mel.at(b, t) * DB_PER_UNIT) as f64 / 10.0);
            }
        }
        (10.0 * (power / (bands.len() * (last - first)) as f64).log10()) as f32
    }

    fn shape(&self, i: usize) -> Colour {
        // Open vowels put their first formant high (aa ~750 Hz), close ones low (ee, oo
        // ~300 Hz).
        let height = self.level(i, (550.0, 1000.0)) - self.level(i, (200.0, 450.0));
        let openness = ((height + 10.0) / 20.0).clamp(0.0, 1.0);
        // ee: a strong second formant high up; oo: everything low, little above 1.3 kHz.
        let front = self.level(i, (1800.0, 3000.0)) - self.level(i, (700.0, 1300.0));
        let spread = ((front + 4.0) / 14.0).clamp(0.0, 1.0);
        let back = self.level(i, (250.0, 800.0)) - self.level(i, (1300.0, 3000.0));
        let round = (((back - 14.0) / 14.0).clamp(0.0, 1.0)) * (1.0 - spread);
        // m (and the hold of b, p): a nasal hum low down with almost nothing above.
        let hum = self.level(i, (80.0, 350.0)) - self.level(i, (700.0, 3500.0));
        let closed = ((hum - 22.0) / 10.0).clamp(0.0, 1.0);
        Colour {
            open: (0.6 + 0.4 * openness) * (1.0 - closed),
            spread,
            round,
        }
    }
}

/// Centre frequency of Wav2Lip's mel band `b` (Slaney mel scale, 80 bands, 55–7600 Hz).
fn band_centre_hz(b: usize) -> f64 {
    let (low, high) = (hz_to_mel(55.0), hz_to_mel(7600.0));
    mel_to_hz(low + (high - low) * (b + 1) as f64 / (mel::N_MELS + 1) as f64)
}

const LINEAR_HZ_PER_MEL: f64 = 200.0 / 3.0;
const LOG_STEP: f64 = 0.068_751_777_420_949_12; // ln(6.4) / 27

fn hz_to_mel(hz: f64) -> f64 {
    if hz < 1000.0 {
        hz / LINEAR_HZ_PER_MEL
    } else {
        15.0 + (hz / 1000.0).ln() / LOG_STEP
    }
}

fn mel_to_hz(m: f64) -> f64 {
    if m < 15.0 {
        m * LINEAR_HZ_PER_MEL
    } else {
        1000.0 * ((m - 15.0) * LOG_STEP).exp()
    }
}

/// Below this loudness the mouth stays closed.
const QUIET_DBFS: f32 = -45.0;
/// The line's loud frames (this percentile of its voiced frames) open the mouth fully;
/// below that the opening follows the level in decibels down to `QUIET_DBFS`.
const LOUD_PERCENTILE: f64 = 0.95;
/// ...but a quiet recording is not blown up to a shout.
const MIN_LOUD_DBFS: f32 = -30.0;

/// Time constants of the opening (fast, so syllables land on time) and the closing
/// (slower, so the mouth does not flutter between syllables).
const ATTACK_SECONDS: f64 = 0.015;
const RELEASE_SECONDS: f64 = 0.06;

/// Openness below this is shown as a closed mouth, so silence leaves frames untouched.
const CLOSED_BELOW: f32 = 0.02;

/// How open the mouth is (0 closed, 1 fully open) in each of `n_frames` video frames,
/// following the loudness of mono `samples` in [-1, 1].
pub fn mouth_openness(samples: &[f32], sample_rate: u32, fps: f64, n_frames: usize) -> Vec<f32> {
    if sample_rate == 0 || !(fps.is_finite() && fps > 0.0) {
        return vec![0.0; n_frames];
    }
    let samples_per_frame = sample_rate as f64 / fps;
    let frame_seconds = 1.0 / fps;
    let attack = (1.0 - (-frame_seconds / ATTACK_SECONDS).exp()) as f32;
    let release = (1.0 - (-frame_seconds / RELEASE_SECONDS).exp()) as f32;

    let loudness: Vec<f32> = (0..n_frames)
        .map(|i| {
            let start = ((i as f64 * samples_per_frame) as usize).min(samples.len());
            let end = (((i + 1) as f64 * samples_per_frame) as usize).min(samples.len());
            rms(&samples[start..end])
        })
        .collect();
    let loud = loud_reference(&loudness);
    let mut level = 0.0f32;
    loudness
        .iter()
        .map(|&rms| {
            let target = loudness_to_openness(rms, loud);
            let rate = if target > level { attack } else { release };
            level += (target - level) * rate;
            if level < CLOSED_BELOW {
                level = 0.0;
            }
            level
        })
        .collect()
}

/// Root mean square, ignoring non-finite samples from a broken decoder.
fn rms(window: &[f32]) -> f32 {
    if window.is_empty() {
        return 0.0;
    }
    let sum: f64 = window
        .iter()
        .filter(|s| s.is_finite())
        .map(|&s| (s as f64) * (s as f64))
        .sum();
    (sum / window.len() as f64).sqrt() as f32
}

fn dbfs_to_amplitude(dbfs: f32) -> f32 {
    10f32.powf(dbfs / 20.0)
}

/// The RMS that opens the mouth fully: a high percentile of the voiced frames.
fn loud_reference(loudness: &[f32]) -> f32 {
    let quiet = dbfs_to_amplitude(QUIET_DBFS);
    let mut voiced: Vec<f32> = loudness.iter().copied().filter(|&r| r > quiet).collect();
    if voiced.is_empty() {
        return f32::INFINITY;
    }
    voiced.sort_by(f32::total_cmp);
    let index = ((voiced.len() - 1) as f64 * LOUD_PERCENTILE).round() as usize;
    voiced[index].max(dbfs_to_amplitude(MIN_LOUD_DBFS))
}

fn loudness_to_openness(rms: f32, loud: f32) -> f32 {
    if rms.is_nan() || rms <= dbfs_to_amplitude(QUIET_DBFS) {
        return 0.0;
    }
    // Linear in decibels between the quiet floor and the loud reference: the ear hears
    // loudness in dB, and a mouth that opened in proportion to amplitude would barely move
    // on all but the loudest syllables.
    let db = |amplitude: f32| 20.0 * amplitude.log10();
    ((db(rms) - QUIET_DBFS) / (db(loud) - QUIET_DBFS)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16_000;
    const FPS: f64 = 25.0;

    fn sine(seconds: f64, amplitude: f32) -> Vec<f32> {
        let n = (seconds * RATE as f64) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / RATE as f32;
                amplitude * (2.0 * std::f32::consts::PI * 200.0 * t).sin()
            })
            .collect()
    }

    /// A voiced sound at 120 Hz whose harmonics are shaped by `formants` (Hz, gain).
    fn vowel(formants: &[(f32, f32)], seconds: f64) -> Vec<f32> {
        let n = (seconds * RATE as f64) as usize;
        let mut out = vec![0.0f32; n];
        for h in 1..60 {
            let f = 120.0 * h as f32;
            let gain: f32 = formants
                .iter()
                .map(|&(centre, g)| g * (-((f - centre) / 90.0).powi(2)).exp())
                .sum::<f32>()
                + 0.003;
            for (i, s) in out.iter_mut().enumerate() {
                *s += gain * (std::f32::consts::TAU * f * i as f32 / RATE as f32).sin();
            }
        }
        let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        out.iter().map(|s| s / peak * 0.4).collect()
    }

    fn middle(shapes: &[MouthShape]) -> MouthShape {
        shapes[shapes.len() / 2]
    }

    #[test]
    fn vowels_shape_the_mouth() {
        let aa = middle(&mouth_shapes(
            &vowel(&[(750.0, 1.0), (1200.0, 0.6), (2500.0, 0.2)], 0.6),
            RATE,
            FPS,
            15,
        ));
        let ee = middle(&mouth_shapes(
            &vowel(&[(300.0, 1.0), (2300.0, 0.5), (3000.0, 0.3)], 0.6),
            RATE,
            FPS,
            15,
        ));
        let oo = middle(&mouth_shapes(
            &vowel(&[(300.0, 1.0), (850.0, 0.4)], 0.6),
            RATE,
            FPS,
            15,
        ));
        let mm = middle(&mouth_shapes(&vowel(&[(250.0, 1.0)], 0.6), RATE, FPS, 15));
        assert!(
            aa.open > ee.open + 0.15 && aa.open > oo.open + 0.15,
            "{aa:?} {ee:?} {oo:?}"
        );
        assert!(
            ee.spread > 0.5 && aa.spread < ee.spread && oo.spread < 0.2,
            "{aa:?} {ee:?} {oo:?}"
        );
        assert!(
            oo.round > 0.3 && aa.round < 0.1 && ee.round < 0.1,
            "{aa:?} {ee:?} {oo:?}"
        );
        assert!(mm.open < 0.1, "{mm:?}");
    }

    #[test]
    fn band_centres_span_wav2lips_range() {
        assert!((band_centre_hz(0) - 55.0).abs() < 40.0);
        assert!(band_centre_hz(79) < 7600.0 && band_centre_hz(79) > 7000.0);
        assert!((mel_to_hz(hz_to_mel(2345.0)) - 2345.0).abs() < 1e-6);
    }

    #[test]
    fn silence_keeps_the_mouth_closed() {
        let silence = vec![0.0; RATE as usize * 2];
        let open = mouth_openness(&silence, RATE, FPS, 50);
        assert_eq!(open, vec![0.0; 50]);
        // Frames past the end of the audio are silent too.
        assert_eq!(mouth_openness(&[], RATE, FPS, 3), vec![0.0; 3]);
    }

    #[test]
    fn loud_speech_opens_the_mouth_fully() {
        let loud = sine(1.0, 0.5);
        let open = mouth_openness(&loud, RATE, FPS, 25);
        for (i, v) in open.iter().enumerate().skip(1) {
            assert!(*v > 0.95, "frame {i}: {v}");
        }
    }

    #[test]
    fn quiet_speech_opens_it_partly() {
        // A 0.02 amplitude sine is about -37 dBFS.
        let open = mouth_openness(&sine(1.0, 0.02), RATE, FPS, 25);
        assert!(open[20] > 0.3 && open[20] < 0.7, "{}", open[20]);
    }

    #[test]
    fn opens_on_onset_and_closes_over_several_frames() {
        // 0.4 s of silence, 0.4 s of speech, 0.8 s of silence.
        let mut audio = vec![0.0; (0.4 * RATE as f64) as usize];
        audio.extend(sine(0.4, 0.5));
        audio.extend(vec![0.0; (0.8 * RATE as f64) as usize]);
        let open = mouth_openness(&audio, RATE, FPS, 40);
        // Speech starts exactly at frame 10.
        assert_eq!(open[9], 0.0);
        assert!(open[10] > 0.8, "onset {}", open[10]);
        // Speech ends at frame 20: the mouth closes gradually, not at once.
        assert!(open[20] > 0.3 && open[20] < 0.9, "{:?}", &open[19..26]);
        assert!(open[21] < open[20] && open[21] > 0.1, "{:?}", &open[19..26]);
        for i in 20..26 {
            assert!(open[i + 1] <= open[i]);
        }
        // ...and is shut well before the clip ends.
        assert_eq!(open[32], 0.0);
    }

    #[test]
    fn bad_audio_parameters_give_a_closed_mouth() {
        let loud = sine(0.2, 0.5);
        assert_eq!(mouth_openness(&loud, 0, FPS, 4), vec![0.0; 4]);
        assert_eq!(mouth_openness(&loud, RATE, 0.0, 4), vec![0.0; 4]);
        assert_eq!(mouth_openness(&loud, RATE, f64::NAN, 4), vec![0.0; 4]);
        let broken = vec![f32::NAN; 1000];
        assert_eq!(mouth_openness(&broken, RATE, FPS, 2), vec![0.0; 2]);
    }
}
