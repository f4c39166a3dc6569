//! `[episode]` in a project.toml: the project's scenes joined into one video,
//! `out/<project>.mp4`, with optional intro and outro videos, a transition between parts and
//! a music bed ducked under the voices.
//!
//! Read on its own, after the scenes: its scene names are checked against the scenes the
//! file declares (valid or not: a scene with a problem is reported at the scene, and the
//! graph leaves the episode out while one of its scenes is missing). A problem here leaves
//! out the episode only; the scenes are still built.

use serde::Deserialize;
use toml::de::DeValue;
use toml::Spanned;

use super::settings::Declared;
use super::values::in_range;
use super::{paths, table, Media, SourceFile};
use crate::diagnostic::{list, suggest, ConfigError, Doc};

const KEYS: &[&str] = &[
    "scenes",
    "intro",
    "outro",
    "transition",
    "transition_seconds",
    "music",
    "music_volume",
];
pub const TRANSITION_SECONDS: f64 = 0.5;
/// The music bed's level in pauses, in dB; under speech it is ducked further.
pub const MUSIC_VOLUME: f64 = -20.0;

/// A project's episode, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// Its scenes in order, each a scene of the project, at most once (default: all).
    pub scenes: Vec<String>,
    /// A video shown before the first scene, with its own audio or silence.
    pub intro: Option<SourceFile>,
    pub outro: Option<SourceFile>,
    pub transition: Transition,
    /// A fade's length: half of it ends one part, half begins the next (so the episode
    /// still lasts the sum of its parts).
    pub transition_seconds: f64,
    /// Any audio ffmpeg reads, looped to the episode's length.
    pub music: Option<SourceFile>,
    /// The bed's level in pauses, in dB.
    pub music_volume: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// Each part starts where the last ends.
    Cut,
    /// A dip through black.
    Fade,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Cut => "cut",
            Transition::Fade => "fade",
        }
    }
}

#[derive(Deserialize)]
struct RawEpisode {
    scenes: Option<Spanned<Vec<Spanned<String>>>>,
    intro: Option<Spanned<String>>,
    outro: Option<Spanned<String>>,
    transition: Option<Spanned<String>>,
    transition_seconds: Option<Spanned<f64>>,
    music: Option<Spanned<String>>,
    music_volume: Option<Spanned<f64>>,
}

/// Reads `[episode]` (`value`) of the project `project`, whose scenes are `scene_names`
/// (in order). None = not usable; every problem is in `errors`.
pub(crate) fn parse(
    doc: &Doc,
    declared: &Declared<'_>,
    project: &str,
    value: Spanned<DeValue<'_>>,
    scene_names: &[String],
    errors: &mut Vec<ConfigError>,
) -> Option<Episode> {
    let before = errors.len();
    let help = "write the episode as an [episode] section, e.g. [episode] with scenes = [\"intro\", \"main\"]";
    let raw: RawEpisode = table::read(
        doc,
        value,
        ["`episode` must be a table", help],
        KEYS,
        "in [episode]",
        errors,
    )?;
    let folder = format!("projects/{project}");
    // Each file confined to the content folder, then looked inside (decodable, with the
    // stream it is used for), like every other media file, so a bad one is reported here.
    let mut file = |v: &Option<Spanned<String>>, media| {
        let v = v.as_ref()?;
        let file = paths::file(doc, &declared.root, v, Some(&folder)).and_then(|file| {
            declared
                .check_media(doc, v.span(), &file, media)
                .map(|_| file)
        });
        file.map_err(|e| errors.push(e)).ok()
    };
    let intro = file(&raw.intro, Media::EpisodeVideo);
    let outro = file(&raw.outro, Media::EpisodeVideo);
    let music = file(&raw.music, Media::Music);
    let scenes = match &raw.scenes {
        None => scene_names.to_vec(),
        Some(names) => {
            let mut scenes: Vec<String> = Vec::new();
            for name in names.get_ref() {
                let n = name.get_ref();
                if !scene_names.contains(n) {
                    let msg = format!("`{n}` is not a scene of project `{project}`");
                    let help = suggest(n, scene_names, || {
                        format!(
                            "the episode's scenes are the project's: {}",
                            list(scene_names)
                        )
                    });
                    errors.push(doc.err(name.span(), msg, "unknown scene", help));
                } else if scenes.contains(n) {
                    let msg = format!("scene `{n}` is in the episode twice");
                    let help = "an episode shows each scene once: remove one of them";
                    errors.push(doc.err(name.span(), msg, "again here", help));
                } else {
                    scenes.push(n.clone());
                }
            }
            if names.get_ref().is_empty() {
                let msg = "the episode has no scenes";
                let help = "name its scenes in order, e.g. scenes = [\"intro\", \"main\"], or leave `scenes` out for all of them";
                errors.push(doc.err(names.span(), msg, "empty", help));
            }
            scenes
        }
    };
    let transition = match &raw.transition {
        None => Some(Transition::Cut),
        Some(t) => match t.get_ref().as_str() {
            "cut" => Some(Transition::Cut),
            "fade" => Some(Transition::Fade),
            other => {
                let msg = format!("unknown transition `{other}`");
                let help = suggest(other, &["cut", "fade"], || {
                    "a transition is \"cut\" (the default) or \"fade\" (a dip through black)".into()
                });
                errors.push(doc.err(t.span(), msg, "unknown transition", help));
                None
            }
        },
    };
    let mut number = |v: &Option<Spanned<f64>>, what, range, default, help| match v {
        None => Some(default),
        Some(v) => in_range(doc, v, what, range, help)
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let transition_seconds = number(
        &raw.transition_seconds,
        "`transition_seconds`",
        (0.04..=10.0, " seconds"),
        TRANSITION_SECONDS,
        "the fade's length, split across the join, e.g. 0.5",
    );
    let music_volume = number(
        &raw.music_volume,
        "`music_volume`",
        (-60.0..=0.0, " dB"),
        MUSIC_VOLUME,
        "the music's level in pauses, in dB (it is ducked further under speech), e.g. -20",
    );
    if errors.len() != before {
        // In the order of the file, whichever key was read first.
        errors[before..].sort_by_key(|e| e.span().map_or(0, |s| s.offset()));
        return None;
    }
    Some(Episode {
        scenes,
        intro,
        outro,
        transition: transition?,
        transition_seconds: transition_seconds?,
        music,
        music_volume: music_volume?,
    })
}
