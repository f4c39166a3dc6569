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
/// picture (a title card, a logo), in silence, for its seconds. Either is a file of the
/// content folder or made by render: `{ still = "title" }`, `{ shot = "city" }`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bookend {
    Video(SourceFile),
    Picture {
        file: SourceFile,
        seconds: f64,
    },
    /// The still `[stills.<name>]`: the episode's input `intro` or `outro`.
    Still {
        name: String,
        seconds: f64,
    },
    /// The shot `[shots.<name>]`, silent, for its own length: the input `intro` or `outro`.
    Shot(String),
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
    intro: Option<Spanned<toml::Value>>,
    intro_seconds: Option<Spanned<f64>>,
    outro: Option<Spanned<toml::Value>>,
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
    let at = Bookends {
        doc,
        declared,
        folder: &folder,
    };
    let intro = at.bookend("intro", &raw.intro, &raw.intro_seconds, errors);
    let outro = at.bookend("outro", &raw.outro, &raw.outro_seconds, errors);
    let music = (raw.music.as_ref()).and_then(|v| {
        let file = at.file(v, Media::Music);
        file.map_err(|e| errors.push(e)).ok()
    });
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

/// Where an intro or outro is read: the file, what is declared, the project's folder.
struct Bookends<'a> {
    doc: &'a Doc,
    declared: &'a Declared<'a>,
    folder: &'a str,
}

impl Bookends<'_> {
    /// The file named at `v`, confined to the content folder, then looked inside (decodable,
    /// with the stream it is used for), like every other media file.
    fn file(&self, v: &Spanned<String>, media: Media) -> Result<SourceFile, ConfigError> {
        let (doc, declared) = (self.doc, self.declared);
        let file = paths::file(doc, &declared.root, v, Some(self.folder))?;
        declared.check_media(doc, v.span(), &file, media)?;
        Ok(file)
    }

    /// `intro` or `outro` (`name`) and its `_seconds`: None when absent or wrong (then its
    /// problems are in `errors`).
    fn bookend(
        &self,
        name: &str,
        value: &Option<Spanned<toml::Value>>,
        seconds: &Option<Spanned<f64>>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Bookend> {
        let doc = self.doc;
        let Some(value) = value else {
            if let Some(v) = seconds {
                let msg = format!("`{name}_seconds` without an `{name}`");
                let help = format!("name the picture it times, e.g. {name} = \"media/{name}.png\"");
                errors.push(doc.err(v.span(), msg, "nothing to time", help));
            }
            return None;
        };
        // A picture's length: its `_seconds` key, else three seconds.
        let still_seconds = |errors: &mut Vec<ConfigError>| match seconds {
            None => Some(STILL_SECONDS),
            Some(v) => in_range(
                doc,
                v,
                &format!("`{name}_seconds`"),
                (0.1..=600.0, " seconds"),
                &format!("how long the {name} picture shows, e.g. 3"),
            )
            .map_err(|e| errors.push(e))
            .ok(),
        };
        // A video lasts as long as it does, so `_seconds` is an error there.
        let video_seconds = |what: String, help: String, errors: &mut Vec<ConfigError>| {
            if let Some(v) = seconds {
                let msg = format!("`{name}_seconds` is for a still picture; {what}");
                errors.push(doc.err(v.span(), msg, "not a picture", help));
            }
        };
        let generated = &self.declared.generated;
        match value.get_ref() {
            toml::Value::String(path) => {
                let v = Spanned::new(value.span(), path.clone());
                let extension = std::path::Path::new(path).extension();
                let extension = extension.map(|e| e.to_string_lossy().to_lowercase());
                let still = extension.is_some_and(|e| STILL_EXTENSIONS.contains(&e.as_str()));
                let media = if still {
                    Media::EpisodeImage
                } else {
                    Media::EpisodeVideo
                };
                let file = self.file(&v, media).map_err(|e| errors.push(e)).ok();
                if still {
                    let seconds = still_seconds(errors);
                    return Some(Bookend::Picture {
                        file: file?,
                        seconds: seconds?,
                    });
                }
                let what = format!("`{path}` is a video");
                let help = format!("a video {name} shows for as long as it lasts: remove `{name}_seconds`, or trim the video");
                video_seconds(what, help, errors);
                file.map(Bookend::Video)
            }
            other => match super::references::reference(other) {
                Some((false, still)) if generated.stills.contains(&still) => {
                    let seconds = still_seconds(errors)?;
                    Some(Bookend::Still {
                        name: still,
                        seconds,
                    })
                }
                Some((true, shot)) if generated.shots.contains(&shot) => {
                    let what = format!("shot `{shot}` is a video");
                    let help = format!("a shot {name} plays for as long as it lasts: remove `{name}_seconds`, or set `seconds` in [shots.{shot}]");
                    video_seconds(what, help, errors);
                    Some(Bookend::Shot(shot))
                }
                Some((shot, made)) => {
                    let (other, kind) = match shot {
                        true => (&generated.stills, "still"),
                        false => (&generated.shots, "shot"),
                    };
                    let e = if other.contains(&made) {
                        // Either is shown here: say how to write the other.
                        let (is, not) = match shot {
                            true => ("still", "shot"),
                            false => ("shot", "still"),
                        };
                        let msg = format!("`{made}` is a {is}, not a {not}");
                        let help = format!("write {name} = {{ {kind} = \"{made}\" }}: an {name} shows a still for `{name}_seconds` or plays a shot");
                        doc.err(value.span(), msg, format!("a {is}"), help)
                    } else {
                        super::references::unknown(doc, value.span(), &made, shot, generated)
                    };
                    errors.push(e);
                    None
                }
                None => {
                    let msg = format!("`{name}` must be a file, a still or a shot");
                    let help = format!("e.g. {name} = \"media/{name}.mp4\", \"media/title.png\", {{ still = \"title\" }} or {{ shot = \"city\" }}");
                    errors.push(doc.err(value.span(), msg, format!("not an {name}"), help));
                    None
                }
            },
        }
    }
}
