//! A b-roll line: a scene line that shows a shot instead of a talking head. In `lines`,
//! `{ shot = "city", seconds = 4 }` shows `[shots.city]` for four seconds over silence, and
//! `{ shot = "city", text = "Meanwhile…", voice = "narrator" }` is a voice-over: the words
//! said over the shot, which shows for as long as they take (captioned like any line;
//! `audio = "…"` plays a recording instead). In a script file the same lines are
//! `[shot: city, 4s]` and `[shot: city, voice: narrator] Meanwhile…`. A b-roll line needs
//! no avatar: a scene of b-roll lines alone has none (`stage/broll.rs` says how it is
//! made). Read here, on its own, so the scene's line parsing only hands a table with a
//! `shot` key, or a script line starting `[shot:`, over.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::references;
use super::shots::Generated;
use crate::diagnostic::{ConfigError, Doc};

/// The keys of a b-roll line.
pub(crate) const KEYS: &[&str] = &["shot", "seconds", "text", "voice", "audio"];
/// How a b-roll line starts in a script file: `[shot: city]`.
const IN_SCRIPT: &str = "shot:";
/// What a script's b-roll line looks like, for hints.
const SCRIPT_EXAMPLE: &str =
    "[shot: city] for the shot's own length, [shot: city, 4s] for four seconds, [shot: city, voice: guest] Words said over it.";

/// A b-roll line: which shot, for how long.
#[derive(Clone, Debug, PartialEq)]
pub struct BRoll {
    /// A key of `Manifest::generated.shots`.
    pub shot: String,
    /// How long it shows: Some(seconds) over silence, or None for a voice-over, which
    /// lasts as long as the line's speech (its `text` or `audio`).
    pub seconds: Option<f64>,
}

/// A b-roll line as written: the line, and the words and voice of a voice-over (which
/// the scene checks like any line's).
pub(crate) struct Written {
    pub broll: BRoll,
    pub text: Option<Spanned<String>>,
    pub voice: Option<Spanned<String>>,
    pub audio: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct RawBRoll {
    shot: Spanned<String>,
    seconds: Option<Spanned<f64>>,
    text: Option<Spanned<String>>,
    voice: Option<Spanned<String>>,
    audio: Option<Spanned<String>>,
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
) -> Result<Written, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let raw: RawBRoll = match super::table::de(doc, table, &format!("in {line}")) {
        Ok(raw) => raw,
        Err(e) => return Err(vec![e]),
    };
    let name = raw.shot.get_ref().trim();
    let shot = Spanned::new(raw.shot.span(), name.to_string());
    errors.extend(known(doc, &shot, generated));
    let seconds = raw.seconds.as_ref().map(|s| (s.span(), *s.get_ref()));
    let spoken = (raw.text.as_ref().or(raw.audio.as_ref())).map(|s| s.span());
    let voice = raw.voice.as_ref().map(|v| v.span());
    let length = Length {
        line,
        seconds,
        spoken,
        voice,
    };
    let seconds = length.check(doc, &shot, generated, &mut errors);
    if errors.is_empty() {
        Ok(Written {
            broll: BRoll {
                shot: name.to_string(),
                seconds,
            },
            text: raw.text,
            voice: raw.voice,
            audio: raw.audio,
        })
    } else {
        Err(errors)
    }
}

/// Whether a script line's brackets (`inside` them) start a b-roll line, `[shot: city]`,
/// rather than name a voice.
pub(crate) fn is_script_broll(inside: &str) -> bool {
    inside.trim_start().starts_with(IN_SCRIPT)
}

