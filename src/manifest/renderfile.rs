//! `Renderfile.toml`: farm settings, defaults, voices and avatars.
//!
//! Every problem here is fatal (nothing can be built without voices and avatars), but all of
//! them are collected before giving up.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::check::{self, de, table, unknown_keys};
use super::diagnostic::{did_you_mean, unknown_name, ConfigError, Doc};
use super::model::ModelProblem;
use super::{Avatar, AvatarKind, Background, Settings, Voice, VoiceEngine};

const TOP_KEYS: &[&str] = &["render", "defaults", "voices", "avatars"];
const RENDER_KEYS: &[&str] = &["device", "jobs"];
const DEFAULTS_KEYS: &[&str] = &["fps", "size", "pause", "background", "voice", "avatar"];
const VOICE_KEYS: &[&str] = &["engine", "language", "variant", "pitch", "rate"];
const AVATAR_KEYS: &[&str] = &["image", "video", "lipsync"];

pub(crate) const DEFAULT_FPS: u32 = 25;
pub(crate) const DEFAULT_SIZE: (u32, u32) = (1280, 720);
pub(crate) const DEFAULT_PAUSE: f64 = 0.4;
pub(crate) const DEFAULT_BACKGROUND: [u8; 3] = [0x1e, 0x24, 0x30];

/// `[render]`
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRender {
    device: Option<Spanned<String>>,
    jobs: Option<Spanned<i64>>,
}

/// `[defaults]`
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    fps: Option<Spanned<i64>>,
    size: Option<Spanned<Vec<Spanned<i64>>>>,
    pause: Option<Spanned<f64>>,
    background: Option<Spanned<String>>,
    voice: Option<Spanned<String>>,
    avatar: Option<Spanned<String>>,
}

/// `[voices.<name>]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVoice {
    engine: Option<Spanned<String>>,
    language: Option<Spanned<String>>,
    variant: Option<Spanned<String>>,
    pitch: Option<Spanned<i64>>,
    rate: Option<Spanned<i64>>,
}

/// `[avatars.<name>]`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAvatar {
    image: Option<Spanned<String>>,
    video: Option<Spanned<String>>,
    lipsync: Option<Spanned<String>>,
}

/// Scene settings that projects inherit, with the built-in defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Defaults {
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    pub pause: f64,
    pub background: Background,
    /// `defaults.voice`, or the only voice.
    pub voice: Option<String>,
    /// `defaults.avatar`, or the only avatar.
    pub avatar: Option<String>,
}

pub(crate) struct Renderfile {
    pub settings: Settings,
    pub defaults: Defaults,
    pub voices: BTreeMap<String, Voice>,
    pub avatars: BTreeMap<String, Avatar>,
}

