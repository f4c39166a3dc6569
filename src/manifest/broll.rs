//! A b-roll line in a scene's `lines`: `{ shot = "city", seconds = 4 }` shows the shot
//! `[shots.city]` for four seconds instead of a talking head, over silence (the scene's
//! captions have no cue for it; `stage/broll.rs` says how it is made). Read here, on its
//! own, so the scene's line parsing only hands a table with a `shot` key over.

use serde::Deserialize;
use toml::Spanned;

use super::references;
use super::shots::Generated;
use crate::diagnostic::{ConfigError, Doc};

/// The keys of a b-roll line.
pub(crate) const KEYS: &[&str] = &["shot", "seconds"];

/// A b-roll line: which shot, for how long.
#[derive(Clone, Debug, PartialEq)]
pub struct BRoll {
    /// A key of `Manifest::generated.shots`.
    pub shot: String,
    pub seconds: f64,
}

#[derive(Deserialize)]
struct RawBRoll {
    shot: Spanned<String>,
    seconds: Option<Spanned<f64>>,
}

/// Whether a line table (its keys) is a b-roll line.
pub(crate) fn is_broll<'a>(mut keys: impl Iterator<Item = &'a str>) -> bool {
    keys.any(|k| k == "shot")
}

/// The b-roll line `table` (`line` says which, "line 2 of scene `news`"): Err with its
/// problems.
pub(crate) fn line(
    doc: &Doc,
    table: Spanned<toml::de::DeValue<'_>>,
    line: &str,
    generated: &Generated,
) -> Result<BRoll, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let raw: RawBRoll = match super::table::de(doc, table, &format!("in {line}")) {
        Ok(raw) => raw,
        Err(e) => return Err(vec![e]),
    };
    let name = raw.shot.get_ref().trim();
    if !generated.shots.contains_key(name) {
        let names = generated.names();
        errors.push(references::unknown(
            doc,
            raw.shot.span(),
            name,
            true,
            &names,
        ));
    }
    let seconds = match &raw.seconds {
        None => generated.shots.get(name).map_or(0.0, |s| s.seconds),
        Some(s) if (0.04..=600.0).contains(s.get_ref()) => *s.get_ref(),
        Some(s) => {
            let msg = format!(
                "`seconds` of {line} must be between 0.04 and 600, not {}",
                s.get_ref()
            );
            let help = "how long the b-roll shows; a shorter shot is looped, a longer one cut";
            errors.push(doc.err(s.span(), msg, "out of range", help));
            0.0
        }
    };
    if errors.is_empty() {
        Ok(BRoll {
            shot: name.to_string(),
            seconds,
        })
    } else {
        Err(errors)
    }
}
