//! Framing: how the avatar fills the frame. The real binary builds scenes of 16:9, 9:16
//! and 1:1 framed on the face, and the face tracker built into render (the library's own
//! detector) measures the face in a frame of each published video: at the size asked for,
//! in the middle, and no bars. Edits of the framing re-make only the scenes, and bad
//! values are reported at their key.

mod common;

use common::{ffmpeg, Folder, Run};
use render::engine::rustface::FaceDetector;
use render::frame::{FaceBox, Frame};

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
             face_size = 0.3\n\n[voices.narrator]\nlanguage = \"en-us\"\n\n\
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
fn frame(folder: &Folder, scene: &str, [w, h]: [u32; 2], n: usize) -> Frame {
    let video = folder.file(&format!("out/p/{scene}.mp4"));
    let data = ffmpeg(&[
        "-i",
        video.to_str().unwrap(),
        "-vf",
        &format!("select=eq(n\\,{n})"),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-",
    ]);
    assert_eq!(
        data.len(),
        (w * h * 3) as usize,
        "{scene}: one {w}x{h} frame"
    );
    Frame::from_rgb(w, h, data)
}

/// The face in a frame, by the face tracker render uses.
fn face(frame: &Frame, scene: &str) -> FaceBox {
    FaceDetector::new()
        .detect(frame)
        .unwrap_or_else(|| panic!("{scene}: no face found in the frame"))
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

/// Artifact names of a build's made list, each without its scene/line suffix.
fn made(run: &Run) -> Vec<String> {
    run.made()
}

#[test]
fn face_framing_puts_the_face_at_its_size_in_the_middle_at_every_shape() {
    let folder = framed_folder("face");
    folder.build();
    for (scene, size, face_size) in SCENES {
        let [w, h] = size;
        // Two frames: the line's first and its middle (the mouth open).
        for n in [0, 6] {
            let frame = frame(&folder, scene, size, n);
            let face = face(&frame, scene);
            let height = f64::from(face.h) / f64::from(h);
            let centre = f64::from(face.centre().0) / f64::from(w);
            eprintln!("{scene} frame {n}: face {face:?}: height {height:.3} of the frame, centre {centre:.3}");
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

#[test]
fn tmp_demo_boxes() {
    for a in ["astronaut", "camera"] {
        let f =
            render::media::read_image(&common::repo().join(format!("avatars/{a}.png"))).unwrap();
        eprintln!(
            "{a} {}x{}: {:?}",
            f.width,
            f.height,
            FaceDetector::new().faces(&f)
        );
    }
}
