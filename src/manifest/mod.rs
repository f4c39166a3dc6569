//! The content folder's declarations: `Renderfile.toml` (farm settings, voices, avatars,
//! defaults) and `projects/*/project.toml` (scenes and their script lines), resolved into
//! plain values with every default applied and every path confined to the content folder.
//!
//! Parsing and diagnostics live in the submodules; this file is the resolved model that the
//! rest of render reads, and the [`CheckMedia`] trait through which `media_check.rs` looks
//! inside the files the lines need while the folder loads (the manifest itself only parses).

pub mod broll;
mod captions;
pub mod command;
mod episode;
mod espeak;
mod framing;
pub mod input_files;
pub mod model;
pub mod openai_speech;
pub mod paths;
mod project;
pub mod references;
mod renderfile;
mod settings;
pub mod shots;
pub(crate) mod table;
pub(crate) mod text;
mod two_shot;
mod values;
mod variants;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{self, Doc};
pub use crate::diagnostic::{render_report, ConfigError, Warning};
pub use captions::{BurnedCaptions, CaptionPosition};
pub use episode::{Bookend, Episode, Transition};
pub use paths::PathProblem;
pub use two_shot::TwoShot;

const RENDERFILE_NAME: &str = "Renderfile.toml";

/// The result of [`load`] when Renderfile.toml is usable.
#[derive(Debug)]
pub struct Loaded {
    /// Every valid project and scene.
    pub manifest: Manifest,
    /// Problems in projects: each left out the scene (or, if its project.toml could not be
    /// parsed or no scene was valid, the project) it was found in. Empty = everything is valid.
    /// `render build` fails on these; `render build --keep-going` builds the rest.
    pub errors: Vec<ConfigError>,
    /// What the user should know but need not fix (an avatar image with several faces).
    pub warnings: Vec<Warning>,
}

/// What a source file is used as, which decides how its contents are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Media {
    AvatarImage,
    AvatarVideo,
    BackgroundImage,
    /// An avatar image with `face`: a picture of two people, one of whose faces is the
    /// avatar's.
    TwoPeopleImage,
    /// A line's `audio`.
    Recording,
    /// A cloned voice's `samples`.
    VoiceSample,
    /// An episode's `intro` or `outro`, a video.
    EpisodeVideo,
    /// An episode's `intro` or `outro`, a still picture.
    EpisodeImage,
    /// An episode's `music`.
    Music,
}

impl Media {
    /// In the user's words: "avatar image", "recording", ...
    pub fn what(self) -> &'static str {
        match self {
            Media::AvatarImage => "avatar image",
            Media::AvatarVideo => "avatar video",
            Media::TwoPeopleImage => "avatar image",
            Media::BackgroundImage => "background image",
            Media::Recording => "recording",
            Media::VoiceSample => "voice sample",
            Media::EpisodeVideo => "episode video",
            Media::EpisodeImage => "episode picture",
            Media::Music => "music",
        }
    }
}

/// Checks what is inside the source files the declarations name: that each decodes and is
/// within size limits. [`load_checked`] asks about each file where a key names it, so a
/// problem is reported at that key before anything is made. `media_check.rs` implements it
/// (the manifest only parses), remembering its answers by the files' content hashes.
pub trait CheckMedia {
    /// Ok(None): usable. Ok(Some(note)): usable, with a warning. Err: not usable, and why.
    fn check(&self, file: &SourceFile, media: Media) -> Result<Option<MediaNote>, MediaNote>;
}

/// A problem with a file's contents, or a warning about them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaNote {
    /// e.g. "avatar image `avatars/host.png` is 1×1 pixels, under the minimum of 40×40"
    pub message: String,
    /// A word or two under the key that names the file: "too small".
    pub label: String,
    pub help: String,
}

/// Trusts every file's contents: for tests and tools that only read the declarations.
struct Unchecked;

impl CheckMedia for Unchecked {
    fn check(&self, _: &SourceFile, _: Media) -> Result<Option<MediaNote>, MediaNote> {
        Ok(None)
    }
}

/// Where this machine's own engines file (`$RENDER_ENGINES`, else
/// ~/.config/render/engines.toml) puts each engine it declares: its program and the folder
/// its `{engine_dir}` names. A farm's node runs a job's engine from here, not from the path
/// the submitting machine resolved (`commands/run_job.rs`): where a program is installed
/// belongs to the machine. Empty when the machine has no such file.
pub fn machine_programs(
) -> Result<BTreeMap<String, (PathBuf, PathBuf)>, Vec<diagnostic::ConfigError>> {
    Ok((renderfile::machine_engines()?.into_iter())
        .map(|(name, (engine, _))| (name, (engine.program, engine.engine_dir)))
        .collect())
}

/// Reads and checks the content folder `root`: `Renderfile.toml` and every
/// `projects/<name>/project.toml` (folders without one are ignored, unless they hold a
/// misspelt one), without looking inside media files ([`load_checked`] does).
///
/// Err = fatal: Renderfile.toml is missing, unparseable or invalid (all its errors). Ok with
/// non-empty [`Loaded::errors`] = some projects or scenes were invalid and have been left out
/// of [`Manifest::projects`]. Every project in the manifest has at least one scene.
pub fn load(root: &Path) -> Result<Loaded, Vec<ConfigError>> {
    load_checked(root, &Unchecked)
}

