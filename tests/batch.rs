//! `render run-jobs SPEC…`: a farm's batch. Same-model jobs run in one process load their
//! model once (a 14B model takes minutes to load: one load per clip would waste a GPU
//! allocation), and make the objects a build makes.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{add_fixture_models, Folder};

/// Eight lines through the TorchScript fixture lip-sync model.
fn modelled(lines: usize) -> Folder {
    let folder = Folder::with_portrait();
    add_fixture_models(&folder);
    folder.write(
        "Renderfile.toml",
        r##"[defaults]
fps = 25
size = [160, 90]
pause = 0.2
voice = "host"
avatar = "modelled"

[voices.host]
engine = "espeak"
language = "en"

[avatars.modelled]
image = "avatars/astronaut.png"
lipsync = "tiny-lipsync"
"##,
    );
    let lines: Vec<String> = (1..=lines)
        .map(|n| format!("\"Line number {n}.\""))
        .collect();
    folder.write(
        "projects/p/project.toml",
        &format!(
            "[[scene]]\nname = \"talk\"\nlines = [{}]\n",
            lines.join(", ")
        ),
    );
    folder
}

fn name(spec: &PathBuf) -> String {
    let job: serde_json::Value = serde_json::from_slice(&std::fs::read(spec).unwrap()).unwrap();
    job["name"].as_str().unwrap().to_string()
}

fn run_jobs(folder: &Folder, specs: &[&PathBuf]) -> common::Run {
    let mut args = vec!["run-jobs"];
    args.extend(specs.iter().map(|s| s.to_str().unwrap()));
    folder.render_within(&args, Duration::from_secs(300))
}

#[test]
fn a_batch_of_same_model_clips_loads_the_model_once() {
    let folder = modelled(8);
    let plan = folder.render(&["plan", "--write-jobs", "jobs"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let mut specs: Vec<PathBuf> = std::fs::read_dir(folder.file("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    specs.sort();
    let is = |kind: &str| {
        let kind = format!("{kind} ");
        move |s: &&PathBuf| name(s).starts_with(&kind)
    };
    let first: Vec<&PathBuf> = (specs.iter())
        .filter(|s| !is("clip")(s) && !is("scene")(s))
        .collect();
    let clips: Vec<&PathBuf> = specs.iter().filter(is("clip")).collect();
    let scene: Vec<&PathBuf> = specs.iter().filter(is("scene")).collect();
    assert_eq!((clips.len(), scene.len()), (8, 1));

    let run = run_jobs(&folder, &first);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = run_jobs(&folder, &clips);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let made: Vec<&str> = (run.stderr.lines())
        .filter(|l| l.starts_with("made clip p/talk:"))
        .collect();
    assert_eq!(made.len(), 8, "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().last(),
        Some("render: batch of 8: 0 failed; 1 model load"),
        "{}",
        run.stderr
    );
    // Again: every object is there, nothing loads.
    let again = run_jobs(&folder, &clips);
    assert_eq!(
        again.stderr.lines().last(),
        Some("render: batch of 8: 0 failed; 0 model loads")
    );
    let run = run_jobs(&folder, &scene);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The build finds everything made.
    let build = folder.build();
    assert!(build.made().is_empty(), "{:?}", build.made());
    assert_eq!(folder.verify_cache(), specs.len());
}

#[test]
fn a_failed_job_does_not_stop_its_batch_and_fails_it() {
    let folder = modelled(2);
    let plan = folder.render(&["plan", "--write-jobs", "jobs"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let mut specs: Vec<PathBuf> = std::fs::read_dir(folder.file("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    specs.sort();
    // Everything at once in the spec order, but the scene first: its inputs are missing.
    // Two models load: the face landmark model (the face track) and the lip-sync model.
    let (scene, rest) = specs.split_last().unwrap();
    let mut batch: Vec<&PathBuf> = vec![scene];
    batch.extend(rest);
    let run = run_jobs(&folder, &batch);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("scene p/talk: its input `line0001.clip` is not in the cache"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().last(),
        Some(format!("render: batch of {}: 1 failed; 2 model loads", batch.len()).as_str()),
        "{}",
        run.stderr
    );
    assert_eq!(folder.records().len(), specs.len() - 1);
}
