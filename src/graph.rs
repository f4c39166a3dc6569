//! The artifact graph: one node per speech WAV, face track, line clip, scene and scene's
//! captions, and project's episode (`[episode]`, reading its scenes and their captions),
//! and for a long line (`max_seconds` on its lip-sync engine) its cuts and segments,
//! built from the manifest, deduplicated by key (two identical lines are one
//! artifact). A node's dependencies are exactly the inputs its key spec names — declared
//! once, in the stage's `plan` — so the graph cannot disagree with the keys; the one other
//! edge is a scene's to its captions (`Node::captions`), which orders and publishes them
//! together without entering the scene's key. This file also decides staleness
//! and says why, the way ninja's `-d explain` does: an artifact is stale when its object is
//! missing from the cache, and the reason (`build_log`) compares its key spec with the one
//! the same artifact had at the last build.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cache::{Cache, Check};
use crate::check_log::CheckLog;
use crate::device::Device;
use crate::engine::EngineJob;
use crate::error::Result;
use crate::job::Job;
use crate::key::{ArtifactKind, Key, KeyMap, KeySpec};
use crate::manifest::{Line, Manifest};
use crate::plan;
use crate::sources::SourceHashes;
use crate::stage::face_track;

mod generated;

/// One artifact to make (or reuse).
#[derive(Debug)]
pub struct Node {
    pub job: Job,
    /// Indices of the nodes whose objects this one reads: its key spec's inputs.
    pub deps: Vec<usize>,
    /// Where the finished artifact is published (scenes: `out/<project>/<scene>.mp4`;
    /// more than one when two scenes render to the same bytes).
    pub publish: Vec<PathBuf>,
    /// A scene's captions node, published with it (`Cache::publish_scene`). Not an input:
    /// the scene's bytes do not depend on it, so it is not in the scene's key; the
    /// scheduler waits for it before the scene (an order-only edge, as in ninja), so the
    /// scene's publish step finds both objects. (A scene that burns its captions into its
    /// video also names them as an input, `scene::CAPTIONS`: then they are in its key.)
    pub captions: Option<usize>,
    /// The scene variants (`project/scene@variant`) that read this artifact, when its scene
    /// declares variants: a line's speech shared by two lip-sync variants names both, each
    /// one's clips only it. Empty for artifacts of scenes without variants.
    pub variants: Vec<String>,
}

impl Node {
    pub fn name(&self) -> &str {
        &self.job.name
    }

    pub fn key(&self) -> Key {
        self.job.key
    }

    pub fn spec(&self) -> &KeySpec {
        &self.job.spec
    }

    pub fn kind(&self) -> ArtifactKind {
        self.job.kind()
    }

    /// Every file in `out/` this node publishes: a scene's video, poster, contact sheet and
    /// captions; an episode's video, poster and captions.
    pub fn published_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for video in &self.publish {
            if self.kind() == ArtifactKind::Episode {
                files.extend(crate::stage::episode::published(video).map(|(_, p)| p));
            } else {
                files.extend(crate::stage::scene::published(video).map(|(_, p)| p));
                files.extend(crate::stage::captions::published(video).map(|(_, p)| p));
            }
        }
        files
    }
}

#[derive(Debug)]
pub struct Graph {
    pub nodes: Vec<Node>,
    by_key: KeyMap<usize>,
    cache: Cache,
    /// The cache's folder, one copy that every job shares.
    cache_dir: Arc<Path>,
    /// What the cheap check of a reused object needs of its record (`check_log.rs`).
    checks: CheckLog,
    /// The cuts nodes of long lines not cut yet (`stage/segment.rs`): needed, like a
    /// published scene, so a build makes them first and plans their segments after.
    pub uncut: Vec<usize>,
    /// The scenes (`project/scene`) left out until their lines are cut.
    pub waiting: Vec<String>,
}