/// A script line's b-roll, `[shot: city, 4s]` (`inside` the brackets, which starts at
/// byte `at` of `script`; `spoken`: where the words after `]` are, if any): the b-roll and
/// the voice its `voice:` names.
pub(crate) fn script_line(
    script: &Doc,
    at: usize,
    inside: &str,
    spoken: Option<Range<usize>>,
    line: &str,
    generated: &Generated,
) -> Result<(BRoll, Option<Spanned<String>>), Vec<ConfigError>> {
    let rest = inside.trim_start();
    let rest = rest.strip_prefix(IN_SCRIPT).unwrap_or(rest);
    let mut errors = Vec::new();
    // Each comma-separated part, trimmed, with where it starts in the script.
    let mut start = at + inside.len() - rest.len();
    let mut parts = Vec::new();
    for part in rest.split(',') {
        let trimmed = part.trim();
        let from = start + part.len() - part.trim_start().len();
        parts.push(Spanned::new(
            from..from + trimmed.len(),
            trimmed.to_string(),
        ));
        start += part.len() + 1;
    }
    let mut parts = parts.into_iter();
    let shot = parts.next().expect("split gives one part at least");
    if shot.get_ref().is_empty() {
        let help = format!("name the shot to show: {SCRIPT_EXAMPLE}");
        let span = shot.span().start..shot.span().start + 1;
        errors.push(script.err(span, "a b-roll line without its shot", "which shot?", help));
        return Err(errors);
    }
    errors.extend(known(script, &shot, generated));
    let (mut seconds, mut voice) = (None, None);
    for part in parts {
        let text = part.get_ref();
        if let Some(name) = text.strip_prefix("voice:") {
            let name_at = part.span().end - name.trim_start().len();
            let name = name.trim();
            voice = Some(Spanned::new(
                name_at..name_at + name.len(),
                name.to_string(),
            ));
            continue;
        }
        let number = text.strip_suffix('s').unwrap_or(text).trim_end();
        match number.parse::<f64>() {
            Ok(n) if n.is_finite() => seconds = Some((part.span(), n)),
            _ => {
                let msg = format!("`{text}` is not a b-roll setting");
                let help = format!(
                    "after the shot come its seconds (`4s`) or, for a line with words, their voice (`voice: guest`): {SCRIPT_EXAMPLE}"
                );
                errors.push(script.err(part.span(), msg, "not seconds or a voice", help));
            }
        }
    }
    let length = Length {
        line,
        seconds,
        spoken,
        voice: voice.as_ref().map(|v| v.span()),
    };
    let seconds = length.check(script, &shot, generated, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let broll = BRoll {
        shot: shot.into_inner(),
        seconds,
    };
    Ok((broll, voice))
}

/// "unknown shot `x`" (or "`x` is a still, not a shot") at `shot`, when it is not declared.
fn known(doc: &Doc, shot: &Spanned<String>, generated: &Generated) -> Option<ConfigError> {
    let name = shot.get_ref();
    (!generated.shots.contains_key(name))
        .then(|| references::unknown(doc, shot.span(), name, true, &generated.names()))
}

/// What sets a b-roll line's length, where each is written: its `seconds`, the words said
/// over it (its `text` or `audio`), and their `voice`.
struct Length<'a> {
    /// "line 2 of scene `news`"
    line: &'a str,
    seconds: Option<(Range<usize>, f64)>,
    spoken: Option<Range<usize>>,
    voice: Option<Range<usize>>,
}

impl Length<'_> {
    /// The b-roll's seconds: its own, else the shot's; None for a voice-over (as long as its
    /// words). A voice-over with seconds, or a voice without words, is an error.
    fn check(
        &self,
        doc: &Doc,
        shot: &Spanned<String>,
        generated: &Generated,
        errors: &mut Vec<ConfigError>,
    ) -> Option<f64> {
        let line = self.line;
        if let (Some(voice), None) = (&self.voice, &self.spoken) {
            let msg = format!("{line} is a silent b-roll with a voice");
            let help = "give it words for the voice to say over the shot (`text`, or after `]` in a script), or remove the voice";
            errors.push(doc.err(voice.clone(), msg, "nothing to say", help));
        }
        match (&self.seconds, &self.spoken) {
            (None, Some(_)) => None,
            (None, None) => Some(
                generated
                    .shots
                    .get(shot.get_ref())
                    .map_or(0.0, |s| s.seconds),
            ),
            (Some((at, _)), Some(_)) => {
                let msg = format!("{line} is a b-roll with both words and seconds");
                let help = "a voice-over shows its shot for as long as its words take: remove the seconds, or give the words a line of their own";
                errors.push(doc.err(at.clone(), msg, "as long as its words", help));
                None
            }
            (Some((_, s)), None) if (0.04..=600.0).contains(s) => Some(*s),
            (Some((at, s)), None) => {
                let msg = format!("`seconds` of {line} must be between 0.04 and 600, not {s}");
                let help = "how long the b-roll shows; a shorter shot is looped, a longer one cut";
                errors.push(doc.err(at.clone(), msg, "out of range", help));
                None
            }
        }
    }
}
