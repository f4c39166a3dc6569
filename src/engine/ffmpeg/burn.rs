//! Burned-in captions (`captions = "burn"`): the scene's own captions object drawn into its
//! video by ffmpeg's `subtitles` filter (libass), as the last step of the video chain in
//! `ffmpeg.rs`.
//!
//! The filter is given an ASS script written here from the captions' SubRip cues, not the
//! SubRip file: ffmpeg reads SubRip as HTML-ish markup and hands libass the result, so
//! `<5>` or `<i>` vanish as unknown or known tags and `{x}` reaches libass as an override
//! block; SubRip has no escape for either. In ASS only libass reads the text, and it has
//! escapes for all it would read as markup ([`ass_text`]): `\{` and `\}` for braces, and a
//! backslash is kept from forming `\N`, `\n` or `\h` with what follows. So the text is
//! drawn as said, and the style ([`script`]) is the one ffmpeg's SubRip conversion plus the
//! old `force_style` gave, so captions look as they did.
//!
//! The filter reads the script and a folder of fonts by path, and a path inside a filter
//! graph passes two layers of escaping (the graph's, then the option's), which a content
//! folder's path could break in many ways. So the job writes both into its own folder
//! (`burn/captions.ass`, `burn/fonts/DejaVuSans.ttf`) and ffmpeg runs there, naming them by
//! short relative paths that need no escaping. The fonts folder holds only the font whose
//! blake3 is in the scene's key, so that is the font libass draws with.
//!
//! libass shows a cue on a frame whose time, truncated to the millisecond, lies in it, and
//! ASS writes times in centiseconds. So each time is moved to the centisecond nearest the
//! middle between the frame it rounds to and the one before ([`on_frames`]): every cue is
//! drawn on exactly the frames of its slot in the scene's timeline, with a millisecond to
//! spare either side up to 83 fps (60 fps: 3 ms). Above, frames are too close for
//! centiseconds and a cue may start or end a frame off.
//!
//! The script's `PlayResX`/`PlayResY` are the frame's size: every size below is in frame
//! pixels.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fps::Fps;
use crate::manifest::{BurnedCaptions, CaptionPosition};
use crate::stage::captions::{self, Cue};

/// The folder in the job's folder that holds what the filter reads.
const FOLDER: &str = "burn";
/// The script in [`FOLDER`].
const SCRIPT: &str = "captions.ass";

/// Writes the captions `srt` as an ASS [`script`] (its times [`on_frames`] at `fps`) and
/// copies the font at `font` into the job folder `dir`; returns the filter to append to the
/// video chain (`,subtitles=...`), for a `width`×`height` frame. ffmpeg must run in `dir`.
pub fn prepare(
    dir: &Path,
    srt: &Path,
    font: &Path,
    style: &BurnedCaptions,
    (width, height, fps): (u32, u32, Fps),
) -> Result<String> {
    let fonts = dir.join(FOLDER).join("fonts");
    std::fs::create_dir_all(&fonts).map_err(|e| Error::io("cannot create", &fonts, e))?;
    let text = std::fs::read_to_string(srt).map_err(|e| Error::io("cannot read", srt, e))?;
    let cues = captions::parse_srt(&text)
        .ok_or_else(|| Error::Other(format!("{} is not SubRip cues", srt.display())))?;
    let to = dir.join(FOLDER).join(SCRIPT);
    std::fs::write(&to, script(&cues, style, (width, height, fps)))
        .map_err(|e| Error::io("cannot write", &to, e))?;
    let to = fonts.join(crate::font::FILE);
    std::fs::copy(font, &to).map_err(|e| Error::io("cannot copy", font, e))?;
    Ok(filter())
}

/// `,subtitles=...` drawing `burn/captions.ass` with the font in `burn/fonts`.
pub fn filter() -> String {
    format!(",subtitles=filename={FOLDER}/{SCRIPT}:fontsdir={FOLDER}/fonts")
}

