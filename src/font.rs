//! The font that burned-in captions (`captions = "burn"`) are drawn with: DejaVu Sans, from
//! Debian's `fonts-dejavu-core` (free, under the Bitstream Vera licence), which
//! `tools/setup` installs. It belongs to the machine, like ffmpeg, so it is looked for in one
//! place: `$RENDER_FONTS` (a folder holding `DejaVuSans.ttf`), else Debian's folder.
//!
//! Only scenes that burn captions need it, so a missing font is reported at their
//! `captions` key (`manifest::captions`) and nowhere else. The file's blake3 enters the keys
//! of those scenes, so a font update re-makes them; it is hashed once per process, and only
//! when some scene burns.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::error::Result;

/// The family name libass is asked for.
pub const NAME: &str = "DejaVu Sans";
pub const FILE: &str = "DejaVuSans.ttf";
/// The Debian package that holds [`FILE`].
pub const PACKAGE: &str = "fonts-dejavu-core";
/// Where Debian installs it.
pub const DEBIAN_DIR: &str = "/usr/share/fonts/truetype/dejavu";

/// The font file: `$RENDER_FONTS/DejaVuSans.ttf`, else Debian's. It may not exist.
pub fn path() -> PathBuf {
    let dir =
        std::env::var_os("RENDER_FONTS").map_or_else(|| PathBuf::from(DEBIAN_DIR), PathBuf::from);
    let path = dir.join(FILE);
    crate::noop_stamp::consulted(&path);
    path
}

/// The font file when it is there; else what to tell the user (the path looked at).
pub fn installed() -> std::result::Result<PathBuf, String> {
    let path = path();
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} does not exist", path.display()))
    }
}

/// How to get the font, for hints.
pub fn hint() -> String {
    format!(
        "run ./tools/setup in render's repository, or install Debian's {PACKAGE} \
         (apt-get install {PACKAGE}); RENDER_FONTS may name another folder holding {FILE}"
    )
}

/// The font file's blake3, hashed once per process.
pub fn blake3() -> Result<String> {
    static CELL: OnceLock<String> = OnceLock::new();
    if let Some(hash) = CELL.get() {
        return Ok(hash.clone());
    }
    let hash = crate::files::hash_file(&path())?.to_string();
    Ok(CELL.get_or_init(|| hash).clone())
}
