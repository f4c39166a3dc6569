//! Captions, as a creator publishes them: `out/<project>/<scene>.srt` and `.vtt` beside
//! the video. The SubRip file parses; each line's first cue starts within one frame of the
//! line's start, computed here from the speech objects' WAV sample counts and the pause;
//! no cue has more than two rows of 42 characters; a long line is several cues; editing a
//! line changes only that line's cues; renaming a scene removes all its files together.

mod common;

use std::path::Path;

use common::Folder;

const FPS: u32 = 12;
const PAUSE: f64 = 0.3;
const LONG: &str = "This line is far too long for a single caption, so it is cut into cues. \
                    Each cue holds at most two rows of text, and each row at most forty-two \
                    characters; the cuts fall at sentence ends first, then at commas.";

/// One scene of three espeak lines on the built-in face, the middle one long.
fn folder() -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [160, 90]\nfps = 12\n\
         background = \"#1b2030\"\nvoice = \"narrator\"\navatar = \"astronaut\"\n\n\
         [voices.narrator]\nlanguage = \"en-us\"\n\n\
         [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n",
    );
    folder.write(
        "projects/talks/project.toml",
        &format!(
            "[[scene]]\nname = \"intro\"\npause = {PAUSE}\n\
             lines = [\"Hello and welcome.\", \"{LONG}\", \"Goodbye for now.\"]\n"
        ),
    );
    folder
}

#[derive(Debug, Clone, PartialEq)]
struct Cue {
    start_ms: u64,
    end_ms: u64,
    rows: Vec<String>,
}

/// A SubRip file's cues; panics where it is not well-formed.
fn parse_srt(text: &str) -> Vec<Cue> {
    let time = |t: &str| -> u64 {
        let (hms, ms) = t.trim().split_once(',').expect("HH:MM:SS,mmm");
        let hms: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        assert_eq!((hms.len(), ms.len()), (3, 3), "{t}");
        ((hms[0] * 60 + hms[1]) * 60 + hms[2]) * 1000 + ms.parse::<u64>().unwrap()
    };
    let mut cues = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut lines = block.lines();
        let number: usize = lines.next().unwrap().parse().expect("a cue number");
        assert_eq!(number, cues.len() + 1, "{text}");
        let (start, end) = lines.next().unwrap().split_once(" --> ").expect("a timing");
        let cue = Cue {
            start_ms: time(start),
            end_ms: time(end),
            rows: lines.map(str::to_string).collect(),
        };
        assert!(
            cue.start_ms <= cue.end_ms && !cue.rows.is_empty(),
            "{cue:?}"
        );
        cues.push(cue);
    }
    cues
}

/// Samples per channel and the rate of a PCM WAV file, from its header.
fn wav_samples(path: &Path) -> (u64, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    let (mut at, mut format) = (12, None);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &bytes[at + 8..];
        if id == b"fmt " {
            let channels = u16::from_le_bytes([body[2], body[3]]) as u64;
            let rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
            let bits = u16::from_le_bytes([body[14], body[15]]) as u64;
            format = Some((channels * bits / 8, rate));
        } else if id == b"data" {
            let (frame_bytes, rate) = format.expect("fmt before data");
            return (size as u64 / frame_bytes, rate);
        }
        at += 8 + size + size % 2;
    }
    panic!("{}: no data chunk", path.display());
}

/// Each line's start and its speech's end in the scene, in frames: whole frames per
/// line's speech (rounded up), the pause's frames between two lines.
fn line_frames(folder: &Folder) -> Vec<(u64, u64)> {
    let records = folder.records();
    // The published scene's object (an edit leaves the old one in the cache too): out/ holds
    // a hard link to it.
    use std::os::unix::fs::MetadataExt;
    let inode = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.ino()).ok();
    let published = inode(&folder.file("out/talks/intro.mp4"));
    let scene = (records.iter())
        .find(|(dir, r)| r["spec"]["kind"] == "scene" && inode(&dir.join("scene.mp4")) == published)
        .expect("a scene object");
    let inputs = scene.1["spec"]["inputs"].as_object().unwrap();
    let pause = (PAUSE * f64::from(FPS)).round() as u64;
    let mut start = 0;
    let mut lines = Vec::new();
    for i in 1.. {
        let Some(key) = inputs.get(&format!("line{i:04}.speech")) else {
            break;
        };
        let key = key.as_str().unwrap();
        let wav = folder.file(&format!("cache/objects/{}/{key}/speech.wav", &key[..2]));
        let (samples, rate) = wav_samples(&wav);
        let frames = (samples * u64::from(FPS)).div_ceil(u64::from(rate)).max(1);
        lines.push((start, start + frames));
        start += frames + pause;
    }
    lines
}

