//! Captions, made in Rust: each line's text split into cues that fit on screen, timed by
//! the scene's [`Timeline`] (whole frames per line, from its speech, and the pauses), and
//! written as SubRip and WebVTT (`stage/captions.rs`).
//!
//! A cue holds at most [`ROWS`] rows of at most [`ROW_CHARS`] characters. A character is
//! what a reader sees as one: a grapheme cluster (`unicode-segmentation`), so a flag (two
//! regional indicators), an emoji with a skin tone or a family joined by ZWJs, or a letter
//! with a combining accent counts once and is never cut in two. A line that does not fit in
//! one cue is cut at sentence ends where it can, else at clause boundaries (`, ; : — –`),
//! else between words; a word longer than a row is cut in pieces, between clusters. A cue
//! of two rows is cut at a clause boundary when one leaves each row at least a quarter of
//! the text ("Aujourd'hui, / nous parlons des arcs-en-ciel." rather than the evener
//! "Aujourd'hui, nous / parlons …": a reader takes a clause in at a glance), else where the
//! rows are most even. Each cue gets a share of its line's frames in proportion to its
//! characters, and a cue shorter than [`MIN_SECONDS`] is merged with a neighbour when the
//! two still fit in one cue.

use std::path::Path;

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::{Engine, Made, Step, Task};
use crate::error::{Error, Result};
use crate::fps::Fps;
use crate::media;
use crate::stage::captions::{self, Cue, OUTPUTS, SRT, VTT};
use crate::stage::lipsync::frame_count;
use crate::stage::scene::Timeline;
use crate::stage::speech;

/// Rows a cue may have.
pub const ROWS: usize = 2;
/// Characters (grapheme clusters, see [`width`]) a row may have.
pub const ROW_CHARS: usize = 42;
/// A cue shorter than this is merged with a neighbour where the two fit in one cue.
pub const MIN_SECONDS: f64 = 0.7;

/// A scene's captions: its lines' texts in script order (empty for a recorded line,
/// which has no cue), its fps and pause.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Captions {
    pub texts: Vec<String>,
    pub fps: Fps,
    pub pause: f64,
}

impl Engine for Captions {
    fn run(&self, job: &Task, dir: &Path) -> Result<Step> {
        let mut clip_frames = Vec::with_capacity(self.texts.len());
        for i in 0..self.texts.len() {
            let path = job.file(&captions::line_input(i), speech::OUTPUT)?;
            let audio = media::read_wav(&path).map_err(|detail| {
                Error::Other(format!(
                    "{}: cannot read {}: {detail}",
                    job.name,
                    path.display()
                ))
            })?;
            clip_frames.push(frame_count(&audio, self.fps));
        }
        let cues = scene_cues(&self.texts, &clip_frames, self.pause, self.fps);
        let (srt, vtt) = (dir.join(SRT), dir.join(VTT));
        crate::files::write_atomically(&srt, captions::srt(&cues).as_bytes())?;
        crate::files::write_atomically(&vtt, captions::vtt(&cues).as_bytes())?;
        captions::check(job.name, &srt, &vtt, cues.len())?;
        Ok(Step::Done(Made::cpu(&OUTPUTS)))
    }
}

/// Every cue of a scene whose lines say `texts` over clips of `clip_frames` frames, with
/// `pause` seconds between two lines: the scene's [`Timeline`], so each line's cues start
/// on the frame where its clip starts in the video and end where its speech does.
pub fn scene_cues(texts: &[String], clip_frames: &[usize], pause: f64, fps: Fps) -> Vec<Cue> {
    let timeline = Timeline::new(clip_frames, pause, fps);
    let mut start = 0;
    let mut cues = Vec::new();
    for (text, slot) in texts.iter().zip(&timeline.slots) {
        cues.extend(line_cues(text, start, slot.clip_frames, fps));
        start += slot.clip_frames + slot.pause_frames;
    }
    cues
}

