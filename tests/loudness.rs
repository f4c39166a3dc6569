//! Loudness, as a listener hears it: every published video, measured by ffmpeg's `ebur128`
//! (the meter of EBU R 128), is at its scene's target ±1 LU with its true peak at or under
//! the ceiling — a scene of several lines, a one-line scene of about a second (where
//! loudnorm alone goes wrong), a scene with `loudness = -16`. The audio is stereo AAC at
//! 48 kHz; each scene's record holds the figures, the first pass's close to what the meter
//! says of the speech before normalisation. Editing `loudness` makes only the scenes again.
//! Bad values are diagnosed at their key.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use common::Folder;

const RENDERFILE: &str = "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [160, 90]\nfps = 12\n\
     background = \"#1b2030\"\nvoice = \"narrator\"\navatar = \"astronaut\"\n\n\
     [voices.narrator]\nlanguage = \"en-us\"\n\n\
     [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n";

/// Three scenes of espeak lines on the built-in face: two lines; one line of about a second;
/// two lines at -16 LUFS.
fn folder() -> Folder {
    let folder = Folder::with_portrait();
    folder.write("Renderfile.toml", RENDERFILE);
    folder.write(
        "projects/talks/project.toml",
        "[[scene]]\nname = \"intro\"\npause = 0.3\n\
         lines = [\"Hello and welcome to the show.\", \"Today we talk about loudness.\"]\n\n\
         [[scene]]\nname = \"short\"\nlines = [\"Hi there.\"]\n\n\
         [[scene]]\nname = \"quiet\"\nloudness = -16\n\
         lines = [\"This scene is a little quieter.\", \"It is meant for podcasts.\"]\n",
    );
    folder
}

/// The folder, built once for the tests that only read it.
fn built() -> &'static Folder {
    static BUILT: OnceLock<Folder> = OnceLock::new();
    BUILT.get_or_init(|| {
        let folder = folder();
        folder.build();
        folder
    })
}

/// The record of the object named `name`.
fn record(folder: &Folder, name: &str) -> (PathBuf, serde_json::Value) {
    (folder.records().into_iter())
        .find(|(_, record)| record["name"] == name)
        .unwrap_or_else(|| panic!("no object named {name}"))
}

#[test]
fn every_scene_measures_its_target_under_the_ceiling() {
    let folder = built();
    for (scene, target) in [("intro", -14.0), ("short", -14.0), ("quiet", -16.0)] {
        let (integrated, peak) = common::ebur128(&folder.file(&format!("out/talks/{scene}.mp4")));
        assert!(
            (integrated - target).abs() <= 1.0,
            "{scene}: {integrated} LUFS, not {target} ±1"
        );
        assert!(peak <= -1.0, "{scene}: true peak {peak} dBTP over -1");
    }
}

#[test]
fn audio_is_stereo_aac_at_48_khz() {
    let folder = built();
    for scene in ["intro", "short", "quiet"] {
        let output = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "a",
                "-print_format",
                "json",
            ])
            .args([
                "-show_entries",
                "stream=codec_name,sample_rate,channels,channel_layout",
            ])
            .arg(folder.file(&format!("out/talks/{scene}.mp4")))
            .output()
            .unwrap();
        let probe: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let stream = &probe["streams"][0];
        assert_eq!(
            (
                stream["codec_name"].as_str(),
                stream["sample_rate"].as_str(),
                stream["channels"].as_u64(),
                stream["channel_layout"].as_str()
            ),
            (Some("aac"), Some("48000"), Some(2), Some("stereo")),
            "{scene}"
        );
    }
}

#[test]
fn the_record_holds_the_figures_before_and_after() {
    let folder = built();
    for (scene, target) in [("intro", -14.0), ("short", -14.0), ("quiet", -16.0)] {
        let (_, record) = record(folder, &format!("scene talks/{scene}"));
        let loudness = &record["loudness"];
        assert_eq!(loudness["target"]["integrated"], target, "{scene}");
        assert_eq!(loudness["target"]["true_peak"], -1.0, "{scene}");
        let mode = loudness["normalization"].as_str().unwrap();
        assert!(["linear", "dynamic"].contains(&mode), "{scene}: {mode}");
        // What the record says of the video is what the meter says.
        let (integrated, peak) = common::ebur128(&folder.file(&format!("out/talks/{scene}.mp4")));
        assert_eq!(loudness["output_i"].as_f64(), Some(integrated), "{scene}");
        assert_eq!(loudness["output_tp"].as_f64(), Some(peak), "{scene}");
        for figure in ["input_i", "input_tp", "input_lra", "input_thresh"] {
            assert!(loudness["input"][figure].is_f64(), "{scene}: {figure}");
        }
    }
    // A one-line scene's audio before normalisation is its line's speech: the first pass
    // measured what the meter says of it.
    let (dir, _) = record(folder, "speech talks/short:1");
    let (speech, _) = common::ebur128(&dir.join("speech.wav"));
    let (_, record) = record(folder, "scene talks/short");
    let input = record["loudness"]["input"]["input_i"].as_f64().unwrap();
    assert!(
        (input - speech).abs() <= 0.5,
        "first pass {input} LUFS, the speech {speech} LUFS"
    );
    // And it was far from the target: the normalisation did something.
    assert!(speech < -16.0, "the speech is already at {speech} LUFS");
}

