//! Scene settings: the keys a scene inherits (`avatar`, `voice`, `background`, `fps`, `size`,
//! `pause`; `loudness` and `true_peak`, what its video is normalised to). `[defaults]` in
//! Renderfile.toml and each `[[scene]]` in a project.toml write them the same way, so one
//! raw struct reads both and one resolver applies them: the scene's value over the default
//! over the built-in.

use serde::Deserialize;
use toml::Spanned;

use super::captions::{CaptionPosition, CaptionSettings, CaptionSize, CaptionsMode};
use super::framing::FramingSettings;
pub(crate) use super::values::Declared;
use super::values::{Colour, Fps, Loudness, Pause, Size, TruePeak};
use super::Background;
use crate::diagnostic::{ConfigError, Doc};

/// The keys of [`RawSettings`], in the order "valid keys" hints list them.
pub(crate) const KEYS: &[&str] = &[
    "fps",
    "size",
    "pause",
    "background",
    "voice",
    "avatar",
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
];

/// The settings as written: every key optional.
#[derive(Deserialize, Default)]
pub(crate) struct RawSettings {
    pub avatar: Option<Spanned<String>>,
    voice: Option<Spanned<String>>,
    /// A colour, a picture's path, or `{ still = "..." }` / `{ shot = "..." }`.
    background: Option<Spanned<toml::Value>>,
    /// A number or `"N/D"`: read by [`Fps::parse`].
    fps: Option<Spanned<toml::Value>>,
    size: Option<Spanned<Vec<Spanned<i64>>>>,
    pause: Option<Spanned<f64>>,
    framing: Option<Spanned<String>>,
    face_size: Option<Spanned<f64>>,
    headroom: Option<Spanned<f64>>,
    pub captions: Option<Spanned<String>>,
    caption_size: Option<Spanned<f64>>,
    caption_position: Option<Spanned<String>>,
    caption_colour: Option<Spanned<String>>,
    caption_outline: Option<Spanned<String>>,
    loudness: Option<Spanned<f64>>,
    true_peak: Option<Spanned<f64>>,
}

/// The settings of a scene, or the defaults of every scene.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SceneSettings {
    pub avatar: Option<String>,
    pub voice: Option<String>,
    pub background: Background,
    pub fps: Fps,
    pub size: Size,
    pub pause: Pause,
    pub framing: FramingSettings,
    pub captions: CaptionSettings,
    pub loudness: Loudness,
    pub true_peak: TruePeak,
}

impl SceneSettings {
    /// The built-in settings; the voice and the avatar when only one is declared.
    pub fn builtin(declared: &Declared<'_>) -> Self {
        let only = |names: &[String]| match names {
            [one] => Some(one.clone()),
            _ => None,
        };
        SceneSettings {
            avatar: only(&declared.avatars),
            voice: only(&declared.voices),
            background: Background::Colour(Colour::DEFAULT_BACKGROUND.0),
            fps: Fps::DEFAULT,
            size: Size::DEFAULT,
            pause: Pause::DEFAULT,
            framing: FramingSettings::DEFAULT,
            captions: CaptionSettings::DEFAULT,
            loudness: Loudness::DEFAULT,
            true_peak: TruePeak::DEFAULT,
        }
    }

    /// These settings overridden by the keys written in `raw` (in `doc`; `base` as in
    /// [`super::paths::file`]). Each problem goes to `errors`, and any fails Renderfile.toml
    /// or drops the scene; a voice or avatar in error is kept as written so that nothing
    /// reports it missing as well.
    pub fn resolve(
        &self,
        raw: &RawSettings,
        doc: &Doc,
        base: Option<&str>,
        declared: &Declared<'_>,
        errors: &mut Vec<ConfigError>,
    ) -> Self {
        fn set<R, T>(
            slot: &mut T,
            raw: &Option<R>,
            parse: impl FnOnce(&R) -> Result<T, ConfigError>,
            errors: &mut Vec<ConfigError>,
        ) {
            match raw.as_ref().map(parse) {
                Some(Ok(v)) => *slot = v,
                Some(Err(e)) => errors.push(e),
                None => {}
            }
        }
        let mut s = self.clone();
        for (what, v, slot) in [
            ("avatar", &raw.avatar, &mut s.avatar),
            ("voice", &raw.voice, &mut s.voice),
        ] {
            if let Some(v) = v {
                errors.extend(declared.check(doc, what, v).err());
                *slot = Some(v.get_ref().clone());
            }
        }
        let background = |v: &_| Background::parse(doc, declared, v, base);
        set(&mut s.background, &raw.background, background, errors);
        set(&mut s.fps, &raw.fps, |v| Fps::parse(doc, v), errors);
        set(&mut s.size, &raw.size, |v| Size::parse(doc, v), errors);
        set(&mut s.pause, &raw.pause, |v| Pause::parse(doc, v), errors);
        let (framing, face_size, headroom) = (&raw.framing, &raw.face_size, &raw.headroom);
        s.framing = (s.framing).resolve(doc, framing, face_size, headroom, errors);
        let c = &mut s.captions;
        let mode = |v: &_| CaptionsMode::parse(doc, v);
        set(&mut c.mode, &raw.captions, mode, errors);
        let size = |v: &_| CaptionSize::parse(doc, v).map(|size| size.0);
        set(&mut c.style.size, &raw.caption_size, size, errors);
        let at = |v: &_| CaptionPosition::parse(doc, v);
        set(&mut c.style.position, &raw.caption_position, at, errors);
        let colour = |v: &_| Colour::parse(doc, v).map(|c| c.0);
        set(&mut c.style.colour, &raw.caption_colour, colour, errors);
        set(&mut c.style.outline, &raw.caption_outline, colour, errors);
        let loudness = |v: &_| Loudness::parse(doc, v);
        set(&mut s.loudness, &raw.loudness, loudness, errors);
        let true_peak = |v: &_| TruePeak::parse(doc, v);
        set(&mut s.true_peak, &raw.true_peak, true_peak, errors);
        s
    }
}

impl RawSettings {
    /// `background = "..."` as written (a table as its TOML), and where.
    pub fn background_written(&self) -> Option<Spanned<String>> {
        self.background.as_ref().map(|v| {
            let text = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Spanned::new(v.span(), text)
        })
    }

    /// Where `size = [...]` is written, if it is.
    pub fn size_at(&self) -> Option<std::ops::Range<usize>> {
        self.size.as_ref().map(Spanned::span)
    }
}
