//! The values a declaration may hold, each checked in one place that also says what is wrong
//! with it: numbers in range, a frame rate, a video size, a pause, a colour or background, a
//! device. Readers get the validated value or the one diagnostic for it.

use std::ops::RangeInclusive;
use std::path::Path;

use toml::Spanned;

use super::diagnostic::{ConfigError, Doc};
use super::{paths, Background};

/// An integer in `range`, e.g. `jobs` or espeak's `pitch`.
pub(crate) fn int_in(
    doc: &Doc,
    v: &Spanned<i64>,
    key: &str,
    range: RangeInclusive<i64>,
    help: &str,
) -> Result<u32, ConfigError> {
    let n = *v.get_ref();
    if range.contains(&n) {
        return Ok(n as u32);
    }
    let (lo, hi) = range.into_inner();
    Err(ConfigError::at(
        doc,
        v.span(),
        format!("`{key}` must be between {lo} and {hi}, not {n}"),
        "out of range",
    )
    .with_help(help))
}

/// Frames per second, 1..=120.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Fps(pub u32);

impl Fps {
    pub const DEFAULT: Fps = Fps(25);

    pub fn parse(doc: &Doc, v: &Spanned<i64>) -> Result<Self, ConfigError> {
        int_in(doc, v, "fps", 1..=120, "frames per second, e.g. 25 or 30").map(Fps)
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
            return Err(ConfigError::at(
                doc,
                v.span(),
                format!(
                    "`size` must be [width, height], not {n} number{}",
                    if n == 1 { "" } else { "s" }
                ),
                "expected two numbers",
            )
            .with_help("e.g. size = [1280, 720]"));
        };
        let dimension = |what: &str, n: &Spanned<i64>| {
            let value = *n.get_ref();
            let (message, label, help) = if !(16..=7680).contains(&value) {
                (
                    format!("{what} must be between 16 and 7680 pixels, not {value}"),
                    "out of range",
                    "e.g. size = [1280, 720] or [1920, 1080]".to_string(),
                )
            } else if value % 2 != 0 {
                (
                    format!("{what} must be an even number of pixels, not {value}"),
                    "odd",
                    format!("video encoders need even sizes; try {}", value - 1),
                )
            } else {
                return Ok(value as u32);
            };
            Err(ConfigError::at(doc, n.span(), message, label).with_help(help))
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
        let p = *v.get_ref();
        if p.is_finite() && (0.0..=30.0).contains(&p) {
            return Ok(Pause(p));
        }
        Err(ConfigError::at(
            doc,
            v.span(),
            format!("`pause` must be between 0 and 30 seconds, not {p}"),
            "out of range",
        )
        .with_help("seconds of silence between lines, e.g. 0.4"))
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
        Err(ConfigError::at(
            doc,
            v.span(),
            format!("`{s}` is not a colour"),
            "bad colour",
        )
        .with_help("write colours as \"#rrggbb\" (six hex digits), e.g. \"#1e2430\""))
    }
}

impl Background {
    /// A colour (`"#..."`) or a PNG/JPEG image in the content folder `root`; `base` as in
    /// [`paths::file`].
    pub(crate) fn parse(
        doc: &Doc,
        root: &Path,
        v: &Spanned<String>,
        base: Option<&str>,
    ) -> Result<Self, ConfigError> {
        if v.get_ref().trim_start().starts_with('#') {
            return Colour::parse(doc, v).map(|c| Background::Colour(c.0));
        }
        let hint = "a background is a \"#rrggbb\" colour or the path of a .png/.jpg image";
        let file = paths::file(doc, root, v, base).map_err(|e| {
            let help = e.help.clone().unwrap_or_default();
            e.with_help(format!("{help}; {hint}"))
        })?;
        paths::image_ext(doc, v, &file)?;
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
                .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                .and_then(|n| n.parse::<u32>().ok())
                .map(|n| format!("cuda:{n}")),
        };
        valid.map(Device).ok_or_else(|| {
            ConfigError::at(
                doc,
                v.span(),
                format!("unknown device `{s}`"),
                "unknown device",
            )
            .with_help("use \"auto\", \"cpu\" or \"cuda:N\" (e.g. \"cuda:0\")")
        })
    }
}