impl Graph {
    /// Builds the graph of every artifact the manifest declares. `device` is where models
    /// run; needed only when an avatar uses a model.
    pub fn from_manifest(
        manifest: &Manifest,
        hashes: &SourceHashes,
        device: Option<Device>,
    ) -> Result<Graph> {
        // Two nodes a line, two a scene (its video, its captions), at most one an avatar: reserved, 20,000 nodes are
        // not copied as they come.
        let size = (manifest.projects.iter().flat_map(|p| &p.scenes))
            .map(|scene| 2 * scene.lines.len() + 2)
            .sum::<usize>()
            + manifest.avatars.len();
        let mut graph = Graph {
            nodes: Vec::with_capacity(size),
            by_key: KeyMap::with_capacity_and_hasher(size, Default::default()),
            cache: Cache::new(&manifest.root),
            cache_dir: Cache::new(&manifest.root).dir.into(),
            checks: CheckLog::open(&Cache::new(&manifest.root)),
            uncut: Vec::new(),
            waiting: Vec::new(),
        };
        // One face track per avatar that some line shows, made when it is first needed, at
        // what the largest frame that shows it needs (`face_track::work_side`).
        let mut faces: BTreeMap<&str, Key> = BTreeMap::new();
        let mut frame_sides: BTreeMap<&str, u32> = BTreeMap::new();
        let builds = manifest.projects.iter().flat_map(|p| &p.scenes);
        for (_, scene) in builds.flat_map(|s| s.builds()) {
            let needs = face_track::needed_side(scene.width.max(scene.height));
            for line in scene.lines.iter().filter(|l| l.broll.is_none()) {
                let side = frame_sides.entry(line.avatar.as_str()).or_default();
                *side = (*side).max(needs);
            }
        }
        // Stills and shots, each once; the avatars lines show, those made from them
        // pointed at their artifacts.
        let mut planning = generated::Planning {
            manifest,
            device,
            hashes,
            made: Default::default(),
        };
        let avatars = graph.avatars(&mut planning)?;
        // A cloned voice's conditioning, made once and read by each of its lines.
        let mut conditionings: BTreeMap<&str, Option<Key>> = BTreeMap::new();
        let engines = &manifest.engines;
        for project in &manifest.projects {
            // Each scene's (video, captions) by name, for the project's episode.
            let mut made: BTreeMap<&str, (Key, Key)> = BTreeMap::new();
            for (variant, scene) in project.scenes.iter().flat_map(|s| s.variant_builds()) {
                // Named as the scene for its first variant (or none), else with `@variant`.
                let name = match variant {
                    Some(v) if !v.first => format!("{}@{}", scene.name, v.name),
                    _ => scene.name.clone(),
                };
                let label = variant.map(|v| format!("{}/{}@{}", project.name, scene.name, v.name));
                let mut lines = Vec::new();
                let mut speeches = Vec::with_capacity(scene.lines.len());
                let mut line_faces = Vec::with_capacity(scene.lines.len());
                let mut uncut = false;
                for (i, line) in scene.lines.iter().enumerate() {
                    let at = format!("{}/{}:{}", project.name, name, i + 1);
                    if let Some(broll) = &line.broll {
                        // A voice-over's words are said as any line's; a silent one has none.
                        let over = match broll.seconds {
                            Some(_) => None,
                            None => {
                                Some(graph.add_speech(&mut conditionings, line, &at, &planning)?)
                            }
                        };
                        let (clip, speech) =
                            graph.add_broll(&mut planning, &at, broll, over, scene.fps)?;
                        graph.read_by(&[speech, clip], &label);
                        lines.push(Some((clip, speech)));
                        speeches.push(speech);
                        line_faces.push(None);
                        continue;
                    }
                    // The face track is the avatar's, whichever engine moves its lips.
                    let avatar = &avatars[&line.avatar];
                    let face = match faces.get(avatar.name.as_str()) {
                        Some(&face) => face,
                        None => {
                            let side = frame_sides[line.avatar.as_str()];
                            let (spec, work) = plan::face_track(avatar, side, device, hashes)?;
                            let face = graph.add(format!("face-track {}", avatar.name), spec, work);
                            faces.insert(&avatar.name, face);
                            face
                        }
                    };
                    let speech = graph.add_speech(&mut conditionings, line, &at, &planning)?;
                    if scene.shots.iter().any(|shot| shot.lines.contains(&i)) {
                        // Its clip is cut from its shot of two people, planned below.
                        lines.push(None);
                        speeches.push(speech);
                        line_faces.push(Some(face));
                        continue;
                    }
                    let lips = scene.avatar_for(avatar);
                    let clip = match plan::max_seconds(&lips, engines) {
                        Some(max) => {
                            let line = Segmented {
                                at: &at,
                                avatar: &lips,
                                face,
                                speech,
                                fps: scene.fps,
                                max_seconds: max,
                            };
                            match graph.add_segmented(line, engines, device, hashes)? {
                                Some(clip) => clip,
                                None => {
                                    uncut = true;
                                    continue;
                                }
                            }
                        }
                        None => {
                            let (spec, work) = plan::clip(
                                &lips, engines, face, speech, scene.fps, device, hashes,
                            )?;
                            graph.add(format!("clip {at}"), spec, work)
                        }
                    };
                    graph.read_by(&[speech, clip], &label);
                    lines.push(Some((clip, speech)));
                    speeches.push(speech);
                    line_faces.push(Some(face));
                }
                // Planned once its long lines are cut (their lines are not in `lines` yet).
                if uncut {
                    graph
                        .waiting
                        .push(format!("{}/{}", project.name, scene.name));
                    continue;
                }
                for shot in &scene.shots {
                    let two = TwoPeople {
                        scene,
                        shot,
                        speeches: &speeches,
                        faces: &faces,
                        label: &label,
                        at: format!("{}/{name}", project.name),
                    };
                    let clips = graph.add_two_shot(manifest, two, device, hashes)?;
                    for (i, clip) in shot.lines.clone().zip(clips) {
                        lines[i] = Some((clip, speeches[i]));
                    }
                }
                let lines: Vec<(Key, Key)> = lines.into_iter().flatten().collect();
                let (spec, work) = plan::captions(scene, &speeches);
                let captions = graph.add(format!("captions {}/{name}", project.name), spec, work);
                let background = match &scene.background {
                    crate::manifest::Background::Still(name) => {
                        Some(graph.add_still(&mut planning, name)?)
                    }
                    crate::manifest::Background::Shot(name) => {
                        Some(graph.add_shot(&mut planning, name)?)
                    }
                    _ => None,
                };
                let inputs = (captions, background);
                let (spec, work) = plan::scene(scene, &lines, &line_faces, inputs, hashes)?;
                let key = graph.add(format!("scene {}/{name}", project.name), spec, work);
                graph.read_by(&[captions, key], &label);
                // Two scenes may render identically; each still gets its own file in out/.
                // The first variant is also the scene's plain file; an episode takes it.
                let folder = manifest.root.join("out").join(&project.name);
                let mut targets = Vec::new();
                if variant.is_none_or(|v| v.first) {
                    targets.push(folder.join(format!("{}.mp4", scene.name)));
                    made.insert(&scene.name, (key, captions));
                }
                if let Some(v) = variant {
                    targets.push(folder.join(format!("{}@{}.mp4", scene.name, v.name)));
                }
                let index = graph.by_key[&key];
                let captions = graph.by_key[&captions];
                let node = &mut graph.nodes[index];
                for target in targets {
                    if !node.publish.contains(&target) {
                        node.publish.push(target);
                    }
                }
                // Two scenes of the same bytes say the same lines at the same times, so
                // they have the same captions too.
                node.captions = Some(captions);
            }
            graph.add_episode(&mut planning, project, &made)?;
        }
        Ok(graph)
    }

