//! Frame-exact scenes: at every frame rate a scene has exactly the frames its timeline
//! plans — each line's clip (one frame per started 1/fps of its speech) plus the pauses
//! between lines — and its audio ends with its video. Recorded lines of awkward lengths
//! make the per-line rounding differ from scene to scene.

mod common;

use common::{probe, repo, tone_wav, video_frames, Folder};

/// Frame rates swept, one scene each (1 and 120 are the bounds the schema allows).
const RATES: [u32; 13] = [1, 10, 12, 15, 23, 24, 25, 29, 30, 48, 50, 60, 120];
/// Recorded line lengths (seconds): short and long, none a whole number of frames.
const LENGTHS: [f64; 5] = [0.37, 1.13, 2.9, 0.61, 0.83];
/// Pauses between lines (seconds), none a whole number of frames at every rate.
const PAUSES: [f64; 3] = [0.4, 0.33, 0.25];
const RATE: u32 = 22_050;

/// The three lines of scene `k`: (file, samples).
fn lines(k: usize) -> Vec<(String, usize)> {
    (0..3)
        .map(|j| {
            let n = (k + j) % LENGTHS.len();
            let samples = (RATE as f64 * LENGTHS[n]) as usize;
            (format!("assets/l{n}.wav"), samples)
        })
        .collect()
}

/// The frames a scene at `fps` with these lines and `pause` must have, counted here on
/// its own: a line's frames cover its samples, rounded up; a pause is rounded to the
/// nearest frame.
fn expected_frames(lines: &[(String, usize)], pause: f64, fps: u32) -> u64 {
    let clips: u64 = (lines.iter())
        .map(|(_, samples)| (*samples as u64 * fps as u64).div_ceil(RATE as u64))
        .sum();
    clips + (lines.len() as u64 - 1) * (pause * fps as f64).round() as u64
}

#[test]
fn every_frame_rate_gives_the_planned_frames() {
    let folder = Folder {
        dir: tempfile::tempdir().unwrap(),
    };
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [160, 90]\nbackground = \"#1b2030\"\n\
         voice = \"narrator\"\navatar = \"astronaut\"\n\n[voices.narrator]\nlanguage = \"en-us\"\n\n\
         [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
    );
    std::fs::create_dir_all(folder.file("avatars")).unwrap();
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    // A small face keeps the many clips quick (the mouth is drawn at the avatar's size).
    let ffmpeg = |args: &[&str]| drop(common::ffmpeg(args));
    ffmpeg(&[
        "-i",
        repo().join("avatars/astronaut.png").to_str().unwrap(),
        "-vf",
        "scale=160:160",
        folder.file("avatars/astronaut.png").to_str().unwrap(),
    ]);
    for (n, seconds) in LENGTHS.iter().enumerate() {
        let path = folder.file(&format!("assets/l{n}.wav"));
        std::fs::write(path, tone_wav(RATE, *seconds)).unwrap();
    }
    // Every other scene over a picture: a looped image is a second kind of background.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x336699:s=64x36",
        "-frames:v",
        "1",
        folder.file("assets/studio.png").to_str().unwrap(),
    ]);
    let mut project = String::new();
    for (k, fps) in RATES.iter().enumerate() {
        let audio: Vec<String> = (lines(k).iter())
            .map(|(file, _)| format!("{{ audio = \"{file}\" }}"))
            .collect();
        let background = if k % 2 == 1 {
            "\nbackground = \"assets/studio.png\""
        } else {
            ""
        };
        project.push_str(&format!(
            "[[scene]]\nname = \"at{fps}\"\nfps = {fps}\npause = {}{background}\nlines = [{}]\n\n",
            PAUSES[k % PAUSES.len()],
            audio.join(", ")
        ));
    }
    folder.write("projects/sweep/project.toml", &project);

    let run = folder.render(&["build", "--keep-going"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (k, fps) in RATES.iter().enumerate() {
        let video = folder.file(&format!("out/sweep/at{fps}.mp4"));
        let expected = expected_frames(&lines(k), PAUSES[k % PAUSES.len()], *fps);
        assert_eq!(
            video_frames(&video),
            expected,
            "frames of the scene at {fps} fps"
        );
        let (_, _, video_seconds, audio_seconds) = probe(&video);
        assert!(
            (video_seconds - expected as f64 / *fps as f64).abs() < 1e-3,
            "the scene at {fps} fps lasts {video_seconds} s, not {expected} frames"
        );
        assert!(
            (video_seconds - audio_seconds).abs() <= 1.0 / *fps as f64,
            "at {fps} fps the video lasts {video_seconds} s but the audio {audio_seconds} s"
        );
    }
}

/// The samples and rate of a WAV file's data chunk.
fn wav_samples(path: &std::path::Path) -> (u64, u64) {
    let bytes = std::fs::read(path).unwrap();
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as u64;
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as u64;
    let (channels, rate, bits) = (u16_at(22), u32_at(24), u16_at(34));
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let size = u32_at(at + 4) as usize;
        if &bytes[at..at + 4] == b"data" {
            return (size as u64 / (channels * bits / 8), rate);
        }
        at += 8 + size + size % 2;
    }
    panic!("{}: no data chunk", path.display());
}

