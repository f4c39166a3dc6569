//! `shot = "two"` on a scene, or on a group of its lines (`{ shot = "two", lines = [...] }`
//! among the scene's `lines`): those lines are one shot of two people (`stage/two_shot.rs`);
//! a scene may mix single clips and any number of such exchanges.
//! Read here, with what can be told before anything is made: the lines show exactly two
//! avatars (a line's avatar is its person: its own, else its voice's, else the scene's),
//! both still pictures — two side by side, or one picture of both that both avatars name,
//! each with their own `face` — both made by one lip-sync engine that takes two people's audio
//! (`{audio_1}` and `{audio_2}` in its args or input files), one run for the whole exchange
//! (an engine that declares `max_seconds` is refused: a shot is not cut into segments
//! yet). Kept in its own file so that
//! the scene's other keys and its lines are read as before.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::DeValue;
use toml::Spanned;

use super::command::CommandEngine;
use super::{Avatar, AvatarKind, Line};
use crate::diagnostic::{list, ConfigError, Doc};

/// An exchange's two people: their avatars (person 1 is the avatar of its first line),
/// the engine that makes their shot, and which of the scene's lines it is.
#[derive(Clone, Debug, PartialEq)]
pub struct TwoShot {
    pub avatars: [String; 2],
    pub engine: String,
    /// The scene's lines it covers, from 0: all of them for a scene's `shot`.
    pub lines: Range<usize>,
}

/// The keys of a group of lines that is one shot.
pub(crate) const GROUP_KEYS: &[&str] = &["shot", "lines"];

/// Whether a line table (its keys) is a group of lines: it has lines of its own.
pub(crate) fn is_group<'a>(mut keys: impl Iterator<Item = &'a str>) -> bool {
    keys.any(|k| k == "lines")
}

/// A group of lines read from a scene's `lines`, checked once the scene's lines are read.
#[derive(Clone, Debug)]
pub(crate) struct Exchange {
    /// Its `shot = "two"`, for diagnostics.
    pub at: Range<usize>,
    /// Its place among the elements of the scene's `lines`, from 1.
    pub number: usize,
    /// The scene's lines it holds, from 0.
    pub lines: Range<usize>,
}

/// The group `table` (`line` says where: "line 2 of scene `talk`"): where its `shot` is
/// and its `lines`, or what is wrong with it.
pub(crate) fn group<'a>(
    doc: &Doc,
    mut table: toml::de::DeTable<'a>,
    span: Range<usize>,
    line: &str,
) -> Result<(Range<usize>, Spanned<DeValue<'a>>), ConfigError> {
    let Some(shot) = table.remove("shot") else {
        let msg = format!("{line} is a group of lines without `shot`");
        let help = "a group of lines is one shot of two people: `{ shot = \"two\", lines = [...] }`; otherwise write its lines one by one in the scene's `lines`";
        return Err(doc.err(span, msg, "which shot?", help));
    };
    let at = kind(doc, &shot)?;
    let lines = table.remove("lines").expect("a group has lines");
    Ok((at, lines))
}

/// `shot = ...` as written: where it is when it says "two".
pub(crate) fn kind(doc: &Doc, shot: &Spanned<DeValue<'_>>) -> Result<Range<usize>, ConfigError> {
    let at = shot.span();
    if !matches!(shot.get_ref(), DeValue::String(s) if s == "two") {
        let help = "`shot = \"two\"` makes the scene's lines (or a group of them) one shot of two people, each line said by its avatar's face; leave `shot` out for one clip per line";
        return Err(doc.err(at, "`shot` must be \"two\"", "not a kind of shot", help));
    }
    Ok(at)
}

/// What a scene's `shot` (where it is, checked by [`kind`]) and its groups of lines
/// (`exchanges`) make of its `lines`: its shots, in script order, or every problem.
pub(crate) struct Shots<'a> {
    pub doc: &'a Doc,
    pub avatars: &'a BTreeMap<String, Avatar>,
    pub engines: &'a BTreeMap<String, CommandEngine>,
    /// `scene `talk``, and where its name is.
    pub desc: &'a str,
    pub scene_at: Range<usize>,
}