/// The ASS script of `cues` drawn with `style` on a `width`×`height` frame at `fps`: one
/// style, `Default` (ffmpeg's for SubRip, with render's font, size, colours, outline and
/// margins), one event per cue, its rows [`ass_text`] joined by `\N`, [`placed`].
pub fn script(
    cues: &[Cue],
    style: &BurnedCaptions,
    (width, height, fps): (u32, u32, Fps),
) -> String {
    let h = f64::from(height);
    let font_size = (style.size * h).round().max(1.0);
    // An outline about a sixteenth of the text's height keeps it readable on any face,
    // without the weight of a box.
    let outline = (font_size / 16.0).max(1.0);
    // Text starts a twentieth of the frame from its edge (the usual title-safe margin).
    let (margin_v, margin_h) = ((h * 0.05).round(), (f64::from(width) * 0.05).round());
    let mut text = format!(
        "[Script Info]\n\
         ScriptType: v4.00+\n\
         PlayResX: {width}\n\
         PlayResY: {height}\n\
         ScaledBorderAndShadow: yes\n\
         YCbCr Matrix: None\n\
         \n\
         [V4+ Styles]\n\
         Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, \
         BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, \
         BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\
         Style: Default,{},{font_size},{},&H00FFFFFF,{},&H00000000,0,0,0,0,100,100,0,0,\
         1,{outline},0,2,{margin_h},{margin_h},{margin_v},0\n\
         \n\
         [Events]\n\
         Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
        crate::font::NAME,
        ass_colour(style.colour),
        ass_colour(style.outline),
    );
    for cue in cues {
        let rows: Vec<String> = cue.rows.iter().map(|r| ass_text(r)).collect();
        text.push_str(&format!(
            "Dialogue: 0,{},{},Default,,0,0,0,,{}{}\n",
            on_frames(cue.start_ms, fps),
            on_frames(cue.end_ms, fps),
            placed(style.position),
            rows.join("\\N"),
        ));
    }
    text
}

/// The cue time `ms` as an ASS time (`H:MM:SS.cc`): the centisecond nearest the middle
/// between the frame `ms` rounds to and the one before (0 stays 0), at `fps`. libass then
/// shows a cue from its first frame to its last, whichever way the frame's time is rounded.
pub fn on_frames(ms: u64, fps: Fps) -> String {
    let cs = centiseconds(ms, fps);
    let (h, m, s) = (cs / 360_000, cs / 6_000 % 60, cs / 100 % 60);
    format!("{h}:{m:02}:{s:02}.{:02}", cs % 100)
}

/// [`on_frames`]'s time, in centiseconds.
fn centiseconds(ms: u64, fps: Fps) -> u64 {
    let (num, den) = (u64::from(fps.num()), u64::from(fps.den()));
    match fps.frame_at_ms(ms) {
        0 => 0,
        frame => ((2 * frame - 1) * 100 * den + num) / (2 * num),
    }
}

/// `row` as ASS text that libass draws as written: braces as `\{` and `\}` (else an
/// override block), and a word joiner (U+2060, drawn as nothing) after a backslash that
/// would otherwise form `\N`, `\n` or `\h` (or escape a brace) with what follows. Nothing
/// else is markup to libass: `<`, `>` and `&` are text.
pub fn ass_text(row: &str) -> String {
    let mut text = String::with_capacity(row.len());
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' => text.push_str("\\{"),
            '}' => text.push_str("\\}"),
            '\\' => {
                text.push('\\');
                if matches!(chars.peek(), Some('N' | 'n' | 'h' | '{' | '}')) {
                    text.push('\u{2060}');
                }
            }
            c => text.push(c),
        }
    }
    text
}

/// The position as an ASS override tag at the start of each cue (`{\an2}` bottom centre,
/// `{\an8}` top centre: numpad positions). Not the style's `Alignment`: libass reads that
/// one in the old SSA numbering or the numpad's depending on the script's type and its
/// version (Debian 12's took 8 for middle left from ffmpeg's `force_style`).
pub fn placed(position: CaptionPosition) -> &'static str {
    match position {
        CaptionPosition::Bottom => "{\\an2}",
        CaptionPosition::Top => "{\\an8}",
    }
}