/// [`load`], with the contents of the files that lines need checked by `media`: each problem
/// is reported at the key naming the file and leaves out the scenes that need the file (a
/// background in [defaults] is checked, and fails, like every value in Renderfile.toml).
pub fn load_checked(root: &Path, media: &dyn CheckMedia) -> Result<Loaded, Vec<ConfigError>> {
    let fatal = |msg: String, help: String| {
        vec![ConfigError::in_file(RENDERFILE_NAME, msg).with_help(help)]
    };
    let root = root.canonicalize().map_err(|e| {
        let msg = format!("cannot open the content folder `{}`: {e}", root.display());
        fatal(msg, "pass the folder that holds Renderfile.toml".into())
    })?;
    let _loading = paths::loading(&root);
    let text = paths::resolve(&root, RENDERFILE_NAME)
        .and_then(|f| text::read(&f.abs).map_err(|e| PathProblem::Io(e.to_string())))
        .map_err(|problem| match problem {
            PathProblem::NotFound => fatal(
                format!("no `{RENDERFILE_NAME}` in `{}`", root.display()),
                "a content folder needs a Renderfile.toml declaring its [voices.<name>] and [avatars.<name>]; run render in (or pass) the content folder".into(),
            ),
            other => fatal(format!("cannot read `{RENDERFILE_NAME}`: {}", other.message(RENDERFILE_NAME)), other.help()),
        })?;
    let machine = renderfile::machine_engines()?;
    let renderfile = Doc::new(RENDERFILE_NAME, text);
    let rf = renderfile::parse(&root, &renderfile, machine, media)?;
    let cx = project::Context {
        declared: &rf.declared,
        voices: &rf.voices,
        avatars: &rf.avatars,
        defaults: &rf.defaults,
        engines: &rf.engines,
        generated: &rf.generated,
        unusable: &rf.unusable,
    };
    let folders = ProjectFolders::list(&root);
    let (mut projects, mut errors) = (Vec::new(), folders.problems());
    let (mut warnings, mut default_background) =
        (Vec::new(), project::DefaultBackground::default());
    // Project names, case-folded: `Demo` and `demo` are one folder of out/ on macOS,
    // Windows, exFAT and SMB shares. The first in sorted order is kept.
    let mut folded: BTreeMap<String, String> = BTreeMap::new();
    for name in folders.projects {
        if let Some(first) = folded.get(&name.to_lowercase()) {
            let rel = format!("projects/{name}/project.toml");
            let message = format!("project `{name}` differs from project `{first}` only in case");
            let help = format!("rename one of the folders projects/{first} and projects/{name}: out/{first}/ and out/{name}/ are one folder on macOS, Windows, exFAT and SMB shares, where file names ignore case");
            errors.push(ConfigError::in_file(rel, message).with_help(help));
            continue;
        }
        folded.insert(name.to_lowercase(), name.clone());
        match project_doc(&root, &name) {
            Ok((file, doc)) => {
                let parsed = project::parse(&cx, &name, file, &doc);
                projects.extend(parsed.project);
                errors.extend(parsed.errors);
                warnings.extend(parsed.warnings);
                let takes = parsed.default_background;
                default_background.takers.extend(takes.takers);
                default_background.shown |= takes.shown;
                default_background.framings.extend(takes.framings);
            }
            Err(e) => errors.push(e),
        }
    }
    let (media_errors, media_warnings) = rf.check_used_media(&renderfile, &mut projects);
    errors.splice(0..0, media_errors);
    // Renderfile.toml's warnings first, as its errors come first.
    let hidden = (rf.default_background.as_ref())
        .and_then(|written| hidden_default_background(&renderfile, written, &default_background));
    warnings.splice(0..0, media_warnings.into_iter().chain(hidden));
    let (settings, voices, avatars, engines) = (rf.settings, rf.voices, rf.avatars, rf.engines);
    Ok(Loaded {
        manifest: Manifest {
            root,
            settings,
            voices,
            avatars,
            engines,
            generated: rf.generated,
            projects,
        },
        errors,
        warnings,
    })
}

/// "background `#1b2030` in [defaults] never shows" at its key, when scenes take it and
/// every one of them is framed "face" or "fill" (covered by its avatar). A default no
/// scene takes says nothing: scenes may yet take it.
fn hidden_default_background(
    doc: &Doc,
    written: &toml::Spanned<String>,
    takes: &project::DefaultBackground,
) -> Option<Warning> {
    if takes.shown || takes.takers.is_empty() {
        return None;
    }
    let scenes = match &takes.takers[..] {
        [one] => format!("the one scene that takes it, `{one}`, is"),
        many if many.len() <= 4 => {
            format!("the scenes that take it, {}, are", diagnostic::list(many))
        }
        many => format!("the {} scenes that take it are all", many.len()),
    };
    let framings: Vec<String> = takes.framings.iter().map(|f| format!("\"{f}\"")).collect();
    let message = format!(
        "background `{}` in [defaults] never shows: {scenes} framed {}, which covers the whole frame with the avatar",
        written.get_ref(),
        framings.join(" or ")
    );
    let help = "remove `background` (changing it makes every scene again for nothing), or give a scene framing = \"fit\" to show the whole picture over it";
    Some(Warning(doc.err(
        written.span(),
        message,
        "hidden by the avatar",
        help,
    )))
}

