//! Episodes, as a creator publishes them: `[episode]` in project.toml joins the project's
//! scenes into `out/<project>.mp4`, with its poster `.jpg` and captions `.srt` and `.vtt`.
//! It lasts the sum of its parts (± one frame per join), with or without an intro (a video
//! or a still picture shown for its seconds); plain
//! scenes joined by cuts are stream-copied (the episode's video packets are the scenes',
//! byte for byte); the music bed is at least 10 dB lower under speech than in a pause; a
//! one-line edit re-makes exactly five artifacts; its captions are every scene's cues
//! shifted to where the scene starts; removing `[episode]` removes its four files; bad keys
//! get diagnostics.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ffmpeg, Folder};

const FPS: u32 = 12;
/// The bed: a tone above anything the voices say (espeak speaks at 22.05 kHz, so nothing
/// above 11.025 kHz), measured through a band-pass around it.
const TONE_HZ: u32 = 12_500;

/// Two scenes of espeak lines on the built-in face, the first with a long pause between its
/// lines (where the bed is measured at its full level); `episode` is the `[episode]` table.
fn folder(episode: &str) -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [160, 90]\nfps = {FPS}\n\
             background = \"#1b2030\"\nvoice = \"narrator\"\navatar = \"astronaut\"\n\n\
             [voices.narrator]\nlanguage = \"en-us\"\n\n\
             [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n"
        ),
    );
    folder.write(
        "projects/talks/project.toml",
        &format!(
            "[[scene]]\nname = \"hello\"\npause = 1.5\n\
             lines = [\"Hello and welcome to the show.\", \"This is the second line.\"]\n\n\
             [[scene]]\nname = \"bye\"\nlines = [\"Goodbye for now.\"]\n\n{episode}"
        ),
    );
    std::fs::create_dir_all(folder.file("media")).unwrap();
    folder
}

/// (video packets, video seconds, audio seconds) by ffprobe.
fn streams(path: &Path) -> (u64, f64, f64) {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-of", "json"])
        .args([
            "-show_entries",
            "stream=codec_type,duration,nb_read_packets",
        ])
        .arg(path)
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut found = (0, 0.0, 0.0);
    for stream in value["streams"].as_array().unwrap() {
        let seconds: f64 = stream["duration"].as_str().unwrap().parse().unwrap();
        match stream["codec_type"].as_str().unwrap() {
            "video" => {
                found.0 = stream["nb_read_packets"].as_str().unwrap().parse().unwrap();
                found.1 = seconds;
            }
            _ => found.2 = seconds,
        }
    }
    found
}