    /// A line's speech (and its cloned voice's conditioning, once per voice).
    fn add_speech<'a>(
        &mut self,
        conditionings: &mut BTreeMap<&'a str, Option<Key>>,
        line: &Line,
        at: &str,
        cx: &generated::Planning<'a>,
    ) -> Result<Key> {
        let (engines, device, hashes) = (&cx.manifest.engines, cx.device, cx.hashes);
        let voice = &cx.manifest.voices[&line.voice];
        let conditioning = match conditionings.get(voice.name.as_str()) {
            Some(&key) => key,
            None => {
                let planned = plan::voice_conditioning(voice, engines, device, hashes);
                let key = planned
                    .transpose()?
                    .map(|(spec, work)| self.add(format!("voice {}", voice.name), spec, work));
                conditionings.insert(&voice.name, key);
                key
            }
        };
        let conditioning = conditioning.filter(|_| line.audio.is_none());
        let (spec, work) = plan::speech(line, voice, engines, conditioning, device, hashes)?;
        Ok(self.add(format!("speech {at}"), spec, work))
    }

    /// The project's episode, published as `out/<project>.mp4`: its inputs are its scenes
    /// and their captions. Left out while one of its scenes is (a scene with a
    /// configuration error, or a target naming scenes).
    fn add_episode(
        &mut self,
        cx: &mut generated::Planning,
        project: &crate::manifest::Project,
        made: &BTreeMap<&str, (Key, Key)>,
    ) -> Result<()> {
        let (manifest, hashes) = (cx.manifest, cx.hashes);
        let Some(episode) = &project.episode else {
            return Ok(());
        };
        let Some(scenes) = (episode.scenes.iter())
            .map(|name| made.get(name.as_str()).copied())
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(());
        };
        // Loud as its first scene is asked to be (the `[defaults]` target, unless it sets one).
        let first = (project.scenes.iter()).find(|s| s.name == episode.scenes[0]);
        let target = first.map_or(crate::loudness::Target::DEFAULT, |s| {
            crate::loudness::Target {
                integrated: s.loudness,
                true_peak: s.true_peak,
            }
        });
        let bookends = self.add_bookends(cx, episode)?;
        let (spec, work) = plan::episode(episode, &scenes, bookends, target, hashes)?;
        let key = self.add(format!("episode {}", project.name), spec, work);
        let target = (manifest.root.join("out")).join(format!("{}.mp4", project.name));
        let index = self.by_key[&key];
        self.nodes[index].publish.push(target);
        Ok(())
    }

    /// A long line's clip (`stage/segment.rs`): its cuts, then — when the cuts object is
    /// in the cache — its segments and the clip joined from them; None while the line is
    /// not cut (its cuts node is then in `uncut`). Each segment also depends on the cuts
    /// node, whose object it reads its WAV from: the one edge that is no key input (the
    /// WAV's content hash is in the segment's key instead, so an edit keeps the keys of
    /// the segments whose audio it left alone).
    fn add_segmented(
        &mut self,
        line: Segmented,
        engines: &plan::Engines,
        device: Option<Device>,
        hashes: &SourceHashes,
    ) -> Result<Option<Key>> {
        let (spec, work) = plan::cuts(line.speech, line.fps, line.max_seconds);
        let cuts = self.add(format!("cuts {}", line.at), spec, work);
        let cuts_node = self.by_key[&cuts];
        let object = self.cache.object_dir(&cuts);
        let Some(list) = crate::stage::cuts::Cuts::read(&object) else {
            if !self.uncut.contains(&cuts_node) {
                self.uncut.push(cuts_node);
            }
            return Ok(None);
        };
        let continued = engines[&line.avatar.lipsync].continue_last_frame;
        let count = list.segments.len();
        let mut segments = Vec::with_capacity(count);
        for (i, piece) in list.segments.iter().enumerate() {
            let previous = segments.last().copied().filter(|_| continued);
            let last_frame = continued && i + 1 < count;
            let (spec, work) = plan::segment(
                line.avatar,
                engines,
                line.face,
                &object,
                piece,
                line.fps,
                previous,
                last_frame,
                device,
                hashes,
            )?;
            let name = format!("segment {} {}/{count}", line.at, i + 1);
            let key = self.add(name, spec, work);
            let node = &mut self.nodes[self.by_key[&key]];
            if !node.deps.contains(&cuts_node) {
                node.deps.push(cuts_node);
            }
            segments.push(key);
        }
        let (spec, work) = plan::joined_clip(line.avatar, line.speech, &segments, line.fps)?;
        Ok(Some(self.add(format!("clip {}", line.at), spec, work)))
    }

    /// A two-person shot (`stage/two_shot.rs`): a track per person, the shot (one engine
    /// run for the whole exchange), and each line's clip cut from it, in script order.
    /// Its keys name only its own lines' speech, so an edit elsewhere in the scene keeps
    /// them. Named `project/scene` when it is the whole scene, else with its lines
    /// (`project/scene:2-4`); each line's clip by its number in the scene.
    fn add_two_shot(
        &mut self,
        manifest: &Manifest,
        two: TwoPeople,
        device: Option<Device>,
        hashes: &SourceHashes,
    ) -> Result<Vec<Key>> {
        let (scene, shot) = (two.scene, two.shot);
        let range = shot.lines.clone();
        let speeches = &two.speeches[range.clone()];
        let at = match range.len() == scene.lines.len() {
            true => two.at.clone(),
            false => format!("{}:{}-{}", two.at, range.start + 1, range.end),
        };
        let people: Vec<usize> = (scene.lines[range.clone()].iter())
            .map(|l| shot.person(l))
            .collect();
        let tracks = [0, 1].map(|p| {
            let (spec, work) = plan::track(p, &people, speeches, scene.fps);
            self.add(format!("track {at} person {}", p + 1), spec, work)
        });
        let avatars = shot.avatars.each_ref().map(|a| &manifest.avatars[a]);
        let faces = shot.avatars.each_ref().map(|a| two.faces[a.as_str()]);
        let (spec, work) = plan::two_shot(
            shot,
            avatars,
            &manifest.engines,
            faces,
            tracks,
            scene.fps,
            device,
            hashes,
        )?;
        let key = self.add(format!("two-shot {at}"), spec, work);
        self.read_by(&tracks, two.label);
        self.read_by(&[key], two.label);
        (0..speeches.len())
            .map(|i| {
                let (spec, work) = plan::shot_cut(key, speeches, i, scene.fps)?;
                let line = range.start + i + 1;
                let clip = self.add(format!("clip {}:{line}", two.at), spec, work);
                self.read_by(&[speeches[i], clip], two.label);
                Ok(clip)
            })
            .collect()
    }

    /// The nodes of the uncut lines' cuts and what they read, among `make`: what a build
    /// makes first, so that it can plan those lines' segments (`commands/build.rs`).
    pub fn cuts_first(&self, make: &[bool]) -> Vec<bool> {
        let mut first = vec![false; self.nodes.len()];
        for &i in &self.uncut {
            first[i] = make[i];
        }
        for index in (0..self.nodes.len()).rev() {
            if first[index] {
                for &dep in &self.nodes[index].deps {
                    first[dep] = make[dep];
                }
            }
        }
        first
    }

    /// Adds an artifact unless one with the same key exists; its edges are its spec's inputs,
    /// which must already be in the graph (stages plan inputs first).
    fn add(&mut self, name: String, spec: KeySpec, work: EngineJob) -> Key {
        let job = Job::new(name, spec, work, self.cache_dir.clone());
        let key = job.key;
        if self.by_key.contains_key(&key) {
            return key;
        }
        let deps = job
            .spec
            .inputs
            .values()
            .map(|input| self.by_key[input])
            .collect();
        self.by_key.insert(key, self.nodes.len());
        self.nodes.push(Node {
            job,
            deps,
            publish: Vec::new(),
            captions: None,
            variants: Vec::new(),
        });
        key
    }

    /// Notes that the scene variant `label` (if any) reads the artifacts `keys`.
    fn read_by(&mut self, keys: &[Key], label: &Option<String>) {
        let Some(label) = label else {
            return;
        };
        for key in keys {
            let node = &mut self.nodes[self.by_key[key]];
            if !node.variants.contains(label) {
                node.variants.push(label.clone());
            }
        }
    }

    /// Every file in `out/` the declared scenes and episodes publish.
    pub fn published_files(&self) -> HashSet<PathBuf> {
        (self.nodes.iter())
            .filter(|n| !n.publish.is_empty())
            .flat_map(Node::published_files)
            .collect()
    }

    /// The check log the cheap checks go through; a build saves it (`CheckLog::save`) and
    /// tells it what it made (`CheckLog::made`).
    pub fn checks(&self) -> &CheckLog {
        &self.checks
    }

    /// Per node, whether a build with nothing to make checks its object: a published
    /// scene or episode, or a scene's captions. The check log remembers these objects.
    pub fn checked_on_noop(&self) -> Vec<bool> {
        let mut checked = vec![false; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.publish.is_empty() {
                checked[i] = true;
                if let Some(captions) = node.captions {
                    checked[captions] = true;
                }
            }
        }
        checked
    }

    /// Which nodes must be made: every node that is needed — a scene always is; anything
    /// else only if a node being made reads it — and whose object is missing or damaged.
    /// Each object the build would reuse is checked first, cheaply (its record and its
    /// files' sizes; the record through the check log when it is the one logged). With `verify` (`build --verify`), every object behind the scenes is
    /// re-hashed instead, and a damaged one is made again even where nothing reads it now,
    /// so a green verified build means the whole cache behind its videos is sound.
    /// An object that a node being made reads is always hashed (`Cache::verify_input`): a
    /// job must not build on damage the cheap check cannot see (a byte flipped in place);
    /// a no-op makes nothing, so it hashes nothing.
    pub fn stale(&self, verify: bool) -> Stale {
        use rayon::prelude::*;
        let mut make = vec![false; self.nodes.len()];
        let mut needed = vec![false; self.nodes.len()];
        let mut read = vec![false; self.nodes.len()];
        let mut damaged = Vec::new();
        let remember = self.checked_on_noop();
        let mut verified: Vec<Option<Check>> = if verify {
            (self.nodes.par_iter())
                .map(|node| Some(self.cache.verify(&node.key())))
                .collect()
        } else {
            Vec::new()
        };
        // Nodes are added after their dependencies, so walking backwards visits every
        // reader before what it reads.
        for index in (0..self.nodes.len()).rev() {
            let node = &self.nodes[index];
            let check = verified.get_mut(index).and_then(Option::take);
            let root = !node.publish.is_empty() || self.uncut.contains(&index);
            if root || matches!(check, Some(Check::Damaged(_))) {
                needed[index] = true;
            }
            if !needed[index] {
                continue;
            }
            // A scene's captions are published with it, whether or not it is made.
            if let Some(captions) = node.captions {
                needed[captions] = true;
            }
            let check = check.unwrap_or_else(|| match read[index] {
                true => self.cache.verify_input(&node.key()),
                false => self.checks.check(&node.key(), remember[index]),
            });
            match check {
                Check::Intact => continue,
                Check::Missing => {}
                Check::Damaged(reason) => damaged.push((index, reason)),
            }
            make[index] = true;
            for &dep in &node.deps {
                needed[dep] = true;
                read[dep] = true;
            }
        }
        damaged.reverse();
        Stale { make, damaged }
    }

    /// Per node, the position (0, 1, …) in declaration order of the earliest scene that
    /// needs it: the scheduler's priority, so that scenes are finished one after another.
    /// Scene nodes are added in declaration order and every node after what it reads, so one
    /// walk backwards, as in `stale`, hands each scene's rank down to its inputs.
    pub fn scene_rank(&self) -> Vec<u32> {
        let mut rank = vec![u32::MAX; self.nodes.len()];
        let mut scene = 0;
        for (i, node) in self.nodes.iter().enumerate() {
            if !node.publish.is_empty() {
                rank[i] = scene;
                scene += 1;
            }
        }
        for index in (0..self.nodes.len()).rev() {
            let here = rank[index];
            let node = &self.nodes[index];
            for &dep in node.deps.iter().chain(&node.captions) {
                rank[dep] = rank[dep].min(here);
            }
        }
        rank
    }
}

