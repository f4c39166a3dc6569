//! [`ConfigError`]: a problem in the content folder's declarations, pointing at the file (and,
//! where there is one, the exact TOML value) that caused it, with a hint on how to fix it.
//!
//! Rendered with miette's graphical handler it looks like this:
//!
//! ```text
//!   × unknown key `pich` in voice `narrator`
//!    ╭─[Renderfile.toml:2:1]
//!  1 │ [voices.narrator]
//!  2 │ pich = 3
//!    · ──┬─
//!    ·   ╰── unknown key
//!    ╰────
//!   help: did you mean `pitch`?
//! ```

use std::ops::Range;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan,
};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// One problem in `Renderfile.toml`, a `project.toml` or a script file.
///
/// Every error names its file (`source_code`'s name, relative to the content folder, e.g.
/// `projects/demo/project.toml`). Errors about a TOML value also carry its span (the primary
/// label), from which miette prints `[file:line:col]`; errors without one (an unreadable
/// file, say) name the file in `message` itself.
#[derive(Clone, Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct ConfigError {
    /// What is wrong, in one line.
    pub message: String,
    /// The file, named relative to the content folder, with its text (shared by all the
    /// errors in one file; the `Arc` also keeps `Result<_, ConfigError>` small).
    #[source_code]
    pub source_code: Arc<NamedSource<String>>,
    /// The offending value (primary) and any related places ("first defined here").
    #[label(collection)]
    pub labels: Vec<LabeledSpan>,
    /// How to fix it.
    #[help]
    pub help: Option<String>,
}

impl ConfigError {
    /// An error about the whole of `file` (no location inside it). `message` should name
    /// the file, since nothing else will.
    pub fn in_file(file: impl AsRef<str>, message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
            source_code: Arc::new(NamedSource::new(file, String::new())),
            labels: Vec::new(),
            help: None,
        }
    }

    /// Adds (or replaces) the hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label, e.g. "first defined here".
    pub(crate) fn with_related(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        let len = self.source_code.inner().len();
        let span = span.start.min(len)..span.end.min(len);
        self.labels
            .push(LabeledSpan::new_with_span(Some(label.into()), span));
        self
    }

    /// The offending value's byte span, if the error has one.
    pub fn span(&self) -> Option<SourceSpan> {
        let primary = self.labels.iter().find(|l| l.primary());
        primary.or(self.labels.first()).map(|l| *l.inner())
    }

    /// `file:line:col` (1-based, in characters), or just `file` when there is no location.
    pub fn location(&self) -> String {
        let file = self.source_code.name();
        match self.span() {
            Some(span) => {
                let (line, col) = line_col(self.source_code.inner(), span.offset());
                format!("{file}:{line}:{col}")
            }
            None => file.to_string(),
        }
    }
}

/// A [`ConfigError`] shown as a warning (`⚠`): render goes on, and says what it did about
/// it (e.g. which of several faces it follows).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Warning(pub ConfigError);

impl Diagnostic for Warning {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Warning)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.0.help()
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.0.labels()
    }
}

/// Collects the problems of a document: `errors.keep(r)` records `r`'s error, if any, and
/// returns its value.
pub(crate) trait Errors {
    fn keep<T>(&mut self, r: Result<T, ConfigError>) -> Option<T>;
}

impl Errors for Vec<ConfigError> {
    fn keep<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.push(e)).ok()
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    (line, col)
}

/// Renders `err` the way `render` prints it: miette's graphical report, without colour, e.g.
/// `× unknown key ...`, `╭─[projects/demo/project.toml:3:5]`, the source lines, `help: ...`.
pub fn render_report(err: &ConfigError) -> String {
    let mut out = String::new();
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false);
    if handler.render_report(&mut out, err).is_err() {
        // Cannot really happen (spans are clamped to the text); fall back to plain text.
        let help = err.help.as_ref().map(|h| format!("\n  help: {h}"));
        out = format!(
            "{}: {}{}",
            err.location(),
            err.message,
            help.unwrap_or_default()
        );
    }
    out
}

/// A file being checked: its name relative to the content folder, and its text.
pub(crate) struct Doc {
    pub name: String,
    pub text: String,
    source: Arc<NamedSource<String>>,
}

