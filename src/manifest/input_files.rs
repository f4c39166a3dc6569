//! Input files from templates, `[engines.<name>.files]`: many models take their job as a
//! file rather than flags — InfiniteTalk a JSON of prompt, picture and audio, OmniAvatar a
//! `prompt@@image@@audio` line, Hallo2 a YAML — and without this every adapter needed a
//! wrapper script only to write one. A template is the file's text with placeholders; render
//! writes it into each run's folder and `{file:<name>}` is its path.
//!
//! A value is written so that it cannot change the file's shape: in a `.json`, `.yaml` or
//! `.yml` file a placeholder sits inside a double-quoted string and its value is escaped
//! for one (a path holding a quote or a newline stays one string); only the numbers
//! (`{seconds}`, `{frames}`, `{width}`, `{height}`, `{seed}`) may stand bare. In any other
//! file a value is written as it is, and one holding a line break is refused (it would
//! add a line). So braces of JSON need no escaping here, unlike in `args`: only `{name}`
//! with a placeholder's name is a placeholder; every other brace is text.

use std::collections::BTreeMap;
use std::ops::Range;

/// The placeholders whose values are numbers (a box: four numbers and commas), which may
/// stand outside quotes.
pub const NUMBERS: &[&str] = &[
    "seconds", "frames", "width", "height", "seed", "box_1", "box_2", "box_1_yx", "box_2_yx",
];

/// How a file's values are quoted, from its name's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    Text,
}

impl Format {
    pub fn of(name: &str) -> Format {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".json") {
            Format::Json
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Format::Yaml
        } else {
            Format::Text
        }
    }

    fn quoted(self) -> bool {
        self != Format::Text
    }
}

/// A placeholder in a template: its name, its byte range (braces included) and whether it
/// sits inside a double-quoted string.
#[derive(Debug, PartialEq)]
pub struct Slot {
    pub name: String,
    pub range: Range<usize>,
    pub in_string: bool,
}

/// Whether `name` may be a placeholder's name: a word, or `file:` and a file's name.
pub fn is_name(name: &str) -> bool {
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
    };
    match name.strip_prefix("file:") {
        Some(file) => word(file),
        None => !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
    }
}

/// Whether `name` is a usable file name for an input file (one name, no folder).
pub fn is_file_name(name: &str) -> bool {
    is_name(&format!("file:{name}")) && name != "." && name != ".." && !name.starts_with('.')
}

/// The placeholders of a template, in order. For JSON and YAML it follows double-quoted
/// strings (and YAML's single-quoted ones and comments) to know where each one sits.
pub fn slots(body: &str, format: Format) -> Vec<Slot> {
    let bytes = body.as_bytes();
    let mut slots = Vec::new();
    let (mut double, mut single, mut i) = (false, false, 0);
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'{' {
            if let Some(len) = body[i + 1..].find('}') {
                let name = &body[i + 1..i + 1 + len];
                if is_name(name) {
                    slots.push(Slot {
                        name: name.to_string(),
                        range: i..i + len + 2,
                        in_string: double,
                    });
                    i += len + 2;
                    continue;
                }
            }
        }
        if format.quoted() {
            match c {
                b'\\' if double => i += 1,
                b'"' if !single => double = !double,
                b'\'' if format == Format::Yaml && !double => single = !single,
                b'#' if format == Format::Yaml
                    && !double
                    && !single
                    && (i == 0 || bytes[i - 1].is_ascii_whitespace()) =>
                {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    slots
}

/// What is wrong with a slot of a `format` file, if anything.
pub fn misplaced(slot: &Slot, format: Format) -> Option<String> {
    if format.quoted() && !slot.in_string && !NUMBERS.contains(&slot.name.as_str()) {
        let kind = if format == Format::Json {
            "JSON"
        } else {
            "YAML"
        };
        return Some(format!(
            "`{{{}}}` must be inside a double-quoted {kind} string",
            slot.name
        ));
    }
    None
}

/// The file's text with every placeholder replaced by its value, quoted for its format.
/// Err names a value that cannot be written safely.
pub fn fill(
    body: &str,
    format: Format,
    values: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for slot in slots(body, format) {
        out.push_str(&body[at..slot.range.start]);
        at = slot.range.end;
        let value = values.get(&slot.name).map_or("", String::as_str);
        if format.quoted() && slot.in_string {
            let quoted = serde_json::to_string(value).expect("a string serialises");
            out.push_str(&quoted[1..quoted.len() - 1]);
        } else if value.contains(['\n', '\r']) {
            return Err(format!(
                "the value of `{{{}}}` holds a line break, which would break the file: {value:?}",
                slot.name
            ));
        } else {
            out.push_str(value);
        }
    }
    out.push_str(&body[at..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        (pairs.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn json_values_stay_inside_their_strings() {
        let body = r#"{"prompt": "{text}", "cond_audio": {"person1": "{audio}"}, "n": {frames}}"#;
        let filled = fill(
            body,
            Format::Json,
            &values(&[
                ("text", "She said \"hi\"\nthen left \\ {x}"),
                ("audio", "/a/b\"c\n.wav"),
                ("frames", "81"),
            ]),
        )
        .unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&filled).unwrap();
        assert_eq!(parsed["prompt"], "She said \"hi\"\nthen left \\ {x}");
        assert_eq!(parsed["cond_audio"]["person1"], "/a/b\"c\n.wav");
        assert_eq!(parsed["n"], 81);
    }

    #[test]
    fn yaml_follows_quotes_and_comments() {
        let body = "# {image} in a comment\na: \"{image}\"\nb: 'it''s {frames}'\nc: {seconds}\n";
        let slots = slots(body, Format::Yaml);
        let names: Vec<(&str, bool)> = (slots.iter())
            .map(|s| (s.name.as_str(), s.in_string))
            .collect();
        assert_eq!(
            names,
            [("image", true), ("frames", false), ("seconds", false)]
        );
        let filled = fill(
            "a: \"{image}\"\n",
            Format::Yaml,
            &values(&[("image", "x\"y\nz: w")]),
        )
        .unwrap();
        assert_eq!(filled, "a: \"x\\\"y\\nz: w\"\n");
    }

    #[test]
    fn bare_text_placeholders_are_refused_in_json_and_line_breaks_in_text() {
        let slot = &slots("{\"a\": {audio}}", Format::Json)[0];
        assert_eq!(
            misplaced(slot, Format::Json).unwrap(),
            "`{audio}` must be inside a double-quoted JSON string"
        );
        assert_eq!(
            fill(
                "{text}@@{image}",
                Format::Text,
                &values(&[("text", "a\nb")])
            )
            .unwrap_err(),
            "the value of `{text}` holds a line break, which would break the file: \"a\\nb\""
        );
    }
}
