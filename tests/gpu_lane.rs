//! The GPU lane with TorchScript lip-sync models, on whatever device libtorch has (the CPU
//! in CI): jobs never overlap, each model is loaded once per build, and a model's mistakes
//! are reported naming the model. Fixture models are made by tools/export/fixtures.py with
//! the project venv's torch.

mod common;

use common::{add_fixture_models, repo, Folder};
use std::process::Command;
use std::time::Duration;

fn python() -> String {
    repo().join(".venv/bin/python").to_string_lossy().into()
}

/// The demo with its avatars (every one) using `model`.
fn demo_with_model(model: &str) -> Folder {
    let folder = Folder::small_demo();
    add_fixture_models(&folder);
    let renderfile = folder.read("Renderfile.toml");
    assert!(renderfile.contains("lipsync = \"builtin\""));
    folder.write(
        "Renderfile.toml",
        &renderfile.replace("lipsync = \"builtin\"", &format!("lipsync = \"{model}\"")),
    );
    folder
}

/// One entry of the lane's record in --json.
struct LaneEntry {
    seconds: f64,
    event: String,
    model: String,
    artifact: Option<String>,
}

fn lane_record(folder: &Folder) -> Vec<LaneEntry> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.file("report.json")).unwrap()).unwrap();
    json["gpu_lane"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| LaneEntry {
            seconds: e["seconds"].as_f64().unwrap(),
            event: e["event"].as_str().unwrap().to_string(),
            model: e["model"].as_str().unwrap().to_string(),
            artifact: e["artifact"].as_str().map(str::to_string),
        })
        .collect()
}

/// The lane's record with timestamps: (seconds, event, model).
fn lane_times(folder: &Folder) -> Vec<(f64, String, String)> {
    lane_record(folder)
        .into_iter()
        .map(|e| (e.seconds, e.event, e.model))
        .collect()
}

/// The demo on `tiny-lipsync`, plus a scene whose avatar uses the built-in engine.
fn demo_with_model_and_a_builtin_scene() -> Folder {
    let folder = demo_with_model("tiny-lipsync");
    std::fs::copy(
        folder.file("avatars/astronaut.png"),
        folder.file("avatars/plain.png"),
    )
    .unwrap();
    let renderfile = folder.read("Renderfile.toml")
        + "\n[avatars.plain]\nimage = \"avatars/plain.png\"\nlipsync = \"builtin\"\n";
    folder.write("Renderfile.toml", &renderfile);
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"modelled\"\nlines = [\"Through the model.\", \"Twice.\"]\n\n\
         [[scene]]\nname = \"plain\"\navatar = \"plain\"\nlines = [\"No model here.\"]\n",
    );
    folder
}

