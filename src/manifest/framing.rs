//! The framing keys of a scene or `[defaults]`: `framing = "fit" | "fill" | "face"`,
//! `face_size` and `headroom`. They are read apart from each other — `[defaults]` may set
//! the face size for the scenes that choose face framing — and joined into one
//! [`Framing`] when the scene is resolved. What each framing does: `src/framing.rs`.

use toml::Spanned;

use super::values::in_range;
use crate::diagnostic::{suggest, ConfigError, Doc};
use crate::framing::Framing;

/// The three keys as resolved so far: the scene's over `[defaults]` over the built-in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FramingSettings {
    /// One of [`Framing::NAMES`].
    mode: &'static str,
    face_size: f64,
    headroom: f64,
}

impl FramingSettings {
    pub const DEFAULT: FramingSettings = FramingSettings {
        mode: "fit",
        face_size: Framing::DEFAULT_FACE_SIZE,
        headroom: Framing::DEFAULT_HEADROOM,
    };

    /// These settings overridden by the keys written; each bad value goes to `errors`.
    pub fn resolve(
        &self,
        doc: &Doc,
        framing: &Option<Spanned<String>>,
        face_size: &Option<Spanned<f64>>,
        headroom: &Option<Spanned<f64>>,
        errors: &mut Vec<ConfigError>,
    ) -> Self {
        let mut s = *self;
        if let Some(v) = framing {
            let name = v.get_ref().trim();
            match Framing::NAMES.iter().find(|n| **n == name) {
                Some(mode) => s.mode = mode,
                None => {
                    let help = suggest(name, &Framing::NAMES, || {
                        "`framing` is \"fit\" (the whole picture), \"fill\" (cropped to fill the frame) or \"face\" (framed on the face)".into()
                    });
                    let message = format!("unknown framing `{name}`");
                    errors.push(doc.err(v.span(), message, "unknown framing", help));
                }
            }
        }
        if let Some(v) = face_size {
            let help = "the face's height as a fraction of the frame's height, e.g. 0.4";
            match in_range(doc, v, "`face_size`", (0.05..=1.0, ""), help) {
                Ok(n) => s.face_size = n,
                Err(e) => errors.push(e),
            }
        }
        if let Some(v) = headroom {
            let help = "the space above the face as a fraction of the frame's height, e.g. 0.15";
            match in_range(doc, v, "`headroom`", (0.0..=0.5, ""), help) {
                Ok(n) => s.headroom = n,
                Err(e) => errors.push(e),
            }
        }
        s
    }

    pub fn framing(&self) -> Framing {
        match self.mode {
            "fill" => Framing::Fill,
            "face" => Framing::Face {
                size: self.face_size,
                headroom: self.headroom,
            },
            _ => Framing::Fit,
        }
    }
}