impl Doc {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let (name, text) = (name.into(), text.into());
        Doc {
            source: Arc::new(NamedSource::new(&name, text.clone())),
            name,
            text,
        }
    }

    /// An error at `span` (byte offsets), with a short `label` under the value and a `help`
    /// ("" = none).
    pub fn err(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) -> ConfigError {
        let len = self.text.len();
        let start = span.start.min(len);
        let (label, help) = (label.into(), help.into());
        ConfigError {
            message: message.into(),
            source_code: self.source.clone(),
            labels: vec![LabeledSpan::new_primary_with_span(
                (!label.is_empty()).then_some(label),
                start..span.end.clamp(start, len),
            )],
            help: (!help.is_empty()).then_some(help),
        }
    }

    /// A TOML syntax error from the parser.
    pub fn syntax_error(&self, err: &toml::de::Error) -> ConfigError {
        let span = err.span().unwrap_or(0..0);
        // Its span is the repeated key, a word that would read as unquoted text below.
        if err.message().trim() == "duplicate key" {
            return self.duplicate(span);
        }
        let word = self.text.get(span.clone()).unwrap_or_default();
        // toml reads a bare word by its first letters: `intro` is an "invalid float" (inf),
        // `true_x` an "invalid boolean". Say what it is.
        if word.starts_with(|c: char| c.is_ascii_alphabetic()) && is_identifier(word) {
            let help = format!("put text in double quotes: \"{word}\"");
            let message = format!("TOML syntax error: unquoted text `{word}`");
            return self.err(span, message, "not quoted", help);
        }
        // A control character written as is: toml says that its string or comment is bad.
        if let Some(c) = (self.text.get(span.start..).and_then(|t| t.chars().next()))
            .filter(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            let message = format!(
                "TOML syntax error: a control character ({}) in the file",
                control_name(c)
            );
            let help = "delete it: most editors do not show it (in a string, an escape such as \\u0000 stands for one)";
            let span = span.start..span.start + c.len_utf8();
            return self.err(span, message, "control character", help);
        }
        let msg = err.message().trim();
        let (first, rest) = msg.split_once('\n').unwrap_or((msg, ""));
        let help = match rest.trim() {
            "" if first.starts_with("invalid basic string") => {
                "a string is missing its closing `\"`"
            }
            "" => "see https://toml.io for TOML's syntax",
            rest => rest,
        };
        self.err(span, format!("TOML syntax error: {first}"), "here", help)
    }

    /// "duplicate key `fps`, first defined on line 5" at the second `fps` (or the same for a
    /// table header written twice). toml knows where the key was first defined but does not
    /// pass it on, so the document is parsed again with the second key renamed to a stand-in:
    /// the table that then holds the stand-in is the one that already held the key.
    fn duplicate(&self, span: Range<usize>) -> ConfigError {
        const STAND_IN: &str = "render-duplicate-stand-in";
        let written = self.text.get(span.clone()).unwrap_or_default();
        let key = written.trim_matches(|c| c == '"' || c == '\'');
        let retry = format!(
            "{}{STAND_IN}{}",
            self.text.get(..span.start).unwrap_or_default(),
            self.text.get(span.end..).unwrap_or_default()
        );
        let (parsed, _) = DeTable::parse_recoverable(&retry);
        let first = holder(parsed.get_ref(), STAND_IN)
            .and_then(|table| table.get_key_value(key))
            .map(|(k, _)| k.span())
            .filter(|first| first.end <= span.start);
        let (what, help) = match table_header(&self.text, span.start) {
            Some(header) => (
                format!("table `{header}`"),
                format!("a table may be declared only once: merge the two {header} sections into one"),
            ),
            None => (
                format!("key `{key}`"),
                format!("a key may appear only once in a table: keep one `{key} = ...` and remove the other"),
            ),
        };
        let Some(first) = first else {
            return self.err(
                span,
                format!("duplicate {what}"),
                "defined again here",
                help,
            );
        };
        let line = line_col(&self.text, first.start).0;
        let message = format!("duplicate {what}, first defined on line {line}");
        self.err(span, message, "defined again here", help)
            .with_related(first, "first defined here")
    }

    /// A serde error from deserialising the value at `fallback` (used when the error carries
    /// no span of its own); `context` (e.g. "in model.toml") is appended to the message of
    /// missing key errors.
    pub fn de_error(
        &self,
        err: &toml::de::Error,
        fallback: Range<usize>,
        context: &str,
    ) -> ConfigError {
        let span = err.span().unwrap_or(fallback);
        let msg = err.message().trim();
        let missing = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split_once('`'));
        match missing {
            Some((name, _)) => {
                let help = format!("add `{name} = ...` here");
                self.err(span, format!("missing key `{name}` {context}"), "", help)
            }
            None => self.err(span, humanise_serde(msg), "", ""),
        }
    }
}

/// The table in `table` (or nested in it) that has the key `key`.
fn holder<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t DeTable<'i>> {
    if table.contains_key(key) {
        return Some(table);
    }
    table.values().find_map(|v| in_value(v.get_ref(), key))
}

