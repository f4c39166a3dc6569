//! Reading the text files a content folder is written in — Renderfile.toml, project.toml,
//! scripts, model.toml, the machine's engines.toml — as their author wrote them.
//!
//! Windows Notepad (and other editors) save UTF-8 with a byte-order mark, U+FEFF, at the
//! start. It is not text: left in, a script's first line `# comment` does not start with `#`
//! and is spoken, `[guest] Hi` is said by the default voice with "[guest]" in it, and the
//! mark reaches the captions as an invisible character. So it is dropped here, before
//! anything looks at the text; diagnostics' spans are offsets into the text without it, so
//! their columns are the ones an editor shows (which never counts the mark).

use std::path::Path;
use std::string::FromUtf8Error;

/// The byte-order mark, as UTF-8 writes it at the start of a file.
const BOM: char = '\u{feff}';

/// `bytes` as UTF-8 text, without a leading byte-order mark.
pub(crate) fn decode(bytes: Vec<u8>) -> Result<String, FromUtf8Error> {
    String::from_utf8(bytes).map(without_bom)
}

/// The UTF-8 text of the file at `path`, without a leading byte-order mark
/// ([`std::fs::read_to_string`]'s errors otherwise).
pub(crate) fn read(path: &Path) -> std::io::Result<String> {
    crate::noop_stamp::consulted(path);
    std::fs::read_to_string(path).map(without_bom)
}

fn without_bom(mut text: String) -> String {
    if text.starts_with(BOM) {
        text.drain(..BOM.len_utf8());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_byte_order_mark_is_dropped() {
        let with = b"\xef\xbb\xbf# comment\n[guest] Hi\n".to_vec();
        assert_eq!(decode(with).unwrap(), "# comment\n[guest] Hi\n");
        // Only at the start: elsewhere U+FEFF is a (zero-width no-break) character.
        let inner = "a\u{feff}b".as_bytes().to_vec();
        assert_eq!(decode(inner).unwrap(), "a\u{feff}b");
        assert_eq!(decode(b"\xef\xbb\xbf".to_vec()).unwrap(), "");
        assert!(decode(b"\xef\xbb".to_vec()).is_err());
    }
}
