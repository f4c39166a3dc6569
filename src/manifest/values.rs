//! The values a declaration may hold, each checked in one place that also says what is wrong
//! with it: numbers in range, a frame rate, a video size, a pause, a colour or background, a
//! device. Readers get the validated value or the one diagnostic for it. [`Declared`] is what
//! the checks look things up in: the declared voices and avatars, and the media checks of the
//! files that keys name.

use std::fmt::Display;
use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;

use toml::Spanned;

use super::{paths, Background, CheckMedia, Media, MediaNote, SourceFile, RENDERFILE_NAME};
use crate::diagnostic::{unknown_name, ConfigError, Doc, Warning};

/// What Renderfile.toml declares that settings and lines refer to, and how the files they
/// name are checked.
pub(crate) struct Declared<'a> {
    /// The canonical content folder.
    pub root: PathBuf,
    /// Checks the contents of the files that keys name.
    pub media: &'a dyn CheckMedia,
    /// The names under [voices] and [avatars] whose tables could be read (sorted), valid or
    /// not: a bad value inside a voice is reported there, not again where it is used.
    pub voices: Vec<String>,
    pub avatars: Vec<String>,
    /// The stills and shots, which a background may name.
    pub generated: super::references::Names,
}

impl Declared<'_> {
    /// The contents of `file`, named at `span` in `doc`, checked as `media`: Err = the
    /// problem at `span`; Ok(Some) = a warning there.
    pub fn check_media(
        &self,
        doc: &Doc,
        span: Range<usize>,
        file: &SourceFile,
        media: Media,
    ) -> Result<Option<Warning>, ConfigError> {
        let at = |note: MediaNote| doc.err(span.clone(), note.message, note.label, note.help);
        match self.media.check(file, media) {
            Ok(note) => Ok(note.map(|note| Warning(at(note)))),
            Err(problem) => Err(at(problem)),
        }
    }

    /// The error if `v` is not a declared voice or avatar (`what`).
    pub fn check(&self, doc: &Doc, what: &str, v: &Spanned<String>) -> Result<(), ConfigError> {
        let names = if what == "voice" {
            &self.voices
        } else {
            &self.avatars
        };
        if names.contains(v.get_ref()) {
            return Ok(());
        }
        let file = if doc.name == RENDERFILE_NAME {
            ""
        } else {
            " in Renderfile.toml"
        };
        let hint = format!("{what}s are declared{file} as [{what}s.<name>]");
        Err(unknown_name(doc, v, what, names, &hint))
    }
}

/// `v` if it lies in `range`: "`{what}` must be between {lo} and {hi}{unit}, not {v}".
pub(crate) fn in_range<T: PartialOrd + Display + Copy>(
    doc: &Doc,
    v: &Spanned<T>,
    what: &str,
    (range, unit): (RangeInclusive<T>, &str),
    help: &str,
) -> Result<T, ConfigError> {
    let n = *v.get_ref();
    if range.contains(&n) {
        return Ok(n);
    }
    let (lo, hi) = range.into_inner();
    let message = format!("{what} must be between {lo} and {hi}{unit}, not {n}");
    Err(doc.err(v.span(), message, "out of range", help))
}

/// Frames per second, from 1 to 120: a whole number, 23.976, 29.97, 59.94 or 119.88 (the
/// NTSC rates, exactly `N×1000/1001`), or a string `"N/D"` (`"30000/1001"`), held as the
/// exact fraction (`crate::fps`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Fps(pub crate::fps::Fps);

/// What a float `fps` may be besides a whole number: the NTSC rates, as people write them.
const NTSC: [(f64, u32); 7] = [
    (23.976, 24),
    (23.98, 24),
    (29.97, 30),
    (47.952, 48),
    (47.95, 48),
    (59.94, 60),
    (119.88, 120),
];

impl Fps {
    pub const DEFAULT: Fps = Fps(crate::fps::Fps::whole(25));

    const HELP: &'static str = "frames per second from 1 to 120: a whole number (e.g. 25 or 30), \
        29.97 or 59.94 (exactly 30000/1001 and 60000/1001), or a fraction as a string, \
        e.g. \"30000/1001\"";

