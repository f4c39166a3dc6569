//! `render engines`: every engine a content folder can use — the built-in ones, the
//! folder's `[engines.*]` and this machine's engines file — with what each makes, the
//! program it runs and whether this machine has it, its declared version, whether it needs
//! the GPU (and how much of a card), whether it makes shots of two people, its licence as
//! declared, and which voices and avatars use it. So before a night's build one can see what will run where, and under which terms.
//!
//! It only reads: no lock, nothing written, no program started (a model program started
//! just to ask its version could load gigabytes). It exits 2 with configuration errors,
//! after listing what loaded.

use std::fmt::Write as _;
use std::path::Path;

use crate::commands;
use crate::manifest::command::{CommandEngine, Stage};
use crate::manifest::{Manifest, VoiceEngine};

pub fn run(dir: &Path) -> i32 {
    let (manifest, partial, _) = match commands::load(dir, true) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    print!("{}", list(&manifest));
    if partial {
        commands::EXIT_CONFIG
    } else {
        0
    }
}

/// The listing, one block per engine: built-in ones first, then declared ones by name.
pub fn list(manifest: &Manifest) -> String {
    let mut out = String::new();
    let voices = |engine: &str| -> Vec<String> {
        (manifest.voices.values())
            .filter(|v| match &v.engine {
                VoiceEngine::Espeak { .. } => engine == "espeak",
                VoiceEngine::Command { engine: e, .. } => e == engine,
            })
            .map(|v| v.name.clone())
            .collect()
    };
    let avatars = |engine: &str| -> Vec<String> {
        (manifest.avatars.values())
            .filter(|a| a.lipsync == engine)
            .map(|a| a.name.clone())
            .collect()
    };
    let espeak = runnable(Path::new("espeak-ng"), None);
    block(
        &mut out,
        "espeak",
        "speech",
        "built in",
        &[
            ("program", found("espeak-ng", espeak)),
            ("gpu", "no".into()),
            (
                "licence",
                "GPL-3.0-or-later (espeak-ng, run as a separate program)".into(),
            ),
            ("used by", used_by(&voices("espeak"), &[])),
        ],
    );
    block(
        &mut out,
        "builtin",
        "lipsync",
        "built in",
        &[
            ("program", "render's own mouth (no program)".into()),
            ("gpu", "no".into()),
            ("licence", "render's".into()),
            ("used by", used_by(&[], &avatars("builtin"))),
        ],
    );
    let mut models: Vec<(&str, &str)> = (manifest.avatars.values())
        .filter_map(|a| {
            a.model
                .as_ref()
                .map(|_| (a.lipsync.as_str(), a.name.as_str()))
        })
        .collect();
    models.sort();
    models.dedup_by_key(|m| m.0);
    for (model, _) in models {
        block(
            &mut out,
            model,
            "lipsync",
            &format!("model, models/{model}"),
            &[
                ("program", "a TorchScript model, run by render".into()),
                ("gpu", "yes (on the device of [render])".into()),
                ("used by", used_by(&[], &avatars(model))),
            ],
        );
    }
    for engine in manifest.engines.values() {
        let declared = match engine.declared_in.as_str() {
            "Renderfile.toml" => "declared in Renderfile.toml".to_string(),
            other => format!("declared in {other}"),
        };
        let uses = match engine.stage {
            Stage::Speech => used_by(&voices(&engine.name), &[]),
            Stage::Lipsync => used_by(&[], &avatars(&engine.name)),
            Stage::Voice => {
                let speech: Vec<String> = (manifest.engines.values())
                    .filter(|e| e.conditioning.as_deref() == Some(engine.name.as_str()))
                    .map(|e| format!("engine {}", e.name))
                    .collect();
                if speech.is_empty() {
                    "nothing".into()
                } else {
                    speech.join(", ")
                }
            }
            Stage::Still | Stage::Shot | Stage::Pose => generations(manifest, &engine.name),
        };
        let mut fields = vec![
            ("program", program(engine)),
            (
                "version",
                if engine.version.is_empty() {
                    "(not declared)".into()
                } else {
                    engine.version.clone()
                },
            ),
            ("gpu", gpu(engine)),
            ("licence", licence(engine)),
            ("used by", uses),
        ];
        if engine.openai.is_some() {
            fields.insert(1, ("kind", "openai-speech".into()));
        }
        if engine.two_people() {
            fields.insert(3, ("people", "two in one shot (`shot = \"two\"`)".into()));
        }
        block(
            &mut out,
            &engine.name,
            engine.stage.as_str(),
            &declared,
            &fields,
        );
    }
    out
}

fn block(out: &mut String, name: &str, stage: &str, origin: &str, fields: &[(&str, String)]) {
    let _ = writeln!(out, "{name}  {stage}  {origin}");
    for (label, value) in fields {
        let _ = writeln!(out, "  {label:<8} {value}");
    }
    out.push('\n');
}

fn found(program: &str, here: bool) -> String {
    if here {
        format!("{program} (found)")
    } else {
        format!("{program} (NOT FOUND on this machine)")
    }
}

