//! Targets: `render build demo` or `render build demo/welcome` makes only what those
//! scenes need and publishes only their videos, as `make TARGET` does. A target is a
//! project (all its scenes), `project/scene` (with all its variants, if it declares
//! some) or `project/scene@variant` (that variant only). The manifest is narrowed to the selected
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
            let plain = scene.split_once('@').map_or(scene, |(plain, _)| plain);
            let Some(found) = declared.scenes.iter().find(|s| s.name == plain) else {
                let names = declared.scenes.iter().map(|s| s.name.as_str());
                let names: Vec<String> = names.map(|s| format!("{project}/{s}")).collect();
                return Err(unknown(target, "scene", names.iter().map(String::as_str)));
            };
            if let Some((_, variant)) = scene.split_once('@') {
                if !found.variants.iter().any(|v| v.name == variant) {
                    let names = (found.variants.iter())
                        .map(|v| format!("{project}/{plain}@{}", v.name))
                        .collect::<Vec<_>>();
                    return Err(unknown(target, "variant", names.iter().map(String::as_str)));
                }
            }
        }
        wanted.push((project.to_string(), scene.map(str::to_string)));
    }
    // `scene@variant`: that variant only; `scene`: all of its variants.
    let selected = |project: &str, scene: &str, variant: Option<&str>| {
        (wanted.iter()).any(|(p, s)| {
            p == project
                && s.as_deref().is_none_or(|s| match s.split_once('@') {
                    Some((s, v)) => s == scene && variant.is_none_or(|variant| variant == v),
                    None => s == scene,
                })
        })
    };
    for project in &mut manifest.projects {
        let name = project.name.clone();
        project
            .scenes
            .retain(|scene| selected(&name, &scene.name, None));
        for scene in &mut project.scenes {
            let plain = scene.name.clone();
            (scene.variants).retain(|v| selected(&name, &plain, Some(&v.name)));
        }
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
            "a target is `project`, `project/scene` or `project/scene@variant`; the {what}s here: {}",
            crate::diagnostic::list(&names)
        ),
    };
    Error::UnknownTarget {
        target: target.to_string(),
        what: what.to_string(),
        hint,
    }
}
