//! `render build` on the demo content folder, end to end: what gets made, what is reused,
//! and what a viewer would see and hear.

mod common;

use common::{ffmpeg, pearson, probe, published, Folder};
use std::os::unix::fs::MetadataExt;

const SCENES: [&str; 2] = ["out/demo/dialogue.mp4", "out/demo/welcome.mp4"];

/// Per-frame mouth movement and per-frame speech RMS of a scene. A scene may cut between
/// faces, so frames are first grouped by the face they show (a cut changes far more than a
/// mouth). In each group the mouth region is found from the video itself: the 0.5% of
/// pixels that change most over time. Movement is their mean distance from the group's
/// silent frames (the pauses between lines; the quietest frames if it has none).
fn movement_and_loudness(video: &std::path::Path, fps: usize) -> (Vec<f64>, Vec<f64>) {
    let path = video.to_str().unwrap();
    let (w, h) = (640usize, 360usize);
    let gray = ffmpeg(&[
        "-i",
        path,
        "-vf",
        &format!("scale={w}:{h}"),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        "-",
    ]);
    let frames: Vec<&[u8]> = gray.chunks_exact(w * h).collect();
    let pcm = ffmpeg(&[
        "-i", path, "-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-",
    ]);
    let samples: Vec<f64> = pcm
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f64 / 32768.0)
        .collect();
    let loudness: Vec<f64> = samples
        .chunks(48000 / fps)
        .map(|c| (c.iter().map(|s| s * s).sum::<f64>() / c.len() as f64).sqrt())
        .collect();
    let n = frames.len().min(loudness.len());
    let distance = |a: &[u8], b: &[u8]| {
        let sum: u64 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u64).sum();
        sum as f64 / a.len() as f64
    };
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in 0..n {
        match (groups.iter_mut()).find(|g| distance(frames[g[0]], frames[i]) < 12.0) {
            Some(group) => group.push(i),
            None => groups.push(vec![i]),
        }
    }
    assert!(
        (groups.iter()).any(|g| g.iter().any(|&i| loudness[i] < 1e-3)),
        "the scene has no pause"
    );

    let mut movement = vec![0.0; n];
    for group in &groups {
        let len = group.len() as f64;
        let mut spread: Vec<(f64, usize)> = (0..w * h)
            .map(|p| {
                let mean = group.iter().map(|&i| frames[i][p] as f64).sum::<f64>() / len;
                let var = (group.iter())
                    .map(|&i| (frames[i][p] as f64 - mean).powi(2))
                    .sum::<f64>()
                    / len;
                (var, p)
            })
            .collect();
        spread.sort_by(|a, b| b.0.total_cmp(&a.0));
        let region: Vec<usize> = spread[..w * h / 200].iter().map(|(_, p)| *p).collect();
        let mut silent: Vec<usize> = (group.iter().copied())
            .filter(|&i| loudness[i] < 1e-3)
            .collect();
        if silent.is_empty() {
            let mut quiet = group.clone();
            quiet.sort_by(|&a, &b| loudness[a].total_cmp(&loudness[b]));
            silent = quiet[..quiet.len().div_ceil(20)].to_vec();
        }
        let rest: Vec<f64> = (region.iter())
            .map(|&p| {
                silent.iter().map(|&i| frames[i][p] as f64).sum::<f64>() / silent.len() as f64
            })
            .collect();
        for &i in group {
            movement[i] = (region.iter().zip(&rest))
                .map(|(&p, r)| (frames[i][p] as f64 - r).abs())
                .sum::<f64>()
                / region.len() as f64;
        }
    }
    (movement, loudness[..n].to_vec())
}

#[test]
fn fresh_build_of_the_demo_renders_every_scene() {
    let folder = Folder::demo();
    let run = folder.build();
    assert_eq!(folder.out_files(), published(&SCENES));
    assert!(run.with_status("failed").is_empty());
    assert!(
        run.stderr.contains("render: made 24, reused 0, failed 0"),
        "{}",
        run.stderr
    );

    let mut best = f64::MIN;
    for scene in SCENES {
        let (video, audio, video_s, audio_s) = probe(&folder.file(scene));
        assert_eq!((video.as_str(), audio.as_str()), ("h264", "aac"));
        assert!(
            (video_s - audio_s).abs() <= 0.040,
            "{scene}: video {video_s} s, audio {audio_s} s"
        );
        let (movement, loudness) = movement_and_loudness(&folder.file(scene), 25);
        let r = pearson(&movement, &loudness);
        eprintln!("{scene}: mouth movement vs speech RMS r = {r:.3}");
        best = best.max(r);
    }
    assert!(
        best >= 0.5,
        "mouth movement does not follow the speech (best r = {best:.3})"
    );
    assert_eq!(folder.verify_cache(), 24);
}

