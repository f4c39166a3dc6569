//! The built-in face's life between words: blinks at natural intervals and, for a still
//! portrait, a slow idle sway of the head with a breath in it. Both are pure functions of
//! a seed (the clip's key) and the clip's length, so the same line gives the same bytes.
//!
//! Every clip starts and ends at rest (eyes open, head home): a scene holds a clip's last
//! frame through the pause and cuts to the next clip's first, so rest at both ends is
//! what keeps the cut invisible.

use super::face_rig::{smoothstep, HeadMotion};

/// Seconds between blinks (people blink every 2–10 s; a presenter under lights, often).
const BLINK_GAP: (f64, f64) = (2.0, 4.5);
/// The first blink comes this soon into a clip.
const FIRST_BLINK: (f64, f64) = (0.4, 1.8);
/// A blink lasts this long, closing faster than it opens.
const BLINK_LENGTH: (f64, f64) = (0.12, 0.2);
const CLOSING_SHARE: f64 = 0.4;
/// No blink ends in the clip's last moments (its last frame is held through the pause);
/// and a clip's last blink is at most this long before its end, so with a short pause
/// and the next clip's first blink there is one in every 6 s of a scene.
const QUIET_END: f64 = 0.25;
const LAST_BLINK_BEFORE_END: f64 = 3.0;

/// The idle sway's size: shifts in face heights, roll in degrees.
const SWAY_X: f32 = 0.016;
const SWAY_Y: f32 = 0.006;
const BREATH_Y: f32 = 0.005;
const SWAY_ROLL: f32 = 1.2;
/// Breaths per second at rest (about 15 a minute).
const BREATH_HZ: f64 = 0.25;
/// The sway eases in from rest and back to it over this long at each end of a clip.
const EASE_SECONDS: f64 = 0.6;

/// A clip's blinks and idle motion.
#[derive(Clone, Debug, PartialEq)]
pub struct Life {
    seconds: f64,
    /// Each blink's start and length, in seconds.
    blinks: Vec<(f64, f64)>,
    /// Frequencies (Hz) and phases of the sway's components.
    sway: [(f64, f64); 5],
    /// Whether the head sways (a still portrait) or keeps the video's own motion.
    head_moves: bool,
}

