//! A build run as a child process: `render build --events - [--force] ROOT [TARGET…]` of
//! this same executable, in its own process group, its event lines and its stderr handed
//! to the caller as they come. `render watch` and `render serve` both drive builds this
//! way, as a farm drives jobs:
//!
//! - a crash in a build (a panic, a fault in a decoder) ends that build, not the studio;
//! - every guarantee a build has (the lock, atomic commits, the history, the report, the
//!   cache consistent after Ctrl-C) holds unchanged, because it *is* a build;
//! - stopping it is its own Ctrl-C path: SIGINT to its group (`Running::stop`) makes it
//!   stop launching, end its running jobs (reported `cancelled`), save what it committed,
//!   and exit 130. Its group is its own, so the terminal's Ctrl-C reaches only the
//!   studio, which then stops the build itself, once.
//!
//! The child is started from a thread of its own that lives until it is reaped: the child
//! dies with that thread (PR_SET_PDEATHSIG, `process::prepare`), so it must not be a pool
//! thread that may exit while the build runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

/// What to build.
#[derive(Clone, Debug, Default)]
pub struct BuildRequest {
    /// The content folder (canonical).
    pub root: PathBuf,
    /// `project` or `project/scene`; empty: everything.
    pub targets: Vec<String>,
    pub force: bool,
}

/// What a running build says, line by line.
#[derive(Debug)]
pub enum Output {
    /// One line of `--events`, parsed.
    Event(serde_json::Value),
    /// One line of its stderr (progress lines, diagnostics).
    Stderr(String),
}

/// How a build ended.
#[derive(Debug)]
pub struct Ended {
    /// Its exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Its whole stderr.
    pub stderr: String,
    /// The `summary` event, when it got that far.
    pub summary: Option<serde_json::Value>,
    /// Whether `stop` was called.
    pub stopped: bool,
}

/// A build that is running: its process group, to stop it.
pub struct Running {
    pid: i32,
    stopped: AtomicBool,
}

impl Running {
    /// Stops launching and cancels what runs: Ctrl-C to the build's process group.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // SAFETY: signalling the process group of a child we started; it is reaped only by
        // the thread that owns it, after which the group is gone and kill fails harmlessly.
        unsafe {
            libc::kill(-self.pid, libc::SIGINT);
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }
}

/// Starts the build; `on_output` sees each event and stderr line as it comes (from the
/// build's threads). Join the handle for how it ended.
pub fn start(
    request: &BuildRequest,
    on_output: impl FnMut(Output) + Send + 'static,
) -> std::io::Result<(Arc<Running>, JoinHandle<Ended>)> {
    let exe = std::env::current_exe()?;
    let request = request.clone();
    let (started, pid) = mpsc::channel();
    let owner = std::thread::Builder::new()
        .name("child build".into())
        .spawn(move || run(&exe, &request, on_output, started))?;
    match pid.recv() {
        Ok(Ok(running)) => Ok((running, owner)),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(std::io::Error::other("the build's thread ended")),
    }
}

fn run(
    exe: &Path,
    request: &BuildRequest,
    mut on_output: impl FnMut(Output) + Send + 'static,
    started: mpsc::Sender<std::io::Result<Arc<Running>>>,
) -> Ended {
    let mut command = Command::new(exe);
    command.arg("build").arg("--events").arg("-");
    if request.force {
        command.arg("--force");
    }
    command
        .arg(&request.root)
        .args(&request.targets)
        .current_dir(&request.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    crate::process::prepare(&mut command);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let _ = started.send(Err(error));
            return Ended {
                code: None,
                stderr: String::new(),
                summary: None,
                stopped: false,
            };
        }
    };
    let running = Arc::new(Running {
        pid: child.id() as i32,
        stopped: AtomicBool::new(false),
    });
    let _ = started.send(Ok(Arc::clone(&running)));
    let (lines, from_pipes) = mpsc::channel::<Output>();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let events = lines.clone();
    let out_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            // A line that is not JSON is not an event (nothing else writes to stdout).
            if let Ok(value) = serde_json::from_str(&line) {
                let _ = events.send(Output::Event(value));
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            let _ = lines.send(Output::Stderr(line));
        }
    });
    let mut text = String::new();
    let mut summary = None;
    for output in from_pipes {
        match &output {
            Output::Stderr(line) => {
                text.push_str(line);
                text.push('\n');
            }
            Output::Event(event) if event["event"] == "summary" => {
                summary = Some(event["summary"].clone());
            }
            Output::Event(_) => {}
        }
        on_output(output);
    }
    let _ = out_reader.join();
    let _ = err_reader.join();
    let status = child.wait();
    Ended {
        code: status.ok().and_then(|s| s.code()),
        stderr: text,
        summary,
        stopped: running.stopped.load(Ordering::SeqCst),
    }
}

/// Stops a build and waits for it; a build that does not end within `grace` of its
/// Ctrl-C (it should: its jobs' groups are killed at once) has its group killed.
pub fn stop_and_wait(running: &Running, owner: JoinHandle<Ended>, grace: Duration) -> Ended {
    running.stop();
    let begun = Instant::now();
    while !owner.is_finished() {
        if begun.elapsed() > grace {
            // SAFETY: the group of a child we started and have not reaped (its owner
            // thread has not finished, so it is not reaped).
            unsafe {
                libc::kill(-running.pid, libc::SIGKILL);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    owner.join().unwrap_or(Ended {
        code: None,
        stderr: String::new(),
        summary: None,
        stopped: true,
    })
}

/// One line for a build that ended, like the nightly log's: `made 2, reused 5, failed 0
/// in 1.20 s`, from its summary; or why it has none.
pub fn line(ended: &Ended) -> String {
    match (&ended.summary, ended.code) {
        (Some(summary), code) => {
            let count = |name: &str| summary[name].as_u64().unwrap_or(0);
            let mut line = format!(
                "made {}, reused {}, failed {}",
                count("made"),
                count("reused"),
                count("failed")
            );
            for (name, what) in [
                ("cancelled", "cancelled"),
                ("skipped", "skipped"),
                ("not_started", "not started"),
            ] {
                if count(name) > 0 {
                    line.push_str(&format!(", {what} {}", count(name)));
                }
            }
            let seconds = summary["seconds"].as_f64().unwrap_or(0.0);
            line.push_str(&format!(" in {seconds:.2} s"));
            if ended.stopped {
                line.push_str(" (stopped)");
            } else if code != Some(0) {
                line.push_str(&format!(" (exit {})", code.unwrap_or(-1)));
            }
            line
        }
        (None, Some(crate::commands::EXIT_CONFIG)) => "configuration error (above)".into(),
        (None, _) if ended.stopped => "stopped before it began".into(),
        (None, Some(code)) => format!("ended with exit {code} before it began"),
        (None, None) => "killed before it began".into(),
    }
}