/// A scene of two people in one shot, as `Graph::add_two_shot` plans it.
/// What planning a line's speech needs besides the graph.
struct TwoPeople<'a> {
    scene: &'a crate::manifest::Scene,
    shot: &'a crate::manifest::TwoShot,
    /// Each of the scene's lines' speech, in script order.
    speeches: &'a [Key],
    /// Each avatar's face track.
    faces: &'a BTreeMap<&'a str, Key>,
    label: &'a Option<String>,
    /// `project/scene`, for the nodes' names.
    at: String,
}

/// A long line, as `Graph::add_segmented` plans it.
struct Segmented<'a> {
    /// `project/scene:line`, for the names of its nodes.
    at: &'a str,
    avatar: &'a crate::manifest::Avatar,
    face: Key,
    speech: Key,
    fps: crate::fps::Fps,
    max_seconds: f64,
}

/// What a build must make.
#[derive(Debug)]
pub struct Stale {
    /// Per node: whether it must be made.
    pub make: Vec<bool>,
    /// The nodes whose object is in the cache but damaged (to be quarantined and made
    /// again), with what is wrong, in graph order.
    pub damaged: Vec<(usize, String)>,
}

/// Whether a scene that will be built shows an avatar on a neural model or a `gpu = true`
/// engine, or speaks through a `gpu = true` engine, or has any line at all when render's
/// face landmark model is installed (every face track runs it), so the build must know its
/// device.
pub fn uses_models(manifest: &Manifest) -> bool {
    let lines = || (manifest.projects.iter().flat_map(|p| &p.scenes)).any(|s| !s.lines.is_empty());
    (crate::face_model::installed().is_ok() && lines()) || uses_heavy_models(manifest)
}