fn in_value<'t, 'i>(value: &'t DeValue<'i>, key: &str) -> Option<&'t DeTable<'i>> {
    match value {
        DeValue::Table(t) => holder(t, key),
        DeValue::Array(items) => items.iter().find_map(|v| in_value(v.get_ref(), key)),
        _ => None,
    }
}

/// `[voices.guest]` when `offset` lies in a `[table]` header line (not `[[array]]`, whose
/// repetition is how TOML writes a list of tables), else None.
fn table_header(text: &str, offset: usize) -> Option<&str> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?.trim_start();
    if !line.starts_with('[') || line.starts_with("[[") {
        return None;
    }
    line.find(']').map(|end| &line[..=end])
}

/// "unknown voice `x`" etc. at `v`, with a did-you-mean from the `declared` names, else
/// their list.
pub(crate) fn unknown_name(
    doc: &Doc,
    v: &Spanned<String>,
    what: &str,
    declared: &[String],
    hint: &str,
) -> ConfigError {
    let name = v.get_ref();
    let help = suggest(name, declared, || match declared {
        [] => format!("no {what}s are declared; {hint}"),
        _ => format!("declared {what}s: {}; {hint}", list(declared)),
    });
    let message = format!("unknown {what} `{name}`");
    doc.err(v.span(), message, format!("not a declared {what}"), help)
}

/// "did you mean `x`?" for a typo of one of `candidates`, else `otherwise()`.
pub(crate) fn suggest(
    name: &str,
    candidates: &[impl AsRef<str>],
    otherwise: impl FnOnce() -> String,
) -> String {
    match did_you_mean(name, candidates.iter().map(AsRef::as_ref)) {
        Some(m) => format!("did you mean `{m}`?"),
        None => otherwise(),
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .filter_map(|c| {
            let d = strsim::damerau_levenshtein(&lower, &c.to_lowercase());
            let limit = (name.chars().count().max(c.chars().count()) / 3).max(1);
            (d <= limit).then_some((d, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "`a`, `b` and `c`"
pub(crate) fn list(names: &[impl AsRef<str>]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.split_last() {
        Some((last, init)) if !init.is_empty() => format!("{} and {last}", init.join(", ")),
        _ => quoted.concat(),
    }
}

/// serde's type words into TOML's: "invalid type: map, expected i64" → "... table, expected
/// an integer".
fn humanise_serde(msg: &str) -> String {
    let mut out = msg.to_string();
    for (from, to) in [
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("expected struct ", "expected a table "),
        ("invalid type: map", "invalid type: table"),
        ("invalid type: sequence", "invalid type: array"),
    ] {
        out = out.replace(from, to);
    }
    out
}

/// "U+0000 NUL": a control character's code point and, for ASCII ones, its name.
pub(crate) fn control_name(c: char) -> String {
    const C0: [&str; 32] = [
        "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR",
        "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB",
        "ESC", "FS", "GS", "RS", "US",
    ];
    let code = c as u32;
    match code {
        0..=31 => format!("U+{code:04X} {}", C0[code as usize]),
        0x7f => "U+007F DEL".to_string(),
        _ => format!("U+{code:04X}"),
    }
}

/// The longest name (in characters, all ASCII: see [`is_identifier`]) of a project or a
/// scene, which become file names in `out/`: `out/<project>/<scene>.sheet.jpg` is the
/// longest suffix render adds (10 bytes), and a file name may have 255 bytes on every
/// common file system. 100 leaves room for a copy's or a sync tool's suffix as well, and
/// is a limit people can remember; a longer name would be accepted, made, and then fail
/// to publish.
pub const MAX_NAME_CHARS: usize = 100;

/// Whether `name` is longer than [`MAX_NAME_CHARS`].
pub fn name_too_long(name: &str) -> bool {
    name.chars().count() > MAX_NAME_CHARS
}

/// A name render accepts for a project, scene, voice or avatar: letters, digits, `-`, `_`.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_line_col_counts_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3)); // after the two-byte é
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn manifest_did_you_mean_finds_typos_only() {
        let keys = ["engine", "language", "variant", "pitch", "rate"];
        assert_eq!(did_you_mean("pich", keys), Some("pitch"));
        assert_eq!(did_you_mean("Pitch", keys), Some("pitch"));
        assert_eq!(did_you_mean("langauge", keys), Some("language"));
        assert_eq!(did_you_mean("colour", keys), None);
    }

    #[test]
    fn manifest_error_without_location_names_its_file() {
        let e = ConfigError::in_file("Renderfile.toml", "cannot read `Renderfile.toml`: denied");
        assert_eq!(e.location(), "Renderfile.toml");
        assert!(render_report(&e).contains("cannot read `Renderfile.toml`"));
    }
}
