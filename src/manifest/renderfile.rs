//! `Renderfile.toml`: farm settings, defaults, voices and avatars.
//!
//! Every problem in its declarations is fatal (nothing can be built without voices and
//! avatars), but all of them are collected before giving up. What is inside the files its
//! avatars and voice samples name is checked later, for the lines that need them
//! ([`Renderfile::check_used_media`]): a bad one leaves out only those lines' scenes.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::de::DeTable;
use toml::Spanned;

use super::command::{self, CommandEngine, RawEngine, Stage};
use super::espeak::{self, espeak_voice, RawVoice};
use super::model::ModelProblem;
use super::settings::{self, Declared, RawSettings, SceneSettings};
use super::shots::{self, Generated};
use super::values::{in_range, Device};
use super::{
    paths, table, Avatar, AvatarKind, CheckMedia, Face, Media, Project, Scene, Settings,
    SourceFile, Voice, VoiceEngine,
};
use crate::diagnostic::{ConfigError, Doc, Errors, Warning};

const TOP_KEYS: &[&str] = &[
    "render", "defaults", "voices", "avatars", "engines", "stills", "shots",
];
const RENDER_KEYS: &[&str] = &[
    "device",
    "jobs",
    "gpus",
    "devices",
    "lanes_per_gpu",
    "lanes",
];
const AVATAR_KEYS: &[&str] = &["image", "video", "lipsync", "motion", "face"];

/// `[render]`
#[derive(Deserialize, Default)]
struct RawRender {
    device: Option<Spanned<String>>,
    jobs: Option<Spanned<i64>>,
    gpus: Option<Spanned<i64>>,
    devices: Option<Spanned<Vec<Spanned<String>>>>,
    lanes_per_gpu: Option<Spanned<i64>>,
    lanes: Option<Spanned<i64>>,
}

/// `[avatars.<name>]`
#[derive(Deserialize)]
struct RawAvatar {
    /// A path, or `{ still = "<name>" }`.
    image: Option<Spanned<toml::Value>>,
    video: Option<Spanned<String>>,
    lipsync: Option<Spanned<String>>,
    motion: Option<Spanned<String>>,
    /// `"left"` or `"right"`: which of its picture's two people the avatar is.
    face: Option<Spanned<toml::Value>>,
}

pub(crate) struct Renderfile<'a> {
    pub settings: Settings,
    /// `[defaults]` over the built-in settings.
    pub defaults: SceneSettings,
    pub declared: Declared<'a>,
    pub voices: BTreeMap<String, Voice>,
    pub avatars: BTreeMap<String, Avatar>,
    pub engines: BTreeMap<String, CommandEngine>,
    /// `[stills.*]` and `[shots.*]`.
    pub generated: Generated,
    /// `background = "..."` in `[defaults]`, as written, for the warning when no scene shows it.
    pub default_background: Option<Spanned<String>>,
    /// Where each avatar's and voice sample's file is named (its rel → the value's span),
    /// for [`Renderfile::check_used_media`].
    file_keys: BTreeMap<String, Range<usize>>,
    /// Why each engine no voice or avatar uses cannot run on this machine (a missing
    /// program), for a scene variant that names one (`variants.rs`).
    pub unusable: BTreeMap<String, Vec<ConfigError>>,
}

/// Engines with the reasons each cannot run here (reported only if used).
pub(crate) type Engines = BTreeMap<String, (CommandEngine, Vec<ConfigError>)>;