/// Whether the build uses a model or GPU engine besides the face landmark model (which is
/// tiny: on the CPU it costs a few milliseconds a frame, nothing to warn about).
pub fn uses_heavy_models(manifest: &Manifest) -> bool {
    let gpu = |name: &str| manifest.engines.get(name).is_some_and(|e| e.gpu);
    let voice_gpu = |voice: &str| match &manifest.voices[voice].engine {
        crate::manifest::VoiceEngine::Command { engine, .. } => {
            gpu(engine)
                || manifest.engines[engine]
                    .conditioning
                    .as_deref()
                    .is_some_and(gpu)
        }
        crate::manifest::VoiceEngine::Espeak { .. } => false,
    };
    // A still or shot on a `gpu = true` engine (made for an avatar or a b-roll line).
    let generated = &manifest.generated;
    let made_gpu = (generated.stills.values().map(|s| &s.made.engine))
        .chain(generated.shots.values().map(|s| &s.made.engine))
        .any(|engine| gpu(engine));
    made_gpu
        || (manifest.projects.iter().flat_map(|p| &p.scenes))
            .flat_map(|scene| scene.builds())
            .flat_map(|(_, scene)| scene.lines.iter().map(move |line| (scene, line)))
            .any(|(scene, line)| {
                // A silent b-roll line says nothing; a voice-over's voice speaks.
                let spoken = line.audio.is_none() && !line.text.is_empty();
                (spoken && voice_gpu(&line.voice))
                    || line.broll.is_none() && {
                        let avatar = scene.avatar_for(&manifest.avatars[&line.avatar]);
                        avatar.model.is_some() || gpu(&avatar.lipsync)
                    }
            })
}
