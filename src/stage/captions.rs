//! Captions: a scene's subtitles, as SubRip (`captions.srt`) and WebVTT (`captions.vtt`),
//! made in Rust by `engine/captions.rs`. One per scene, published beside its video
//! (`out/<project>/<scene>.srt` and `.vtt`) and removed with it.
//!
//! Cue times come from the scene's own [`Timeline`](super::scene::Timeline): each line's
//! slot in whole frames from its speech's sample count, the pause between lines, exactly as
//! the scene's mux counts them, so a line's first cue starts on the frame where the line
//! starts in the video. The key therefore names every line's speech as an input, plus the
//! lines' texts, the scene's fps and pause — not its clips, background or encoding, so a
//! new background does not re-make the captions, and nothing about the captions enters the
//! scene's key — unless the scene burns them into its video (`scene::burned`), when the
//! captions object is one of its inputs.
//!
//! A line's text is said, not marked up, so each format gets it as text:
//! - WebVTT reads `&`, `<` and `>` as markup (`<i>`, `&amp;`, and `-->` ends a cue's
//!   timing), so [`vtt`] writes them as `&amp;`, `&lt;` and `&gt;`: a browser's `<track>`
//!   shows "Fish & chips, I <3 you", and `-->` can never appear in a cue's text.
//! - SubRip has no escapes at all: a player either shows `&lt;` as those four characters
//!   or reads `<i>` as italics, and nothing writes a literal `<i>` for the second kind. So
//!   [`srt`] keeps the text as written (rows never hold a line break, so a cue's shape is
//!   never in doubt), and it is the captions' source of truth: the episode's captions and
//!   the burned ones (`engine/ffmpeg/burn.rs`, which writes ASS with libass's escapes) are
//!   made from it.
//!
//! `captions-2`: WebVTT escapes its text, and rows are cut between grapheme clusters,
//! preferring a clause boundary (`engine/captions.rs`): any line's rows may differ from
//! `captions-1`'s, and a scene that burns its captions is made again with them.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::fps::Fps;
use crate::key::{ArtifactKind, Key, KeySpec};
use crate::media;

pub const SRT: &str = "captions.srt";
pub const VTT: &str = "captions.vtt";
/// Every file of a captions object; the SubRip file is the one `--json` names.
pub const OUTPUTS: [&str; 2] = [SRT, VTT];
pub const OUTPUT: &str = SRT;
const VERSION: &str = "captions-2";

/// A scene's captions in `out/` beside its video `out/<project>/<scene>.mp4`:
/// `<scene>.srt` and `<scene>.vtt`, each with the object's file it is.
pub fn published(video: &Path) -> [(&'static str, PathBuf); 2] {
    [
        (SRT, video.with_extension("srt")),
        (VTT, video.with_extension("vtt")),
    ]
}

/// The input name of line `i`'s (0-based) speech in a captions key spec.
pub fn line_input(i: usize) -> String {
    format!("line{:04}.speech", i + 1)
}

/// The captions' key: each line's speech (its duration places the cues) and text, in
/// script order, with the scene's fps and pause.
pub fn key(lines: &[(Key, &str)], fps: Fps, pause: f64) -> KeySpec {
    let mut spec = KeySpec::new(ArtifactKind::Captions, VERSION, "captions")
        .param("fps", fps)
        .param("pause", pause);
    spec.inputs.reserve(lines.len());
    spec.params.reserve(lines.len());
    for (i, (speech, text)) in lines.iter().enumerate() {
        let name = line_input(i);
        spec = spec
            .input(name, *speech)
            .param(format!("line{:04}.text", i + 1), text);
    }
    spec
}

/// One cue: from `start` to `end` milliseconds, its rows of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub rows: Vec<String>,
}

/// `HH:MM:SS<sep>mmm`: `,` for SubRip, `.` for WebVTT.
pub fn timestamp(ms: u64, sep: char) -> String {
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    format!("{h:02}:{m:02}:{s:02}{sep}{:03}", ms % 1000)
}

/// The SubRip text of `cues`.
pub fn srt(cues: &[Cue]) -> String {
    let mut text = String::new();
    for (i, cue) in cues.iter().enumerate() {
        text.push_str(&format!(
            "{}\n{} --> {}\n{}\n\n",
            i + 1,
            timestamp(cue.start_ms, ','),
            timestamp(cue.end_ms, ','),
            cue.rows.join("\n")
        ));
    }
    text
}

/// The WebVTT text of `cues`, each row [`vtt_text`].
pub fn vtt(cues: &[Cue]) -> String {
    let mut text = String::from("WEBVTT\n\n");
    for cue in cues {
        let rows: Vec<String> = cue.rows.iter().map(|r| vtt_text(r)).collect();
        text.push_str(&format!(
            "{} --> {}\n{}\n\n",
            timestamp(cue.start_ms, '.'),
            timestamp(cue.end_ms, '.'),
            rows.join("\n")
        ));
    }
    text
}