/// Checks `Renderfile.toml` (`doc`) in the canonical content folder `root`; `machine` are
/// this machine's engines, which win over the folder's of the same name; `media` checks the
/// files that keys name.
pub(crate) fn parse<'a>(
    root: &Path,
    doc: &Doc,
    machine: Engines,
    media: &'a dyn CheckMedia,
) -> Result<Renderfile<'a>, Vec<ConfigError>> {
    let mut top = table::parse_document(doc)?;
    let mut errors = Vec::new();
    let e = &mut errors;
    misplaced_keys(doc, &mut top, e);
    table::unknown_keys(doc, &mut top, TOP_KEYS, "in Renderfile.toml", e);

    let render: RawRender = section(doc, &mut top, "render", RENDER_KEYS, e);
    let defaults: RawSettings = section(doc, &mut top, "defaults", settings::KEYS, e);
    let raw_voices: Vec<(_, _, RawVoice)> = named(doc, &mut top, "voice", espeak::KEYS, e);
    let raw_avatars: Vec<(_, _, RawAvatar)> = named(doc, &mut top, "avatar", AVATAR_KEYS, e);
    let mut engines = engines(doc, root, &mut top, e);
    engines.extend(machine);
    let (engines, mut missing): (BTreeMap<_, _>, BTreeMap<_, _>) = (engines.into_iter())
        .map(|(name, (engine, missing))| ((name.clone(), engine), (name, missing)))
        .unzip();

    let raw_stills = named(doc, &mut top, "still", shots::STILL_KEYS, e);
    let raw_shots = named(doc, &mut top, "shot", shots::SHOT_KEYS, e);
    let generated = shots::parse(doc, root, raw_stills, raw_shots, &engines, e);
    let settings = farm_settings(doc, render, e);
    let declared = Declared {
        root: root.to_path_buf(),
        media,
        voices: raw_voices.iter().map(|v| v.0.clone()).collect(),
        avatars: raw_avatars.iter().map(|a| a.0.clone()).collect(),
        generated: generated.names(),
    };
    let mut file_keys = BTreeMap::new();
    let voices: BTreeMap<String, Voice> = (raw_voices.into_iter())
        .filter_map(|(name, _, raw)| {
            if let Some(avatar) = &raw.avatar {
                e.extend(declared.check(doc, "avatar", avatar).err());
            }
            let sample_keys: Vec<Range<usize>> = (raw.samples.iter())
                .flat_map(|s| s.get_ref().iter().map(Spanned::span))
                .collect();
            let voice = match raw.engine.as_ref().map(|e| e.get_ref().as_str()) {
                None | Some("espeak") => espeak_voice(doc, &name, raw, e),
                Some(engine) if engines.contains_key(engine) => {
                    command::voice(doc, root, &name, raw, &engines, e)
                }
                Some(_) => {
                    // Still check the rest of the voice, as espeak's.
                    let unknown = raw.engine.as_ref().unwrap();
                    e.push(command::unknown_engine(doc, unknown, &engines));
                    espeak_voice(doc, &name, raw, e).and(None)
                }
            };
            let voice = voice?;
            if let VoiceEngine::Command { samples, .. } = &voice.engine {
                // A voice is made only when all its samples resolved, one for each key.
                for (sample, key) in samples.iter().zip(sample_keys) {
                    file_keys.entry(sample.rel.clone()).or_insert(key);
                }
            }
            Some((name.clone(), voice))
        })
        .collect();
    let avatars: BTreeMap<String, Avatar> = (raw_avatars.into_iter())
        .filter_map(|(name, span, raw)| {
            let named = (name.clone(), span);
            let (avatar, key) = avatar(doc, root, named, raw, (&engines, &generated), e)?;
            file_keys.entry(avatar.source.rel.clone()).or_insert(key);
            Some((name, avatar))
        })
        .collect();
    // An engine this machine lacks is an error only where something uses it.
    let mut used: Vec<&str> = (voices.values())
        .filter_map(|v| match &v.engine {
            VoiceEngine::Command { engine, .. } => Some(engine.as_str()),
            VoiceEngine::Espeak { .. } => None,
        })
        .flat_map(|name| [Some(name), engines[name].conditioning.as_deref()])
        .flatten()
        .chain(avatars.values().map(|a| a.lipsync.as_str()))
        .chain((generated.stills.values()).map(|s| s.made.engine.as_str()))
        .chain((generated.shots.values()).flat_map(|s| {
            [
                Some(s.made.engine.as_str()),
                s.pose.as_ref().map(|p| p.engine.as_str()),
            ]
            .into_iter()
            .flatten()
        }))
        .collect();
    used.sort();
    used.dedup();
    for name in used {
        errors.extend(missing.remove(name).unwrap_or_default());
    }
    missing.retain(|_, problems| !problems.is_empty());
    let e = &mut errors;
    let default_background = defaults.background_written();
    let defaults = SceneSettings::builtin(&declared).resolve(&defaults, doc, None, &declared, e);
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.span().map_or(0, |s| s.offset()));
        return Err(errors);
    }
    Ok(Renderfile {
        settings,
        defaults,
        declared,
        voices,
        avatars,
        engines,
        generated,
        default_background,
        file_keys,
        unusable: missing,
    })
}

