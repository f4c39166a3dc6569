//! The artifact graph: one node per speech WAV, face track, line clip and scene, built from
//! the manifest, deduplicated by key (two identical lines are one artifact). This file also
//! decides staleness and says why, the way ninja's `-d explain` does: an artifact is stale
//! when its object is missing from the cache, and the reason (`build_log`) compares its key
//! spec with the one the same artifact had at the last build.

use std::collections::{BTreeMap, HashMap};

use crate::cache::Cache;
use crate::engine::torch::Accelerator;
use crate::error::Result;
use crate::key::{Key, KeySpec};
use crate::manifest::Manifest;
use crate::sources::SourceHashes;
use crate::stage::{face_track, lipsync, scene, speech, Job, Node};

#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    by_key: HashMap<Key, usize>,
}

impl Graph {
    /// Builds the graph of every artifact the manifest declares.
    /// `accelerator` is where models run; needed only when an avatar uses a model.
    pub fn from_manifest(
        manifest: &Manifest,
        hashes: &SourceHashes,
        accelerator: Option<Accelerator>,
    ) -> Result<Graph> {
        // Two nodes a line, one a scene: reserved, 20,000 nodes are not copied as they come.
        let size = (manifest.projects.iter().flat_map(|p| &p.scenes))
            .map(|scene| 2 * scene.lines.len() + 1)
            .sum();
        let mut graph = Graph {
            nodes: Vec::with_capacity(size),
            by_key: HashMap::with_capacity(size),
        };
        let mut faces: BTreeMap<&str, usize> = BTreeMap::new();
        for project in &manifest.projects {
            for scene in &project.scenes {
                let avatar = &manifest.avatars[&scene.avatar];
                let face = match faces.get(avatar.name.as_str()) {
                    Some(&face) => face,
                    None => {
                        let (spec, job) = face_track::plan(avatar, hashes)?;
                        let face = graph.add(
                            format!("face-track {}", avatar.name),
                            spec,
                            vec![],
                            Job::FaceTrack(job),
                        );
                        faces.insert(&avatar.name, face);
                        face
                    }
                };
                let mut lines = Vec::new();
                let mut deps = Vec::new();
                for (i, line) in scene.lines.iter().enumerate() {
                    let at = format!("{}/{}:{}", project.name, scene.name, i + 1);
                    let voice = &manifest.voices[&line.voice];
                    let (spec, job) = speech::plan(line, voice, hashes)?;
                    let speech = graph.add(format!("speech {at}"), spec, vec![], Job::Speech(job));
                    let (spec, job) = lipsync::plan(
                        avatar,
                        graph.nodes[face].key,
                        graph.nodes[speech].key,
                        scene.fps,
                        accelerator,
                        hashes,
                    )?;
                    let clip = graph.add(
                        format!("clip {at}"),
                        spec,
                        vec![face, speech],
                        Job::Clip(job),
                    );
                    lines.push((graph.nodes[clip].key, graph.nodes[speech].key));
                    deps.extend([clip, speech]);
                }
                let (spec, job) = scene::plan(scene, lines, hashes)?;
                let index = graph.add(
                    format!("scene {}/{}", project.name, scene.name),
                    spec,
                    deps,
                    Job::Scene(job),
                );
                // Two scenes may render identically; each still gets its own file in out/.
                let target = manifest
                    .root
                    .join("out")
                    .join(&project.name)
                    .join(format!("{}.mp4", scene.name));
                let publish = &mut graph.nodes[index].publish;
                if !publish.contains(&target) {
                    publish.push(target);
                }
            }
        }
        Ok(graph)
    }

    fn add(&mut self, name: String, spec: KeySpec, deps: Vec<usize>, job: Job) -> usize {
        let key = spec.key();
        if let Some(&index) = self.by_key.get(&key) {
            return index;
        }
        let index = self.nodes.len();
        self.nodes.push(Node {
            name,
            spec,
            key,
            deps,
            job,
            publish: Vec::new(),
        });
        self.by_key.insert(key, index);
        index
    }

    /// Which nodes must be made: every node whose object is missing and that is needed —
    /// a scene always is; anything else only if a node being made reads it.
    pub fn stale(&self, cache: &Cache) -> Vec<bool> {
        let mut make = vec![false; self.nodes.len()];
        let mut needed = vec![false; self.nodes.len()];
        // Nodes are added after their dependencies, so walking backwards visits every
        // reader before what it reads.
        for index in (0..self.nodes.len()).rev() {
            let node = &self.nodes[index];
            if !node.publish.is_empty() {
                needed[index] = true;
            }
            if needed[index] && !cache.has(&node.key) {
                make[index] = true;
                for &dep in &node.deps {
                    needed[dep] = true;
                }
            }
        }
        make
    }
}

/// Whether any avatar of a scene that will be built uses a neural model.
pub fn uses_models(manifest: &Manifest) -> bool {
    manifest
        .projects
        .iter()
        .flat_map(|p| &p.scenes)
        .any(|scene| manifest.avatars[&scene.avatar].model.is_some())
}