#[test]
fn editing_loudness_makes_only_the_scenes_again() {
    let folder = Folder::with_portrait();
    folder.write("Renderfile.toml", RENDERFILE);
    folder.write(
        "projects/talks/project.toml",
        "[[scene]]\nname = \"one\"\nlines = [\"Hello.\"]\n\n\
         [[scene]]\nname = \"two\"\nlines = [\"Goodbye.\"]\n",
    );
    folder.build();
    let before = common::ebur128(&folder.file("out/talks/one.mp4")).0;

    folder.edit(
        "Renderfile.toml",
        "[defaults]\n",
        "[defaults]\nloudness = -20\n",
    );
    let run = folder.build();
    let mut made = run.made();
    made.sort();
    assert_eq!(
        made,
        ["scene talks/one", "scene talks/two"],
        "{}",
        run.stderr
    );
    let after = common::ebur128(&folder.file("out/talks/one.mp4")).0;
    assert!((after + 20.0).abs() <= 1.0, "{after} LUFS, not -20 ±1");
    assert!(after < before - 4.0, "{before} → {after}");

    // A scene's own value over the default: only that scene.
    folder.edit(
        "projects/talks/project.toml",
        "name = \"two\"\n",
        "name = \"two\"\ntrue_peak = -3\n",
    );
    let run = folder.build();
    assert_eq!(run.made(), ["scene talks/two"], "{}", run.stderr);
    let (_, peak) = common::ebur128(&folder.file("out/talks/two.mp4"));
    assert!(peak <= -3.0, "true peak {peak} over -3");
}

#[test]
fn bad_values_are_diagnosed_at_their_key() {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        &RENDERFILE.replace("[defaults]\n", "[defaults]\nloudness = -3\n"),
    );
    folder.write(
        "projects/talks/project.toml",
        "[[scene]]\nname = \"one\"\ntrue_peak = 0.5\nlines = [\"Hello.\"]\n\n\
         [[scene]]\nname = \"two\"\nloudness = \"loud\"\nlines = [\"Bye.\"]\n",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&[
        "× `loudness` must be between -70 and -5 LUFS, not -3",
        "╭─[Renderfile.toml:5:12]",
        "·             ╰── out of range",
        "help: integrated loudness in LUFS, e.g. -14 (streaming), -16 (podcasts) or -23 \
             (broadcast)",
    ]);

    // In a scene, once Renderfile.toml is valid.
    folder.write("Renderfile.toml", RENDERFILE);
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&[
        "× `true_peak` must be between -8 and 0 dBTP, not 0.5",
        "╭─[projects/talks/project.toml:3:13]",
        "help: the highest true peak in dBTP, e.g. -1 or -2",
    ]);
    assert!(
        run.stderr.contains("[projects/talks/project.toml:8:12]"),
        "a string for `loudness` is diagnosed at it:\n{}",
        run.stderr
    );
}

/// A 16-sample recording (0.7 ms: a click, a cut-off take) as a scene's first line: the
/// scene is made with its planned frames — 1 for the click, 4 for the pause (0.3 s at
/// 12 fps), 12 for a second of tone — and the tone normalised to the target.
#[test]
fn a_sixteen_sample_recording_can_open_a_scene() {
    let folder = Folder::with_portrait();
    folder.write("Renderfile.toml", RENDERFILE);
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    let click = common::tone_wav(22_050, 16.5 / 22_050.0);
    assert_eq!(click.len(), 44 + 2 * 16, "16 mono 16-bit samples");
    std::fs::write(folder.file("assets/click.wav"), click).unwrap();
    std::fs::write(
        folder.file("assets/tone.wav"),
        common::tone_wav(22_050, 1.0),
    )
    .unwrap();
    folder.write(
        "projects/talks/project.toml",
        "[[scene]]\nname = \"click\"\npause = 0.3\n\
         lines = [{ audio = \"assets/click.wav\" }, { audio = \"assets/tone.wav\" }]\n",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let video = folder.file("out/talks/click.mp4");
    assert_eq!(common::video_frames(&video), 1 + 4 + 12);
    let (integrated, _) = common::ebur128(&video);
    assert!((integrated + 14.0).abs() <= 1.0, "{integrated} LUFS");
}