/// The MD5 of each video packet's bytes, in order.
fn packet_hashes(path: &Path) -> Vec<String> {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_data_hash",
            "MD5",
        ])
        .args(["-show_entries", "packet=data_hash", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The bed's level (RMS dB, both channels) from `start` for `seconds`, through a band-pass
/// around the tone.
fn tone_level(path: &Path, start: f64, seconds: f64) -> f64 {
    let band = format!("bandpass=f={TONE_HZ}:width_type=h:w=300");
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-nostats"])
        .args([
            "-ss",
            &format!("{start:.3}"),
            "-t",
            &format!("{seconds:.3}"),
        ])
        .arg("-i")
        .arg(path)
        .args([
            "-af",
            // Narrow, and three deep: a sibilant's hiss near 11 kHz must not pass for music.
            &format!("{band},{band},{band},astats"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    // astats prints each channel, then "Overall": the last RMS level is the overall one.
    let level = (log.lines())
        .filter_map(|l| l.split("RMS level dB: ").nth(1))
        .next_back()
        .unwrap_or_else(|| panic!("no level measured:\n{log}"));
    level.trim().parse().unwrap()
}

#[derive(Debug, Clone, PartialEq)]
struct Cue {
    start_ms: u64,
    end_ms: u64,
    text: String,
}

/// A SubRip file's cues.
fn cues(text: &str) -> Vec<Cue> {
    let time = |t: &str| -> u64 {
        let (hms, ms) = t.trim().split_once(',').unwrap();
        let hms: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        ((hms[0] * 60 + hms[1]) * 60 + hms[2]) * 1000 + ms.parse::<u64>().unwrap()
    };
    (text.split("\n\n").filter(|b| !b.trim().is_empty()))
        .map(|block| {
            let lines: Vec<&str> = block.lines().collect();
            let (start, end) = lines[1].split_once(" --> ").unwrap();
            Cue {
                start_ms: time(start),
                end_ms: time(end),
                text: lines[2..].join("\n"),
            }
        })
        .collect()
}

/// What out/ holds: each scene's five files, the episode's four, the report.
fn expected_out(episode: bool) -> Vec<String> {
    let mut files = common::published(&["out/talks/hello.mp4", "out/talks/bye.mp4"]);
    if episode {
        files.extend(
            [
                "out/talks.jpg",
                "out/talks.mp4",
                "out/talks.srt",
                "out/talks.vtt",
            ]
            .map(String::from),
        );
    }
    files.sort();
    files
}

#[test]
fn scenes_are_joined_copied_ducked_captioned_and_remade_only_where_edited() {
    let folder = folder("[episode]\nmusic = \"media/bed.wav\"\n");
    // Three seconds of the tone, looped under the whole episode.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency={TONE_HZ}:sample_rate=48000:duration=3"),
        folder.file("media/bed.wav").to_str().unwrap(),
    ]);
    let run = folder.build();
    assert!(
        run.made().contains(&"episode talks".to_string()),
        "{:?}",
        run.made()
    );
    assert_eq!(folder.out_files(), expected_out(true));
    let (video, hello, bye) = (
        folder.file("out/talks.mp4"),
        folder.file("out/talks/hello.mp4"),
        folder.file("out/talks/bye.mp4"),
    );

    // The sum of its parts: every frame, and the sound ends with them (one frame per join).
    let (frames, video_s, audio_s) = streams(&video);
    let parts = [streams(&hello), streams(&bye)];
    assert_eq!(frames, parts[0].0 + parts[1].0);
    let sum: f64 = parts.iter().map(|p| p.1).sum();
    let frame = 1.0 / f64::from(FPS);
    assert!((video_s - sum).abs() <= frame, "{video_s} s vs {sum} s");
    assert!(
        (audio_s - sum).abs() <= frame,
        "audio {audio_s} s vs {sum} s"
    );

    // As loud as its scenes are asked to be (the default target), bed and all.
    let (integrated, peak) = common::ebur128(&video);
    assert!((integrated + 14.0).abs() <= 1.0, "{integrated} LUFS");
    assert!(peak <= -1.0, "true peak {peak} dBTP");

    // Stream-copied: the episode's video packets are the scenes', byte for byte.
    let mut copied = packet_hashes(&hello);
    copied.extend(packet_hashes(&bye));
    assert_eq!(packet_hashes(&video), copied);

    // Captions: each scene's cues, shifted to where the scene starts in the episode.
    let episode = cues(&folder.read("out/talks.srt"));
    let hello_cues = cues(&folder.read("out/talks/hello.srt"));
    let shift = (parts[0].0 * 1000 + u64::from(FPS) / 2) / u64::from(FPS);
    let mut expected = hello_cues.clone();
    expected.extend(
        cues(&folder.read("out/talks/bye.srt"))
            .into_iter()
            .map(|c| Cue {
                start_ms: c.start_ms + shift,
                end_ms: c.end_ms + shift,
                ..c
            }),
    );
    assert_eq!(episode, expected);
    assert_eq!(episode.len(), 3);
    let vtt = folder.read("out/talks.vtt");
    assert!(
        vtt.starts_with("WEBVTT\n\n") && vtt.matches(" --> ").count() == 3,
        "{vtt}"
    );
    // The poster is the first scene's.
    assert_eq!(
        std::fs::read(folder.file("out/talks.jpg")).unwrap(),
        std::fs::read(folder.file("out/talks/hello.jpg")).unwrap()
    );

    // The bed under the first line, and in the 1.5 s pause after it (its first half second
    // left for the compressor to let go, the last tenth before the next line).
    let (first, second) = (&hello_cues[0], &hello_cues[1]);
    let line_start = first.start_ms as f64 / 1000.0 + 0.2;
    let line_end = first.end_ms as f64 / 1000.0 - 0.1;
    let under_speech = tone_level(&video, line_start, line_end - line_start);
    let pause_start = first.end_ms as f64 / 1000.0 + 0.5;
    let pause_end = second.start_ms as f64 / 1000.0 - 0.1;
    let in_pause = tone_level(&video, pause_start, pause_end - pause_start);
    eprintln!("music bed: {in_pause:.1} dB in the pause, {under_speech:.1} dB under speech");
    assert!(
        in_pause - under_speech >= 10.0,
        "ducked by {:.1} dB only ({in_pause:.1} dB in the pause, {under_speech:.1} dB under speech)",
        in_pause - under_speech
    );
    // And there is a bed at all: well above silence in the pause.
    assert!(in_pause > -60.0, "{in_pause} dB");

    // A no-op build leaves the episode's files untouched.
    let inode = |rel: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(folder.file(rel)).unwrap().ino()
    };
    let files = [
        "out/talks.mp4",
        "out/talks.jpg",
        "out/talks.srt",
        "out/talks.vtt",
    ];
    let before: Vec<u64> = files.iter().map(|f| inode(f)).collect();
    let run = folder.build();
    assert_eq!(run.made(), Vec::<String>::new());
    assert_eq!(files.iter().map(|f| inode(f)).collect::<Vec<_>>(), before);

    // One line edited: its speech and clip, its scene, the scene's captions, the episode.
    folder.edit(
        "projects/talks/project.toml",
        "This is the second line.",
        "This is the edited line.",
    );
    let run = folder.build();
    let mut made = run.made();
    made.sort();
    assert_eq!(
        made,
        [
            "captions talks/hello",
            "clip talks/hello:2",
            "episode talks",
            "scene talks/hello",
            "speech talks/hello:2",
        ],
        "a one-line edit makes 5 artifacts"
    );
    assert!(folder
        .read("out/talks.srt")
        .contains("This is the edited line."));

    // Without `[episode]`, its four files go; the scenes' stay.
    folder.edit(
        "projects/talks/project.toml",
        "[episode]\nmusic = \"media/bed.wav\"\n",
        "",
    );
    let plan = folder.render(&["plan"]);
    let build = folder.build();
    assert_eq!(folder.out_files(), expected_out(false));
    for file in files {
        let line = format!("{file}: remove (its episode is no longer declared)\n");
        assert!(plan.stdout.contains(&line), "{}", plan.stdout);
        let line = format!("render: removed {file} (its episode is no longer declared)\n");
        assert!(build.stderr.contains(&line), "{}", build.stderr);
    }
}

#[test]
fn an_intro_and_fades_keep_the_sum_of_the_parts() {
    let folder = folder(
        "[episode]\nscenes = [\"bye\", \"hello\"]\nintro = \"media/intro.mp4\"\n\
         transition = \"fade\"\ntransition_seconds = 0.5\n",
    );
    // An intro of another size and rate, 1.5 s at 30 fps, 320x240, with a loud jingle
    // (a tone near full scale): joined as it is, the episode would be far over the target.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=30:duration=1.5",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=1.5,volume=0.9",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        folder.file("media/intro.mp4").to_str().unwrap(),
    ]);
    // A scene's target builds that scene alone, not the episode.
    let run = folder.render(&["build", "talks/hello"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.statuses.contains_key("episode talks"),
        "{:?}",
        run.statuses
    );
    assert!(!folder.file("out/talks.mp4").exists());

    folder.build();
    assert_eq!(folder.out_files(), expected_out(true));
    let video = folder.file("out/talks.mp4");
    let (frames, video_s, audio_s) = streams(&video);
    let (bye, hello) = (
        streams(&folder.file("out/talks/bye.mp4")),
        streams(&folder.file("out/talks/hello.mp4")),
    );
    let intro_frames = (1.5 * f64::from(FPS)) as u64;
    assert_eq!(frames, intro_frames + bye.0 + hello.0);
    let sum = 1.5 + bye.1 + hello.1;
    let joins = 2.0 / f64::from(FPS);
    assert!((video_s - sum).abs() <= joins, "{video_s} s vs {sum} s");
    assert!(
        (audio_s - sum).abs() <= joins,
        "audio {audio_s} s vs {sum} s"
    );

    // The loud intro is measured with the rest: the whole is at the target.
    let (integrated, peak) = common::ebur128(&video);
    assert!((integrated + 14.0).abs() <= 1.0, "{integrated} LUFS");
    assert!(peak <= -1.0, "true peak {peak} dBTP");

    // The captions start after the intro, in the episode's order.
    let episode = cues(&folder.read("out/talks.srt"));
    let texts: Vec<&str> = episode.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Goodbye for now.",
            "Hello and welcome to the show.",
            "This is the second line."
        ]
    );
    let bye_cue = &cues(&folder.read("out/talks/bye.srt"))[0];
    assert_eq!(episode[0].start_ms, bye_cue.start_ms + 1500);
    // Fades dip through black at each join: the scene's first frame is black.
    let frame = common::video_frame(&video, intro_frames, "", "gray");
    let mean = frame.iter().map(|&p| f64::from(p)).sum::<f64>() / frame.len() as f64;
    assert!(
        mean < 20.0,
        "the first frame after the intro is not black: {mean}"
    );
}

