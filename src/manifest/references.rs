//! References to stills and shots where a picture or a video is used — an avatar's
//! `image = { still = "host" }`, a scene's `background = { shot = "city" }`, a b-roll
//! line's `shot` — and the diagnostic for a name that is not declared or of the wrong kind.
//! Apart from `shots.rs` (which reads the declarations, and needs the engines) so that the
//! scene settings can check them too.

use std::ops::Range;

use crate::diagnostic::{list, suggest, ConfigError, Doc};

/// The declared stills and shots, by name (sorted).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Names {
    pub stills: Vec<String>,
    pub shots: Vec<String>,
}

/// A reference written `{ still = "name" }` or `{ shot = "name" }`: Some((is_shot,
/// name)), or None when the value is not such a table.
pub(crate) fn reference(value: &toml::Value) -> Option<(bool, String)> {
    let table = value.as_table()?;
    if table.len() != 1 {
        return None;
    }
    let (key, name) = table.iter().next()?;
    let shot = match key.as_str() {
        "still" => false,
        "shot" => true,
        _ => return None,
    };
    Some((shot, name.as_str()?.to_string()))
}

/// "unknown still `x`" (or shot) at `span`, with a did-you-mean from the declared names,
/// or "`x` is a shot, not a still" when the other kind has that name.
pub(crate) fn unknown(
    doc: &Doc,
    span: Range<usize>,
    name: &str,
    shot: bool,
    names: &Names,
) -> ConfigError {
    let (what, other) = if shot {
        ("shot", "still")
    } else {
        ("still", "shot")
    };
    let (known, others) = if shot {
        (&names.shots, &names.stills)
    } else {
        (&names.stills, &names.shots)
    };
    if others.iter().any(|n| n == name) {
        let message = format!("`{name}` is a {other}, not a {what}");
        let help = match known.as_slice() {
            [] => format!("a {what} is needed here; declare one as [{what}s.<name>]"),
            names => format!("a {what} is needed here; declared {what}s: {}", list(names)),
        };
        return doc.err(span, message, format!("a {other}"), help);
    }
    let help = suggest(name, known, || match known.as_slice() {
        [] => {
            format!("no {what}s are declared; declare one as [{what}s.<name>] in Renderfile.toml")
        }
        names => format!("declared {what}s: {}", list(names)),
    });
    let message = format!("unknown {what} `{name}`");
    doc.err(span, message, format!("not a declared {what}"), help)
}
