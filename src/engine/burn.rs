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
//! libass sizes text against the script's `PlayResY` (288 when ffmpeg converts SubRip), so
//! the style sets `PlayResX`/`PlayResY` to the frame's size: every size below is in frame
//! pixels.

use std::path::Path;

use crate::error::{Error, Result};
use crate::manifest::{BurnedCaptions, CaptionPosition};

/// The folder in the job's folder that holds what the filter reads.
const FOLDER: &str = "burn";

/// Copies `srt` and the font at `font` into the job folder `dir`; returns the filter to
/// append to the video chain (`,subtitles=...`), for a `width`×`height` frame. ffmpeg must
/// run in `dir`.
pub fn prepare(
    dir: &Path,
    srt: &Path,
    font: &Path,
    style: &BurnedCaptions,
    width: u32,
    height: u32,
) -> Result<String> {
    let fonts = dir.join(FOLDER).join("fonts");
    std::fs::create_dir_all(&fonts).map_err(|e| Error::io("cannot create", &fonts, e))?;
    let copy = |from: &Path, to: &Path| {
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| Error::io("cannot copy", from, e))
    };
    copy(srt, &dir.join(FOLDER).join("captions.srt"))?;
    copy(font, &fonts.join(crate::font::FILE))?;
    Ok(filter(style, width, height))
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
    // ASS numpad alignment: 2 is bottom centre, 8 top centre.
    let alignment = match style.position {
        CaptionPosition::Bottom => 2,
        CaptionPosition::Top => 8,
    };
    format!(
        "PlayResX={width},PlayResY={height},FontName={},FontSize={font_size},\
         PrimaryColour={},OutlineColour={},BorderStyle=1,Outline={outline},Shadow=0,\
         Alignment={alignment},MarginV={margin_v},MarginL={margin_h},MarginR={margin_h}",
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
             Shadow=0,Alignment=8,MarginV=36,MarginL=64,MarginR=64"
        );
    }
}