/// The centre pixel of frame `n` of `video`, as RGB.
fn centre_pixel(video: &Path, n: u64) -> [u8; 3] {
    let frame = common::video_frame(video, n, "crop=2:2", "rgb24");
    [frame[0], frame[1], frame[2]]
}

#[test]
fn a_still_intro_and_outro_show_for_their_seconds() {
    let folder = folder(
        "[episode]\nscenes = [\"bye\"]\nintro = \"media/title.png\"\nintro_seconds = 1.25\n\
         outro = \"media/logo.JPG\"\n",
    );
    // A red title card of another shape, and a blue logo.
    for (colour, file) in [("red", "media/title.png"), ("blue", "media/logo.JPG")] {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &format!("color=c={colour}:size=200x100"),
            "-frames:v",
            "1",
            folder.file(file).to_str().unwrap(),
        ]);
    }
    folder.build();
    let video = folder.file("out/talks.mp4");
    let (frames, video_s, audio_s) = streams(&video);
    let bye = streams(&folder.file("out/talks/bye.mp4"));
    // 1.25 s and the outro's default 3 s, in whole frames.
    let (intro, outro) = (15, 36);
    assert_eq!(frames, intro + bye.0 + outro);
    let sum = (intro + outro) as f64 / f64::from(FPS) + bye.1;
    assert!(
        (video_s - sum).abs() <= 2.0 / f64::from(FPS),
        "{video_s} s vs {sum} s"
    );
    assert!(
        (audio_s - sum).abs() <= 2.0 / f64::from(FPS),
        "audio {audio_s} s vs {sum} s"
    );
    let near = |[r, g, b]: [u8; 3], want: [u8; 3]| {
        [
            r.abs_diff(want[0]),
            g.abs_diff(want[1]),
            b.abs_diff(want[2]),
        ]
        .iter()
        .all(|d| *d < 40)
    };
    for (n, colour, rgb) in [
        (0, "red", [255, 0, 0]),
        (intro - 1, "red", [255, 0, 0]),
        (intro + bye.0, "blue", [0, 0, 255]),
        (frames - 1, "blue", [0, 0, 255]),
    ] {
        let pixel = centre_pixel(&video, n);
        assert!(near(pixel, rgb), "frame {n}: {pixel:?}, not {colour}");
    }
    assert!(!near(centre_pixel(&video, intro), [255, 0, 0]));
    let (integrated, peak) = common::ebur128(&video);
    assert!((integrated + 14.0).abs() <= 1.0, "{integrated} LUFS");
    assert!(peak <= -1.0, "true peak {peak} dBTP");

    // The seconds are the episode's: a longer title card re-makes the episode alone.
    folder.edit(
        "projects/talks/project.toml",
        "intro_seconds = 1.25",
        "intro_seconds = 2",
    );
    assert_eq!(folder.build().made(), ["episode talks"]);
    assert_eq!(streams(&video).0, 24 + bye.0 + outro);
}