/// Checks `Renderfile.toml` (`doc`) in the content folder `root`.
pub(crate) fn parse(root: &Path, doc: &Doc) -> Result<Renderfile, Vec<ConfigError>> {
    let top = check::parse_document(doc)?;
    let mut errors = Vec::new();
    let mut top = top.into_inner();
    misplaced_keys(doc, &mut top, &mut errors);
    unknown_keys(doc, &mut top, TOP_KEYS, "in Renderfile.toml", &mut errors);

    let mut render = RawRender::default();
    let mut defaults = RawDefaults::default();
    let mut raw_voices = Vec::new();
    let mut raw_avatars = Vec::new();
    for (key, value) in top {
        match key.get_ref().as_ref() {
            "render" => {
                if let Some(t) = section(doc, value, "render", RENDER_KEYS, &mut errors) {
                    match de(doc, t, "in [render]") {
                        Ok(r) => render = r,
                        Err(e) => errors.push(e),
                    }
                }
            }
            "defaults" => {
                if let Some(t) = section(doc, value, "defaults", DEFAULTS_KEYS, &mut errors) {
                    match de(doc, t, "in [defaults]") {
                        Ok(d) => defaults = d,
                        Err(e) => errors.push(e),
                    }
                }
            }
            "voices" => {
                for (name, span, t) in named_tables(doc, value, "voice", VOICE_KEYS, &mut errors) {
                    match de::<RawVoice>(doc, t, &format!("in voice `{name}`")) {
                        Ok(v) => raw_voices.push((name, span, v)),
                        Err(e) => errors.push(e),
                    }
                }
            }
            "avatars" => {
                for (name, span, t) in named_tables(doc, value, "avatar", AVATAR_KEYS, &mut errors)
                {
                    match de::<RawAvatar>(doc, t, &format!("in avatar `{name}`")) {
                        Ok(a) => raw_avatars.push((name, span, a)),
                        Err(e) => errors.push(e),
                    }
                }
            }
            _ => {}
        }
    }

    let settings = settings(doc, render, &mut errors);
    let declared_voices: Vec<String> = raw_voices.iter().map(|v| v.0.clone()).collect();
    let declared_avatars: Vec<String> = raw_avatars.iter().map(|a| a.0.clone()).collect();
    let mut voices = BTreeMap::new();
    for (name, _, raw) in raw_voices {
        if let Some(v) = voice(doc, name.clone(), raw, &mut errors) {
            voices.insert(name, v);
        }
    }
    let mut avatars = BTreeMap::new();
    for (name, span, raw) in raw_avatars {
        if let Some(a) = avatar(doc, root, name.clone(), span, raw, &mut errors) {
            avatars.insert(name, a);
        }
    }
    let declared = Declared {
        voices: &declared_voices,
        avatars: &declared_avatars,
    };
    let defaults = resolve_defaults(doc, root, defaults, &declared, &mut errors);

    if errors.is_empty() {
        Ok(Renderfile {
            settings,
            defaults,
            voices,
            avatars,
        })
    } else {
        errors.sort_by_key(|e| e.span().map_or(0, |s| s.offset()));
        Err(errors)
    }
}

/// Top-level keys that belong in a section (`device = "cpu"` written above `[render]`).
fn misplaced_keys(doc: &Doc, top: &mut toml::de::DeTable<'_>, errors: &mut Vec<ConfigError>) {
    let misplaced: Vec<(String, Range<usize>, &str)> = top
        .iter()
        .filter(|(_, v)| !v.get_ref().is_table())
        .filter_map(|(k, _)| {
            let key = k.get_ref().as_ref();
            let section = if RENDER_KEYS.contains(&key) {
                "render"
            } else if DEFAULTS_KEYS.contains(&key) {
                "defaults"
            } else {
                return None;
            };
            Some((key.to_string(), k.span(), section))
        })
        .collect();
    for (key, span, section) in misplaced {
        top.remove(key.as_str());
        errors.push(
            ConfigError::at(
                doc,
                span,
                format!("`{key}` belongs in the [{section}] section"),
                "not in a section",
            )
            .with_help(format!(
                "move it below a `[{section}]` line; keys above the first [section] are top-level"
            )),
        );
    }
}

/// `[render]` / `[defaults]`: a table with only `allowed` keys.
fn section<'i>(
    doc: &Doc,
    value: Spanned<toml::de::DeValue<'i>>,
    name: &str,
    allowed: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Option<Spanned<toml::de::DeValue<'i>>> {
    let (span, mut t) = table(doc, value, || {
        (
            format!("`{name}` must be a table"),
            format!("write it as a [{name}] section"),
        )
    })
    .map_err(|e| errors.push(e))
    .ok()?;
    unknown_keys(doc, &mut t, allowed, &format!("in [{name}]"), errors);
    Some(Spanned::new(span, toml::de::DeValue::Table(t)))
}

