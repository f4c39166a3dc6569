//! Face tracks with landmarks: the real binary runs MediaPipe's face landmark model (the
//! repository's `models/facemesh/`, exported by tools/setup) on the demo portraits, on the
//! GPU lane, and stores the 468 points in the track. The points are checked against
//! hand-checked positions (the exporter's tests, `tools/export/test_export.py`).

mod common;

use common::Folder;
use std::path::Path;

/// Hand-checked points in astronaut.png: eye corners 33/133/362/263, nose tip 1, inner
/// lips 13/14, mouth corners 61/291 (from tools/export/test_export.py).
const ASTRONAUT: &[(&[usize], (f32, f32))] = &[
    (&[33], (193.0, 101.0)),
    (&[133], (212.0, 102.5)),
    (&[362], (236.0, 103.0)),
    (&[263], (259.0, 103.0)),
    (&[1], (223.0, 128.0)),
    (&[13], (223.0, 142.0)),
    (&[14], (223.0, 150.0)),
    (&[61], (202.5, 140.0)),
    (&[291], (244.5, 141.5)),
];
/// camera.png is near profile: only what is visible, and a wider tolerance (as there).
const CAMERA: &[(&[usize], (f32, f32))] = &[
    (&[33, 133], (143.0, 146.5)),
    (&[1], (158.0, 166.0)),
    (&[61], (134.0, 180.5)),
    (&[13, 14], (146.0, 181.5)),
];

/// A folder whose one scene shows `avatars` (name → image file), one line each.
fn folder_with(avatars: &[(&str, &Path)]) -> Folder {
    let folder = Folder::with_portrait();
    let mut renderfile = String::from(
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [160, 90]\nfps = 10\n\
         background = \"#1b2030\"\nvoice = \"narrator\"\n\n[voices.narrator]\nlanguage = \"en-us\"\n",
    );
    renderfile = renderfile.replace(
        "voice = \"narrator\"\n",
        &format!("voice = \"narrator\"\navatar = \"{}\"\n", avatars[0].0),
    );
    let mut lines = Vec::new();
    for (name, image) in avatars {
        std::fs::copy(image, folder.file(&format!("avatars/{name}.png"))).unwrap();
        renderfile += &format!("\n[avatars.{name}]\nimage = \"avatars/{name}.png\"\n");
        lines.push(format!("{{ text = \"Hello.\", avatar = \"{name}\" }}"));
    }
    folder.write("Renderfile.toml", &renderfile);
    folder.write(
        "projects/p/project.toml",
        &format!("[[scene]]\nname = \"s\"\nlines = [{}]\n", lines.join(", ")),
    );
    folder
}

/// Each face track in the cache: (its record's name, its parsed track.json).
fn tracks(folder: &Folder) -> Vec<(String, serde_json::Value)> {
    (folder.records().into_iter())
        .filter(|(_, record)| record["name"].as_str().unwrap().starts_with("face-track "))
        .map(|(dir, record)| {
            let track = std::fs::read(dir.join("track.json")).unwrap();
            let name = record["name"].as_str().unwrap().to_string();
            (name, serde_json::from_slice(&track).unwrap())
        })
        .collect()
}

fn track(folder: &Folder, avatar: &str) -> serde_json::Value {
    let name = format!("face-track {avatar}");
    (tracks(folder).into_iter())
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
}

/// The largest distance, in pixels, of the first frame's landmarks from `points` (each
/// the mean of its indices), with `at` mapping hand-checked points into the image.
fn worst(
    track: &serde_json::Value,
    points: &[(&[usize], (f32, f32))],
    at: impl Fn((f32, f32)) -> (f32, f32),
) -> f32 {
    let frame = &track["landmarks"][0];
    assert!(frame["score"].as_f64().unwrap() > 0.9, "{}", frame["score"]);
    let landmarks = frame["points"].as_array().unwrap();
    assert_eq!(landmarks.len(), 468);
    let xy = |i: usize| {
        let p = landmarks[i].as_array().unwrap();
        (p[0].as_f64().unwrap() as f32, p[1].as_f64().unwrap() as f32)
    };
    let mut worst = 0f32;
    for (indices, want) in points {
        let n = indices.len() as f32;
        let x = indices.iter().map(|&i| xy(i).0).sum::<f32>() / n;
        let y = indices.iter().map(|&i| xy(i).1).sum::<f32>() / n;
        let (wx, wy) = at(*want);
        let d = (x - wx).hypot(y - wy);
        eprintln!(
            "landmarks {indices:?}: ({x:.1}, {y:.1}), hand-checked ({wx:.1}, {wy:.1}): {d:.1} px"
        );
        worst = worst.max(d);
    }
    worst
}

