//! `render build --events FILE|-`: the build as it happens, one JSON object per line, for a
//! program that drives builds (`render watch` and `render serve` run `render build` as a
//! child and read this stream; a farm's front end could too). A line is written and flushed
//! as each thing happens, so a reader sees an artifact finish when it does:
//!
//! - `{"event":"plan","to_make":N,"scenes":S,"jobs":J}` once, before anything runs;
//! - `{"event":"started","name":…,"kind":…,"lane":bool,"at":seconds}` per job;
//! - `{"event":"stalled","name":…,"seconds":…}` for a job without progress;
//! - `{"event":"finished","name":…,"kind":…,"key":…,"status":…,"seconds":…,"error":…}`
//!   per job (`status`: made, failed, cancelled, skipped, not-started; `error`: the
//!   failure as the build printed it, with its program's log tail);
//! - `{"event":"published","path":"out/…","change":"added"}` per file changed in `out/`;
//! - `{"event":"summary","exit":code,"summary":{…}}` last: `summary` is exactly what
//!   `--json` writes (reused artifacts included).
//!
//! A configuration error ends the build before the first line (the diagnostic is on
//! stderr, exit 2). Writing is best effort: a reader that went away does not fail the build.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::Summary;

#[derive(Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum BuildEvent<'a> {
    Plan {
        to_make: usize,
        scenes: usize,
        jobs: usize,
    },
    Started {
        name: &'a str,
        kind: &'a str,
        lane: bool,
        at: f64,
    },
    Stalled {
        name: &'a str,
        seconds: f64,
    },
    Finished {
        name: &'a str,
        kind: &'a str,
        key: &'a str,
        status: &'a str,
        seconds: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
    },
    Published {
        path: &'a str,
        change: &'a str,
    },
    Summary {
        exit: i32,
        summary: &'a Summary,
    },
}

/// Where the events go: nowhere (no `--events`), standard output, or a file.
pub struct Events {
    out: Option<Mutex<Box<dyn Write + Send>>>,
}

impl Events {
    pub fn open(path: Option<&Path>) -> Result<Events> {
        let out: Option<Box<dyn Write + Send>> = match path {
            None => None,
            Some(path) if path == Path::new("-") => Some(Box::new(std::io::stdout())),
            Some(path) => Some(Box::new(
                std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?,
            )),
        };
        Ok(Events {
            out: out.map(Mutex::new),
        })
    }

    pub fn is_on(&self) -> bool {
        self.out.is_some()
    }

    /// Writes one event as one line, flushed.
    pub fn send(&self, event: &BuildEvent) {
        let Some(out) = &self.out else { return };
        let mut line = serde_json::to_vec(event).expect("events serialise");
        line.push(b'\n');
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(&line).and_then(|()| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_tagged_json_object() {
        let event = BuildEvent::Finished {
            name: "speech p/talk:1",
            kind: "speech",
            key: "ab",
            status: "made",
            seconds: 1.5,
            error: None,
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"event":"finished","name":"speech p/talk:1","kind":"speech","key":"ab","status":"made","seconds":1.5}"#
        );
    }
}
