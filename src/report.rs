//! What a build tells its user: a progress bar on a terminal, one plain line per artifact
//! otherwise (logs of nightly runs stay readable), a line for a job that seems stuck, a
//! summary line, and `--json`. What Ctrl-C stopped is "cancelled", never "failed": the
//! user stopped it, nothing is wrong with it.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::error::Result;
use crate::files::write_atomically;
use crate::scheduler::Outcome;

pub enum Progress {
    Bar(ProgressBar),
    Lines,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        if std::io::stderr().is_terminal() && total > 0 {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
                )
                .expect("template parses"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Progress::Bar(bar)
        } else {
            Progress::Lines
        }
    }

    pub fn started(&self, name: &str) {
        if let Progress::Bar(bar) = self {
            bar.set_message(name.to_string());
        }
    }

    pub fn finished(&self, name: &str, outcome: &Outcome) {
        let line = match outcome {
            Outcome::Made { seconds } => format!("made {name} ({seconds:.2} s)"),
            Outcome::Failed(_) => format!("FAILED {name}"),
            Outcome::Cancelled => format!("cancelled {name}"),
            Outcome::Skipped => format!("skipped {name} (an input failed)"),
            Outcome::NotStarted => return,
        };
        match self {
            Progress::Bar(bar) => {
                bar.inc(1);
                if !matches!(outcome, Outcome::Made { .. }) {
                    bar.println(line);
                }
            }
            Progress::Lines => eprintln!("{line}"),
        }
    }

    /// A job still at work after `running` without progress, e.g.
    /// `render: still running after 30 s: speech demo/intro:2`.
    pub fn stalled(&self, name: &str, running: Duration) {
        let seconds = running.as_secs_f64();
        let seconds = if seconds.fract() == 0.0 {
            format!("{seconds}")
        } else {
            format!("{seconds:.1}")
        };
        self.println(&format!(
            "render: still running after {seconds} s: {name}\n"
        ));
    }

    /// Prints above the bar, or plainly.
    pub fn println(&self, text: &str) {
        match self {
            Progress::Bar(bar) => bar.suspend(|| eprint!("{text}")),
            Progress::Lines => eprint!("{text}"),
        }
    }

    pub fn done(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ArtifactReport {
    pub name: String,
    pub kind: String,
    pub key: String,
    /// made | reused | failed | cancelled | skipped | not-started
    pub status: &'static str,
    /// When it started, seconds from the build's start (absent: it did not start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    pub seconds: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub made: usize,
    pub reused: usize,
    pub failed: usize,
    /// Stopped by Ctrl-C while they ran.
    pub cancelled: usize,
    /// Skipped because an input failed.
    pub skipped: usize,
    /// Not started because the build stopped (Ctrl-C, or a failure without --keep-going).
    pub not_started: usize,
    pub published: usize,
    pub seconds: f64,
    pub artifacts: Vec<ArtifactReport>,
    /// The GPU lane's own record: every model load and unload, every job's start and end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gpu_lane: Vec<crate::gpu_lane::LaneEvent>,
}

impl Summary {
    pub fn add(&mut self, report: ArtifactReport) {
        match report.status {
            "made" => self.made += 1,
            "reused" => self.reused += 1,
            "failed" => self.failed += 1,
            "cancelled" => self.cancelled += 1,
            "not-started" => self.not_started += 1,
            _ => self.skipped += 1,
        }
        self.artifacts.push(report);
    }

    pub fn line(&self) -> String {
        let mut line = format!(
            "render: made {}, reused {}, failed {}",
            self.made, self.reused, self.failed
        );
        for (count, what) in [
            (self.cancelled, "cancelled"),
            (self.skipped, "skipped"),
            (self.not_started, "not started"),
        ] {
            if count > 0 {
                line.push_str(&format!(", {what} {count}"));
            }
        }
        line.push_str(&format!(" in {:.2} s", self.seconds));
        line
    }

    /// Writes the summary as JSON to `path`, or to standard output when it is `-`.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).expect("summary serialises");
        if path == Path::new("-") {
            use std::io::Write;
            json.push(b'\n');
            let mut stdout = std::io::stdout().lock();
            return stdout
                .write_all(&json)
                .and_then(|()| stdout.flush())
                .map_err(|e| crate::error::Error::io("cannot write", "standard output", e));
        }
        write_atomically(path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(status: &'static str) -> ArtifactReport {
        ArtifactReport {
            name: String::new(),
            kind: String::new(),
            key: String::new(),
            status,
            start: None,
            seconds: 0.0,
        }
    }

    #[test]
    fn what_ctrl_c_stopped_is_counted_apart_from_failures() {
        let mut summary = Summary::default();
        for status in ["made", "cancelled", "cancelled", "not-started", "reused"] {
            summary.add(artifact(status));
        }
        assert_eq!(
            summary.line(),
            "render: made 1, reused 1, failed 0, cancelled 2, not started 1 in 0.00 s"
        );
        summary.add(artifact("skipped"));
        assert!(summary
            .line()
            .contains(", cancelled 2, skipped 1, not started 1 "));
    }
}
