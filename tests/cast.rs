//! A cast: lines of one scene shown by different avatars. A line's face is its own
//! `avatar`, else its voice's, else its scene's; each avatar shown is tracked once; a scene
//! cuts between faces of different aspect ratios; changing one face re-makes only what shows
//! it.

mod common;

use common::{ffmpeg, repo, tone_wav, Folder};

/// Frame size, rate and pause of every scene here.
const W: usize = 320;
const H: usize = 180;
const FPS: usize = 25;
const PAUSE_FRAMES: usize = 10;
const BACKGROUND: &str = "0x1b2030";

/// The recorded lines of the dialogue (seconds) and the avatar each must show, then a last,
/// spoken line (the guest's: the guest's avatar).
const DIALOGUE: [(f64, &str); 4] = [
    (1.0, "astronaut"), // the narrator: the scene's avatar
    (1.2, "camera"),    // the guest: the guest voice's avatar
    (0.8, "camera"),    // the narrator, with the line's own avatar
    (1.4, "astronaut"), // the guest, with the line's own avatar over the voice's
];

const RENDERFILE: &str = r##"[render]
device = "cpu"

[defaults]
fps = 25
size = [320, 180]
pause = 0.4
background = "#1b2030"
voice = "narrator"
avatar = "astronaut"

[voices.narrator]
language = "en-us"

[voices.guest]
language = "en-gb"
avatar = "camera"

[avatars.astronaut]
image = "avatars/astronaut.png"

[avatars.camera]
image = "avatars/camera.png"

# Declared, and the scene `aside`'s avatar, but no line shows it: never tracked (it is no
# image, so tracking it would fail the build).
[avatars.unused]
image = "avatars/unused.png"
"##;

const PROJECT: &str = r#"[[scene]]
name = "dialogue"
lines = [
  { audio = "assets/l1.wav" },
  { audio = "assets/l2.wav", voice = "guest" },
  { audio = "assets/l3.wav", avatar = "camera" },
  { audio = "assets/l4.wav", voice = "guest", avatar = "astronaut" },
  { text = "And back to me.", voice = "guest" },
]

[[scene]]
name = "monologue"
lines = [{ audio = "assets/l5.wav" }]

[[scene]]
name = "aside"
avatar = "unused"
voice = "guest"
lines = [{ audio = "assets/l6.wav" }]
"#;

/// A content folder with two real faces (the demo's), a declared but unused avatar, and
/// the scenes above.
fn cast() -> Folder {
    let folder = Folder {
        dir: tempfile::tempdir().unwrap(),
    };
    folder.write("Renderfile.toml", RENDERFILE);
    folder.write("projects/demo/project.toml", PROJECT);
    folder.write("avatars/unused.png", "not an image");
    for face in ["astronaut", "camera"] {
        let rel = format!("avatars/{face}.png");
        std::fs::copy(repo().join(&rel), folder.file(&rel)).unwrap();
    }
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    let seconds = DIALOGUE.iter().map(|l| l.0).chain([0.6, 0.9]);
    for (i, s) in seconds.enumerate() {
        let path = folder.file(&format!("assets/l{}.wav", i + 1));
        std::fs::write(path, tone_wav(22_050, s)).unwrap();
    }
    folder
}