impl Renderfile<'_> {
    /// Checks the contents of the avatars that lines show and of the samples of the voices
    /// that lines have, in Renderfile.toml (`doc`): a file no line needs is never read
    /// (a declared but unused avatar may be a placeholder). A bad file leaves out every scene
    /// that needs it; its error is reported once, at its key.
    pub fn check_used_media(
        &self,
        doc: &Doc,
        projects: &mut Vec<Project>,
    ) -> (Vec<ConfigError>, Vec<Warning>) {
        let lines = || {
            projects
                .iter()
                .flat_map(|p| &p.scenes)
                .flat_map(Scene::builds)
                .flat_map(|(_, s)| &s.lines)
        };
        let shown: BTreeSet<&str> = lines().map(|l| l.avatar.as_str()).collect();
        // As the graph: a voice's conditioning is made for any line of it, recorded or not.
        let spoken: BTreeSet<&str> = lines().map(|l| l.voice.as_str()).collect();
        let (mut errors, mut warnings) = (Vec::new(), Vec::new());
        let (mut bad_avatars, mut bad_voices) = (BTreeSet::new(), BTreeSet::new());
        // True if usable. What a file gives is said once, though two voices share a sample.
        let mut said = BTreeSet::new();
        let mut check = |file: &SourceFile, media| {
            let span = self.file_keys.get(&file.rel).cloned().unwrap_or(0..0);
            let answer = self.declared.check_media(doc, span, file, media);
            let first = said.insert((file.rel.clone(), media));
            match answer {
                Ok(warning) => {
                    warnings.extend(warning.filter(|_| first));
                    true
                }
                Err(e) => {
                    errors.extend(first.then_some(e));
                    false
                }
            }
        };
        for (name, avatar) in &self.avatars {
            let media = match avatar.kind {
                // A picture of two people: exactly two faces, one of them the avatar's.
                AvatarKind::Image if avatar.face.is_some() => Media::TwoPeopleImage,
                AvatarKind::Image => Media::AvatarImage,
                AvatarKind::Video => Media::AvatarVideo,
            };
            // A still or a motion shot is made by render: nothing to read yet.
            let made = avatar.still.is_some() || avatar.motion.is_some();
            if shown.contains(name.as_str()) && !made && !check(&avatar.source, media) {
                bad_avatars.insert(name.clone());
            }
        }
        for (name, voice) in &self.voices {
            let VoiceEngine::Command { samples, .. } = &voice.engine else {
                continue;
            };
            if spoken.contains(name.as_str()) {
                // Every sample is checked, so that each bad one is reported.
                let usable: Vec<bool> = (samples.iter())
                    .map(|s| check(s, Media::VoiceSample))
                    .collect();
                if usable.contains(&false) {
                    bad_voices.insert(name.clone());
                }
            }
        }
        let needs_bad = |scene: &Scene| {
            (scene.builds().into_iter().flat_map(|(_, s)| &s.lines))
                .any(|l| bad_avatars.contains(&l.avatar) || bad_voices.contains(&l.voice))
        };
        for project in projects.iter_mut() {
            project.scenes.retain(|scene| !needs_bad(scene));
        }
        projects.retain(|p| !p.scenes.is_empty());
        (errors, warnings)
    }
}

/// What the `lipsync` value `lipsync` (written at `span`) names: Ok(None) for "builtin" or
/// a command engine with stage = "lipsync", Ok(Some) for a model under models/; an avatar's
/// `lipsync` and a scene variant's (`manifest/variants.rs`) are read alike.
pub(crate) fn lipsync_model(
    doc: &Doc,
    root: &Path,
    span: Range<usize>,
    lipsync: &str,
    engines: &BTreeMap<String, CommandEngine>,
) -> Result<Option<super::model::Model>, ConfigError> {
    if let Some(engine) = engines.get(lipsync) {
        if engine.stage == Stage::Lipsync {
            return Ok(None);
        }
        let message = format!(
            "engine `{lipsync}` makes {}, not lip-sync clips",
            engine.stage.makes()
        );
        let help = "an avatar's `lipsync` is \"builtin\", a model under models/, or an engine with stage = \"lipsync\"";
        return Err(doc.err(span, message, "not a lip-sync engine", help));
    }
    if lipsync == "builtin" {
        return Ok(None);
    }
    super::model::load(root, lipsync)
        .map(Some)
        .map_err(|p| match p {
            ModelProblem::NotFound { message, help } => {
                doc.err(span, message, "no such model", help)
            }
            ModelProblem::Invalid(error) => error,
        })
}

/// `[engines.<name>]` in `doc`, whose relative paths are relative to `base`.
pub(crate) fn engines(
    doc: &Doc,
    base: &Path,
    top: &mut DeTable<'_>,
    errors: &mut Vec<ConfigError>,
) -> Engines {
    let raw: Vec<(_, _, RawEngine)> = named(doc, top, "engine", command::KEYS, errors);
    let mut engines = BTreeMap::new();
    for (name, span, raw) in raw {
        if !paths::is_identifier(&name) {
            let msg = format!("engine name `{name}` is not allowed");
            let help = "use only letters, digits, `-` and `_`";
            errors.push(doc.err(span, msg, "bad name", help));
            continue;
        }
        if let Some(engine) = command::engine(doc, base, &name, raw, errors) {
            engines.insert(name, engine);
        }
    }
    engines
}