/// The project.toml of the project folder `name`: its path and text.
fn project_doc(root: &Path, name: &str) -> Result<(PathBuf, Doc), ConfigError> {
    let rel = format!("projects/{name}/project.toml");
    let error = |msg: String| ConfigError::in_file(&rel, msg);
    if !paths::is_identifier(name) {
        let help = "rename the folder using only letters, digits, `-` and `_`: the name becomes out/<project>/";
        return Err(error(format!(
            "project folder name `{name}` is not allowed (in `{rel}`)"
        ))
        .with_help(help));
    }
    if diagnostic::name_too_long(name) {
        let message = format!(
            "project folder name `{}…` is {} characters long, over the limit of {}",
            name.chars().take(20).collect::<String>(),
            name.chars().count(),
            diagnostic::MAX_NAME_CHARS
        );
        let help = "shorten it: the name becomes out/<project>/ and out/<project>.mp4, and with a scene's name a file name may have at most 255 bytes";
        return Err(error(message).with_help(help));
    }
    let file =
        paths::resolve(root, &rel).map_err(|p| error(p.message(&rel)).with_help(p.help()))?;
    crate::noop_stamp::consulted(&file.abs);
    let bytes = std::fs::read(&file.abs).map_err(|e| error(format!("cannot read `{rel}`: {e}")))?;
    let text = text::decode(bytes).map_err(|_| {
        error(format!("`{rel}` is not UTF-8 text")).with_help("TOML files must be UTF-8")
    })?;
    Ok((file.abs, Doc::new(rel, text)))
}

/// What is under `projects/`: the project folders, and the near misses that would leave a
/// folder with nothing to build and nothing said (`Project.toml`, `project.tml`, no
/// `projects` folder at all).
#[derive(Default)]
struct ProjectFolders {
    /// The folders `projects/*` that hold a project.toml (possibly through a symbolic link,
    /// which `resolve` then checks), sorted.
    projects: Vec<String>,
    /// Every folder looked in, `projects/<name>`, sorted.
    looked_in: Vec<String>,
    /// Files in project folders named almost `project.toml` (`projects/demo/Project.toml`).
    near_misses: Vec<String>,
    /// `projects/project.toml` (or almost): a project written without its folder.
    loose: Option<String>,
    /// There is no `projects` folder; a folder named like it (`Projects`), if any.
    missing: Option<Option<String>>,
}

const PROJECT_FILE: &str = "project.toml";

impl ProjectFolders {
    fn list(root: &Path) -> Self {
        let dir = root.join("projects");
        if !dir.is_dir() {
            let folders = entries(root, true);
            let near = diagnostic::did_you_mean("projects", folders.iter().map(String::as_str));
            return ProjectFolders {
                missing: Some(near.map(str::to_string)),
                ..Default::default()
            };
        }
        let near_file = |files: Vec<String>| {
            diagnostic::did_you_mean(PROJECT_FILE, files.iter().map(String::as_str))
                .map(str::to_string)
        };
        let mut found = ProjectFolders {
            loose: near_file(entries(&dir, false)).map(|f| format!("projects/{f}")),
            ..Default::default()
        };
        for name in entries(&dir, true) {
            let folder = dir.join(&name);
            if std::fs::symlink_metadata(folder.join(PROJECT_FILE)).is_ok() {
                found.projects.push(name.clone());
            } else if let Some(near) = near_file(entries(&folder, false)) {
                found.near_misses.push(format!("projects/{name}/{near}"));
            }
            found.looked_in.push(format!("projects/{name}"));
        }
        found
    }

    /// "no projects found" when there are none (saying where render looked); else one error
    /// per project folder whose project.toml is misspelt.
    fn problems(&self) -> Vec<ConfigError> {
        const HOW: &str = "a project is a folder `projects/<name>/` holding a `project.toml` with its [[scene]] tables (its videos go to out/<name>/)";
        if !self.projects.is_empty() {
            return (self.near_misses.iter())
                .map(|file| {
                    let (dir, _) = file.rsplit_once('/').unwrap_or_default();
                    let message = format!("project folder `{dir}` has no `project.toml`");
                    ConfigError::in_file(file, message).with_help(rename(file))
                })
                .collect();
        }
        let message = match (&self.missing, &self.looked_in[..]) {
            (Some(_), _) => "no projects found: the content folder has no `projects` folder".into(),
            (None, []) => "no projects found: the folder `projects` is empty".into(),
            (None, folders) => format!(
                "no projects found: no `project.toml` in {}",
                diagnostic::list(folders)
            ),
        };
        let near = self.near_misses.first().or(self.loose.as_ref());
        let help = match (&self.missing, near) {
            (Some(Some(folder)), _) => {
                format!("did you mean `{folder}`? rename it to `projects`; {HOW}")
            }
            (_, Some(file)) => format!("{}; {HOW}", rename(file)),
            _ => HOW.to_string(),
        };
        vec![ConfigError::in_file("projects", message).with_help(help)]
    }
}

