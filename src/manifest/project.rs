//! `projects/<name>/project.toml`: the scenes of one project and their script lines.
//!
//! Problems here are not fatal: a scene with a problem is left out (its errors reported), and
//! a project.toml that cannot be parsed leaves out the whole project.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::settings::{Declared, RawSettings, SceneSettings};
use super::{paths, table, Line, Media, Project, Scene, SourceFile, Variant, Voice};
use crate::diagnostic::{
    control_name, list, name_too_long, ConfigError, Doc, Warning, MAX_NAME_CHARS,
};
use crate::framing::Framing;

const TOP_KEYS: &[&str] = &["scene", "episode"];
/// A scene's keys: its name, the settings it may override, and where its lines come from.
const SCENE_KEYS: &[&str] = &[
    "name",
    "avatar",
    "voice",
    "background",
    "fps",
    "size",
    "pause",
    "framing",
    "face_size",
    "headroom",
    "captions",
    "caption_size",
    "caption_position",
    "caption_colour",
    "caption_outline",
    "loudness",
    "true_peak",
    "lines",
    "script",
    "variants",
    "shot",
];
const LINE_KEYS: &[&str] = &["text", "voice", "audio", "avatar"];

/// `[[scene]]`'s own keys. Its settings are a [`RawSettings`] read from the same table, and
/// `lines` is read one line at a time, so that every bad line is reported.
#[derive(Deserialize)]
struct RawScene {
    name: Option<Spanned<String>>,
    script: Option<Spanned<String>>,
}

/// One element of `lines`: `{ text = "...", voice = "...", audio = "...", avatar = "..." }`,
/// or a string (read as `text`).
#[derive(Deserialize, Default)]
struct RawLine {
    text: Option<Spanned<String>>,
    voice: Option<Spanned<String>>,
    audio: Option<Spanned<String>>,
    avatar: Option<Spanned<String>>,
}

/// The voice of the lines that name none: Ok(None) = there is none (one error per scene);
/// Err = the scene could not be read (already reported), so nothing more is said.
type Voices = Result<Option<String>, ()>;

/// What a scene gives the lines that name neither voice nor avatar: its voice, and its
/// avatar (None when it has none, which is reported once for the scene).
struct SceneDefaults {
    voice: Voices,
    avatar: Option<String>,
}

/// What projects are checked against.
pub(crate) struct Context<'a> {
    pub declared: &'a Declared<'a>,
    /// The voices of Renderfile.toml, for the avatar each gives its lines.
    pub voices: &'a BTreeMap<String, Voice>,
    /// The avatars of Renderfile.toml, for a two-person shot's checks.
    pub avatars: &'a BTreeMap<String, super::Avatar>,
    /// `[defaults]`, which scenes override.
    pub defaults: &'a SceneSettings,
    /// The command engines, which a variant's `lipsync` may name.
    pub engines: &'a BTreeMap<String, super::command::CommandEngine>,
    /// The stills and shots, which b-roll lines name.
    pub generated: &'a super::shots::Generated,
    /// Why engines no voice or avatar uses cannot run here, for a variant naming one.
    pub unusable: &'a BTreeMap<String, Vec<ConfigError>>,
}

/// Checks the project `name` whose project.toml is `doc` (at `file`): the project with its
/// valid scenes (None if none is), its errors and its warnings.
pub(crate) fn parse(cx: &Context<'_>, name: &str, file: PathBuf, doc: &Doc) -> Parsed {
    let mut top = match table::parse_document(doc) {
        Ok(t) => t,
        Err(errors) => {
            return Parsed {
                project: None,
                errors,
                warnings: Vec::new(),
                default_background: DefaultBackground::default(),
            }
        }
    };
    let mut errors = Vec::new();
    table::unknown_keys(doc, &mut top, TOP_KEYS, "in project.toml", &mut errors);
    let folder = format!("projects/{name}");
    let (project, seen) = (name, BTreeMap::new());
    let mut sx = SceneCheck {
        cx,
        doc,
        project,
        folder: &folder,
        errors,
        warnings: Vec::new(),
        default_background: DefaultBackground::default(),
        at: BTreeMap::new(),
        seen,
        exchanges: Vec::new(),
        in_group: false,
    };
    let mut scenes: Vec<Scene> = Vec::new();
    // Every scene's name in order, valid or not: what `[episode]` may name.
    let mut names: Vec<String> = Vec::new();
    let mut declared_any = true;
    match top.remove("scene") {
        None => declared_any = false,
        Some(value) => {
            let help = "write each scene as a [[scene]] section (double brackets)";
            if let Some((_, items)) = sx.ok(table::array(
                doc,
                value,
                "`scene` must be an array of tables",
                help,
            )) {
                declared_any = !items.is_empty();
                for (i, item) in items.into_iter().enumerate() {
                    let name = (item.get_ref().as_table())
                        .and_then(|t| t.get("name")?.get_ref().as_str().map(str::to_string));
                    names.extend(name.filter(|n| !names.contains(n)));
                    scenes.extend(sx.scene(item, i + 1));
                }
            }
        }
    }
    let mut errors = sx.errors;
    let mut warnings = sx.warnings;
    let episode = (top.remove("episode"))
        .and_then(|v| super::episode::parse(doc, cx.declared, name, v, &names, &mut errors));
    if let Some(episode) = &episode {
        warnings.extend(boxed_in_episode(doc, name, episode, &scenes, &sx.at));
    }
    if !declared_any {
        let help = "add a scene:\n[[scene]]\nname = \"intro\"\nlines = [\"Hello!\"]";
        errors.push(
            ConfigError::in_file(&doc.name, format!("`{}` declares no scenes", doc.name))
                .with_help(help),
        );
    }
    let project = (!scenes.is_empty()).then(|| Project {
        name: name.to_string(),
        file,
        scenes,
        episode,
    });
    Parsed {
        project,
        errors,
        warnings,
        default_background: sx.default_background,
    }
}

/// "background `#3b1f4a` of scene `intro` never shows" at the scene's `background`: a scene
/// framed "face" or "fill" is covered edge to edge by its avatar (`src/framing.rs` never
/// asks for picture the avatar lacks, so there are no bars for it to show in).
fn hidden_background(
    doc: &Doc,
    background: &Spanned<String>,
    scene: &str,
    framing: Framing,
) -> Warning {
    let message = format!(
        "background `{}` of {scene} never shows: framing = \"{}\" covers the whole frame with the avatar",
        background.get_ref(),
        framing_name(framing)
    );
    let help = "remove `background` (changing it makes the scene again for nothing), or set framing = \"fit\" to show the whole picture over it";
    Warning(doc.err(background.span(), message, "hidden by the avatar", help))
}

/// Whether every line is a b-roll line: then the scene shows no avatar and needs none.
/// (None read — each reported where it is — is not that: the scene may still need one.)
fn all_broll(lines: &[Line]) -> bool {
    !lines.is_empty() && lines.iter().all(|line| line.broll.is_some())
}

/// The scene `name` made with `settings` and `lines` (None: it has no avatar, which is
/// reported where its settings are read; a scene of b-roll lines alone needs none).
fn resolved(name: &str, settings: SceneSettings, lines: Vec<Line>) -> Option<Scene> {
    let avatar = (settings.avatar).or_else(|| all_broll(&lines).then(String::new));
    Some(Scene {
        name: name.to_string(),
        avatar: avatar?,
        background: settings.background,
        fps: settings.fps.0,
        width: settings.size.width,
        height: settings.size.height,
        pause: settings.pause.0,
        framing: settings.framing.framing(),
        burn: settings.captions.burned(),
        loudness: settings.loudness.0,
        true_peak: settings.true_peak.0,
        lines,
        lipsync: None,
        shots: Vec::new(),
        variants: Vec::new(),
    })
}

/// `"face"`, `"fill"` or `"fit"`, as written in a project.toml.
pub(crate) fn framing_name(framing: Framing) -> &'static str {
    match framing {
        Framing::Fit => "fit",
        Framing::Fill => "fill",
        Framing::Face { .. } => "face",
    }
}