#[test]
fn the_demo_portraits_get_their_landmarks_on_the_lane_and_a_second_build_starts_no_worker() {
    let repo = common::repo();
    let folder = folder_with(&[
        ("astronaut", &repo.join("avatars/astronaut.png")),
        ("camera", &repo.join("avatars/camera.png")),
    ]);
    let run = folder.build();
    let astronaut = track(&folder, "astronaut");
    assert_eq!(
        astronaut["boxes"].as_array().unwrap().len(),
        1,
        "the box stays"
    );
    let worst_astronaut = worst(&astronaut, ASTRONAUT, |p| p);
    assert!(worst_astronaut <= 4.0, "astronaut: {worst_astronaut:.1} px");
    let worst_camera = worst(&track(&folder, "camera"), CAMERA, |p| p);
    assert!(worst_camera <= 8.0, "camera: {worst_camera:.1} px");

    // Both tracks ran in one facemesh worker on the lane.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.file("report.json")).unwrap()).unwrap();
    let lane = json["gpu_lane"].as_array().unwrap();
    let count = |event: &str| {
        lane.iter()
            .filter(|e| e["event"] == event && e["model"] == "facemesh")
            .count()
    };
    assert_eq!((count("load"), count("start")), (1, 2), "{lane:?}");
    assert!(run.made().contains(&"face-track camera".to_string()));

    // Nothing to make: no worker (one that would leave a mark).
    let mark = folder.file("worker-started");
    let script = folder.file("fake-worker");
    common::write_program(
        &script,
        &format!("#!/bin/sh\ntouch '{}'\nexit 1\n", mark.display()),
    );
    let again = folder.render_with_env(
        &["build"],
        &[("RENDER_WORKER", script.to_str().unwrap())],
        std::time::Duration::from_secs(120),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.made().is_empty(), "{:?}", again.made());
    assert!(!mark.exists(), "a no-op build started a worker");
}

/// The portrait rotated 20° (counter-clockwise on screen, about its centre): the second
/// pass levels the crop by the eyes, so the points still land on the eyes, nose and lips.
#[test]
fn a_tilted_portrait_still_gets_its_landmarks() {
    let tmp = tempfile::tempdir().unwrap();
    let tilted = tmp.path().join("tilted.png");
    let angle = 20f32.to_radians();
    let portrait = image::open(common::repo().join("avatars/astronaut.png"))
        .unwrap()
        .to_rgb8();
    let (w, h) = portrait.dimensions();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    // Where a source point lands once rotated.
    let turn = move |(x, y): (f32, f32)| {
        let (dx, dy) = (x - cx, y - cy);
        (
            cx + dx * angle.cos() + dy * angle.sin(),
            cy - dx * angle.sin() + dy * angle.cos(),
        )
    };
    // Each output pixel from its source pixel (nearest: exact enough for a test image).
    let rotated = image::RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        let sx = cx + dx * angle.cos() - dy * angle.sin();
        let sy = cy + dx * angle.sin() + dy * angle.cos();
        if sx >= 0.0 && sy >= 0.0 && (sx as u32) < w && (sy as u32) < h {
            *portrait.get_pixel(sx as u32, sy as u32)
        } else {
            image::Rgb([128, 128, 128])
        }
    });
    rotated.save(&tilted).unwrap();
    let folder = folder_with(&[("tilted", &tilted)]);
    folder.build();
    let worst = worst(&track(&folder, "tilted"), ASTRONAUT, turn);
    assert!(worst <= 4.0, "tilted: {worst:.1} px");
}

/// An installation without the model (a copy of the binary in a bare folder): a notice
/// with the fix, and face tracks with boxes only.
#[test]
fn without_the_model_face_tracks_hold_boxes_and_the_build_says_why() {
    let bare = tempfile::tempdir().unwrap();
    let render = bare.path().join("render");
    std::fs::copy(common::bin(), &render).unwrap();
    let repo = common::repo();
    let folder = folder_with(&[("astronaut", &repo.join("avatars/astronaut.png"))]);
    let output = common::output_of_copy(
        std::process::Command::new(&render)
            .arg("build")
            .current_dir(folder.path())
            .env_remove("RENDER_MODELS")
            .env("RENDER_WORKER", bare.path().join("no-worker")),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("no face landmark model found").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("./tools/setup"), "{stderr}");
    let track = track(&folder, "astronaut");
    assert!(track.get("landmarks").is_none(), "{track}");
    assert_eq!(track["boxes"].as_array().unwrap().len(), 1);
}
