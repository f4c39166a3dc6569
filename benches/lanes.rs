//! Lanes: how close the GPU jobs of a build come to total job time / lanes. A folder of
//! `LANES_CLIPS` clips (default 24, as in the acceptance), a third each through the two TorchScript fixture models
//! and a `gpu = true` fake program that costs `LANES_COST` seconds a job (default 1.0), is
//! built on 1, 2, 3 and 4 CPU lanes (`LANES_COUNTS`, e.g. "1,2"). From each build's lane
//! record: the makespan (the first call's start to the last call's end), the ideal (the
//! calls' total time / lanes), their ratio, each lane's idle time in that span, and the
//! model loads; and the lead (the first call's start from the lanes' start, which the
//! makespan leaves out: the CPU preparing the first calls, the first model's load) and the
//! ratio with it (`+lead`: the lanes' whole span against the ideal). The ideal leaves out
//! the model loads, which are work too: a build on any number of lanes loads each model
//! once at least. So `load s` sums each model's shortest load (a load runs from its lane's
//! start, or its last call's end, to the `load` event), and `work` is the lanes' whole span
//! against (calls + those loads) / lanes: what a schedule that waits for its loads cannot
//! beat (a load beside a program's call is hidden). The speech and face tracks are made
//! first, so the timed builds make clips (and their scenes) only. Two timed builds per lane
//! count: `first`, the folder's first build of its clips (no history: the lanes decide as
//! calls end), and `again`, after every line's text is edited (every clip made again), with
//! the first build's history, from which the lanes are planned by work (`lane_plan`).
//! Run: `cargo bench --bench lanes` (`LANES_TIMELINE=1` also prints each build's lane
//! record).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let clips: usize = env_or("LANES_CLIPS", 24);
    let cost: f64 = env_or("LANES_COST", 1.0);
    let counts: Vec<usize> = std::env::var("LANES_COUNTS")
        .unwrap_or_else(|_| "1,2,3,4".into())
        .split(',')
        .map(|n| n.trim().parse().expect("LANES_COUNTS: numbers"))
        .collect();
    let render = PathBuf::from(env!("CARGO_BIN_EXE_render"));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    common::use_repo_models(repo);
    let tmp = tempfile::Builder::new()
        .prefix("render-lanes-")
        .tempdir()
        .expect("temp dir");

    println!(
        "lanes: {clips} clips (a third each: tiny-lipsync, slow-lipsync, a gpu program of {cost} s)"
    );
    println!(
        "{:>5} {:>7} {:>10} {:>10} {:>6} {:>6} {:>6} {:>7} {:>6} {:>6}  idle per lane (s)",
        "lanes",
        "build",
        "makespan s",
        "ideal s",
        "ratio",
        "loads",
        "lead s",
        "+lead",
        "load s",
        "work"
    );
    for lanes in counts {
        let dir = tmp.path().join(format!("lanes-{lanes}"));
        generate(&dir, repo, clips, cost, lanes);
        timed(&render, &dir, lanes, clips, "first");
        // A night's rebuild: every line's text edited (every clip is made again: its speech
        // differs), with the history of the first build.
        lines(&dir, clips, "again");
        prepare(&dir, lanes);
        timed(&render, &dir, lanes, clips, "again");
    }
}

/// Builds `dir` on `lanes` lanes and prints its row from the lane record.
fn timed(render: &Path, dir: &Path, lanes: usize, clips: usize, build: &str) {
    let json = dir.join("report.json");
    common::build_in(render, dir, &["--json".as_ref(), json.as_os_str()]);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let events = report["gpu_lane"].as_array().expect("a lane record");
    let mut open: BTreeMap<String, f64> = BTreeMap::new();
    let mut busy: BTreeMap<u64, f64> = BTreeMap::new();
    let (mut first, mut last, mut total, mut loads, mut calls) = (f64::MAX, 0.0f64, 0.0, 0, 0);
    // Per lane, when its last call ended (a load after it begins then); per model, its
    // shortest load.
    let mut free_since: BTreeMap<u64, f64> = BTreeMap::new();
    let mut shortest: BTreeMap<String, f64> = BTreeMap::new();
    if std::env::var_os("LANES_TIMELINE").is_some() {
        for e in events {
            println!(
                "  {:>7.2} lane {} {:<11} {:<13} {}",
                e["seconds"].as_f64().unwrap(),
                e["lane"],
                e["event"].as_str().unwrap(),
                e["model"].as_str().unwrap(),
                e["artifact"].as_str().unwrap_or("")
            );
        }
    }
    for e in events {
        let lane = e["lane"].as_u64().unwrap();
        let at = e["seconds"].as_f64().unwrap();
        let artifact = e["artifact"].as_str().unwrap_or("").to_string();
        if e["event"] == "end" || e["event"] == "unload" {
            free_since.insert(lane, at);
        }
        if !artifact.starts_with("clip ") {
            if e["event"] == "load" && e["model"] != "facemesh" {
                loads += 1;
                let took = at - free_since.get(&lane).copied().unwrap_or(0.0);
                let model = e["model"].as_str().unwrap().to_string();
                let best = shortest.entry(model).or_insert(took);
                *best = best.min(took);
            }
            continue;
        }
        match e["event"].as_str().unwrap() {
            "start" => {
                first = first.min(at);
                open.insert(artifact, at);
            }
            "end" => {
                let start = open.remove(&artifact).expect("an end after its start");
                last = last.max(at);
                total += at - start;
                calls += 1;
                *busy.entry(lane).or_default() += at - start;
            }
            _ => {}
        }
    }
    assert_eq!(calls, clips, "every clip ran on a lane");
    let makespan = last - first;
    let ideal = total / lanes as f64;
    let idle: Vec<String> = (0..lanes as u64)
        .map(|l| format!("{:.1}", makespan - busy.get(&l).copied().unwrap_or(0.0)))
        .collect();
    let load: f64 = shortest.values().sum();
    println!(
        "{lanes:>5} {build:>7} {makespan:>10.2} {ideal:>10.2} {:>5.2}× {loads:>6} {first:>6.2} {:>6.2}× {load:>6.2} {:>5.2}×  {}",
        makespan / ideal,
        (first + makespan) / ideal,
        (first + makespan) / ((total + load) / lanes as f64),
        idle.join(" ")
    );
}

