//! The builds a server started: one at a time (a second request while one runs is
//! refused, the API's 409), each with every event it sent, its summary and exit, and a
//! channel that fans every event out to the server-sent-event subscribers (`/api/events`)
//! as one JSON object with the build's id added.
//!
//! The builds themselves are children (`child.rs`); a stopped build is one sent Ctrl-C,
//! whose running jobs end `cancelled`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::studio::child::{self, BuildRequest, Output, Running};

/// How many events a slow subscriber may fall behind before it misses some.
const BACKLOG: usize = 4096;

/// A build as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Build {
    pub id: u64,
    pub targets: Vec<String>,
    pub force: bool,
    /// What started it: `api`, `start`, or the changed files.
    pub reason: String,
    /// running | ended
    pub state: &'static str,
    /// Seconds since the Unix epoch.
    pub started: f64,
    pub ended: Option<f64>,
    pub exit: Option<i32>,
    /// Whether it was stopped (DELETE, or an edit under `--watch`).
    pub stopped: bool,
    /// Its one line, as `render watch` prints it.
    pub line: Option<String>,
    /// Its stderr when it ended without a summary (a configuration error's diagnostic).
    pub error: Option<String>,
    pub summary: Option<Value>,
    /// Every event it sent, in order.
    pub events: Vec<Value>,
}

#[derive(Default)]
struct Board {
    next: u64,
    list: Vec<Build>,
    current: Option<(u64, Arc<Running>)>,
}

pub struct Builds {
    root: PathBuf,
    board: Mutex<Board>,
    events: broadcast::Sender<Value>,
}

/// Why a build could not start.
#[derive(Debug)]
pub enum Refused {
    /// One is running (its id).
    Busy(u64),
    Failed(String),
}

impl Builds {
    pub fn new(root: PathBuf) -> Arc<Builds> {
        Arc::new(Builds {
            root,
            board: Mutex::default(),
            events: broadcast::channel(BACKLOG).0,
        })
    }

    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.events.subscribe()
    }

    /// Tells subscribers something outside a build (e.g. files changed).
    pub fn announce(&self, event: Value) {
        let _ = self.events.send(event);
    }

    /// Starts a build unless one runs; its id.
    pub fn start(
        self: &Arc<Self>,
        targets: Vec<String>,
        force: bool,
        reason: &str,
    ) -> Result<u64, Refused> {
        let mut board = self.board();
        if let Some((id, _)) = &board.current {
            return Err(Refused::Busy(*id));
        }
        board.next += 1;
        let id = board.next;
        let request = BuildRequest {
            root: self.root.clone(),
            targets: targets.clone(),
            force,
        };
        let this = Arc::clone(self);
        let on_output = move |output: Output| {
            if let Output::Event(event) = output {
                if let Some(build) = this.board().list.iter_mut().find(|b| b.id == id) {
                    build.events.push(event.clone());
                }
                let mut event = event;
                event["build"] = json!(id);
                let _ = this.events.send(event);
            }
        };
        let (running, owner) =
            child::start(&request, on_output).map_err(|e| Refused::Failed(e.to_string()))?;
        board.list.push(Build {
            id,
            targets: targets.clone(),
            force,
            reason: reason.to_string(),
            state: "running",
            started: crate::history::now(),
            ended: None,
            exit: None,
            stopped: false,
            line: None,
            error: None,
            summary: None,
            events: Vec::new(),
        });
        board.current = Some((id, running));
        drop(board);
        let _ = self.events.send(json!({
            "event": "build-started", "build": id, "targets": targets, "force": force,
            "reason": reason,
        }));
        let this = Arc::clone(self);
        std::thread::spawn(move || {
            let ended = owner.join().unwrap_or(child::Ended {
                code: None,
                stderr: String::new(),
                summary: None,
                stopped: false,
            });
            let line = child::line(&ended);
            let mut board = this.board();
            board.current = None;
            if let Some(build) = board.list.iter_mut().find(|b| b.id == id) {
                build.state = "ended";
                build.ended = Some(crate::history::now());
                build.exit = ended.code;
                build.stopped = ended.stopped;
                build.line = Some(line.clone());
                build.error = ended.summary.is_none().then(|| ended.stderr.clone());
                build.summary = ended.summary.clone();
            }
            drop(board);
            let _ = this.events.send(json!({
                "event": "build-ended", "build": id, "exit": ended.code, "stopped": ended.stopped,
                "line": line, "error": ended.summary.is_none().then_some(ended.stderr),
            }));
        });
        Ok(id)
    }

    /// Stops the running build (Ctrl-C to it); its id, or None when none runs.
    pub fn stop(&self) -> Option<u64> {
        let board = self.board();
        let (id, running) = board.current.as_ref()?;
        running.stop();
        Some(*id)
    }

    /// Whether a build runs.
    pub fn running(&self) -> Option<u64> {
        self.board().current.as_ref().map(|(id, _)| *id)
    }

    /// Every build, newest first, without their events.
    pub fn list(&self) -> Vec<Build> {
        let board = self.board();
        (board.list.iter().rev())
            .map(|b| Build {
                events: Vec::new(),
                ..b.clone()
            })
            .collect()
    }

    pub fn get(&self, id: u64) -> Option<Build> {
        self.board().list.iter().find(|b| b.id == id).cloned()
    }
}