/// The frames of `video`, W×H RGB each (RGB: ffmpeg converts the video's limited-range
/// YUV by its tags, so it compares with a picture made in RGB).
fn rgb_frames(video: &std::path::Path) -> Vec<Vec<u8>> {
    let bytes = ffmpeg(&[
        "-i",
        video.to_str().unwrap(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    bytes.chunks_exact(W * H * 3).map(<[u8]>::to_vec).collect()
}

/// What a frame showing `avatar` looks like: the portrait fitted into the frame by its own
/// aspect ratio, centred on the background (W×H RGB).
fn expected_frame(folder: &Folder, avatar: &str) -> Vec<u8> {
    let fit = format!(
        "format=rgb24,scale={W}:{H}:force_original_aspect_ratio=decrease:force_divisible_by=2,\
         pad={W}:{H}:(ow-iw)/2:(oh-ih)/2:color={BACKGROUND}"
    );
    let image = folder.file(&format!("avatars/{avatar}.png"));
    let bytes = ffmpeg(&[
        "-i",
        image.to_str().unwrap(),
        "-vf",
        &fit,
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    assert_eq!(bytes.len(), W * H * 3);
    bytes
}

/// Mean absolute difference of two frames, in levels of 255.
fn mad(a: &[u8], b: &[u8]) -> f64 {
    let sum: u64 = (a.iter().zip(b)).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    sum as f64 / a.len() as f64
}

/// The frame in the middle of each recorded line's clip, and the one 5 frames into the last
/// line's.
fn sampled_frames() -> Vec<usize> {
    let mut start = 0;
    let mut middles = Vec::new();
    for (seconds, _) in DIALOGUE {
        let frames = (seconds * FPS as f64).round() as usize;
        middles.push(start + frames / 2);
        start += frames + PAUSE_FRAMES;
    }
    middles.push(start + 5);
    middles
}

fn face_tracks(names: &[String]) -> Vec<&str> {
    (names.iter())
        .filter(|n| n.starts_with("face-track "))
        .map(String::as_str)
        .collect()
}

#[test]
fn a_dialogue_cuts_between_the_faces_its_lines_name() {
    let folder = cast();
    let run = folder.build();
    assert_eq!(
        folder.out_files(),
        common::published(&[
            "out/demo/aside.mp4",
            "out/demo/dialogue.mp4",
            "out/demo/monologue.mp4"
        ])
    );
    // Each face shown is tracked once, however many lines and scenes show it; `unused`
    // (only a scene's avatar, never a line's) is not tracked at all.
    assert_eq!(
        face_tracks(&run.made()),
        ["face-track astronaut", "face-track camera"]
    );
    let tracks = walkdir::WalkDir::new(folder.file("cache/objects"))
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_name() == "track.json")
        .count();
    assert_eq!(tracks, 2);
    // 7 lines × (speech + clip), 2 face tracks, 3 scenes and their 3 captions.
    assert_eq!(run.made().len(), 22, "{:?}", run.made());
    assert_eq!(folder.verify_cache(), 22);

    let frames = rgb_frames(&folder.file("out/demo/dialogue.mp4"));
    let astronaut = expected_frame(&folder, "astronaut");
    let camera = expected_frame(&folder, "camera");
    let wanted = DIALOGUE.iter().map(|l| l.1).chain(["camera"]);
    let sampled = sampled_frames();
    for (line, (at, face)) in sampled.iter().zip(wanted).enumerate() {
        let frame = &frames[*at];
        let (to_astronaut, to_camera) = (mad(frame, &astronaut), mad(frame, &camera));
        eprintln!(
            "line {}: frame {at} differs from astronaut by {to_astronaut:.1}, from camera by {to_camera:.1}",
            line + 1
        );
        let (shown, other) = match face {
            "astronaut" => (to_astronaut, to_camera),
            _ => (to_camera, to_astronaut),
        };
        assert!(
            shown < 8.0 && shown * 3.0 < other,
            "line {} (frame {at}) should show {face}: difference {shown:.1} from it, {other:.1} from the other",
            line + 1
        );
    }
    // The two speakers' slots really differ, and one speaker's look alike.
    let (first, second, fourth) = (
        &frames[sampled[0]],
        &frames[sampled[1]],
        &frames[sampled[3]],
    );
    assert!(mad(first, second) > 20.0, "{}", mad(first, second));
    assert!(mad(first, fourth) < 5.0, "{}", mad(first, fourth));

    // The scene that only names `unused` shows the guest's face.
    let aside = rgb_frames(&folder.file("out/demo/aside.mp4"));
    assert!(mad(&aside[11], &camera) < 8.0);
}

#[test]
fn changing_one_face_remakes_its_track_its_lines_clips_and_their_scenes_only() {
    let folder = cast();
    folder.build();
    // The same portrait, mirrored: still one face, other bytes.
    let camera = folder.file("avatars/camera.png");
    let mirrored = folder.file("avatars/mirrored.png");
    ffmpeg(&[
        "-i",
        camera.to_str().unwrap(),
        "-vf",
        "hflip",
        mirrored.to_str().unwrap(),
    ]);
    std::fs::rename(&mirrored, &camera).unwrap();

    let run = folder.build();
    assert_eq!(
        run.made(),
        [
            "clip demo/aside:1",
            "clip demo/dialogue:2",
            "clip demo/dialogue:3",
            "clip demo/dialogue:5",
            "face-track camera",
            "scene demo/aside",
            "scene demo/dialogue",
        ]
    );
    assert_eq!(folder.build().made(), Vec::<String>::new());
}
