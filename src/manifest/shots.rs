//! Generated pictures and videos: `[stills.<name>]` (a picture from a prompt) and
//! `[shots.<name>]` (a video from a prompt and/or a picture), each made by a command engine
//! of stage "still" or "shot" (`manifest/command.rs`), and where they are used — an
//! avatar's `image = { still = "host" }`, its idle `motion = "<shot>"`, a b-roll line
//! (`manifest/broll.rs`).
//!
//! Everything a generation's bytes depend on is here, checked once: the prompt texts, the
//! size, steps, guidance and seed, the reference picture (a file, or another still: cycles
//! are refused), the LoRA files and scales, and for a shot its seconds, fps and pose video.
//! A name that is not declared, a still used where a shot is needed, or a picture given to
//! an engine that takes none are diagnostics at the key that says so.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::command::{CommandEngine, Stage};
use super::references::{unknown, Names};
use super::{paths, SourceFile};
use crate::diagnostic::{list, suggest, ConfigError, Doc, Errors};

/// The keys of `[stills.<name>]`.
pub(crate) const STILL_KEYS: &[&str] = &[
    "engine", "prompt", "negative", "width", "height", "steps", "guidance", "seed", "image",
    "loras",
];
/// The keys of `[shots.<name>]`: a still's, and its length, rate and pose.
pub(crate) const SHOT_KEYS: &[&str] = &[
    "engine",
    "prompt",
    "negative",
    "width",
    "height",
    "steps",
    "guidance",
    "seed",
    "image",
    "loras",
    "seconds",
    "fps",
    "pose",
    "pose_engine",
];

/// `[stills.<name>]` or `[shots.<name>]` as written.
#[derive(Deserialize)]
pub(crate) struct RawMade {
    engine: Option<Spanned<String>>,
    prompt: Option<Spanned<String>>,
    negative: Option<Spanned<String>>,
    width: Option<Spanned<i64>>,
    height: Option<Spanned<i64>>,
    steps: Option<Spanned<i64>>,
    guidance: Option<Spanned<f64>>,
    seed: Option<Spanned<i64>>,
    image: Option<Spanned<toml::Value>>,
    loras: Option<Vec<Spanned<RawLora>>>,
    seconds: Option<Spanned<f64>>,
    fps: Option<Spanned<toml::Value>>,
    pose: Option<Spanned<String>>,
    pose_engine: Option<Spanned<String>>,
}

/// One of `loras = [{ file = "...", scale = 0.8 }]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLora {
    file: Spanned<String>,
    scale: Option<Spanned<f64>>,
}

/// What a still and a shot are made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Prompted {
    /// A command engine of stage "still" (a still) or "shot" (a shot).
    pub engine: String,
    pub prompt: String,
    /// `{negative_prompt}`; empty when not declared.
    pub negative: String,
    pub width: u32,
    pub height: u32,
    pub steps: u32,
    pub guidance: f64,
    /// `{seed}`: the declared one, else (None) one taken from the job's key.
    pub seed: Option<u32>,
    /// `{image}`: the reference or start picture.
    pub image: Option<Picture>,
    /// `{lora_files}` and `{lora_scales}`, in order.
    pub loras: Vec<Lora>,
}

/// A picture a still or shot starts from: a file of the content folder, or a still.
#[derive(Clone, Debug, PartialEq)]
pub enum Picture {
    File(SourceFile),
    Still(String),
}

/// A LoRA file and its scale. A file outside the content folder is allowed only when the
/// engine lists it in its `hash` (like its weights); its `rel` is then its absolute path.
#[derive(Clone, Debug, PartialEq)]
pub struct Lora {
    pub file: SourceFile,
    pub scale: f64,
}

/// `[stills.<name>]`: a picture from a prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct Still {
    pub name: String,
    pub made: Prompted,
}