/// A warning for each scene of `episode` whose shape differs from its first scene's: the
/// episode is the first scene's size, and another shape is fitted inside it with black
/// bars (`engine/episode.rs`) — at the side for a narrower scene, above and below for a
/// wider one. At the scene's own `size`, else the first scene's (which set the episode's),
/// else the scene's name.
fn boxed_in_episode(
    doc: &Doc,
    project: &str,
    episode: &super::Episode,
    scenes: &[Scene],
    at: &BTreeMap<String, SceneAt>,
) -> Vec<Warning> {
    let find = |name: &String| scenes.iter().find(|s| &s.name == name);
    let parts: Vec<&Scene> = episode.scenes.iter().filter_map(find).collect();
    let Some((first, rest)) = parts.split_first() else {
        return Vec::new();
    };
    let (w, h) = (u64::from(first.width), u64::from(first.height));
    let mut warnings = Vec::new();
    for scene in rest {
        let (sw, sh) = (u64::from(scene.width), u64::from(scene.height));
        if sw * h == sh * w {
            continue;
        }
        let (how, bars) = if sw * h < sh * w {
            ("pillarboxed", "black bars at its sides")
        } else {
            ("letterboxed", "black bars above and below it")
        };
        let (own, of_first) = (&at[&scene.name], &at[&first.name]);
        let span = (own.size.clone())
            .or_else(|| of_first.size.clone())
            .unwrap_or_else(|| own.name.clone());
        let message = format!(
            "scene `{}` ({sw}×{sh}) is {how} in the episode of project `{project}`, which is {w}×{h} like its first scene `{}`",
            scene.name, first.name
        );
        let help = format!(
            "an episode takes its first scene's size and shows a scene of another shape with {bars}: give the scene the episode's shape (e.g. size = [{w}, {h}]), or leave it out of the episode's `scenes`"
        );
        warnings.push(Warning(doc.err(span, message, how, help)));
    }
    warnings
}

/// The valid scenes that take `[defaults]`' background (they have none of their own), and
/// whether any of them shows it: a scene framed "face" or "fill" is covered by its avatar.
#[derive(Debug, Default)]
pub(crate) struct DefaultBackground {
    /// `project/scene`
    pub takers: Vec<String>,
    pub shown: bool,
    /// The framings of those that do not show it: "face", "fill".
    pub framings: std::collections::BTreeSet<&'static str>,
}

/// What one project.toml gives: the project with its valid scenes (None if none is), its
/// errors and warnings, and which of its scenes take the default background.
pub(crate) struct Parsed {
    pub project: Option<Project>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<Warning>,
    pub default_background: DefaultBackground,
}

/// Where a valid scene's name and its own `size` (if it writes one) are, for warnings
/// about the episode.
struct SceneAt {
    name: Range<usize>,
    size: Option<Range<usize>>,
}

struct SceneCheck<'a> {
    cx: &'a Context<'a>,
    doc: &'a Doc,
    project: &'a str,
    /// `projects/<name>`, where users may think paths start.
    folder: &'a str,
    errors: Vec<ConfigError>,
    warnings: Vec<Warning>,
    default_background: DefaultBackground,
    /// Each valid scene's places, by name.
    at: BTreeMap<String, SceneAt>,
    /// Scene name, case-folded → the name as written and the span of its first use, for
    /// duplicates (a name that differs only in case is one file on a case-insensitive disk).
    seen: BTreeMap<String, (String, Range<usize>)>,
    /// The groups of lines that are one shot (`manifest/two_shot.rs`) in the scene's
    /// `lines` as they are read, and whether a group's own lines are being read.
    exchanges: Vec<super::two_shot::Exchange>,
    in_group: bool,
}

