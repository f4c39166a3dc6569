//! Burned-in captions (`captions = "burn"`): the scene's own captions object drawn into its
//! video by ffmpeg's `subtitles` filter (libass), as the last step of the video chain in
//! `ffmpeg.rs`.
//!
//! The filter reads the captions' SubRip file and a folder of fonts by path, and a path
//! inside a filter graph passes two layers of escaping (the graph's, then the option's),
//! which a content folder's path could break in many ways. So the job copies both into its
//! own folder (`burn/captions.srt`, `burn/fonts/DejaVuSans.ttf`) and ffmpeg runs there,
//! naming them by short relative paths that need no escaping. The fonts folder holds only
//! the font whose blake3 is in the scene's key, so that is the font libass draws with.
//!
//! SubRip times are rounded to the millisecond, and libass shows a cue on a frame whose
//! time, truncated to the millisecond, lies in it: a cue that starts a fraction of a
//! millisecond after its line's first frame would miss that frame. So the copy has each
//! time moved to the middle between two frames ([`on_frames`]): every cue is drawn on
//! exactly the frames of its slot in the scene's timeline.
//!
//! libass sizes text against the script's `PlayResY` (288 when ffmpeg converts SubRip), so
//! the style sets `PlayResX`/`PlayResY` to the frame's size: every size below is in frame
//! pixels.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fps::Fps;
use crate::manifest::{BurnedCaptions, CaptionPosition};
use crate::stage::captions::{self, Cue};

/// The folder in the job's folder that holds what the filter reads.
const FOLDER: &str = "burn";

/// Copies the captions `srt` (its times [`on_frames`] at `fps`) and the font at `font` into
/// the job folder `dir`; returns the filter to append to the video chain
/// (`,subtitles=...`), for a `width`×`height` frame. ffmpeg must run in `dir`.
pub fn prepare(
    dir: &Path,
    srt: &Path,
    font: &Path,
    style: &BurnedCaptions,
    (width, height, fps): (u32, u32, Fps),
) -> Result<String> {
    let fonts = dir.join(FOLDER).join("fonts");
    std::fs::create_dir_all(&fonts).map_err(|e| Error::io("cannot create", &fonts, e))?;
    let copy = |from: &Path, to: &Path| {
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| Error::io("cannot copy", from, e))
    };
    let text = std::fs::read_to_string(srt).map_err(|e| Error::io("cannot read", srt, e))?;
    let cues = captions::parse_srt(&text)
        .ok_or_else(|| Error::Other(format!("{} is not SubRip cues", srt.display())))?;
    let copy_to = dir.join(FOLDER).join("captions.srt");
    let cues = placed(on_frames(cues, fps), style.position);
    std::fs::write(&copy_to, captions::srt(&cues))
        .map_err(|e| Error::io("cannot write", &copy_to, e))?;
    copy(font, &fonts.join(crate::font::FILE))?;
    Ok(filter(style, width, height))
}

/// `cues` with each time moved to the middle between the frame it rounds to and the one
/// before (0 stays 0), at `fps`: libass then shows a cue from its first frame to its last,
/// whichever way the frame's time is rounded.
pub fn on_frames(cues: Vec<Cue>, fps: Fps) -> Vec<Cue> {
    let frame = |ms: u64| fps.frame_at_ms(ms);
    let (num, den) = (u64::from(fps.num()), u64::from(fps.den()));
    let before = |frame: u64| match frame {
        0 => 0,
        f => (2 * f - 1) * 1000 * den / (2 * num),
    };
    (cues.into_iter())
        .map(|cue| Cue {
            start_ms: before(frame(cue.start_ms)),
            end_ms: before(frame(cue.end_ms)),
            ..cue
        })
        .collect()
}