/// This machine's engines file (`$RENDER_ENGINES`, else ~/.config/render/engines.toml), if
/// there is one: only `[engines.<name>]` tables, with paths relative to the file.
pub(crate) fn machine_engines() -> Result<Engines, Vec<ConfigError>> {
    let Some(path) = command::machine_file() else {
        return Ok(Engines::new());
    };
    let name = path.display().to_string();
    let text = match super::text::read(&path) {
        Ok(text) => text,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && std::env::var_os("RENDER_ENGINES").is_none() =>
        {
            return Ok(Engines::new())
        }
        Err(e) => {
            let help =
                "this machine's engines file: $RENDER_ENGINES, else ~/.config/render/engines.toml";
            return Err(vec![ConfigError::in_file(
                &name,
                format!("cannot read `{name}`: {e}"),
            )
            .with_help(help)]);
        }
    };
    let doc = Doc::new(name, text);
    let mut top = table::parse_document(&doc)?;
    let mut errors = Vec::new();
    let ctx = "in this machine's engines file (it declares only [engines.<name>])";
    table::unknown_keys(&doc, &mut top, &["engines"], ctx, &mut errors);
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let engines = engines(&doc, &base, &mut top, &mut errors);
    if errors.is_empty() {
        Ok(engines)
    } else {
        Err(errors)
    }
}

/// Top-level keys that belong in a section (`device = "cpu"` written above `[render]`).
fn misplaced_keys(doc: &Doc, top: &mut DeTable<'_>, errors: &mut Vec<ConfigError>) {
    let misplaced: Vec<(String, Range<usize>)> = (top.iter())
        .filter(|(k, v)| {
            !v.get_ref().is_table()
                && [RENDER_KEYS, settings::KEYS]
                    .concat()
                    .contains(&k.get_ref().as_ref())
        })
        .map(|(k, _)| (k.get_ref().to_string(), k.span()))
        .collect();
    for (key, span) in misplaced {
        top.remove(key.as_str());
        let section = if RENDER_KEYS.contains(&key.as_str()) {
            "render"
        } else {
            "defaults"
        };
        let help = format!(
            "move it below a `[{section}]` line; keys above the first [section] are top-level"
        );
        let message = format!("`{key}` belongs in the [{section}] section");
        errors.push(doc.err(span, message, "not in a section", help));
    }
}

/// `[render]` / `[defaults]`: a table of `keys`, read into `T` (default when absent or bad).
fn section<T: DeserializeOwned + Default>(
    doc: &Doc,
    top: &mut DeTable<'_>,
    name: &str,
    keys: &[&str],
    errors: &mut Vec<ConfigError>,
) -> T {
    let Some(value) = top.remove(name) else {
        return T::default();
    };
    let (msg, help) = (
        format!("`{name}` must be a table"),
        format!("write it as a [{name}] section"),
    );
    table::read(
        doc,
        value,
        [&msg, &help],
        keys,
        &format!("in [{name}]"),
        errors,
    )
    .unwrap_or_default()
}