impl SceneCheck<'_> {
    /// Records `r`'s error, if any; returns its value.
    fn ok<T>(&mut self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.errors.push(e)).ok()
    }

    fn scene(&mut self, item: Spanned<DeValue<'_>>, number: usize) -> Option<Scene> {
        let (doc, cx, project) = (self.doc, self.cx, self.project);
        let before = self.errors.len();
        let (msg, help) = (
            "each scene must be a table",
            "write each scene as a [[scene]] section",
        );
        let (span, mut table) = self.ok(table::table(doc, item, msg, help))?;
        let early_desc = match table.get("name").and_then(|n| n.get_ref().as_str()) {
            Some(name) => format!("scene `{name}`"),
            None => format!("scene {number}"),
        };
        let ctx = format!("in {early_desc}");
        table::unknown_keys(doc, &mut table, SCENE_KEYS, &ctx, &mut self.errors);
        let lines = table.remove("lines");
        self.exchanges.clear();
        let variants = table.remove("variants");
        let shot = table.remove("shot");
        let value = Spanned::new(span.clone(), DeValue::Table(table));
        let raw = table::de::<RawScene>(doc, value.clone(), &ctx);
        let (raw, settings) = match (raw, table::de::<RawSettings>(doc, value, &ctx)) {
            (Ok(raw), Ok(settings)) => (raw, settings),
            (raw, settings) => {
                self.errors
                    .extend(raw.err().into_iter().chain(settings.err()));
                // Still report the lines' own problems.
                if let Some(l) = lines {
                    let given = SceneDefaults {
                        voice: Err(()),
                        avatar: None,
                    };
                    self.inline_lines(&early_desc, l, &given);
                }
                return None;
            }
        };

        // Name: required, a file name, unique. Without one, the rest is still checked.
        let (desc, anchor) = match &raw.name {
            Some(name) => (format!("scene `{}`", name.get_ref()), name.span()),
            None => {
                let msg = format!("scene {number} has no `name`");
                let help = format!("add `name = \"intro\"`; the name becomes the video's file name, out/{project}/<name>.mp4");
                self.errors
                    .push(doc.err(span.clone(), msg, "this scene", help));
                (format!("scene {number}"), span)
            }
        };
        if let Some(name) = &raw.name {
            let n = name.get_ref();
            let folded = n.to_lowercase();
            if !paths::is_identifier(n) {
                let msg = format!("scene name `{n}` is not allowed");
                let help = format!("use only letters, digits, `-` and `_`: the name becomes out/{project}/<name>.mp4");
                self.errors
                    .push(doc.err(name.span(), msg, "bad name", help));
            } else if name_too_long(n) {
                let msg = format!(
                    "scene name `{}…` is {} characters long, over the limit of {MAX_NAME_CHARS}",
                    n.chars().take(20).collect::<String>(),
                    n.chars().count()
                );
                let help = format!("shorten it: the name becomes file names such as out/{project}/<name>.sheet.jpg, and a file name may have at most 255 bytes");
                self.errors
                    .push(doc.err(name.span(), msg, "too long", help));
            } else if let Some((first_name, first)) = self.seen.get(&folded) {
                let e = if first_name == n {
                    let msg = format!("duplicate scene name `{n}`");
                    let help = format!("scene names must be unique within a project: each becomes out/{project}/{n}.mp4");
                    doc.err(name.span(), msg, "used again here", help)
                } else {
                    let msg =
                        format!("scene name `{n}` differs from scene `{first_name}` only in case");
                    let help = format!("rename one of them: out/{project}/{first_name}.mp4 and out/{project}/{n}.mp4 are one file on macOS, Windows, exFAT and SMB shares, where file names ignore case");
                    doc.err(name.span(), msg, "same name but for case", help)
                };
                self.errors
                    .push(e.with_related(first.clone(), "first used here"));
            } else {
                self.seen.insert(folded, (n.clone(), name.span()));
            }
        }

        // Without an avatar: an error here, unless its lines are all b-roll (read below).
        let no_avatar = (settings.avatar.is_none() && cx.defaults.avatar.is_none()).then(|| {
            let example = "[avatars.host] with image = \"avatars/host.png\"";
            let help = none_declared(&cx.declared.avatars, "avatar", example, |first| {
                format!("add `avatar = \"{first}\"` to the scene, or set `avatar`")
            });
            let msg = format!("{desc} has no avatar");
            let e = doc.err(anchor.clone(), msg, "which avatar?", help);
            (self.errors.len(), e)
        });
        // Where the scene says `captions = ...`, for the missing font's error.
        let written = settings.captions.clone();
        let own_background = settings.background_written();
        let size_at = settings.size_at();
        let (folder, errors) = (Some(self.folder), &mut self.errors);
        let settings = cx
            .defaults
            .resolve(&settings, doc, folder, cx.declared, errors);
        let captions = &settings.captions;
        let font = super::captions::missing_font(doc, captions, written.as_ref(), &anchor, &desc);
        self.errors.extend(font);
        let given = SceneDefaults {
            voice: Ok(settings.voice.clone()),
            avatar: settings.avatar.clone(),
        };

        // Where a scene of one clip per line is told its avatar's engine takes two people.
        let scene_at = anchor.clone();
        // A variant with its own voice or avatar reads the lines again with them.
        let lines_again = variants.as_ref().and(lines.clone());
        let lines = match (lines, &raw.script) {
            (Some(l), Some(s)) => {
                let msg = format!("{desc} has both `lines` and `script`");
                let help = "give the lines inline with `lines = [...]` or in a file with `script = \"...\"`, not both";
                let e = doc.err(s.span(), msg, "second source of lines", help);
                self.errors.push(e.with_related(l.span(), "lines here"));
                None
            }
            (Some(l), None) => self.inline_lines(&desc, l, &given),
            (None, Some(s)) => self.script_lines(&desc, s, &given),
            (None, None) => {
                let msg = format!("{desc} has no script lines");
                let help = "add `lines = [\"Hello!\", ...]`, or `script = \"scripts/intro.txt\"` naming a text file with one line per line";
                self.errors
                    .push(doc.err(anchor, msg, "nothing to say", help));
                None
            }
        };
        if let Some((at, e)) = no_avatar {
            if !lines.as_deref().is_some_and(all_broll) {
                self.errors.insert(at, e);
            }
        }
        let variants = match (variants, &raw.name) {
            (Some(v), Some(name)) => {
                let at = super::variants::Scene {
                    names: cx.declared,
                    engines: cx.engines,
                    unusable: cx.unusable,
                    doc,
                    project,
                    folder: self.folder,
                    name: name.get_ref(),
                    base: &settings,
                };
                super::variants::parse(&at, v, &mut self.errors)
            }
            _ => Vec::new(),
        };
        let exchanges = std::mem::take(&mut self.exchanges);
        let shots = match (shot.map(|s| super::two_shot::kind(doc, &s)), &lines) {
            (Some(Err(e)), _) => {
                self.errors.push(e);
                Vec::new()
            }
            (shot, Some(lines)) => {
                let read = super::two_shot::Shots {
                    doc,
                    avatars: cx.avatars,
                    engines: cx.engines,
                    desc: &desc,
                    scene_at,
                };
                let shot = shot.map(|s| s.expect("checked"));
                (read.read(shot, &exchanges, lines, !variants.is_empty())).unwrap_or_else(
                    |errors| {
                        self.errors.extend(errors);
                        Vec::new()
                    },
                )
            }
            _ => Vec::new(),
        };
        if self.errors.len() != before {
            return None;
        }
        let name = raw.name?;
        let framing = settings.framing.framing();
        match own_background {
            Some(background) if framing != Framing::Fit => {
                self.warnings
                    .push(hidden_background(doc, &background, &desc, framing));
            }
            Some(_) => {}
            None => {
                let takes = &mut self.default_background;
                takes.takers.push(format!("{project}/{}", name.get_ref()));
                takes.shown |= framing == Framing::Fit;
                if framing != Framing::Fit {
                    takes.framings.insert(framing_name(framing));
                }
            }
        }
        let at = SceneAt {
            name: name.span(),
            size: size_at,
        };
        self.at.insert(name.get_ref().clone(), at);
        let lines = lines?;
        let mut variants: Vec<Variant> = (variants.into_iter())
            .map(|v| {
                let same =
                    v.settings.voice == settings.voice && v.settings.avatar == settings.avatar;
                let lines = match same {
                    true => Some(lines.clone()),
                    false => self.lines_again(&desc, lines_again.clone(), &raw.script, &v.settings),
                };
                let mut scene = resolved(name.get_ref(), v.settings, lines?)?;
                scene.lipsync = v.lipsync;
                Some(Variant {
                    name: v.name,
                    scene,
                    first: false,
                })
            })
            .collect::<Option<_>>()?;
        if let Some(first) = variants.first_mut() {
            first.first = true;
        }
        let mut scene = resolved(name.get_ref(), settings, lines)?;
        // The scene's own fields are its first variant's.
        if let Some(first) = variants.first() {
            scene = Scene {
                variants: Vec::new(),
                ..first.scene.clone()
            };
        }
        scene.variants = variants;
        scene.shots = shots;
        Some(scene)
    }

    /// A group of lines that is one shot, `{ shot = "two", lines = [...] }`
    /// (`manifest/two_shot.rs`): its lines join the scene's, and where they are is kept
    /// for the scene's check of its shots.
    fn group(
        &mut self,
        scene: &str,
        number: usize,
        (span, table): (Range<usize>, toml::de::DeTable),
        given: &SceneDefaults,
        lines: &mut Vec<Line>,
    ) {
        let doc = self.doc;
        let (line, ctx) = (
            format!("line {number} of {scene}"),
            format!("in line {number} of {scene}"),
        );
        let mut table = table;
        let keys = super::two_shot::GROUP_KEYS;
        if table::unknown_keys(doc, &mut table, keys, &ctx, &mut self.errors) {
            return;
        }
        if self.in_group {
            let msg = format!("{line} is a group of lines inside a group");
            let help = "a group of lines is one shot of two people and holds lines only: write the inner group's lines in the outer group, or end the outer group before it";
            self.errors
                .push(doc.err(span, msg, "a group in a group", help));
            return;
        }
        let Some((at, inner)) = self.ok(super::two_shot::group(doc, table, span, &line)) else {
            return;
        };
        self.in_group = true;
        let inner = self.inline_lines(&format!("the group at {line}"), inner, given);
        self.in_group = false;
        let inner = inner.unwrap_or_default();
        let held = lines.len()..lines.len() + inner.len();
        lines.extend(inner);
        let group = super::two_shot::Exchange {
            at,
            number,
            lines: held,
        };
        self.exchanges.push(group);
    }

    /// The scene's lines resolved again with a variant's voice and avatar as the scene's:
    /// its lines were read without error once, so their problems are not said again.
    fn lines_again(
        &mut self,
        desc: &str,
        inline: Option<Spanned<DeValue>>,
        script: &Option<Spanned<String>>,
        settings: &SceneSettings,
    ) -> Option<Vec<Line>> {
        let given = SceneDefaults {
            voice: Ok(settings.voice.clone()),
            avatar: settings.avatar.clone(),
        };
        let errors = std::mem::take(&mut self.errors);
        let lines = match (inline, script) {
            (Some(l), _) => self.inline_lines(desc, l, &given),
            (None, Some(s)) => self.script_lines(desc, s, &given),
            (None, None) => None,
        };
        self.errors = errors;
        lines
    }

    /// `lines = [...]`, each element read on its own.
    fn inline_lines(
        &mut self,
        scene: &str,
        v: Spanned<DeValue>,
        given: &SceneDefaults,
    ) -> Option<Vec<Line>> {
        let doc = self.doc;
        let help = "e.g. lines = [\"Hello!\", { text = \"Hi.\", voice = \"guest\" }]";
        let (span, items) = self.ok(table::array(doc, v, "`lines` must be an array", help))?;
        if items.is_empty() {
            let help = "add at least one line, e.g. lines = [\"Hello!\"]";
            let msg = format!("{scene} has no script lines");
            self.errors.push(doc.err(span, msg, "empty", help));
            return None;
        }
        let (mut lines, mut missing_voice) = (Vec::new(), None);
        for (i, item) in items.into_iter().enumerate() {
            let (number, span) = (i + 1, item.span());
            let ctx = format!("in line {number} of {scene}");
            let raw = match item.into_inner() {
                DeValue::Table(t)
                    if super::two_shot::is_group(t.keys().map(|k| k.get_ref().as_ref())) =>
                {
                    self.group(scene, number, (span, t), given, &mut lines);
                    continue;
                }
                DeValue::Table(t)
                    if super::broll::is_broll(t.keys().map(|k| k.get_ref().as_ref())) =>
                {
                    let at = Spanned::new(span.clone(), DeValue::Table(t));
                    let missing = &mut missing_voice;
                    if let Some(line) = self.broll_line(scene, number, at, given, missing) {
                        lines.push(line);
                    }
                    continue;
                }
                DeValue::Table(mut t) => {
                    // A line with a misspelt key is left out: "empty line" would only add noise.
                    if table::unknown_keys(doc, &mut t, LINE_KEYS, &ctx, &mut self.errors) {
                        continue;
                    }
                    table::de::<RawLine>(doc, Spanned::new(span.clone(), DeValue::Table(t)), &ctx)
                }
                other => table::de::<String>(doc, Spanned::new(span.clone(), other), &ctx)
                    .map(|text| RawLine {
                        text: Some(Spanned::new(span.clone(), text)),
                        ..RawLine::default()
                    })
                    .map_err(|mut e| {
                        // serde's message ends "expected a string"; a table will do too.
                        e.message += ", or a table such as { text = \"...\", voice = \"guest\" }";
                        e
                    }),
            };
            let Some(raw) = self.ok(raw) else {
                continue;
            };
            let text = raw.text.as_ref().map_or("", |t| t.get_ref().trim());
            let line = format!("line {number} of {scene}");
            match (&raw.text, &raw.audio) {
                (Some(t), Some(a)) => {
                    // The recording would be played and the text never said.
                    let msg = format!("{line} has both `text` and `audio`");
                    let help = "a line is either said from its `text` or played from its recording `audio`: keep one of them";
                    let e = doc.err(a.span(), msg, "recording here", help);
                    self.errors.push(e.with_related(t.span(), "text here"));
                }
                (_, None) if text.is_empty() => {
                    let at = raw.text.as_ref().map_or(span.clone(), |t| t.span());
                    let msg = format!("{line} is empty");
                    let help = "write what should be said, or remove the line (a line table needs `text` or `audio`)";
                    self.errors.push(doc.err(at, msg, "empty line", help));
                }
                (Some(t), None) => {
                    if let Some((_, c)) = control_character(t.get_ref()) {
                        // Escapes (`\u0000`) make offsets in the value differ from the file's.
                        self.errors.push(unspeakable(doc, t.span(), &line, c));
                    } else if says_nothing(text) {
                        self.errors.push(wordless(doc, t.span(), &line, text));
                    }
                }
                (None, _) => {}
            }
            let audio = raw.audio.as_ref().and_then(|a| self.audio(a));
            let missing = &mut missing_voice;
            let voice = self.line_voice(doc, raw.voice.as_ref(), &given.voice, span, missing);
            if let Some(voice) = voice {
                let named = raw.avatar.as_ref();
                // None: the scene has no avatar, which it reports (unless its lines are
                // all b-roll, which this one is not).
                let avatar = self.line_avatar(doc, named, &voice, given);
                lines.push(Line {
                    text: text.to_string(),
                    voice,
                    audio,
                    avatar: avatar.unwrap_or_default(),
                    broll: None,
                });
            }
        }
        self.no_voice(doc, missing_voice, scene);
        Some(lines)
    }

    /// A b-roll line (`manifest/broll.rs`): silent, with the scene's voice and avatar
    /// (unused), or a voice-over whose words are checked as any line's.
    fn broll_line(
        &mut self,
        scene: &str,
        number: usize,
        mut table: Spanned<DeValue>,
        given: &SceneDefaults,
        missing: &mut Option<Range<usize>>,
    ) -> Option<Line> {
        let (doc, span) = (self.doc, table.span());
        let ctx = format!("in line {number} of {scene}");
        if let DeValue::Table(t) = table.get_mut() {
            if table::unknown_keys(doc, t, super::broll::KEYS, &ctx, &mut self.errors) {
                return None;
            }
        }
        let line = format!("line {number} of {scene}");
        let written = match super::broll::line(doc, table, &line, self.cx.generated) {
            Ok(written) => written,
            Err(errors) => {
                self.errors.extend(errors);
                return None;
            }
        };
        let silent = Line {
            text: String::new(),
            voice: given.voice.clone().ok().flatten().unwrap_or_default(),
            audio: None,
            avatar: given.avatar.clone().unwrap_or_default(),
            broll: Some(written.broll),
        };
        let (text, audio) = match (&written.text, &written.audio) {
            (None, None) => return Some(silent),
            (Some(t), Some(a)) => {
                let msg = format!("{line} has both `text` and `audio`");
                let help = "a line is either said from its `text` or played from its recording `audio`: keep one of them";
                let e = doc.err(a.span(), msg, "recording here", help);
                self.errors.push(e.with_related(t.span(), "text here"));
                return None;
            }
            (Some(t), None) => {
                let text = t.get_ref().trim();
                if let Some((_, c)) = control_character(text) {
                    self.errors.push(unspeakable(doc, t.span(), &line, c));
                    return None;
                }
                if text.is_empty() {
                    let msg = format!("{line} has an empty `text`");
                    let help = "write the words to say over the shot, or remove `text` for a silent b-roll";
                    self.errors.push(doc.err(t.span(), msg, "empty", help));
                    return None;
                }
                if says_nothing(text) {
                    self.errors.push(wordless(doc, t.span(), &line, text));
                    return None;
                }
                (text.to_string(), None)
            }
            (None, Some(a)) => (String::new(), Some(self.audio(a)?)),
        };
        let named = written.voice.as_ref();
        let voice = self.line_voice(doc, named, &given.voice, span, missing)?;
        Some(Line {
            text,
            voice,
            audio,
            ..silent
        })
    }

    /// The file named at `v` (None = error, recorded).
    fn file(&mut self, v: &Spanned<String>) -> Option<SourceFile> {
        let folder = Some(self.folder);
        self.ok(paths::file(self.doc, &self.cx.declared.root, v, folder))
    }

    /// `audio = "..."`: a WAV file in the content folder (None = error, recorded).
    fn audio(&mut self, a: &Spanned<String>) -> Option<SourceFile> {
        let file = self.file(a)?;
        if paths::has_ext(&file.rel, &["wav"]) {
            let declared = self.cx.declared;
            let checked = declared.check_media(self.doc, a.span(), &file, Media::Recording);
            return self.ok(checked).map(|_| file);
        }
        let (rel, msg) = (&file.rel, format!("`{}` is not a WAV file", a.get_ref()));
        let stem = rel.rsplit_once('.').map_or(rel.as_str(), |(stem, _)| stem);
        let help = format!(
            "recorded audio must be a .wav file; convert it, e.g. `ffmpeg -i {rel} {stem}.wav`"
        );
        self.errors
            .push(self.doc.err(a.span(), msg, "not .wav", help));
        None
    }

    /// A line's voice: its own (`named`, in `doc`), else the scene's. The first line (at
    /// `span`) left with none is remembered in `missing`, for one "no voice" error per scene.
    fn line_voice(
        &mut self,
        doc: &Doc,
        named: Option<&Spanned<String>>,
        scene_voice: &Voices,
        span: Range<usize>,
        missing: &mut Option<Range<usize>>,
    ) -> Option<String> {
        let Some(v) = named else {
            if matches!(scene_voice, Ok(None)) {
                missing.get_or_insert(span);
            }
            return scene_voice.clone().ok().flatten();
        };
        self.errors
            .extend(self.cx.declared.check(doc, "voice", v).err());
        Some(v.get_ref().clone())
    }

    /// A line's avatar: its own (`named`, in `doc`), else its `voice`'s, else the scene's.
    /// None only when the scene has none, which the scene reports.
    fn line_avatar(
        &mut self,
        doc: &Doc,
        named: Option<&Spanned<String>>,
        voice: &str,
        given: &SceneDefaults,
    ) -> Option<String> {
        if let Some(a) = named {
            self.errors
                .extend(self.cx.declared.check(doc, "avatar", a).err());
            return Some(a.get_ref().clone());
        }
        let of_voice = self.cx.voices.get(voice).and_then(|v| v.avatar.clone());
        of_voice.or_else(|| given.avatar.clone())
    }

    /// The first line without a voice (at `missing` in `doc`), when there is no default.
    fn no_voice(&mut self, doc: &Doc, missing: Option<Range<usize>>, scene: &str) {
        let Some(span) = missing else {
            return;
        };
        let example = "[voices.narrator] with language = \"en-us\"";
        let help = none_declared(&self.cx.declared.voices, "voice", example, |first| {
            format!("set `voice = \"{first}\"` on the scene or the line, or `voice`")
        });
        let msg = format!("no voice for this line of {scene}");
        self.errors.push(doc.err(span, msg, "which voice?", help));
    }

    /// `script = "scripts/intro.txt"`: one line per non-empty, non-`#` line; `[voice] text`.
    fn script_lines(
        &mut self,
        scene: &str,
        v: &Spanned<String>,
        given: &SceneDefaults,
    ) -> Option<Vec<Line>> {
        let (doc, span) = (self.doc, v.span());
        let file = self.file(v)?;
        crate::noop_stamp::consulted(&file.abs);
        let text = match std::fs::read(&file.abs).map(super::text::decode) {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(_)) => {
                let msg = format!("script `{}` is not UTF-8 text", file.rel);
                Err(doc.err(span.clone(), msg, "not text", "save it as UTF-8 plain text"))
            }
            Err(e) => {
                let msg = format!("cannot read script `{}`: {e}", file.rel);
                Err(doc.err(span.clone(), msg, "unreadable", ""))
            }
        };
        let script = Doc::new(file.rel.clone(), self.ok(text)?);
        let (mut lines, mut missing_voice, mut offset, mut content_lines) = (vec![], None, 0, 0);
        let give_a_voice = "write `[guest] Text...` to give a line to the voice `guest`";
        for raw_line in script.text.split_inclusive('\n') {
            let at = offset + raw_line.len() - raw_line.trim_start().len(); // where the text begins
            offset += raw_line.len();
            let trimmed = raw_line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            content_lines += 1;
            let line_span = at..at + trimmed.len();
            let mut broll = None;
            let (named, text) = match trimmed.strip_prefix('[').map(|rest| rest.split_once(']')) {
                None => (None, trimmed),
                Some(Some((v, text))) if super::broll::is_script_broll(v) => {
                    // `[shot: city, 4s]`, or `[shot: city] Words said over it.`
                    let words_at = at + v.len() + 2 + text.len() - text.trim_start().len();
                    let spoken = Some(words_at..words_at + text.trim().len())
                        .filter(|_| !text.trim().is_empty());
                    let line = format!("a b-roll line in the script of {scene}");
                    let generated = self.cx.generated;
                    match super::broll::script_line(&script, at + 1, v, spoken, &line, generated) {
                        Ok((b, voice)) => {
                            broll = Some(b);
                            (voice, text.trim())
                        }
                        Err(errors) => {
                            self.errors.extend(errors);
                            continue;
                        }
                    }
                }
                Some(Some((v, text))) => {
                    let v_at = at + 1 + v.len() - v.trim_start().len();
                    let named = Spanned::new(v_at..v_at + v.trim().len(), v.trim().to_string());
                    (Some(named), text.trim())
                }
                Some(None) => {
                    let msg = "unclosed `[` in script line";
                    self.errors
                        .push(script.err(at..at + 1, msg, "no matching `]`", give_a_voice));
                    continue;
                }
            };
            if let Some(broll) = broll.clone().filter(|_| text.is_empty()) {
                // A silent b-roll: the scene's voice and avatar, unused.
                lines.push(Line {
                    text: String::new(),
                    voice: given.voice.clone().ok().flatten().unwrap_or_default(),
                    audio: None,
                    avatar: given.avatar.clone().unwrap_or_default(),
                    broll: Some(broll),
                });
                continue;
            }
            if text.is_empty() {
                let help = "write what the voice should say after `[voice]`";
                let msg = format!("empty line in the script of {scene}");
                self.errors
                    .push(script.err(line_span, msg, "nothing to say", help));
                continue;
            }
            if let Some(v) = named.as_ref().filter(|v| v.get_ref().is_empty()) {
                let msg = "empty voice name in `[]`";
                self.errors
                    .push(script.err(v.span(), msg, "empty", give_a_voice));
                continue;
            }
            if let Some((at, c)) = control_character(text) {
                // `text` is a slice of `trimmed`, which starts at `line_span.start`.
                let offset = line_span.start + (text.as_ptr() as usize - trimmed.as_ptr() as usize);
                let line = format!("a line in the script of {scene}");
                let at = offset + at..offset + at + c.len_utf8();
                self.errors.push(unspeakable(&script, at, &line, c));
                continue;
            }
            if says_nothing(text) {
                let offset = line_span.start + (text.as_ptr() as usize - trimmed.as_ptr() as usize);
                let line = format!("a line in the script of {scene}");
                let at = offset..offset + text.len();
                self.errors.push(wordless(&script, at, &line, text));
                continue;
            }
            let missing = &mut missing_voice;
            let (named, given_voice) = (named.as_ref(), &given.voice);
            let voice = self.line_voice(&script, named, given_voice, line_span, missing);
            if let Some(voice) = voice {
                // None: the scene has no avatar, which it reports unless its lines are all
                // b-roll (then a voice-over shows none).
                let avatar = self.line_avatar(&script, None, &voice, given);
                lines.push(Line {
                    text: text.to_string(),
                    voice,
                    audio: None,
                    avatar: avatar.unwrap_or_default(),
                    broll,
                });
            }
        }
        self.no_voice(&script, missing_voice, scene);
        if content_lines == 0 {
            let help = format!(
                "write the lines into `{}`, one per line (`#` starts a comment; `[guest] ` at the start gives a line to the voice `guest`)",
                file.rel
            );
            let msg = format!("{scene} has no script lines");
            self.errors.push(doc.err(span, msg, "empty script", help));
            return None;
        }
        Some(lines)
    }
}

