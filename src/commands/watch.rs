//! `render watch [DIR] [TARGET…]`: builds, then builds again on every saved change to the
//! folder's declarations and media (`studio::changes`: file notifications, debounced;
//! `cache/` and `out/` ignored), like `cargo watch` or Zola's `serve`.
//!
//! Each build is `render build` run as a child (`studio::child`: why a child and not a
//! function call is said there). An edit that lands while a build runs stops that build
//! the way Ctrl-C stops one — it launches nothing more, its running jobs are cancelled,
//! what it committed stays — and the next build starts at once with the new declarations,
//! reusing everything committed. A configuration error is printed with its diagnostic and
//! the watch waits for the next change; fixing it builds. Ctrl-C stops the running build
//! (cache consistent, `cache/tmp` empty) and exits 130.
//!
//! One line per build on standard output, like a nightly log:
//! `[06:51:02] build 3: made 2, reused 19, failed 0 in 1.84 s (projects/demo/project.toml)`;
//! failures and configuration errors are printed on stderr above their line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::commands;
use crate::studio::changes::Changes;
use crate::studio::child::{self, BuildRequest, Output};

/// How long a stopped build may take to end before its group is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

pub fn run(args: &[String]) -> i32 {
    let (dir, targets) = match commands::locate(args) {
        Ok(found) => found,
        Err(error) => return commands::exit_code(Err(error)),
    };
    let root = match commands::content_root(&dir) {
        Ok(root) => root,
        Err(error) => return commands::exit_code(Err(error)),
    };
    let mut changes = match Changes::watch(&root) {
        Ok(changes) => changes,
        Err(error) => {
            eprintln!("render: cannot watch {}: {error}", root.display());
            return commands::EXIT_FAILED;
        }
    };
    eprintln!(
        "render: watching {} for changes (Ctrl-C to stop)",
        root.display()
    );
    let request = BuildRequest {
        root: root.clone(),
        targets,
        force: false,
    };
    let mut reason = "start".to_string();
    for number in 1.. {
        let failures: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&failures);
        let started = child::start(&request, move |output| {
            if let Output::Event(event) = output {
                if let Some(error) = event["error"].as_str() {
                    seen.lock().unwrap().push(error.to_string());
                }
            }
        });
        let (running, owner) = match started {
            Ok(started) => started,
            Err(error) => {
                eprintln!("render: cannot start a build: {error}");
                return commands::EXIT_FAILED;
            }
        };
        // Until the build ends, an edit lands, or Ctrl-C.
        let mut edited = None;
        while !owner.is_finished() {
            if crate::process::interrupted() {
                let ended = child::stop_and_wait(&running, owner, STOP_GRACE);
                say(number, &child::line(&ended), &reason);
                return commands::interrupted();
            }
            if let Some(paths) = changes.wait(Duration::from_millis(50)) {
                edited = Some(paths);
                break;
            }
        }
        let ended = match edited {
            Some(_) => child::stop_and_wait(&running, owner, STOP_GRACE),
            None => owner.join().expect("the build's thread does not panic"),
        };
        if ended.summary.is_none() && !ended.stopped {
            // A configuration error (or a build that could not begin): its diagnostic.
            eprint!("{}", ended.stderr);
        }
        for failure in failures.lock().unwrap().iter() {
            eprint!("{failure}");
        }
        say(number, &child::line(&ended), &reason);
        reason = match edited {
            Some(paths) => paths.join(", "),
            None => loop {
                if crate::process::interrupted() {
                    return commands::interrupted();
                }
                if let Some(paths) = changes.wait(Duration::from_millis(100)) {
                    break paths.join(", ");
                }
            },
        };
    }
    unreachable!("the watch ends by Ctrl-C")
}

/// The build's one line, with the time (UTC) it ended and what started it.
fn say(number: usize, line: &str, reason: &str) {
    use std::io::Write;
    let now = crate::history::now() as u64;
    let (h, m, s) = (now / 3600 % 24, now / 60 % 60, now % 60);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "[{h:02}:{m:02}:{s:02}] build {number}: {line} ({reason})"
    );
    let _ = stdout.flush();
}