#[test]
fn a_worker_that_panics_while_loading_fails_its_models_jobs_and_the_rest_completes() {
    let folder = demo_with_model_and_a_builtin_scene();
    let run = folder.render_with_env(
        &["build", "--keep-going"],
        &[("RENDER_WORKER_FAULT", "panic-on-load:tiny-lipsync")],
        Duration::from_secs(300),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("model `tiny-lipsync`: its worker stopped while loading (exit status: 101)"),
        "{}",
        run.stderr
    );
    // The worker's own last words (the panic) are shown.
    assert!(
        run.stderr
            .contains("injected fault while loading model `tiny-lipsync` (RENDER_WORKER_FAULT)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.with_status("failed"),
        ["clip demo/modelled:1", "clip demo/modelled:2"]
    );
    assert_eq!(run.with_status("skipped"), ["scene demo/modelled"]);
    assert!(run.made().contains(&"scene demo/plain".to_string()));
    assert_eq!(
        folder.out_files(),
        common::published(&["out/demo/plain.mp4"])
    );
    // The failure came at once, not after a hang (a loaded 2-core machine takes seconds
    // to start a worker that links libtorch).
    let events = lane_times(&folder);
    let failed = events
        .iter()
        .find(|(_, event, _)| event == "load-failed")
        .unwrap_or_else(|| panic!("no load-failed event: {events:?}"));
    assert!(failed.0 < 60.0, "{events:?}");
    // Only the face tracks' landmark model loaded.
    let loads: Vec<_> = events.iter().filter(|e| e.1 == "load").collect();
    assert!(loads.iter().all(|e| e.2 == "facemesh"), "{events:?}");
    folder.verify_cache();
    assert_eq!(
        common::files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new()
    );
}

#[test]
fn a_model_file_that_is_not_torchscript_fails_naming_the_model() {
    let folder = demo_with_model_and_a_builtin_scene();
    std::fs::write(
        folder.file("models/tiny-lipsync/tiny-lipsync.pt"),
        b"PK\x03\x04 this is not a TorchScript archive",
    )
    .unwrap();
    // The pin would refuse the file before any worker starts; drop it to reach the load.
    let toml = folder.read("models/tiny-lipsync/model.toml");
    let unpinned: String = toml
        .lines()
        .filter(|l| !l.starts_with("blake3"))
        .map(|l| format!("{l}\n"))
        .collect();
    folder.write("models/tiny-lipsync/model.toml", &unpinned);
    let run = folder.render(&["build", "--keep-going"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let needle = "model `tiny-lipsync`: cannot load ";
    assert!(run.stderr.contains(needle), "{}", run.stderr);
    assert!(
        run.stderr.contains("tiny-lipsync.pt as TorchScript"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(
        folder.out_files(),
        common::published(&["out/demo/plain.mp4"])
    );
}

fn lane_events(folder: &Folder) -> Vec<(String, String, Option<String>)> {
    lane_record(folder)
        .into_iter()
        .map(|e| (e.event, e.model, e.artifact))
        .collect()
}

#[test]
fn lane_jobs_never_overlap_and_each_model_loads_once() {
    let folder = demo_with_model("tiny-lipsync");
    // A second avatar on a second model, used by a scene between two scenes of the first:
    // a lane that took jobs first come, first served would load tiny-lipsync twice.
    std::fs::copy(
        folder.file("avatars/astronaut.png"),
        folder.file("avatars/twin.png"),
    )
    .unwrap();
    let renderfile = folder.read("Renderfile.toml")
        + "\n[avatars.twin]\nimage = \"avatars/twin.png\"\nlipsync = \"slow-lipsync\"\n";
    folder.write("Renderfile.toml", &renderfile);
    let project = folder.read("projects/demo/project.toml")
        + "\n[[scene]]\nname = \"twin\"\navatar = \"twin\"\nlines = [\"One from the twin.\", \"And another.\", \"And a third.\"]\n\
           \n[[scene]]\nname = \"zcoda\"\nlines = [\"Back to the first model.\", \"Still the first.\"]\n";
    folder.write("projects/demo/project.toml", &project);

    let run = folder.render(&["build", "--jobs", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = lane_events(&folder);

    let mut busy = None;
    let mut loaded: Option<String> = None;
    let mut loads: Vec<String> = Vec::new();
    let mut jobs = 0;
    for (event, model, artifact) in &events {
        match event.as_str() {
            "load" => {
                assert!(
                    busy.is_none() && loaded.is_none(),
                    "load while busy or loaded: {events:?}"
                );
                loaded = Some(model.clone());
                loads.push(model.clone());
            }
            "unload" => {
                assert!(busy.is_none() && loaded.as_ref() == Some(model));
                loaded = None;
            }
            "start" => {
                assert!(busy.is_none(), "two GPU jobs overlap: {events:?}");
                assert_eq!(loaded.as_ref(), Some(model));
                busy = artifact.clone();
                jobs += 1;
            }
            "end" => {
                assert_eq!(&busy, artifact);
                busy = None;
            }
            other => panic!("unknown lane event {other}"),
        }
    }
    assert!(loaded.is_none(), "the last model is unloaded");
    loads.sort();
    // The face tracks' landmark model first (clips need their tracks), then each lip-sync
    // model once.
    assert_eq!(
        loads,
        ["facemesh", "slow-lipsync", "tiny-lipsync"],
        "{events:?}"
    );
    // 9 demo lines + 3 twin lines + 2 coda lines, each a clip on the lane, and the face
    // tracks of the demo's avatars and the twin.
    let tracks = run
        .made()
        .iter()
        .filter(|n| n.starts_with("face-track "))
        .count();
    assert_eq!(jobs, 14 + tracks);
    assert_eq!(
        run.made().iter().filter(|n| n.starts_with("clip ")).count(),
        14
    );
    // The report draws the same record: a bar per call, each model's load and unload marked.
    let html = folder.read("out/report.html");
    assert_eq!(html.matches("<rect class=\"call\"").count(), 14 + tracks);
    assert_eq!(html.matches("class=\"mark load\"").count(), 3);
    assert_eq!(html.matches("class=\"mark unload\"").count(), 3);
}

#[test]
fn model_clips_record_device_precision_and_batch() {
    let folder = demo_with_model("tiny-lipsync");
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    if !tch::Cuda::is_available() {
        assert!(run
            .stderr
            .contains("render: no CUDA device found; models run on the CPU in FP32\n"));
    }
    let mut clips = 0;
    for (_, record) in folder.records() {
        if record["spec"]["kind"] == "clip" {
            clips += 1;
            let cuda = tch::Cuda::is_available();
            assert_eq!(record["device"], if cuda { "cuda:0" } else { "cpu" });
            assert_eq!(record["precision"], if cuda { "fp16" } else { "fp32" });
            assert_eq!(record["spec"]["precision"], record["precision"]);
            assert_eq!(record["batch_size"], 4);
            assert_eq!(
                record["spec"]["sources"]["model"]["path"],
                "models/tiny-lipsync/tiny-lipsync.pt"
            );
        }
    }
    assert_eq!(clips, 9);

    // Going back to the built-in engine re-makes the clips and says why.
    folder.edit(
        "Renderfile.toml",
        "lipsync = \"tiny-lipsync\"",
        "lipsync = \"builtin\"",
    );
    let plan = folder.render(&["plan"]);
    assert!(
        plan.stdout
            .contains("clip demo/welcome:1: engine changed: tiny-lipsync → builtin\n"),
        "{}",
        plan.stdout
    );
}

#[test]
fn a_model_that_breaks_the_contract_fails_naming_the_model() {
    let folder = demo_with_model("bad-shape");
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("model `bad-shape` broke the wav2lip contract: expected output [4, 3, 96, 96], got [4, 3, 48, 48]"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));
    assert_eq!(folder.out_files(), ["out/report.html"]);
    folder.verify_cache();
    assert_eq!(
        common::files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new()
    );
}

#[test]
fn a_missing_model_file_is_a_configuration_error() {
    let folder = demo_with_model("tiny-lipsync");
    folder.edit(
        "models/tiny-lipsync/model.toml",
        "file = \"tiny-lipsync.pt\"",
        "file = \"gone.pt\"",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("  × model file `models/tiny-lipsync/gone.pt` not found\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("[models/tiny-lipsync/model.toml:4:8]"),
        "{}",
        run.stderr
    );
}

#[test]
fn weights_that_do_not_match_their_pin_are_refused() {
    let folder = demo_with_model("tiny-lipsync");
    let weights = folder.file("models/tiny-lipsync/tiny-lipsync.pt");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&weights, bytes).unwrap();
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "model `tiny-lipsync`: `models/tiny-lipsync/tiny-lipsync.pt` does not match the blake3 pinned in `models/tiny-lipsync/model.toml`"
        ),
        "{}",
        run.stderr
    );
    assert!(!folder.file("out").exists());
}

#[test]
fn cuda_asked_for_without_cuda_is_an_error() {
    if tch::Cuda::is_available() {
        return;
    }
    let folder = demo_with_model("tiny-lipsync");
    folder.edit(
        "Renderfile.toml",
        "device = \"auto\"",
        "device = \"cuda:0\"",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("  × device `cuda:0` was asked for but CUDA is not available\n"),
        "{}",
        run.stderr
    );
    // At its key in Renderfile.toml, with the fix.
    run.assert_lines(&[
        &folder.location("Renderfile.toml", "\"cuda:0\""),
        "help: set `device = \"auto\"` (CUDA when present, else the CPU) or `device = \"cpu\"` in [render]",
    ]);
}

#[test]
fn the_real_wav2lip_architecture_renders_a_scene() {
    let folder = Folder::small_demo();
    let export = Command::new(python())
        .arg(repo().join("tools/export/wav2lip.py"))
        .args(["--random-weights", "--batch-size", "16", "--out"])
        .arg(folder.file("models/wav2lip"))
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    // Both faces of the demo on the model.
    let renderfile = folder.read("Renderfile.toml");
    folder.write(
        "Renderfile.toml",
        &renderfile.replace("lipsync = \"builtin\"", "lipsync = \"wav2lip\""),
    );
    // One short scene keeps this quick on a CPU.
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"short\"\nlines = [\"Hello there.\", { text = \"Hi.\", voice = \"guest\" }]\n",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        folder.out_files(),
        common::published(&["out/demo/short.mp4"])
    );
    let (video, audio, video_s, audio_s) = common::probe(&folder.file("out/demo/short.mp4"));
    assert_eq!((video.as_str(), audio.as_str()), ("h264", "aac"));
    assert!((video_s - audio_s).abs() <= 0.040);
    let events = lane_events(&folder);
    // The landmark model for the face track, then wav2lip for the two clips.
    let loads: Vec<_> = events.iter().filter(|e| e.0 == "load").collect();
    assert_eq!(loads.len(), 2, "{events:?}");
    assert_eq!(loads[0].1, "facemesh", "{events:?}");
    let clips = events
        .iter()
        .filter(|e| e.0 == "start" && e.1 != "facemesh");
    assert_eq!(clips.count(), 2);
}

#[test]
fn bench_runs_through_the_worker_and_compares_with_python() {
    let folder = Folder::small_demo();
    add_fixture_models(&folder);
    let run = folder.render(&[
        "bench",
        "models/tiny-lipsync",
        "--frames",
        "32",
        "--device",
        "cpu",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "lip-sync bench: model `tiny-lipsync` (models/tiny-lipsync/tiny-lipsync.pt), 32 frames, batch 4, cpu fp32"
    );
    assert!(
        lines[1].starts_with("render (tch)     model "),
        "{}",
        run.stdout
    );
    assert!(lines[1].ends_with("frames/s  (batch 4)"), "{}", run.stdout);
    assert!(
        lines.iter().any(|l| l.starts_with("ratio render/python  ")),
        "{}",
        run.stdout
    );
    // A folder that is not a model is refused with the layout it expects.
    let run = folder.render(&["bench", "avatars"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("model"), "{}", run.stderr);
}

#[test]
fn a_worker_that_dies_during_a_call_fails_its_models_clips_at_once() {
    let folder = demo_with_model_and_a_builtin_scene();
    // The lip-sync model's worker loads, then crashes on the first call it gets; the
    // face tracks' landmark model runs in the real worker.
    let starts = folder.file("worker-starts");
    let fake = folder.file("fake-worker");
    let real = std::path::Path::new(common::bin()).with_file_name("render-worker");
    common::write_program(
        &fake,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *tiny-lipsync*) ;; *) exec '{}' \"$@\" ;; esac\n\
             echo started >> '{}'\n\
             echo '{{\"ready\":{{\"device\":\"cpu\",\"precision\":\"fp32\",\"seconds\":0}}}}'\n\
             read call\necho 'cuda kernel fault' >&2\nkill -SEGV $$\n",
            real.display(),
            starts.display()
        ),
    );
    let run = folder.render_with_env(
        &["build", "--keep-going"],
        &[("RENDER_WORKER", fake.to_str().unwrap())],
        Duration::from_secs(300),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "model `tiny-lipsync`: its worker stopped while running (signal: 11 (SIGSEGV))"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cuda kernel fault"), "{}", run.stderr);
    assert_eq!(
        run.with_status("failed"),
        ["clip demo/modelled:1", "clip demo/modelled:2"]
    );
    // The second clip failed with the first one's words, without a second crash.
    assert_eq!(folder.read("worker-starts"), "started\n");
    assert_eq!(
        folder.out_files(),
        common::published(&["out/demo/plain.mp4"])
    );
    assert_eq!(
        common::files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new()
    );
}