/// An opaque RGB colour as ASS writes it: `&H00BBGGRR` (alpha first, 00 = opaque).
pub fn ass_colour([r, g, b]: [u8; 3]) -> String {
    format!("&H00{b:02X}{g:02X}{r:02X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_written_blue_green_red() {
        assert_eq!(ass_colour([0xff, 0xff, 0x00]), "&H0000FFFF");
        assert_eq!(ass_colour([0x12, 0x34, 0x56]), "&H00563412");
    }

    #[test]
    fn cue_times_fall_between_frames() {
        // At 12 fps frame 29 starts at 2416.67 ms, which SubRip rounds to 2417 and libass
        // truncates to 2416: the cue must start before that, after frame 28 (2333 ms).
        assert_eq!(on_frames(0, Fps::whole(12)), "0:00:00.00");
        assert_eq!(on_frames(1417, Fps::whole(12)), "0:00:01.38");
        assert_eq!(on_frames(2417, Fps::whole(12)), "0:00:02.38");
        // 25 fps: frame 3 at 120 ms, however 3 × 0.04 × 1000 rounds.
        assert_eq!(on_frames(120, Fps::whole(25)), "0:00:00.10");
        // 60 fps: frame 61 at 1016.67 ms, frame 60 at 1000: 1008.33 → 1.01.
        assert_eq!(on_frames(1017, Fps::whole(60)), "0:00:01.01");
        assert_eq!(on_frames(3_723_004, Fps::whole(25)), "1:02:02.98");
        // Up to 83 fps, a cue starting on any frame starts after the frame before and before
        // its own by whole milliseconds: libass truncates a frame's time, which floating
        // point may put a millisecond low.
        for fps in 1..=83u64 {
            for frame in 1..500u64 {
                let ms = (frame * 1000 + fps / 2) / fps;
                let start = 10 * centiseconds(ms, Fps::whole(fps as u32));
                let at = |f: u64| f * 1000 / fps;
                assert!(
                    at(frame - 1) < start && start < at(frame),
                    "{fps} fps, frame {frame}: {start} ms"
                );
            }
        }
    }

    #[test]
    fn text_is_drawn_as_written() {
        assert_eq!(
            ass_text("Set {x} to <5> please."),
            "Set \\{x\\} to <5> please."
        );
        assert_eq!(ass_text("Fish & chips, <i>a</i>"), "Fish & chips, <i>a</i>");
        assert_eq!(
            ass_text("C:\\New \\h \\x {\\b1}"),
            "C:\\\u{2060}New \\\u{2060}h \\x \\{\\b1\\}"
        );
    }

    #[test]
    fn the_script_has_the_style_and_a_positioned_event_per_cue() {
        let style = BurnedCaptions {
            size: 0.05,
            position: CaptionPosition::Top,
            colour: [255, 255, 255],
            outline: [0, 0, 0],
        };
        let cue = Cue {
            start_ms: 0,
            end_ms: 1000,
            rows: vec!["Two {rows},".into(), "of text.".into()],
        };
        let script = script(&[cue], &style, (1280, 720, Fps::whole(25)));
        assert!(
            script
                .starts_with("[Script Info]\nScriptType: v4.00+\nPlayResX: 1280\nPlayResY: 720\n"),
            "{script}"
        );
        assert!(
            script.contains(
                "\nStyle: Default,DejaVu Sans,36,&H00FFFFFF,&H00FFFFFF,&H00000000,&H00000000,\
                 0,0,0,0,100,100,0,0,1,2.25,0,2,64,64,36,0\n"
            ),
            "{script}"
        );
        assert!(
            script.ends_with(
                "\nDialogue: 0,0:00:00.00,0:00:00.98,Default,,0,0,0,,{\\an8}Two \\{rows\\},\\Nof text.\n"
            ),
            "{script}"
        );
        let style = BurnedCaptions {
            position: CaptionPosition::Bottom,
            ..style
        };
        assert_eq!(placed(style.position), "{\\an2}");
    }
}