/// The cues of one line that starts at frame `start` and speaks for `frames` frames.
pub fn line_cues(text: &str, start: usize, frames: usize, fps: Fps) -> Vec<Cue> {
    let mut pieces = split(text);
    let chars = |piece: &[String]| piece.iter().map(|r| width(r)).sum::<usize>();
    // Merge the shortest cue that is too short into its shorter neighbour, while one fits.
    let min_frames = MIN_SECONDS * fps.as_f64();
    loop {
        let total = pieces.iter().map(|p| chars(p)).sum::<usize>().max(1);
        let share = |p: &Vec<String>| frames as f64 * chars(p) as f64 / total as f64;
        let mut short: Vec<usize> = (0..pieces.len())
            .filter(|&i| share(&pieces[i]) < min_frames)
            .collect();
        short.sort_by(|&a, &b| share(&pieces[a]).total_cmp(&share(&pieces[b])));
        let merged = short.iter().find_map(|&i| {
            let mut neighbours: Vec<usize> = [i.checked_sub(1), Some(i + 1)]
                .into_iter()
                .flatten()
                .filter(|&j| j < pieces.len())
                .collect();
            neighbours.sort_by_key(|&j| chars(&pieces[j]));
            neighbours.into_iter().find_map(|j| {
                let (a, b) = (i.min(j), i.max(j));
                let words: Vec<&str> = (pieces[a].iter().chain(&pieces[b]))
                    .flat_map(|r| r.split(' '))
                    .collect();
                rows(&words).map(|rows| (a, rows))
            })
        });
        match merged {
            Some((a, rows)) => {
                pieces[a] = rows;
                pieces.remove(a + 1);
            }
            None => break,
        }
    }
    // Frame boundaries in proportion to the characters before each cue.
    let total = pieces.iter().map(|p| chars(p)).sum::<usize>().max(1);
    let ms = |frame: usize| fps.ms_at(frame);
    let mut before = 0;
    let mut cues = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let from = start + frames * before / total;
        before += chars(&piece);
        let to = start + frames * before / total;
        cues.push(Cue {
            start_ms: ms(from),
            end_ms: ms(to.max(from)),
            rows: piece,
        });
    }
    cues
}

/// How many characters `text` shows: its extended grapheme clusters.
pub fn width(text: &str) -> usize {
    text.graphemes(true).count()
}