/// The program and whether this machine has it; for a server, what render posts to and
/// the command it starts.
fn program(engine: &CommandEngine) -> String {
    if let Some(server) = &engine.openai {
        let post = format!(
            "POST {}",
            crate::manifest::openai_speech::OpenaiSpeech::endpoint(&server.url)
        );
        return match &server.server {
            Some(command) => format!(
                "{post}, on the server it starts: {}",
                found(
                    &command.program.display().to_string(),
                    runnable(&command.program, None)
                )
            ),
            None => post,
        };
    }
    let path = engine.env.get("PATH").map(std::ffi::OsString::from);
    found(
        &engine.program.display().to_string(),
        runnable(&engine.program, path.as_deref()),
    )
}

/// Whether `program` (a path, or a bare name on `path`, else render's PATH) is an
/// executable file.
fn runnable(program: &Path, path: Option<&std::ffi::OsStr>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let file = if program.components().count() == 1 && !program.is_absolute() {
        let system = std::env::var_os("PATH");
        crate::toolchain::find_on_path(&program.to_string_lossy(), path.or(system.as_deref()))
    } else {
        Some(program.to_path_buf())
    };
    file.and_then(|f| std::fs::metadata(f).ok())
        .is_some_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn gpu(engine: &CommandEngine) -> String {
    match (&engine.gpu, &engine.vram) {
        (false, _) => "no".into(),
        (true, None) => "yes".into(),
        (true, Some(vram)) => format!("yes, {} of a card", crate::disk::human_bytes(vram.bytes)),
    }
}

fn licence(engine: &CommandEngine) -> String {
    let declared = engine.licence.as_deref().unwrap_or("(not declared)");
    if engine.commercial == Some(false) {
        format!("{declared}; NOT for commercial use")
    } else {
        declared.to_string()
    }
}

/// The stills and shots an engine of stage still, shot or pose makes: "stills host; shots
/// city", or "nothing".
fn generations(manifest: &crate::manifest::Manifest, engine: &str) -> String {
    let generated = &manifest.generated;
    let stills: Vec<&str> = (generated.stills.values())
        .filter(|s| s.made.engine == engine)
        .map(|s| s.name.as_str())
        .collect();
    let shots: Vec<&str> = (generated.shots.values())
        .filter(|s| s.made.engine == engine || s.pose.as_ref().is_some_and(|p| p.engine == engine))
        .map(|s| s.name.as_str())
        .collect();
    let mut parts = Vec::new();
    if !stills.is_empty() {
        parts.push(format!("stills {}", stills.join(", ")));
    }
    if !shots.is_empty() {
        parts.push(format!("shots {}", shots.join(", ")));
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join("; ")
    }
}

fn used_by(voices: &[String], avatars: &[String]) -> String {
    let mut parts = Vec::new();
    if !voices.is_empty() {
        parts.push(format!("voices {}", voices.join(", ")));
    }
    if !avatars.is_empty() {
        parts.push(format!("avatars {}", avatars.join(", ")));
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join("; ")
    }
}

/// The one line a build and its report give when they used engines declared
/// `commercial = false` (among `used`, the names of command engines), with their declared
/// licences; `None` when none is. A licence's terms follow the videos, not the build, so a
/// reused clip counts as much as one made now.
pub fn not_commercial<'a>(
    manifest: &Manifest,
    used: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let used: std::collections::BTreeSet<&str> = used.into_iter().collect();
    let named: Vec<String> = (used.into_iter())
        .filter_map(|name| manifest.engines.get(name))
        .filter(|engine| engine.commercial == Some(false))
        .map(|engine| match &engine.licence {
            Some(licence) => format!("{} ({licence})", engine.name),
            None => engine.name.clone(),
        })
        .collect();
    let (what, verb) = match named.len() {
        0 => return None,
        1 => ("engine", "is"),
        _ => ("engines", "are"),
    };
    Some(format!(
        "NOT for commercial use: made with {what} {}, which {verb} declared `commercial = false`",
        named.join(", ")
    ))
}

/// The command engines the lines of the manifest's scenes use: each line's voice's engine
/// (and the engine that clones it) and its avatar's lip-sync engine.
pub fn used_by_scenes(manifest: &Manifest) -> Vec<&str> {
    let mut used = Vec::new();
    let lines = (manifest.projects.iter())
        .flat_map(|p| &p.scenes)
        .flat_map(|s| &s.lines);
    for line in lines {
        if line.audio.is_none() {
            if let Some(VoiceEngine::Command { engine, .. }) =
                manifest.voices.get(&line.voice).map(|v| &v.engine)
            {
                used.push(engine.as_str());
                let cloned = manifest
                    .engines
                    .get(engine)
                    .and_then(|e| e.conditioning.as_deref());
                used.extend(cloned);
            }
        }
        if let Some(avatar) = manifest.avatars.get(&line.avatar) {
            used.push(avatar.lipsync.as_str());
        }
    }
    used
}