/// The folder: three avatars, one per lip-sync engine, and `clips` lines spread over scenes
/// of 4 lines, each scene on one avatar; the speech and face tracks made first (`prepare`).
fn generate(dir: &Path, repo: &Path, clips: usize, cost: f64, lanes: usize) {
    std::fs::create_dir_all(dir.join("avatars")).unwrap();
    for name in ["a", "b", "c"] {
        std::fs::copy(
            repo.join("avatars/astronaut.png"),
            dir.join(format!("avatars/{name}.png")),
        )
        .unwrap();
    }
    let fixtures = Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("tools/export/fixtures.py"))
        .arg("--out")
        .arg(dir.join("models"))
        .output()
        .expect("the fixture exporter runs");
    assert!(
        fixtures.status.success(),
        "{}",
        String::from_utf8_lossy(&fixtures.stderr)
    );
    let program = dir.join("talker");
    std::fs::write(
        &program,
        format!(
            r#"#!/usr/bin/env python3
import subprocess, sys, time, wave
audio, image, out, fps = sys.argv[1:5]
time.sleep({cost})
w = wave.open(audio)
length = w.getnframes() / w.getframerate()
subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", image, "-t", "%.3f" % length,
                "-r", fps, "-vf", "scale=64:64", "-pix_fmt", "yuv420p", out], check=True)
"#
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    lines(dir, clips, "");
    prepare(dir, lanes);
}

/// The project: `clips` lines in scenes of 4, each scene on one avatar (a, b, c in turn);
/// `edit` is added to every line's text.
fn lines(dir: &Path, clips: usize, edit: &str) {
    let mut project = String::new();
    for scene in 0..clips.div_ceil(4) {
        let avatar = ["a", "b", "c"][scene % 3];
        let lines: Vec<String> = (0..4.min(clips - scene * 4))
            .map(|n| format!("\"Line {n} of scene {scene}{edit}.\""))
            .collect();
        project += &format!(
            "[[scene]]\nname = \"s{scene}\"\navatar = \"{avatar}\"\nlines = [{}]\n\n",
            lines.join(", ")
        );
    }
    std::fs::create_dir_all(dir.join("projects/bench")).unwrap();
    std::fs::write(dir.join("projects/bench/project.toml"), project).unwrap();
}

/// Makes the lines' speech and face tracks (and builtin clips, not timed) with the builtin
/// lip-sync, then declares the two models and the program on `lanes` lanes.
fn prepare(dir: &Path, lanes: usize) {
    let renderfile = |lipsync: [&str; 3]| {
        format!(
            "[render]\ndevice = \"cpu\"\nlanes = {lanes}\n\n[defaults]\nfps = 5\nsize = [64, 64]\npause = 0.1\nvoice = \"bob\"\n\n\
             [voices.bob]\nengine = \"espeak\"\n\n\
             [avatars.a]\nimage = \"avatars/a.png\"\nlipsync = \"{}\"\n\n\
             [avatars.b]\nimage = \"avatars/b.png\"\nlipsync = \"{}\"\n\n\
             [avatars.c]\nimage = \"avatars/c.png\"\nlipsync = \"{}\"\n\n\
             [engines.talker]\nstage = \"lipsync\"\nprogram = \"./talker\"\n\
             args = [\"{{audio}}\", \"{{image}}\", \"{{out}}\", \"{{fps}}\"]\ngpu = true\n",
            lipsync[0], lipsync[1], lipsync[2]
        )
    };
    std::fs::write(dir.join("Renderfile.toml"), renderfile(["builtin"; 3])).unwrap();
    common::build_in(Path::new(env!("CARGO_BIN_EXE_render")), dir, &[]);
    std::fs::write(
        dir.join("Renderfile.toml"),
        renderfile(["tiny-lipsync", "slow-lipsync", "talker"]),
    )
    .unwrap();
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
