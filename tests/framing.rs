//! Framing: how the avatar fills the frame. The real binary builds scenes of 16:9, 9:16
//! and 1:1 framed on the face: each published frame is the avatar's picture cropped as
//! promised on the face track's box (compared pixel by pixel with crops a little off), and
//! the face tracker built into render finds the face in it at about the size asked for, in
//! the middle, with no bars. Edits of the framing re-make only the scenes, and bad
//! values are reported at their key.

mod common;

use common::{ffmpeg, Folder, Run};
use render::engine::rustface::FaceDetector;
use render::frame::{FaceBox, Frame};
use render::stage::face_track::{self, Track};
use std::path::Path;
use std::time::Duration;

/// The scenes' background, a colour the portrait has nowhere, so that a bar shows.
const BACKGROUND: [u8; 3] = [0x00, 0xff, 0x00];

/// The scenes: (name, size, face_size).
const SCENES: [(&str, [u32; 2], f64); 3] = [
    ("wide", [320, 180], 0.4),
    ("tall", [180, 320], 0.3),
    ("square", [240, 240], 0.5),
];

/// A folder whose avatar has room around the face: the demo's portrait in the middle of a
/// 1024×1024 picture, its edges smeared outwards. Its scenes are [`SCENES`], one short line
/// each, with `framing` in `[defaults]`.
fn framed_folder(framing: &str) -> Folder {
    let folder = Folder::with_portrait();
    let portrait = folder.file("avatars/astronaut.png");
    let canvas = folder.file("avatars/presenter.png");
    ffmpeg(&[
        "-i",
        portrait.to_str().unwrap(),
        "-vf",
        "pad=1024:1024:256:256,fillborders=left=256:right=256:top=256:bottom=256:mode=smear",
        "-y",
        canvas.to_str().unwrap(),
    ]);
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nbackground = \"#00ff00\"\n\
             voice = \"narrator\"\navatar = \"presenter\"\nframing = \"{framing}\"\n\
             face_size = 0.3\nheadroom = 0.15\n\n[voices.narrator]\nlanguage = \"en-us\"\n\n\
             [avatars.presenter]\nimage = \"avatars/presenter.png\"\n"
        ),
    );
    let mut project = String::new();
    for (name, [w, h], size) in SCENES {
        // The tall scene takes the default face size.
        let face_size = if name == "tall" {
            String::new()
        } else {
            format!("face_size = {size}\n")
        };
        project += &format!(
            "[[scene]]\nname = \"{name}\"\nsize = [{w}, {h}]\n{face_size}lines = [\"Hello there.\"]\n\n"
        );
    }
    folder.write("projects/p/project.toml", &project);
    folder
}

/// Frame `n` of a published video, as RGB.
fn frame(folder: &Folder, scene: &str, size: [u32; 2], n: usize) -> Frame {
    scaled_frame(&folder.file(&format!("out/p/{scene}.mp4")), size, n, 1.0)
}

/// Frame `n` of a video (or a picture, `n` = 0) of `size`, as RGB, scaled by `k`.
fn scaled_frame(file: &Path, [w, h]: [u32; 2], n: usize, k: f64) -> Frame {
    let (w, h) = (
        (f64::from(w) * k).round() as u32,
        (f64::from(h) * k).round() as u32,
    );
    let scale = format!("scale={w}:{h}:flags=bicubic");
    let data = common::video_frame(file, n as u64, &scale, "rgb24");
    assert_eq!(
        data.len(),
        (w * h * 3) as usize,
        "{file:?}: one {w}x{h} frame"
    );
    Frame::from_rgb(w, h, data)
}

/// The face in a frame, by the face tracker render uses.
fn face(frame: &Frame) -> FaceBox {
    FaceDetector::new()
        .detect(frame)
        .unwrap_or_else(|| panic!("no face found in a {}x{} frame", frame.width, frame.height))
}

