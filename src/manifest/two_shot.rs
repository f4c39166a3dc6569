//! `shot = "two"` on a scene: its lines are one shot of two people (`stage/two_shot.rs`).
//! Read here, with what can be told before anything is made: the lines show exactly two
//! avatars (a line's avatar is its person: its own, else its voice's, else the scene's),
//! both still pictures, both made by one lip-sync engine that takes two people's audio
//! (`{audio_1}` and `{audio_2}` in its args or input files), one run for the whole exchange
//! (an engine that declares `max_seconds` is refused: a shot is not cut into segments
//! yet). Kept in its own file so that
//! the scene's other keys and its lines are read as before.

use std::collections::BTreeMap;

use toml::de::DeValue;
use toml::Spanned;

use super::command::CommandEngine;
use super::{Avatar, AvatarKind, Line};
use crate::diagnostic::{list, ConfigError, Doc};

/// A scene's two people: their avatars (person 1 is the avatar of the first line) and
/// the engine that makes their shot.
#[derive(Clone, Debug, PartialEq)]
pub struct TwoShot {
    pub avatars: [String; 2],
    pub engine: String,
}

impl TwoShot {
    /// Who says `line`: 0 or 1.
    pub fn person(&self, line: &Line) -> usize {
        usize::from(line.avatar == self.avatars[1])
    }
}

/// `shot = ...` of scene `desc` (its value as written), over its resolved `lines`.
pub(crate) fn read(
    doc: &Doc,
    shot: &Spanned<DeValue<'_>>,
    lines: &[Line],
    avatars: &BTreeMap<String, Avatar>,
    engines: &BTreeMap<String, CommandEngine>,
    desc: &str,
) -> Result<TwoShot, ConfigError> {
    let at = shot.span();
    if !matches!(shot.get_ref(), DeValue::String(s) if s == "two") {
        let help = "`shot = \"two\"` makes the scene's lines one shot of two people, each line said by its avatar's face; leave `shot` out for one clip per line";
        return Err(doc.err(at, "`shot` must be \"two\"", "not a kind of shot", help));
    }
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
    })
}

/// A scene of one clip per line (`desc`, its name at `at`) that shows an avatar whose
/// lip-sync engine makes shots of two people: such an engine needs both people's audio.
pub(crate) fn single_lines(
    doc: &Doc,
    at: std::ops::Range<usize>,
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