/// A line's text as cues, each its rows: at most [`ROWS`] rows of at most [`ROW_CHARS`]
/// characters, cut at sentence ends first, then at clause boundaries, then between words.
pub fn split(text: &str) -> Vec<Vec<String>> {
    // Words, a word longer than a row cut into pieces that fit, between clusters.
    let words: Vec<String> = (text.split_whitespace())
        .flat_map(|word| {
            let clusters: Vec<&str> = word.graphemes(true).collect();
            (clusters.chunks(ROW_CHARS))
                .map(|c| c.concat())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut cues = Vec::new();
    while !words.is_empty() {
        if let Some(rows) = rows(&words) {
            cues.push(rows);
            break;
        }
        // The longest start that fits in a cue and ends at the strongest boundary. A start
        // of n words is at least 2n - 1 characters, so none longer than a cue's can fit.
        let most = words.len().min(ROWS * ROW_CHARS / 2 + 1);
        let fitting = (1..most + 1)
            .filter(|&n| n < words.len())
            .filter(|&n| rows(&words[..n]).is_some());
        let cut = fitting
            .max_by_key(|&n| (boundary(words[n - 1]), n))
            .expect("a single word always fits");
        cues.push(rows(&words[..cut]).expect("it fits"));
        words.drain(..cut);
    }
    cues
}

/// How strong a cut after `word` is: 2 after a sentence, 1 after a clause, 0 otherwise.
fn boundary(word: &str) -> u8 {
    let word = word.trim_end_matches(['"', '\'', ')', ']', '”', '’', '»']);
    if word.ends_with(['.', '!', '?', '…']) {
        2
    } else if word.ends_with([',', ';', ':', '—', '–']) || word == "-" {
        1
    } else {
        0
    }
}

/// `words` as the rows of one cue, if they fit: one row, or two cut at the clause boundary
/// that leaves each row at least a quarter of the text (the most even such), else where the
/// rows are most even.
fn rows(words: &[&str]) -> Option<Vec<String>> {
    let len = |w: &[&str]| w.iter().map(|w| width(w)).sum::<usize>() + w.len().saturating_sub(1);
    let total = len(words);
    if total <= ROW_CHARS {
        return Some(vec![words.join(" ")]);
    }
    // Two full rows and the space between: anything longer cannot fit (and is not searched:
    // a 1,000-word line asks this of every prefix).
    if total > ROWS * ROW_CHARS + 1 {
        return None;
    }
    let (before, after) = (|n: usize| len(&words[..n]), |n: usize| len(&words[n..]));
    let cuts: Vec<usize> = (1..words.len())
        .filter(|&n| before(n) <= ROW_CHARS && after(n) <= ROW_CHARS)
        .collect();
    let uneven = |n: &&usize| before(**n).abs_diff(after(**n));
    let clause = (cuts.iter())
        .filter(|&&n| boundary(words[n - 1]) > 0 && 4 * before(n).min(after(n)) >= total)
        .min_by_key(uneven);
    let cut = *clause.or_else(|| cuts.iter().min_by_key(uneven))?;
    const { assert!(ROWS == 2, "a cue is one row or two") };
    Some(vec![words[..cut].join(" "), words[cut..].join(" ")])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(cue: &[String]) -> String {
        cue.join(" ")
    }

    fn assert_fits(cues: &[Vec<String>]) {
        for cue in cues {
            assert!(cue.len() <= ROWS, "{cue:?}");
            assert!(cue.iter().all(|r| width(r) <= ROW_CHARS), "{cue:?}");
        }
    }

    #[test]
    fn a_line_of_a_thousand_words_is_split_at_once() {
        let words: Vec<String> = (0..1000).map(|i| format!("word{i}")).collect();
        let text = words.join(" ");
        // Searching every prefix of the whole rest of the line for a cue took hours here.
        let cues = split(&text);
        assert_fits(&cues);
        let all: Vec<String> = cues.iter().map(|c| text_of(c)).collect();
        assert_eq!(all.join(" "), text);
    }

    #[test]
    fn a_short_line_is_one_row() {
        assert_eq!(
            split("  Hello,   world. "),
            [vec!["Hello, world.".to_string()]]
        );
        assert!(split("").is_empty());
    }

    #[test]
    fn a_line_of_two_rows_is_cut_evenly() {
        let cues = split("This sentence is a little too long to fit on a single row of text.");
        assert_eq!(cues.len(), 1);
        assert_eq!(cues[0].len(), 2);
        assert_fits(&cues);
        let (a, b) = (cues[0][0].len(), cues[0][1].len());
        assert!(a.abs_diff(b) <= 12, "{cues:?}");
    }

    #[test]
    fn long_lines_are_cut_at_sentences_first() {
        let text = "Welcome to the show about captions and timing. \
                    Today we look at how long lines are cut into cues that fit the screen.";
        let cues = split(text);
        assert_fits(&cues);
        assert_eq!(
            text_of(&cues[0]),
            "Welcome to the show about captions and timing."
        );
        let all: Vec<String> = cues.iter().map(|c| text_of(c)).collect();
        assert_eq!(
            all.join(" "),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }

    #[test]
    fn then_at_clauses_then_between_words() {
        let text = "When the sentence runs on and on without a stop, the cut comes after a comma; \
                    and only when there is no comma at all in a very long stretch of words does \
                    it fall between two words anywhere it can";
        let cues = split(text);
        assert_fits(&cues);
        assert_eq!(cues.len(), 3, "{cues:?}");
        // The latest clause boundary that fits, not the most words that fit.
        assert!(text_of(&cues[0]).ends_with("comma;"), "{cues:?}");
        // No boundary left: as many words as fit.
        assert!(
            cues[1].iter().map(String::len).sum::<usize>() + 1 > 70,
            "{cues:?}"
        );
    }

    #[test]
    fn rows_break_after_a_clause_near_the_middle() {
        assert_eq!(
            split("Aujourd'hui, nous parlons des arcs-en-ciel."),
            [vec![
                "Aujourd'hui,".to_string(),
                "nous parlons des arcs-en-ciel.".to_string()
            ]]
        );
        // A clause too near an end is not worth rows of 4 and 40: the evenest cut.
        let cues = split("Oh, the sentence that follows is long enough to need two rows.");
        assert_eq!(cues[0][0], "Oh, the sentence that follows");
    }

    #[test]
    fn characters_are_grapheme_clusters_never_cut() {
        // A flag is two code points, a thumb with a skin tone two, a family five: one
        // character each.
        assert_eq!(width("🇫🇷👍🏽👨\u{200d}👩\u{200d}👧é"), 4);
        assert_eq!(width("e\u{301}"), 1);
        // "x" and 45 flags: 91 code points, 46 characters: rows of 42 and 4, every flag whole.
        let word = format!("x{}", "🇫🇷".repeat(45));
        let cues = split(&word);
        assert_eq!(cues.len(), 1);
        assert_eq!(cues[0], [format!("x{}", "🇫🇷".repeat(41)), "🇫🇷".repeat(4)]);
        // Rows count clusters: 42 families fit in a row of 42 (210 code points).
        let family = "👨\u{200d}👩\u{200d}👧";
        let text = [family; 42].join("");
        assert_eq!(split(&text), [vec![text.clone()]]);
        let thumbs = vec!["👍🏽"; 30].join(" ");
        assert_fits(&split(&thumbs));
        assert_eq!(split(&thumbs)[0][0], vec!["👍🏽"; 15].join(" "));
    }

    #[test]
    fn a_word_longer_than_a_row_is_cut() {
        let word = "x".repeat(100);
        let cues = split(&format!("A {word} b"));
        assert_fits(&cues);
        let joined: String = cues.iter().flatten().map(|r| r.replace(' ', "")).collect();
        assert_eq!(joined, format!("A{word}b"));
    }

    #[test]
    fn cues_share_the_line_by_characters_and_start_with_it() {
        let text = "First sentence is here and it is long enough. \
                    Second sentence is also here, and long enough too.";
        let cues = line_cues(text, 50, 100, crate::fps::Fps::whole(25));
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].start_ms, 2_000);
        assert_eq!(cues[0].end_ms, cues[1].start_ms);
        assert_eq!(cues[1].end_ms, 6_000);
        let middle = cues[0].end_ms as f64;
        assert!((middle - 4_000.0).abs() < 300.0, "{cues:?}");
    }

    #[test]
    fn tiny_cues_are_merged_where_they_fit() {
        // "Yes." alone would last a fraction of a second: it joins the next cue.
        let text = "Yes. And then we go on with a second part that is rather long, really.";
        let cues = line_cues(text, 0, 60, crate::fps::Fps::whole(25));
        assert!(
            cues.iter().all(|c| c.end_ms - c.start_ms >= 700),
            "{cues:?}"
        );
        assert_eq!(cues[0].rows.join(" ").split(' ').next(), Some("Yes."));
    }

    #[test]
    fn a_scene_places_each_line_on_its_frames() {
        let texts = ["One.".to_string(), String::new(), "Three.".to_string()];
        // 25 fps, clips of 30, 10 and 20 frames, 0.4 s (10 frames) between lines.
        let cues = scene_cues(&texts, &[30, 10, 20], 0.4, crate::fps::Fps::whole(25));
        let starts: Vec<u64> = cues.iter().map(|c| c.start_ms).collect();
        assert_eq!(starts, [0, 2_400]);
        assert_eq!(cues[1].end_ms, 3_200);
    }
}