/// `[shots.<name>]`: a video from a prompt and/or a picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Shot {
    pub name: String,
    pub made: Prompted,
    pub seconds: f64,
    pub fps: crate::fps::Fps,
    /// `{frames}`: seconds × fps, rounded up to the engine's `frames` form when it has one.
    pub frames: usize,
    /// `pose` and `pose_engine`: the video a pose-guided engine follows, and the engine
    /// (stage "pose") that reads the pose from it.
    pub pose: Option<PoseSource>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PoseSource {
    pub video: SourceFile,
    pub engine: String,
}

/// The stills and shots of Renderfile.toml.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generated {
    pub stills: BTreeMap<String, Still>,
    pub shots: BTreeMap<String, Shot>,
}

impl Generated {
    /// The names of the stills and shots, for references and hints.
    pub fn names(&self) -> Names {
        Names {
            stills: self.stills.keys().cloned().collect(),
            shots: self.shots.keys().cloned().collect(),
        }
    }
}

/// Reads every `[stills.*]` and `[shots.*]`: the declared ones with every problem in
/// `errors`. `engines` are the command engines, `root` the content folder.
pub(crate) fn parse(
    doc: &Doc,
    root: &Path,
    stills: Vec<(String, Range<usize>, RawMade)>,
    shots: Vec<(String, Range<usize>, RawMade)>,
    engines: &BTreeMap<String, CommandEngine>,
    errors: &mut Vec<ConfigError>,
) -> Generated {
    let mut names = Generated::default();
    // Names first: a still may name another still, a shot a still.
    for (name, _, _) in &stills {
        names.stills.insert(name.clone(), placeholder(name));
    }
    for (name, _, _) in &shots {
        names.shots.insert(name.clone(), placeholder_shot(name));
    }
    // A still or shot in error stays declared (as its stand-in): what names it is not told
    // it is unknown as well. Errors in Renderfile.toml are fatal, so no stand-in is built.
    let mut generated = names.clone();
    let mut refs: BTreeMap<String, (String, Range<usize>)> = BTreeMap::new();
    let declared = (stills.into_iter().map(|s| (Stage::Still, s)))
        .chain(shots.into_iter().map(|s| (Stage::Shot, s)));
    for (stage, (name, span, raw)) in declared {
        let cx = Cx {
            doc,
            root,
            engines,
            names: &names,
            name: &name,
            span,
        };
        let Some(((made, timing), reference)) = cx.prompted(raw, stage, errors) else {
            continue;
        };
        match timing {
            None => {
                if let Some(reference) = reference {
                    refs.insert(name.clone(), reference);
                }
                generated.stills.insert(name.clone(), Still { name, made });
            }
            Some(timing) => {
                let shot = Shot {
                    name: name.clone(),
                    made,
                    seconds: timing.seconds,
                    fps: timing.fps,
                    frames: timing.frames,
                    pose: timing.pose,
                };
                generated.shots.insert(name, shot);
            }
        }
    }
    cycles(doc, &refs, errors);
    generated
}

/// A still that names itself through others: "stills `a` → `b` → `a` form a cycle".
fn cycles(
    doc: &Doc,
    refs: &BTreeMap<String, (String, Range<usize>)>,
    errors: &mut Vec<ConfigError>,
) {
    let mut reported: Vec<String> = Vec::new();
    for start in refs.keys() {
        let mut path = vec![start.clone()];
        let mut at = start;
        while let Some((next, span)) = refs.get(at) {
            if next == start {
                if !path.iter().any(|p| reported.contains(p)) {
                    let chain: Vec<String> = (path.iter().chain([start]))
                        .map(|p| format!("`{p}`"))
                        .collect();
                    let message = format!("stills {} form a cycle", chain.join(" → "));
                    let help = "a still's `image` may name another still, but not one that is made from it: give one of them a picture file, or no image";
                    let first = &refs[start].1;
                    let e = doc.err(first.clone(), message, "cycle", help);
                    errors.push(if span != first {
                        e.with_related(span.clone(), "back to the first")
                    } else {
                        e
                    });
                    reported.extend(path.iter().cloned());
                }
                break;
            }
            if path.contains(next) {
                break;
            }
            path.push(next.clone());
            at = next;
        }
    }
}