impl Shots<'_> {
    pub(crate) fn read(
        &self,
        shot: Option<Range<usize>>,
        exchanges: &[Exchange],
        lines: &[Line],
        variants: bool,
    ) -> Result<Vec<TwoShot>, Vec<ConfigError>> {
        let (doc, desc) = (self.doc, self.desc);
        let first = shot
            .clone()
            .or_else(|| exchanges.first().map(|e| e.at.clone()));
        if let (true, Some(at)) = (variants, first) {
            let msg = match shot {
                Some(_) => format!("{desc} has both `shot` and `variants`"),
                None => format!("{desc} has both a group of lines with `shot` and `variants`"),
            };
            let help =
                "a two-person shot cannot have variants yet: make each variant a scene of its own";
            return Err(vec![doc.err(at, msg, "a shot of two people", help)]);
        }
        if let Some(at) = shot {
            if let Some(group) = exchanges.first() {
                let msg = format!(
                    "{desc} is one shot of two people and has a group of lines with its own `shot`"
                );
                let help = "leave `shot` out of the scene to make only the group one shot, or write the group's lines in the scene's `lines` to make the whole scene one";
                let e = doc.err(group.at.clone(), msg, "a shot in a shot", help);
                return Err(vec![e.with_related(at, "the scene's shot")]);
            }
            let read = read(doc, at, lines, self.avatars, self.engines, desc);
            return read.map(|two| vec![two]).map_err(|e| vec![e]);
        }
        let mut errors = Vec::new();
        let mut shots = Vec::new();
        for group in exchanges {
            let desc = format!("the group at line {} of {desc}", group.number);
            let lines = &lines[group.lines.clone()];
            match read(
                doc,
                group.at.clone(),
                lines,
                self.avatars,
                self.engines,
                &desc,
            ) {
                Ok(two) => shots.push(TwoShot {
                    lines: group.lines.clone(),
                    ..two
                }),
                Err(e) => errors.push(e),
            }
        }
        if !variants {
            let single: Vec<Line> = (lines.iter().enumerate())
                .filter(|(i, _)| !exchanges.iter().any(|e| e.lines.contains(i)))
                .map(|(_, line)| line.clone())
                .collect();
            let at = self.scene_at.clone();
            let (avatars, engines) = (self.avatars, self.engines);
            errors.extend(single_lines(doc, at, &single, avatars, engines, desc));
        }
        match errors.is_empty() {
            true => Ok(shots),
            false => Err(errors),
        }
    }
}

impl TwoShot {
    /// Who says `line`: 0 or 1.
    pub fn person(&self, line: &Line) -> usize {
        usize::from(line.avatar == self.avatars[1])
    }
}

/// `shot = "two"` of `desc` (a scene or a group of its lines; `at`: where it says so),
/// over its resolved `lines`.
fn read(
    doc: &Doc,
    at: Range<usize>,
    lines: &[Line],
    avatars: &BTreeMap<String, Avatar>,
    engines: &BTreeMap<String, CommandEngine>,
    desc: &str,
) -> Result<TwoShot, ConfigError> {
    if lines.iter().any(|line| line.broll.is_some()) {
        let msg = format!("{desc} is a shot of two people and has a b-roll line");
        let help = "a two-person shot is one engine run over its speakers' lines; put the b-roll line in a scene of its own before or after";
        return Err(doc.err(at, msg, "b-roll in a two-person shot", help));
    }
    let mut people: Vec<&str> = Vec::new();
    for line in lines {
        if !people.contains(&line.avatar.as_str()) {
            people.push(&line.avatar);
        }
    }
    match people.len() {
        2 => {}
        1 => {
            let msg = format!(
                "{desc} is a shot of two people but all its lines show avatar `{}`",
                people[0]
            );
            let help = "give the other person's lines their avatar: `{ text = \"…\", avatar = \"guest\" }`, or a voice with its own `avatar`";
            return Err(doc.err(at, msg, "one person", help));
        }
        n => {
            let msg = format!(
                "{desc} is a shot of two people but its lines show {n} avatars: {}",
                list(&people)
            );
            let help = "a two-person shot shows two avatars; move the other people's lines into a scene of their own";
            return Err(doc.err(at, msg, "more than two people", help));
        }
    }
    let pair = [&avatars[people[0]], &avatars[people[1]]];
    for avatar in pair {
        if avatar.still.is_some() || avatar.motion.is_some() {
            let msg = format!(
                "avatar `{}` of {desc} is made by render (a still or a motion shot); a two-person shot is made from picture files",
                avatar.name
            );
            let help = "give the avatar `image = \"avatars/<name>.png\"`, a portrait file";
            return Err(doc.err(at, msg, "a made avatar", help));
        }
        if avatar.kind != AvatarKind::Image {
            let msg = format!(
                "avatar `{}` of {desc} is a video; a two-person shot is made from still pictures",
                avatar.name
            );
            let help = "give the avatar `image = \"avatars/<name>.png\"`, a portrait";
            return Err(doc.err(at, msg, "needs still pictures", help));
        }
    }
    picture(doc, &at, pair, desc)?;
    let engine = &pair[0].lipsync;
    let two: Vec<&str> = (engines.values())
        .filter(|e| e.two_people())
        .map(|e| e.name.as_str())
        .collect();
    let hint = |what: &str| {
        match two.as_slice() {
        [] => format!("{what}: a lip-sync engine whose args or input files use {{audio_1}} and {{audio_2}} (engines/infinitetalk/two.toml)"),
        names => format!("{what}: {}", list(names)),
    }
    };
    if pair[1].lipsync != *engine {
        let msg = format!(
            "the two people of {desc} have different lip-sync engines: avatar `{}` has `{engine}`, avatar `{}` has `{}`",
            pair[0].name, pair[1].name, pair[1].lipsync
        );
        let help = hint("one engine makes the whole shot; give both avatars the same `lipsync`, an engine for two people");
        return Err(doc.err(at, msg, "two engines", help));
    }
    if !engines.get(engine).is_some_and(CommandEngine::two_people) {
        let msg = format!(
            "lip-sync engine `{engine}` of avatars `{}` and `{}` cannot make a shot of two people",
            pair[0].name, pair[1].name
        );
        let help =
            hint("it must take each person's audio, {audio_1} and {audio_2}; engines that do");
        return Err(doc.err(at, msg, "not a two-person engine", help));
    }
    if let Some(max) = engines[engine].max_seconds {
        let msg = format!(
            "lip-sync engine `{engine}` declares `max_seconds = {max}`, and a shot of two people is not cut into segments yet"
        );
        let help = format!("remove `max_seconds` from engine `{engine}`, or split the exchange into scenes short enough for one run of it");
        return Err(doc.err(at, msg, "one run for the whole exchange", help));
    }
    Ok(TwoShot {
        avatars: [people[0].to_string(), people[1].to_string()],
        engine: engine.clone(),
        lines: 0..lines.len(),
    })
}