/// `render build` stops at the folder's errors (exit 2), with each of `lines` (trimmed) on
/// stderr and a line that starts with `starting`.
#[track_caller]
fn assert_reported(folder: &Folder, lines: &[&str], starting: &str) {
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let found: Vec<&str> = run.stderr.lines().map(str::trim).collect();
    for line in lines {
        assert!(found.contains(line), "no {line:?} in:\n{}", run.stderr);
    }
    assert!(
        found.iter().any(|l| l.starts_with(starting)),
        "no {starting:?} in:\n{}",
        run.stderr
    );
}

#[test]
fn bad_episode_keys_are_reported_where_they_are() {
    let folder = folder(
        "[episode]\nscenes = [\"hello\", \"by\"]\nintro = \"../outside.mp4\"\n\
         transition = \"wipe\"\n",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let at = |needle: &str| folder.location("projects/talks/project.toml", needle);
    let expected = [
        "× `by` is not a scene of project `talks`".to_string(),
        at("\"by\""),
        "help: did you mean `bye`?".to_string(),
        "× `../outside.mp4` is outside the content folder".to_string(),
        at("\"../outside.mp4\""),
        "help: `..` may not climb out of the content folder; paths are relative to the content folder (the folder holding Renderfile.toml), so copy the file into it".to_string(),
        "× unknown transition `wipe`".to_string(),
        at("\"wipe\""),
        "help: a transition is \"cut\" (the default) or \"fade\" (a dip through black)"
            .to_string(),
    ];
    let lines: Vec<&str> = run.stderr.lines().map(str::trim).collect();
    let found: Vec<&str> = (lines.iter().copied())
        .filter(|l| expected.iter().any(|e| e == l))
        .collect();
    assert_eq!(found, expected, "{}", run.stderr);
    assert!(!folder.file("out").exists() || !folder.file("out/talks.mp4").exists());

    // A scene named twice, an unknown key, an outro that is not a video.
    folder.write("media/bad.mp4", "not a video");
    folder.edit(
        "projects/talks/project.toml",
        "scenes = [\"hello\", \"by\"]\nintro = \"../outside.mp4\"\ntransition = \"wipe\"\n",
        "scenes = [\"hello\", \"hello\"]\nmusik = \"media/bed.wav\"\noutro = \"media/bad.mp4\"\n",
    );
    assert_reported(
        &folder,
        &[
            "× unknown key `musik` in [episode]",
            "help: did you mean `music`?",
            "× scene `hello` is in the episode twice",
            "help: an episode shows each scene once: remove one of them",
            "help: an intro or outro must be a video ffmpeg can read, such as H.264 in .mp4",
        ],
        "× cannot read episode video `media/bad.mp4`: ",
    );

    // Seconds for a video intro, or for an outro that is not there; a picture that is not.
    folder.write("media/title.png", "not a picture");
    folder.write(
        "projects/talks/project.toml",
        "[[scene]]\nname = \"hello\"\nlines = [\"Hello.\"]\n\n[episode]\n\
         intro = \"media/bad.mp4\"\nintro_seconds = 2\noutro_seconds = 2\n",
    );
    assert_reported(
        &folder,
        &[
            "× `intro_seconds` is for a still picture; `media/bad.mp4` is a video",
            "╭─[projects/talks/project.toml:7:17]",
            "help: a video intro shows for as long as it lasts: remove `intro_seconds`, or trim the video",
            "× `outro_seconds` without an `outro`",
            "╭─[projects/talks/project.toml:8:17]",
            "help: name the picture it times, e.g. outro = \"media/outro.png\"",
        ],
        "× cannot read episode video `media/bad.mp4`: ",
    );
    folder.edit(
        "projects/talks/project.toml",
        "intro = \"media/bad.mp4\"\nintro_seconds = 2\noutro_seconds = 2",
        "intro = \"media/title.png\"\nintro_seconds = 0",
    );
    assert_reported(
        &folder,
        &[
            "× `intro_seconds` must be between 0.1 and 600 seconds, not 0",
            "help: how long the intro picture shows, e.g. 3",
        ],
        "× cannot read episode picture `media/title.png`: ",
    );
}

/// ebur128's integrated loudness (LUFS) of `seconds` of `path`'s audio from `start`.
fn loudness_between(path: &Path, start: f64, seconds: f64) -> f64 {
    let output = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-ss",
            &start.to_string(),
        ])
        .args(["-t", &seconds.to_string(), "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"])
        .output()
        .unwrap();
    assert!(output.status.success(), "ffmpeg ebur128 failed");
    let log = String::from_utf8_lossy(&output.stderr);
    let summary = &log[log.rfind("Summary:").expect("an ebur128 summary")..];
    let at = summary.find("I:").unwrap() + 2;
    summary[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// `music_volume = -20` puts the bed 20 LU under the speech, whatever the file's own
/// level: a bed recorded at −30 dBFS, alone under a 4 s title card, measures (ebur128, on
/// the published episode) 20 ± 1.5 LU under the scenes' speech. As a gain on the file it
/// was 36 LU under.
#[test]
fn the_bed_sits_music_volume_under_the_speech() {
    let folder = folder(
        "[episode]\nintro = \"media/title.png\"\nintro_seconds = 4\n\
         music = \"media/bed.wav\"\nmusic_volume = -20\n",
    );
    let media = |f: &str| {
        folder
            .file(&format!("media/{f}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x336699:s=160x90",
        "-frames:v",
        "1",
        &media("title.png"),
    ]);
    // A 440 Hz sine at −30 dBFS (the lavfi source's amplitude is 1/8, −18 dBFS).
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=3",
        "-af",
        "volume=-12dB",
        &media("bed.wav"),
    ]);
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let video = folder.file("out/talks.mp4");
    let (_, _, audio_seconds) = streams(&video);
    // The bed alone (the title is silent), its first and last half second left out; the
    // speech: the scenes (gated, as ebur128 gates: the pauses do not count).
    let bed = loudness_between(&video, 0.5, 3.0);
    let speech = loudness_between(&video, 4.0, audio_seconds - 4.0);
    eprintln!("bed {bed:.1} LUFS, speech {speech:.1} LUFS");
    assert!(
        (bed - speech + 20.0).abs() <= 1.5,
        "the bed is {:.1} LU from the speech, not -20 ({bed:.1} LUFS against {speech:.1})",
        bed - speech
    );
}