/// The first character of a line's `text` that cannot be said, and its byte offset: a
/// control character other than a tab or a line break (a NUL would end the text early in
/// espeak-ng and in most programs).
fn control_character(text: &str) -> Option<(usize, char)> {
    text.char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Whether a line's text is only punctuation and spaces (`?!... ;--`): a voice says
/// nothing for it (espeak-ng makes only silence), so it is reported at its place rather
/// than failing the build. Letters, digits and anything else (an emoji, a symbol a voice
/// may name) count as words.
fn says_nothing(text: &str) -> bool {
    let punctuation = |c: char| {
        c.is_whitespace()
            || c.is_ascii_punctuation()
            || matches!(c, '\u{a1}' | '\u{ab}' | '\u{b7}' | '\u{bb}' | '\u{bf}')
            || ('\u{2010}'..='\u{205e}').contains(&c)
            || ('\u{3000}'..='\u{303f}').contains(&c)
            || ('\u{ff01}'..='\u{ff0f}').contains(&c)
    };
    !text.is_empty() && text.chars().all(punctuation)
}

/// "line 3 of scene `intro` has no words to speak", at `span`.
fn wordless(doc: &Doc, span: Range<usize>, line: &str, text: &str) -> ConfigError {
    let msg = format!("{line} has no words to speak: `{text}` is only punctuation");
    let help = "a voice says nothing for punctuation alone: write the words, or remove the line (a longer silence between lines is the scene's `pause`)";
    doc.err(span, msg, "nothing to say", help)
}

/// "line 3 of scene `intro` contains a control character (U+0000 NUL)", at `span`.
fn unspeakable(doc: &Doc, span: Range<usize>, line: &str, c: char) -> ConfigError {
    let msg = format!("{line} contains a control character ({})", control_name(c));
    let help = "delete it: a line's text must be printable (tabs and line breaks are fine); most editors do not show it, and a NUL would cut the line short";
    doc.err(span, msg, "control character", help)
}

/// The help of "has no avatar" / "no voice for this line": declare one (`example`) if none
/// is, else `set(first declared)` under [defaults].
fn none_declared(
    declared: &[String],
    what: &str,
    ex: &str,
    set: impl Fn(&str) -> String,
) -> String {
    let Some(first) = declared.first() else {
        return format!("no {what}s are declared: add one to Renderfile.toml, e.g. {ex}");
    };
    let set = set(first);
    format!(
        "{set} under [defaults] in Renderfile.toml (declared {what}s: {})",
        list(declared)
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{render_report, Background};

    #[test]
    fn syntax_error_drops_the_project() {
        let f = demo("[[scene]]\nname = \"intro\nlines = [\"Hi\"]\n");
        let l = f.load();
        assert!(l.manifest.projects.is_empty());
        assert_errors(&l.errors, &["projects/demo/project.toml:2:14: TOML syntax error: invalid basic string, expected `\"`"]);

        // Independent mistakes are all reported, one per line.
        let f = demo("[[scene]]\nname = intro\nlines = [\"Hi\" \"there\"]\n");
        let errors = f.errors();
        assert_errors(
            &errors,
            &[
                "projects/demo/project.toml:2:8: TOML syntax error: unquoted text `intro` | put text in double quotes: \"intro\"",
                "projects/demo/project.toml:3:15: TOML syntax error: missing comma between array elements, expected `,` | toml.io",
            ],
        );
    }

    #[test]
    fn duplicate_keys_name_the_first_definition() {
        let f = demo("[[scene]]\nname = \"intro\"\nfps = 25\nlines = [\"Hi\"]\nfps = 30\n");
        let errors = f.errors();
        assert_errors(&errors, &["projects/demo/project.toml:5:1: duplicate key `fps`, first defined on line 3 | a key may appear only once in a table: keep one `fps = ...` and remove the other"]);
        let report = render_report(&errors[0]);
        assert!(report.contains("first defined here"), "{report}");

        // In the second scene, and in a line's inline table.
        let f = demo("[[scene]]\nname = \"a\"\nfps = 25\nlines = [\"Hi\"]\n\n[[scene]]\nname = \"b\"\nfps = 25\nlines = [{ text = \"Hi\", \"text\" = \"Ho\" }]\nfps = 30\n");
        assert_errors(
            &f.errors(),
            &[
                "projects/demo/project.toml:9:25: duplicate key `text`, first defined on line 9",
                "projects/demo/project.toml:10:1: duplicate key `fps`, first defined on line 8",
            ],
        );
    }

    #[test]
    fn unknown_scene_key_suggests_the_right_one() {
        let f = demo("[[scene]]\nname = \"intro\"\nlnes = [\"Hi\"]\n");
        let errors = f.errors();
        assert_error(&errors[0], "projects/demo/project.toml:3:1: unknown key `lnes` in scene `intro` | did you mean `lines`?");
        // Without `lines`, the scene also has nothing to say.
        assert_error(
            &errors[1],
            "projects/demo/project.toml:2:8: scene `intro` has no script lines",
        );
    }

    #[test]
    fn unknown_key_without_a_close_match_lists_the_valid_ones() {
        let f = demo("[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\ncolour = \"#000000\"\n");
        assert_errors(&f.errors(), &["projects/demo/project.toml:4:1: unknown key `colour` in scene `intro` | valid keys here are `name`, `avatar`, `voice`, `background`, `fps`, `size`, `pause`, `framing`, `face_size`, `headroom`, `captions`, `caption_size`, `caption_position`, `caption_colour`, `caption_outline`, `loudness`, `true_peak`, `lines`, `script`, `variants` and `shot`"]);
    }

    #[test]
    fn unknown_key_in_a_line_table_points_at_the_key() {
        let f =
            demo("[[scene]]\nname = \"intro\"\nlines = [\n  \"Hi\",\n  { txt = \"Hello\" },\n]\n");
        assert_errors(&f.errors(), &["projects/demo/project.toml:5:5: unknown key `txt` in line 2 of scene `intro` | did you mean `text`?"]);
    }

    #[test]
    fn unknown_top_level_key() {
        let f = demo("[[scenes]]\nname = \"intro\"\nlines = [\"Hi\"]\n");
        let errors = f.errors();
        assert_error(&errors[0], "projects/demo/project.toml:1:3: unknown key `scenes` in project.toml | did you mean `scene`?");
        assert_error(
            &errors[1],
            "projects/demo/project.toml: `projects/demo/project.toml` declares no scenes",
        );
    }

    #[test]
    fn scene_as_a_single_table_explains_double_brackets() {
        let f = demo("[scene]\nname = \"intro\"\nlines = [\"Hi\"]\n");
        assert_error(
            &f.errors()[0],
            "projects/demo/project.toml:1:1: `scene` must be an array of tables | [[scene]]",
        );
    }

    #[test]
    fn scene_without_lines() {
        let f = demo("[[scene]]\nname = \"intro\"\n");
        assert_errors(&f.errors(), &["projects/demo/project.toml:2:8: scene `intro` has no script lines | add `lines = ["]);
        let f = demo("[[scene]]\nname = \"intro\"\nlines = []\n");
        assert_errors(&f.errors(), &["projects/demo/project.toml:3:9: scene `intro` has no script lines | add at least one line"]);
        let f = demo("[[scene]]\nname = \"intro\"\nscript = \"scripts/intro.txt\"\n");
        f.write("scripts/intro.txt", "# just a comment\n\n   \n");
        assert_errors(&f.errors(), &["projects/demo/project.toml:3:10: scene `intro` has no script lines | write the lines into `scripts/intro.txt`"]);
    }

    #[test]
    fn lines_and_script_together() {
        let f =
            demo("[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\nscript = \"scripts/intro.txt\"\n");
        f.write("scripts/intro.txt", "Hello\n");
        assert_errors(&f.errors(), &["projects/demo/project.toml:4:10: scene `intro` has both `lines` and `script` | not both"]);
    }

    #[test]
    fn lines_of_punctuation_alone_are_reported_at_their_place() {
        let f = demo("[[scene]]\nname = \"intro\"\nlines = [\"Hi\", \"?!... ;--\", \"« … »\", \"Hi!\", \"42.\"]\n");
        assert_errors(
            &f.errors(),
            &[
                "projects/demo/project.toml:3:16: line 2 of scene `intro` has no words to speak: `?!... ;--` is only punctuation | write the words",
                "projects/demo/project.toml:3:29: line 3 of scene `intro` has no words to speak: `« … »` is only punctuation | remove the line",
            ],
        );
        let f = demo("[[scene]]\nname = \"intro\"\nscript = \"scripts/intro.txt\"\n");
        f.write("scripts/intro.txt", "Hello.\n[guest]  ...?!\n");
        assert_errors(
            &f.errors(),
            &["scripts/intro.txt:2:10: a line in the script of scene `intro` has no words to speak: `...?!` is only punctuation | write the words"],
        );
    }

    #[test]
    fn empty_text_lines() {
        let f =
            demo("[[scene]]\nname = \"intro\"\nlines = [\"Hi\", \"  \", { voice = \"guest\" }]\n");
        let errors = f.errors();
        assert_errors(
            &errors,
            &[
                "projects/demo/project.toml:3:16: line 2 of scene `intro` is empty | write what should be said",
                "projects/demo/project.toml:3:22: line 3 of scene `intro` is empty | a line table needs `text` or `audio`",
            ],
        );
    }

    #[test]
    fn a_line_with_both_text_and_audio() {
        let f = demo("[[scene]]\nname = \"intro\"\nlines = [\n  \"Hi\",\n  { text = \"(applause)\", audio = \"assets/clap.wav\" },\n]\n");
        f.write("assets/clap.wav", "RIFF");
        let errors = f.errors();
        assert_errors(&errors, &["projects/demo/project.toml:5:34: line 2 of scene `intro` has both `text` and `audio` | a line is either said from its `text` or played from its recording `audio`: keep one of them"]);
        assert!(render_report(&errors[0]).contains("text here"));
    }

    #[test]
    fn a_control_character_written_into_the_toml_as_is() {
        let f = demo("[[scene]]\nname = \"intro\"\nlines = [\"Cut\u{0} short\"]\n");
        assert_errors(&f.errors(), &["projects/demo/project.toml:3:14: TOML syntax error: a control character (U+0000 NUL) in the file | delete it: most editors do not show it (in a string, an escape such as \\u0000 stands for one)"]);
    }

    #[test]
    fn control_characters_in_text() {
        let f = demo("[[scene]]\nname = \"intro\"\nlines = [\"Hi\", \"Cut\\u0000 short\", \"Tab\\tand\\nbreak are fine\"]\n");
        assert_errors(&f.errors(), &["projects/demo/project.toml:3:16: line 2 of scene `intro` contains a control character (U+0000 NUL) | delete it: a line's text must be printable"]);

        // In a script, at the character itself.
        let f = demo("[[scene]]\nname = \"intro\"\nscript = \"scripts/intro.txt\"\n");
        f.write(
            "scripts/intro.txt",
            "Hello.\n[guest]  Ring\u{7}ing.\nBell\u{9b}\n",
        );
        assert_errors(
            &f.errors(),
            &[
                "scripts/intro.txt:2:14: a line in the script of scene `intro` contains a control character (U+0007 BEL)",
                "scripts/intro.txt:3:5: a line in the script of scene `intro` contains a control character (U+009B)",
            ],
        );
    }

    #[test]
    fn missing_name_and_bad_name() {
        let f = demo("[[scene]]\nlines = [\"Hi\"]\n");
        assert_errors(
            &f.errors(),
            &["projects/demo/project.toml:1:1: scene 1 has no `name` | add `name = "],
        );
        let f = demo("[[scene]]\nname = \"the intro\"\nlines = [\"Hi\"]\n");
        assert_errors(&f.errors(), &["projects/demo/project.toml:2:8: scene name `the intro` is not allowed | letters, digits, `-` and `_`"]);
    }

    #[test]
    fn unknown_voice_and_avatar() {
        let f = demo(
            "[[scene]]\nname = \"intro\"\navatar = \"astronot\"\nlines = [\n  { text = \"Hi\", voice = \"gust\" },\n]\n\n[[scene]]\nname = \"outro\"\nvoice = \"robot\"\nlines = [\"Bye\"]\n",
        );
        let errors = f.errors();
        assert_errors(
            &errors,
            &[
                "projects/demo/project.toml:3:10: unknown avatar `astronot` | did you mean `astronaut`?",
                "projects/demo/project.toml:5:26: unknown voice `gust` | did you mean `guest`?",
                "projects/demo/project.toml:10:9: unknown voice `robot` | declared voices: `guest` and `narrator`",
            ],
        );
    }

    #[test]
    fn missing_files() {
        let f = demo(
            "[[scene]]\nname = \"intro\"\nbackground = \"bg.png\"\nlines = [{ audio = \"assets/applause.wav\" }]\n",
        );
        f.write("projects/demo/bg.png", "png");
        let errors = f.errors();
        assert_errors(
            &errors,
            &[
                "projects/demo/project.toml:3:14: file `bg.png` not found | did you mean `projects/demo/bg.png`? paths are relative to the content folder",
                "projects/demo/project.toml:4:20: file `assets/applause.wav` not found | paths are relative to the content folder",
            ],
        );
    }

    #[test]
    fn paths_outside_the_content_folder() {
        let f = demo(
            "[[scene]]\nname = \"intro\"\nlines = [\n  { audio = \"../../etc/passwd\" },\n  { audio = \"/etc/passwd\" },\n]\n",
        );
        let errors = f.errors();
        assert_errors(
            &errors,
            &[
                "projects/demo/project.toml:4:13: `../../etc/passwd` is outside the content folder | `..` may not climb out of the content folder",
                "projects/demo/project.toml:5:13: `/etc/passwd` is outside the content folder | absolute paths are not allowed",
            ],
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_pointing_out_of_the_content_folder() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.wav"), "RIFF").unwrap();
        let f = demo("[[scene]]\nname = \"intro\"\nlines = [{ audio = \"assets/secret.wav\" }]\n");
        std::fs::create_dir_all(f.root().join("assets")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.wav"),
            f.root().join("assets/secret.wav"),
        )
        .unwrap();
        assert_errors(&f.errors(), &["projects/demo/project.toml:3:20: `assets/secret.wav` is outside the content folder | is a symbolic link to"]);
    }

    #[test]
    fn audio_must_be_wav() {
        let f = demo("[[scene]]\nname = \"intro\"\nlines = [{ audio = \"assets/clap.mp3\" }]\n");
        f.write("assets/clap.mp3", "ID3");
        assert_errors(&f.errors(), &["projects/demo/project.toml:3:20: `assets/clap.mp3` is not a WAV file | ffmpeg -i assets/clap.mp3 assets/clap.wav"]);
    }

    #[test]
    fn bad_colour() {
        let f = demo("[[scene]]\nname = \"intro\"\nbackground = \"#12345\"\nlines = [\"Hi\"]\n");
        assert_errors(
            &f.errors(),
            &["projects/demo/project.toml:3:14: `#12345` is not a colour | \"#rrggbb\""],
        );
    }

    #[test]
    fn out_of_range_numbers() {
        let f = demo(
            "[[scene]]\nname = \"intro\"\nfps = 500\nsize = [1280, 721]\npause = -1\nlines = [\"Hi\"]\n\n[[scene]]\nname = \"outro\"\nsize = [8000, 720, 3]\nlines = [\"Bye\"]\n\n[[scene]]\nname = \"credits\"\nsize = [8000, 720]\nlines = [\"Bye\"]\n",
        );
        let errors = f.errors();
        assert_errors(
            &errors,
            &[
                "projects/demo/project.toml:3:7: `fps` must be between 1 and 120, not 500 | frames per second",
                "projects/demo/project.toml:4:15: height must be an even number of pixels, not 721 | try 720",
                "projects/demo/project.toml:5:9: `pause` must be between 0 and 30 seconds, not -1 | seconds of silence",
                "projects/demo/project.toml:10:8: `size` must be [width, height], not 3 numbers | size = [1280, 720]",
                "projects/demo/project.toml:15:9: width must be between 16 and 7680 pixels, not 8000 | ",
            ],
        );
        assert!(f.load().manifest.projects.is_empty());
    }

    #[test]
    fn wrong_types_are_explained() {
        let f = demo("[[scene]]\nname = \"intro\"\nfps = [25]\nlines = [\"Hi\", 3]\n");
        assert_errors(&f.errors(), &[
            "projects/demo/project.toml:3:7: `fps` must be a number or a string \"N/D\", not an array | 29.97 or 59.94",
            "projects/demo/project.toml:4:16: invalid type: integer `3`, expected a string, or a table such as { text = \"...\", voice = \"guest\" }",
        ]);
    }

    #[test]
    fn frame_rates_are_exact_fractions() {
        use crate::fps::Fps;
        let scene = |name: &str, fps: &str| {
            format!("[[scene]]\nname = \"{name}\"\nfps = {fps}\nlines = [\"Hi\"]\n\n")
        };
        let rates = [
            ("a", "29.97", Fps::ntsc(30)),
            ("b", "59.94", Fps::ntsc(60)),
            ("c", "23.976", Fps::ntsc(24)),
            ("d", "\"30000/1001\"", Fps::ntsc(30)),
            ("e", "\"25\"", Fps::whole(25)),
            ("f", "30.0", Fps::whole(30)),
            ("g", "\"25/2\"", Fps::new(25, 2).unwrap()),
        ];
        let text: String = rates.iter().map(|(n, v, _)| scene(n, v)).collect();
        let l = demo(&text).load();
        assert!(l.errors.is_empty(), "{}", show(&l.errors));
        let got: Vec<Fps> = l.manifest.projects[0]
            .scenes
            .iter()
            .map(|s| s.fps)
            .collect();
        let want: Vec<Fps> = rates.iter().map(|r| r.2).collect();
        assert_eq!(got, want);
        let bad = [
            ("a", "29.5"),
            ("b", "\"30000/0\""),
            ("c", "\"1/2\""),
            ("d", "\"fast\""),
        ];
        let text: String = bad.iter().map(|(n, v)| scene(n, v)).collect();
        assert_errors(&demo(&text).errors(), &[
            "projects/demo/project.toml:3:7: `fps` = 29.5 is not a frame rate render can hold exactly | fps = \"29500/1000\"",
            "projects/demo/project.toml:8:7: `30000/0` is not a frame rate | e.g. \"30000/1001\"",
            "projects/demo/project.toml:13:7: `fps` must be between 1 and 120, not 1/2 | 29.97 or 59.94",
            "projects/demo/project.toml:18:7: `fast` is not a frame rate | a whole number",
        ]);
    }

    #[test]
    fn duplicate_scene_names() {
        let f = demo(
            "[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\n\n[[scene]]\nname = \"intro\"\nlines = [\"Again\"]\n",
        );
        let l = f.load();
        assert_errors(&l.errors, &["projects/demo/project.toml:6:8: duplicate scene name `intro` | scene names must be unique within a project: each becomes out/demo/intro.mp4"]);
        // The first one stays.
        let scenes = &l.manifest.projects[0].scenes;
        assert_eq!(scenes.len(), 1);
        assert_eq!(scenes[0].lines[0].text, "Hi");
        let report = render_report(&l.errors[0]);
        assert!(report.contains("first used here"), "{report}");
    }

    #[test]
    fn script_errors_point_into_the_script_file() {
        let f = demo("[[scene]]\nname = \"intro\"\nscript = \"scripts/intro.txt\"\n");
        f.write(
            "scripts/intro.txt",
            "# Intro\nHello.\n  [gust] Hi!\n[guest\n[guest]\n",
        );
        let errors = f.errors();
        assert_errors(
            &errors,
            &[
                "scripts/intro.txt:3:4: unknown voice `gust` | did you mean `guest`?",
                "scripts/intro.txt:4:1: unclosed `[` in script line | [guest] Text",
                "scripts/intro.txt:5:1: empty line in the script of scene `intro` | after `[voice]`",
            ],
        );
    }

    #[test]
    fn no_voice_without_a_default() {
        let rf = RENDERFILE.replace("[defaults]\nvoice = \"narrator\"\n", "");
        let f = Folder::new(&rf);
        f.project(
            "demo",
            "[[scene]]\nname = \"intro\"\nlines = [\"Hi\", \"There\"]\n\n[[scene]]\nname = \"outro\"\nvoice = \"guest\"\nlines = [\"Bye\"]\n",
        );
        let l = f.load();
        assert_errors(&l.errors, &["projects/demo/project.toml:3:10: no voice for this line of scene `intro` | set `voice = \"guest\"` on the scene or the line, or `voice` under [defaults]"]);
        assert_eq!(l.manifest.projects[0].scenes[0].name, "outro");
    }

    #[test]
    fn report_shows_file_line_and_column() {
        let f = demo("[[scene]]\nname = \"intro\"\nfps = 0\n    pich = 3\nlines = [\"Hi\"]\n");
        let errors = f.errors();
        let report = render_report(
            errors
                .iter()
                .find(|e| e.message.starts_with("unknown key"))
                .unwrap(),
        );
        for part in [
            "[projects/demo/project.toml:4:5]",
            "unknown key `pich` in scene `intro`",
            "help: valid keys here are",
        ] {
            assert!(report.contains(part), "{report}");
        }
    }

    /// Three avatars (astronaut is the default), the guest voice shows `camera`.
    fn cast() -> Folder {
        let rf = RENDERFILE.replace("pitch = 60\n", "pitch = 60\navatar = \"camera\"\n")
            + "\n[avatars.camera]\nimage = \"avatars/camera.png\"\n\n[avatars.robot]\nimage = \"avatars/robot.png\"\n";
        let f = Folder::new(&rf.replace("[defaults]\n", "[defaults]\navatar = \"astronaut\"\n"));
        f.write("avatars/camera.png", "png");
        f.write("avatars/robot.png", "png");
        f
    }

    #[test]
    fn a_lines_avatar_is_its_own_else_its_voices_else_its_scenes() {
        let f = cast();
        f.project(
            "demo",
            r#"[[scene]]
name = "intro"
lines = [
  "Narrator, scene's face.",
  { text = "Guest, voice's face.", voice = "guest" },
  { text = "Guest, own face.", voice = "guest", avatar = "robot" },
  { text = "Narrator, own face.", avatar = "camera" },
  { audio = "assets/clap.wav", voice = "guest" },
]

[[scene]]
name = "robots"
avatar = "robot"
lines = ["Narrator, scene's face.", { text = "Guest, voice's face.", voice = "guest" }]

[[scene]]
name = "script"
script = "scripts/s.txt"
"#,
        );
        f.write("assets/clap.wav", "RIFF");
        f.write("scripts/s.txt", "Narrator.\n[guest] Guest.\n");
        let l = f.load();
        assert!(l.errors.is_empty(), "{}", show(&l.errors));
        let m = &l.manifest;
        assert_eq!(m.voices["guest"].avatar.as_deref(), Some("camera"));
        assert_eq!(m.voices["narrator"].avatar, None);
        let faces = |i: usize| -> Vec<(&str, &str)> {
            let scene = &m.projects[0].scenes[i];
            (scene.lines.iter())
                .map(|l| (l.voice.as_str(), l.avatar.as_str()))
                .collect()
        };
        assert_eq!(
            faces(0),
            [
                ("narrator", "astronaut"),
                ("guest", "camera"),
                ("guest", "robot"),
                ("narrator", "camera"),
                ("guest", "camera"),
            ]
        );
        assert_eq!(m.projects[0].scenes[0].avatar, "astronaut");
        // The voice's avatar beats the scene's.
        assert_eq!(faces(1), [("narrator", "robot"), ("guest", "camera")]);
        // Script lines get theirs through the voice.
        assert_eq!(faces(2), [("narrator", "astronaut"), ("guest", "camera")]);
    }

    #[test]
    fn unknown_avatar_on_a_line() {
        let f = cast();
        f.project(
            "demo",
            "[[scene]]\nname = \"intro\"\nlines = [\n  \"Hi\",\n  { text = \"Hello\", avatar = \"camra\" },\n  { text = \"Bye\", avatar = \"zebra\" },\n]\n",
        );
        let l = f.load();
        assert_errors(
            &l.errors,
            &[
                "projects/demo/project.toml:5:30: unknown avatar `camra` | did you mean `camera`?",
                "projects/demo/project.toml:6:28: unknown avatar `zebra` | declared avatars: `astronaut`, `camera` and `robot`; avatars are declared in Renderfile.toml as [avatars.<name>]",
            ],
        );
        assert!(l.manifest.projects.is_empty());
    }

    #[test]
    fn overrides_apply() {
        let f = demo(
            "[[scene]]\nname = \"intro\"\nbackground = \"backgrounds/stars.jpg\"\nfps = 30\nsize = [640, 360]\npause = 1\nvoice = \"guest\"\nlines = [\"Hi\", { text = \"Hello\", voice = \"narrator\" }]\n",
        );
        f.write("backgrounds/stars.jpg", "jpg");
        let l = f.load();
        assert!(l.errors.is_empty(), "{}", show(&l.errors));
        let s = &l.manifest.projects[0].scenes[0];
        assert_eq!(
            (s.fps, s.width, s.height, s.pause),
            (crate::fps::Fps::whole(30), 640, 360, 1.0)
        );
        match &s.background {
            Background::Image(file) => assert_eq!(file.rel, "backgrounds/stars.jpg"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.lines[0].voice, "guest");
        assert_eq!(s.lines[1].voice, "narrator");
    }
}
