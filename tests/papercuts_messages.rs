//! Messages and behaviour that misled creators (issue 26), each checked through the real
//! binary: a setting that has no effect warns at its key (a background under face or fill
//! framing, a scene boxed in its episode), a missing program and a reserved `vars` name
//! are configuration errors at load, names that would collide or not fit a file name are
//! refused at their key, the progress bar fits an 80-column terminal, and `--force` still
//! publishes scenes in the order they are declared. Warnings never change the exit code,
//! in `render plan` as in `render build`.

mod common;

use common::{tone_wav, write_program, Folder, Run};
use std::time::Duration;

/// An espeak voice, the demo's portrait, tiny frames; `extra` goes into [defaults].
fn folder(defaults: &str, project: &str) -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 5\nsize = [64, 36]\nvoice = \"narrator\"\navatar = \"astronaut\"\n{defaults}\n\
             [voices.narrator]\nengine = \"espeak\"\n\n\
             [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n"
        ),
    );
    folder.write("projects/p/project.toml", project);
    folder
}

fn render(folder: &Folder, args: &[&str]) -> Run {
    folder.render_within(args, Duration::from_secs(300))
}

/// `render plan` ends with `code`; returns the run.
#[track_caller]
fn plan(folder: &Folder, code: i32) -> Run {
    let run = render(folder, &["plan"]);
    assert_eq!(run.code, code, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

#[test]
fn a_background_that_face_or_fill_framing_hides_warns_at_its_key() {
    let f = folder(
        "framing = \"face\"\nbackground = \"#1b2030\"\n",
        "[[scene]]\nname = \"intro\"\nbackground = \"#3b1f4a\"\nlines = [\"Hello.\"]\n\n\
         [[scene]]\nname = \"outro\"\nframing = \"fill\"\nlines = [\"Bye.\"]\n",
    );
    let run = plan(&f, 0);
    run.assert_lines(&[
        "⚠ background `#1b2030` in [defaults] never shows: the one scene that takes it, `p/outro`, is framed \"fill\", which covers the whole frame with the avatar",
        &f.location("Renderfile.toml", "\"#1b2030\""),
        "help: remove `background` (changing it makes every scene again for nothing), or give a scene framing = \"fit\" to show the whole picture over it",
        "⚠ background `#3b1f4a` of scene `intro` never shows: framing = \"face\" covers the whole frame with the avatar",
        &f.location("projects/p/project.toml", "\"#3b1f4a\""),
        "help: remove `background` (changing it makes the scene again for nothing), or set framing = \"fit\" to show the whole picture over it",
    ]);
    // A scene framed "fit" shows the default: nothing to say about it, nor about a
    // background of its own.
    f.write(
        "projects/p/project.toml",
        "[[scene]]\nname = \"intro\"\nframing = \"fit\"\nlines = [\"Hello.\"]\n\n\
         [[scene]]\nname = \"outro\"\nframing = \"fit\"\nbackground = \"#3b1f4a\"\nlines = [\"Bye.\"]\n",
    );
    let run = plan(&f, 0);
    assert!(!run.stderr.contains('⚠'), "{}", run.stderr);
}

#[test]
fn a_scene_of_another_shape_in_an_episode_warns_that_it_is_boxed() {
    let f = folder(
        "",
        "[[scene]]\nname = \"wide\"\nsize = [64, 48]\nlines = [\"Hello.\"]\n\n\
         [[scene]]\nname = \"tall\"\nsize = [36, 64]\nlines = [\"Hi.\"]\n\n\
         [[scene]]\nname = \"same\"\nsize = [128, 96]\nlines = [\"Ho.\"]\n\n\
         [[scene]]\nname = \"banner\"\nlines = [\"Hey.\"]\n\n[episode]\n",
    );
    let run = plan(&f, 0);
    run.assert_lines(&[
        "⚠ scene `tall` (36×64) is pillarboxed in the episode of project `p`, which is 64×48 like its first scene `wide`",
        &f.location("projects/p/project.toml", "[36, 64]"),
        "help: an episode takes its first scene's size and shows a scene of another shape with black bars at its sides: give the scene the episode's shape (e.g. size = [64, 48]), or leave it out of the episode's `scenes`",
        // The defaults' 16:9 in a 4:3 episode: at the first scene's size, which set it.
        "⚠ scene `banner` (64×36) is letterboxed in the episode of project `p`, which is 64×48 like its first scene `wide`",
        &f.location("projects/p/project.toml", "[64, 48]"),
    ]);
    // The same shape at another size is scaled, not boxed.
    assert!(!run.stderr.contains("`same`"), "{}", run.stderr);
    // Out of the episode, nothing is boxed.
    f.edit(
        "projects/p/project.toml",
        "[episode]\n",
        "[episode]\nscenes = [\"wide\", \"same\"]\n",
    );
    let run = plan(&f, 0);
    assert!(!run.stderr.contains('⚠'), "{}", run.stderr);
}

const ENGINE: &str = "[voices.robot]\nengine = \"tts\"\n\n[engines.tts]\nstage = \"speech\"\n";

#[test]
fn a_bare_program_missing_from_path_is_an_error_at_its_key() {
    let f = folder(
        "",
        "[[scene]]\nname = \"intro\"\nvoice = \"robot\"\nlines = [\"Hello.\"]\n",
    );
    let renderfile = f.read("Renderfile.toml")
        + ENGINE
        + "program = \"no-such-program\"\nargs = [\"{text}\", \"{out}\"]\n";
    f.write("Renderfile.toml", &renderfile);
    for args in [&["plan"][..], &["build"]] {
        let run = render(&f, args);
        assert_eq!(run.code, 2, "{}", run.stderr);
        run.assert_lines(&[
            "× engine `tts`: its program `no-such-program` is not on PATH on this machine",
            &f.location("Renderfile.toml", "\"no-such-program\""),
            "help: install it, or write its full path in `program` (a machine's own engines file, ~/.config/render/engines.toml or $RENDER_ENGINES, overrides a folder's)",
        ]);
        assert!(!run.stderr.contains("apt install"), "{}", run.stderr);
    }
    assert!(!f.file("cache/objects").exists());
    // A program render knows names its package.
    f.edit("Renderfile.toml", "\"no-such-program\"", "\"espeak\"");
    let run = plan(&f, 2);
    if !run.stderr.contains("`espeak` is not on PATH") {
        return; // this machine has espeak itself
    }
    run.assert_lines(&["help: install it (`sudo apt install espeak-ng` on Debian and Ubuntu), or write its full path in `program` (a machine's own engines file, ~/.config/render/engines.toml or $RENDER_ENGINES, overrides a folder's)"]);
}

#[test]
fn a_reserved_placeholder_in_vars_is_an_error_at_its_key() {
    let f = folder(
        "",
        "[[scene]]\nname = \"intro\"\nvoice = \"robot\"\nlines = [\"Hello.\"]\n",
    );
    let renderfile = f.read("Renderfile.toml")
        + ENGINE
        + "program = \"sh\"\nargs = [\"-c\", \"cp {model} {out}\"]\nvars = { model = \"m.wav\", out = \"x.wav\" }\n";
    f.write("Renderfile.toml", &renderfile);
    let run = plan(&f, 2);
    run.assert_lines(&[
        "× `out` in the `vars` of engine `tts` is reserved: render sets `{out}` to the file the program must write",
        &f.location("Renderfile.toml", "out = \"x.wav\""),
        "help: a speech engine's `vars` may not use the names render sets; rename it (e.g. `my_out`) and write `{my_out}` in `args`",
    ]);
}

#[test]
fn names_too_long_for_a_file_or_equal_but_for_case_are_refused_at_their_key() {
    let long = "a".repeat(101);
    let f = folder(
        "",
        &format!(
            "[[scene]]\nname = \"Welcome\"\nlines = [\"Hello.\"]\n\n\
             [[scene]]\nname = \"welcome\"\nlines = [\"Hi.\"]\n\n\
             [[scene]]\nname = \"{long}\"\nlines = [\"Ho.\"]\n\n\
             [[scene]]\nname = \"{}\"\nlines = [\"Just fits.\"]\n",
            "b".repeat(100)
        ),
    );
    f.write(
        "projects/P/project.toml",
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello.\"]\n",
    );
    let run = plan(&f, 2);
    run.assert_lines(&[
        "× project `p` differs from project `P` only in case",
        "help: rename one of the folders projects/P and projects/p: out/P/ and out/p/ are one folder on macOS, Windows, exFAT and SMB shares, where file names ignore case",
    ]);
    std::fs::remove_dir_all(f.file("projects/P")).unwrap();
    let run = plan(&f, 2);
    run.assert_lines(&[
        "× scene name `welcome` differs from scene `Welcome` only in case",
        &f.location("projects/p/project.toml", "\"welcome\""),
        "help: rename one of them: out/p/Welcome.mp4 and out/p/welcome.mp4 are one file on macOS, Windows, exFAT and SMB shares, where file names ignore case",
        "× scene name `aaaaaaaaaaaaaaaaaaaa…` is 101 characters long, over the limit of 100",
        &f.location("projects/p/project.toml", &format!("\"{long}\"")),
        "help: shorten it: the name becomes file names such as out/p/<name>.sheet.jpg, and a file name may have at most 255 bytes",
    ]);
    assert!(!run.stderr.contains("bbbb"), "{}", run.stderr);
    // A project folder's name is limited too.
    let project = "c".repeat(101);
    f.write(
        &format!("projects/{project}/project.toml"),
        "[[scene]]\nname = \"intro\"\nlines = [\"Hello.\"]\n",
    );
    let run = plan(&f, 2);
    run.assert_lines(&["× project folder name `cccccccccccccccccccc…` is 101 characters long, over the limit of 100"]);
}

/// A folder for the build tests: speech from `fake` (a copy of a tone: `long.wav` for a
/// line that says "Long", else `tone.wav`), two scenes: `s00` of 8 long lines, `s01` of one
/// short line.
fn two_scenes() -> Folder {
    let f = Folder::with_portrait();
    f.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 5\nsize = [64, 64]\npause = 0.1\n\
         voice = \"ada\"\navatar = \"a\"\n\n\
         [engines.fake]\nstage = \"speech\"\nprogram = \"./fake\"\n\
         args = [\"{engine_dir}\", \"{out}\", \"{text}\"]\n\n\
         [voices.ada]\nengine = \"fake\"\n\n\
         [avatars.a]\nimage = \"avatars/astronaut.png\"\n",
    );
    let long: Vec<String> = (0..8).map(|k| format!("\"Long line {k}.\"")).collect();
    f.write(
        "projects/p/project.toml",
        &format!(
            "[[scene]]\nname = \"s00\"\nlines = [{}]\n\n[[scene]]\nname = \"s01\"\nlines = [\"Short.\"]\n",
            long.join(", ")
        ),
    );
    std::fs::write(f.file("tone.wav"), tone_wav(16_000, 0.3)).unwrap();
    std::fs::write(f.file("long.wav"), tone_wav(16_000, 3.0)).unwrap();
    write_program(
        &f.file("fake"),
        "#!/bin/sh\ncase \"$3\" in *Long*) cp \"$1/long.wav\" \"$2\" ;; *) cp \"$1/tone.wav\" \"$2\" ;; esac\n",
    );
    f
}

/// The scenes in the order the build reported them made (and published them: a scene is
/// published as it is reported).
fn scenes_made(run: &Run) -> Vec<&str> {
    (run.stderr_lines().into_iter())
        .filter_map(|l| l.strip_prefix("made scene "))
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect()
}

#[test]
fn force_publishes_scenes_in_declared_order() {
    let f = two_scenes();
    let run = render(&f, &["build", "-j", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Every job again: s01's one short line is done long before s00's eight, and its mux
    // is shorter, but s00 is declared first.
    for _ in 0..2 {
        let run = render(&f, &["build", "--force", "-j", "2", "p"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(scenes_made(&run), ["p/s00", "p/s01"], "{}", run.stderr);
    }
}

#[test]
fn the_progress_bar_fits_an_80_column_terminal_with_the_jobs_name() {
    let f = two_scenes();
    // render on a pseudo-terminal of 80 columns (util-linux `script`), so it draws its bar.
    let command = format!("stty cols 80 rows 24; exec {} build -j 2", common::bin());
    let output = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(f.path())
        .env("XDG_CONFIG_HOME", f.file(".config"))
        .env_remove("RENDER_ENGINES")
        .output()
        .expect("util-linux `script` runs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let plain = strip_escapes(&text);
    // Every state of the bar, as drawn between carriage returns and line ends.
    let drawn: Vec<&str> = (plain.split(['\r', '\n']))
        .filter(|s| s.contains("scenes ") && s.contains('/'))
        .collect();
    assert!(!drawn.is_empty(), "no bar drawn:\n{plain}");
    for line in &drawn {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line:?}",
            line.chars().count()
        );
    }
    // The job's name shows, whole here (`speech p/s00:3`, `clip p/s01:1`, …): indicatif
    // cut the line at the 80th column, where the name began.
    let kinds = [
        "speech p/",
        "clip p/",
        "captions p/",
        "scene p/",
        "face-track a",
    ];
    let named = |line: &&str| {
        (line.rsplit_once(" left ")).is_some_and(|(_, name)| {
            kinds.iter().any(|k| name.starts_with(k)) && !name.contains('…')
        })
    };
    assert!(
        drawn.iter().any(named),
        "no whole job name at the end of a drawn line:\n{drawn:#?}"
    );
    assert!(f.file("out/p/s01.mp4").exists());
}

/// `text` without ANSI escape sequences (colours, cursor moves, line clears).
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // Parameters, then one final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() || c == '~' {
                    break;
                }
            }
        }
    }
    out
}

#[test]
fn warnings_show_in_plan_and_build_and_leave_the_exit_code_at_zero() {
    let f = folder(
        "",
        "[[scene]]\nname = \"wide\"\nframing = \"face\"\nbackground = \"#3b1f4a\"\nlines = [\"Hello.\"]\n\n\
         [[scene]]\nname = \"tall\"\nsize = [36, 64]\nlines = [\"Hi.\"]\n\n[episode]\n",
    );
    let hidden = "⚠ background `#3b1f4a` of scene `wide` never shows: framing = \"face\" covers the whole frame with the avatar";
    let boxed = "⚠ scene `tall` (36×64) is pillarboxed in the episode of project `p`, which is 64×36 like its first scene `wide`";
    for args in [&["plan"][..], &["build", "--dry-run"], &["build"]] {
        let run = render(&f, args);
        assert_eq!(run.code, 0, "render {args:?}: {}", run.stderr);
        run.assert_lines(&[hidden, boxed]);
    }
    assert!(f.file("out/p.mp4").exists());
}