/// The face's height and centre in frame `n` of `file`, in fractions of the frame's height
/// and width, by the face tracker render uses. The tracker's box comes from a pyramid of
/// scales 0.8 apart, so one detection can be a step too large or small (up to ±12 %, and
/// which step depends on a few pixels): the frame is measured at six scales from its size
/// to twice that and the median taken, as a careful measurer repeats a reading.
fn measured_face(file: &Path, size: [u32; 2], n: usize) -> (f64, f64) {
    let [w, h] = size;
    let mut heights = Vec::new();
    let mut centres = Vec::new();
    for k in [1.0, 1.2, 1.4, 1.6, 1.8, 2.0] {
        let face = face(&scaled_frame(file, size, n, k));
        heights.push(f64::from(face.h) / (f64::from(h) * k));
        centres.push(f64::from(face.centre().0) / (f64::from(w) * k));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (median(heights), median(centres))
}

/// The one file called `name` among the cache's objects.
fn the_object_file(folder: &Folder, name: &str) -> std::path::PathBuf {
    let found: Vec<_> = walkdir::WalkDir::new(folder.file("cache/objects"))
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_name() == name)
        .collect();
    assert_eq!(found.len(), 1, "one {name} in the cache");
    found[0].path().to_path_buf()
}

/// The face track render made for the folder's avatar (the one track in the cache).
fn the_track(folder: &Folder) -> Track {
    face_track::read_track(&the_object_file(folder, face_track::OUTPUT)).unwrap()
}

/// The face box that render's face track holds, in the square avatar's 1024 pixels (the
/// track measures it worked at 640 px, twice the 320 px frames: `face_track::work_side`).
fn tracked_box(folder: &Folder) -> FaceBox {
    let track = the_track(folder);
    assert_eq!([track.width, track.height], [640, 640]);
    let k = 1024.0 / track.width as f32;
    let b = track.boxes[0];
    FaceBox {
        x: b.x * k,
        y: b.y * k,
        w: b.w * k,
        h: b.h * k,
    }
}

/// A crop of the avatar's picture, in fractions of it: x, y, width, height.
type Crop = [f64; 4];

/// What framing on the face promises, worked out from a tracked box in a square avatar of
/// `side` pixels: the box `face_size` of the crop's height, `headroom` of it above the box,
/// centred across.
fn promised_crop(
    face: &FaceBox,
    side: f64,
    [w, h]: [u32; 2],
    face_size: f64,
    headroom: f64,
) -> Crop {
    let crop_h = f64::from(face.h) / side / face_size;
    let crop_w = crop_h * f64::from(w) / f64::from(h);
    let centre = f64::from(face.x + face.w / 2.0) / side;
    let crop = [
        centre - crop_w / 2.0,
        f64::from(face.y) / side - headroom * crop_h,
        crop_w,
        crop_h,
    ];
    assert!(
        crop[0] >= 0.0 && crop[1] >= 0.0 && crop[0] + crop_w <= 1.0 && crop[1] + crop_h <= 1.0,
        "the avatar has room around the face: {crop:?}"
    );
    crop
}

/// Frame `n` of the avatar `file` (0 for a picture) cropped and scaled to a frame of `size`.
fn avatar_crop(file: &Path, n: usize, [w, h]: [u32; 2], [x, y, cw, ch]: Crop) -> Frame {
    let crop = format!("crop=w=iw*{cw}:h=ih*{ch}:x=iw*{x}:y=ih*{y},scale={w}:{h}:flags=bicubic");
    Frame::from_rgb(w, h, common::video_frame(file, n as u64, &crop, "rgb24"))
}

/// The mean difference of two frames' pixels, per channel (0–255).
fn difference(a: &Frame, b: &Frame) -> f64 {
    assert_eq!([a.width, a.height], [b.width, b.height]);
    let sum: u64 = (a.data.iter().zip(&b.data))
        .map(|(p, q)| u64::from(p.abs_diff(*q)))
        .sum();
    sum as f64 / a.data.len() as f64
}

/// The pixels of the frame's outermost rows and columns that have the background's
/// colour (a bar).
fn bar_pixels(frame: &Frame) -> usize {
    let (w, h) = (frame.width, frame.height);
    let edge = (0..w)
        .flat_map(|x| [(x, 0), (x, h - 1)])
        .chain((0..h).flat_map(|y| [(0, y), (w - 1, y)]));
    edge.filter(|&(x, y)| {
        let p = frame.pixel(x, y);
        let d: i32 = (0..3)
            .map(|c| (i32::from(p[c]) - i32::from(BACKGROUND[c])).abs())
            .sum();
        d < 90
    })
    .count()
}