fn placeholder(name: &str) -> Still {
    Still {
        name: name.to_string(),
        made: Prompted {
            engine: String::new(),
            prompt: String::new(),
            negative: String::new(),
            width: 0,
            height: 0,
            steps: 0,
            guidance: 0.0,
            seed: None,
            image: None,
            loras: Vec::new(),
        },
    }
}

fn placeholder_shot(name: &str) -> Shot {
    Shot {
        name: name.to_string(),
        made: placeholder(name).made,
        seconds: 0.0,
        fps: crate::fps::Fps::whole(1),
        frames: 0,
        pose: None,
    }
}

/// A shot's timing, resolved.
struct Timing {
    seconds: f64,
    fps: crate::fps::Fps,
    frames: usize,
    pose: Option<PoseSource>,
}

/// One still or shot being read.
struct Cx<'a> {
    doc: &'a Doc,
    root: &'a Path,
    engines: &'a BTreeMap<String, CommandEngine>,
    names: &'a Generated,
    name: &'a str,
    /// The table's name in `[stills.<name>]`.
    span: Range<usize>,
}

/// A still or shot, its timing (shots) and the still its image names (stills, for cycles).
type Read = ((Prompted, Option<Timing>), Option<(String, Range<usize>)>);

impl Cx<'_> {
    fn prompted(
        &self,
        mut raw: RawMade,
        stage: Stage,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Read> {
        let (doc, name) = (self.doc, self.name);
        let what = stage.as_str();
        let before = errors.len();
        if !paths::is_identifier(name) {
            let msg = format!("{what} name `{name}` is not allowed");
            let help = "use only letters, digits, `-` and `_`";
            errors.push(doc.err(self.span.clone(), msg, "bad name", help));
        }
        let engine = self.engine(&raw.engine, stage, errors);
        let prompt = raw.prompt.as_ref().map_or("", |p| p.get_ref().trim());
        if prompt.is_empty() && (stage == Stage::Still || raw.image.is_none()) {
            let at = raw.prompt.as_ref().map_or(self.span.clone(), |p| p.span());
            let msg = format!("{what} `{name}` has no `prompt`");
            let help = match stage {
                Stage::Shot => "describe the video: prompt = \"...\" (a shot may instead start from a picture, `image`)",
                _ => "describe the picture: prompt = \"A portrait of ...\"",
            };
            errors.push(doc.err(at, msg, "no prompt", help));
        }
        let (default_width, default_height) = match stage {
            Stage::Shot => (832, 480),
            _ => (1024, 1024),
        };
        let size = |v: &Option<Spanned<i64>>, default: u32, key: &str, errors: &mut Vec<_>| {
            let Some(v) = v else {
                return default;
            };
            match *v.get_ref() {
                n @ 16..=8192 if n % 2 == 0 => n as u32,
                n => {
                    let msg = format!(
                        "`{key}` must be an even number of pixels from 16 to 8192, not {n}"
                    );
                    let help =
                        "models make sizes that are multiples of 8 or 16 (e.g. 1024, 832, 480)";
                    errors.push(doc.err(v.span(), msg, "out of range", help));
                    default
                }
            }
        };
        let width = size(&raw.width, default_width, "width", errors);
        let height = size(&raw.height, default_height, "height", errors);
        let steps = match &raw.steps {
            None => 30,
            Some(s) if (1..=1000).contains(s.get_ref()) => *s.get_ref() as u32,
            Some(s) => {
                let msg = format!("`steps` must be between 1 and 1000, not {}", s.get_ref());
                let help = "the number of denoising steps (20 to 50 is usual)";
                errors.push(doc.err(s.span(), msg, "out of range", help));
                30
            }
        };
        let guidance = match &raw.guidance {
            None => 5.0,
            Some(g) if (0.0..=100.0).contains(g.get_ref()) => *g.get_ref(),
            Some(g) => {
                let msg = format!("`guidance` must be between 0 and 100, not {}", g.get_ref());
                let help = "the classifier-free guidance scale (1 to 10 is usual)";
                errors.push(doc.err(g.span(), msg, "out of range", help));
                5.0
            }
        };
        let seed = raw
            .seed
            .as_ref()
            .and_then(|s| match u32::try_from(*s.get_ref()) {
                Ok(n) => Some(n),
                Err(_) => {
                    let msg = format!(
                        "`seed` must be between 0 and 4294967295, not {}",
                        s.get_ref()
                    );
                    let help =
                        "leave it out for a seed taken from the key (the same on every build)";
                    errors.push(doc.err(s.span(), msg, "out of range", help));
                    None
                }
            });
        let (image, still_ref) = match &raw.image {
            None => (None, None),
            Some(v) => match self.picture(v, errors) {
                Some(Picture::Still(s)) => (Some(Picture::Still(s.clone())), Some((s, v.span()))),
                other => (other, None),
            },
        };
        let loras = self.loras(raw.loras.take().unwrap_or_default(), engine, errors);
        if let Some(engine) = engine {
            self.takes(
                engine,
                "image",
                "image",
                raw.image.as_ref().map(|i| i.span()),
                errors,
            );
        }
        let timing = match stage {
            Stage::Shot => self.timing(&raw, engine, errors),
            _ => {
                for (key, span) in [
                    ("seconds", raw.seconds.as_ref().map(|s| s.span())),
                    ("fps", raw.fps.as_ref().map(|s| s.span())),
                    ("pose", raw.pose.as_ref().map(|s| s.span())),
                    ("pose_engine", raw.pose_engine.as_ref().map(|s| s.span())),
                ] {
                    if let Some(span) = span {
                        let msg = format!("`{key}` is for shots; still `{name}` is a picture");
                        let help = "declare a video as [shots.<name>] (with seconds and fps)";
                        errors.push(doc.err(span, msg, "not a shot", help));
                    }
                }
                None
            }
        };
        if errors.len() > before {
            return None;
        }
        let made = Prompted {
            engine: engine?.name.clone(),
            prompt: prompt.to_string(),
            negative: (raw.negative.as_ref())
                .map_or(String::new(), |n| n.get_ref().trim().to_string()),
            width,
            height,
            steps,
            guidance,
            seed,
            image,
            loras,
        };
        Some(((made, timing), still_ref))
    }

    /// The engine named at `engine`, of stage `stage`.
    fn engine(
        &self,
        engine: &Option<Spanned<String>>,
        stage: Stage,
        errors: &mut Vec<ConfigError>,
    ) -> Option<&CommandEngine> {
        let (doc, what, name) = (self.doc, stage.as_str(), self.name);
        let fitting: Vec<&str> = (self.engines.values())
            .filter(|e| e.stage == stage)
            .map(|e| e.name.as_str())
            .collect();
        let declared = || {
            match fitting.as_slice() {
            [] => format!("no {what} engines are declared: declare one as [engines.<name>] with stage = \"{what}\""),
            names => format!("{what} engines here are {}", list(names)),
        }
        };
        let Some(e) = engine else {
            let msg = format!("{what} `{name}` has no `engine`");
            let help = format!("add `engine = \"<name>\"`; {}", declared());
            errors.push(doc.err(self.span.clone(), msg, "no engine", help));
            return None;
        };
        match self.engines.get(e.get_ref()) {
            Some(found) if found.stage == stage => Some(found),
            Some(found) => {
                let msg = format!(
                    "engine `{}` makes {}, not {}",
                    found.name,
                    found.stage.makes(),
                    stage.makes()
                );
                errors.push(doc.err(e.span(), msg, format!("not a {what} engine"), declared()));
                None
            }
            None => {
                let msg = format!("unknown {what} engine `{}`", e.get_ref());
                let help = suggest(e.get_ref(), &fitting, declared);
                errors.push(doc.err(e.span(), msg, "unknown engine", help));
                None
            }
        }
    }

    /// `image = "pictures/x.png"` or `image = { still = "name" }`.
    fn picture(&self, v: &Spanned<toml::Value>, errors: &mut Vec<ConfigError>) -> Option<Picture> {
        let doc = self.doc;
        match v.get_ref() {
            toml::Value::String(path) => {
                let written = Spanned::new(v.span(), path.clone());
                let file = errors.keep(paths::file(doc, self.root, &written, None))?;
                errors.keep(paths::image_ext(doc, &written, &file))?;
                Some(Picture::File(file))
            }
            value => match super::references::reference(value) {
                Some((false, still)) if self.names.stills.contains_key(&still) => {
                    Some(Picture::Still(still))
                }
                Some((_, still)) => {
                    errors.push(unknown(doc, v.span(), &still, false, &self.names.names()));
                    None
                }
                None => {
                    let msg = "`image` must be a picture file or a still".to_string();
                    let help = "e.g. image = \"pictures/host.png\" or image = { still = \"host\" }";
                    errors.push(doc.err(v.span(), msg, "not a picture", help));
                    None
                }
            },
        }
    }

    /// `loras = [{ file = "loras/x.safetensors", scale = 0.8 }]`.
    fn loras(
        &self,
        raw: Vec<Spanned<RawLora>>,
        engine: Option<&CommandEngine>,
        errors: &mut Vec<ConfigError>,
    ) -> Vec<Lora> {
        let doc = self.doc;
        let mut loras = Vec::new();
        for lora in raw {
            let lora = lora.into_inner();
            let written = lora.file.get_ref();
            // A file outside the content folder, as the engine's `hash` lists it.
            let listed = (engine.into_iter().flat_map(|e| &e.hash))
                .find(|h| Path::new(written).is_absolute() && h.abs == Path::new(written));
            let file = match listed {
                Some(h) => h.clone(),
                None => match paths::file(doc, self.root, &lora.file, None) {
                    Ok(f) => f,
                    Err(mut e) => {
                        if Path::new(written).is_absolute() {
                            e.help = Some(format!(
                                "a LoRA file is inside the content folder, or listed in the engine's `hash` like its weights (`hash = [\"{written}\"]`)"
                            ));
                        }
                        errors.push(e);
                        continue;
                    }
                },
            };
            let scale = match &lora.scale {
                None => 1.0,
                Some(s) if (-10.0..=10.0).contains(s.get_ref()) => *s.get_ref(),
                Some(s) => {
                    let msg = format!(
                        "a LoRA's `scale` must be between -10 and 10, not {}",
                        s.get_ref()
                    );
                    let help = "how strongly the LoRA applies: 1.0 as trained, 0.5 half";
                    errors.push(doc.err(s.span(), msg, "out of range", help));
                    continue;
                }
            };
            loras.push(Lora { file, scale });
        }
        if let (Some(engine), false) = (engine, loras.is_empty()) {
            if !engine.uses("lora_files") {
                let msg = format!(
                    "{} `{}` gives `loras` but engine `{}` takes none",
                    engine.stage.as_str(),
                    self.name,
                    engine.name
                );
                let help = "the engine's args take LoRAs as `{lora_files}` and `{lora_scales}`";
                errors.push(doc.err(self.span.clone(), msg, "LoRAs not used", help));
            }
        }
        loras
    }

    /// Whether `engine` takes `{input}` exactly when the still or shot gives one (the key
    /// `key`, written at `given`): else an error at the engine's use, or at the key.
    fn takes(
        &self,
        engine: &CommandEngine,
        input: &str,
        key: &str,
        given: Option<Range<usize>>,
        errors: &mut Vec<ConfigError>,
    ) {
        let (what, name) = (engine.stage.as_str(), self.name);
        match (engine.uses_at.get(input), given) {
            (Some(used), None) => {
                let mut e = used.clone();
                e.message = format!(
                    "engine `{}` takes `{{{input}}}`, but {what} `{name}` gives no `{key}`",
                    engine.name
                );
                e.help = Some(format!(
                    "give {what} `{name}` its `{key}` (in {}), or use an engine without `{{{input}}}`",
                    self.doc.name
                ));
                errors.push(e);
            }
            (None, Some(at)) => {
                let msg = format!(
                    "{what} `{name}` gives `{key}`, but engine `{}` takes no `{{{input}}}`",
                    engine.name
                );
                let help = format!(
                    "remove `{key}`, or use an engine whose args take `{{{input}}}` (declared in {})",
                    engine.declared_in
                );
                errors.push(self.doc.err(at, msg, "not used", help));
            }
            _ => {}
        }
    }

    /// A shot's seconds, fps, frames and pose.
    fn timing(
        &self,
        raw: &RawMade,
        engine: Option<&CommandEngine>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Timing> {
        let (doc, name) = (self.doc, self.name);
        let seconds = match &raw.seconds {
            None => 5.0,
            Some(s) if (0.1..=600.0).contains(s.get_ref()) => *s.get_ref(),
            Some(s) => {
                let msg = format!("`seconds` must be between 0.1 and 600, not {}", s.get_ref());
                let help = "the shot's length in seconds (video models make 2 to 10 s at a time)";
                errors.push(doc.err(s.span(), msg, "out of range", help));
                return None;
            }
        };
        let fps = match &raw.fps {
            None => crate::fps::Fps::whole(16),
            Some(v) => errors.keep(super::values::Fps::parse(doc, v))?.0,
        };
        let mut frames = fps.frames_in(seconds).max(1);
        let pose = match (&raw.pose, &raw.pose_engine) {
            (None, None) => None,
            (Some(p), None) => {
                let msg = format!("shot `{name}` gives a `pose` video but no `pose_engine`");
                let help = "name the engine (stage = \"pose\") that reads the pose from it: pose_engine = \"<name>\"";
                errors.push(doc.err(p.span(), msg, "no pose engine", help));
                None
            }
            (None, Some(e)) => {
                let msg = format!("shot `{name}` names a `pose_engine` but no `pose` video");
                let help = "add pose = \"motion/dance.mp4\": the video whose pose the shot follows";
                errors.push(doc.err(e.span(), msg, "no pose video", help));
                None
            }
            (Some(p), Some(e)) => {
                let video = errors.keep(paths::file(doc, self.root, p, None));
                let pose_engine = self.engine(&Some(e.clone()), Stage::Pose, errors);
                video.zip(pose_engine).map(|(video, engine)| PoseSource {
                    video,
                    engine: engine.name.clone(),
                })
            }
        };
        if let Some(engine) = engine {
            let given = raw.pose.as_ref().map(|p| p.span());
            self.takes(engine, "pose", "pose", given, errors);
            if let Some(rule) = engine.frames {
                frames = rule.round_up(frames);
            }
            if let Some(max) = engine.max_frames.filter(|&max| frames > max) {
                let at = raw.seconds.as_ref().map_or(self.span.clone(), |s| s.span());
                let msg = format!(
                    "shot `{name}` needs {frames} frames ({seconds} s at {fps} fps), over the {max} frames engine `{}` makes in one run",
                    engine.name
                );
                let most = max as f64 / fps.as_f64();
                let help = format!(
                    "shorten it to at most {most:.2} s, lower its fps, or cut it into several shots"
                );
                errors.push(doc.err(at, msg, "too long", help));
                return None;
            }
        }
        Some(Timing {
            seconds,
            fps,
            frames,
            pose,
        })
    }
}
