//! How a scene shows its captions: `captions = "file"` (the default: `.srt` and `.vtt`
//! beside the video only) or `"burn"` (also drawn into the video), and how burned captions
//! look — `caption_size`, `caption_position`, `caption_colour`, `caption_outline`. Like the
//! other scene settings, `[defaults]` and `[[scene]]` write them (`settings.rs` reads them
//! with the others); this file holds their values and checks, so the settings stay short.
//!
//! Style keys are read and checked even when the scene does not burn (a typo should not
//! wait for the day it does), but only a burning scene carries them: a scene that does not
//! burn has no [`BurnedCaptions`], so its key is what it was before these keys existed.

use toml::Spanned;

use super::values::in_range;
use crate::diagnostic::{suggest, ConfigError, Doc};

/// `captions = "file" | "burn"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CaptionsMode {
    File,
    Burn,
}

impl CaptionsMode {
    const NAMES: [&'static str; 2] = ["file", "burn"];

    pub fn parse(doc: &Doc, v: &Spanned<String>) -> Result<Self, ConfigError> {
        match v.get_ref().trim() {
            "file" => Ok(CaptionsMode::File),
            "burn" => Ok(CaptionsMode::Burn),
            other => Err(choice_error(
                doc,
                v,
                "captions",
                other,
                &Self::NAMES,
                || {
                    "\"file\" publishes .srt and .vtt beside the video; \"burn\" also draws them into it"
                    .into()
                },
            )),
        }
    }
}

/// Where burned captions sit: `caption_position = "bottom" | "top"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptionPosition {
    Bottom,
    Top,
}

impl CaptionPosition {
    const NAMES: [&'static str; 2] = ["bottom", "top"];

    pub(crate) fn parse(doc: &Doc, v: &Spanned<String>) -> Result<Self, ConfigError> {
        match v.get_ref().trim() {
            "bottom" => Ok(CaptionPosition::Bottom),
            "top" => Ok(CaptionPosition::Top),
            other => Err(choice_error(
                doc,
                v,
                "caption_position",
                other,
                &Self::NAMES,
                || "captions sit at the \"bottom\" or the \"top\" of the frame".into(),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CaptionPosition::Bottom => "bottom",
            CaptionPosition::Top => "top",
        }
    }
}

/// "`key` must be one of ..., not `other`", with a did-you-mean when it is a typo.
fn choice_error(
    doc: &Doc,
    v: &Spanned<String>,
    key: &str,
    other: &str,
    names: &[&str],
    otherwise: impl FnOnce() -> String,
) -> ConfigError {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let message = format!("`{key}` must be {}, not \"{other}\"", quoted.join(" or "));
    let help = suggest(other, names, otherwise);
    doc.err(v.span(), message, "unknown choice", help)
}

/// Burned captions' text height (a row's height, as libass sizes fonts) as a fraction of
/// the frame's height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CaptionSize(pub f64);

impl CaptionSize {
    pub const DEFAULT: CaptionSize = CaptionSize(0.05);

    pub fn parse(doc: &Doc, v: &Spanned<f64>) -> Result<Self, ConfigError> {
        let help = "the text's height as a fraction of the frame's height, e.g. 0.05";
        in_range(doc, v, "`caption_size`", (0.02..=0.2, ""), help).map(CaptionSize)
    }
}

/// A scene's caption settings, as resolved (default, then `[defaults]`, then the scene).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CaptionSettings {
    pub mode: CaptionsMode,
    pub style: BurnedCaptions,
}

impl CaptionSettings {
    pub const DEFAULT: CaptionSettings = CaptionSettings {
        mode: CaptionsMode::File,
        style: BurnedCaptions {
            size: CaptionSize::DEFAULT.0,
            position: CaptionPosition::Bottom,
            colour: [0xff, 0xff, 0xff],
            outline: [0, 0, 0],
        },
    };

    /// The style to draw with, when the scene burns its captions.
    pub fn burned(&self) -> Option<BurnedCaptions> {
        (self.mode == CaptionsMode::Burn).then_some(self.style)
    }
}

/// How a scene that burns its captions draws them.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BurnedCaptions {
    /// The text's height as a fraction of the frame's height.
    pub size: f64,
    pub position: CaptionPosition,
    /// The text's colour, RGB.
    pub colour: [u8; 3],
    /// The outline's colour, RGB: it keeps the text readable over any face or background.
    pub outline: [u8; 3],
}

/// The error when a scene burns its captions but the font is missing: at its `captions`
/// key when the scene writes one (`written`), else at `anchor` (its name: the scene burns
/// because `[defaults]` says so). None when the scene does not burn or the font is there.
pub(crate) fn missing_font(
    doc: &Doc,
    settings: &CaptionSettings,
    written: Option<&Spanned<String>>,
    anchor: &std::ops::Range<usize>,
    desc: &str,
) -> Option<ConfigError> {
    settings.burned()?;
    let problem = crate::font::installed().err()?;
    let font = crate::font::NAME;
    let (span, message) = match written {
        Some(v) => (
            v.span(),
            format!("`captions = \"burn\"` needs the font {font}, but {problem}"),
        ),
        None => (
            anchor.clone(),
            format!(
                "{desc} burns its captions (`captions = \"burn\"` in [defaults]), which needs the font {font}, but {problem}"
            ),
        ),
    };
    Some(doc.err(span, message, "font not installed", crate::font::hint()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_burning_scene_carries_a_style() {
        let file = CaptionSettings::DEFAULT;
        assert_eq!(file.burned(), None);
        let burn = CaptionSettings {
            mode: CaptionsMode::Burn,
            ..file
        };
        assert_eq!(burn.burned(), Some(CaptionSettings::DEFAULT.style));
    }
}
