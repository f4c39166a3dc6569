//! Reading TOML so that every problem is reported at once: all of a document's syntax
//! errors (one per line), then each table's unknown keys, then serde into a raw struct with
//! `Spanned` fields that later checks point at.
//!
//! Unknown keys are checked here, against each table's key list, and nowhere else: serde's
//! `deny_unknown_fields` would stop at the first one and hide the table's other problems.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use crate::diagnostic::{line_col, list, suggest, ConfigError, Doc, Errors};

/// Parses a whole TOML document; Err = every syntax error.
pub(crate) fn parse_document(doc: &Doc) -> Result<DeTable<'_>, Vec<ConfigError>> {
    let (table, mut errors) = DeTable::parse_recoverable(&doc.text);
    errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));
    if errors.is_empty() {
        return Ok(table.into_inner());
    }
    // The recovering parser finds independent mistakes, but also follow-on ones: keep one
    // error per line. At the very same place the later one is the cause (an unterminated
    // string is reported after the array it leaves unclosed).
    let line = |e: &ConfigError| e.span().map(|s| line_col(&doc.text, s.offset()).0);
    let mut out: Vec<ConfigError> = Vec::new();
    for e in &errors {
        let e = doc.syntax_error(e);
        match out.last_mut() {
            Some(last) if last.span() == e.span() => *last = e,
            Some(last) if line(last) == line(&e) => {}
            _ => out.push(e),
        }
    }
    Err(out)
}

/// Removes the keys of `table` that are not in `allowed`, reporting each (with a
/// did-you-mean). `ctx` is appended to the message, e.g. "in voice `narrator`". True if
/// there were any.
pub(crate) fn unknown_keys(
    doc: &Doc,
    table: &mut DeTable<'_>,
    allowed: &[&str],
    ctx: &str,
    errors: &mut Vec<ConfigError>,
) -> bool {
    let unknown: Vec<(String, Range<usize>)> = table
        .keys()
        .filter(|k| !allowed.contains(&k.get_ref().as_ref()))
        .map(|k| (k.get_ref().to_string(), k.span()))
        .collect();
    for (key, span) in &unknown {
        table.remove(key.as_str());
        let help = suggest(key, allowed, || {
            format!("valid keys here are {}", list(allowed))
        });
        let msg = format!("unknown key `{key}` {ctx}");
        errors.push(doc.err(span.clone(), msg, "unknown key", help));
    }
    !unknown.is_empty()
}

/// Deserialises one value with serde; `ctx` is added to "missing key" messages.
pub(crate) fn de<T: DeserializeOwned>(
    doc: &Doc,
    value: Spanned<DeValue<'_>>,
    ctx: &str,
) -> Result<T, ConfigError> {
    let span = value.span();
    T::deserialize(ValueDeserializer::from(value)).map_err(|e| doc.de_error(&e, span, ctx))
}

/// A table value (else the error `not_table`: message, help) of `keys` only, deserialised;
/// None = every problem is in `errors`.
pub(crate) fn read<T: DeserializeOwned>(
    doc: &Doc,
    value: Spanned<DeValue<'_>>,
    [msg, help]: [&str; 2],
    keys: &[&str],
    ctx: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let (span, mut table) = errors.keep(table(doc, value, msg, help))?;
    unknown_keys(doc, &mut table, keys, ctx, errors);
    errors.keep(de(doc, Spanned::new(span, DeValue::Table(table)), ctx))
}

/// Takes a table value apart, or reports that it should have been one.
pub(crate) fn table<'i>(
    doc: &Doc,
    value: Spanned<DeValue<'i>>,
    msg: impl Into<String>,
    help: &str,
) -> Result<(Range<usize>, DeTable<'i>), ConfigError> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(t) => Ok((span, t)),
        other => Err(not_a(doc, span, &other, msg, help)),
    }
}

/// Takes an array value apart, or reports that it should have been one.
pub(crate) fn array<'i>(
    doc: &Doc,
    value: Spanned<DeValue<'i>>,
    msg: &str,
    help: &str,
) -> Result<(Range<usize>, DeArray<'i>), ConfigError> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(items) => Ok((span, items)),
        other => Err(not_a(doc, span, &other, msg, help)),
    }
}

/// `value` (at `span`) is not what it should be.
pub(crate) fn not_a(
    doc: &Doc,
    span: Range<usize>,
    value: &DeValue<'_>,
    msg: impl Into<String>,
    help: &str,
) -> ConfigError {
    let a = match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    };
    doc.err(span, msg, format!("this is {a}"), help)
}
