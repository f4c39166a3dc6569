//! A scene's `variants`: the same scene made two or more ways, to choose between them (two
//! lip-sync engines, two voices, two framings, two loudness targets), each published as
//! `out/<project>/<scene>@<variant>.mp4` beside `<scene>.mp4`, which stays the first.
//!
//! Two shapes, because two needs are common:
//!
//! ```toml
//! [[scene]]
//! name = "intro"
//! lines = ["Hello!"]
//! variants = { lipsync = ["builtin", "wav2lip"] }   # one setting, named by its values
//!
//! [[scene.variants]]                                # or: named, several settings together
//! name = "close"
//! framing = "face"
//! voice = "guest"
//! ```
//!
//! The compact map varies one setting and names each variant by its value, which is what
//! an A/B of engines is; named tables say exactly which settings go together (a voice and
//! its loudness) without a cross product nobody asked for — so a map of two settings is an
//! error that says to write tables. A variant's keys are a scene's settings
//! (`settings::KEYS`) plus `lipsync`, which replaces the lip-sync engine of every avatar in
//! the scene; each is applied over the scene's own resolved settings, so a variant changes
//! only what it names. Nothing here knows about keys or artifacts: a variant is a whole
//! `Scene`, and what two variants have in common (a line's speech when only `lipsync`
//! differs) is one artifact because its key is the same (`graph.rs`).

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::settings::{Declared as Names, RawSettings, SceneSettings, KEYS as SETTING_KEYS};
use super::{command::Stage, paths, table, Lipsync};
use crate::diagnostic::{list, name_too_long, suggest, ConfigError, Doc, Errors, MAX_NAME_CHARS};

/// A variant's own keys besides the scene settings.
const OWN_KEYS: &[&str] = &["name", "lipsync"];

/// One variant as declared, resolved over its scene's settings.
pub(crate) struct Declared {
    pub name: String,
    pub settings: SceneSettings,
    pub lipsync: Option<Lipsync>,
}

/// Where a scene's variants are read: the project's context and names, for messages.
pub(crate) struct Scene<'a> {
    /// The declared voices and avatars, and the media checks of the files keys name.
    pub names: &'a Names<'a>,
    /// The command engines, which `lipsync` may name.
    pub engines: &'a BTreeMap<String, super::command::CommandEngine>,
    /// Why engines that no voice or avatar uses cannot run on this machine: a variant
    /// naming one is an error at its `lipsync`, as an avatar naming it is at the engine.
    pub unusable: &'a BTreeMap<String, Vec<ConfigError>>,
    pub doc: &'a Doc,
    pub project: &'a str,
    /// `projects/<name>`, where users may think paths start.
    pub folder: &'a str,
    /// The scene's name, as written.
    pub name: &'a str,
    /// The scene's own settings, resolved: what each variant starts from.
    pub base: &'a SceneSettings,
}

