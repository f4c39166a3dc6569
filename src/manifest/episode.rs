//! `[episode]` in a project.toml: the project's scenes joined into one video,
//! `out/<project>.mp4`, with an optional intro and outro (a video, or a still picture such
//! as a title card shown for `intro_seconds`), a transition between parts and a music bed
//! ducked under the voices.
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
    "intro_seconds",
    "outro",
    "outro_seconds",
    "transition",
    "transition_seconds",
    "music",
    "music_volume",
];
pub const TRANSITION_SECONDS: f64 = 0.5;
/// How long a still intro or outro shows when its `_seconds` key is left out.
pub const STILL_SECONDS: f64 = 3.0;
/// The files an intro or outro is read as a still picture from (by their extension, as
/// the avatars' images are PNG or JPEG).
const STILL_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// The music bed's level in pauses, in LU relative to the speech's loudness target (the bed
/// is measured first: `engine/episode.rs`); under speech it is ducked further.
pub const MUSIC_VOLUME: f64 = -20.0;

/// A project's episode, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    /// Its scenes in order, each a scene of the project, at most once (default: all).
    pub scenes: Vec<String>,
    /// Shown before the first scene.
    pub intro: Option<Bookend>,
    /// Shown after the last scene.
    pub outro: Option<Bookend>,
    pub transition: Transition,
    /// A fade's length: half of it ends one part, half begins the next (so the episode
    /// still lasts the sum of its parts).
    pub transition_seconds: f64,
    /// Any audio ffmpeg reads, looped to the episode's length.
    pub music: Option<SourceFile>,
    /// The bed's level in pauses, in LU relative to the speech's loudness target.
    pub music_volume: f64,
}

/// An intro or outro: a video, with its own sound or silence, for as long as it lasts; or a
/// still picture (a title card, a logo), in silence, for `still_seconds`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bookend {
    pub file: SourceFile,
    /// Some(seconds) for a still picture; None for a video.
    pub still_seconds: Option<f64>,
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
    intro_seconds: Option<Spanned<f64>>,
    outro: Option<Spanned<String>>,
    outro_seconds: Option<Spanned<f64>>,
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
    let is_still = |v: &Option<Spanned<String>>| {
        v.as_ref().is_some_and(|v| {
            let extension = std::path::Path::new(v.get_ref()).extension();
            let extension = extension.map(|e| e.to_string_lossy().to_lowercase());
            extension.is_some_and(|e| STILL_EXTENSIONS.contains(&e.as_str()))
        })
    };
    let media = |still| {
        if still {
            Media::EpisodeImage
        } else {
            Media::EpisodeVideo
        }
    };
    let (intro_still, outro_still) = (is_still(&raw.intro), is_still(&raw.outro));
    let intro = file(&raw.intro, media(intro_still));
    let outro = file(&raw.outro, media(outro_still));
    let music = file(&raw.music, Media::Music);
    // A still's length: its `_seconds` key, else three seconds. A video lasts as long as it
    // does, so the key is an error there, and without a file it has nothing to time.
    let mut seconds = |name: &str,
                       file: &Option<Spanned<String>>,
                       still,
                       key: &Option<Spanned<f64>>| {
        match (file, key) {
            (_, None) => Some(STILL_SECONDS),
            (Some(_), Some(v)) if still => in_range(
                doc,
                v,
                &format!("`{name}_seconds`"),
                (0.1..=600.0, " seconds"),
                &format!("how long the {name} picture shows, e.g. 3"),
            )
            .map_err(|e| errors.push(e))
            .ok(),
            (Some(f), Some(v)) => {
                let msg = format!(
                    "`{name}_seconds` is for a still picture; `{}` is a video",
                    f.get_ref()
                );
                let help = format!(
                    "a video {name} shows for as long as it lasts: remove `{name}_seconds`, or trim the video"
                );
                errors.push(doc.err(v.span(), msg, "not a picture", help));
                None
            }
            (None, Some(v)) => {
                let msg = format!("`{name}_seconds` without an `{name}`");
                let help = format!("name the picture it times, e.g. {name} = \"media/{name}.png\"");
                errors.push(doc.err(v.span(), msg, "nothing to time", help));
                None
            }
        }
    };
    let intro_seconds = seconds("intro", &raw.intro, intro_still, &raw.intro_seconds);
    let outro_seconds = seconds("outro", &raw.outro, outro_still, &raw.outro_seconds);
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
        "the music's level in pauses, in dB relative to the speech's loudness (it is ducked further under speech), e.g. -20",
    );
    if errors.len() != before {
        // In the order of the file, whichever key was read first.
        errors[before..].sort_by_key(|e| e.span().map_or(0, |s| s.offset()));
        return None;
    }
    // (No error above: a still's seconds were read.)
    let bookend = |file: Option<SourceFile>, still: bool, seconds: Option<f64>| {
        file.map(|file| Bookend {
            file,
            still_seconds: still.then(|| seconds.unwrap_or(STILL_SECONDS)),
        })
    };
    Some(Episode {
        scenes,
        intro: bookend(intro, intro_still, intro_seconds),
        outro: bookend(outro, outro_still, outro_seconds),
        transition: transition?,
        transition_seconds: transition_seconds?,
        music,
        music_volume: music_volume?,
    })
}
