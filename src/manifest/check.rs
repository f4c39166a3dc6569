//! Checks shared by Renderfile.toml and project.toml: walking tables, numbers in range,
//! colours, files inside the content folder.

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::diagnostic::{did_you_mean, unknown_key, ConfigError, Doc};
use super::paths::{self, PathProblem};
use super::{Background, SourceFile};

/// Parses a whole TOML document; Err = every syntax error.
pub(crate) fn parse_document(doc: &Doc) -> Result<Spanned<DeTable<'_>>, Vec<ConfigError>> {
    let (table, mut errors) = DeTable::parse_recoverable(&doc.text);
    errors.sort_by_key(|e| e.span().map_or(0, |s| s.start));
    if errors.is_empty() {
        Ok(table)
    } else {
        // The recovering parser finds independent mistakes, but also follow-on ones: keep one
        // error per line. At the very same place the later one is the cause (an unterminated
        // string is reported after the array it leaves unclosed).
        let mut out: Vec<ConfigError> = Vec::new();
        for e in &errors {
            let e = doc.syntax_error(e);
            match out.last_mut() {
                Some(last) if last.span() == e.span() => *last = e,
                Some(last) if last.line_col().map(|l| l.0) == e.line_col().map(|l| l.0) => {}
                _ => out.push(e),
            }
        }
        Err(out)
    }
}

/// Removes the keys of `table` that are not in `allowed`, reporting each (with a
/// did-you-mean). `ctx` is appended to the message, e.g. "in voice `narrator`".
pub(crate) fn unknown_keys(
    doc: &Doc,
    table: &mut DeTable<'_>,
    allowed: &[&str],
    ctx: &str,
    errors: &mut Vec<ConfigError>,
) {
    let unknown: Vec<(String, Range<usize>)> = table
        .keys()
        .filter(|k| !allowed.contains(&k.get_ref().as_ref()))
        .map(|k| (k.get_ref().to_string(), k.span()))
        .collect();
    let expected: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    for (key, span) in unknown {
        table.remove(key.as_str());
        errors.push(unknown_key(doc, span, &key, &expected, ctx));
    }
}

/// Deserialises one value with serde (e.g. a `deny_unknown_fields` raw struct).
pub(crate) fn de<'i, T: Deserialize<'i>>(
    doc: &Doc,
    value: Spanned<DeValue<'i>>,
    ctx: &str,
) -> Result<T, ConfigError> {
    let span = value.span();
    T::deserialize(ValueDeserializer::from(value)).map_err(|e| doc.de_error(&e, span, ctx))
}

/// Takes a table value apart, or reports what it should have been.
pub(crate) fn table<'i>(
    doc: &Doc,
    value: Spanned<DeValue<'i>>,
    message: impl FnOnce() -> (String, String),
) -> Result<(Range<usize>, DeTable<'i>), ConfigError> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(t) => Ok((span, t)),
        other => {
            let (msg, help) = message();
            Err(
                ConfigError::at(doc, span, msg, format!("this is {}", a_type(&other)))
                    .with_help(help),
            )
        }
    }
}