/// `row` as WebVTT cue text: `&`, `<` and `>` as character references, the rest as is
/// (so a cue's text never holds `-->` nor a tag).
pub fn vtt_text(row: &str) -> String {
    let mut text = String::with_capacity(row.len());
    for c in row.chars() {
        match c {
            '&' => text.push_str("&amp;"),
            '<' => text.push_str("&lt;"),
            '>' => text.push_str("&gt;"),
            c => text.push(c),
        }
    }
    text
}

/// Reads SubRip text back into cues; None when it is not well-formed (numbered from 1 in
/// order, `start --> end` with start ≤ end, at least one row each).
pub fn parse_srt(text: &str) -> Option<Vec<Cue>> {
    let parse_time = |t: &str| -> Option<u64> {
        let (hms, ms) = t.trim().split_once(',')?;
        let parts: Vec<u64> = hms
            .split(':')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let [h, m, s] = parts[..] else { return None };
        (ms.len() == 3 && m < 60 && s < 60)
            .then(|| ms.parse::<u64>().ok())
            .flatten()
            .map(|ms| ((h * 60 + m) * 60 + s) * 1000 + ms)
    };
    let mut cues = Vec::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut rows = block.lines();
        if rows.next()?.trim().parse::<usize>().ok()? != cues.len() + 1 {
            return None;
        }
        let (start, end) = rows.next()?.split_once(" --> ")?;
        let (start_ms, end_ms) = (parse_time(start)?, parse_time(end)?);
        let rows: Vec<String> = rows.map(str::to_string).collect();
        if rows.is_empty() || end_ms < start_ms {
            return None;
        }
        cues.push(Cue {
            start_ms,
            end_ms,
            rows,
        });
    }
    Some(cues)
}

/// Captions must be whole before they may enter the cache: the SubRip file parses and has
/// `cues` cues, and the WebVTT file has its header and as many.
pub fn check(artifact: &str, srt: &Path, vtt: &Path, cues: usize) -> Result<()> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| {
            media::invalid(artifact, format!("{} was not written: {e}", path.display()))
        })
    };
    let (srt, vtt) = (read(srt)?, read(vtt)?);
    match parse_srt(&srt) {
        Some(parsed) if parsed.len() == cues => {}
        _ => {
            return Err(media::invalid(
                artifact,
                format!("{SRT} is not {cues} SubRip cues"),
            ))
        }
    }
    if !vtt.starts_with("WEBVTT\n") || vtt.matches(" --> ").count() != cues {
        return Err(media::invalid(
            artifact,
            format!("{VTT} is not {cues} WebVTT cues"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cues() -> Vec<Cue> {
        vec![
            Cue {
                start_ms: 0,
                end_ms: 1_480,
                rows: vec!["Hello there.".into()],
            },
            Cue {
                start_ms: 3_723_004,
                end_ms: 3_725_000,
                rows: vec!["Two rows,".into(), "of text.".into()],
            },
        ]
    }

    #[test]
    fn timestamps_are_hours_minutes_seconds_and_milliseconds() {
        assert_eq!(timestamp(0, ','), "00:00:00,000");
        assert_eq!(timestamp(3_723_004, ','), "01:02:03,004");
        assert_eq!(timestamp(59_999, '.'), "00:00:59.999");
    }

    #[test]
    fn subrip_is_numbered_cues_and_parses_back() {
        let text = srt(&cues());
        assert_eq!(
            text,
            "1\n00:00:00,000 --> 00:00:01,480\nHello there.\n\n\
             2\n01:02:03,004 --> 01:02:05,000\nTwo rows,\nof text.\n\n"
        );
        assert_eq!(parse_srt(&text), Some(cues()));
        assert_eq!(parse_srt(""), Some(vec![]));
        assert_eq!(parse_srt("2\n00:00:00,000 --> 00:00:01,000\nx\n"), None);
        assert_eq!(parse_srt("1\n00:00:02,000 --> 00:00:01,000\nx\n"), None);
    }

    #[test]
    fn webvtt_has_its_header_and_dotted_times() {
        assert_eq!(
            vtt(&cues()[..1]),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.480\nHello there.\n\n"
        );
    }

    #[test]
    fn webvtt_text_is_escaped_and_subrip_text_is_as_written() {
        let said = "Click File --> Save. Fish & chips, I <3 you, <i>this</i>.";
        let cue = Cue {
            start_ms: 0,
            end_ms: 1_000,
            rows: vec![said.into()],
        };
        assert_eq!(
            vtt(std::slice::from_ref(&cue)),
            "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n\
             Click File --&gt; Save. Fish &amp; chips, I &lt;3 you, &lt;i&gt;this&lt;/i&gt;.\n\n"
        );
        let srt = srt(std::slice::from_ref(&cue));
        assert_eq!(parse_srt(&srt), Some(vec![cue]));
        assert!(srt.ends_with(&format!("\n{said}\n\n")), "{srt}");
    }

    #[test]
    fn captions_are_published_beside_the_video() {
        let files = published(Path::new("out/demo/a.b.mp4"));
        assert_eq!(files[0].1, Path::new("out/demo/a.b.srt"));
        assert_eq!(files[1].1, Path::new("out/demo/a.b.vtt"));
    }
}
