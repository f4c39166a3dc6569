//! What a user sees when the content folder is wrong or a source file is bad: the message
//! on stderr (error, `file:line:col`, hint), the exit code (2 for configuration errors, 1
//! for a failed artifact), no panic, and nothing half-made left in cache/ or out/.

mod common;

use common::{ffmpeg, files_under, probe, Folder, Run};
use std::time::Duration;

const NOTHING_BUILT: &str =
    "render: nothing was built; fix the errors above, or pass --keep-going to build the valid scenes";
/// The same when no scene is valid (the only project file is broken): --keep-going would
/// build nothing either, so it is not suggested.
const NOTHING_VALID: &str = "render: nothing was built; fix the errors above";

/// `render ARGS` in the folder; a build that hangs fails the test instead of hanging it.
fn render(folder: &Folder, args: &[&str]) -> Run {
    folder.render_within(args, Duration::from_secs(120))
}

/// stderr has this exact line (indentation aside).
#[track_caller]
fn assert_line(run: &Run, line: &str) {
    run.assert_lines(&[line]);
}

/// stderr has a line starting with `prefix` (indentation aside); returns it.
#[track_caller]
fn line_starting<'a>(run: &'a Run, prefix: &str) -> &'a str {
    run.stderr_lines()
        .into_iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("stderr has no line starting {prefix:?}:\n{}", run.stderr))
}

/// The 1-based line where `needle` starts in `rel`.
fn line_of(folder: &Folder, rel: &str, needle: &str) -> usize {
    let text = folder.read(rel);
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("{rel} does not contain {needle:?}"));
    text[..offset].matches('\n').count() + 1
}

/// The exit code, no panic, no temporary files, a cache whose objects match their records,
/// and exactly `out` (whole, playable videos, with their stills) in out/, and the report
/// when the build recorded itself in the history.
#[track_caller]
fn assert_failed_cleanly(folder: &Folder, run: &Run, code: i32, out: &[&str]) {
    assert_eq!(run.code, code, "exit code; stderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(
        files_under(&folder.file("cache/tmp"), folder.path()),
        Vec::<String>::new(),
        "cache/tmp is not empty"
    );
    if folder.file("cache/objects").exists() {
        folder.verify_cache();
    }
    let mut expected = common::published(out);
    if !folder.file("cache/history.jsonl").exists() {
        expected.retain(|f| f != "out/report.html");
    }
    assert_eq!(
        folder.out_files(),
        expected,
        "out/; stderr:\n{}",
        run.stderr
    );
    for scene in out {
        let (video, audio, video_s, audio_s) = probe(&folder.file(scene));
        assert_eq!((video.as_str(), audio.as_str()), ("h264", "aac"), "{scene}");
        assert!(
            (video_s - audio_s).abs() <= 0.040,
            "{scene}: {video_s} s vs {audio_s} s"
        );
    }
}

/// A configuration error: exit 2 and nothing made at all, no cache and no out/.
#[track_caller]
fn assert_config_error(folder: &Folder, run: &Run) {
    assert_failed_cleanly(folder, run, 2, &[]);
    assert_eq!(
        files_under(&folder.file("cache"), folder.path()),
        Vec::<String>::new(),
        "a configuration error left files in cache/"
    );
    assert!(run.statuses.is_empty(), "{:?}", run.statuses);
}

/// A flat grey image: a valid PNG with no face in it.
fn grey_png(folder: &Folder, rel: &str) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=gray:s=256x256",
        "-frames:v",
        "1",
        "-y",
        folder.file(rel).to_str().unwrap(),
    ]);
}

