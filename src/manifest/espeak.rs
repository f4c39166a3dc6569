//! The espeak engine's voice table, `[voices.<name>]`: espeak-ng's
//! `-v <language>[+<variant>] -p <pitch> -s <rate>`. Its keys, parsing and checks live here,
//! apart from the rest of Renderfile.toml: each engine's table is one file of the manifest
//! (`manifest/<engine>.rs`), next to the diagnostics it needs, while the engine that runs it
//! (`engine/espeak.rs`) stays free of TOML and depends only on the resolved values.

use serde::Deserialize;
use toml::Spanned;

use super::values::in_range;
use super::{Voice, VoiceEngine};
use crate::diagnostic::{did_you_mean, ConfigError, Doc};

/// The keys of [`RawVoice`].
pub(crate) const KEYS: &[&str] = &[
    "engine", "language", "variant", "pitch", "rate", "samples", "avatar",
];

/// `[voices.<name>]` as written.
#[derive(Deserialize)]
pub(crate) struct RawVoice {
    pub engine: Option<Spanned<String>>,
    pub language: Option<Spanned<String>>,
    variant: Option<Spanned<String>>,
    pitch: Option<Spanned<i64>>,
    rate: Option<Spanned<i64>>,
    /// Not espeak's: the voice's face, checked in `renderfile.rs`.
    pub avatar: Option<Spanned<String>>,
    /// Reference recordings, for an engine that clones voices (`manifest/command.rs`).
    pub samples: Option<Spanned<Vec<Spanned<String>>>>,
}

impl RawVoice {
    /// The espeak-only keys it gives, with their spans (a command engine's voice has none).
    pub fn espeak_keys(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut keys = Vec::new();
        if let Some(v) = &self.variant {
            keys.push(("variant", v.span()));
        }
        if let Some(p) = &self.pitch {
            keys.push(("pitch", p.span()));
        }
        if let Some(r) = &self.rate {
            keys.push(("rate", r.span()));
        }
        keys
    }
}

/// The voice `name`, or None with every problem in `errors`.
pub(crate) fn espeak_voice(
    doc: &Doc,
    name: &str,
    raw: RawVoice,
    errors: &mut Vec<ConfigError>,
) -> Option<Voice> {
    let before = errors.len();
    if let Some(samples) = &raw.samples {
        let message = format!("voice `{name}` gives `samples` but espeak-ng cannot clone a voice");
        let help = "samples are for an engine that clones voices: set `engine` to one declared as [engines.<name>] (see engines/xtts)";
        errors.push(doc.err(samples.span(), message, "not used by espeak", help));
    }
    let mut word = |v: &Option<Spanned<String>>, key: &str| {
        let v = v.as_ref()?;
        let s = v.get_ref().trim();
        let problem = if s.is_empty() || s.contains(char::is_whitespace) || s.contains('+') {
            let help = if key == "language" {
                "an espeak-ng voice such as \"en-us\", \"en-gb\" or \"fr\" (`espeak-ng --voices` lists them)"
            } else {
                "an espeak-ng variant such as \"m3\" or \"f2\" (`espeak-ng --voices=variant` lists them)"
            };
            let message = format!("`{key}` of voice `{name}` is not an espeak-ng name: `{s}`");
            doc.err(v.span(), message, "invalid", help)
        } else if let Some((message, help)) = unknown_to_espeak(s, key) {
            doc.err(v.span(), message, "unknown to espeak-ng", help)
        } else {
            return Some(s.to_string());
        };
        errors.push(problem);
        None
    };
    let language = word(&raw.language, "language").unwrap_or_else(|| "en-us".to_string());
    let variant = word(&raw.variant, "variant");
    let mut number = |v: Option<Spanned<i64>>, key, range, default, help| match v {
        None => Some(default),
        Some(v) => in_range(doc, &v, key, (range, ""), help)
            .map(|n| n as u32)
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let pitch = number(
        raw.pitch,
        "`pitch`",
        0..=99,
        50,
        "espeak-ng pitch, 50 is normal",
    );
    let rate = number(
        raw.rate,
        "`rate`",
        80..=450,
        165,
        "words per minute, 165 is normal",
    );
    let (Some(pitch), Some(rate)) = (pitch, rate) else {
        return None;
    };
    (errors.len() == before).then(|| Voice {
        name: name.to_string(),
        engine: VoiceEngine::Espeak {
            language,
            variant,
            pitch,
            rate,
        },
        avatar: raw.avatar.map(Spanned::into_inner),
    })
}

/// (message, help) when the installed espeak-ng does not know `name` as a `key`
/// ("language" or "variant"); None when it does, or when espeak-ng cannot be asked.
fn unknown_to_espeak(name: &str, key: &str) -> Option<(String, String)> {
    let names = crate::toolchain::espeak_names()?;
    let (known, list) = if key == "language" {
        (&names.languages, "espeak-ng --voices")
    } else {
        (&names.variants, "espeak-ng --voices=variant")
    };
    if known.contains(name) || (key == "language" && names.voice_files.contains(name)) {
        return None;
    }
    let help = match did_you_mean(name, known.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{near}`? `{list}` lists them"),
        None => format!("`{list}` lists them"),
    };
    Some((format!("espeak-ng has no {key} `{name}`"), help))
}