    pub fn parse(doc: &Doc, v: &Spanned<toml::Value>) -> Result<Self, ConfigError> {
        use crate::fps::Fps as Rate;
        let at = |message: String, label: &str, help: &str| doc.err(v.span(), message, label, help);
        let err = |message: String, label: &str| at(message, label, Self::HELP);
        let rate = match v.get_ref() {
            toml::Value::Integer(n) => {
                let n = Spanned::new(v.span(), *n);
                let n = in_range(doc, &n, "`fps`", (1..=120, ""), Self::HELP)?;
                return Ok(Fps(Rate::whole(n as u32)));
            }
            toml::Value::Float(x) if x.fract() == 0.0 && (1.0..=120.0).contains(x) => {
                Rate::whole(*x as u32)
            }
            toml::Value::Float(x) => match NTSC.iter().find(|(v, _)| v == x) {
                Some(&(_, n)) => Rate::ntsc(n),
                None if !(1.0..=120.0).contains(x) => {
                    let message = format!("`fps` must be between 1 and 120, not {x}");
                    return Err(err(message, "out of range"));
                }
                None => {
                    let message =
                        format!("`fps` = {x} is not a frame rate render can hold exactly");
                    let help = format!(
                        "write a whole number, 23.976, 29.97, 59.94 or 119.88, or the exact \
                         fraction as a string, e.g. fps = \"{}/1000\"",
                        (x * 1000.0).round()
                    );
                    return Err(at(message, "not exact", &help));
                }
            },
            toml::Value::String(s) => match s.parse::<Rate>() {
                Ok(rate) => rate,
                Err(()) => {
                    let message = format!("`{s}` is not a frame rate");
                    return Err(err(message, "not a frame rate"));
                }
            },
            other => {
                let message = format!(
                    "`fps` must be a number or a string \"N/D\", not {} {}",
                    if other.type_str() == "array" {
                        "an"
                    } else {
                        "a"
                    },
                    other.type_str()
                );
                return Err(err(message, "not a frame rate"));
            }
        };
        let (num, den) = (u64::from(rate.num()), u64::from(rate.den()));
        if num < den || num > 120 * den {
            let message = format!("`fps` must be between 1 and 120, not {rate}");
            return Err(err(message, "out of range"));
        }
        if den > 1_000_000 {
            let message = format!("`fps` = {rate} has too large a denominator");
            let help = "a frame rate's fraction may have a denominator up to 1000000, \
                e.g. \"30000/1001\"";
            return Err(at(message, "too fine", help));
        }
        Ok(Fps(rate))
    }
}

/// `size = [width, height]`: even numbers (video encoders need them) in 16..=7680.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    pub const DEFAULT: Size = Size {
        width: 1280,
        height: 720,
    };

    pub fn parse(doc: &Doc, v: &Spanned<Vec<Spanned<i64>>>) -> Result<Self, ConfigError> {
        let [w, h] = v.get_ref().as_slice() else {
            let n = v.get_ref().len();
            let s = if n == 1 { "" } else { "s" };
            let message = format!("`size` must be [width, height], not {n} number{s}");
            return Err(doc.err(
                v.span(),
                message,
                "expected two numbers",
                "e.g. size = [1280, 720]",
            ));
        };
        let dimension = |what: &str, n: &Spanned<i64>| {
            let help = "e.g. size = [1280, 720] or [1920, 1080]";
            let value = in_range(doc, n, what, (16..=7680, " pixels"), help)?;
            if value % 2 == 0 {
                return Ok(value as u32);
            }
            let message = format!("{what} must be an even number of pixels, not {value}");
            let help = format!("video encoders need even sizes; try {}", value - 1);
            Err(doc.err(n.span(), message, "odd", help))
        };
        Ok(Size {
            width: dimension("width", w)?,
            height: dimension("height", h)?,
        })
    }
}

/// Seconds of silence between lines, 0..=30.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pause(pub f64);

impl Pause {
    pub const DEFAULT: Pause = Pause(0.4);

    pub fn parse(doc: &Doc, v: &Spanned<f64>) -> Result<Self, ConfigError> {
        let help = "seconds of silence between lines, e.g. 0.4";
        in_range(doc, v, "`pause`", (0.0..=30.0, " seconds"), help).map(Pause)
    }
}

/// `loudness = -14`: the integrated loudness every published video is normalised to, in
/// LUFS, -70..=-5 (what ffmpeg's loudnorm accepts).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Loudness(pub f64);

impl Loudness {
    pub const DEFAULT: Loudness = Loudness(-14.0);