/// Each video packet's pts, in order, and the stream's time base and rate, by ffprobe.
fn packet_times(path: &std::path::Path) -> (Vec<u64>, String, String) {
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-of", "json"])
        .args(["-show_entries", "packet=pts:stream=time_base,r_frame_rate"])
        .arg(path)
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut pts: Vec<u64> = (value["packets"].as_array().unwrap().iter())
        .map(|p| p["pts"].as_u64().unwrap())
        .collect();
    pts.sort();
    let stream = &value["streams"][0];
    let text = |k: &str| stream[k].as_str().unwrap().to_string();
    (pts, text("time_base"), text("r_frame_rate"))
}

/// `fps = 29.97` is exactly 30000/1001: a scene's lines get the frames that cover their
/// speech at that rate, the pause its nearest whole frames, every frame its exact time
/// (frame n at n × 1001/30000 s), and the captions' cues start and end on those frames;
/// the episode with a still intro keeps the rate.
#[test]
fn ntsc_rates_give_exact_frames_timestamps_and_cues() {
    let folder = Folder {
        dir: tempfile::tempdir().unwrap(),
    };
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [160, 90]\nbackground = \"#1b2030\"\n\
         voice = \"narrator\"\navatar = \"astronaut\"\n\n[voices.narrator]\nlanguage = \"en-us\"\n\n\
         [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
    );
    std::fs::create_dir_all(folder.file("avatars")).unwrap();
    std::fs::create_dir_all(folder.file("assets")).unwrap();
    let ffmpeg = |args: &[&str]| drop(common::ffmpeg(args));
    ffmpeg(&[
        "-i",
        repo().join("avatars/astronaut.png").to_str().unwrap(),
        "-vf",
        "scale=160:160",
        folder.file("avatars/astronaut.png").to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=0x336699:s=160x90",
        "-frames:v",
        "1",
        folder.file("assets/title.png").to_str().unwrap(),
    ]);
    folder.write(
        "projects/ntsc/project.toml",
        "[episode]\nintro = \"assets/title.png\"\nintro_seconds = 0.5\n\n\
         [[scene]]\nname = \"broadcast\"\nfps = 29.97\npause = 0.4\n\
         lines = [\"Good evening.\", \"Here is the news at broadcast rate.\"]\n",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Each line's frames, counted here from its speech: samples × 30000 / (rate × 1001),
    // rounded up; the pause, 0.4 s, is 11.988 frames: 12.
    let records = folder.records();
    let scene = (records.iter())
        .find(|(_, r)| r["spec"]["kind"] == "scene")
        .expect("a scene object");
    assert_eq!(scene.1["spec"]["params"]["fps"], "30000/1001");
    let inputs = scene.1["spec"]["inputs"].as_object().unwrap();
    let lines: Vec<u64> = (1..=2)
        .map(|i| {
            let key = inputs[&format!("line{i:04}.speech")].as_str().unwrap();
            let wav = folder.file(&format!("cache/objects/{}/{key}/speech.wav", &key[..2]));
            let (samples, rate) = wav_samples(&wav);
            (samples * 30_000).div_ceil(rate * 1001)
        })
        .collect();
    let pause = 12;
    let total = lines[0] + pause + lines[1];

    let video = folder.file("out/ntsc/broadcast.mp4");
    assert_eq!(video_frames(&video), total);
    let (pts, time_base, rate) = packet_times(&video);
    assert_eq!(rate, "30000/1001");
    // Frame n at n × 1001/30000 s, in the stream's time base.
    let tick: u64 = match time_base.as_str() {
        "1/30000" => 1001,
        "1001/30000" => 1,
        other => panic!("time base {other}"),
    };
    assert_eq!(pts, (0..total).map(|n| n * tick).collect::<Vec<u64>>());
    let (_, _, video_seconds, audio_seconds) = probe(&video);
    let seconds = total as f64 * 1001.0 / 30_000.0;
    assert!((video_seconds - seconds).abs() < 1e-3, "{video_seconds} s");
    assert!(
        (audio_seconds - seconds).abs() < 1001.0 / 30_000.0,
        "audio {audio_seconds} s"
    );

    // The cues: each line's from its first frame to its last, in milliseconds rounded to
    // the nearest.
    let ms = |frame: u64| (2 * frame * 1001 * 1000 + 30_000) / 60_000;
    let stamp = |ms: u64| {
        let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
        format!("{h:02}:{m:02}:{s:02}.{:03}", ms % 1000)
    };
    let second = lines[0] + pause;
    let vtt = folder.read("out/ntsc/broadcast.vtt");
    let times: Vec<&str> = vtt.lines().filter(|l| l.contains(" --> ")).collect();
    assert_eq!(
        times,
        [
            format!("{} --> {}", stamp(0), stamp(ms(lines[0]))),
            format!("{} --> {}", stamp(ms(second)), stamp(ms(total))),
        ],
        "{vtt}"
    );

    // The episode: the title for 0.5 s (14.985 frames: 15), then the scene, same rate.
    let episode = folder.file("out/ntsc.mp4");
    assert_eq!(video_frames(&episode), 15 + total);
    let (pts, time_base, rate) = packet_times(&episode);
    assert_eq!(rate, "30000/1001");
    let tick: u64 = match time_base.as_str() {
        "1/30000" => 1001,
        "1001/30000" => 1,
        other => panic!("time base {other}"),
    };
    assert_eq!(pts, (0..15 + total).map(|n| n * tick).collect::<Vec<u64>>());
    let srt = folder.read("out/ntsc.srt");
    let first = format!("{} --> ", stamp(ms(15)).replace('.', ","));
    assert!(srt.contains(&first), "{srt}");
}