/// "did you mean `projects/demo/Project.toml`? rename it to ..." for a near miss.
fn rename(file: &str) -> String {
    let (dir, name) = file.rsplit_once('/').unwrap_or_default();
    if dir == "projects" {
        return format!("did you mean `{file}`? a project needs a folder of its own: move it to `projects/<name>/{PROJECT_FILE}`");
    }
    let case = if name.eq_ignore_ascii_case(PROJECT_FILE) {
        " (file names are case-sensitive)"
    } else {
        ""
    };
    format!("did you mean `{file}`? rename it to `{dir}/{PROJECT_FILE}`{case}")
}

/// The names in `dir` of its folders (`folders`) or of its other entries, sorted.
fn entries(dir: &Path, folders: bool) -> Vec<String> {
    crate::noop_stamp::consulted(dir);
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    let mut names: Vec<String> = entries
        .filter(|e| e.path().is_dir() == folders)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Everything `render build` needs to know about a content folder.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The content folder, canonicalised.
    pub root: PathBuf,
    pub settings: Settings,
    pub voices: BTreeMap<String, Voice>,
    pub avatars: BTreeMap<String, Avatar>,
    /// Command engines: the folder's `[engines.*]` with this machine's engines file over them.
    pub engines: BTreeMap<String, command::CommandEngine>,
    /// `[stills.*]` and `[shots.*]`: pictures and videos made from prompts.
    pub generated: shots::Generated,
    /// Sorted by name.
    pub projects: Vec<Project>,
}

/// `[render]` in Renderfile.toml.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// "auto" | "cpu" | "cuda:N"
    pub device: String,
    /// Where `device`'s value is written in Renderfile.toml (for a device that cannot be
    /// honoured on this machine, found only once the graph needs a model).
    pub device_at: Option<std::ops::Range<usize>>,
    /// Parallel CPU jobs; None = number of cores.
    pub jobs: Option<usize>,
    /// `gpus`, `devices`, `lanes_per_gpu`, `lanes`: which lanes GPU jobs run on.
    pub lanes: crate::device::LaneSettings,
    /// Where `devices` is written in Renderfile.toml (a card that does not exist here).
    pub devices_at: Option<std::ops::Range<usize>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Voice {
    pub name: String,
    pub engine: VoiceEngine,
    /// `avatar = "..."`: the face of this voice's lines (a key of `Manifest::avatars`),
    /// unless a line names its own; None = the scene's.
    pub avatar: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum VoiceEngine {
    /// `engine = "<name>"`: a command engine with stage = "speech" (`Manifest::engines`).
    Command {
        engine: String,
        /// `{language}`; default "en".
        language: String,
        /// Reference recordings, for an engine that clones voices.
        samples: Vec<SourceFile>,
    },
    /// `engine = "espeak"`: espeak-ng's `-v <language>[+<variant>] -p <pitch> -s <rate>`.
    Espeak {
        language: String,
        variant: Option<String>,
        /// 0..=99
        pitch: u32,
        /// words per minute, 80..=450
        rate: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Avatar {
    pub name: String,
    pub source: SourceFile,
    pub kind: AvatarKind,
    /// Lip-sync engine: "builtin" or the name of a model under models/.
    pub lipsync: String,
    /// The model's manifest, when `lipsync` names one.
    pub model: Option<model::Model>,
    /// `image = { still = "<name>" }`: the picture is that still (`Manifest::generated`);
    /// `source` is then a stand-in until the graph points it at the still's object.
    pub still: Option<String>,
    /// `motion = "<shot>"`: the avatar moves as that shot, which every clip lip-syncs
    /// (`source` and `kind` are the shot's video once the graph plans it).
    pub motion: Option<String>,
    /// Set by the graph for a still or motion avatar: the artifact its picture or video
    /// is, an input of its face track's and clips' keys in place of a file's hash, and
    /// that picture's size (known before it is made).
    pub made: Option<MadeFace>,
    /// `face = "left"` / `"right"`: the avatar is one of the two people its picture shows
    /// (a studio photo of host and guest), the face track follows that face, and a
    /// two-person shot of the two avatars naming that picture is made from it as it is.
    pub face: Option<Face>,
}

/// Which of the two faces of a picture of two people is an avatar's, counted left to
/// right by their boxes' centres.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Face {
    Left,
    Right,
}

impl Face {
    /// As written in the TOML.
    pub fn name(self) -> &'static str {
        match self {
            Face::Left => "left",
            Face::Right => "right",
        }
    }

    /// Its place among the faces, left to right, from 0.
    pub fn index(self) -> usize {
        match self {
            Face::Left => 0,
            Face::Right => 1,
        }
    }
}

/// An avatar's picture or video made by render (`Avatar::made`).
#[derive(Clone, Debug, PartialEq)]
pub struct MadeFace {
    pub key: crate::key::Key,
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AvatarKind {
    Image,
    Video,
}

/// A user file inside the content folder.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct SourceFile {
    /// Relative to the content folder, `/`-separated, normalised (no `.`/`..`).
    pub rel: String,
    /// Absolute path (content folder joined with `rel`); never outside the content folder.
    pub abs: PathBuf,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub name: String,
    /// The project.toml, for diagnostics.
    pub file: PathBuf,
    /// In declaration order.
    pub scenes: Vec<Scene>,
    /// `[episode]`: its scenes joined into `out/<project>.mp4`.
    pub episode: Option<Episode>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub name: String,
    pub avatar: String,
    pub background: Background,
    pub fps: crate::fps::Fps,
    pub width: u32,
    pub height: u32,
    /// Seconds of silence between consecutive lines.
    pub pause: f64,
    /// How each line's clip fills the frame.
    pub framing: crate::framing::Framing,
    /// How its captions are drawn into the video; None = not burned (files only).
    pub burn: Option<BurnedCaptions>,
    /// The integrated loudness (LUFS) and the true-peak ceiling (dBTP) its video is
    /// normalised to.
    pub loudness: f64,
    pub true_peak: f64,
    /// Never empty.
    pub lines: Vec<Line>,
    /// The lip-sync engine of every line's clip, over each avatar's own `lipsync`: set by a
    /// variant that varies `lipsync`; None = each avatar's.
    pub lipsync: Option<Lipsync>,
    /// `shot = "two"` on the scene or on groups of its lines: each a run of its lines
    /// that is one shot of two people (`manifest/two_shot.rs`), in script order.
    pub shots: Vec<TwoShot>,
    /// `variants` (`manifest/variants.rs`): each a whole scene made with its settings, in
    /// declaration order. Empty when none are declared. This scene's own fields are the
    /// first variant's (`<scene>.mp4` is the first variant), so code that does not know of
    /// variants (episodes, the report) sees the first.
    pub variants: Vec<Variant>,
}

/// A lip-sync engine as a scene's variant names it: "builtin", a command engine with
/// stage = "lipsync", or a model under models/ (then `model` is its manifest).
#[derive(Clone, Debug, PartialEq)]
pub struct Lipsync {
    pub name: String,
    pub model: Option<model::Model>,
}

/// One variant of a scene: its name (`out/<project>/<scene>@<name>.mp4`) and the scene as
/// it resolves with the variant's settings (its own `variants` empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub name: String,
    pub scene: Scene,
    /// The first declared variant, which `<scene>.mp4` also publishes. (A target
    /// `project/scene@variant` keeps only the variant it names.)
    pub first: bool,
}