/// A second of flat grey video: a valid H.264 MP4 with no face in it.
fn grey_mp4(folder: &Folder, rel: &str) {
    let path = folder.file(rel);
    ffmpeg(
        &["-f", "lavfi", "-i", "color=c=gray:s=256x256:r=25:d=1"]
            .into_iter()
            .chain(["-pix_fmt", "yuv420p", "-y", path.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
}

/// Bytes that are no image or sound format (xorshift; the same every run).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A mono 16-bit PCM WAV of `samples`, with `rate` written into its header as is.
fn wav_bytes(rate: u32, samples: &[i16]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut fmt = Vec::new();
    fmt.extend(1u16.to_le_bytes()); // PCM
    fmt.extend(1u16.to_le_bytes()); // mono
    fmt.extend(rate.to_le_bytes());
    fmt.extend((rate.wrapping_mul(2)).to_le_bytes()); // bytes per second
    fmt.extend(2u16.to_le_bytes()); // block align
    fmt.extend(16u16.to_le_bytes()); // bits per sample
    let mut body = b"WAVE".to_vec();
    body.extend(b"fmt ");
    body.extend((fmt.len() as u32).to_le_bytes());
    body.extend(fmt);
    body.extend(b"data");
    body.extend((data.len() as u32).to_le_bytes());
    body.extend(data);
    let mut wav = b"RIFF".to_vec();
    wav.extend((body.len() as u32).to_le_bytes());
    wav.extend(body);
    wav
}

/// Makes the last line of scene `dialogue` a recording, `assets/x.wav`, holding `bytes`.
fn recorded_line(folder: &Folder, bytes: &[u8]) {
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    std::fs::write(folder.file("assets/x.wav"), bytes).unwrap();
    folder.edit(
        "projects/demo/project.toml",
        "\"That sounds like make, for talking heads.\",",
        "{ audio = \"assets/x.wav\" },",
    );
}

#[test]
fn toml_syntax_error_in_a_project_points_at_the_line() {
    let folder = Folder::small_demo();
    folder.edit(
        "projects/demo/project.toml",
        "name = \"dialogue\"",
        "name = \"dialogue",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(
        &run,
        "× TOML syntax error: invalid basic string, expected `\"`",
    );
    // The string runs to the end of the line: the error points there.
    let at = folder.location("projects/demo/project.toml", "\npause = 0.5");
    assert_line(&run, &at);
    assert_line(&run, "help: a string is missing its closing `\"`");
    assert_line(&run, NOTHING_VALID);
}

#[test]
fn a_line_of_punctuation_alone_is_reported_at_its_place_before_any_work() {
    let folder = Folder::small_demo();
    folder.edit(
        "projects/demo/project.toml",
        "\"And the other lines come straight from the cache?\"",
        "\"?!... ;--\"",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(
        &run,
        "× line 3 of scene `dialogue` has no words to speak: `?!... ;--` is only punctuation",
    );
    assert_line(
        &run,
        &folder.location("projects/demo/project.toml", "\"?!... ;--\""),
    );
    assert_line(&run, NOTHING_BUILT);
}

#[test]
fn plan_never_says_up_to_date_while_a_scene_has_a_configuration_error() {
    let folder = Folder::small_demo();
    folder.build();
    assert_eq!(
        render(&folder, &["plan"]).stdout,
        "up to date (24 artifacts)\n"
    );
    folder.edit("projects/demo/project.toml", "pause = 0.5", "pasue = 0.5");
    let run = render(&folder, &["plan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_line(&run, "× unknown key `pasue` in scene `dialogue`");
    assert_eq!(
        run.stdout,
        "the valid scenes are up to date (12 artifacts); scenes with configuration errors (above) are left out\n"
    );
    // With something to make, the count says the same.
    folder.edit(
        "projects/demo/welcome.txt",
        "Hello, and welcome",
        "Hi, and welcome",
    );
    let run = render(&folder, &["plan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        (run.stdout.lines().last().unwrap())
            .ends_with("to make, 5 files in out/ to publish; scenes with configuration errors (above) are left out"),
        "{}",
        run.stdout
    );
}

#[test]
fn unknown_key_suggests_the_key_it_resembles() {
    let folder = Folder::small_demo();
    folder.edit("Renderfile.toml", "pitch = 65", "pich = 40");
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(&run, "× unknown key `pich` in voice `guest`");
    assert_line(&run, &folder.location("Renderfile.toml", "pich = 40"));
    assert_line(&run, "help: did you mean `pitch`?");

    // The same in a scene of a project.toml.
    let folder = Folder::small_demo();
    folder.edit("projects/demo/project.toml", "pause = 0.5", "pasue = 0.5");
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(&run, "× unknown key `pasue` in scene `dialogue`");
    assert_line(
        &run,
        &folder.location("projects/demo/project.toml", "pasue = 0.5"),
    );
    assert_line(&run, "help: did you mean `pause`?");
    assert_line(&run, NOTHING_BUILT);
}

#[test]
fn missing_avatar_file_is_a_configuration_error() {
    let folder = Folder::small_demo();
    std::fs::remove_file(folder.file("avatars/astronaut.png")).unwrap();
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(&run, "× file `avatars/astronaut.png` not found");
    assert_line(
        &run,
        &folder.location("Renderfile.toml", "\"avatars/astronaut.png\""),
    );
    assert_line(
        &run,
        "help: paths are relative to the content folder (the folder holding Renderfile.toml)",
    );
}

/// The avatar `astronaut`'s image replaced by `bytes`.
fn avatar_image(folder: &Folder, bytes: &[u8]) {
    std::fs::write(folder.file("avatars/astronaut.png"), bytes).unwrap();
}

/// Scene `dialogue`'s background set to `assets/bg.png`, holding `bytes`.
fn background_image(folder: &Folder, bytes: &[u8]) {
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    std::fs::write(folder.file("assets/bg.png"), bytes).unwrap();
    folder.edit(
        "projects/demo/project.toml",
        "pause = 0.5",
        "pause = 0.5\nbackground = \"assets/bg.png\"",
    );
}

/// A PNG of `width`×`height` grey pixels.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([128, 128, 128]));
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

/// A configuration error about a media file, found when the folder loads: exit 2, nothing
/// made (no speech, no cache), and the message at the key that names the file, with its help.
#[track_caller]
fn assert_media_error(folder: &Folder, run: &Run, message: &str, at: (&str, &str), help: &str) {
    assert_config_error(folder, run);
    assert_line(run, message);
    assert_line(run, &folder.location(at.0, at.1));
    assert_line(run, help);
}

const UNREADABLE_IMAGE: &str =
    "help: it is damaged, cut short or not a PNG or JPEG: export it again as .png or .jpg";
const UNREADABLE_WAV: &str =
    "help: render reads PCM WAV files; convert others with `ffmpeg -i in.mp3 out.wav`";

#[test]
fn avatar_image_without_a_face_is_a_configuration_error() {
    let folder = Folder::small_demo();
    grey_png(&folder, "avatars/grey.png");
    folder.edit(
        "Renderfile.toml",
        "\"avatars/astronaut.png\"",
        "\"avatars/grey.png\"",
    );
    let run = render(&folder, &["build"]);
    assert_media_error(
        &folder,
        &run,
        "× no face found in avatar image `avatars/grey.png`",
        ("Renderfile.toml", "\"avatars/grey.png\""),
        "help: use a front-facing portrait where the whole face is visible and at least 40 pixels tall",
    );
}

#[test]
fn avatar_video_without_a_face_fails_its_face_track() {
    // A video's frames are read by its face track, not when the folder loads.
    let folder = Folder::small_demo();
    grey_mp4(&folder, "avatars/grey.mp4");
    folder.edit(
        "Renderfile.toml",
        "image = \"avatars/astronaut.png\"",
        "video = \"avatars/grey.mp4\"",
    );
    let run = render(&folder, &["build"]);
    assert_failed_cleanly(&folder, &run, 1, &[]);
    assert_line(&run, "FAILED face-track astronaut");
    assert_line(&run, "× cannot make face-track astronaut");
    assert_line(&run, "× no face found in `avatars/grey.mp4` (frame 0)");
    assert_line(
        &run,
        "help: use a front-facing portrait where the whole face is visible and at least 40 pixels tall",
    );
    assert!(line_starting(&run, "render: made ").contains(", failed 1,"));
    assert_eq!(run.with_status("failed"), ["face-track astronaut"]);
}

#[test]
fn corrupt_or_truncated_avatar_image_is_reported_at_load() {
    let png = std::fs::read(common::repo().join("avatars/astronaut.png")).unwrap();
    for (bytes, detail) in [
        (
            noise(4000),
            "Format error decoding Png: Invalid PNG signature.",
        ),
        (png[..3000].to_vec(), "unexpected end of file"),
    ] {
        let folder = Folder::small_demo();
        avatar_image(&folder, &bytes);
        let run = render(&folder, &["build"]);
        assert_media_error(
            &folder,
            &run,
            &format!("× cannot read avatar image `avatars/astronaut.png`: {detail}"),
            ("Renderfile.toml", "\"avatars/astronaut.png\""),
            UNREADABLE_IMAGE,
        );
    }

    // The JPEG decoder would fill in a missing half with grey.
    let folder = Folder::small_demo();
    let mut jpeg = Vec::new();
    image::open(folder.file("avatars/astronaut.png"))
        .unwrap()
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    std::fs::write(
        folder.file("avatars/astronaut.jpg"),
        &jpeg[..jpeg.len() / 2],
    )
    .unwrap();
    folder.edit("Renderfile.toml", "astronaut.png", "astronaut.jpg");
    let run = render(&folder, &["build"]);
    assert_media_error(
        &folder,
        &run,
        "× cannot read avatar image `avatars/astronaut.jpg`: it is cut short: the JPEG ends before its end-of-image marker",
        ("Renderfile.toml", "\"avatars/astronaut.jpg\""),
        UNREADABLE_IMAGE,
    );
}

#[test]
fn truncated_background_image_is_reported_at_load() {
    let folder = Folder::small_demo();
    background_image(&folder, &png(320, 180)[..100]);
    let run = render(&folder, &["build"]);
    assert_media_error(
        &folder,
        &run,
        "× cannot read background image `assets/bg.png`: unexpected end of file",
        ("projects/demo/project.toml", "\"assets/bg.png\""),
        UNREADABLE_IMAGE,
    );
    assert_line(&run, NOTHING_BUILT);
}

#[test]
fn too_small_and_too_large_images_say_which_limit() {
    let folder = Folder::small_demo();
    avatar_image(&folder, &png(1, 1));
    let run = render(&folder, &["build"]);
    assert_media_error(
        &folder,
        &run,
        "× avatar image `avatars/astronaut.png` is 1×1 pixels, under the minimum of 40×40",
        ("Renderfile.toml", "\"avatars/astronaut.png\""),
        "help: faces are found from 40 pixels up: use a portrait in which the face is at least 40 pixels tall",
    );

    let too_large = "help: scale it down to at most 8192×8192 (a video frame is at most 7680 wide)";
    let folder = Folder::small_demo();
    avatar_image(&folder, &png(64, 8193));
    let run = render(&folder, &["build"]);
    assert_media_error(
        &folder,
        &run,
        "× avatar image `avatars/astronaut.png` is 64×8193 pixels, over the limit of 8192 pixels a side",
        ("Renderfile.toml", "\"avatars/astronaut.png\""),
        too_large,
    );

    let folder = Folder::small_demo();
    background_image(&folder, &png(8200, 16));
    let run = render(&folder, &["build"]);
    assert_media_error(
        &folder,
        &run,
        "× background image `assets/bg.png` is 8200×16 pixels, over the limit of 8192 pixels a side",
        ("projects/demo/project.toml", "\"assets/bg.png\""),
        too_large,
    );
}

#[test]
fn corrupt_or_truncated_recorded_line_is_reported_at_load() {
    let wav = common::tone_wav(16000, 1.0);
    for (bytes, detail) in [
        // A RIFF/WAVE header and then junk instead of chunks.
        (
            b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk".to_vec(),
            "it is cut short: the file ends before the audio its header announces",
        ),
        (
            wav[..wav.len() / 2].to_vec(),
            "it is cut short: the file ends before the audio its header announces",
        ),
        // hound reads a rate of 0 and divided by it when the WAV was written back: a panic in
        // a job, after which the build never finished.
        (
            wav_bytes(0, &[4096; 1600]),
            "its sample rate is 0 Hz; speech needs at least 8000 Hz",
        ),
    ] {
        let folder = Folder::small_demo();
        recorded_line(&folder, &bytes);
        let run = render(&folder, &["build"]);
        assert_media_error(
            &folder,
            &run,
            &format!("× cannot read recording `assets/x.wav`: {detail}"),
            ("projects/demo/project.toml", "\"assets/x.wav\""),
            UNREADABLE_WAV,
        );
        assert_line(&run, NOTHING_BUILT);
    }
}

#[test]
fn empty_scripts_are_configuration_errors() {
    let folder = Folder::small_demo();
    let text = folder.read("projects/demo/project.toml");
    let start = text.find("lines = [").unwrap();
    let end = start + text[start..].find("\n]").unwrap() + 2;
    folder.write(
        "projects/demo/project.toml",
        &format!("{}lines = []{}", &text[..start], &text[end..]),
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(&run, "× scene `dialogue` has no script lines");
    assert_line(&run, &folder.location("projects/demo/project.toml", "[]"));
    assert_line(
        &run,
        "help: add at least one line, e.g. lines = [\"Hello!\"]",
    );
    assert_line(&run, NOTHING_BUILT);

    // A script file with only comments and blank lines.
    let folder = Folder::small_demo();
    folder.write(
        "projects/demo/welcome.txt",
        "# The welcome scene\n\n   \n# nothing to say yet\n",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(&run, "× scene `welcome` has no script lines");
    assert_line(
        &run,
        &folder.location(
            "projects/demo/project.toml",
            "\"projects/demo/welcome.txt\"",
        ),
    );
    let help = line_starting(
        &run,
        "help: write the lines into `projects/demo/welcome.txt`",
    );
    assert!(help.contains("`#` starts a comment"), "{help}");
    assert_line(&run, NOTHING_BUILT);
}

#[test]
fn paths_outside_the_content_folder_are_refused() {
    // `..` that climbs out, in a project.
    let folder = Folder::small_demo();
    folder.edit(
        "projects/demo/project.toml",
        "\"projects/demo/welcome.txt\"",
        "\"../../etc/passwd\"",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(&run, "× `../../etc/passwd` is outside the content folder");
    assert_line(
        &run,
        &folder.location("projects/demo/project.toml", "\"../../etc/passwd\""),
    );
    assert_line(&run, "help: `..` may not climb out of the content folder; paths are relative to the content folder (the folder holding Renderfile.toml), so copy the file into it");
    assert_line(&run, NOTHING_BUILT);

    // An absolute path, in Renderfile.toml.
    let folder = Folder::small_demo();
    folder.edit(
        "Renderfile.toml",
        "\"avatars/astronaut.png\"",
        "\"/etc/passwd\"",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(&run, "× `/etc/passwd` is outside the content folder");
    assert_line(&run, &folder.location("Renderfile.toml", "\"/etc/passwd\""));
    assert_line(&run, "help: absolute paths are not allowed; paths are relative to the content folder (the folder holding Renderfile.toml)");

    // A symbolic link inside the folder to a file outside it.
    let folder = Folder::small_demo();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(
        folder.file("avatars/astronaut.png"),
        outside.path().join("face.png"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("face.png"),
        folder.file("avatars/linked.png"),
    )
    .unwrap();
    folder.edit(
        "Renderfile.toml",
        "\"avatars/astronaut.png\"",
        "\"avatars/linked.png\"",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(&run, "× `avatars/linked.png` is outside the content folder");
    assert_line(
        &run,
        &folder.location("Renderfile.toml", "\"avatars/linked.png\""),
    );
    let target = outside.path().join("face.png").canonicalize().unwrap();
    assert_line(
        &run,
        &format!(
            "help: `avatars/linked.png` is a symbolic link to `{}`, outside the content folder; copy the file into the content folder instead of linking to it",
            target.display()
        ),
    );
}

#[test]
fn unknown_voice_on_a_line_suggests_a_declared_one() {
    let folder = Folder::small_demo();
    folder.edit(
        "projects/demo/project.toml",
        "voice = \"guest\"",
        "voice = \"gust\"",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(&run, "× unknown voice `gust`");
    assert_line(
        &run,
        &folder.location("projects/demo/project.toml", "\"gust\""),
    );
    assert!(
        run.stderr.contains("╰── not a declared voice"),
        "{}",
        run.stderr
    );
    assert_line(&run, "help: did you mean `guest`?");
    assert_line(&run, NOTHING_BUILT);
}

#[test]
fn keep_going_builds_the_valid_scenes_around_a_configuration_error() {
    let folder = Folder::small_demo();
    folder.edit(
        "projects/demo/project.toml",
        "voice = \"guest\"",
        "voice = \"gust\"",
    );

    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert!(!folder.file("out").exists());
    assert_line(&run, "× unknown voice `gust`");
    assert_line(&run, NOTHING_BUILT);

    let run = render(&folder, &["build", "--keep-going"]);
    assert_failed_cleanly(&folder, &run, 2, &["out/demo/welcome.mp4"]);
    assert_line(&run, "× unknown voice `gust`");
    assert!(!run.stderr.contains(NOTHING_BUILT), "{}", run.stderr);
    assert_line(
        &run,
        "render: scenes with configuration errors (above) were left out",
    );
    assert_eq!(run.statuses["scene demo/welcome"], "made");
    // The bad scene is not in the graph at all.
    assert!(
        run.statuses.keys().all(|name| !name.contains("dialogue")),
        "{:?}",
        run.statuses
    );
}

#[test]
fn keep_going_builds_the_scenes_that_do_not_need_a_failed_artifact() {
    let folder = Folder::small_demo();
    grey_mp4(&folder, "avatars/grey.mp4");
    let renderfile = folder.read("Renderfile.toml");
    folder.write(
        "Renderfile.toml",
        &format!(
            "{renderfile}\n[avatars.blank]\nvideo = \"avatars/grey.mp4\"\nlipsync = \"builtin\"\n"
        ),
    );
    folder.edit(
        "projects/demo/project.toml",
        "pause = 0.5",
        "pause = 0.5\navatar = \"blank\"",
    );

    // Without --keep-going the build stops at the failure. Scenes are finished one after
    // another, so the first may be whole and published by then (or not yet started, when
    // the failing face track ran beside it): never half of it.
    let run = render(&folder, &["build"]);
    let welcome: &[&str] = if run.statuses["scene demo/welcome"] == "made" {
        &["out/demo/welcome.mp4"]
    } else {
        &[]
    };
    assert_failed_cleanly(&folder, &run, 1, welcome);
    assert_line(&run, "× no face found in `avatars/grey.mp4` (frame 0)");
    assert_eq!(run.statuses["face-track blank"], "failed");
    assert_eq!(run.statuses["scene demo/dialogue"], "skipped");

    let run = render(&folder, &["build", "--keep-going"]);
    assert_failed_cleanly(&folder, &run, 1, &["out/demo/welcome.mp4"]);
    assert_line(&run, "FAILED face-track blank");
    assert_line(&run, "× no face found in `avatars/grey.mp4` (frame 0)");
    assert_eq!(run.with_status("failed"), ["face-track blank"]);
    // Made now, or already by the build above.
    let welcome_now = if welcome.is_empty() { "made" } else { "reused" };
    assert_eq!(run.statuses["scene demo/welcome"], welcome_now);
    assert_eq!(run.statuses["scene demo/dialogue"], "skipped");
    // The lines that show `blank` are skipped; the guest's (2 and 4) show the guest's own
    // avatar, which a scene's does not override.
    for line in 1..=5 {
        let name = format!("clip demo/dialogue:{line}");
        let skipped = run.statuses[&name] == "skipped";
        assert_eq!(
            skipped,
            line != 2 && line != 4,
            "{name}: {}",
            run.statuses[&name]
        );
    }
    assert!(line_starting(&run, "render: made ").contains(", failed 1,"));
}

#[test]
fn a_folder_without_renderfile_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(common::bin())
        .arg("build")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into(),
        stderr: String::from_utf8_lossy(&output.stderr).into(),
        statuses: Default::default(),
    };
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let root = dir.path().canonicalize().unwrap();
    // Not named: looked for from here upwards.
    assert_line(
        &run,
        &format!(
            "× no Renderfile.toml in `{}` or any folder above it",
            root.display()
        ),
    );
    // Named: that folder is the content folder, and it has none.
    let output = std::process::Command::new(common::bin())
        .args(["build", root.to_str().unwrap()])
        .output()
        .unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into(),
        stderr: String::from_utf8_lossy(&output.stderr).into(),
        statuses: Default::default(),
    };
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_line(
        &run,
        &format!("× no `Renderfile.toml` in `{}`", root.display()),
    );
    line_starting(&run, "help: a content folder needs a Renderfile.toml");
    // Nothing was made in a folder that is not a content folder.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn duplicate_key_names_its_first_definition() {
    let folder = Folder::small_demo();
    let rel = "projects/demo/project.toml";
    folder.edit(rel, "pause = 0.5", "pause = 0.5\npause = 0.7");
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    let first = line_of(&folder, rel, "pause = 0.5");
    assert_line(
        &run,
        &format!("× duplicate key `pause`, first defined on line {first}"),
    );
    assert_line(&run, &folder.location(rel, "pause = 0.7"));
    assert!(run.stderr.contains("first defined here"), "{}", run.stderr);
    assert_line(
        &run,
        "help: a key may appear only once in a table: keep one `pause = ...` and remove the other",
    );
    assert_line(&run, NOTHING_VALID);
}

#[test]
fn duplicate_table_names_its_first_definition() {
    let folder = Folder::small_demo();
    let renderfile = folder.read("Renderfile.toml");
    folder.write(
        "Renderfile.toml",
        &format!("{renderfile}\n[voices.guest]\nsamples = []\n"),
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    let first = line_of(&folder, "Renderfile.toml", "[voices.guest]");
    assert_line(
        &run,
        &format!("× duplicate table `[voices.guest]`, first defined on line {first}"),
    );
    assert_line(
        &run,
        &folder.location("Renderfile.toml", "guest]\nsamples = []"),
    );
    assert_line(
        &run,
        "help: a table may be declared only once: merge the two [voices.guest] sections into one",
    );
}

#[test]
fn a_line_with_both_text_and_audio_is_named() {
    let folder = Folder::small_demo();
    let rel = "projects/demo/project.toml";
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    std::fs::write(folder.file("assets/x.wav"), common::tone_wav(16000, 0.5)).unwrap();
    folder.edit(
        rel,
        "\"That sounds like make, for talking heads.\",",
        "{ text = \"That sounds like make.\", audio = \"assets/x.wav\" },",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(
        &run,
        "× line 5 of scene `dialogue` has both `text` and `audio`",
    );
    assert_line(&run, &folder.location(rel, "\"assets/x.wav\""));
    assert!(run.stderr.contains("text here"), "{}", run.stderr);
    assert_line(
        &run,
        "help: a line is either said from its `text` or played from its recording `audio`: keep one of them",
    );
    assert_line(&run, NOTHING_BUILT);
}

#[test]
fn a_control_character_in_a_line_is_named() {
    let folder = Folder::small_demo();
    let rel = "projects/demo/project.toml";
    folder.edit(
        rel,
        "\"That sounds like make,",
        "\"That sounds like\\u0000 make,",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(
        &run,
        "× line 5 of scene `dialogue` contains a control character (U+0000 NUL)",
    );
    assert_line(&run, &folder.location(rel, "\"That sounds like\\u0000"));
    assert_line(
        &run,
        "help: delete it: a line's text must be printable (tabs and line breaks are fine); most editors do not show it, and a NUL would cut the line short",
    );
    assert_line(&run, NOTHING_BUILT);

    // In a script file, at the character.
    let folder = Folder::small_demo();
    let rel = "projects/demo/welcome.txt";
    let script = folder.read(rel);
    let first = script
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap();
    let broken = format!("{}\u{1b}{}", &first[..4], &first[4..]);
    folder.edit(rel, first, &broken);
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(
        &run,
        "× a line in the script of scene `welcome` contains a control character (U+001B ESC)",
    );
    assert_line(&run, &folder.location(rel, "\u{1b}"));

    // Written into project.toml as is: a TOML syntax error, at the character.
    let folder = Folder::small_demo();
    let rel = "projects/demo/project.toml";
    folder.edit(
        rel,
        "\"That sounds like make,",
        "\"That sounds like\u{0} make,",
    );
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(
        &run,
        "× TOML syntax error: a control character (U+0000 NUL) in the file",
    );
    assert_line(&run, &folder.location(rel, "\u{0}"));
    assert_line(
        &run,
        "help: delete it: most editors do not show it (in a string, an escape such as \\u0000 stands for one)",
    );
}

#[test]
fn no_projects_found_says_where_it_looked_and_what_was_meant() {
    let folder = Folder::small_demo();
    std::fs::rename(
        folder.file("projects/demo/project.toml"),
        folder.file("projects/demo/Project.toml"),
    )
    .unwrap();
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(
        &run,
        "× no projects found: no `project.toml` in `projects/demo`",
    );
    // With no valid scene, --keep-going would build nothing either.
    assert_eq!(
        run.stderr.lines().last(),
        Some("render: nothing was built; fix the errors above")
    );
    assert_line(
        &run,
        "help: did you mean `projects/demo/Project.toml`? rename it to `projects/demo/project.toml` (file names are case-sensitive); a project is a folder `projects/<name>/` holding a `project.toml` with its [[scene]] tables (its videos go to out/<name>/)",
    );

    // No `projects` folder at all.
    std::fs::remove_dir_all(folder.file("projects")).unwrap();
    let run = render(&folder, &["build"]);
    assert_config_error(&folder, &run);
    assert_line(
        &run,
        "× no projects found: the content folder has no `projects` folder",
    );
    assert_line(
        &run,
        "help: a project is a folder `projects/<name>/` holding a `project.toml` with its [[scene]] tables (its videos go to out/<name>/)",
    );
}

#[test]
fn an_avatar_with_two_faces_follows_the_largest_and_says_so() {
    // The demo's portrait pasted twice on a grey canvas: at half size on the left, whole on
    // the right.
    let portrait = image::open(common::repo().join("avatars/astronaut.png"))
        .unwrap()
        .to_rgb8();
    let half = image::imageops::resize(&portrait, 256, 256, image::imageops::Triangle);
    let mut canvas = image::RgbImage::from_pixel(800, 512, image::Rgb([128, 128, 128]));
    image::imageops::overlay(&mut canvas, &half, 0, 128);
    image::imageops::overlay(&mut canvas, &portrait, 288, 0);
    let folder = Folder::small_demo();
    canvas.save(folder.file("avatars/two.png")).unwrap();
    folder.edit(
        "Renderfile.toml",
        "\"avatars/astronaut.png\"",
        "\"avatars/two.png\"",
    );

    let run = render(&folder, &["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let frame = render::frame::Frame::from_rgb(800, 512, canvas.into_raw());
    let faces = render::engine::rustface::FaceDetector::new().faces(&frame);
    assert_eq!(faces.len(), 2, "{faces:?}");
    let largest = faces[0];
    assert!(
        largest.x > 288.0,
        "the whole-size face is on the right: {faces:?}"
    );
    let warning = format!(
        "⚠ avatar image `avatars/two.png` shows 2 faces; render follows the largest, {}×{} pixels at ({}, {})",
        largest.w.round(),
        largest.h.round(),
        largest.x.round(),
        largest.y.round()
    );
    assert_line(&run, &warning);
    assert_line(
        &run,
        &folder.location("Renderfile.toml", "\"avatars/two.png\""),
    );
    assert_line(&run, "help: to follow another face, crop the image to it");
    // The face track follows it.
    let (dir, _) = (folder.records().into_iter())
        .find(|(_, record)| record["name"] == "face-track astronaut")
        .expect("a face track for astronaut");
    let track: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("track.json")).unwrap()).unwrap();
    // The track is in the working copy's pixels (a still avatar is worked at what the
    // frame needs): scaled back to the image's.
    let scale = 800.0 / track["width"].as_f64().unwrap();
    let x = track["boxes"][0]["x"].as_f64().unwrap() * scale;
    assert!((x - largest.x as f64).abs() < 8.0, "{x} vs {largest:?}");

    // A no-op says so again, from what it remembered: the state is not rewritten.
    let state = folder.file("cache/state/sources.json");
    let before = std::fs::metadata(&state).unwrap().modified().unwrap();
    let run = render(&folder, &["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.made().is_empty(), "{:?}", run.made());
    assert_line(&run, &warning);
    assert_eq!(
        std::fs::metadata(&state).unwrap().modified().unwrap(),
        before
    );
}

#[test]
fn media_checks_are_remembered_by_content_hash() {
    let folder = Folder::small_demo();
    folder.build();
    let state = folder.file("cache/state/sources.json");
    let remembered: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    for avatar in ["avatars/astronaut.png", "avatars/camera.png"] {
        assert_eq!(
            remembered[avatar]["passed"],
            serde_json::json!({ "AvatarImage/2": null }),
            "{remembered}"
        );
    }
    // A file replaced by a damaged one of the same size is checked again.
    let png = std::fs::read(folder.file("avatars/camera.png")).unwrap();
    let mut damaged = png.clone();
    let middle = damaged.len() / 2;
    damaged[middle..].iter_mut().for_each(|b| *b = 0);
    std::fs::remove_file(folder.file("avatars/camera.png")).unwrap();
    std::fs::write(folder.file("avatars/camera.png"), &damaged).unwrap();
    let run = render(&folder, &["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    line_starting(&run, "× cannot read avatar image `avatars/camera.png`: ");
    assert!(run.made().is_empty(), "{:?}", run.made());
}

#[test]
fn keep_going_leaves_out_the_scenes_that_show_a_damaged_avatar() {
    let folder = Folder::small_demo();
    let png = std::fs::read(folder.file("avatars/camera.png")).unwrap();
    std::fs::write(folder.file("avatars/camera.png"), &png[..png.len() / 2]).unwrap();
    // Only `dialogue` shows the guest's face, then.
    folder.edit(
        "projects/demo/welcome.txt",
        "[guest] And it only",
        "And it only",
    );
    let message = "× cannot read avatar image `avatars/camera.png`: unexpected end of file";

    let run = render(&folder, &["build"]);
    assert_media_error(
        &folder,
        &run,
        message,
        ("Renderfile.toml", "\"avatars/camera.png\""),
        UNREADABLE_IMAGE,
    );
    assert_line(&run, NOTHING_BUILT);

    let run = render(&folder, &["build", "--keep-going"]);
    assert_failed_cleanly(&folder, &run, 2, &["out/demo/welcome.mp4"]);
    assert_line(&run, message);
    assert_eq!(run.statuses["scene demo/welcome"], "made");
    assert!(
        run.statuses.keys().all(|name| !name.contains("dialogue")),
        "{:?}",
        run.statuses
    );
}