#[test]
fn second_build_makes_nothing_and_leaves_out_untouched() {
    let folder = Folder::small_demo();
    folder.build();
    let stamp = |rel: &str| {
        let meta = std::fs::metadata(folder.file(rel)).unwrap();
        (meta.ino(), meta.mtime(), meta.mtime_nsec(), meta.len())
    };
    // Every video, poster, sheet and captions (the report is rewritten: it reports each build).
    let files: Vec<String> = (folder.out_files().into_iter())
        .filter(|f| f != "out/report.html")
        .collect();
    assert_eq!(files.len(), 5 * SCENES.len());
    let before: Vec<_> = files.iter().map(|s| stamp(s)).collect();

    let again = folder.build();
    assert_eq!(again.made(), Vec::<String>::new());
    assert!(
        again.stderr.contains("render: made 0, reused 24, failed 0"),
        "{}",
        again.stderr
    );
    // The demo's only model is the tiny face landmark model: `device = "auto"` falling
    // back to the CPU is nothing to mention in every build's log.
    assert!(!again.stderr.contains("CUDA"), "{}", again.stderr);
    assert_eq!(files.iter().map(|s| stamp(s)).collect::<Vec<_>>(), before);

    // A new mtime on every source file changes no content, so nothing is made.
    for rel in [
        "Renderfile.toml",
        "projects/demo/project.toml",
        "projects/demo/welcome.txt",
        "avatars/astronaut.png",
    ] {
        let file = std::fs::File::options()
            .write(true)
            .open(folder.file(rel))
            .unwrap();
        file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
    }
    assert_eq!(folder.build().made(), Vec::<String>::new());
    assert_eq!(
        folder.render(&["plan"]).stdout,
        "up to date (24 artifacts)\n"
    );
}

#[test]
fn editing_one_line_remakes_its_speech_its_clip_its_scene_and_its_captions() {
    let folder = Folder::small_demo();
    folder.build();
    // The narrator speaks through Piper (the command engine): 22.05 kHz speech, not silence.
    let mut piper_lines = 0;
    for (dir, record) in folder.records() {
        if record["spec"]["kind"] != "speech" || record["spec"]["engine"] != "piper" {
            continue;
        }
        piper_lines += 1;
        let wav = dir.join("speech.wav");
        let mut reader = hound::WavReader::open(&wav).unwrap();
        assert_eq!(reader.spec().sample_rate, 22_050);
        let samples: Vec<f64> = (reader.samples::<i16>())
            .map(|s| s.unwrap() as f64 / 32768.0)
            .collect();
        let rms = (samples.iter().map(|s| s * s).sum::<f64>() / samples.len() as f64).sqrt();
        assert!(rms > 0.01, "{} is nearly silent (rms {rms})", wav.display());
        assert!(dir.join("program.log").is_file());
    }
    assert_eq!(piper_lines, 6, "the narrator's lines");
    folder.edit(
        "projects/demo/project.toml",
        "And the other lines come straight from the cache?",
        "And every other line comes straight from the cache?",
    );
    let plan = folder.render(&["plan"]);
    assert!(
        plan.stdout
            .contains("speech demo/dialogue:3: params changed: text"),
        "{}",
        plan.stdout
    );
    let run = folder.build();
    assert_eq!(
        run.made(),
        [
            "captions demo/dialogue",
            "clip demo/dialogue:3",
            "scene demo/dialogue",
            "speech demo/dialogue:3"
        ]
    );
}

#[test]
fn inserting_a_line_makes_only_that_line_its_scene_and_its_captions() {
    let folder = Folder::small_demo();
    folder.build();
    folder.edit(
        "projects/demo/welcome.txt",
        "Think of it as make",
        "Nothing is rendered twice.\nThink of it as make",
    );
    let run = folder.build();
    assert_eq!(
        run.made(),
        [
            "captions demo/welcome",
            "clip demo/welcome:3",
            "scene demo/welcome",
            "speech demo/welcome:3"
        ]
    );
}

#[test]
fn changing_a_voice_remakes_only_that_voices_lines_and_their_scenes() {
    let folder = Folder::small_demo();
    folder.build();
    folder.edit("Renderfile.toml", "pitch = 65", "pitch = 70");
    let run = folder.build();
    // guest speaks dialogue lines 2 and 4 and welcome line 4.
    assert_eq!(
        run.made(),
        [
            "captions demo/dialogue",
            "captions demo/welcome",
            "clip demo/dialogue:2",
            "clip demo/dialogue:4",
            "clip demo/welcome:4",
            "scene demo/dialogue",
            "scene demo/welcome",
            "speech demo/dialogue:2",
            "speech demo/dialogue:4",
            "speech demo/welcome:4",
        ]
    );
}