impl Life {
    pub fn new(seed: u64, seconds: f64, head_moves: bool) -> Life {
        let mut random = Random(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut blinks = Vec::new();
        let mut at = random.between(FIRST_BLINK);
        loop {
            let length = random.between(BLINK_LENGTH);
            if at + length > seconds - QUIET_END {
                break;
            }
            blinks.push((at, length));
            at += length + random.between(BLINK_GAP);
        }
        // A long clip's tail gets a blink too, so the next clip's first one is not far.
        let last_end = blinks.last().map_or(0.0, |&(s, l)| s + l);
        let length = random.between(BLINK_LENGTH);
        let tail = seconds - QUIET_END - length - 0.5;
        if seconds - last_end > LAST_BLINK_BEFORE_END && tail > last_end + 1.0 {
            blinks.push((tail, length));
        }
        let mut sway = [(0.0, 0.0); 5];
        let bands = [
            (0.11, 0.19),
            (0.23, 0.37),
            (0.09, 0.17),
            (0.27, 0.41),
            (0.13, 0.21),
        ];
        for (component, band) in sway.iter_mut().zip(bands) {
            *component = (
                random.between(band),
                random.between((0.0, std::f64::consts::TAU)),
            );
        }
        Life {
            seconds,
            blinks,
            sway,
            head_moves,
        }
    }

    /// How shut the eyes are at `t` seconds (0 open .. 1 shut).
    pub fn blink(&self, t: f64) -> f32 {
        for &(start, length) in &self.blinks {
            if t < start || t > start + length {
                continue;
            }
            let phase = (t - start) / length;
            let shut = if phase < CLOSING_SHARE {
                phase / CLOSING_SHARE
            } else {
                1.0 - (phase - CLOSING_SHARE) / (1.0 - CLOSING_SHARE)
            };
            return smoothstep(0.0, 1.0, shut as f32);
        }
        0.0
    }

    /// The blinks' start times, in seconds.
    pub fn blink_starts(&self) -> Vec<f64> {
        self.blinks.iter().map(|&(start, _)| start).collect()
    }

    /// The head's idle motion at `t` seconds.
    pub fn head(&self, t: f64) -> HeadMotion {
        if !self.head_moves {
            return HeadMotion::default();
        }
        let wave = |(hz, phase): (f64, f64)| (std::f64::consts::TAU * hz * t + phase).sin() as f32;
        let ease = smoothstep(0.0, EASE_SECONDS as f32, t as f32)
            * smoothstep(0.0, EASE_SECONDS as f32, (self.seconds - t) as f32);
        let breath = (std::f64::consts::TAU * BREATH_HZ * t).sin() as f32;
        HeadMotion {
            dx: ease * SWAY_X * (0.7 * wave(self.sway[0]) + 0.3 * wave(self.sway[1])),
            dy: ease * (SWAY_Y * wave(self.sway[2]) - BREATH_Y * breath.max(0.0)),
            roll_degrees: ease * SWAY_ROLL * (0.7 * wave(self.sway[3]) + 0.3 * wave(self.sway[4])),
        }
    }
}

/// SplitMix64: small, fast, and the same everywhere (the clip's bytes depend on it).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn between(&mut self, (low, high): (f64, f64)) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        low + (high - low) * unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blinks_come_every_few_seconds_and_last_a_fifth_of_a_second() {
        for seed in 0..200 {
            let life = Life::new(seed, 30.0, true);
            let starts = life.blink_starts();
            assert!(starts[0] <= FIRST_BLINK.1, "seed {seed}: {starts:?}");
            for pair in starts.windows(2) {
                let gap = pair[1] - pair[0];
                assert!((2.0..=4.8).contains(&gap), "seed {seed}: {starts:?}");
            }
            assert!(30.0 - starts.last().unwrap() <= 6.0, "seed {seed}");
            for &(_, length) in &life.blinks {
                assert!((0.12..=0.2).contains(&length));
            }
        }
    }

    #[test]
    fn clips_start_and_end_at_rest() {
        for seed in 0..100 {
            for seconds in [0.3, 1.0, 2.5, 7.0] {
                let life = Life::new(seed, seconds, true);
                assert_eq!(life.blink(0.0), 0.0);
                assert_eq!(life.blink(seconds), 0.0);
                assert_eq!(life.head(0.0), HeadMotion::default());
                assert_eq!(life.head(seconds), HeadMotion::default());
            }
        }
    }

    #[test]
    fn a_blink_shuts_the_eyes_fully_once() {
        let life = Life::new(7, 10.0, false);
        let (start, length) = life.blinks[0];
        let samples: Vec<f32> = (0..=100)
            .map(|k| life.blink(start + length * k as f64 / 100.0))
            .collect();
        let peak = samples.iter().copied().fold(0.0, f32::max);
        assert!(peak > 0.99, "{peak}");
        assert_eq!(life.blink(start - 0.01), 0.0);
        assert_eq!(life.blink(start + length + 0.01), 0.0);
    }

    #[test]
    fn the_head_sways_a_little_and_smoothly() {
        let life = Life::new(3, 20.0, true);
        let mut previous = life.head(0.0);
        let (mut most_x, mut most_roll) = (0.0f32, 0.0f32);
        for k in 1..=500 {
            let t = 20.0 * k as f64 / 500.0;
            let head = life.head(t);
            most_x = most_x.max(head.dx.abs());
            most_roll = most_roll.max(head.roll_degrees.abs());
            // 40 ms apart: no jumps.
            assert!((head.dx - previous.dx).abs() < 0.002, "{t}");
            assert!(
                (head.roll_degrees - previous.roll_degrees).abs() < 0.2,
                "{t}"
            );
            previous = head;
        }
        assert!(most_x > 0.005 && most_x <= SWAY_X, "{most_x}");
        assert!(most_roll > 0.4 && most_roll <= SWAY_ROLL, "{most_roll}");
        assert_eq!(Life::new(3, 20.0, false).head(5.0), HeadMotion::default());
    }

    #[test]
    fn the_same_seed_gives_the_same_life_and_another_seed_another() {
        assert_eq!(Life::new(11, 8.0, true), Life::new(11, 8.0, true));
        assert_ne!(Life::new(11, 8.0, true), Life::new(12, 8.0, true));
    }
}