/// `[voices.<name>]` / `[avatars.<name>]`: (name, span of the name, table) for each.
fn named_tables<'i>(
    doc: &Doc,
    value: Spanned<toml::de::DeValue<'i>>,
    what: &str,
    allowed: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Vec<(String, Range<usize>, Spanned<toml::de::DeValue<'i>>)> {
    let Ok((_, all)) = table(doc, value, || {
        (
            format!("`{what}s` must be a table of {what}s"),
            format!("declare each {what} as its own section, e.g. [{what}s.narrator]"),
        )
    })
    .map_err(|e| errors.push(e)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in all {
        let name = key.get_ref().to_string();
        let key_span = key.span();
        let example = if what == "voice" {
            "engine = \"espeak\""
        } else {
            "image = \"avatars/host.png\""
        };
        let Ok((span, mut t)) = table(doc, value, || {
            (
                format!("{what} `{name}` must be a table"),
                format!(
                    "declare each {what} as its own section: [{what}s.<name>] followed by its keys (e.g. {example}); `{name}` looks like a key written directly under [{what}s]"
                ),
            )
        })
        .map_err(|e| errors.push(e)) else {
            continue;
        };
        unknown_keys(doc, &mut t, allowed, &format!("in {what} `{name}`"), errors);
        out.push((
            name,
            key_span,
            Spanned::new(span, toml::de::DeValue::Table(t)),
        ));
    }
    out
}

fn settings(doc: &Doc, raw: RawRender, errors: &mut Vec<ConfigError>) -> Settings {
    let mut settings = Settings {
        device: "auto".to_string(),
        jobs: None,
    };
    if let Some(d) = raw.device {
        let s = d.get_ref().trim();
        let valid = match s {
            "auto" | "cpu" => Some(s.to_string()),
            "cuda" => Some("cuda:0".to_string()),
            _ => s
                .strip_prefix("cuda:")
                .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                .and_then(|n| n.parse::<u32>().ok())
                .map(|n| format!("cuda:{n}")),
        };
        match valid {
            Some(v) => settings.device = v,
            None => errors.push(
                ConfigError::at(
                    doc,
                    d.span(),
                    format!("unknown device `{s}`"),
                    "unknown device",
                )
                .with_help("use \"auto\", \"cpu\" or \"cuda:N\" (e.g. \"cuda:0\")"),
            ),
        }
    }
    if let Some(j) = raw.jobs {
        match check::int_in(
            doc,
            &j,
            "jobs",
            1,
            1024,
            "the number of parallel jobs; leave it out to use every core",
        ) {
            Ok(n) => settings.jobs = Some(n as usize),
            Err(e) => errors.push(e),
        }
    }
    settings
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

fn voice(doc: &Doc, name: String, raw: RawVoice, errors: &mut Vec<ConfigError>) -> Option<Voice> {
    let before = errors.len();
    if let Some(engine) = &raw.engine {
        if engine.get_ref() != "espeak" {
            errors.push(
                ConfigError::at(
                    doc,
                    engine.span(),
                    format!("unknown voice engine `{}`", engine.get_ref()),
                    "unknown engine",
                )
                .with_help("the only engine is \"espeak\" (espeak-ng)"),
            );
        }
    }
    let word = |v: &Option<Spanned<String>>, key: &str, errors: &mut Vec<ConfigError>| {
        let v = v.as_ref()?;
        let s = v.get_ref().trim();
        if s.is_empty() || s.contains(char::is_whitespace) || s.contains('+') {
            errors.push(
                ConfigError::at(
                    doc,
                    v.span(),
                    format!("`{key}` of voice `{name}` is not an espeak-ng name: `{s}`"),
                    "invalid",
                )
                .with_help(if key == "language" {
                    "an espeak-ng voice such as \"en-us\", \"en-gb\" or \"fr\" (`espeak-ng --voices` lists them)"
                } else {
                    "an espeak-ng variant such as \"m3\" or \"f2\" (`espeak-ng --voices=variant` lists them)"
                }),
            );
            None
        } else if let Some(problem) = unknown_to_espeak(s, key) {
            errors.push(
                ConfigError::at(doc, v.span(), problem.0, "unknown to espeak-ng")
                    .with_help(problem.1),
            );
            None
        } else {
            Some(s.to_string())
        }
    };
    let language = word(&raw.language, "language", errors).unwrap_or_else(|| "en-us".to_string());
    let variant = word(&raw.variant, "variant", errors);
    let pitch = raw.pitch.map_or(Ok(50), |p| {
        check::int_in(doc, &p, "pitch", 0, 99, "espeak-ng pitch, 50 is normal")
    });
    let rate = raw.rate.map_or(Ok(165), |r| {
        check::int_in(doc, &r, "rate", 80, 450, "words per minute, 165 is normal")
    });
    let (pitch, rate) = match (pitch, rate) {
        (Ok(p), Ok(r)) => (p, r),
        (p, r) => {
            errors.extend(p.err());
            errors.extend(r.err());
            return None;
        }
    };
    if errors.len() != before {
        return None;
    }
    Some(Voice {
        name,
        engine: VoiceEngine::Espeak {
            language,
            variant,
            pitch,
            rate,
        },
    })
}

fn avatar(
    doc: &Doc,
    root: &Path,
    name: String,
    name_span: Range<usize>,
    raw: RawAvatar,
    errors: &mut Vec<ConfigError>,
) -> Option<Avatar> {
    let mut model = None;
    let lipsync = match raw.lipsync {
        None => "builtin".to_string(),
        Some(l) if l.get_ref().trim().is_empty() => {
            errors.push(
                ConfigError::at(
                    doc,
                    l.span(),
                    format!("empty `lipsync` in avatar `{name}`"),
                    "empty",
                )
                .with_help("leave it out for \"builtin\", or name a lip-sync model"),
            );
            return None;
        }
        Some(l) => {
            let lipsync = l.get_ref().trim().to_string();
            if lipsync != "builtin" {
                match super::model::load(root, &lipsync) {
                    Ok(found) => model = Some(found),
                    Err(ModelProblem::NotFound { message, help }) => {
                        errors.push(
                            ConfigError::at(doc, l.span(), message, "no such model")
                                .with_help(help),
                        );
                        return None;
                    }
                    Err(ModelProblem::Invalid(error)) => {
                        errors.push(error);
                        return None;
                    }
                }
            }
            lipsync
        }
    };
    let (path, kind) = match (raw.image, raw.video) {
        (Some(i), None) => (i, AvatarKind::Image),
        (None, Some(v)) => (v, AvatarKind::Video),
        (None, None) => {
            errors.push(
                ConfigError::at(
                    doc,
                    name_span,
                    format!("avatar `{name}` has no `image` or `video`"),
                    "no picture",
                )
                .with_help(format!(
                    "add `image = \"avatars/{name}.png\"` (a still portrait) or `video = \"avatars/{name}.mp4\"` (a clip of the face)"
                )),
            );
            return None;
        }
        (Some(_), Some(v)) => {
            errors.push(
                ConfigError::at(
                    doc,
                    v.span(),
                    format!("avatar `{name}` has both `image` and `video`"),
                    "second picture",
                )
                .with_help("keep exactly one of them"),
            );
            return None;
        }
    };
    let source = check::file(doc, root, &path, None)
        .and_then(|f| match kind {
            AvatarKind::Image => check::image_ext(doc, &path, &f).map(|()| f),
            AvatarKind::Video => Ok(f),
        })
        .map_err(|e| errors.push(e))
        .ok()?;
    Some(Avatar {
        name,
        source,
        kind,
        lipsync,
        model,
    })
}

/// The names declared under [voices] and [avatars], valid or not.
struct Declared<'a> {
    voices: &'a [String],
    avatars: &'a [String],
}

fn resolve_defaults(
    doc: &Doc,
    root: &Path,
    raw: RawDefaults,
    declared: &Declared<'_>,
    errors: &mut Vec<ConfigError>,
) -> Defaults {
    let (voices, avatars) = (declared.voices, declared.avatars);
    let mut d = Defaults {
        fps: DEFAULT_FPS,
        width: DEFAULT_SIZE.0,
        height: DEFAULT_SIZE.1,
        pause: DEFAULT_PAUSE,
        background: Background::Colour(DEFAULT_BACKGROUND),
        voice: only(voices),
        avatar: only(avatars),
    };
    let mut take = |r: Result<(), ConfigError>| {
        if let Err(e) = r {
            errors.push(e);
        }
    };
    if let Some(v) = &raw.fps {
        take(check::fps(doc, v).map(|n| d.fps = n));
    }
    if let Some(v) = &raw.size {
        take(check::size(doc, v).map(|(w, h)| (d.width, d.height) = (w, h)));
    }
    if let Some(v) = &raw.pause {
        take(check::pause(doc, v).map(|p| d.pause = p));
    }
    if let Some(v) = &raw.background {
        take(check::background(doc, root, v, None).map(|b| d.background = b));
    }
    if let Some(v) = &raw.voice {
        if voices.contains(v.get_ref()) {
            d.voice = Some(v.get_ref().clone());
        } else {
            take(Err(unknown_name(
                doc,
                v.span(),
                "voice",
                v.get_ref(),
                voices,
                "voices are declared as [voices.<name>]",
            )));
        }
    }
    if let Some(v) = &raw.avatar {
        if avatars.contains(v.get_ref()) {
            d.avatar = Some(v.get_ref().clone());
        } else {
            take(Err(unknown_name(
                doc,
                v.span(),
                "avatar",
                v.get_ref(),
                avatars,
                "avatars are declared as [avatars.<name>]",
            )));
        }
    }
    d
}

/// The name, if there is exactly one.
fn only(names: &[String]) -> Option<String> {
    match names {
        [one] => Some(one.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{load, AvatarKind, VoiceEngine};

    const R: &str = "Renderfile.toml";

    fn fatal(renderfile: &str) -> Vec<super::ConfigError> {
        Folder::new(renderfile).fatal()
    }

    #[test]
    fn missing_renderfile_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let errors = load(dir.path()).unwrap_err();
        assert_eq!(errors.len(), 1);
        let e = &errors[0];
        assert_eq!(e.location(), R);
        assert!(
            e.message.starts_with("no `Renderfile.toml` in `"),
            "{}",
            e.message
        );
        assert!(e.help.as_deref().unwrap().contains("[voices.<name>]"));
    }

    #[test]
    fn syntax_error() {
        let errors = fatal("[render\ndevice = \"cpu\"\n");
        assert!(
            errors[0].message.starts_with("TOML syntax error: "),
            "{}",
            errors[0].message
        );
        assert_eq!(errors[0].location(), "Renderfile.toml:1:8");
    }

    #[test]
    fn unknown_voice_key_suggests_the_right_one() {
        let errors = fatal("[voices.narrator]\npich = 40\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n");
        assert_one(
            &errors,
            "unknown key `pich` in voice `narrator`",
            "Renderfile.toml:2:1",
            "did you mean `pitch`?",
        );
    }

    #[test]
    fn unknown_section_and_misplaced_keys() {
        let errors = fatal("device = \"cpu\"\n\n[voice.narrator]\npitch = 40\n");
        assert_eq!(errors.len(), 2, "{}", show(&errors));
        assert_error(
            &errors[0],
            "`device` belongs in the [render] section",
            "Renderfile.toml:1:1",
            "below a `[render]` line",
        );
        assert_error(
            &errors[1],
            "unknown key `voice` in Renderfile.toml",
            "Renderfile.toml:3:2",
            "did you mean `voices`?",
        );
    }

    #[test]
    fn voice_written_as_keys_under_voices() {
        let errors = fatal("[voices]\nengine = \"espeak\"\n");
        assert_one(
            &errors,
            "voice `engine` must be a table",
            "Renderfile.toml:2:10",
            "[voices.<name>]",
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = fatal(
            "[render]\ndevice = \"gpu\"\njobs = 0\n\n[voices.narrator]\nengine = \"festival\"\npitch = 120\nrate = 20\nlanguage = \"en us\"\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
        );
        assert_eq!(errors.len(), 6, "{}", show(&errors));
        assert_error(
            &errors[0],
            "unknown device `gpu`",
            "Renderfile.toml:2:10",
            "\"auto\", \"cpu\" or \"cuda:N\"",
        );
        assert_error(
            &errors[1],
            "`jobs` must be between 1 and 1024, not 0",
            "Renderfile.toml:3:8",
            "parallel jobs",
        );
        assert_error(
            &errors[2],
            "unknown voice engine `festival`",
            "Renderfile.toml:6:10",
            "the only engine is \"espeak\"",
        );
        assert_error(
            &errors[3],
            "`pitch` must be between 0 and 99, not 120",
            "Renderfile.toml:7:9",
            "50 is normal",
        );
        assert_error(
            &errors[4],
            "`rate` must be between 80 and 450, not 20",
            "Renderfile.toml:8:8",
            "words per minute",
        );
        assert_error(
            &errors[5],
            "`language` of voice `narrator` is not an espeak-ng name: `en us`",
            "Renderfile.toml:9:12",
            "espeak-ng --voices",
        );
    }

    #[test]
    fn device_formats() {
        for (written, device) in [
            ("auto", "auto"),
            ("cpu", "cpu"),
            ("cuda", "cuda:0"),
            ("cuda:1", "cuda:1"),
        ] {
            let f = Folder::new(
                &RENDERFILE.replace("device = \"cpu\"", &format!("device = \"{written}\"")),
            );
            assert_eq!(f.load().manifest.settings.device, device);
        }
        let errors = fatal(&RENDERFILE.replace("device = \"cpu\"", "device = \"cuda:x\""));
        assert_one(
            &errors,
            "unknown device `cuda:x`",
            "Renderfile.toml:2:10",
            "cuda:0",
        );
    }

    #[test]
    fn avatar_problems() {
        let f = Folder::new(
            "[voices.narrator]\n\n[avatars.a]\nimage = \"avatars/astronaut.png\"\nvideo = \"avatars/talk.mp4\"\n\n[avatars.b]\nlipsync = \"builtin\"\n\n[avatars.c]\nimage = \"avatars/astronot.png\"\n\n[avatars.d]\nimage = \"avatars/d.gif\"\n",
        );
        f.write("avatars/d.gif", "gif");
        let errors = f.fatal();
        assert_eq!(errors.len(), 4, "{}", show(&errors));
        assert_error(
            &errors[0],
            "avatar `a` has both `image` and `video`",
            "Renderfile.toml:5:9",
            "exactly one",
        );
        assert_error(
            &errors[1],
            "avatar `b` has no `image` or `video`",
            "Renderfile.toml:7:10",
            "image = \"avatars/b.png\"",
        );
        assert_error(
            &errors[2],
            "file `avatars/astronot.png` not found",
            "Renderfile.toml:11:9",
            "did you mean `avatars/astronaut.png`?",
        );
        assert_error(
            &errors[3],
            "`avatars/d.gif` is not a PNG or JPEG image",
            "Renderfile.toml:14:9",
            ".png or .jpg",
        );
    }

    #[test]
    fn video_avatar_and_lipsync_model() {
        let f = Folder::new(
            "[voices.narrator]\n\n[avatars.talker]\nvideo = \"avatars/talk.mp4\"\nlipsync = \"wav2lip\"\n",
        );
        f.write("avatars/talk.mp4", "mp4");
        let errors = f.fatal();
        assert_one(
            &errors,
            "lip-sync model `wav2lip` not found: no `models/wav2lip/model.toml`",
            "Renderfile.toml:5:11",
            "tools/export/README.md",
        );

        f.write(
            "models/wav2lip/model.toml",
            "kind = \"lipsync\"\nformat = \"torchscript\"\nfile = \"w.pt\"\ncontract = \"wav2lip\"\nbatch_size = 16\n",
        );
        f.write("models/wav2lip/w.pt", "weights");
        let m = f.load().manifest;
        let a = &m.avatars["talker"];
        assert_eq!(a.kind, AvatarKind::Video);
        assert_eq!(a.source.rel, "avatars/talk.mp4");
        assert_eq!(a.lipsync, "wav2lip");
        let model = a.model.as_ref().unwrap();
        assert_eq!(model.file.rel, "models/wav2lip/w.pt");
        assert_eq!(model.batch_size, 16);
    }

    #[test]
    fn voices_must_be_known_to_espeak() {
        if crate::toolchain::espeak_names().is_none() {
            return; // no espeak-ng here: the build reports that instead
        }
        let f = Folder::new(
            "[voices.narrator]\nlanguage = \"en-uss\"\nvariant = \"m3\"\n\n[avatars.a]\nimage = \"avatars/a.png\"\n",
        );
        f.write("avatars/a.png", "png");
        assert_one(
            &f.fatal(),
            "espeak-ng has no language `en-uss`",
            "Renderfile.toml:2:12",
            "did you mean `en-us`?",
        );
        f.write(
            "Renderfile.toml",
            "[voices.narrator]\nlanguage = \"en-us\"\nvariant = \"zz9\"\n\n[avatars.a]\nimage = \"avatars/a.png\"\n",
        );
        assert_one(
            &f.fatal(),
            "espeak-ng has no variant `zz9`",
            "Renderfile.toml:3:11",
            "espeak-ng --voices=variant",
        );
    }

    #[test]
    fn model_manifests_are_checked() {
        let f = Folder::new(
            "[voices.narrator]\n\n[avatars.talker]\nimage = \"avatars/a.png\"\nlipsync = \"m\"\n",
        );
        f.write("avatars/a.png", "png");
        f.write(
            "models/m/model.toml",
            "kind = \"lipsync\"\nformat = \"torchscript\"\nfile = \"../../../etc/passwd\"\ncontract = \"wav2lip\"\n",
        );
        assert_one(
            &f.fatal(),
            "model file `models/m/../../../etc/passwd` not found",
            "models/m/model.toml:3:8",
            "relative to the model's folder",
        );
        f.write(
            "models/m/model.toml",
            "kind = \"lipsync\"\nformat = \"onnx\"\nfile = \"m.pt\"\ncontract = \"wav2lip\"\n",
        );
        assert_one(
            &f.fatal(),
            "unknown model format `onnx`",
            "models/m/model.toml:2:10",
            "torchscript",
        );
        f.write(
            "models/m/model.toml",
            "kind = \"lipsync\"\nformat = \"torchscript\"\nfile = \"m.pt\"\ncontract = \"wav2lip\"\nbatch_sise = 4\n",
        );
        let errors = f.fatal();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("unknown key `batch_sise`"),
            "{}",
            errors[0].message
        );
        assert_eq!(
            errors[0].help.as_deref(),
            Some("did you mean `batch_size`?")
        );
    }

    #[test]
    fn defaults_must_name_declared_voices_and_avatars() {
        let errors = fatal(
            "[defaults]\nvoice = \"narator\"\navatar = \"robot\"\n\n[voices.narrator]\n[voices.guest]\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
        );
        assert_eq!(errors.len(), 2, "{}", show(&errors));
        assert_error(
            &errors[0],
            "unknown voice `narator`",
            "Renderfile.toml:2:9",
            "did you mean `narrator`?",
        );
        assert_error(
            &errors[1],
            "unknown avatar `robot`",
            "Renderfile.toml:3:10",
            "declared avatars: `astronaut`; avatars are declared as [avatars.<name>]",
        );
    }

    #[test]
    fn bad_defaults() {
        let errors = fatal(
            &format!("{RENDERFILE}fps = 0\nsize = [1280]\nbackground = \"#zzzzzz\"\npause = 31\n")
                .replace(
                    "[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
                    "[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n[defaults]\n",
                )
                .replace("[defaults]\nvoice = \"narrator\"\n", ""),
        );
        assert_eq!(errors.len(), 4, "{}", show(&errors));
        assert_eq!(errors[0].message, "`fps` must be between 1 and 120, not 0");
        assert_eq!(
            errors[1].message,
            "`size` must be [width, height], not 1 number"
        );
        assert_eq!(errors[2].message, "`#zzzzzz` is not a colour");
        assert_eq!(
            errors[3].message,
            "`pause` must be between 0 and 30 seconds, not 31"
        );
    }

    #[test]
    fn voice_defaults() {
        let m = Folder::new(RENDERFILE).load().manifest;
        assert_eq!(
            m.voices["narrator"].engine,
            VoiceEngine::Espeak {
                language: "en-us".into(),
                variant: Some("m3".into()),
                pitch: 50,
                rate: 165
            }
        );
        assert_eq!(
            m.voices["guest"].engine,
            VoiceEngine::Espeak {
                language: "en-gb".into(),
                variant: None,
                pitch: 60,
                rate: 165
            }
        );
    }
}
