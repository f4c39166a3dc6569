//! `render report [DIR]`: writes `out/report.html` again from the last build in the
//! history that did something (made, failed or changed `out/`; a no-op does not replace the
//! morning's report of the night's work), e.g. after a CSS change or when the page was
//! deleted. `render build` writes it through [`write`] after every build that did
//! something, and after a no-op only when the page is missing, so the page and this
//! command never disagree.
//!
//! Everything the page shows is already on disk: the build's record and the ones before it
//! (`cache/history.jsonl`), the set of artifacts it used (`cache/state/used/`, which gives
//! each scene's object and so its `scene.json`), and the stills in `out/`. Nothing is
//! decoded and no program is started, so a no-op build pays a few reads and one write.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::cache::Cache;
use crate::commands::{self, EXIT_CONFIG};
use crate::error::{Error, Result};
use crate::files::write_atomically;
use crate::history::History;
use crate::html_report::{self, Episode, Page, Scene};
use crate::manifest::{self, Manifest};
use crate::stage::{episode, scene};

/// Where the page goes, in `out/`.
pub const FILE: &str = crate::published::REPORT;

pub fn run(dir: &Path) -> i32 {
    let result = (|| -> Result<i32> {
        let root = commands::content_root(dir)?;
        // Tool facts as the builds remembered them: no `espeak-ng --voices` to check a voice.
        crate::toolchain::remember_in(Cache::new(&root).state_dir().join("tools.json"));
        // Only the declarations: which scenes there are (media files are not opened).
        let loaded = match manifest::load(&root) {
            Ok(loaded) => loaded,
            Err(errors) => {
                errors.into_iter().for_each(|e| commands::report(e.into()));
                return Ok(EXIT_CONFIG);
            }
        };
        if !loaded.errors.is_empty() {
            eprintln!(
                "render: scenes with configuration errors are left out of the report (`render plan` names them)"
            );
        }
        let path = write(&loaded.manifest)?;
        eprintln!("render: wrote {}", commands::relative(&root, &path));
        Ok(0)
    })();
    commands::exit_code(result)
}

/// Writes `out/report.html` for the last build in the history, showing every episode and
/// every scene of `manifest` (an episode's parts from its object's `episode.json`). Returns its path.
pub fn write(manifest: &Manifest) -> Result<PathBuf> {
    let cache = Cache::new(&manifest.root);
    let history = History::of(&cache);
    let mut builds = history.read().builds;
    // The page shows the last build that did something: the night's work stays on it
    // through any number of no-op builds after it (each still recorded in the history).
    if let Some(last) = builds.iter().rposition(|b| b.did_something()) {
        builds.truncate(last + 1);
    }
    let Some(build) = builds.pop() else {
        return Err(Error::Other(format!(
            "no build is recorded in {} yet: run `render build` first",
            commands::relative(&manifest.root, history.path())
        )));
    };
    // A set that is gone (removed by hand) only costs the durations.
    let used = history.used_names(&build).unwrap_or_default();
    let statuses: HashMap<&str, &str> = (build.artifacts.iter())
        .map(|a| (a.name.as_str(), a.status.as_str()))
        .collect();
    let out = manifest.root.join("out");
    let in_out = |path: &Path| path.is_file().then(|| commands::relative(&out, path));
    // What the build did with an artifact, and its object's key when it was in the set.
    let status_of = |artifact: &str| {
        let key = used.get(artifact);
        let status = match (statuses.get(artifact), key) {
            (Some(status), _) => status,
            (None, Some(_)) => "reused",
            (None, None) => "not built",
        };
        (status.to_string(), key)
    };
    let mut episodes = Vec::new();
    let mut scenes = Vec::new();
    for project in &manifest.projects {
        if let Some(declared) = &project.episode {
            let (status, key) = status_of(&format!("episode {}", project.name));
            let info: Option<episode::Info> = key.and_then(|key| {
                let bytes = std::fs::read(cache.object_dir(key).join(episode::INFO)).ok()?;
                serde_json::from_slice(&bytes).ok()
            });
            let parts = (declared.intro.iter().map(|_| "intro".to_string()))
                .chain(declared.scenes.iter().cloned())
                .chain(declared.outro.iter().map(|_| "outro".to_string()))
                .collect();
            let video = out.join(format!("{}.mp4", project.name));
            let [video, poster, srt, vtt] =
                episode::published(&video).map(|(_, path)| in_out(&path));
            episodes.push(Episode {
                project: project.name.clone(),
                status,
                info,
                parts,
                video,
                poster,
                srt,
                vtt,
            });
        }
        for declared in &project.scenes {
            let name = format!("{}/{}", project.name, declared.name);
            let (status, key) = status_of(&format!("scene {name}"));
            let info = key.and_then(|key| {
                let bytes = std::fs::read(cache.object_dir(key).join(scene::INFO)).ok()?;
                serde_json::from_slice(&bytes).ok()
            });
            let video = out
                .join(&project.name)
                .join(format!("{}.mp4", declared.name));
            let [video, poster, sheet] = scene::published(&video).map(|(_, path)| in_out(&path));
            scenes.push(Scene {
                name,
                status,
                info,
                video,
                poster,
                sheet,
            });
        }
    }
    let not_commercial =
        commands::engines::not_commercial(manifest, commands::engines::used_by_scenes(manifest));
    let html = html_report::render(&Page {
        build: &build,
        earlier: &builds,
        episodes: &episodes,
        scenes: &scenes,
        not_commercial: not_commercial.as_deref(),
    });
    let path = out.join(FILE);
    let exists = std::fs::symlink_metadata(&path);
    let ours = exists.as_ref().is_ok_and(|m| m.is_file()) && crate::published::is_report(&path);
    if exists.is_ok() && !ours {
        return Err(Error::Other(format!(
            "`out/{FILE}` is not a page render wrote, so render does not replace it: move it away, then run `render report`"
        )));
    }
    write_atomically(&path, html.as_bytes())?;
    Ok(path)
}