/// Reads `variants = ...` (`value`); every problem goes to `errors` (and the scene is then
/// left out by its caller, as for any other problem in it).
pub(crate) fn parse(
    s: &Scene<'_>,
    value: Spanned<DeValue<'_>>,
    errors: &mut Vec<ConfigError>,
) -> Vec<Declared> {
    let doc = s.doc;
    let span = value.span();
    let tables = match value.into_inner() {
        DeValue::Array(items) => items.into_iter().collect::<Vec<_>>(),
        DeValue::Table(map) => match compact(s, span.clone(), map, errors) {
            Some(tables) => tables,
            None => return Vec::new(),
        },
        other => {
            let msg = format!(
                "`variants` of scene `{}` must be a table or an array of tables",
                s.name
            );
            let help = "vary one setting: variants = { lipsync = [\"builtin\", \"wav2lip\"] }; or name each variant in a [[scene.variants]] table with `name` and the settings it changes";
            errors.push(table::not_a(doc, span, &other, msg, help));
            return Vec::new();
        }
    };
    if tables.is_empty() {
        let msg = format!("`variants` of scene `{}` is empty", s.name);
        let help = "remove `variants`, or declare at least one: variants = { lipsync = [\"builtin\", \"wav2lip\"] }";
        errors.push(doc.err(span, msg, "no variants", help));
        return Vec::new();
    }
    let mut seen: BTreeMap<String, (String, Range<usize>)> = BTreeMap::new();
    let mut declared = Vec::new();
    for (i, item) in tables.into_iter().enumerate() {
        let number = i + 1;
        let (msg, help) = (
            "each variant must be a table",
            "e.g. { name = \"w2l\", lipsync = \"wav2lip\" }",
        );
        let Some((at, mut map)) = errors.keep(table::table(doc, item, msg, help)) else {
            continue;
        };
        let written = (map.get("name"))
            .and_then(|n| n.get_ref().as_str())
            .map(str::to_string);
        let desc = match &written {
            Some(name) => format!("variant `{name}` of scene `{}`", s.name),
            None => format!("variant {number} of scene `{}`", s.name),
        };
        let keys: Vec<&str> = OWN_KEYS.iter().chain(SETTING_KEYS).copied().collect();
        let before = errors.len();
        table::unknown_keys(doc, &mut map, &keys, &format!("in {desc}"), errors);
        let name = map.remove("name");
        let lipsync = map.remove("lipsync");
        let raw = Spanned::new(at.clone(), DeValue::Table(map));
        let raw = errors.keep(table::de::<RawSettings>(doc, raw, &format!("in {desc}")));
        let name = match name {
            None => {
                let msg = format!("{desc} has no `name`");
                let help = format!(
                    "add `name = \"w2l\"`: the name becomes out/{}/{}@<name>.mp4",
                    s.project, s.name
                );
                errors.push(doc.err(at, msg, "which variant?", help));
                None
            }
            Some(v) => errors.keep(table::de::<Spanned<String>>(doc, v, &format!("in {desc}"))),
        };
        let name = name.and_then(|name| checked_name(s, name, &mut seen, errors));
        let lipsync = lipsync
            .and_then(|v| errors.keep(table::de::<Spanned<String>>(doc, v, &format!("in {desc}"))))
            .and_then(|l| errors.keep(lipsync_choice(s, &l, &desc)));
        // Its settings are checked even when its name is not usable.
        let base = s.base;
        let settings = raw.map(|raw| base.resolve(&raw, doc, Some(s.folder), s.names, errors));
        let (Some(name), Some(settings)) = (name, settings) else {
            continue;
        };
        if errors.len() == before {
            declared.push(Declared {
                name,
                settings,
                lipsync,
            });
        }
    }
    declared
}

/// `{ lipsync = ["builtin", "wav2lip"] }`: one variant per value, named by it, as the
/// array of tables `[{ name = "builtin", lipsync = "builtin" }, …]` would be written.
fn compact<'i>(
    s: &Scene<'_>,
    span: Range<usize>,
    map: DeTable<'i>,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<Spanned<DeValue<'i>>>> {
    let doc = s.doc;
    let keys: Vec<&str> = OWN_KEYS[1..].iter().chain(SETTING_KEYS).copied().collect();
    let mut entries: Vec<_> = map.into_iter().collect();
    if entries.len() != 1 {
        let names: Vec<String> = entries
            .iter()
            .map(|(k, _)| k.get_ref().to_string())
            .collect();
        let msg = match names.len() {
            0 => format!("`variants` of scene `{}` is empty", s.name),
            n => format!(
                "`variants = {{ … }}` varies one setting, but scene `{}` gives {n}: {}",
                s.name,
                list(&names)
            ),
        };
        let help = "to vary several settings together, name each variant in its own table: [[scene.variants]] with name = \"…\" and the settings it changes";
        errors.push(doc.err(span, msg, "one setting", help));
        return None;
    }
    let (key, values) = entries.remove(0);
    let setting = key.get_ref().to_string();
    if !keys.contains(&setting.as_str()) {
        let help = suggest(&setting, &keys, || {
            format!(
                "a variant may change `lipsync` or a scene setting: {}",
                list(&keys)
            )
        });
        let msg = format!(
            "unknown setting `{setting}` in the variants of scene `{}`",
            s.name
        );
        errors.push(doc.err(key.span(), msg, "unknown setting", help));
        return None;
    }
    let msg = format!("`variants.{setting}` must be an array of the values to try");
    let help = format!("e.g. variants = {{ {setting} = [first, second] }}, one variant per value");
    let (_, values) = errors.keep(table::array(doc, values, &msg, &help))?;
    let mut tables = Vec::new();
    for value in values {
        let at = value.span();
        let name = match value.get_ref() {
            DeValue::String(v) => v.to_string(),
            DeValue::Integer(v) => v.as_str().to_string(),
            DeValue::Float(v) => v.as_str().to_string(),
            DeValue::Boolean(v) => v.to_string(),
            _ => {
                let msg = format!(
                    "a value in `variants.{setting}` of scene `{}` cannot name a variant",
                    s.name
                );
                let help =
                    "name each variant in its own table: [[scene.variants]] with name = \"…\"";
                errors.push(table::not_a(doc, at, value.get_ref(), msg, help));
                continue;
            }
        };
        let mut table = DeTable::new();
        let name_value = DeValue::String(name.into());
        table.insert(
            Spanned::new(at.clone(), "name".into()),
            Spanned::new(at.clone(), name_value),
        );
        table.insert(Spanned::new(key.span(), setting.clone().into()), value);
        tables.push(Spanned::new(at, DeValue::Table(table)));
    }
    Some(tables)
}

