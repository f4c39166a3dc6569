//! Issue 26's caption and script papercuts, through the real binary: caption text that
//! looks like markup is kept as text (escaped in WebVTT, as written in SubRip, drawn as
//! written when burned); rows never split a grapheme cluster and break after a clause; a
//! script saved with a byte-order mark reads its first line; a FIFO named as a script is
//! reported at its key, never read; `plan` shows a command engine's text as text.

mod common;

use std::time::Duration;

use common::{tone_wav, write_program, Folder};

/// One scene `intro` of espeak lines (TOML strings, as written in `lines = [...]`) on the
/// built-in face, at `width`×`height`, with `scene` appended to its table.
fn folder(lines: &[&str], (width, height): (u32, u32), scene: &str) -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nsize = [{width}, {height}]\nfps = 12\n\
             background = \"#1b2030\"\nvoice = \"narrator\"\navatar = \"astronaut\"\n\n\
             [voices.narrator]\nlanguage = \"en-us\"\n\n[voices.guest]\nlanguage = \"en-gb\"\n\n\
             [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n"
        ),
    );
    let lines: Vec<String> = lines.iter().map(|l| format!("\"{l}\"")).collect();
    folder.write(
        "projects/talks/project.toml",
        &format!(
            "[[scene]]\nname = \"intro\"\npause = 1.0\n{scene}lines = [{}]\n",
            lines.join(", ")
        ),
    );
    folder
}

