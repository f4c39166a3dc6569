//! Scene variants as a build, a plan and a page see them: each variant's published video,
//! its object, and how long it took to make. The declarations are read in
//! `manifest/variants.rs` and become whole scenes in the graph (`graph.rs`), where what the
//! variants share is one artifact; this file only reads the graph back, so that `render
//! build`/`plan` can count and name them and `--json` (or a page comparing them side by
//! side, through [`of`]) can show their videos and build times.
//!
//! A variant's build time is what its video cost, read from the records of the objects
//! behind it (each record keeps the seconds its job took, whichever build made it), so a
//! variant reused today still shows what it cost when it was made: `seconds` counts every
//! artifact it reads (a shared speech in each variant), `own_seconds` only those no other
//! variant of the scene reads (its clips, when only `lipsync` differs) — what choosing it
//! costs over the others.

use std::path::Path;

use serde::Serialize;

use crate::cache::Cache;
use crate::graph::Graph;
use crate::key::ArtifactKind;

/// One variant of a scene, as built (or to be built).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SceneVariant {
    /// `project/scene`
    pub scene: String,
    /// The variant's name.
    pub variant: String,
    /// The first declared variant: `out/<project>/<scene>.mp4` is the same video.
    pub first: bool,
    /// Its video, relative to the content folder: `out/<project>/<scene>@<variant>.mp4`
    /// (its poster `.jpg`, contact sheet `.sheet.jpg` and captions `.srt`/`.vtt` beside it).
    pub video: String,
    /// Its scene object's key (hex).
    pub key: String,
    /// Seconds its artifacts took to make, as their records say; None while one of them
    /// is not in the cache (not made yet, or with no record to read: `of` without a cache).
    pub seconds: Option<f64>,
    /// The part of `seconds` no other variant of the scene shares.
    pub own_seconds: Option<f64>,
}

/// Every scene variant the graph publishes, in declaration order; their build times from
/// `cache` when one is given (a few record reads per artifact behind a variant: only
/// scenes that declare variants pay them).
pub fn of(graph: &Graph, cache: Option<&Cache>) -> Vec<SceneVariant> {
    let mut found = Vec::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        if node.kind() != ArtifactKind::Scene {
            continue;
        }
        for video in &node.publish {
            let Some((scene, variant)) = named(video) else {
                continue;
            };
            let own_name = scene.rsplit('/').next().unwrap_or_default();
            let plain = video.with_file_name(format!("{own_name}.mp4"));
            let label = format!("{scene}@{variant}");
            let (seconds, own_seconds) = match cache {
                Some(cache) => times(graph, cache, index, &label),
                None => (None, None),
            };
            found.push(SceneVariant {
                scene,
                variant,
                first: node.publish.contains(&plain),
                video: relative(video),
                key: node.key().hex(),
                seconds,
                own_seconds,
            });
        }
    }
    found
}

/// `render: 2 variants of 1 scene: p/talk@builtin, p/talk@fast` (None when no scene has
/// variants): the line `build` and `plan` print.
pub fn line(variants: &[SceneVariant]) -> Option<String> {
    if variants.is_empty() {
        return None;
    }
    let mut scenes: Vec<&str> = variants.iter().map(|v| v.scene.as_str()).collect();
    scenes.dedup();
    let plural = |n: usize, what: &str| match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    };
    let names: Vec<String> = (variants.iter())
        .map(|v| format!("{}@{}", v.scene, v.variant))
        .collect();
    Some(format!(
        "{} of {}: {}",
        plural(variants.len(), "variant"),
        plural(scenes.len(), "scene"),
        names.join(", ")
    ))
}

/// (`project/scene`, variant) of a published video named `<scene>@<variant>.mp4` in
/// `out/<project>/`.
fn named(video: &Path) -> Option<(String, String)> {
    let stem = video.file_stem()?.to_str()?;
    let (scene, variant) = stem.split_once('@')?;
    let project = video.parent()?.file_name()?.to_str()?;
    Some((format!("{project}/{scene}"), variant.to_string()))
}

/// `out/<project>/<file>` of a path under the content folder's out/.
fn relative(video: &Path) -> String {
    let parts: Vec<_> = video.iter().rev().take(3).collect();
    let parts: Vec<String> = parts
        .iter()
        .rev()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// The seconds of every artifact the scene node `index` reads (itself, its captions and
/// everything behind them), and of those only the variant `label` reads.
fn times(graph: &Graph, cache: &Cache, index: usize, label: &str) -> (Option<f64>, Option<f64>) {
    let mut seen = vec![false; graph.nodes.len()];
    let mut stack = vec![index];
    let (mut all, mut own) = (Some(0.0), Some(0.0));
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let node = &graph.nodes[i];
        stack.extend(node.deps.iter().chain(&node.captions));
        let seconds = cache.record(&node.key()).map(|r| r.seconds);
        all = all.zip(seconds).map(|(a, s)| a + s);
        if node.variants.len() == 1 && node.variants[0] == label {
            own = own.zip(seconds).map(|(a, s)| a + s);
        }
    }
    (all, own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(scene: &str, name: &str) -> SceneVariant {
        SceneVariant {
            scene: scene.into(),
            variant: name.into(),
            first: false,
            video: String::new(),
            key: String::new(),
            seconds: None,
            own_seconds: None,
        }
    }

    #[test]
    fn the_line_counts_and_names_them() {
        assert_eq!(line(&[]), None);
        let two = [variant("p/talk", "builtin"), variant("p/talk", "fast")];
        assert_eq!(
            line(&two).unwrap(),
            "2 variants of 1 scene: p/talk@builtin, p/talk@fast"
        );
        let three = [two[0].clone(), two[1].clone(), variant("p/bye", "a")];
        assert_eq!(
            line(&three).unwrap(),
            "3 variants of 2 scenes: p/talk@builtin, p/talk@fast, p/bye@a"
        );
    }

    #[test]
    fn names_come_from_the_published_file() {
        let video = Path::new("/c/out/demo/intro@w2l.mp4");
        assert_eq!(named(video), Some(("demo/intro".into(), "w2l".into())));
        assert_eq!(named(Path::new("/c/out/demo/intro.mp4")), None);
        assert_eq!(relative(video), "out/demo/intro@w2l.mp4");
    }
}