/// The picture of the shot of `pair` (`desc`, its `shot` at `at`): two pictures side by
/// side, or one picture of both (both avatars name it, each with their own `face`).
fn picture(
    doc: &Doc,
    at: &Range<usize>,
    pair: [&Avatar; 2],
    desc: &str,
) -> Result<(), ConfigError> {
    let [one, two] = pair;
    let file = &one.source.rel;
    let same = *file == two.source.rel;
    let err = |msg: String, label: &str, help: String| Err(doc.err(at.clone(), msg, label, help));
    match (one.face, two.face) {
        (None, None) if same => err(
            format!("avatars `{}` and `{}` of {desc} show the same picture `{file}`, and neither says which face is theirs", one.name, two.name),
            "whose face?",
            format!("in a picture of both, give each avatar their face: `face = \"left\"` in [avatars.{}] and `face = \"right\"` in [avatars.{}] (or the other way round)", one.name, two.name),
        ),
        (Some(a), Some(b)) if same && a == b => err(
            format!("avatars `{}` and `{}` of {desc} are both the {} face of `{file}`", one.name, two.name, a.name()),
            "the same face",
            format!("give one of them `face = \"left\"` and the other `face = \"right\"`: the {} face is one person", a.name()),
        ),
        (Some(_), Some(_)) if same => Ok(()),
        (None, None) => Ok(()),
        (a, _) => {
            let (with, without) = match a {
                Some(_) => (one, two),
                None => (two, one),
            };
            let face = with.face.expect("one of them has a face").name();
            let other = if face == "left" { "right" } else { "left" };
            let (msg, help) = match same {
                true => (
                    format!("avatar `{}` of {desc} is the {face} face of `{file}`, and avatar `{}` shows that picture without `face`", with.name, without.name),
                    format!("give avatar `{}` `face = \"{other}\"`", without.name),
                ),
                false => (
                    format!("avatar `{}` of {desc} is the {face} face of `{}`, and avatar `{}` shows another picture, `{}`", with.name, with.source.rel, without.name, without.source.rel),
                    format!("a picture of both people is the shot's picture as it is: give avatar `{}` the same `image` and `face = \"{other}\"`, or leave `face` out of both to put their two pictures side by side", without.name),
                ),
            };
            err(msg, "one picture or two?", help)
        }
    }
}

/// A scene of one clip per line (`desc`, its name at `at`) that shows an avatar whose
/// lip-sync engine makes shots of two people: such an engine needs both people's audio.
fn single_lines(
    doc: &Doc,
    at: Range<usize>,
    lines: &[Line],
    avatars: &BTreeMap<String, Avatar>,
    engines: &BTreeMap<String, CommandEngine>,
    desc: &str,
) -> Option<ConfigError> {
    let (avatar, engine) = lines.iter().find_map(|line| {
        let avatar = avatars.get(&line.avatar)?;
        let engine = engines.get(&avatar.lipsync).filter(|e| e.two_people())?;
        Some((avatar, engine))
    })?;
    let msg = format!(
        "{desc} shows avatar `{}`, whose lip-sync engine `{}` makes shots of two people",
        avatar.name, engine.name
    );
    let help = "give the scene `shot = \"two\"` and lines of two avatars, or show an avatar whose `lipsync` is an engine for one person (an avatar may be declared twice with the same image)";
    Some(doc.err(at, msg, "one clip per line", help))
}