    pub fn parse(doc: &Doc, v: &Spanned<f64>) -> Result<Self, ConfigError> {
        let help =
            "integrated loudness in LUFS, e.g. -14 (streaming), -16 (podcasts) or -23 (broadcast)";
        in_range(doc, v, "`loudness`", (-70.0..=-5.0, " LUFS"), help).map(Loudness)
    }
}

/// `true_peak = -1`: the ceiling of a published video's true peak, in dBTP, -8..=0 (the
/// limiter is set 1 dB lower, to loudnorm's floor of -9, for the AAC encoder's overshoot).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TruePeak(pub f64);

impl TruePeak {
    pub const DEFAULT: TruePeak = TruePeak(-1.0);

    pub fn parse(doc: &Doc, v: &Spanned<f64>) -> Result<Self, ConfigError> {
        let help = "the highest true peak in dBTP, e.g. -1 or -2";
        in_range(doc, v, "`true_peak`", (-8.0..=0.0, " dBTP"), help).map(TruePeak)
    }
}

/// `"#rrggbb"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Colour(pub [u8; 3]);

impl Colour {
    pub const DEFAULT_BACKGROUND: Colour = Colour([0x1e, 0x24, 0x30]);

    pub fn parse(doc: &Doc, v: &Spanned<String>) -> Result<Self, ConfigError> {
        let s = v.get_ref().trim();
        let hex = s.strip_prefix('#').unwrap_or(s);
        if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
            return Ok(Colour([byte(0), byte(2), byte(4)]));
        }
        let help = "write colours as \"#rrggbb\" (six hex digits), e.g. \"#1e2430\"";
        Err(doc.err(
            v.span(),
            format!("`{s}` is not a colour"),
            "bad colour",
            help,
        ))
    }
}

impl Background {
    /// A colour (`"#..."`) or a PNG/JPEG image in the content folder, whose contents are
    /// checked; `base` as in [`paths::file`].
    pub(crate) fn parse(
        doc: &Doc,
        declared: &Declared<'_>,
        v: &Spanned<toml::Value>,
        base: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let v = match v.get_ref() {
            toml::Value::String(text) => Spanned::new(v.span(), text.clone()),
            value => {
                let generated = &declared.generated;
                return match super::references::reference(value) {
                    Some((false, name)) if generated.stills.contains(&name) => {
                        Ok(Background::Still(name))
                    }
                    Some((true, name)) if generated.shots.contains(&name) => {
                        Ok(Background::Shot(name))
                    }
                    Some((shot, name)) => Err(super::references::unknown(
                        doc,
                        v.span(),
                        &name,
                        shot,
                        generated,
                    )),
                    None => {
                        let message = "`background` must be a colour, a picture, a still or a shot";
                        let help = "e.g. \"#1e2430\", \"backgrounds/stars.jpg\", { still = \"studio\" } or { shot = \"city\" }";
                        Err(doc.err(v.span(), message, "not a background", help))
                    }
                };
            }
        };
        let v = &v;
        if v.get_ref().trim_start().starts_with('#') {
            return Colour::parse(doc, v).map(|c| Background::Colour(c.0));
        }
        let file = paths::file(doc, &declared.root, v, base).map_err(|mut e| {
            let hint = "a background is a \"#rrggbb\" colour or the path of a .png/.jpg image";
            e.help = Some(format!("{}; {hint}", e.help.unwrap_or_default()));
            e
        })?;
        paths::image_ext(doc, v, &file)?;
        declared.check_media(doc, v.span(), &file, Media::BackgroundImage)?;
        Ok(Background::Image(file))
    }
}

/// Where neural models run: "auto", "cpu" or "cuda:N" (`"cuda"` = `"cuda:0"`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Device(pub String);

impl Device {
    pub fn parse(doc: &Doc, v: &Spanned<String>) -> Result<Self, ConfigError> {
        let s = v.get_ref().trim();
        let valid = match s {
            "auto" | "cpu" => Some(s.to_string()),
            "cuda" => Some("cuda:0".to_string()),
            _ => s
                .strip_prefix("cuda:")
                .filter(|n| n.chars().all(|c| c.is_ascii_digit()))
                .and_then(|n| n.parse::<u32>().ok())
                .map(|n| format!("cuda:{n}")),
        };
        let help = "use \"auto\", \"cpu\" or \"cuda:N\" (e.g. \"cuda:0\")";
        let message = format!("unknown device `{s}`");
        valid
            .map(Device)
            .ok_or_else(|| doc.err(v.span(), message, "unknown device", help))
    }
}
