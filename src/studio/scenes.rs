//! What the studio shows of the folder: every scene with its video, poster and status,
//! its lines (text, voice, avatar, the clip, status and why it is stale). Worked out the
//! way `render plan` works it out — the declarations loaded and checked, the graph, what
//! is stale (`Graph::stale`) and why (`BuildLog::reason`) — so the page and `plan` never
//! disagree. It only reads: remembered hashes are used, nothing is saved.
//!
//! A scene that declares variants lists each (`variants.rs` reads them back from the
//! graph): its published video, status, build time — from its objects' records, as
//! `build --json` and the history say it — and the engines its lines use, for the page
//! that compares them side by side.
//!
//! A configuration error is shown, not fatal: the valid scenes are listed and the
//! diagnostics (plain text) come with them.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::build_log::BuildLog;
use crate::cache::Cache;
use crate::graph::Graph;
use crate::manifest;
use crate::media_check::MediaChecks;
use crate::sources::SourceHashes;

#[derive(Clone, Debug, Serialize)]
pub struct Folder {
    pub scenes: Vec<Scene>,
    /// Configuration errors, as `render build` prints them (plain text).
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Scene {
    pub project: String,
    pub name: String,
    /// up-to-date | stale
    pub status: &'static str,
    /// Why the scene's video is stale (empty when it is not).
    pub why: String,
    /// The scene's key (its video's content), which changes when anything in it does.
    pub key: String,
    /// Where the published video and poster are served (absent: not published yet).
    pub video: Option<String>,
    pub poster: Option<String>,
    pub lines: Vec<Line>,
    /// Its variants, in declaration order (empty when it declares none).
    pub variants: Vec<Variant>,
}

/// One variant of a scene.
#[derive(Clone, Debug, Serialize)]
pub struct Variant {
    pub name: String,
    /// The first declared: `<scene>.mp4` is the same video.
    pub first: bool,
    /// up-to-date | stale
    pub status: &'static str,
    pub why: String,
    /// Its scene object's key.
    pub key: String,
    /// `out/<project>/<scene>@<variant>.mp4` and its poster, served, once published.
    pub video: Option<String>,
    pub poster: Option<String>,
    /// Seconds every artifact behind its video took to make (None: not all made yet).
    pub seconds: Option<f64>,
    /// The part of `seconds` no other variant of the scene shares.
    pub own_seconds: Option<f64>,
    /// The engines its lines use (speech and lip-sync), as `render engines` names them.
    pub engines: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Line {
    /// From 1, as in the artifacts' names (`clip demo/intro:3`).
    pub number: usize,
    pub text: String,
    pub voice: String,
    pub avatar: String,
    /// up-to-date | stale
    pub status: &'static str,
    /// Why its speech or clip is stale (empty when neither is).
    pub why: String,
    /// The clip and the speech in the cache, when made.
    pub clip: Option<String>,
    pub speech: Option<String>,
}

/// The folder as it is now.
pub fn look(root: &Path) -> Folder {
    let cache = Cache::new(root);
    let hashes = SourceHashes::load(&cache.state_dir().join("sources.json"));
    let loaded = match manifest::load_checked(root, &MediaChecks::new(&hashes)) {
        Ok(loaded) => loaded,
        Err(errors) => {
            return Folder {
                scenes: Vec::new(),
                errors: errors.into_iter().map(plain).collect(),
            }
        }
    };
    let mut errors: Vec<String> = loaded.errors.into_iter().map(plain).collect();
    let manifest = loaded.manifest;
    let graph = crate::commands::device(&manifest)
        .and_then(|device| Graph::from_manifest(&manifest, &hashes, device));
    let graph = match graph {
        Ok(graph) => graph,
        Err(error) => {
            errors.push(crate::commands::render_plain(&error));
            return Folder {
                scenes: Vec::new(),
                errors,
            };
        }
    };
    let stale = graph.stale(false);
    let last = BuildLog::open(&cache);
    let by_name: HashMap<&str, usize> = (graph.nodes.iter().enumerate())
        .map(|(i, n)| (n.name(), i))
        .collect();
    // A node's state: stale and why, or its object's folder.
    let state = |name: &str| -> Option<(bool, String, String)> {
        let &i = by_name.get(name)?;
        let node = &graph.nodes[i];
        let why = if stale.make[i] {
            last.reason(node)
        } else {
            String::new()
        };
        Some((stale.make[i], why, node.key().hex()))
    };
    let built = crate::variants::of(&graph, Some(&cache));
    let object = |key: &str, file: &str| -> Option<String> {
        let made = cache.objects_dir().join(&key[..2]).join(key).join(file);
        made.is_file()
            .then(|| format!("/media/objects/{key}/{file}"))
    };
    let mut scenes = Vec::new();
    for project in &manifest.projects {
        for scene in &project.scenes {
            let id = format!("{}/{}", project.name, scene.name);
            let (scene_stale, why, key) = state(&format!("scene {id}")).unwrap_or((
                true,
                "not planned".into(),
                String::new(),
            ));
            let published = |stem: &str, ext: &str| {
                let rel = format!("{}/{stem}.{ext}", project.name);
                root.join("out")
                    .join(&rel)
                    .is_file()
                    .then(|| format!("/media/out/{rel}"))
            };
            let lines = (scene.lines.iter().enumerate())
                .map(|(n, line)| {
                    let at = format!("{id}:{}", n + 1);
                    let speech = state(&format!("speech {at}"));
                    let clip = state(&format!("clip {at}"));
                    let mut why = Vec::new();
                    for (what, part) in [("speech", &speech), ("clip", &clip)] {
                        if let Some((true, reason, _)) = part {
                            why.push(format!("{what}: {reason}"));
                        }
                    }
                    Line {
                        number: n + 1,
                        text: line.text.clone(),
                        voice: line.voice.clone(),
                        avatar: line.avatar.clone(),
                        status: if why.is_empty() {
                            "up-to-date"
                        } else {
                            "stale"
                        },
                        why: why.join("; "),
                        clip: clip.and_then(|(_, _, key)| object(&key, "clip.mp4")),
                        speech: speech.and_then(|(_, _, key)| object(&key, "speech.wav")),
                    }
                })
                .collect();
            scenes.push(Scene {
                project: project.name.clone(),
                name: scene.name.clone(),
                status: if scene_stale { "stale" } else { "up-to-date" },
                why,
                key,
                video: published(&scene.name, "mp4"),
                poster: published(&scene.name, "jpg"),
                lines,
                variants: (scene.variants.iter())
                    .map(|v| {
                        let stem = format!("{}@{}", scene.name, v.name);
                        // The first variant's node is the scene's own.
                        let node = if v.first {
                            format!("scene {id}")
                        } else {
                            format!("scene {}/{stem}", project.name)
                        };
                        let (stale, why, key) =
                            state(&node).unwrap_or((true, "not planned".into(), String::new()));
                        let times = (built.iter())
                            .find(|b| b.scene == id && b.variant == v.name)
                            .map_or((None, None), |b| (b.seconds, b.own_seconds));
                        let engines = crate::commands::engines::of_scene(&manifest, &v.scene);
                        Variant {
                            name: v.name.clone(),
                            first: v.first,
                            status: if stale { "stale" } else { "up-to-date" },
                            why,
                            key,
                            video: published(&stem, "mp4"),
                            poster: published(&stem, "jpg"),
                            seconds: times.0,
                            own_seconds: times.1,
                            engines: engines.into_iter().map(str::to_string).collect(),
                        }
                    })
                    .collect(),
            });
        }
    }
    Folder { scenes, errors }
}

fn plain(error: manifest::ConfigError) -> String {
    crate::commands::render_plain(&crate::error::Error::from(error))
}