/// The published cues, grouped by line: a line's cues are those that start within its
/// slot.
fn cues_by_line(folder: &Folder) -> Vec<Vec<Cue>> {
    let cues = parse_srt(&folder.read("out/talks/intro.srt"));
    let lines = line_frames(folder);
    let ms = |frame: u64| frame as f64 * 1000.0 / f64::from(FPS);
    let mut by_line = vec![Vec::new(); lines.len()];
    for cue in cues {
        let line = (lines.iter())
            .rposition(|&(start, _)| ms(start) <= cue.start_ms as f64 + 1.0)
            .expect("a cue within a line");
        by_line[line].push(cue);
    }
    by_line
}

#[test]
fn captions_are_timed_by_the_lines_and_fit_on_screen() {
    let folder = folder();
    folder.build();
    let srt = folder.read("out/talks/intro.srt");
    let vtt = folder.read("out/talks/intro.vtt");
    let cues = parse_srt(&srt);
    assert!(vtt.starts_with("WEBVTT\n\n"), "{vtt}");
    assert_eq!(vtt.matches(" --> ").count(), cues.len());
    assert!(vtt.contains("00:00:00.000 --> "), "{vtt}");

    for cue in &cues {
        assert!(cue.rows.len() <= 2, "{cue:?}");
        assert!(cue.rows.iter().all(|r| r.chars().count() <= 42), "{cue:?}");
    }
    // Every line's words, in order, and nothing else.
    let words: Vec<&str> = cues
        .iter()
        .flat_map(|c| &c.rows)
        .flat_map(|r| r.split(' '))
        .collect();
    let said = format!("Hello and welcome. {LONG} Goodbye for now.");
    assert_eq!(words, said.split_whitespace().collect::<Vec<_>>());

    let lines = line_frames(&folder);
    let by_line = cues_by_line(&folder);
    assert_eq!(by_line.iter().map(Vec::len).collect::<Vec<_>>()[..1], [1]);
    assert!(
        by_line[1].len() >= 3,
        "a long line is several cues: {by_line:?}"
    );
    assert_eq!(by_line[2].len(), 1);
    let frame_ms = 1000.0 / f64::from(FPS);
    for ((start, end), cues) in lines.iter().zip(&by_line) {
        let (start, end) = (*start as f64 * frame_ms, *end as f64 * frame_ms);
        // The line's first cue starts within a frame of the line, its last ends with its
        // speech, and its cues follow one another inside it.
        assert!(
            (cues[0].start_ms as f64 - start).abs() <= frame_ms,
            "{cues:?} at {start}"
        );
        assert!((cues.last().unwrap().end_ms as f64 - end).abs() <= frame_ms);
        for pair in cues.windows(2) {
            assert_eq!(pair[0].end_ms, pair[1].start_ms);
        }
    }
}

#[test]
fn editing_a_line_changes_only_its_cues_and_a_rename_removes_every_file() {
    let folder = folder();
    folder.build();
    let before = cues_by_line(&folder);
    let starts_before: Vec<(u64, u64)> = line_frames(&folder);

    folder.edit(
        "projects/talks/project.toml",
        "Hello and welcome.",
        "Hi there, everyone, and welcome back.",
    );
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The edited line's speech and clip, the scene and its captions.
    assert_eq!(
        run.made(),
        [
            "captions talks/intro",
            "clip talks/intro:1",
            "scene talks/intro",
            "speech talks/intro:1"
        ]
    );
    let after = cues_by_line(&folder);
    let starts_after = line_frames(&folder);
    assert_ne!(before[0], after[0]);
    // The other lines' cues are the same, moved by however much the first line's length
    // changed (whole frames, so a cue moves by that many frames' milliseconds, to the ms).
    let shift = starts_after[1].0 as f64 - starts_before[1].0 as f64;
    for line in 1..3 {
        assert_eq!(before[line].len(), after[line].len());
        for (a, b) in before[line].iter().zip(&after[line]) {
            assert_eq!(a.rows, b.rows);
            let moved = b.start_ms as f64 - a.start_ms as f64;
            assert!(
                (moved - shift * 1000.0 / f64::from(FPS)).abs() <= 1.0,
                "{a:?} {b:?}"
            );
            let (was, is) = (a.end_ms - a.start_ms, b.end_ms - b.start_ms);
            assert!(was.abs_diff(is) <= 1, "{a:?} {b:?}");
        }
    }

    // Renamed: the old scene's video, stills and captions go together.
    folder.edit(
        "projects/talks/project.toml",
        "name = \"intro\"",
        "name = \"opening\"",
    );
    folder.build();
    assert_eq!(
        folder.out_files(),
        common::published(&["out/talks/opening.mp4"])
    );
}
