//! Targets: `render build demo` or `render build demo/welcome` makes only what those
//! scenes need and publishes only their videos, as `make TARGET` does. A target is a
//! project (all its scenes) or `project/scene`. The manifest is narrowed to the selected
//! scenes before the graph is built, so staleness, scheduling and publishing need no
//! notion of a selection; only the sweep of undeclared videos must not run, since the
//! other scenes are still declared.

use crate::diagnostic::did_you_mean;
use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Keeps only the scenes `targets` name (all, when there are none). Every target must
/// name a declared project or scene.
pub fn select(manifest: &mut Manifest, targets: &[String]) -> Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let mut wanted: Vec<(String, Option<String>)> = Vec::new();
    for target in targets {
        let target = target.trim_end_matches('/');
        let (project, scene) = match target.split_once('/') {
            Some((project, scene)) => (project, Some(scene)),
            None => (target, None),
        };
        let Some(declared) = manifest.projects.iter().find(|p| p.name == project) else {
            let names = manifest.projects.iter().map(|p| p.name.as_str());
            return Err(unknown(project, "project", names));
        };
        if let Some(scene) = scene {
            if !declared.scenes.iter().any(|s| s.name == scene) {
                let names = declared.scenes.iter().map(|s| s.name.as_str());
                let names: Vec<String> = names.map(|s| format!("{project}/{s}")).collect();
                return Err(unknown(target, "scene", names.iter().map(String::as_str)));
            }
        }
        wanted.push((project.to_string(), scene.map(str::to_string)));
    }
    let selected = |project: &str, scene: &str| {
        (wanted.iter()).any(|(p, s)| p == project && s.as_deref().is_none_or(|s| s == scene))
    };
    for project in &mut manifest.projects {
        let name = project.name.clone();
        project.scenes.retain(|scene| selected(&name, &scene.name));
        // An episode is built by its project's target, never by one of its scenes'.
        if !wanted.iter().any(|(p, s)| *p == name && s.is_none()) {
            project.episode = None;
        }
    }
    manifest.projects.retain(|p| !p.scenes.is_empty());
    Ok(())
}

fn unknown<'a>(target: &str, what: &str, names: impl Iterator<Item = &'a str>) -> Error {
    let names: Vec<&str> = names.collect();
    let hint = match did_you_mean(target, names.iter().copied()) {
        Some(name) => format!("did you mean `{name}`?"),
        None if names.is_empty() => "nothing is declared".to_string(),
        None => format!(
            "a target is `project` or `project/scene`; the {what}s here: {}",
            crate::diagnostic::list(&names)
        ),
    };
    Error::UnknownTarget {
        target: target.to_string(),
        what: what.to_string(),
        hint,
    }
}
