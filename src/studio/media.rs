//! Media for the pages and players: files under `out/` and under a cached object's folder
//! (`cache/objects/<key>/…`, by its 64-hex key), with HTTP range requests (a player seeks
//! by asking for `bytes=a-b`: 206 and exactly those bytes) and the content type of each
//! kind render writes.
//!
//! Nothing else is reachable, by any spelling: the path (already percent-decoded by the
//! router) must be plain names — no empty, `.` or `..` part, no backslash or NUL, not
//! absolute — and the file it names, with every symlink resolved, must still be a regular
//! file inside the canonical `out/` or object folder. Whatever fails any of that is 404,
//! the same answer as a file that is not there, so nothing can be learnt by probing.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// `rest` under `base`, or None when it is not a plain path to a regular file inside it.
pub fn confine(base: &Path, rest: &str) -> Option<PathBuf> {
    if rest.is_empty() || rest.starts_with('/') {
        return None;
    }
    for part in rest.split('/') {
        let bad = part.is_empty()
            || part == "."
            || part == ".."
            || part.contains(['\\', '\0'])
            || part.chars().any(char::is_control);
        if bad {
            return None;
        }
    }
    let base = base.canonicalize().ok()?;
    let file = base.join(rest).canonicalize().ok()?;
    let inside = file.starts_with(&base) && file != base;
    (inside && std::fs::metadata(&file).ok()?.is_file()).then_some(file)
}

/// `text` with its `%XX` escapes decoded; None when an escape is malformed or the result
/// is not UTF-8.
pub fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A cached object's folder from its key (64 lowercase hex digits), else None.
pub fn object_dir(objects: &Path, key: &str) -> Option<PathBuf> {
    let hex = key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then(|| objects.join(&key[..2]).join(key))
}

/// The content type of a file render serves, by its extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "mp4" => "video/mp4",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "wav" => "audio/wav",
        "vtt" => "text/vtt; charset=utf-8",
        "srt" => "application/x-subrip; charset=utf-8",
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A range outside the file.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// The byte range a `Range` header asks of a file of `len` bytes: Ok(None) for the whole
/// file (no header, or one render does not serve: several ranges, another unit), Err for
/// a range outside the file (416).
pub fn range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = (start.trim(), end.trim());
    let (first, last) = if start.is_empty() {
        // The last N bytes.
        let n: u64 = end.parse().map_err(|_| Unsatisfiable)?;
        if n == 0 || len == 0 {
            return Err(Unsatisfiable);
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let first: u64 = start.parse().map_err(|_| Unsatisfiable)?;
        let last = if end.is_empty() {
            len.saturating_sub(1)
        } else {
            end.parse::<u64>()
                .map_err(|_| Unsatisfiable)?
                .min(len.saturating_sub(1))
        };
        (first, last)
    };
    if first >= len || first > last {
        return Err(Unsatisfiable);
    }
    Ok(Some((first, last)))
}

pub fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Serves `file` (already confined), whole or the range asked.
pub async fn serve(file: Option<PathBuf>, headers: &HeaderMap) -> Response {
    let Some(file) = file else {
        return not_found();
    };
    let Ok(mut opened) = tokio::fs::File::open(&file).await else {
        return not_found();
    };
    let Ok(meta) = opened.metadata().await else {
        return not_found();
    };
    let len = meta.len();
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let kind = HeaderValue::from_static(content_type(&file));
    let (status, first, count) = match range(asked, len) {
        Ok(None) => (StatusCode::OK, 0, len),
        Ok(Some((first, last))) => (StatusCode::PARTIAL_CONTENT, first, last - first + 1),
        Err(Unsatisfiable) => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            let all = format!("bytes */{len}");
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&all).expect("ascii"),
            );
            return response;
        }
    };
    if opened.seek(SeekFrom::Start(first)).await.is_err() {
        return not_found();
    }
    let stream = tokio_util::io::ReaderStream::new(opened.take(count));
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, kind);
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    // Published names are replaced in place by the next build: ask again each time.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {first}-{}/{len}", first + count - 1);
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&range).expect("ascii"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_players_ask_them() {
        assert_eq!(range(None, 100), Ok(None));
        assert_eq!(range(Some("bytes=10-19"), 100), Ok(Some((10, 19))));
        assert_eq!(range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(range(Some("bytes=-5"), 100), Ok(Some((95, 99))));
        assert_eq!(range(Some("bytes=90-500"), 100), Ok(Some((90, 99))));
        assert_eq!(range(Some("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(range(Some("bytes=20-10"), 100), Err(Unsatisfiable));
        assert_eq!(range(Some("bytes=0-1,5-6"), 100), Ok(None));
    }

    #[test]
    fn only_plain_paths_to_files_inside_are_confined() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("p")).unwrap();
        std::fs::write(out.join("p/a.mp4"), b"video").unwrap();
        std::fs::write(dir.path().join("secret"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), out.join("link")).unwrap();
        assert!(confine(&out, "p/a.mp4").is_some());
        for bad in [
            "",
            "p",
            "../secret",
            "p/../../secret",
            "/etc/passwd",
            "link",
            "p//a.mp4",
            "./p/a.mp4",
            "p\\a.mp4",
        ] {
            assert_eq!(confine(&out, bad), None, "{bad}");
        }
    }
}
