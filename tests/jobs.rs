//! Jobs are data: `render plan --write-jobs` writes every stale artifact's job spec, and
//! `render run-job SPEC` — what a cluster executor would run on another machine — makes
//! exactly the objects an in-process build makes, byte for byte, for every kind of job
//! and every engine. A build with no model jobs (an edit after the face tracks are made)
//! never starts a worker.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{add_fixture_models, tone_wav, Folder};

/// key → (kind, engine, outputs as recorded: file, bytes, blake3) for every object.
fn objects(folder: &Folder) -> BTreeMap<String, (String, String, serde_json::Value)> {
    let mut objects = BTreeMap::new();
    for (_, record) in folder.records() {
        objects.insert(
            record["key"].as_str().unwrap().to_string(),
            (
                record["spec"]["kind"].as_str().unwrap().to_string(),
                record["spec"]["engine"].as_str().unwrap().to_string(),
                record["outputs"].clone(),
            ),
        );
    }
    objects
}

/// A small folder with every engine: espeak-ng and a recording for speech, rustface, the
/// built-in mouth and a TorchScript model for clips, ffmpeg for scenes.
fn every_engine() -> Folder {
    let folder = Folder::small_demo();
    add_fixture_models(&folder);
    std::fs::copy(
        folder.file("avatars/astronaut.png"),
        folder.file("avatars/modelled.png"),
    )
    .unwrap();
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    std::fs::write(folder.file("assets/hello.wav"), tone_wav(22_050, 0.6)).unwrap();
    let renderfile = folder.read("Renderfile.toml")
        + "\n[avatars.modelled]\nimage = \"avatars/modelled.png\"\nlipsync = \"tiny-lipsync\"\n";
    folder.write("Renderfile.toml", &renderfile);
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"spoken\"\nlines = [{ text = \"Hello from espeak.\", voice = \"guest\" }, { audio = \"assets/hello.wav\" }]\n\n\
         [[scene]]\nname = \"modelled\"\navatar = \"modelled\"\nlines = [{ text = \"Through the model.\", voice = \"guest\", avatar = \"modelled\" }]\n",
    );
    folder
}

#[test]
fn run_job_makes_the_same_objects_as_a_build() {
    let folder = every_engine();
    folder.build();
    let built = objects(&folder);
    let engines: std::collections::BTreeSet<(&str, &str)> = built
        .values()
        .map(|(kind, engine, _)| (kind.as_str(), engine.as_str()))
        .collect();
    assert_eq!(
        engines.into_iter().collect::<Vec<_>>(),
        [
            ("captions", "captions"),
            ("clip", "builtin"),
            ("clip", "tiny-lipsync"),
            ("face-track", "rustface"),
            ("scene", "ffmpeg"),
            ("speech", "espeak-ng"),
            ("speech", "import"),
        ]
    );

    // Start again from nothing and make every object from its spec file alone.
    let clean = folder.render(&["clean"]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    let plan = folder.render(&["plan", "--write-jobs", "jobs"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let mut specs: Vec<_> = std::fs::read_dir(folder.file("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    specs.sort();
    assert_eq!(specs.len(), built.len(), "one spec per object");
    assert!(specs[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("0001-"));
    for spec in &specs {
        let spec = spec.to_str().unwrap();
        let run = folder.render_within(&["run-job", spec], Duration::from_secs(300));
        assert_eq!(run.code, 0, "run-job {spec}: {}", run.stderr);
        assert!(run.stderr.starts_with("made "), "{}", run.stderr);
    }
    assert_eq!(objects(&folder), built);
    folder.verify_cache();

    // A job already in the cache is not made again; the build then has nothing to make.
    let again = folder.render(&["run-job", specs[0].to_str().unwrap()]);
    assert_eq!(again.code, 0);
    assert!(
        again.stderr.ends_with("is already in the cache\n"),
        "{}",
        again.stderr
    );
    let build = folder.build();
    assert!(build.made().is_empty(), "{:?}", build.made());
}

#[test]
fn run_job_refuses_a_job_whose_inputs_are_missing_or_a_spec_that_lies() {
    let folder = Folder::small_demo();
    let plan = folder.render(&["plan", "--write-jobs", "jobs"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let scene = std::fs::read_dir(folder.file("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-scene.json"))
        .unwrap();
    let run = folder.render(&["run-job", scene.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("its input `line0001.clip` is not in the cache"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("run that job first"), "{}", run.stderr);

    // A spec whose parameters were edited no longer matches its key.
    let text = std::fs::read_to_string(&scene).unwrap();
    std::fs::write(
        &scene,
        text.replacen("\"fps\": \"25\"", "\"fps\": \"24\"", 1),
    )
    .unwrap();
    let run = folder.render(&["run-job", scene.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("is not a valid job spec: its key does not match its key spec"),
        "{}",
        run.stderr
    );
}

/// Face tracks run the landmark model, so the demo's first build starts a worker; an edit
/// that re-makes only speech, clips and scenes (built-in lip-sync) has no model job.
#[test]
fn a_build_without_model_jobs_never_starts_a_worker() {
    let folder = Folder::small_demo();
    folder.build();
    folder.edit(
        "projects/demo/project.toml",
        "So if I change one line, what happens?",
        "A line that was edited.",
    );
    // A worker that leaves a mark if anyone starts it.
    let mark = folder.file("worker-started");
    let script = folder.file("fake-worker");
    common::write_program(
        &script,
        &format!("#!/bin/sh\ntouch '{}'\nexit 1\n", mark.display()),
    );
    let run = folder.render_with_env(
        &["build"],
        &[("RENDER_WORKER", script.to_str().unwrap())],
        Duration::from_secs(600),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!mark.exists(), "a worker was started");
    assert!(
        run.made().iter().any(|n| n.starts_with("speech ")),
        "{:?}",
        run.made()
    );
    assert!(!run.made().iter().any(|n| n.starts_with("face-track ")));
    assert_eq!(
        folder.out_files(),
        common::published(&["out/demo/dialogue.mp4", "out/demo/welcome.mp4"])
    );
}
