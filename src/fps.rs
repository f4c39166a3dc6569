//! A frame rate as an exact fraction of whole numbers: 25 is 25/1, the NTSC rates 29.97 and
//! 59.94 are 30000/1001 and 60000/1001. Time in render is counted in frames, and a frame
//! rate written as a float (29.97) would put every frame a little off (ffmpeg's 29.97 is
//! 2997/100, not the 30000/1001 that cameras and broadcast use): the frame count of a
//! line, the audio samples of its slot and a cue's milliseconds are each worked out here in
//! integers from the fraction, so every engine, check and caption agree to the sample.
//!
//! A whole rate is written as its number everywhere — in keys, `scene.json`, ffmpeg's
//! arguments — exactly as when rates were only whole numbers, so those keys did not change;
//! any other is written `N/D` (lowest terms), which is also how ffmpeg reads a rate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Frames per second, `num / den` in lowest terms (`den` ≥ 1, `num` ≥ 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fps {
    num: u32,
    den: u32,
}

impl Fps {
    /// A whole number of frames per second (at least 1).
    pub const fn whole(n: u32) -> Fps {
        Fps {
            num: if n == 0 { 1 } else { n },
            den: 1,
        }
    }

    /// `num / den` in lowest terms; None when either is 0.
    pub fn new(num: u32, den: u32) -> Option<Fps> {
        if num == 0 || den == 0 {
            return None;
        }
        let g = gcd(num, den);
        Some(Fps {
            num: num / g,
            den: den / g,
        })
    }

    /// The NTSC rate of `n` frames a second: `n × 1000/1001` (29.97 for 30).
    pub fn ntsc(n: u32) -> Fps {
        Fps::new(n * 1000, 1001).unwrap_or(Fps::whole(n))
    }

    pub fn num(self) -> u32 {
        self.num
    }

    pub fn den(self) -> u32 {
        self.den
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// The whole number of frames a second, if the rate is one.
    pub fn as_whole(self) -> Option<u32> {
        (self.den == 1).then_some(self.num)
    }

    /// The rate as people read it: `25`, `29.97`, `23.976` (at most three decimals).
    pub fn decimal(self) -> String {
        match self.as_whole() {
            Some(n) => n.to_string(),
            None => {
                let s = format!("{:.3}", self.as_f64());
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        }
    }

    /// The duration of one frame as ffmpeg's time base, `den/num` (`1/25`, `1001/30000`).
    pub fn time_base(self) -> String {
        format!("{}/{}", self.den, self.num)
    }

    /// The fewest whole frames that last at least `samples` at `rate` Hz (at least one).
    pub fn frames_covering(self, samples: u64, rate: u32) -> usize {
        let rate = u64::from(rate.max(1)) * u64::from(self.den);
        (samples * u64::from(self.num)).div_ceil(rate).max(1) as usize
    }

    /// The audio sample at `rate` Hz nearest to where `frame` starts.
    pub fn sample_at(self, frame: usize, rate: u32) -> u64 {
        let (num, den) = (u64::from(self.num), u64::from(self.den));
        (2 * frame as u64 * u64::from(rate) * den + num) / (2 * num)
    }

    /// Where `frame` starts, in whole milliseconds (the nearest).
    pub fn ms_at(self, frame: usize) -> u64 {
        let (num, den) = (u64::from(self.num), u64::from(self.den));
        (2 * frame as u64 * 1000 * den + num) / (2 * num)
    }

    /// The frame whose start is nearest to `ms` milliseconds.
    pub fn frame_at_ms(self, ms: u64) -> u64 {
        let (num, den) = (u64::from(self.num), u64::from(self.den));
        (ms * num + 500 * den) / (1000 * den)
    }

    /// The whole frames nearest to `seconds`.
    pub fn frames_in(self, seconds: f64) -> usize {
        (seconds * f64::from(self.num) / f64::from(self.den)).round() as usize
    }

    /// `frames` in seconds.
    pub fn seconds(self, frames: usize) -> f64 {
        frames as f64 * f64::from(self.den) / f64::from(self.num)
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl fmt::Display for Fps {
    /// `25`, or `30000/1001`: what keys hold and what ffmpeg reads.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.as_whole() {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "{}/{}", self.num, self.den),
        }
    }
}

impl std::str::FromStr for Fps {
    type Err = ();

    /// `25` or `30000/1001`.
    fn from_str(s: &str) -> Result<Fps, ()> {
        let (num, den) = s.split_once('/').unwrap_or((s, "1"));
        let number = |s: &str| s.trim().parse::<u32>().map_err(|_| ());
        Fps::new(number(num)?, number(den)?).ok_or(())
    }
}

/// A whole rate is a JSON number (as before rates could be fractions: `scene.json` and
/// job specs read the same), any other the string `"N/D"`.
impl Serialize for Fps {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_whole() {
            Some(n) => s.serialize_u32(n),
            None => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Fps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fps, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Whole(u32),
            Fraction(String),
        }
        let bad = || serde::de::Error::custom("not a frame rate (a number or \"N/D\")");
        match Written::deserialize(d)? {
            Written::Whole(n) => Fps::new(n, 1).ok_or_else(bad),
            Written::Fraction(s) => s.parse().map_err(|_| bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_rates_read_as_they_did() {
        let fps = Fps::whole(25);
        assert_eq!(fps.to_string(), "25");
        assert_eq!(serde_json::to_string(&fps).unwrap(), "25");
        assert_eq!(serde_json::from_str::<Fps>("25").unwrap(), fps);
        assert_eq!(fps.time_base(), "1/25");
        // The integer formulas rates were counted with before.
        for frame in [0usize, 1, 7, 1000, 123_457] {
            let f = frame as u64;
            assert_eq!(fps.sample_at(frame, 48_000), (2 * f * 48_000 + 25) / 50);
            assert_eq!(fps.ms_at(frame), (2 * f * 1000 + 25) / 50);
        }
        assert_eq!(fps.frames_covering(48_001, 48_000), 26);
        assert_eq!(fps.frames_covering(0, 48_000), 1);
    }

    #[test]
    fn ntsc_rates_are_exact_fractions() {
        let fps = Fps::ntsc(30);
        assert_eq!((fps.num(), fps.den()), (30000, 1001));
        assert_eq!(fps.to_string(), "30000/1001");
        assert_eq!(fps.time_base(), "1001/30000");
        assert_eq!(serde_json::to_string(&fps).unwrap(), "\"30000/1001\"");
        assert_eq!(serde_json::from_str::<Fps>("\"30000/1001\"").unwrap(), fps);
        assert_eq!("60000/2002".parse::<Fps>(), Ok(fps));
        assert_eq!("30/1".parse::<Fps>(), Ok(Fps::whole(30)));
        assert!("30/0".parse::<Fps>().is_err());
        // 30 frames at 29.97 last 1.001 s: 48 048 samples, 1001 ms.
        assert_eq!(fps.sample_at(30, 48_000), 48_048);
        assert_eq!(fps.ms_at(30), 1001);
        assert_eq!(fps.ms_at(1), 33);
        assert_eq!(fps.frame_at_ms(1001), 30);
        // One second of speech needs 30 frames (29.97 of them), not 29.
        assert_eq!(fps.frames_covering(48_000, 48_000), 30);
        assert_eq!(fps.frames_covering(48_048, 48_000), 30);
        assert_eq!(fps.frames_covering(48_049, 48_000), 31);
        assert_eq!(fps.frames_in(0.4), 12);
    }
}
