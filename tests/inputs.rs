//! Inputs from real devices and the edges of the accepted ranges: a phone photo stored
//! sideways with an EXIF orientation tag, frame sizes at the limits of `size`.

mod common;

use std::path::Path;

use common::Folder;

/// A JPEG's bytes with an EXIF APP1 segment holding only `orientation` (1..=8), inserted
/// after its start-of-image marker: what a phone writes for a photo it stored sideways.
fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert_eq!(&jpeg[..2], [0xFF, 0xD8], "a JPEG");
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec(); // big-endian, IFD0 at offset 8
    tiff.extend(1u16.to_be_bytes()); // one entry
    tiff.extend(0x0112u16.to_be_bytes()); // Orientation
    tiff.extend(3u16.to_be_bytes()); // SHORT
    tiff.extend(1u32.to_be_bytes()); // one value
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]); // the value's padding to four bytes
    tiff.extend(0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend((payload.len() as u16 + 2).to_be_bytes());
    out.extend(payload);
    out.extend(&jpeg[2..]);
    out
}

/// ffmpeg writes the first frame of `filters` over `input` to `output`.
fn picture(input: &[&str], filters: &str, output: &Path) {
    let output = output.to_str().unwrap();
    let args = [
        input,
        &["-vf", filters, "-frames:v", "1", "-q:v", "2", output],
    ]
    .concat();
    common::ffmpeg(&args);
}

/// One RGB pixel of frame `n` of a video.
fn pixel(video: &Path, n: u64, x: u32, y: u32) -> [u8; 3] {
    let crop = format!("format=rgb24,crop=1:1:{x}:{y}");
    let rgb = common::video_frame(video, n, &crop, "rgb24");
    [rgb[0], rgb[1], rgb[2]]
}

/// The face track object made from the avatar file `rel`: its track.json.
fn face_track(folder: &Folder, rel: &str) -> serde_json::Value {
    let (dir, _) = (folder.records().into_iter())
        .find(|(_, r)| {
            r["spec"]["kind"] == "face-track" && r["spec"]["sources"]["avatar"]["path"] == rel
        })
        .unwrap_or_else(|| panic!("no face track of {rel}"));
    serde_json::from_slice(&std::fs::read(dir.join("track.json")).unwrap()).unwrap()
}

/// A portrait photographed on a phone held upright is stored sideways with orientation 6
/// ("turn 90° clockwise to show"): as an avatar its face is found, the face track measures
/// the upright picture, the clip is upright, and as a background it is upright too.
#[test]
fn a_sideways_phone_photo_is_upright_everywhere() {
    let folder = Folder::with_portrait();
    let portrait = folder.file("avatars/astronaut.png");
    let portrait = portrait.to_str().unwrap();
    // The upright picture, 384×512; the phone's file: the same turned a quarter
    // anticlockwise (512×384), tagged 6.
    picture(
        &["-i", portrait],
        "crop=384:512:64:0",
        &folder.file("avatars/upright.png"),
    );
    let sideways = folder.file("sideways.jpg");
    picture(
        &["-i", portrait],
        "crop=384:512:64:0,transpose=cclock",
        &sideways,
    );
    let jpeg = with_orientation(&std::fs::read(&sideways).unwrap(), 6);
    std::fs::write(folder.file("avatars/phone.jpg"), jpeg).unwrap();
    // A background red above and blue below, stored the same way.
    let wall = folder.file("wall.jpg");
    let halves = "color=c=red:s=320x90[a];color=c=blue:s=320x90[b];[a][b]vstack";
    picture(&["-f", "lavfi", "-i", halves], "transpose=cclock", &wall);
    let jpeg = with_orientation(&std::fs::read(&wall).unwrap(), 6);
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    std::fs::write(folder.file("assets/wall.jpg"), jpeg).unwrap();
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [160, 90]\nframing = \"fit\"\n\
         background = \"assets/wall.jpg\"\nvoice = \"narrator\"\n\n\
         [voices.narrator]\nlanguage = \"en-us\"\n\n\
         [avatars.phone]\nimage = \"avatars/phone.jpg\"\n\n\
         [avatars.upright]\nimage = \"avatars/upright.png\"\n",
    );
    folder.write(
        "projects/phone/project.toml",
        "[[scene]]\nname = \"hello\"\navatar = \"phone\"\n\
         lines = [\"Hi.\", { text = \"Hi.\", avatar = \"upright\" }]\n",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The face track measured the upright picture: its size, and the face where the
    // upright PNG's track has it.
    let (phone, upright) = (
        face_track(&folder, "avatars/phone.jpg"),
        face_track(&folder, "avatars/upright.png"),
    );
    // Both 384×512 upright (under 640 px: used as they are).
    assert_eq!(
        (&phone["width"], &phone["height"]),
        (&384.into(), &512.into())
    );
    assert_eq!(
        (&phone["width"], &phone["height"]),
        (&upright["width"], &upright["height"])
    );
    let b = |t: &serde_json::Value, k: &str| t["boxes"][0][k].as_f64().unwrap();
    for k in ["x", "y", "w", "h"] {
        assert!(
            (b(&phone, k) - b(&upright, k)).abs() < 0.05 * b(&upright, "h"),
            "box {k}: {} on the phone's photo, {} upright",
            b(&phone, k),
            b(&upright, k)
        );
    }
    // ffmpeg shows what the track measured: the first line's face, fitted to the frame,
    // is the upright picture (68×90 in the middle; its top row is the astronaut's
    // background, the same in both lines), and the background is red above, blue below.
    let video = folder.file("out/phone/hello.mp4");
    let (red, blue) = (pixel(&video, 0, 4, 4), pixel(&video, 0, 4, 85));
    assert!(red[0] > 180 && red[2] < 80, "top left is {red:?}, not red");
    assert!(
        blue[2] > 180 && blue[0] < 80,
        "bottom left is {blue:?}, not blue"
    );
    let frames = common::video_frames(&video);
    let (first, last) = (
        common::video_frame(&video, 0, "crop=60:80:50:5", "gray"),
        common::video_frame(&video, frames - 1, "crop=60:80:50:5", "gray"),
    );
    let difference = (first.iter().zip(&last))
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
        .sum::<f64>()
        / first.len() as f64;
    assert!(
        difference < 20.0,
        "the phone's face differs from the upright one by {difference:.1} levels a pixel"
    );
}

