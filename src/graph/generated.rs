//! The graph's stills, shots and pose videos (`[stills.*]`, `[shots.*]`), each planned once
//! however many avatars, shots and lines use it, before what reads it (a still before the
//! shot that starts from it, a pose video before its shot, all of them before the face
//! tracks and clips of the avatars made from them). An avatar whose picture is a still, or
//! whose idle `motion` is a shot, is resolved here: its `source` becomes the artifact's
//! file in `cache/objects/` and `made` names the artifact, whose key then stands in its
//! face track's and clips' keys for a file's hash (`face_track::with_avatar`), so an edit
//! of the still's prompt re-makes that avatar's face track and clips and nothing else.
//! An episode's intro or outro made by render is planned here too, as its input.

use std::collections::BTreeMap;

use super::Graph;
use crate::device::Device;
use crate::error::Result;
use crate::key::Key;
use crate::manifest::shots::Picture;
use crate::manifest::{Avatar, Bookend, Episode, MadeFace, Manifest, SourceFile};
use crate::plan;
use crate::sources::SourceHashes;
use crate::stage::still::Image;
use crate::stage::{shot, still};

/// The keys of the stills and shots planned so far, by name.
#[derive(Default)]
pub(super) struct Made {
    stills: BTreeMap<String, Key>,
    shots: BTreeMap<String, Key>,
}

/// What planning a still or shot needs besides the graph.
pub(super) struct Planning<'a> {
    pub manifest: &'a Manifest,
    pub device: Option<Device>,
    pub hashes: &'a SourceHashes,
    pub made: Made,
}

impl Graph {
    /// The still `name` (and the still its picture is, first).
    pub(super) fn add_still(&mut self, cx: &mut Planning, name: &str) -> Result<Key> {
        if let Some(&key) = cx.made.stills.get(name) {
            return Ok(key);
        }
        let still = &cx.manifest.generated.stills[name];
        let image = self.image(cx, &still.made.image)?;
        let engines = &cx.manifest.engines;
        let (spec, work) = plan::still(still, engines, image, cx.device, cx.hashes)?;
        let key = self.add(format!("still {name}"), spec, work);
        cx.made.stills.insert(name.to_string(), key);
        Ok(key)
    }

    /// The shot `name` (and its start picture's still and its pose video, first).
    pub(super) fn add_shot(&mut self, cx: &mut Planning, name: &str) -> Result<Key> {
        if let Some(&key) = cx.made.shots.get(name) {
            return Ok(key);
        }
        let shot = &cx.manifest.generated.shots[name];
        let image = self.image(cx, &shot.made.image)?;
        let engines = &cx.manifest.engines;
        let pose = match &shot.pose {
            Some(source) => {
                let (spec, work) = plan::pose(source, engines, cx.device, cx.hashes)?;
                let video = &source.video.rel;
                Some(self.add(format!("pose {} ({video})", source.engine), spec, work))
            }
            None => None,
        };
        let (spec, work) = plan::shot(shot, engines, image, pose, cx.device, cx.hashes)?;
        let key = self.add(format!("shot {name}"), spec, work);
        cx.made.shots.insert(name.to_string(), key);
        Ok(key)
    }

    /// A b-roll line (`stage/broll.rs`): its shot, then its clip (the shot conformed to
    /// the scene's fps and the line's frames) and its silence, or for a voice-over its
    /// clip lasting `over`, the line's speech; returns (clip, speech).
    pub(super) fn add_broll(
        &mut self,
        cx: &mut Planning,
        at: &str,
        broll: &crate::manifest::broll::BRoll,
        over: Option<Key>,
        fps: crate::fps::Fps,
    ) -> Result<(Key, Key)> {
        use crate::stage::broll::Length;
        let shot = self.add_shot(cx, &broll.shot)?;
        let (length, speech) = match (over, broll.seconds) {
            (Some(speech), _) => (Length::Speech(speech), Some(speech)),
            (None, seconds) => {
                let frames = crate::stage::broll::frames(seconds.unwrap_or_default(), fps);
                (Length::Frames(frames), None)
            }
        };
        let (spec, work) = plan::broll(shot, length, fps)?;
        let clip = self.add(format!("b-roll {at}"), spec, work);
        let speech = match (speech, length) {
            (Some(speech), _) => speech,
            (None, Length::Frames(frames)) => {
                let (spec, work) = plan::silence(frames, fps);
                self.add(format!("silence {at}"), spec, work)
            }
            (None, Length::Speech(speech)) => speech,
        };
        Ok((clip, speech))
    }

    /// An episode's intro and outro made by render (a still, a shot): their keys.
    pub(super) fn add_bookends(
        &mut self,
        cx: &mut Planning,
        episode: &Episode,
    ) -> Result<[Option<Key>; 2]> {
        let mut made = [None, None];
        for (key, bookend) in made.iter_mut().zip([&episode.intro, &episode.outro]) {
            *key = match bookend {
                Some(Bookend::Still { name, .. }) => Some(self.add_still(cx, name)?),
                Some(Bookend::Shot(name)) => Some(self.add_shot(cx, name)?),
                _ => None,
            };
        }
        Ok(made)
    }

    /// A still's or shot's `image`, as its key names it.
    fn image(&mut self, cx: &mut Planning, picture: &Option<Picture>) -> Result<Option<Image>> {
        Ok(match picture {
            None => None,
            Some(Picture::File(file)) => Some(Image::File(file.clone())),
            Some(Picture::Still(name)) => Some(Image::Still(self.add_still(cx, name)?)),
        })
    }

    /// Every avatar some line shows, those made by render (a still picture, an idle motion
    /// shot) pointed at their artifacts, which are planned here.
    pub(super) fn avatars(&mut self, cx: &mut Planning) -> Result<BTreeMap<String, Avatar>> {
        let manifest = cx.manifest;
        let shown = (manifest.projects.iter().flat_map(|p| &p.scenes))
            .flat_map(|s| s.builds())
            .flat_map(|(_, s)| &s.lines)
            .filter(|l| l.broll.is_none())
            .map(|l| l.avatar.as_str());
        let mut avatars = BTreeMap::new();
        for name in shown {
            if avatars.contains_key(name) {
                continue;
            }
            let mut avatar = manifest.avatars[name].clone();
            let generated = &manifest.generated;
            let made = match (&avatar.still, &avatar.motion) {
                (Some(still), _) => {
                    let key = self.add_still(cx, still)?;
                    let made = &generated.stills[still].made;
                    Some((key, still::OUTPUT, made.width, made.height))
                }
                (None, Some(motion)) => {
                    let key = self.add_shot(cx, motion)?;
                    let made = &generated.shots[motion].made;
                    Some((key, shot::OUTPUT, made.width, made.height))
                }
                (None, None) => None,
            };
            if let Some((key, file, width, height)) = made {
                let abs = self.cache.object_dir(&key).join(file);
                let rel = (abs.strip_prefix(&manifest.root))
                    .unwrap_or(&abs)
                    .to_string_lossy()
                    .into_owned();
                avatar.source = SourceFile { rel, abs };
                avatar.made = Some(MadeFace { key, width, height });
            }
            avatars.insert(name.to_string(), avatar);
        }
        Ok(avatars)
    }
}