/// The variant's name if it is a safe file name, not too long with its scene's, and not
/// one of the scene's others (case-folded: one file on a case-insensitive disk).
fn checked_name(
    s: &Scene<'_>,
    name: Spanned<String>,
    seen: &mut BTreeMap<String, (String, Range<usize>)>,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    let (doc, n) = (s.doc, name.get_ref());
    let file = format!("out/{}/{}@{n}.mp4", s.project, s.name);
    let full = format!("{}@{n}", s.name);
    let error = if !paths::is_identifier(n) {
        let msg = format!("variant name `{n}` of scene `{}` is not allowed", s.name);
        let help = format!(
            "use only letters, digits, `-` and `_`: the name becomes out/{}/{}@<name>.mp4",
            s.project, s.name
        );
        doc.err(name.span(), msg, "not a file name", help)
    } else if name_too_long(&full) {
        let msg = format!(
            "variant name `{n}` makes `{}…` {} characters long, over the limit of {MAX_NAME_CHARS}",
            full.chars().take(20).collect::<String>(),
            full.chars().count()
        );
        let help = "shorten the variant's or the scene's name: `<scene>@<variant>` becomes file names such as <scene>@<variant>.sheet.jpg";
        doc.err(name.span(), msg, "too long", help)
    } else if let Some((first, at)) = seen.get(&n.to_lowercase()) {
        let (msg, help) = if first == n {
            (
                format!("duplicate variant name `{n}` in scene `{}`", s.name),
                format!("variant names must be unique within a scene: each becomes {file}"),
            )
        } else {
            (
                format!("variant name `{n}` differs from variant `{first}` only in case"),
                format!("rename one of them: out/{}/{}@{first}.mp4 and {file} are one file on macOS, Windows, exFAT and SMB shares", s.project, s.name),
            )
        };
        let e = doc.err(name.span(), msg, "used again here", help);
        e.with_related(at.clone(), "first used here")
    } else {
        seen.insert(n.to_lowercase(), (n.clone(), name.span()));
        return Some(name.into_inner());
    };
    errors.push(error);
    None
}

/// What a variant's `lipsync` names: "builtin", a command engine with stage = "lipsync",
/// or a model under models/ (read as an avatar's `lipsync` is, `renderfile::lipsync_model`).
fn lipsync_choice(s: &Scene<'_>, l: &Spanned<String>, desc: &str) -> Result<Lipsync, ConfigError> {
    let (doc, name) = (s.doc, l.get_ref().trim());
    let root = &s.names.root;
    let known = name == "builtin"
        || s.engines.contains_key(name)
        || (paths::is_identifier(name)
            && root.join("models").join(name).join("model.toml").is_file());
    if !known {
        let mut choices = vec!["builtin".to_string()];
        choices.extend(
            (s.engines.iter())
                .filter(|(_, e)| e.stage == Stage::Lipsync)
                .map(|(n, _)| n.clone()),
        );
        choices.extend(models(root));
        let help = suggest(name, &choices, || {
            format!(
                "`lipsync` is \"builtin\", an engine with stage = \"lipsync\" ([engines.<name>] in Renderfile.toml) or a model under models/; here: {}",
                list(&choices)
            )
        });
        let msg = format!("unknown lip-sync engine `{name}` in {desc}");
        return Err(doc.err(l.span(), msg, "no such engine", help));
    }
    if let Some(why) = s.unusable.get(name).and_then(|problems| problems.first()) {
        let msg = format!(
            "{desc} uses engine `{name}`, which cannot run on this machine: {}",
            why.message
        );
        let help = why.help.clone().unwrap_or_default();
        return Err(doc.err(l.span(), msg, "cannot run here", help));
    }
    let model = super::renderfile::lipsync_model(doc, root, l.span(), name, s.engines)?;
    Ok(Lipsync {
        name: name.to_string(),
        model,
    })
}