/// The published frames are the avatar's picture framed as promised (the track's face box
/// at the size asked, the headroom above it, centred): each matches the promised crop of
/// the avatar better than crops 5 % larger or smaller, or 3 % off to any side. Exact on
/// every machine, where a detector's reading of an encoded frame is a few % off.
#[track_caller]
fn assert_cropped_on_the_tracked_box(folder: &Folder) {
    let face = tracked_box(folder);
    for (scene, size, face_size) in SCENES {
        let face_size = if scene == "tall" { 0.3 } else { face_size };
        let published = frame(folder, scene, size, 0);
        let promised = promised_crop(&face, 1024.0, size, face_size, 0.15);
        let avatar = folder.file("avatars/presenter.png");
        let off = |crop: Crop| difference(&published, &avatar_crop(&avatar, 0, size, crop));
        let best = off(promised);
        let [x, y, w, h] = promised;
        let others = [
            (
                "larger",
                promised_crop(&face, 1024.0, size, face_size / 1.05, 0.15),
            ),
            (
                "smaller",
                promised_crop(&face, 1024.0, size, face_size * 1.05, 0.15),
            ),
            ("left", [x - 0.03 * w, y, w, h]),
            ("right", [x + 0.03 * w, y, w, h]),
            ("up", [x, y - 0.03 * h, w, h]),
            ("down", [x, y + 0.03 * h, w, h]),
        ];
        eprintln!("{scene}: {best:.2} from the promised crop");
        for (name, crop) in others {
            let other = off(crop);
            eprintln!("{scene}: {other:.2} from a crop {name}");
            assert!(
                best < other,
                "{scene}: the frame is nearer a crop {name} ({other:.2}) than the promised one ({best:.2})"
            );
        }
    }
}

#[test]
fn face_framing_puts_the_face_at_its_size_in_the_middle_at_every_shape() {
    let folder = framed_folder("face");
    folder.build();
    assert_cropped_on_the_tracked_box(&folder);
    // And the face tracker finds the face there at the size asked, within 10 %.
    for (scene, size, face_size) in SCENES {
        // Two frames: the line's first and its middle (the mouth open).
        for n in [0, 6] {
            let frame = frame(&folder, scene, size, n);
            let video = folder.file(&format!("out/p/{scene}.mp4"));
            let (height, centre) = measured_face(&video, size, n);
            eprintln!(
                "{scene} frame {n}: face height {height:.3} of the frame, centre {centre:.3}"
            );
            assert!(
                (height - face_size).abs() <= 0.1 * face_size,
                "{scene} frame {n}: the face is {height:.3} of the frame's height, asked {face_size}"
            );
            assert!(
                (centre - 0.5).abs() <= 0.05,
                "{scene} frame {n}: the face's centre is at {centre:.3} of the width"
            );
            assert_eq!(
                bar_pixels(&frame),
                0,
                "{scene} frame {n}: bars at the edges"
            );
        }
    }
}

/// A video avatar that pans (its face moving 6 px a frame across a 768 px picture), framed
/// on the face: every published frame takes one steady crop, from the track's median box,
/// as a locked-off camera would. Each published frame matches that crop of its line clip's
/// frame (the clip, in the cache, is the avatar's picture with the mouth moved) better than
/// the same crop 3 % off to any side, though the face moves 100 px between the frames
/// compared (a crop that followed it would be off by far more); none has bars.
#[test]
fn a_video_avatar_is_framed_by_one_steady_crop() {
    let folder = framed_folder("face");
    let talk = folder.file("avatars/talk.mp4");
    ffmpeg(&[
        "-loop",
        "1",
        "-framerate",
        "10",
        "-i",
        folder.file("avatars/presenter.png").to_str().unwrap(),
        "-vf",
        "crop=768:768:64+6*n:128,format=yuv420p",
        "-frames:v",
        "40",
        "-c:v",
        "libx264",
        "-crf",
        "16",
        talk.to_str().unwrap(),
    ]);
    folder.edit(
        "Renderfile.toml",
        "image = \"avatars/presenter.png\"",
        "video = \"avatars/talk.mp4\"",
    );
    let size = [320, 180];
    folder.write(
        "projects/p/project.toml",
        "[[scene]]\nname = \"wide\"\nsize = [320, 180]\nface_size = 0.4\n\
         lines = [\"Hello there, and welcome to the show.\"]\n",
    );
    folder.build();
    let track = the_track(&folder);
    assert_eq!(
        [track.width, track.height, track.boxes.len() as u32],
        [768, 768, 40]
    );
    let steady = render::framing::steady_box(&track.boxes).unwrap();
    let crop = promised_crop(&steady, 768.0, size, 0.4, 0.15);
    let [x, y, w, h] = crop;
    let clip = the_object_file(&folder, "clip.mp4");
    let frames = [0, 8, 16, 24];
    // The face moves in the clip between the frames compared.
    let [first, last] =
        [frames[0], frames[3]].map(|n| face(&scaled_frame(&clip, [768, 768], n, 1.0)).centre().0);
    assert!(
        (first - last).abs() > 100.0,
        "the face at x {first} and {last}"
    );
    for n in frames {
        let published = frame(&folder, "wide", size, n);
        assert_eq!(bar_pixels(&published), 0, "frame {n}: bars at the edges");
        let off = |crop: Crop| difference(&published, &avatar_crop(&clip, n, size, crop));
        let best = off(crop);
        eprintln!("frame {n}: {best:.2} from the steady crop");
        for (name, other) in [
            ("left", [x - 0.03 * w, y, w, h]),
            ("right", [x + 0.03 * w, y, w, h]),
            ("up", [x, y - 0.03 * h, w, h]),
            ("down", [x, y + 0.03 * h, w, h]),
        ] {
            let other = off(other);
            eprintln!("frame {n}: {other:.2} from a crop {name}");
            assert!(
                best < other,
                "frame {n}: nearer a crop {name} ({other:.2}) than the steady one ({best:.2})"
            );
        }
    }
}

