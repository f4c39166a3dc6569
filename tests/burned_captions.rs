//! Burned-in captions (`captions = "burn"`), as a viewer sees them: in a frame in the middle
//! of a line, many pixels of the caption colour in the band at the bottom (or the top, with
//! `caption_position = "top"`) and none in the other; none while nobody speaks (the pause
//! between lines); none in a scene that does not burn. A style edit re-makes only the scene;
//! a missing font and bad values are configuration errors at their keys.

mod common;

use std::time::Duration;

use common::{Folder, Run};

const FPS: u32 = 12;
const WIDTH: usize = 320;
const HEIGHT: usize = 180;

/// One scene of two espeak lines with a second's pause between them, on the built-in face,
/// its captions burned in yellow.
fn folder() -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [{WIDTH}, {HEIGHT}]\nfps = {FPS}\n\
             background = \"#1b2030\"\nvoice = \"narrator\"\navatar = \"astronaut\"\n\n\
             [voices.narrator]\nlanguage = \"en-us\"\n\n\
             [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n"
        ),
    );
    folder.write(
        "projects/talks/project.toml",
        "[[scene]]\nname = \"intro\"\npause = 1.0\ncaptions = \"burn\"\n\
         caption_colour = \"#ffff00\"\ncaption_size = 0.08\n\
         lines = [\"Hello and welcome.\", \"Goodbye for now.\"]\n",
    );
    folder
}

/// The published cues' (start, end) in frames: the first frame a cue covers and the one
/// after its last (SubRip rounds frame times to the millisecond).
fn cue_frames(folder: &Folder) -> Vec<(usize, usize)> {
    let srt = folder.read("out/talks/intro.srt");
    let frame = |t: &str| -> usize {
        let (hms, ms) = t.trim().split_once(',').unwrap();
        let hms: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        let ms = ((hms[0] * 60 + hms[1]) * 60 + hms[2]) * 1000 + ms.parse::<u64>().unwrap();
        ((ms * u64::from(FPS) + 500) / 1000) as usize
    };
    (srt.lines())
        .filter_map(|l| l.split_once(" --> "))
        .map(|(start, end)| (frame(start), frame(end)))
        .collect()
}

/// Frame `n` of the published video, RGB.
fn frame(folder: &Folder, n: usize) -> Vec<u8> {
    let video = folder.file("out/talks/intro.mp4");
    let rgb = common::video_frame(&video, n as u64, "", "rgb24");
    assert_eq!(rgb.len(), WIDTH * HEIGHT * 3, "frame {n}");
    rgb
}

/// Yellow pixels (the caption colour, as the encoder's halved chroma leaves thin strokes:
/// bright, with much less blue than red and green) in the top and the bottom quarter of a
/// frame.
fn yellow(rgb: &[u8]) -> (usize, usize) {
    let band = |rows: std::ops::Range<usize>| {
        (rgb[rows.start * WIDTH * 3..rows.end * WIDTH * 3].chunks(3))
            .filter(|p| {
                let [r, g, b] = [p[0], p[1], p[2]].map(i32::from);
                r > 150 && g > 150 && b + 60 < r.min(g)
            })
            .count()
    };
    (band(0..HEIGHT / 4), band(HEIGHT * 3 / 4..HEIGHT))
}

/// The yellow pixels (top, bottom) in the middle of each line and in the middle of the
/// pause between them.
fn lines_and_pause(folder: &Folder) -> [(usize, usize); 3] {
    let cues = cue_frames(folder);
    assert_eq!(cues.len(), 2, "{cues:?}");
    let middle = |(a, b): (usize, usize)| (a + b) / 2;
    let pause = (cues[0].1, cues[1].0);
    assert!(pause.1 - pause.0 >= 10, "a second's pause: {cues:?}");
    [
        yellow(&frame(folder, middle(cues[0]))),
        yellow(&frame(folder, middle(pause))),
        yellow(&frame(folder, middle(cues[1]))),
    ]
}