/// The folders under models/ holding a model.toml, sorted.
fn models(root: &std::path::Path) -> Vec<String> {
    crate::noop_stamp::consulted(&root.join("models"));
    let entries = std::fs::read_dir(root.join("models"))
        .into_iter()
        .flatten()
        .flatten();
    let mut names: Vec<String> = entries
        .filter(|e| {
            let manifest = e.path().join("model.toml");
            crate::noop_stamp::consulted(&manifest);
            manifest.is_file()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::framing::Framing;

    #[test]
    fn a_map_of_one_setting_makes_a_variant_per_value() {
        let l = demo("[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\nvariants = { framing = [\"face\", \"fit\"] }\n").load();
        assert!(l.errors.is_empty(), "{}", show(&l.errors));
        let scene = &l.manifest.projects[0].scenes[0];
        let fit = |f: Framing| f == Framing::Fit;
        let got: Vec<(&str, bool, bool)> = (scene.variants.iter())
            .map(|v| (v.name.as_str(), v.first, fit(v.scene.framing)))
            .collect();
        assert_eq!(got, [("face", true, false), ("fit", false, true)]);
        // The scene itself is its first variant.
        assert!(!fit(scene.framing));
        assert!(scene.variants.iter().all(|v| v.scene.variants.is_empty()));
    }

    #[test]
    fn a_voice_variant_gives_its_voice_to_the_lines_that_name_none() {
        let l = demo("[[scene]]\nname = \"intro\"\nlines = [\"Hi\", { text = \"Bye\", voice = \"narrator\" }]\n\n[[scene.variants]]\nname = \"plain\"\n\n[[scene.variants]]\nname = \"guest\"\nvoice = \"guest\"\nloudness = -20\n").load();
        assert!(l.errors.is_empty(), "{}", show(&l.errors));
        let scene = &l.manifest.projects[0].scenes[0];
        let voices = |s: &super::super::Scene| -> Vec<String> {
            s.lines.iter().map(|l| l.voice.clone()).collect()
        };
        assert_eq!(voices(&scene.variants[0].scene), ["narrator", "narrator"]);
        assert_eq!(voices(&scene.variants[1].scene), ["guest", "narrator"]);
        assert_eq!(
            (
                scene.variants[0].scene.loudness,
                scene.variants[1].scene.loudness
            ),
            (-14.0, -20.0)
        );
    }

    #[test]
    fn bad_variants() {
        let f = demo("[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\nvariants = { lipsnc = [\"builtin\"] }\n\n[[scene]]\nname = \"two\"\nlines = [\"Hi\"]\nvariants = { lipsync = [\"builtin\", \"wav2lip\"] }\n\n[[scene]]\nname = \"three\"\nlines = [\"Hi\"]\nvariants = []\n\n[[scene]]\nname = \"four\"\nlines = [\"Hi\"]\nvariants = \"fast\"\n");
        let l = f.load();
        assert_errors(&l.errors, &[
            "projects/demo/project.toml:4:14: unknown setting `lipsnc` in the variants of scene `intro` | did you mean `lipsync`?",
            "projects/demo/project.toml:9:36: unknown lip-sync engine `wav2lip` in variant `wav2lip` of scene `two` | here: `builtin`",
            "projects/demo/project.toml:14:12: `variants` of scene `three` is empty | remove `variants`",
            "projects/demo/project.toml:19:12: `variants` of scene `four` must be a table or an array of tables | [[scene.variants]]",
        ]);
        assert!(l.manifest.projects.is_empty());
    }
}