#[test]
fn a_video_avatar_works() {
    let folder = Folder::small_demo();
    // A 2 s video that pans across the portrait, so every frame differs.
    ffmpeg(&[
        "-loop",
        "1",
        "-i",
        folder.file("avatars/astronaut.png").to_str().unwrap(),
        "-vf",
        "crop=448:448:32+24*sin(2*PI*t):24,format=yuv420p",
        "-t",
        "2",
        "-r",
        "25",
        "-c:v",
        "libx264",
        "-crf",
        "18",
        folder.file("avatars/talk.mp4").to_str().unwrap(),
    ]);
    folder.edit(
        "Renderfile.toml",
        "image = \"avatars/astronaut.png\"",
        "video = \"avatars/talk.mp4\"",
    );
    let run = folder.build();
    assert!(run.made().contains(&"face-track astronaut".to_string()));
    for scene in SCENES {
        let (video, audio, video_s, audio_s) = probe(&folder.file(scene));
        assert_eq!((video.as_str(), audio.as_str()), ("h264", "aac"));
        assert!((video_s - audio_s).abs() <= 0.040);
    }
    let track: serde_json::Value = {
        // The video's track (the guest's face, `camera`, has one of its own).
        let (dir, _) = (folder.records().into_iter())
            .find(|(_, record)| record["name"] == "face-track astronaut")
            .expect("a face track object");
        serde_json::from_slice(&std::fs::read(dir.join("track.json")).unwrap()).unwrap()
    };
    assert_eq!(track["boxes"].as_array().unwrap().len(), 50);
}

#[test]
fn dry_run_makes_nothing_and_clean_removes_what_render_made() {
    let folder = Folder::small_demo();
    let dry = folder.render(&["build", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("scene demo/welcome: new\n"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .ends_with("24 of 24 artifacts to make, 10 files in out/ to publish\n"),
        "{}",
        dry.stdout
    );
    assert!(folder.out_files().is_empty());

    folder.build();
    let clean = folder.render(&["clean"]);
    assert_eq!(clean.code, 0);
    // Each of the 10 published files, the report, the objects, the history and 5 state
    // files or sets; out/ and its project folder, which render made, go once empty.
    assert_eq!(clean.stderr, "render: removed 20 things made by render\n");
    assert!(clean
        .stdout
        .contains("removed out/demo/welcome.mp4\nremoved out/demo/welcome.sheet.jpg\n"));
    assert!(!folder.file("out").exists() && !folder.file("cache/objects").exists());
    assert!(folder
        .render(&["plan"])
        .stdout
        .ends_with("24 of 24 artifacts to make, 10 files in out/ to publish\n"));
}

#[test]
fn renaming_a_scene_removes_its_old_video_its_stills_and_its_captions() {
    let folder = Folder::small_demo();
    folder.build();
    folder.write("out/demo/notes.txt", "mine");
    folder.edit(
        "projects/demo/project.toml",
        "name = \"dialogue\"",
        "name = \"talk\"",
    );
    let run = folder.build();
    for file in [
        "dialogue.jpg",
        "dialogue.mp4",
        "dialogue.sheet.jpg",
        "dialogue.srt",
        "dialogue.vtt",
    ] {
        let line = format!("render: removed out/demo/{file} (its scene is no longer declared)\n");
        assert!(run.stderr.contains(&line), "{}", run.stderr);
    }
    // The renamed scene's video is the same object: published again, nothing made.
    assert_eq!(run.made(), Vec::<String>::new());
    assert_eq!(
        folder.out_files(),
        [
            "out/demo/notes.txt",
            "out/demo/talk.jpg",
            "out/demo/talk.mp4",
            "out/demo/talk.sheet.jpg",
            "out/demo/talk.srt",
            "out/demo/talk.vtt",
            "out/demo/welcome.jpg",
            "out/demo/welcome.mp4",
            "out/demo/welcome.sheet.jpg",
            "out/demo/welcome.srt",
            "out/demo/welcome.vtt",
            "out/report.html"
        ]
    );
    // The renamed scene's files are its object's own (hard links), like any published file.
    let object = (folder.records().into_iter())
        .find(|(_, record)| record["name"] == "scene demo/dialogue")
        .map(|(dir, _)| dir)
        .unwrap();
    for (published, own) in [
        ("talk.mp4", "scene.mp4"),
        ("talk.jpg", "poster.jpg"),
        ("talk.sheet.jpg", "sheet.jpg"),
    ] {
        let ino = |path: std::path::PathBuf| std::fs::metadata(path).unwrap().ino();
        let out = folder.file("out/demo").join(published);
        assert_eq!(ino(out), ino(object.join(own)), "{published}");
    }
}