/// "a string", "an array", ...
pub(crate) fn a_type(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// `[A-Za-z0-9_-]+`: names that become file names.
pub(crate) fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An integer in `lo..=hi`.
pub(crate) fn int_in(
    doc: &Doc,
    v: &Spanned<i64>,
    key: &str,
    lo: i64,
    hi: i64,
    help: &str,
) -> Result<u32, ConfigError> {
    let n = *v.get_ref();
    if (lo..=hi).contains(&n) {
        Ok(n as u32)
    } else {
        Err(ConfigError::at(
            doc,
            v.span(),
            format!("`{key}` must be between {lo} and {hi}, not {n}"),
            "out of range",
        )
        .with_help(help.to_string()))
    }
}

pub(crate) fn fps(doc: &Doc, v: &Spanned<i64>) -> Result<u32, ConfigError> {
    int_in(doc, v, "fps", 1, 120, "frames per second, e.g. 25 or 30")
}

/// `size = [width, height]`: even numbers in 16..=7680.
pub(crate) fn size(doc: &Doc, v: &Spanned<Vec<Spanned<i64>>>) -> Result<(u32, u32), ConfigError> {
    let [w, h] = v.get_ref().as_slice() else {
        return Err(ConfigError::at(
            doc,
            v.span(),
            format!(
                "`size` must be [width, height], not {} number{}",
                v.get_ref().len(),
                if v.get_ref().len() == 1 { "" } else { "s" }
            ),
            "expected two numbers",
        )
        .with_help("e.g. size = [1280, 720]"));
    };
    let mut dims = [0u32; 2];
    for (i, (what, n)) in [("width", w), ("height", h)].into_iter().enumerate() {
        let value = *n.get_ref();
        if !(16..=7680).contains(&value) {
            return Err(ConfigError::at(
                doc,
                n.span(),
                format!("{what} must be between 16 and 7680 pixels, not {value}"),
                "out of range",
            )
            .with_help("e.g. size = [1280, 720] or [1920, 1080]"));
        }
        if value % 2 != 0 {
            return Err(ConfigError::at(
                doc,
                n.span(),
                format!("{what} must be an even number of pixels, not {value}"),
                "odd",
            )
            .with_help(format!("video encoders need even sizes; try {}", value - 1)));
        }
        dims[i] = value as u32;
    }
    Ok((dims[0], dims[1]))
}

/// Seconds of silence between lines, 0..=30.
pub(crate) fn pause(doc: &Doc, v: &Spanned<f64>) -> Result<f64, ConfigError> {
    let p = *v.get_ref();
    if p.is_finite() && (0.0..=30.0).contains(&p) {
        Ok(p)
    } else {
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
pub(crate) fn colour(doc: &Doc, v: &Spanned<String>) -> Result<[u8; 3], ConfigError> {
    let s = v.get_ref().trim();
    let hex = s.strip_prefix('#').unwrap_or(s);
    if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
        Ok([byte(0), byte(2), byte(4)])
    } else {
        Err(ConfigError::at(
            doc,
            v.span(),
            format!("`{s}` is not a colour"),
            "bad colour",
        )
        .with_help("write colours as \"#rrggbb\" (six hex digits), e.g. \"#1e2430\""))
    }
}

/// A colour (`"#..."`) or a PNG/JPEG image file.
pub(crate) fn background(
    doc: &Doc,
    root: &Path,
    v: &Spanned<String>,
    base: Option<&str>,
) -> Result<Background, ConfigError> {
    if v.get_ref().trim_start().starts_with('#') {
        return colour(doc, v).map(Background::Colour);
    }
    let hint = "a background is a \"#rrggbb\" colour or the path of a .png/.jpg image";
    let file = file(doc, root, v, base).map_err(|e| {
        let help = e.help.clone().unwrap_or_default();
        e.with_help(format!("{help}; {hint}"))
    })?;
    image_ext(doc, v, &file)?;
    Ok(Background::Image(file))
}

/// The path must name a PNG or JPEG file (the only formats the frame renderer reads).
pub(crate) fn image_ext(
    doc: &Doc,
    v: &Spanned<String>,
    file: &SourceFile,
) -> Result<(), ConfigError> {
    if has_ext(&file.rel, &["png", "jpg", "jpeg"]) {
        Ok(())
    } else {
        Err(ConfigError::at(
            doc,
            v.span(),
            format!("`{}` is not a PNG or JPEG image", v.get_ref()),
            "not .png/.jpg",
        )
        .with_help("use a .png or .jpg file"))
    }
}

pub(crate) fn has_ext(rel: &str, exts: &[&str]) -> bool {
    Path::new(rel)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// A file inside the content folder, named by the string value `v`. `base` (e.g.
/// `projects/demo`) is where users may mistakenly think paths start; a file found there
/// becomes a did-you-mean.
pub(crate) fn file(
    doc: &Doc,
    root: &Path,
    v: &Spanned<String>,
    base: Option<&str>,
) -> Result<SourceFile, ConfigError> {
    let rel = v.get_ref();
    paths::resolve(root, rel).map_err(|problem| {
        let label = match &problem {
            PathProblem::NotFound | PathProblem::BrokenLink { .. } => "not found",
            PathProblem::Absolute
            | PathProblem::LeavesFolder
            | PathProblem::SymlinkOutside { .. } => "outside the content folder",
            _ => "",
        };
        let mut help = problem.help();
        if problem == PathProblem::NotFound {
            if let Some(found) = base.and_then(|b| paths::resolve(root, &format!("{b}/{rel}")).ok()) {
                help = format!(
                    "did you mean `{}`? paths are relative to the content folder (the folder holding Renderfile.toml), not to project.toml",
                    found.rel
                );
            } else if let Some(near) = near_file(root, rel) {
                help = format!("did you mean `{near}`? {help}");
            }
        }
        ConfigError::at(doc, v.span(), problem.message(rel), label).with_help(help)
    })
}

/// A sibling of the missing file `rel` with a similar name (a typo), if any.
fn near_file(root: &Path, rel: &str) -> Option<String> {
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, rel),
    };
    let folder = paths::resolve_dir(root, dir.unwrap_or(""))?;
    let names: Vec<String> = std::fs::read_dir(folder)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let near = did_you_mean(name, names.iter().map(String::as_str))?;
    Some(match dir {
        Some(d) => format!("{d}/{near}"),
        None => near.to_string(),
    })
}
