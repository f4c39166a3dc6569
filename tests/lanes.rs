//! Lanes: GPU jobs spread over every lane of the machine, driven through the real binary.
//! Here lanes are CPU lanes (`lanes = N`) running the TorchScript fixture models and fake
//! `gpu = true` programs; a fake `nvidia-smi` (`RENDER_NVIDIA_SMI`) gives cards whose lanes
//! the programs are pinned to, and whose memory the lanes share.

mod common;

use common::{add_fixture_models, write_program, Folder};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One entry of the lanes' record in --json.
#[derive(Debug, Clone)]
struct Entry {
    seconds: f64,
    event: String,
    group: String,
    artifact: Option<String>,
    lane: u64,
    device: String,
}

fn lane_record(folder: &Folder) -> Vec<Entry> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.file("report.json")).unwrap()).unwrap();
    (json["gpu_lane"].as_array().unwrap().iter())
        .map(|e| Entry {
            seconds: e["seconds"].as_f64().unwrap(),
            event: e["event"].as_str().unwrap().to_string(),
            group: e["model"].as_str().unwrap().to_string(),
            artifact: e["artifact"].as_str().map(str::to_string),
            lane: e["lane"].as_u64().unwrap(),
            device: e["device"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// The calls in the record: (lane, group, artifact, start, end).
fn calls(record: &[Entry]) -> Vec<(u64, String, String, f64, f64)> {
    let mut open: BTreeMap<String, f64> = BTreeMap::new();
    let mut calls = Vec::new();
    for e in record {
        let artifact = e.artifact.clone().unwrap_or_default();
        match e.event.as_str() {
            "start" => {
                open.insert(artifact, e.seconds);
            }
            "end" => {
                let start = open.remove(&artifact).expect("an end after its start");
                calls.push((e.lane, e.group.clone(), artifact, start, e.seconds));
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "calls that never ended: {open:?}");
    calls
}

/// The most calls running at once, in all and on any one lane.
fn overlap(calls: &[(u64, String, String, f64, f64)]) -> (usize, usize) {
    let mut most = 0;
    let mut most_on_a_lane = 0;
    for (_, _, _, start, _) in calls {
        let at = |c: &&(u64, String, String, f64, f64)| c.3 <= *start && *start < c.4;
        let running: Vec<_> = calls.iter().filter(at).collect();
        most = most.max(running.len());
        let lanes: BTreeSet<u64> = running.iter().map(|c| c.0).collect();
        for lane in lanes {
            most_on_a_lane = most_on_a_lane.max(running.iter().filter(|c| c.0 == lane).count());
        }
    }
    (most, most_on_a_lane)
}

/// A `gpu = true` lip-sync program that takes `seconds`, writes a still clip as long as the
/// speech, and appends what it saw (its CUDA_VISIBLE_DEVICES and its output) to `seen.txt`
/// in the content folder.
fn talker(seconds: f64) -> String {
    format!(
        r#"#!/usr/bin/env python3
import os, subprocess, sys, time, wave
audio, image, out, fps, seen = sys.argv[1:6]
time.sleep({seconds})
w = wave.open(audio)
length = w.getnframes() / w.getframerate()
subprocess.run(["ffmpeg", "-v", "error", "-loop", "1", "-i", image, "-t", "%.3f" % length,
                "-r", fps, "-vf", "scale=64:64", "-pix_fmt", "yuv420p", out], check=True)
with open(seen, "a") as f:
    f.write("%s %s\n" % (os.environ.get("CUDA_VISIBLE_DEVICES", "-"), os.getcwd()))
"#
    )
}

/// `[engines.<name>]` for the talker at `./talker`, with extra keys.
fn talker_engine(folder: &Folder, name: &str, extra: &str) -> String {
    let seen = folder.file("seen.txt");
    format!(
        "\n[engines.{name}]\nstage = \"lipsync\"\nprogram = \"./talker\"\n\
         args = [\"{{audio}}\", \"{{image}}\", \"{{out}}\", \"{{fps}}\", \"{}\"]\ngpu = true\n{extra}\n",
        seen.display()
    )
}

/// A folder whose avatars each use one lip-sync engine: `avatars` (name, lipsync), each
/// with `lines` lines in a scene of its own.
fn folder(render: &str, engines: &str, avatars: &[(&str, &str)], lines: usize) -> Folder {
    let folder = Folder::with_portrait();
    let mut renderfile = format!(
        "[render]\n{render}\n\n[defaults]\nfps = 10\nsize = [160, 90]\npause = 0.2\nvoice = \"bob\"\n\n\
         [voices.bob]\nengine = \"espeak\"\n"
    );
    let mut project = String::new();
    for (i, (name, lipsync)) in avatars.iter().enumerate() {
        let image = format!("avatars/{name}.png");
        if !folder.file(&image).exists() {
            std::fs::copy(folder.file("avatars/astronaut.png"), folder.file(&image)).unwrap();
        }
        renderfile +=
            &format!("\n[avatars.{name}]\nimage = \"{image}\"\nlipsync = \"{lipsync}\"\n");
        let said: Vec<String> = (1..=lines)
            .map(|n| format!("\"Line {n} of scene {}.\"", i + 1))
            .collect();
        project += &format!(
            "[[scene]]\nname = \"s{}\"\navatar = \"{name}\"\nlines = [{}]\n\n",
            i + 1,
            said.join(", ")
        );
    }
    folder.write("Renderfile.toml", &(renderfile + engines));
    folder.write("projects/demo/project.toml", &project);
    folder
}

#[test]
fn three_lanes_run_two_models_and_a_program_side_by_side() {
    let folder = folder(
        "device = \"cpu\"\nlanes = 3",
        "",
        &[
            ("a", "tiny-lipsync"),
            ("b", "slow-lipsync"),
            ("c", "talker"),
        ],
        8,
    );
    folder.write(
        "Renderfile.toml",
        &(folder.read("Renderfile.toml") + &talker_engine(&folder, "talker", "")),
    );
    add_fixture_models(&folder);
    write_program(&folder.file("talker"), &talker(0.3));
    let run = folder.render_within(&["build", "--jobs", "2"], Duration::from_secs(900));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.made().iter().filter(|a| a.starts_with("clip ")).count(),
        24
    );

    three_lanes_kept(&folder);
    // The summary gives each lane's share.
    assert!(
        run.stderr.contains("GPU lanes: 3\n  lane 0 (cpu): "),
        "{}",
        run.stderr
    );
    // A rebuild with every line edited: the history's times plan the lanes by work
    // (`lane_plan`), and every guarantee holds as before.
    let project = folder.read("projects/demo/project.toml");
    folder.write(
        "projects/demo/project.toml",
        &project.replace("\"Line ", "\"Again, line "),
    );
    let run = folder.render_within(&["build", "--jobs", "2"], Duration::from_secs(900));
    assert_eq!(run.code, 0, "{}", run.stderr);
    three_lanes_kept(&folder);
    folder.verify_cache();
}

/// The last build's lane record: 24 clips on three lanes, never more than 3 calls at once
/// nor two on one lane, each model loaded at most once per lane.
fn three_lanes_kept(folder: &Folder) {
    let record = lane_record(folder);
    let calls = calls(&record);
    let clips: Vec<_> = calls.iter().filter(|c| c.2.starts_with("clip ")).collect();
    assert_eq!(clips.len(), 24, "{record:?}");
    let (most, most_on_a_lane) = overlap(&calls);
    assert!(most <= 3, "{most} calls at once: {record:?}");
    assert!(most >= 2, "the lanes never ran side by side: {record:?}");
    assert_eq!(
        most_on_a_lane, 1,
        "two calls at once on one lane: {record:?}"
    );
    // Each model loads at most once per lane.
    let mut loads: BTreeMap<(u64, String), usize> = BTreeMap::new();
    for e in record.iter().filter(|e| e.event == "load") {
        *loads.entry((e.lane, e.group.clone())).or_default() += 1;
    }
    assert!(loads.values().all(|&n| n == 1), "{loads:?}");
    let lanes: BTreeSet<u64> = record.iter().map(|e| e.lane).collect();
    assert_eq!(lanes, BTreeSet::from([0, 1, 2]), "{record:?}");
    assert!(record.iter().all(|e| e.device == "cpu"));
}

/// `render build --json` run by a copy of render in a bare folder (so without the face
/// landmark model, which would run on the fake card) with a fake `nvidia-smi` listing
/// `cards` (index, MiB). Returns the exit code and stderr.
fn build_on_fake_cards(folder: &Folder, cards: &str) -> (i32, String) {
    let bare = tempfile::tempdir().unwrap();
    let render = bare.path().join("render");
    std::fs::copy(common::bin(), &render).unwrap();
    let smi = fake_nvidia_smi(folder, cards);
    let output = common::output_of_copy(
        std::process::Command::new(&render)
            .args(["build", "--json"])
            .arg(folder.file("report.json"))
            .current_dir(folder.path())
            .env_remove("RENDER_MODELS")
            .env_remove("RENDER_ENGINES")
            .env("XDG_CONFIG_HOME", folder.file(".config"))
            .env("RENDER_NVIDIA_SMI", smi),
    );
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A fake `nvidia-smi` listing `cards` (index, MiB).
fn fake_nvidia_smi(folder: &Folder, cards: &str) -> String {
    let path = folder.file("nvidia-smi");
    write_program(&path, &format!("#!/bin/sh\nprintf '{cards}'\n"));
    path.to_string_lossy().into_owned()
}

#[test]
fn a_gpu_program_sees_only_its_lanes_card() {
    let folder = folder("device = \"auto\"", "", &[("a", "talker")], 6);
    folder.write(
        "Renderfile.toml",
        &(folder.read("Renderfile.toml") + &talker_engine(&folder, "talker", "")),
    );
    write_program(&folder.file("talker"), &talker(0.5));
    let (code, stderr) = build_on_fake_cards(&folder, "0, 81920\\n1, 81920\\n");
    assert_eq!(code, 0, "{stderr}");
    let record = lane_record(&folder);
    let calls = calls(&record);
    assert_eq!(calls.len(), 6, "{record:?}");
    let seen = folder.read("seen.txt");
    let visible: Vec<&str> = seen.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(visible.len(), 6, "{seen}");
    // Each program saw the card of the lane that ran it: as many on each card as calls.
    let mut cards = BTreeSet::new();
    for card in ["0", "1"] {
        let device = format!("cuda:{card}");
        let on_card = (calls.iter())
            .filter(|c| record.iter().any(|e| e.lane == c.0 && e.device == device))
            .count();
        assert_eq!(
            visible.iter().filter(|v| **v == card).count(),
            on_card,
            "{seen}"
        );
        if on_card > 0 {
            cards.insert(card);
        }
    }
    assert_eq!(
        cards,
        BTreeSet::from(["0", "1"]),
        "both cards had work: {record:?}"
    );
}

#[test]
fn lanes_on_one_card_share_its_memory() {
    let folder = folder(
        "device = \"auto\"\nlanes_per_gpu = 3",
        "",
        &[("a", "thirty"), ("b", "forty"), ("c", "forty2")],
        2,
    );
    let engines = talker_engine(&folder, "thirty", "vram = \"30G\"")
        + &talker_engine(&folder, "forty", "vram = \"40G\"")
        + &talker_engine(&folder, "forty2", "vram = \"40G\"");
    folder.write(
        "Renderfile.toml",
        &(folder.read("Renderfile.toml") + &engines),
    );
    write_program(&folder.file("talker"), &talker(1.0));
    let (code, stderr) = build_on_fake_cards(&folder, "0, 81920\\n");
    assert_eq!(code, 0, "{stderr}");
    let record = lane_record(&folder);
    let calls = calls(&record);
    assert_eq!(calls.len(), 6, "{record:?}");
    let need = |group: &str| if group == "thirty" { 30 } else { 40 };
    let mut together = false;
    for (_, group, _, start, _) in &calls {
        let running: Vec<_> = calls
            .iter()
            .filter(|c| c.3 <= *start && *start < c.4)
            .collect();
        let used: u32 = running.iter().map(|c| need(&c.1)).sum();
        assert!(
            used <= 80,
            "{used}G at once when {group} started: {record:?}"
        );
        together |= running.len() == 2;
    }
    assert!(together, "30G and 40G never ran together: {record:?}");

    // A declaration no card holds is refused at its key before any work.
    folder.edit("Renderfile.toml", "vram = \"30G\"", "vram = \"200G\"");
    folder.edit(
        "projects/demo/project.toml",
        "Line 1 of scene 1.",
        "Line one of scene 1.",
    );
    let (code, stderr) = build_on_fake_cards(&folder, "0, 81920\\n");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "`thirty` declares `vram` 200 GiB, more than any GPU here holds (the largest: 80 GiB)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&folder.location("Renderfile.toml", "\"200G\"")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("made speech"),
        "work was done first: {stderr}"
    );
}

#[test]
fn a_worker_that_dies_on_one_lane_fails_only_its_call() {
    let folder = folder(
        "device = \"cpu\"\nlanes = 2",
        "",
        &[("a", "tiny-lipsync"), ("b", "tiny-lipsync")],
        6,
    );
    add_fixture_models(&folder);
    let marker = folder.file("fault-claimed");
    let fault = format!("exit-on-call:tiny-lipsync:{}", marker.display());
    let run = folder.render_with_env(
        &["build", "--keep-going"],
        &[("RENDER_WORKER_FAULT", &fault)],
        Duration::from_secs(900),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let failed = run.with_status("failed");
    assert_eq!(failed.len(), 1, "{failed:?}\n{}", run.stderr);
    assert!(failed[0].starts_with("clip demo/"), "{failed:?}");
    assert!(
        run.stderr
            .contains("model `tiny-lipsync`: its worker stopped"),
        "{}",
        run.stderr
    );
    // Every other clip was made, on the lanes that were left.
    assert_eq!(
        run.made().iter().filter(|a| a.starts_with("clip ")).count(),
        11
    );
    assert_eq!(
        run.with_status("skipped").len(),
        1,
        "the failed clip's scene"
    );
    folder.verify_cache();
}

#[test]
fn one_lane_and_four_make_the_same_objects() {
    let make = |lanes: usize| {
        let folder = folder(
            &format!("device = \"cpu\"\nlanes = {lanes}"),
            "",
            &[("a", "tiny-lipsync"), ("b", "slow-lipsync")],
            3,
        );
        add_fixture_models(&folder);
        let run = folder.render_within(&["build"], Duration::from_secs(900));
        assert_eq!(run.code, 0, "{}", run.stderr);
        // Each object's files and their bytes (its record holds times and the lane's device).
        let mut objects = BTreeMap::new();
        for (dir, _) in folder.records() {
            for file in common::files_under(&dir, &dir) {
                if file != "record.json" {
                    let key = dir.file_name().unwrap().to_string_lossy().into_owned();
                    objects.insert(
                        format!("{key}/{file}"),
                        blake3::hash(&std::fs::read(dir.join(&file)).unwrap()),
                    );
                }
            }
        }
        objects
    };
    let one = make(1);
    let four = make(4);
    assert!(one.len() > 10, "{one:?}");
    assert_eq!(one, four);
}