/// A build that must succeed.
fn build(folder: &Folder) -> Run {
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

#[test]
fn captions_are_burned_where_and_while_the_lines_are_said() {
    let folder = folder();
    build(&folder);
    // The caption takes many pixels of its band (a row of text 14 px high: some 200 pixels), and none of
    // the other; nothing is drawn while nobody speaks.
    let [first, pause, second] = lines_and_pause(&folder);
    for said in [first, second] {
        assert_eq!(said.0, 0, "top band: {said:?}");
        assert!(said.1 > 100, "bottom band: {said:?}");
    }
    assert_eq!(pause, (0, 0));
    // Each line's first and last frame show its caption: the cue is drawn on exactly
    // its frames, and not on the frame after.
    let cues = cue_frames(&folder);
    for (start, end) in &cues {
        assert!(yellow(&frame(&folder, *start)).1 > 100, "frame {start}");
        assert!(
            yellow(&frame(&folder, end - 1)).1 > 100,
            "frame {}",
            end - 1
        );
    }
    assert_eq!(
        yellow(&frame(&folder, cues[0].1)).1,
        0,
        "after the first cue"
    );

    // At the top: only the scene is made again (the captions' cues are the same).
    let project = "projects/talks/project.toml";
    folder.edit(
        project,
        "captions = \"burn\"",
        "captions = \"burn\"\ncaption_position = \"top\"",
    );
    assert_eq!(build(&folder).made(), ["scene talks/intro"]);
    let [first, pause, second] = lines_and_pause(&folder);
    for said in [first, second] {
        assert!(said.0 > 100, "top band: {said:?}");
        assert_eq!(said.1, 0, "bottom band: {said:?}");
    }
    assert_eq!(pause, (0, 0));

    // Another colour: the scene again, and no yellow left.
    folder.edit(project, "#ffff00", "#00ffff");
    assert_eq!(build(&folder).made(), ["scene talks/intro"]);
    assert_eq!(lines_and_pause(&folder), [(0, 0); 3]);

    // Not burned (the style keys stay, unused): no caption in the video; the .srt and
    // .vtt are still published.
    folder.edit(project, "#00ffff", "#ffff00");
    folder.edit(project, "captions = \"burn\"", "captions = \"file\"");
    assert_eq!(build(&folder).made(), ["scene talks/intro"]);
    assert_eq!(lines_and_pause(&folder), [(0, 0); 3]);
    assert_eq!(
        folder.out_files(),
        common::published(&["out/talks/intro.mp4"])
    );

    // Its key is the key of a scene that never heard of burned captions: the same object.
    let plain = folder.read(project);
    let start = plain.find("captions = \"file\"").unwrap();
    let end = plain.find("lines = ").unwrap();
    folder.write(project, &format!("{}{}", &plain[..start], &plain[end..]));
    assert_eq!(build(&folder).made(), Vec::<String>::new());
}

#[test]
fn captions_burned_by_default_are_drawn_in_every_scene() {
    let folder = folder();
    folder.edit(
        "Renderfile.toml",
        "fps = 12\n",
        "fps = 12\ncaptions = \"burn\"\ncaption_colour = \"#ffff00\"\ncaption_size = 0.08\n",
    );
    folder.write(
        "projects/talks/project.toml",
        "[[scene]]\nname = \"intro\"\npause = 1.0\n\
         lines = [\"Hello and welcome.\", \"Goodbye for now.\"]\n",
    );
    build(&folder);
    let [first, pause, second] = lines_and_pause(&folder);
    assert!(first.1 > 100 && second.1 > 100, "{first:?} {second:?}");
    assert_eq!(pause, (0, 0));
}

#[test]
fn a_missing_font_is_reported_where_captions_are_burned() {
    let folder = folder();
    let no_fonts = tempfile::tempdir().unwrap();
    let fonts = no_fonts.path().to_str().unwrap();
    let env = [("RENDER_FONTS", fonts)];
    let run = folder.render_with_env(&["build"], &env, Duration::from_secs(120));
    assert_eq!(run.code, 2, "{}", run.stderr);
    let project = "projects/talks/project.toml";
    run.assert_lines(
        &[
            &format!(
                "× `captions = \"burn\"` needs the font DejaVu Sans, but {fonts}/DejaVuSans.ttf does not exist"
            ),
            &folder.location(project, "\"burn\""),
            "help: run ./tools/setup in render's repository, or install Debian's fonts-dejavu-core \
             (apt-get install fonts-dejavu-core); RENDER_FONTS may name another folder holding \
             DejaVuSans.ttf",
        ],
    );
    assert!(!folder.file("out").exists());

    // Burned because [defaults] says so: reported at the scene's name.
    folder.edit(project, "captions = \"burn\"\n", "");
    folder.edit(
        "Renderfile.toml",
        "fps = 12\n",
        "fps = 12\ncaptions = \"burn\"\n",
    );
    let run = folder.render_with_env(&["build"], &env, Duration::from_secs(120));
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(
        &[
            &format!(
                "× scene `intro` burns its captions (`captions = \"burn\"` in [defaults]), which needs the font DejaVu Sans, but {fonts}/DejaVuSans.ttf does not exist"
            ),
            &folder.location(project, "\"intro\""),
        ],
    );

    // A scene that does not burn needs no font.
    folder.edit("Renderfile.toml", "captions = \"burn\"\n", "");
    let run = folder.render_with_env(&["build", "--dry-run"], &env, Duration::from_secs(120));
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn bad_caption_values_are_reported_at_their_keys() {
    let folder = folder();
    let project = "projects/talks/project.toml";
    folder.edit(project, "captions = \"burn\"", "captions = \"burnt\"");
    folder.edit(
        project,
        "caption_size = 0.08",
        "caption_size = 0.5\ncaption_position = \"middle\"\ncaption_outline = \"black\"",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&[
        "× `captions` must be \"file\" or \"burn\", not \"burnt\"",
        &folder.location(project, "\"burnt\""),
        "help: did you mean `burn`?",
        "× `caption_size` must be between 0.02 and 0.2, not 0.5",
        &folder.location(project, "0.5"),
        "help: the text's height as a fraction of the frame's height, e.g. 0.05",
        "× `caption_position` must be \"bottom\" or \"top\", not \"middle\"",
        &folder.location(project, "\"middle\""),
        "help: captions sit at the \"bottom\" or the \"top\" of the frame",
        "× `black` is not a colour",
        &folder.location(project, "\"black\""),
        "help: write colours as \"#rrggbb\" (six hex digits), e.g. \"#1e2430\"",
    ]);
    assert!(!folder.file("out").exists());

    // And in [defaults], with a did-you-mean for a misspelt key.
    let folder = folder_with_defaults("capton_size = 0.05");
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&[
        "× unknown key `capton_size` in [defaults]",
        "help: did you mean `caption_size`?",
    ]);
}

/// [`folder`] with `line` added to [defaults].
fn folder_with_defaults(line: &str) -> Folder {
    let folder = folder();
    folder.edit(
        "Renderfile.toml",
        "fps = 12\n",
        &format!("fps = 12\n{line}\n"),
    );
    folder
}
