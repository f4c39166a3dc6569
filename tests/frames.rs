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
