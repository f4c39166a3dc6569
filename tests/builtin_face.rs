//! The built-in face as a viewer sees it: two scenes built by the real binary from the
//! demo's portraits — the astronaut, frontal, and the cameraman, turned three-quarters
//! away — then measured by `render bench face` (the landmark model on every frame of the
//! published video, against the portrait) and by comparing pixels with the portrait.
//!
//! Each scene is shown at its portrait's own size, so the video's pixels line up with the
//! portrait's and "what moved" can be checked pixel by pixel.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::Folder;
use serde_json::Value;

const LINES: &str = r#"lines = [
  "Good evening. Tonight we look at how a small studio renders its shows overnight.",
  "Every line is spoken, every mouth moves, and nothing is done twice.",
]"#;

/// The folder, built once, and each portrait's measurement.
struct Built {
    folder: Folder,
    astronaut: Value,
    camera: Value,
}

fn built() -> Option<&'static Built> {
    static BUILT: OnceLock<Option<Built>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let model = common::repo().join("models/facemesh/facemesh.pt");
            if !model.is_file() {
                eprintln!(
                    "skipped: {} is missing (tools/setup exports it)",
                    model.display()
                );
                return None;
            }
            let folder = Folder::with_portrait();
            std::fs::copy(
                common::repo().join("avatars/camera.png"),
                folder.file("avatars/camera.png"),
            )
            .unwrap();
            folder.write(
                "Renderfile.toml",
                r#"[render]
device = "cpu"

[defaults]
fps = 25
size = [512, 512]
pause = 0.4
voice = "v"
avatar = "astronaut"

[voices.v]
engine = "espeak"
language = "en-us"

[avatars.astronaut]
image = "avatars/astronaut.png"

[avatars.camera]
image = "avatars/camera.png"
"#,
            );
            folder.write(
                "projects/p/project.toml",
                &format!(
                    "[[scene]]\nname = \"astronaut\"\n{LINES}\n\n[[scene]]\nname = \"camera\"\n\
                     avatar = \"camera\"\nsize = [288, 384]\n{LINES}\n"
                ),
            );
            folder.build();
            let measure = |name: &str| {
                let video = format!("out/p/{name}.mp4");
                let reference = format!("avatars/{name}.png");
                let run = folder.render(&[
                    "bench",
                    "face",
                    &video,
                    "--reference",
                    &reference,
                    "--json",
                    "-",
                ]);
                assert_eq!(run.code, 0, "{}", run.stderr);
                eprintln!("{}", run.stderr);
                serde_json::from_str::<Value>(&run.stdout).unwrap()
            };
            let (astronaut, camera) = (measure("astronaut"), measure("camera"));
            Some(Built {
                folder,
                astronaut,
                camera,
            })
        })
        .as_ref()
}