impl Scene {
    /// What a build makes of this scene: `(None, self)` when it declares no variants, else
    /// `(Some(name), scene)` per variant.
    pub fn builds(&self) -> Vec<(Option<&str>, &Scene)> {
        if self.variants.is_empty() {
            return vec![(None, self)];
        }
        (self.variants.iter())
            .map(|v| (Some(v.name.as_str()), &v.scene))
            .collect()
    }

    /// [`Scene::builds`] with each variant itself (None: the scene declares none).
    pub fn variant_builds(&self) -> Vec<(Option<&Variant>, &Scene)> {
        if self.variants.is_empty() {
            return vec![(None, self)];
        }
        (self.variants.iter())
            .map(|v| (Some(v), &v.scene))
            .collect()
    }

    /// The avatar a line of this scene shows, with the scene's lip-sync engine when a
    /// variant sets one.
    pub fn avatar_for<'a>(&self, avatar: &'a Avatar) -> std::borrow::Cow<'a, Avatar> {
        match &self.lipsync {
            Some(l) if l.name != avatar.lipsync || l.model != avatar.model => {
                std::borrow::Cow::Owned(Avatar {
                    lipsync: l.name.clone(),
                    model: l.model.clone(),
                    ..avatar.clone()
                })
            }
            _ => std::borrow::Cow::Borrowed(avatar),
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    Colour([u8; 3]),
    Image(SourceFile),
    /// `{ still = "<name>" }`: a still (`[stills.<name>]`), the scene's input `background`.
    Still(String),
    /// `{ shot = "<name>" }`: a shot, looped or cut to the scene's length.
    Shot(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// What is said; empty for an `audio` line.
    pub text: String,
    /// Always a key of `Manifest::voices`; for `audio` lines the scene's voice (unused).
    pub voice: String,
    /// A recorded WAV to use instead of synthesising `text`.
    pub audio: Option<SourceFile>,
    /// The face that says it, always a key of `Manifest::avatars`: the line's own
    /// `avatar`, else its voice's, else the scene's.
    pub avatar: String,
    /// `{ shot = "...", seconds = N }`: a b-roll line, which shows the shot over silence
    /// (its `text` is empty; its voice and avatar are the scene's, and unused).
    pub broll: Option<broll::BRoll>,
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A content folder in a temporary directory, for the tests of every manifest module.

    use std::fs;
    use std::path::Path;

    use super::{load, ConfigError, Loaded};

    /// Two voices (narrator is the default), one avatar (so the default), device cpu.
    pub const RENDERFILE: &str = r#"[render]
device = "cpu"

[defaults]
voice = "narrator"

[voices.narrator]
variant = "m3"

[voices.guest]
language = "en-gb"
pitch = 60

[avatars.astronaut]
image = "avatars/astronaut.png"
"#;

    pub struct Folder {
        pub dir: tempfile::TempDir,
    }

    impl Folder {
        /// A content folder with `renderfile` and `avatars/astronaut.png`.
        pub fn new(renderfile: &str) -> Self {
            let f = Folder {
                dir: tempfile::tempdir().unwrap(),
            };
            f.write("Renderfile.toml", renderfile);
            f.write("avatars/astronaut.png", "png");
            f
        }

        pub fn root(&self) -> &Path {
            self.dir.path()
        }

        pub fn write(&self, rel: &str, contents: &str) -> &Self {
            let path = self.root().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, contents).unwrap();
            self
        }

        pub fn project(&self, name: &str, toml: &str) -> &Self {
            self.write(&format!("projects/{name}/project.toml"), toml)
        }

        pub fn load(&self) -> Loaded {
            match load(self.root()) {
                Ok(l) => l,
                Err(errors) => panic!("fatal errors: {}", show(&errors)),
            }
        }

        pub fn fatal(&self) -> Vec<ConfigError> {
            match load(self.root()) {
                Ok(_) => panic!("expected fatal errors"),
                Err(errors) => errors,
            }
        }

        /// The errors of loading projects (Renderfile.toml must be valid).
        pub fn errors(&self) -> Vec<ConfigError> {
            self.load().errors
        }
    }

    /// A folder with the standard Renderfile and `projects/demo/project.toml` = `toml`.
    pub fn demo(toml: &str) -> Folder {
        let f = Folder::new(RENDERFILE);
        f.project("demo", toml);
        f
    }

    /// Every error's `location: message (help)`, for assertion messages.
    pub fn show(errors: &[ConfigError]) -> String {
        errors
            .iter()
            .map(|e| format!("\n{}: {} ({:?})", e.location(), e.message, e.help))
            .collect()
    }

    /// Asserts `errors`, each written `file:line:col: message | part of its help`.
    #[track_caller]
    pub fn assert_errors(errors: &[ConfigError], expected: &[&str]) {
        let got: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.location(), e.message))
            .collect();
        let want: Vec<&str> = expected
            .iter()
            .map(|x| x.split_once(" | ").map_or(*x, |p| p.0))
            .collect();
        assert_eq!(got, want, "{}", show(errors));
        for (e, x) in errors.iter().zip(expected) {
            let (h, help) = (
                e.help.as_deref().unwrap_or(""),
                x.split_once(" | ").map_or("", |p| p.1),
            );
            assert!(h.contains(help), "help {h:?} lacks {help:?}");
        }
    }

    /// [`assert_errors`] for one error of several.
    #[track_caller]
    pub fn assert_error(e: &ConfigError, expected: &str) {
        assert_errors(std::slice::from_ref(e), &[expected]);
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn happy_path_with_defaults_overrides_mixed_lines_and_a_script() {
        let f = Folder::new(RENDERFILE);
        f.project(
            "demo",
            r##"[[scene]]
name = "intro"
lines = [
  "Hello and welcome.",
  { text = "Thanks for having me.", voice = "guest" },
  { audio = "assets/applause.wav" },
]

[[scene]]
name = "interview"
pause = 0.5
size = [640, 360]
background = "#000000"
script = "scripts/interview.txt"
"##,
        );
        f.write("assets/applause.wav", "RIFF");
        f.write(
            "scripts/interview.txt",
            "# The interview\n\nSo, tell us about space.\n[guest] It is big.\r\n  [ narrator ]  Indeed.  \n",
        );
        f.project("another", "[[scene]]\nname = \"a\"\nlines = [\"A\"]\n");
        std::fs::create_dir_all(f.root().join("projects/notes")).unwrap(); // no project.toml

        let l = f.load();
        assert!(l.errors.is_empty(), "{}", show(&l.errors));
        let m = l.manifest;
        assert_eq!(m.root, f.root().canonicalize().unwrap());
        assert_eq!((m.settings.device.as_str(), m.settings.jobs), ("cpu", None));
        assert_eq!(m.voices.keys().collect::<Vec<_>>(), ["guest", "narrator"]);
        let astronaut = &m.avatars["astronaut"];
        assert_eq!(astronaut.kind, AvatarKind::Image);
        assert_eq!(astronaut.lipsync, "builtin");
        assert_eq!(astronaut.source.rel, "avatars/astronaut.png");
        assert_eq!(astronaut.source.abs, m.root.join("avatars/astronaut.png"));

        let names: Vec<&str> = m.projects.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["another", "demo"]);
        let demo = &m.projects[1];
        assert_eq!(demo.file, m.root.join("projects/demo/project.toml"));

        let intro = &demo.scenes[0];
        assert_eq!(intro.name, "intro");
        assert_eq!(intro.avatar, "astronaut");
        assert_eq!(intro.background, Background::Colour([0x1e, 0x24, 0x30]));
        let shape = |s: &Scene| (s.fps, s.width, s.height, s.pause);
        assert_eq!(shape(intro), (crate::fps::Fps::whole(25), 1280, 720, 0.4));
        let applause = SourceFile {
            rel: "assets/applause.wav".into(),
            abs: m.root.join("assets/applause.wav"),
        };
        let line = |text: &str, voice: &str, audio: Option<&SourceFile>| Line {
            text: text.into(),
            voice: voice.into(),
            audio: audio.cloned(),
            avatar: "astronaut".into(),
            broll: None,
        };
        assert_eq!(
            intro.lines,
            [
                line("Hello and welcome.", "narrator", None),
                line("Thanks for having me.", "guest", None),
                line("", "narrator", Some(&applause)),
            ]
        );

        let interview = &demo.scenes[1];
        assert_eq!(interview.background, Background::Colour([0, 0, 0]));
        assert_eq!(
            shape(interview),
            (crate::fps::Fps::whole(25), 640, 360, 0.5)
        );
        assert_eq!(
            interview.lines,
            [
                line("So, tell us about space.", "narrator", None),
                line("It is big.", "guest", None),
                line("Indeed.", "narrator", None),
            ]
        );
    }

    #[test]
    fn keep_going_drops_only_the_bad_scenes_and_projects() {
        let f = Folder::new(RENDERFILE);
        f.project(
            "demo",
            "[[scene]]\nname = \"one\"\nlines = [\"1\"]\n\n[[scene]]\nname = \"two\"\nvoice = \"gust\"\nlines = [\"2\"]\n\n[[scene]]\nname = \"three\"\nlines = [\"3\"]\n",
        );
        f.project(
            "broken",
            "[[scene]]\nname = \"x\"\nlines = [\"unterminated]\n",
        );
        f.project("fine", "[[scene]]\nname = \"only\"\nlines = [\"Hi\"]\n");

        let l = f.load();
        assert_errors(
            &l.errors,
            &[
                "projects/broken/project.toml:3:24: TOML syntax error: invalid basic string, expected `\"` | a string is missing its closing `\"`",
                "projects/demo/project.toml:7:9: unknown voice `gust` | did you mean `guest`?",
            ],
        );
        let names: Vec<&str> = l
            .manifest
            .projects
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["demo", "fine"]);
        let scenes: Vec<&str> = l.manifest.projects[0]
            .scenes
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(scenes, ["one", "three"]);
    }

    #[test]
    fn renderfile_errors_are_fatal_and_hide_project_errors() {
        let f = Folder::new(&RENDERFILE.replace("pitch = 60", "pitch = 100"));
        f.project("demo", "[[scene]]\nname = \"bad name\"\n");
        let errors = f.fatal();
        assert_errors(
            &errors,
            &["Renderfile.toml:12:9: `pitch` must be between 0 and 99, not 100 | 50 is normal"],
        );
    }

    #[test]
    fn nothing_declared_still_loads_but_scenes_explain() {
        let f = Folder::new("");
        f.project("demo", "[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\n");
        let l = f.load();
        assert!(l.manifest.projects.is_empty());
        assert_errors(
            &l.errors,
            &[
                "projects/demo/project.toml:2:8: scene `intro` has no avatar | no avatars are declared",
                "projects/demo/project.toml:3:10: no voice for this line of scene `intro` | no voices are declared",
            ],
        );
    }

    #[test]
    fn no_projects_found_says_where_it_looked() {
        const HOW: &str = "a project is a folder `projects/<name>/` holding a `project.toml` with its [[scene]] tables (its videos go to out/<name>/)";
        let scene = "[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\n";
        let f = Folder::new(RENDERFILE);
        let missing = "projects: no projects found: the content folder has no `projects` folder";
        assert_errors(&f.errors(), &[&format!("{missing} | {HOW}")]);
        f.write("Projects/demo/project.toml", scene);
        assert_errors(
            &f.errors(),
            &[&format!(
                "{missing} | did you mean `Projects`? rename it to `projects`; {HOW}"
            )],
        );

        let f = Folder::new(RENDERFILE);
        std::fs::create_dir_all(f.root().join("projects")).unwrap();
        assert_errors(
            &f.errors(),
            &["projects: no projects found: the folder `projects` is empty"],
        );
        f.write("projects/project.toml", scene);
        assert_errors(&f.errors(), &["projects: no projects found: the folder `projects` is empty | did you mean `projects/project.toml`? a project needs a folder of its own: move it to `projects/<name>/project.toml`"]);

        let f = Folder::new(RENDERFILE);
        f.write("projects/demo/Project.toml", scene);
        f.write("projects/notes/todo.txt", "");
        assert_errors(&f.errors(), &[&format!("projects: no projects found: no `project.toml` in `projects/demo` and `projects/notes` | did you mean `projects/demo/Project.toml`? rename it to `projects/demo/project.toml` (file names are case-sensitive); {HOW}")]);
    }

    #[test]
    fn a_misspelt_project_toml_beside_other_projects() {
        let f = Folder::new(RENDERFILE);
        f.project("demo", "[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\n");
        f.write("projects/other/project.tml", "");
        f.write("projects/notes/todo.txt", "");
        let l = f.load();
        assert_errors(&l.errors, &["projects/other/project.tml: project folder `projects/other` has no `project.toml` | did you mean `projects/other/project.tml`? rename it to `projects/other/project.toml`"]);
        assert_eq!(l.manifest.projects[0].name, "demo");
    }

    /// Calls every file whose name holds "bad" damaged, and warns about those with "two".
    struct Fussy;

    impl CheckMedia for Fussy {
        fn check(&self, file: &SourceFile, media: Media) -> Result<Option<MediaNote>, MediaNote> {
            let note = |what: &str| MediaNote {
                message: format!("{} `{}` {what}", media.what(), file.rel),
                label: String::new(),
                help: "fix it".into(),
            };
            match &file.rel {
                rel if rel.contains("bad") => Err(note("is damaged")),
                rel if rel.contains("two") => Ok(Some(note("shows two faces"))),
                _ => Ok(None),
            }
        }
    }

    #[test]
    fn media_problems_leave_out_their_scene_and_warnings_are_kept() {
        let f = Folder::new(&RENDERFILE.replace("astronaut.png", "two.png"));
        f.write("avatars/two.png", "png");
        f.write("assets/bad.png", "png");
        f.write("assets/bad.wav", "RIFF");
        f.project(
            "demo",
            "[[scene]]\nname = \"a\"\nbackground = \"assets/bad.png\"\nlines = [\"Hi\"]\n\n[[scene]]\nname = \"b\"\nlines = [{ audio = \"assets/bad.wav\" }]\n\n[[scene]]\nname = \"c\"\nlines = [\"Hi\"]\n",
        );
        let l = load_checked(f.root(), &Fussy).unwrap();
        assert_errors(
            &l.errors,
            &[
                "projects/demo/project.toml:3:14: background image `assets/bad.png` is damaged | fix it",
                "projects/demo/project.toml:8:20: recording `assets/bad.wav` is damaged | fix it",
            ],
        );
        let scenes: Vec<&str> = (l.manifest.projects[0].scenes.iter())
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(scenes, ["c"]);
        let warnings: Vec<ConfigError> = l.warnings.into_iter().map(|w| w.0).collect();
        assert_errors(
            &warnings,
            &["Renderfile.toml:15:9: avatar image `avatars/two.png` shows two faces | fix it"],
        );
        // Only the manifest's own checks without them.
        assert!(load(f.root()).unwrap().errors.is_empty());
    }

    #[test]
    fn avatars_and_samples_are_checked_for_the_lines_that_need_them() {
        let rf = (RENDERFILE.replace("pitch = 60\n", ""))
            .replace("[defaults]\n", "[defaults]\navatar = \"astronaut\"\n")
            .replace(
            "[voices.guest]\n",
            "[voices.guest]\nengine = \"clone\"\nsamples = [\"voices/bad.wav\"]\n",
        ) + "\n[avatars.broken]\nimage = \"avatars/bad.png\"\n\n[avatars.unused]\nimage = \"avatars/bad-too.png\"\n\n[engines.clone]\nstage = \"speech\"\nprogram = \"/bin/true\"\nargs = [\"{samples}\", \"{text_file}\", \"{out}\"]\n";
        let f = Folder::new(&rf);
        for bad in ["avatars/bad.png", "avatars/bad-too.png", "voices/bad.wav"] {
            f.write(bad, "bad");
        }
        f.project(
            "demo",
            "[[scene]]\nname = \"shows\"\nlines = [\"Hi\", { text = \"Ho\", avatar = \"broken\" }]\n\n[[scene]]\nname = \"speaks\"\nlines = [{ text = \"Hi\", voice = \"guest\" }]\n\n[[scene]]\nname = \"plays\"\nlines = [{ audio = \"voices/fine.wav\", voice = \"guest\" }]\n\n[[scene]]\nname = \"neither\"\navatar = \"unused\"\nlines = [{ text = \"Hi\", avatar = \"astronaut\" }]\n",
        );
        f.write("voices/fine.wav", "RIFF");
        let l = load_checked(f.root(), &Fussy).unwrap();
        assert_errors(
            &l.errors,
            &[
                "Renderfile.toml:20:9: avatar image `avatars/bad.png` is damaged | fix it",
                "Renderfile.toml:13:12: voice sample `voices/bad.wav` is damaged | fix it",
            ],
        );
        // An avatar no line shows is never read. A recorded line's voice is made all the
        // same (the graph plans a voice's conditioning for each of its lines), so `plays`
        // needs the sample too.
        let scenes: Vec<&str> = (l.manifest.projects[0].scenes.iter())
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(scenes, ["neither"]);
    }

    #[test]
    fn bad_project_folder_name() {
        let f = Folder::new(RENDERFILE);
        f.project("my demo", "[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\n");
        let l = f.load();
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.errors[0].location(), "projects/my demo/project.toml");
        assert_eq!(
            l.errors[0].message,
            "project folder name `my demo` is not allowed (in `projects/my demo/project.toml`)"
        );
    }

    #[test]
    fn rendered_report_has_the_location() {
        let f = Folder::new(RENDERFILE);
        f.project(
            "demo",
            "[[scene]]\nname = \"intro\"\nlines = [\"Hi\"]\nvoice = \"gust\"\n",
        );
        let errors = f.errors();
        let report = render_report(&errors[0]);
        assert!(report.contains("unknown voice `gust`"), "{report}");
        assert!(
            report.contains("[projects/demo/project.toml:4:9]"),
            "{report}"
        );
        assert!(report.contains("help: did you mean `guest`?"), "{report}");
    }
}