#[test]
fn framing_edits_remake_only_the_scenes() {
    let folder = framed_folder("fit");
    folder.build();
    // Fitted, the square picture leaves bars above and below a tall frame (the check sees
    // them).
    let tall = [180, 320];
    assert!(bar_pixels(&frame(&folder, "tall", tall, 0)) > 0);

    // Framing is the scene's alone: no speech, clip or captions is made again.
    folder.edit("Renderfile.toml", "framing = \"fit\"", "framing = \"face\"");
    let scenes = ["scene p/square", "scene p/tall", "scene p/wide"];
    assert_eq!(folder.build().made(), scenes);
    assert_eq!(bar_pixels(&frame(&folder, "tall", tall, 0)), 0);
    // The default face size: only the scene that takes it.
    folder.edit("Renderfile.toml", "face_size = 0.3", "face_size = 0.35");
    assert_eq!(folder.build().made(), ["scene p/tall"]);
    folder.edit("Renderfile.toml", "headroom = 0.15", "headroom = 0.1");
    assert_eq!(folder.build().made(), scenes);

    // Filled: cropped in the middle, no bars either.
    folder.edit(
        "Renderfile.toml",
        "framing = \"face\"",
        "framing = \"fill\"",
    );
    assert_eq!(folder.build().made(), scenes);
    assert_eq!(bar_pixels(&frame(&folder, "tall", tall, 0)), 0);
    // Back to fit: the first build's scenes, their keys unchanged by the framing keys.
    folder.edit("Renderfile.toml", "framing = \"fill\"", "framing = \"fit\"");
    assert_eq!(folder.build().made(), Vec::<String>::new());
}

/// `render build` on a folder with a configuration error.
fn config_error(folder: &Folder) -> Run {
    let run = folder.render_within(&["build"], Duration::from_secs(120));
    assert_eq!(run.code, 2, "exit code; stderr:\n{}", run.stderr);
    run
}

#[test]
fn bad_framing_values_are_reported_at_their_key() {
    let folder = framed_folder("closeup");
    folder.edit("Renderfile.toml", "headroom = 0.15", "headroom = -0.1");
    config_error(&folder).assert_lines(
        &[
            "× unknown framing `closeup`",
            "╭─[Renderfile.toml:9:11]",
            "help: `framing` is \"fit\" (the whole picture), \"fill\" (cropped to fill the frame) or \"face\" (framed on the face)",
            "× `headroom` must be between 0 and 0.5, not -0.1",
            "╭─[Renderfile.toml:11:12]",
            "help: the space above the face as a fraction of the frame's height, e.g. 0.15",
        ],
    );

    // The same keys in a scene.
    let folder = framed_folder("face");
    let project = "projects/p/project.toml";
    folder.edit(project, "face_size = 0.5", "face_size = 1.5");
    folder.edit(
        project,
        "name = \"wide\"",
        "name = \"wide\"\nframing = \"fase\"",
    );
    config_error(&folder).assert_lines(&[
        "× unknown framing `fase`",
        "╭─[projects/p/project.toml:3:11]",
        "help: did you mean `face`?",
        "× `face_size` must be between 0.05 and 1, not 1.5",
        "╭─[projects/p/project.toml:16:13]",
        "help: the face's height as a fraction of the frame's height, e.g. 0.4",
    ]);
}