fn number(report: &Value, field: &str) -> f64 {
    report[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is {}", report[field]))
}

#[test]
fn the_mouth_follows_the_voice_on_the_real_lips_and_closes_in_silence() {
    let Some(built) = built() else { return };
    for (name, report) in [("astronaut", &built.astronaut), ("camera", &built.camera)] {
        // The inner lips part with the speech's loudness.
        let r = number(report, "opening_loudness_r");
        assert!(r >= 0.6, "{name}: opening ~ loudness r = {r}");
        // The mouth stays on the portrait's lips (in face heights), even turned away: in
        // 95 % of the frames (the landmark model loses the turned face now and then, and a
        // lost frame is not where the mouth is), and on average well inside.
        let mut offsets: Vec<f64> = (report["series"]["mouth_offset"].as_array().unwrap())
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        offsets.sort_by(f64::total_cmp);
        let p95 = offsets[offsets.len() * 95 / 100];
        assert!(
            p95 <= 0.05,
            "{name}: mouth centre moved {p95} face heights (95th %)"
        );
        let mean = number(report, "mouth_offset_mean");
        assert!(
            mean <= 0.025,
            "{name}: mouth centre moved {mean} face heights on average"
        );
        // In the pauses the lips are as the portrait has them: the median over the silent
        // frames (below -45 dBFS), so the few frames where the lips are still closing after
        // a word do not count as an open mouth.
        let series = &report["series"];
        let mut silent: Vec<f64> = (series["opening"].as_array().unwrap().iter())
            .zip(series["loudness_dbfs"].as_array().unwrap())
            .filter(|(_, db)| db.as_f64().unwrap() < -45.0)
            .filter_map(|(opening, _)| opening.as_f64())
            .collect();
        silent.sort_by(f64::total_cmp);
        let silent = silent[silent.len() / 2];
        let source = number(report, "reference_opening");
        assert!(number(report, "silent_frames") >= 5.0, "{name}");
        // Within 10 % of the portrait's gap. Where the portrait's lips are shut (the
        // cameraman's 0.6 px gap, under 0.02 face heights), 10 % is a twentieth of a pixel,
        // far below the landmark model's noise on that face (its median read 0.0037 to
        // 0.0089 in different runs): there, closed means no wider than the portrait's plus
        // that noise (0.004 face heights).
        let closed = if source < 0.02 {
            silent <= source + 0.004
        } else {
            (silent - source).abs() <= 0.1 * source
        };
        assert!(
            closed,
            "{name}: silent opening {silent} vs the portrait's {source}"
        );
    }
}

/// The jaw drops with the voice: the chin moves down on loud frames. A sticker over the
/// mouth (the old ellipse) leaves the chin where it was.
#[test]
fn the_jaw_and_chin_drop_with_the_voice() {
    let Some(built) = built() else { return };
    let report = &built.astronaut;
    let r = number(report, "chin_loudness_r");
    assert!(r >= 0.5, "chin ~ loudness r = {r}");
    let drop = number(report, "chin_drop_max");
    assert!(drop >= 0.03, "the chin dropped only {drop} face heights");
}

/// At least one blink in every 6 s of output (the frontal portrait: the cameraman looks
/// down, and a blink of eyes cast down shows too little for the landmark model or pixels).
#[test]
fn the_eyes_blink_at_least_every_six_seconds() {
    let Some(built) = built() else { return };
    let report = &built.astronaut;
    let series = &report["series"];
    let cover = series["eye_cover"].as_array().unwrap();
    let fps = number(report, "fps");
    let shut: Vec<usize> = (0..cover.len())
        .filter(|&i| {
            cover[i]
                .as_array()
                .is_some_and(|c| c.iter().all(|v| v.as_f64().unwrap() >= 0.5))
        })
        .collect();
    assert!(number(report, "blinks") >= 1.0);
    let window = (6.0 * fps) as usize;
    for start in 0..cover.len().saturating_sub(window) {
        assert!(
            shut.iter().any(|&i| (start..start + window).contains(&i)),
            "no blink between {:.1} s and {:.1} s (shut frames {shut:?})",
            start as f64 / fps,
            (start + window) as f64 / fps
        );
    }
    let per_minute = number(report, "blinks_per_minute");
    assert!(
        (10.0..=40.0).contains(&per_minute),
        "{per_minute} blinks a minute"
    );
}

/// The portrait reads as a person: the head sways a few pixels and a degree or two, and
/// nothing beyond the head moves at all.
#[test]
fn the_head_sways_a_little_and_nothing_beyond_it_moves() {
    let Some(built) = built() else { return };
    let report = &built.astronaut;
    let sway = number(report, "head_motion_px");
    assert!(
        (1.0..=10.0).contains(&sway),
        "head moved {sway} px peak to peak"
    );
    let roll = number(report, "roll_peak_deg").abs();
    assert!((0.3..=3.0).contains(&roll), "roll peak {roll}°");

    // Every 10th frame of the video against the portrait, away from the head: the face's
    // landmarks span about 100 px around (222, 120); the still ring is 2.3× their hull.
    let portrait = image::open(common::repo().join("avatars/astronaut.png"))
        .unwrap()
        .to_rgb8();
    let video: PathBuf = built.folder.file("out/p/astronaut.mp4");
    let raw = common::ffmpeg(&[
        "-i",
        video.to_str().unwrap(),
        "-vf",
        "select=not(mod(n\\,10))",
        "-vsync",
        "0",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    let frame_len = 512 * 512 * 3;
    assert!(raw.len() >= 20 * frame_len);
    let (centre_x, centre_y, radius) = (222.0f64, 120.0f64, 190.0f64);
    let far_change = |frame: &[u8]| {
        let (mut far, mut change) = (0u64, 0u64);
        for y in 0..512u32 {
            for x in 0..512u32 {
                if (x as f64 - centre_x).hypot(y as f64 - centre_y) < radius {
                    continue;
                }
                let i = ((y * 512 + x) * 3) as usize;
                let source = portrait.get_pixel(x, y).0;
                far += 3;
                change += (0..3)
                    .map(|c| frame[i + c].abs_diff(source[c]) as u64)
                    .sum::<u64>();
            }
        }
        change as f64 / far as f64
    };
    // The first frame is the portrait at rest: what differs there is the encoder's
    // rounding. No later frame differs more, away from the head.
    let frames: Vec<&[u8]> = raw.chunks_exact(frame_len).collect();
    let rest = far_change(frames[0]);
    assert!(
        rest < 4.0,
        "the first frame differs from the portrait by {rest}"
    );
    for (k, frame) in frames.iter().enumerate() {
        let change = far_change(frame);
        assert!(
            change <= rest + 0.5,
            "frame {}: pixels far from the head changed by {change} (rest {rest})",
            k * 10
        );
    }
}

/// The same line gives the same clip, byte for byte: blinks, sway and mouth are seeded by
/// the clip's key.
#[test]
fn a_clip_is_a_pure_function_of_its_key() {
    let Some(built) = built() else { return };
    let clips = || -> Vec<(String, Vec<u8>)> {
        let mut clips: Vec<(String, Vec<u8>)> = (built.folder.records().into_iter())
            .filter(|(_, record)| record["spec"]["kind"] == "clip")
            .map(|(dir, _)| {
                let name = dir.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(dir.join("clip.mp4")).unwrap())
            })
            .collect();
        clips.sort();
        clips
    };
    let before = clips();
    assert_eq!(before.len(), 4);
    let run = built.folder.render(&["build", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.made().iter().filter(|n| n.starts_with("clip ")).count(),
        4
    );
    assert!(
        before == clips(),
        "a clip made again differs from the first"
    );
}