/// `[voices.<name>]` / `[avatars.<name>]` (`what` = "voice" / "avatar"): (name, span of the
/// name, `T`) for each that could be read.
fn named<T: DeserializeOwned>(
    doc: &Doc,
    top: &mut DeTable<'_>,
    what: &str,
    keys: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Vec<(String, Range<usize>, T)> {
    let Some(value) = top.remove(format!("{what}s").as_str()) else {
        return Vec::new();
    };
    let msg = format!("`{what}s` must be a table of {what}s");
    let help = format!("declare each {what} as its own section, e.g. [{what}s.narrator]");
    let Some((_, all)) = errors.keep(table::table(doc, value, msg, &help)) else {
        return Vec::new();
    };
    let example = match what {
        "voice" => r#"engine = "espeak""#,
        "engine" => r#"stage = "speech""#,
        _ => r#"image = "avatars/host.png""#,
    };
    let mut out = Vec::new();
    for (key, value) in all {
        let name = key.get_ref().to_string();
        let help = format!(
            "declare each {what} as its own section: [{what}s.<name>] followed by its keys (e.g. {example}); `{name}` looks like a key written directly under [{what}s]"
        );
        let (msg, ctx) = (
            format!("{what} `{name}` must be a table"),
            format!("in {what} `{name}`"),
        );
        if let Some(raw) = table::read(doc, value, [&msg, &help], keys, &ctx, errors) {
            out.push((name, key.span(), raw));
        }
    }
    out
}

/// `[render]`
fn farm_settings(doc: &Doc, raw: RawRender, errors: &mut Vec<ConfigError>) -> Settings {
    let device_at = raw.device.as_ref().map(|d| d.span());
    let device = raw.device.and_then(|d| errors.keep(Device::parse(doc, &d)));
    let help = "the number of parallel jobs; leave it out to use every core";
    let jobs = raw
        .jobs
        .and_then(|j| errors.keep(in_range(doc, &j, "`jobs`", (1..=1024, ""), help)));
    let count =
        |v: &Option<Spanned<i64>>, what: &str, help: &str, errors: &mut Vec<ConfigError>| {
            v.as_ref()
                .and_then(|n| errors.keep(in_range(doc, n, what, (1..=1024, ""), help)))
                .map(|n| n as usize)
        };
    let gpus = count(
        &raw.gpus,
        "`gpus`",
        "how many of this machine's GPUs to use; leave it out to use every one",
        errors,
    );
    let per_gpu = count(
        &raw.lanes_per_gpu,
        "`lanes_per_gpu`",
        "jobs at once on each GPU (small models sharing a large card)",
        errors,
    );
    let cpu = count(
        &raw.lanes,
        "`lanes`",
        "model jobs at once on a machine without a GPU",
        errors,
    );
    let devices_at = raw.devices.as_ref().map(|d| d.span());
    let devices = raw.devices.map(|list| {
        (list.into_inner().into_iter())
            .filter_map(|d| {
                let index = d
                    .get_ref()
                    .strip_prefix("cuda:")
                    .and_then(|n| n.parse::<usize>().ok());
                if index.is_none() {
                    let message = format!("unknown GPU `{}` in `devices`", d.get_ref());
                    errors.push(doc.err(
                        d.span(),
                        message,
                        "not a GPU",
                        "GPUs are named \"cuda:0\", \"cuda:1\", …",
                    ));
                }
                index
            })
            .collect()
    });
    Settings {
        device: device.map_or_else(|| "auto".to_string(), |d| d.0),
        device_at,
        jobs: jobs.map(|n| n as usize),
        lanes: crate::device::LaneSettings {
            gpus,
            devices,
            per_gpu,
            cpu,
        },
        devices_at,
    }
}

/// `[avatars.<name>]` (the name and its span), with the span of the path of its file.
fn avatar(
    doc: &Doc,
    root: &Path,
    (name, name_span): (String, Range<usize>),
    raw: RawAvatar,
    (engines, generated): (&BTreeMap<String, CommandEngine>, &Generated),
    errors: &mut Vec<ConfigError>,
) -> Option<(Avatar, Range<usize>)> {
    let lipsync = raw
        .lipsync
        .as_ref()
        .map_or("builtin", |l| l.get_ref().trim())
        .to_string();
    let model = match &raw.lipsync {
        Some(l) if lipsync.is_empty() => {
            let (msg, help) = (
                format!("empty `lipsync` in avatar `{name}`"),
                "leave it out for \"builtin\", or name a lip-sync model",
            );
            Err(doc.err(l.span(), msg, "empty", help))
        }
        Some(l) => lipsync_model(doc, root, l.span(), &lipsync, engines),
        None => Ok(None),
    };
    let model = errors.keep(model)?;
    let face = match &raw.face {
        Some(face) => Some(errors.keep(face_of(doc, &name, face, &raw, &lipsync, engines))?),
        None => None,
    };
    if let Some(motion) = &raw.motion {
        return motion_avatar(
            doc,
            root,
            (name, motion),
            raw.image.is_some() || raw.video.is_some(),
            (lipsync, model),
            (engines, generated),
            errors,
        );
    }
    let image = match raw.image {
        None => None,
        Some(v) => match v.get_ref() {
            toml::Value::String(path) => Some(Spanned::new(v.span(), path.clone())),
            value => {
                let still = match super::references::reference(value) {
                    Some((false, still)) if generated.stills.contains_key(&still) => still,
                    Some((_, still)) => {
                        let names = generated.names();
                        errors.push(super::references::unknown(
                            doc,
                            v.span(),
                            &still,
                            false,
                            &names,
                        ));
                        return None;
                    }
                    None => {
                        let msg =
                            format!("avatar `{name}`: `image` must be a picture file or a still");
                        let help = "e.g. image = \"avatars/host.png\" or image = { still = \"host\" } (a [stills.host] made from a prompt)";
                        errors.push(doc.err(v.span(), msg, "not a picture", help));
                        return None;
                    }
                };
                if let Some(video) = &raw.video {
                    let msg = format!("avatar `{name}` has both `image` and `video`");
                    errors.push(doc.err(
                        video.span(),
                        msg,
                        "second picture",
                        "keep exactly one of them",
                    ));
                    return None;
                }
                let avatar = Avatar {
                    source: stand_in(root, "still", &still),
                    name,
                    kind: AvatarKind::Image,
                    lipsync,
                    model,
                    still: Some(still),
                    motion: None,
                    made: None,
                    face: None,
                };
                return Some((avatar, v.span()));
            }
        },
    };
    let (path, kind) = match (image, raw.video) {
        (Some(i), None) => (i, AvatarKind::Image),
        (None, Some(v)) => (v, AvatarKind::Video),
        (None, None) => {
            let help = format!(
                "add `image = \"avatars/{name}.png\"` (a still portrait) or `video = \"avatars/{name}.mp4\"` (a clip of the face)"
            );
            let message = format!("avatar `{name}` has no `image` or `video`");
            errors.push(doc.err(name_span, message, "no picture", help));
            return None;
        }
        (Some(_), Some(v)) => {
            let (msg, help) = (
                format!("avatar `{name}` has both `image` and `video`"),
                "keep exactly one of them",
            );
            errors.push(doc.err(v.span(), msg, "second picture", help));
            return None;
        }
    };
    let source = paths::file(doc, root, &path, None).and_then(|f| match kind {
        AvatarKind::Image => paths::image_ext(doc, &path, &f).map(|()| f),
        AvatarKind::Video => Ok(f),
    });
    let source = errors.keep(source)?;
    let avatar = Avatar {
        name,
        source,
        kind,
        lipsync,
        model,
        still: None,
        motion: None,
        made: None,
        face,
    };
    Some((avatar, path.span()))
}

/// Avatar `name`'s `face` (`raw` is the avatar, `lipsync` its engine): which of the two
/// people of its picture file it is. A video, or a picture render makes, shows one person
/// as far as `face` goes; an engine that finds the face itself would not follow it.
fn face_of(
    doc: &Doc,
    name: &str,
    face: &Spanned<toml::Value>,
    raw: &RawAvatar,
    lipsync: &str,
    engines: &BTreeMap<String, CommandEngine>,
) -> Result<Face, ConfigError> {
    let at = face.span();
    let face = match face.get_ref().as_str() {
        Some("left") => Face::Left,
        Some("right") => Face::Right,
        _ => {
            let msg = format!("avatar `{name}`: `face` must be \"left\" or \"right\"");
            let help = "`face` says which of the two people its picture shows is the avatar, counted from the left: `face = \"left\"` or `face = \"right\"`";
            return Err(doc.err(at, msg, "which face?", help));
        }
    };
    let made = matches!(raw.image.as_ref().map(Spanned::get_ref), Some(v) if !v.is_str());
    let picture = match () {
        _ if raw.motion.is_some() => Some("moves as a shot render makes"),
        _ if raw.video.is_some() => Some("is a video"),
        _ if made => Some("is a still render makes"),
        _ => None,
    };
    if let Some(picture) = picture {
        let msg = format!("avatar `{name}` has `face`, and its picture {picture}");
        let help = "`face` picks one of the two people of a picture file, `image = \"avatars/studio.png\"`; video avatars and made ones show one person (and a shot of two people takes picture files only): leave `face` out";
        return Err(doc.err(at, msg, "needs a picture file", help));
    }
    if let Some(engine) = engines.get(lipsync).filter(|e| !e.two_people()) {
        let msg = format!(
            "avatar `{name}` has `face`, and its lip-sync engine `{}` finds a face in the picture on its own",
            engine.name
        );
        let help = "render's face track follows the face `face` names: use it with an engine for two people in a shot, or with the built-in lip-sync or a model for lines of one; for this engine, crop the picture to the avatar's face";
        return Err(doc.err(at, msg, "would not follow `face`", help));
    }
    Ok(face)
}

/// Where a made picture's file will be, until the graph knows its key: a name no file of
/// the content folder has (it is never read: the media checks and keys skip it).
fn stand_in(root: &Path, what: &str, name: &str) -> SourceFile {
    SourceFile {
        rel: format!("({what} {name})"),
        abs: root.to_path_buf(),
    }
}

/// `[avatars.<name>] motion = "<shot>"`: the avatar is that shot, lip-synced by a video
/// lip-sync engine (a command engine whose args take `{video}`).
#[allow(clippy::too_many_arguments)]
fn motion_avatar(
    doc: &Doc,
    root: &Path,
    (name, motion): (String, &Spanned<String>),
    has_picture: bool,
    (lipsync, model): (String, Option<super::model::Model>),
    (engines, generated): (&BTreeMap<String, CommandEngine>, &Generated),
    errors: &mut Vec<ConfigError>,
) -> Option<(Avatar, Range<usize>)> {
    let shot = motion.get_ref().trim();
    if !generated.shots.contains_key(shot) {
        let names = generated.names();
        errors.push(super::references::unknown(
            doc,
            motion.span(),
            shot,
            true,
            &names,
        ));
        return None;
    }
    if has_picture {
        let msg = format!("avatar `{name}` has both `motion` and a picture");
        let help = format!("with `motion` the avatar is the shot `{shot}`: remove `image`/`video`, and give the shot its start picture instead ([shots.{shot}] image = ...)");
        errors.push(doc.err(motion.span(), msg, "motion and a picture", help));
        return None;
    }
    let video_engines: Vec<&str> = (engines.values())
        .filter(|e| e.stage == Stage::Lipsync && e.uses("video"))
        .map(|e| e.name.as_str())
        .collect();
    let takes_video = engines.get(&lipsync).is_some_and(|e| e.uses("video"));
    if !takes_video || model.is_some() {
        let msg = format!("avatar `{name}` moves as shot `{shot}`, but its `lipsync` `{lipsync}` does not lip-sync a video");
        let help = match video_engines.as_slice() {
            [] => "idle motion is lip-synced by a command engine whose args take `{video}` (LatentSync, Wav2Lip): declare one with stage = \"lipsync\" and set `lipsync` to it".to_string(),
            names => format!("set `lipsync` to an engine that takes `{{video}}`: {}", crate::diagnostic::list(names)),
        };
        errors.push(doc.err(motion.span(), msg, "not a video lip-sync", help));
        return None;
    }
    let avatar = Avatar {
        source: stand_in(root, "shot", shot),
        name,
        kind: AvatarKind::Video,
        lipsync,
        model,
        still: None,
        motion: Some(shot.to_string()),
        made: None,
        face: None,
    };
    Some((avatar, motion.span()))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{load, AvatarKind, VoiceEngine};

    fn fatal(renderfile: &str) -> Vec<super::ConfigError> {
        Folder::new(renderfile).fatal()
    }

    #[test]
    fn missing_renderfile_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let errors = load(dir.path()).unwrap_err();
        let root = dir.path().canonicalize().unwrap();
        let msg = format!(
            "Renderfile.toml: no `Renderfile.toml` in `{}` | [voices.<name>]",
            root.display()
        );
        assert_errors(&errors, &[&msg]);
    }

    #[test]
    fn duplicate_table_names_the_first_definition() {
        let rf = format!("{RENDERFILE}\n[voices.guest]\npitch = 30\n");
        // Its keys join the first table, where `pitch` is then defined twice too.
        assert_errors(
            &fatal(&rf),
            &[
                "Renderfile.toml:17:9: duplicate table `[voices.guest]`, first defined on line 10 | a table may be declared only once: merge the two [voices.guest] sections into one",
                "Renderfile.toml:18:1: duplicate key `pitch`, first defined on line 12",
            ],
        );
    }

    #[test]
    fn syntax_error() {
        let errors = fatal("[render\ndevice = \"cpu\"\n");
        assert_errors(
            &errors,
            &["Renderfile.toml:1:8: TOML syntax error: unclosed table, expected `]`"],
        );
    }

    #[test]
    fn unknown_voice_key_suggests_the_right_one() {
        let errors = fatal("[voices.narrator]\npich = 40\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n");
        assert_errors(&errors, &["Renderfile.toml:2:1: unknown key `pich` in voice `narrator` | did you mean `pitch`?"]);
    }

    #[test]
    fn unknown_section_and_misplaced_keys() {
        let errors = fatal("device = \"cpu\"\n\n[voice.narrator]\npitch = 40\n");
        assert_errors(
            &errors,
            &[
                "Renderfile.toml:1:1: `device` belongs in the [render] section | below a `[render]` line",
                "Renderfile.toml:3:2: unknown key `voice` in Renderfile.toml | did you mean `voices`?",
            ],
        );
    }

    #[test]
    fn voice_written_as_keys_under_voices() {
        let errors = fatal("[voices]\nengine = \"espeak\"\n");
        assert_errors(
            &errors,
            &["Renderfile.toml:2:10: voice `engine` must be a table | [voices.<name>]"],
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = fatal(
            "[render]\ndevice = \"gpu\"\njobs = 0\n\n[voices.narrator]\nengine = \"festival\"\npitch = 120\nrate = 20\nlanguage = \"en us\"\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
        );
        assert_errors(
            &errors,
            &[
                "Renderfile.toml:2:10: unknown device `gpu` | \"auto\", \"cpu\" or \"cuda:N\"",
                "Renderfile.toml:3:8: `jobs` must be between 1 and 1024, not 0 | parallel jobs",
                "Renderfile.toml:6:10: unknown voice engine `festival` | voice engines here are `espeak`",
                "Renderfile.toml:7:9: `pitch` must be between 0 and 99, not 120 | 50 is normal",
                "Renderfile.toml:8:8: `rate` must be between 80 and 450, not 20 | words per minute",
                "Renderfile.toml:9:12: `language` of voice `narrator` is not an espeak-ng name: `en us` | espeak-ng --voices",
            ],
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
        assert_errors(
            &errors,
            &["Renderfile.toml:2:10: unknown device `cuda:x` | cuda:0"],
        );
    }

    #[test]
    fn avatar_problems() {
        let f = Folder::new(
            "[voices.narrator]\n\n[avatars.a]\nimage = \"avatars/astronaut.png\"\nvideo = \"avatars/talk.mp4\"\n\n[avatars.b]\nlipsync = \"builtin\"\n\n[avatars.c]\nimage = \"avatars/astronot.png\"\n\n[avatars.d]\nimage = \"avatars/d.gif\"\n",
        );
        f.write("avatars/d.gif", "gif");
        let errors = f.fatal();
        assert_errors(
            &errors,
            &[
                "Renderfile.toml:5:9: avatar `a` has both `image` and `video` | exactly one",
                "Renderfile.toml:7:10: avatar `b` has no `image` or `video` | image = \"avatars/b.png\"",
                "Renderfile.toml:11:9: file `avatars/astronot.png` not found | did you mean `avatars/astronaut.png`?",
                "Renderfile.toml:14:9: `avatars/d.gif` is not a PNG or JPEG image | .png or .jpg",
            ],
        );
    }

    #[test]
    fn video_avatar_and_lipsync_model() {
        let f = Folder::new(
            "[voices.narrator]\n\n[avatars.talker]\nvideo = \"avatars/talk.mp4\"\nlipsync = \"wav2lip\"\n",
        );
        f.write("avatars/talk.mp4", "mp4");
        let errors = f.fatal();
        assert_errors(&errors, &["Renderfile.toml:5:11: lip-sync model `wav2lip` not found: no `models/wav2lip/model.toml` | tools/export/README.md"]);

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
        assert_errors(
            &f.fatal(),
            &["Renderfile.toml:2:12: espeak-ng has no language `en-uss` | did you mean `en-us`?"],
        );
        f.write(
            "Renderfile.toml",
            "[voices.narrator]\nlanguage = \"en-us\"\nvariant = \"zz9\"\n\n[avatars.a]\nimage = \"avatars/a.png\"\n",
        );
        assert_errors(
            &f.fatal(),
            &["Renderfile.toml:3:11: espeak-ng has no variant `zz9` | espeak-ng --voices=variant"],
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
        assert_errors(&f.fatal(), &["models/m/model.toml:3:8: model file `models/m/../../../etc/passwd` not found | relative to the model's folder"]);
        f.write(
            "models/m/model.toml",
            "kind = \"lipsync\"\nformat = \"onnx\"\nfile = \"m.pt\"\ncontract = \"wav2lip\"\n",
        );
        assert_errors(
            &f.fatal(),
            &["models/m/model.toml:2:10: unknown model format `onnx` | torchscript"],
        );
        f.write(
            "models/m/model.toml",
            "kind = \"lipsync\"\nformat = \"torchscript\"\nfile = \"m.pt\"\ncontract = \"wav2lip\"\nbatch_sise = 4\n",
        );
        assert_errors(&f.fatal(), &["models/m/model.toml:5:1: unknown key `batch_sise` in model.toml | did you mean `batch_size`?"]);
    }

    #[test]
    fn defaults_must_name_declared_voices_and_avatars() {
        let errors = fatal(
            "[defaults]\nvoice = \"narator\"\navatar = \"robot\"\n\n[voices.narrator]\n[voices.guest]\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
        );
        assert_errors(
            &errors,
            &[
                "Renderfile.toml:2:9: unknown voice `narator` | did you mean `narrator`?",
                "Renderfile.toml:3:10: unknown avatar `robot` | declared avatars: `astronaut`; avatars are declared as [avatars.<name>]",
            ],
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
        assert_errors(
            &errors,
            &[
                "Renderfile.toml:15:7: `fps` must be between 1 and 120, not 0",
                "Renderfile.toml:16:8: `size` must be [width, height], not 1 number",
                "Renderfile.toml:17:14: `#zzzzzz` is not a colour",
                "Renderfile.toml:18:9: `pause` must be between 0 and 30 seconds, not 31",
            ],
        );
    }

    #[test]
    fn unknown_avatar_on_a_voice() {
        let rf = RENDERFILE.replace("pitch = 60\n", "pitch = 60\navatar = \"astronot\"\n");
        assert_errors(
            &fatal(&rf),
            &["Renderfile.toml:13:10: unknown avatar `astronot` | did you mean `astronaut`?"],
        );
    }

    #[test]
    fn voice_defaults() {
        let m = Folder::new(RENDERFILE).load().manifest;
        let espeak = |language: &str, variant: Option<&str>, pitch| VoiceEngine::Espeak {
            language: language.into(),
            variant: variant.map(Into::into),
            pitch,
            rate: 165,
        };
        assert_eq!(m.voices["narrator"].engine, espeak("en-us", Some("m3"), 50));
        assert_eq!(m.voices["guest"].engine, espeak("en-gb", None, 60));
    }
}