fn build(folder: &Folder) {
    let run = folder.render_within(&["build"], Duration::from_secs(300));
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// The rows of each cue of a SubRip or WebVTT file (the lines after each timing line).
fn cue_rows(text: &str) -> Vec<Vec<String>> {
    (text.split("\n\n"))
        .filter_map(|block| {
            let mut lines = block.lines().skip_while(|l| !l.contains(" --> "));
            lines.next()?;
            Some(lines.map(str::to_string).collect())
        })
        .collect()
}

fn rows(cues: &[&[&str]]) -> Vec<Vec<String>> {
    (cues.iter())
        .map(|c| c.iter().map(|r| r.to_string()).collect())
        .collect()
}

#[test]
fn caption_text_is_escaped_in_webvtt_and_kept_in_subrip() {
    let folder = folder(
        &[
            "Click File --> Save.",
            "Fish & chips, I <3 you, a<b and <i>this</i>.",
        ],
        (160, 90),
        "",
    );
    build(&folder);
    let vtt = folder.read("out/talks/intro.vtt");
    assert!(vtt.starts_with("WEBVTT\n\n"), "{vtt}");
    assert_eq!(vtt.matches("-->").count(), 2, "only the timings: {vtt}");
    assert_eq!(
        cue_rows(&vtt),
        rows(&[
            &["Click File --&gt; Save."],
            &[
                "Fish &amp; chips, I &lt;3 you,",
                "a&lt;b and &lt;i&gt;this&lt;/i&gt;."
            ],
        ])
    );
    // SubRip has no escapes: the text as said.
    assert_eq!(
        cue_rows(&folder.read("out/talks/intro.srt")),
        rows(&[
            &["Click File --> Save."],
            &["Fish & chips, I <3 you,", "a<b and <i>this</i>."],
        ])
    );
}

/// The columns (leftmost, rightmost) of the caption's yellow ink in the bottom quarter of
/// frame `n` of the published 320×180 video.
fn ink(folder: &Folder, n: u64) -> (usize, usize) {
    const WIDTH: usize = 320;
    let rgb = common::video_frame(&folder.file("out/talks/intro.mp4"), n, "", "rgb24");
    assert_eq!(rgb.len(), WIDTH * 180 * 3);
    let columns: Vec<usize> = (rgb[135 * WIDTH * 3..].chunks(3).enumerate())
        .filter(|(_, p)| {
            let [r, g, b] = [p[0], p[1], p[2]].map(i32::from);
            r > 150 && g > 150 && b + 60 < r.min(g)
        })
        .map(|(i, _)| i % WIDTH)
        .collect();
    let (min, max) = (columns.iter().min(), columns.iter().max());
    (*min.expect("caption ink"), *max.unwrap())
}

#[test]
fn burned_braces_and_angle_brackets_are_drawn() {
    // The same words, with and without the characters libass (through SubRip) took for
    // markup: drawn as written, the first is four glyphs ({ } < >, some 40 pixels) wider;
    // read as markup ("Set  to  please.") it was narrower than the second.
    let folder = folder(
        &["Set {x} to <5> please.", "Set x to 5 please."],
        (320, 180),
        "captions = \"burn\"\ncaption_colour = \"#ffff00\"\ncaption_size = 0.08\n",
    );
    build(&folder);
    let srt = folder.read("out/talks/intro.srt");
    assert_eq!(
        cue_rows(&srt),
        rows(&[&["Set {x} to <5> please."], &["Set x to 5 please."]])
    );
    // The middle frame of each cue (12 fps).
    let frames: Vec<u64> = (srt.lines())
        .filter_map(|l| l.split_once(" --> "))
        .map(|(a, b)| {
            let ms = |t: &str| {
                let (hms, ms) = t.trim().split_once(',').unwrap();
                let hms: Vec<u64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
                ((hms[0] * 60 + hms[1]) * 60 + hms[2]) * 1000 + ms.parse::<u64>().unwrap()
            };
            (ms(a) + ms(b)) / 2 * 12 / 1000
        })
        .collect();
    let (marked, plain) = (ink(&folder, frames[0]), ink(&folder, frames[1]));
    let width = |(a, b): (usize, usize)| b - a + 1;
    assert!(
        width(marked) >= width(plain) + 25,
        "\"Set {{x}} to <5> please.\" spans {marked:?}, \"Set x to 5 please.\" {plain:?}"
    );
}

#[test]
fn a_flag_stays_whole_on_one_row_and_rows_break_after_a_clause() {
    // "x" and 21 flags: 43 code points, 22 characters. Cut by code points, the 21st flag's
    // two halves went to two rows.
    let flags = format!("Flags: x{}", "🇫🇷".repeat(21));
    let folder = folder(
        &[&flags, "Aujourd'hui, nous parlons des arcs-en-ciel."],
        (160, 90),
        "",
    );
    build(&folder);
    for file in ["out/talks/intro.srt", "out/talks/intro.vtt"] {
        assert_eq!(
            cue_rows(&folder.read(file)),
            rows(&[
                &[&flags],
                &["Aujourd'hui,", "nous parlons des arcs-en-ciel."]
            ]),
            "{file}"
        );
    }
}

#[test]
fn a_script_with_a_byte_order_mark_reads_its_first_line() {
    let folder = folder(&[], (160, 90), "");
    let project = "projects/talks/project.toml";
    folder.edit(project, "lines = []", "script = \"scripts/intro.txt\"");
    // As Windows Notepad saves it: UTF-8 with a byte-order mark.
    let script = "\u{feff}[guest] Hi there.\n# not said\nAnd back to me.\n";
    folder.write("scripts/intro.txt", script);
    build(&folder);
    let srt = folder.read("out/talks/intro.srt");
    assert!(!srt.contains('\u{feff}'), "{srt:?}");
    assert_eq!(
        cue_rows(&srt),
        rows(&[&["Hi there."], &["And back to me."]])
    );
    // The first line is the guest's (en-gb), without "[guest]".
    let voices: Vec<(String, String)> = (folder.records().iter())
        .filter(|(_, r)| r["spec"]["kind"] == "speech")
        .map(|(_, r)| {
            let params = &r["spec"]["params"];
            let text = params["text"].as_str().unwrap().to_string();
            (text, params["voice"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(
        voices.contains(&("Hi there.".into(), "en-gb".into())),
        "{voices:?}"
    );
    assert_eq!(voices.len(), 2, "{voices:?}");

    // A comment first: not said.
    folder.write(
        "scripts/intro.txt",
        "\u{feff}# Episode 1\n[guest] Hi there.\nAnd back to me.\n",
    );
    let plan = folder.render(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!plan.stdout.contains("speech"), "{}", plan.stdout);

    // Columns count from the first character after the mark, as an editor shows them.
    folder.write("scripts/intro.txt", "\u{feff}[guest Hi there.\n");
    let run = folder.render(&["plan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&["× unclosed `[` in script line", "╭─[scripts/intro.txt:1:1]"]);
    // And in TOML: the first key's column.
    let text = folder.read(project);
    folder.write(
        project,
        &format!("\u{feff}{}", text.replace("[[scene]]", "[[scene]] x")),
    );
    let run = folder.render(&["plan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&["╭─[projects/talks/project.toml:1:11]"]);
}

#[test]
fn a_fifo_as_script_is_not_a_regular_file() {
    let folder = folder(&[], (160, 90), "");
    let project = "projects/talks/project.toml";
    folder.edit(project, "lines = []", "script = \"scripts/pipe.txt\"");
    std::fs::create_dir_all(folder.file("scripts")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(folder.file("scripts/pipe.txt"))
        .status()
        .unwrap();
    assert!(status.success());
    // Nothing ever writes to the pipe: reading it would wait forever.
    let run = folder.render_within(&["plan"], Duration::from_secs(60));
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_lines(&[
        "× `scripts/pipe.txt` is not a regular file: it is a named pipe (FIFO)",
        &folder.location(project, "\"scripts/pipe.txt\""),
        "help: render reads only regular files (a pipe would keep it waiting for a writer): \
         save the contents as a file and name that",
    ]);
}

#[test]
fn plan_shows_a_command_engines_text_as_text() {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [160, 90]\nvoice = \"ada\"\n\
         avatar = \"astronaut\"\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n\n\
         [engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\n\
         args = [\"{engine_dir}\", \"{out}\"]\n\n[voices.ada]\nengine = \"fake\"\n",
    );
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"intro\"\nlines = [\"Great. Let us get started!\"]\n",
    );
    std::fs::write(folder.file("tone.wav"), tone_wav(16_000, 0.8)).unwrap();
    write_program(
        &folder.file("fake"),
        "#!/bin/sh\ncp \"$1/tone.wav\" \"$2\"\n",
    );
    build(&folder);
    folder.edit(
        "projects/demo/project.toml",
        "Let us get started!",
        "Let us begin!",
    );
    let plan = folder.render(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        (plan.stdout.lines()).any(|l| l
            == "speech demo/intro:1: params changed: text \"Great. Let us get started!\" → \"Great. Let us begin!\""),
        "{}",
        plan.stdout
    );
}