/// `cues` with `position` written into each as an ASS override tag (`{\an2}` bottom
/// centre, `{\an8}` top centre: numpad positions), which ffmpeg's SubRip reader passes on.
/// Not the style's `Alignment`: libass reads that one in the old SSA numbering or the
/// numpad's depending on its version (Debian 12's takes 8 for middle left).
pub fn placed(cues: Vec<Cue>, position: CaptionPosition) -> Vec<Cue> {
    let tag = match position {
        CaptionPosition::Bottom => "{\\an2}",
        CaptionPosition::Top => "{\\an8}",
    };
    (cues.into_iter())
        .map(|mut cue| {
            if let Some(first) = cue.rows.first_mut() {
                first.insert_str(0, tag);
            }
            cue
        })
        .collect()
}

/// `,subtitles=...` drawing `burn/captions.srt` with `style` on a `width`×`height` frame.
pub fn filter(style: &BurnedCaptions, width: u32, height: u32) -> String {
    // Quoted: the commas of the style are not the graph's.
    format!(
        ",subtitles=filename={FOLDER}/captions.srt:fontsdir={FOLDER}/fonts:force_style='{}'",
        force_style(style, width, height)
    )
}

/// The ASS style that overrides ffmpeg's default for SubRip: sizes in frame pixels.
pub fn force_style(style: &BurnedCaptions, width: u32, height: u32) -> String {
    let h = f64::from(height);
    let font_size = (style.size * h).round().max(1.0);
    // An outline about a sixteenth of the text's height keeps it readable on any face,
    // without the weight of a box.
    let outline = (font_size / 16.0).max(1.0);
    // Text starts a twentieth of the frame from its edge (the usual title-safe margin).
    let (margin_v, margin_h) = ((h * 0.05).round(), (f64::from(width) * 0.05).round());
    format!(
        "PlayResX={width},PlayResY={height},FontName={},FontSize={font_size},\
         PrimaryColour={},OutlineColour={},BorderStyle=1,Outline={outline},Shadow=0,\
         MarginV={margin_v},MarginL={margin_h},MarginR={margin_h}",
        crate::font::NAME,
        ass_colour(style.colour),
        ass_colour(style.outline),
    )
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
        let cue = |start_ms, end_ms| Cue {
            start_ms,
            end_ms,
            rows: vec!["x".into()],
        };
        // At 12 fps frame 29 starts at 2416.67 ms, which SubRip rounds to 2417 and libass
        // truncates to 2416: the cue must start before that, after frame 28 (2333 ms).
        let moved = on_frames(
            vec![cue(0, 1417), cue(2417, 3750)],
            crate::fps::Fps::whole(12),
        );
        assert_eq!(moved, [cue(0, 1375), cue(2375, 3708)]);
        // 25 fps: frame 3 at 120 ms, however 3 × 0.04 × 1000 rounds.
        assert_eq!(
            on_frames(vec![cue(120, 200)], crate::fps::Fps::whole(25)),
            [cue(100, 180)]
        );
    }

    #[test]
    fn the_position_is_a_tag_on_each_cue() {
        let cue = Cue {
            start_ms: 0,
            end_ms: 1000,
            rows: vec!["Two rows,".into(), "of text.".into()],
        };
        let top = placed(vec![cue.clone()], CaptionPosition::Top);
        assert_eq!(top[0].rows, ["{\\an8}Two rows,", "of text."]);
        let bottom = placed(vec![cue], CaptionPosition::Bottom);
        assert_eq!(bottom[0].rows[0], "{\\an2}Two rows,");
    }

    #[test]
    fn sizes_are_in_frame_pixels() {
        let style = BurnedCaptions {
            size: 0.05,
            position: CaptionPosition::Top,
            colour: [255, 255, 255],
            outline: [0, 0, 0],
        };
        assert_eq!(
            force_style(&style, 1280, 720),
            "PlayResX=1280,PlayResY=720,FontName=DejaVu Sans,FontSize=36,\
             PrimaryColour=&H00FFFFFF,OutlineColour=&H00000000,BorderStyle=1,Outline=2.25,\
             Shadow=0,MarginV=36,MarginL=64,MarginR=64"
        );
    }
}