/// ffprobe's width and height of the first video stream (or picture) in `path`.
fn dimensions(path: &Path) -> (u32, u32) {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let (w, h) = text.trim().split_once(',').expect("width,height");
    (w.parse().unwrap(), h.parse().unwrap())
}

/// The extremes `size` accepts make their scenes: 7680×16 framed on the face (the crop
/// is a fraction of a pixel tall: at least 2 are taken), 16×7680 filled (its contact
/// sheet's thumbnail would be 115 200 px tall, past JPEG's 65 500: it is 960).
#[test]
fn the_extreme_sizes_make_their_scenes() {
    let folder = Folder::with_portrait();
    common::ffmpeg(&[
        "-i",
        folder.file("avatars/astronaut.png").to_str().unwrap(),
        "-vf",
        "scale=160:160",
        folder.file("avatars/small.png").to_str().unwrap(),
    ]);
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    std::fs::write(folder.file("assets/hi.wav"), common::tone_wav(22_050, 0.5)).unwrap();
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nvoice = \"narrator\"\navatar = \"astronaut\"\n\n\
         [voices.narrator]\nlanguage = \"en-us\"\n\n\
         [avatars.astronaut]\nimage = \"avatars/small.png\"\n",
    );
    folder.write(
        "projects/edges/project.toml",
        "[[scene]]\nname = \"wide\"\nsize = [7680, 16]\nframing = \"face\"\n\
         lines = [{ audio = \"assets/hi.wav\" }]\n\n\
         [[scene]]\nname = \"tall\"\nsize = [16, 7680]\nframing = \"fill\"\n\
         lines = [{ audio = \"assets/hi.wav\" }]\n",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = |f: &str| folder.file(&format!("out/edges/{f}"));
    // 0.5 s at 25 fps: 13 frames (12.5, rounded up).
    for (name, size, sheet) in [
        ("wide", (7680, 16), (968, 10)),
        ("tall", (16, 7680), (10, 968)),
    ] {
        let video = out(&format!("{name}.mp4"));
        assert_eq!(dimensions(&video), size, "{name}");
        assert_eq!(common::video_frames(&video), 13, "{name}");
        // One thumbnail with 4 px of margin around it.
        assert_eq!(
            dimensions(&out(&format!("{name}.sheet.jpg"))),
            sheet,
            "{name}"
        );
    }
}
