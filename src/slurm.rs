//! The Slurm client: the four commands a farm needs, run like every external program
//! (`process::run`: no shell, own process group, a deadline), and what their answers mean.
//!
//! Built against what users of other Slurm executors complain about:
//! - **One query per polling round for the whole build**, never one per job: every job of
//!   a build carries the build's id as its Slurm job name, and [`Slurm::queue`] asks
//!   `squeue --name ID -t all` once. [`Backoff`] spaces the rounds out while nothing
//!   changes, so a long build does not hammer the controller.
//! - **Accounting is optional.** A job leaves `squeue` some time after it ends
//!   (`MinJobAge`); then only the accounting knows it. [`Slurm::completions`] asks
//!   `sacct -c` (the job completion log) and, failing that, `sacct`; when neither works it
//!   says so (None) and the caller decides from the cache alone.
//! - **Slurm's word is not the truth.** A COMPLETED job made something only if its object
//!   is in the cache and verifies (a misconfigured `proctrack/cgroup` reports COMPLETED 0:0
//!   for jobs that never ran): that judgement is the executor's, with the job's log tail
//!   from its stdout/stderr files, which are kept with the build.
//! - **Every end is named.** TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, CANCELLED and
//!   FAILED are distinct [`State`]s; a job killed for memory on a cluster without cgroups
//!   ends FAILED 0:9 with "Exceeded job memory limit" in its stderr, which
//!   [`State::with_log`] turns into OUT_OF_MEMORY. Whether a failure is the node's (worth a
//!   retry elsewhere) or the job's is [`State::is_nodes_fault`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};

/// How long one Slurm command may take (a busy controller answers slowly; a dead one not
/// at all).
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// How long one Slurm command may take after Ctrl-C: the build must end within seconds.
pub const STOPPING_DEADLINE: Duration = Duration::from_secs(4);

/// A Slurm job id, as `sbatch --parsable` prints it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub String);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Slurm job's state, as `squeue` and `sacct` name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Pending,
    Running,
    /// Ended, its processes being cleaned up.
    Completing,
    Completed,
    /// Exited non-zero or by a signal: the exit code `code:signal`.
    Failed(String),
    Timeout,
    OutOfMemory,
    NodeFail,
    Preempted,
    Cancelled,
    /// Any other (SUSPENDED, REQUEUED, BOOT_FAIL, DEADLINE, …), as Slurm wrote it.
    Other(String),
}

impl State {
    /// From Slurm's word (`CANCELLED by 0` is CANCELLED; an exit code for FAILED).
    pub fn parse(state: &str, exit_code: &str) -> State {
        let word = state.split_whitespace().next().unwrap_or_default();
        match word.trim_end_matches('+') {
            "PENDING" | "CONFIGURING" => State::Pending,
            "RUNNING" => State::Running,
            "COMPLETING" => State::Completing,
            "COMPLETED" => State::Completed,
            "FAILED" => State::Failed(exit_code.to_string()),
            "TIMEOUT" => State::Timeout,
            "OUT_OF_MEMORY" => State::OutOfMemory,
            "NODE_FAIL" => State::NodeFail,
            "PREEMPTED" => State::Preempted,
            "CANCELLED" => State::Cancelled,
            other => State::Other(other.to_string()),
        }
    }

    /// Whether the job has ended (it will not run again under this id).
    pub fn is_final(&self) -> bool {
        match self {
            State::Pending | State::Running | State::Completing => false,
            State::Other(s) => {
                ["BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"].contains(&s.as_str())
            }
            _ => true,
        }
    }

    /// A failure of the node or the cluster, not of the job: retry it, elsewhere.
    pub fn is_nodes_fault(&self) -> bool {
        matches!(self, State::NodeFail | State::Preempted)
            || matches!(self, State::Other(s) if s == "BOOT_FAIL")
    }

    /// The state, corrected by the job's stderr: without cgroups a job killed for its memory
    /// ends FAILED with signal 9, and only its stderr says why.
    pub fn with_log(self, stderr: &str) -> State {
        let oom = stderr.contains("Exceeded job memory limit")
            || stderr.contains("exceeded memory limit")
            || stderr.contains("oom-kill");
        match self {
            State::Failed(_) if oom => State::OutOfMemory,
            other => other,
        }
    }

    /// As a failure message names it.
    pub fn name(&self) -> String {
        match self {
            State::Pending => "PENDING".into(),
            State::Running => "RUNNING".into(),
            State::Completing => "COMPLETING".into(),
            State::Completed => "COMPLETED".into(),
            State::Failed(code) => format!("FAILED (exit code {code})"),
            State::Timeout => "TIMEOUT (its time limit)".into(),
            State::OutOfMemory => "OUT_OF_MEMORY".into(),
            State::NodeFail => "NODE_FAIL (its node stopped answering)".into(),
            State::Preempted => "PREEMPTED".into(),
            State::Cancelled => "CANCELLED".into(),
            State::Other(s) => s.clone(),
        }
    }
}

/// What the cluster says of one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// The node(s) it ran or runs on (empty while pending).
    pub nodes: String,
    /// Slurm's reason (why pending, or how it ended), when it gives one.
    pub reason: String,
}

/// One Slurm job to submit: a batch of render's work under the build's name.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The build's id: every job of a build has it, so one `squeue` finds them all and a
    /// later build can tell which build submitted a job left running.
    pub name: String,
    /// The command on the node (`render run-jobs SPEC…`), run without a shell's help: each
    /// word is quoted into the batch script.
    pub command: Vec<String>,
    /// From the farm file (`Farm::sbatch_options`), plus `--exclude` for a retry.
    pub options: Vec<String>,
    /// The batch script, its stdout and its stderr: kept with the build.
    pub script: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// The working folder on the node (the content folder, mounted at the same path).
    pub dir: PathBuf,
}

/// A Slurm cluster, reached through its client commands.
#[derive(Clone, Debug, Default)]
pub struct Slurm {
    /// Prefix for the client commands (a folder), or None for `PATH`.
    pub bin: Option<PathBuf>,
    /// The cluster's `slurm.conf` (`SLURM_CONF` for the commands), or None for the
    /// client's own default.
    pub conf: Option<PathBuf>,
    /// How long one command may take; None: [`COMMAND_DEADLINE`]. A question asked in
    /// passing (`gc`'s) gives up sooner than a build, which must not lose its jobs.
    pub deadline: Option<Duration>,
}

impl Slurm {
    fn command(&self, program: &str) -> Command {
        let mut command = match &self.bin {
            Some(bin) => Command::new(bin.join(program)),
            None => Command::new(program),
        };
        if let Some(conf) = &self.conf {
            command.env("SLURM_CONF", conf);
        }
        command
    }

    fn run(&self, program: &str, args: &[String], what: &str) -> Result<String> {
        let mut command = self.command(program);
        command.args(args);
        // While a build stops, its farm still cancels its jobs and sees them gone.
        let output = if crate::process::interrupted() {
            crate::process::run_while_stopping(&mut command, what, STOPPING_DEADLINE)?
        } else {
            crate::process::run(&mut command, what, self.deadline())?
        };
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Whether the Slurm client commands are here at all.
    pub fn available(&self) -> bool {
        let mut command = self.command("sbatch");
        command.arg("--version");
        crate::process::run(&mut command, "the farm", self.deadline()).is_ok()
    }

    fn deadline(&self) -> Duration {
        self.deadline.unwrap_or(COMMAND_DEADLINE)
    }

    /// Writes the batch script and submits it (`sbatch --parsable`); its id.
    pub fn submit(&self, job: &Submission) -> Result<JobId> {
        let mut script =
            String::from("#!/bin/sh\n# written by render: one batch of a build's work\nexec");
        for word in &job.command {
            script.push(' ');
            script.push_str(&quote(word));
        }
        script.push('\n');
        std::fs::write(&job.script, script)
            .map_err(|e| Error::io("cannot write", &job.script, e))?;
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={}", job.name),
            format!("--output={}", job.stdout.display()),
            format!("--error={}", job.stderr.display()),
            format!("--chdir={}", job.dir.display()),
        ];
        args.extend(job.options.iter().cloned());
        args.push(job.script.display().to_string());
        let out = self.run(
            "sbatch",
            &args,
            &format!("a Slurm job of build {}", job.name),
        )?;
        // `--parsable` prints `id` or `id;cluster`.
        let id = out.trim().split(';').next().unwrap_or_default();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return Err(Error::Other(format!(
                "sbatch answered `{}`, not a job id",
                out.trim()
            )));
        }
        Ok(JobId(id.to_string()))
    }

    /// Every job of the build named `name` that the controller still holds, ended ones
    /// included: one `squeue` for all of them.
    pub fn queue(&self, name: &str) -> Result<BTreeMap<JobId, Status>> {
        self.queue_of(&[name.to_string()])
    }

    /// [`Slurm::queue`] for the jobs of several builds (this one and those it adopted),
    /// still in one `squeue`.
    pub fn queue_of(&self, names: &[String]) -> Result<BTreeMap<JobId, Status>> {
        let args = ["--noheader", "--states=all", "--format=%i|%T|%N|%r"]
            .map(String::from)
            .into_iter()
            .chain([format!("--name={}", names.join(","))])
            .collect::<Vec<_>>();
        let what = format!("the Slurm jobs of build {}", names.join(", "));
        let out = self.run("squeue", &args, &what)?;
        let mut jobs = BTreeMap::new();
        for line in out.lines() {
            let fields: Vec<&str> = line.split('|').collect();
            if let [id, state, nodes, reason] = fields[..] {
                let status = Status {
                    state: State::parse(state, ""),
                    nodes: nodes.to_string(),
                    reason: reason.to_string(),
                };
                jobs.insert(JobId(id.trim().to_string()), status);
            }
        }
        Ok(jobs)
    }

    /// This user's jobs still queued or running whose name starts with `prefix` (other
    /// builds of the same content folder): each with its name and its batch script.
    pub fn unfinished(&self, prefix: &str) -> Result<Vec<(JobId, String, PathBuf)>> {
        let args = [
            "--noheader",
            "--me",
            "--states=PENDING,CONFIGURING,RUNNING,COMPLETING",
            "--format=%i|%j|%o",
        ]
        .map(String::from);
        let out = self.run("squeue", &args, "the farm's unfinished jobs")?;
        Ok(out
            .lines()
            .filter_map(|line| {
                let (id, rest) = line.split_once('|')?;
                let (name, script) = rest.split_once('|')?;
                name.starts_with(prefix).then(|| {
                    let id = JobId(id.trim().to_string());
                    (id, name.to_string(), PathBuf::from(script.trim()))
                })
            })
            .collect())
    }

    /// What the accounting says of `jobs` that ended (`sacct -c`, the completion log, else
    /// `sacct`); None when the cluster keeps neither (then only the cache can tell).
    pub fn completions(&self, jobs: &[JobId]) -> Option<BTreeMap<JobId, Status>> {
        if jobs.is_empty() {
            return Some(BTreeMap::new());
        }
        let ids: Vec<&str> = jobs.iter().map(|j| j.0.as_str()).collect();
        let ids = ids.join(",");
        for completion_log in [true, false] {
            let mut args: Vec<String> = Vec::new();
            if completion_log {
                args.push("--completion".into());
            }
            args.extend(
                [
                    "--noheader",
                    "--parsable2",
                    "--format=JobID,State,ExitCode,NodeList",
                ]
                .map(String::from),
            );
            args.push(format!("--jobs={ids}"));
            let Ok(out) = self.run("sacct", &args, "the Slurm accounting") else {
                continue;
            };
            let mut ended = BTreeMap::new();
            for line in out.lines() {
                let fields: Vec<&str> = line.split('|').collect();
                // Steps (`12.batch`) are the job's parts: the job's own line says it.
                if let [id, state, exit, nodes] = fields[..] {
                    if !id.contains('.') {
                        let status = Status {
                            state: State::parse(state, exit),
                            nodes: nodes.to_string(),
                            reason: String::new(),
                        };
                        ended.insert(JobId(id.to_string()), status);
                    }
                }
            }
            return Some(ended);
        }
        None
    }

    /// Cancels `jobs` (`scancel`); ones already ended are no error.
    pub fn cancel(&self, jobs: &[JobId]) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let args: Vec<String> = jobs.iter().map(|j| j.0.clone()).collect();
        self.run("scancel", &args, "the farm's jobs").map(|_| ())
    }
}

/// How long to wait before the next polling round: from `start`, doubled each round in
/// which nothing changed, up to `max`; back to `start` when something did.
#[derive(Clone, Debug)]
pub struct Backoff {
    start: Duration,
    max: Duration,
    now: Duration,
}

impl Backoff {
    pub fn new(start: Duration, max: Duration) -> Backoff {
        Backoff {
            start,
            max,
            now: start,
        }
    }

    /// The wait before the next round, given whether the last one saw a change.
    pub fn next(&mut self, changed: bool) -> Duration {
        self.now = if changed {
            self.start
        } else {
            (self.now * 2).min(self.max)
        };
        self.now
    }
}

/// The words of a batch script that [`Slurm::submit`] wrote (after its `exec`), or None.
pub fn script_words(script: &str) -> Option<Vec<String>> {
    let line = script.lines().find_map(|l| l.strip_prefix("exec "))?;
    let mut words = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let mut word = String::new();
        loop {
            let inner = rest.strip_prefix('\'')?;
            let end = inner.find('\'')?;
            word.push_str(&inner[..end]);
            rest = &inner[end + 1..];
            match rest.strip_prefix("\\'") {
                Some(after) => {
                    word.push('\'');
                    rest = after;
                }
                None => break,
            }
        }
        words.push(word);
        rest = rest.trim_start();
    }
    Some(words)
}

/// `word` as one word of a POSIX shell script (single quotes; a `'` as `'\''`).
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The last lines of a job's log file, for a failure message ("" when there is none).
pub fn log_tail(path: &Path, lines: usize) -> String {
    std::fs::read(path)
        .map(|bytes| crate::process::tail(&String::from_utf8_lossy(&bytes), lines))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_states_are_each_named_and_judged() {
        assert_eq!(State::parse("CANCELLED by 0", "0:0"), State::Cancelled);
        assert_eq!(State::parse("FAILED", "3:0"), State::Failed("3:0".into()));
        assert_eq!(
            State::parse("FAILED", "0:9").with_log(
                "slurmstepd-n2: error: StepId=10.batch exceeded memory limit (434905088 > 67108864), being killed\nerror: Exceeded job memory limit\n"
            ),
            State::OutOfMemory
        );
        assert_eq!(
            State::parse("FAILED", "0:9").with_log(""),
            State::Failed("0:9".into())
        );
        assert!(State::parse("NODE_FAIL", "0:0").is_nodes_fault());
        assert!(State::parse("PREEMPTED", "0:0").is_nodes_fault());
        assert!(!State::parse("TIMEOUT", "0:0").is_nodes_fault());
        assert!(!State::parse("OUT_OF_MEMORY", "0:125").is_nodes_fault());
        for (state, done) in [
            ("PENDING", false),
            ("RUNNING", false),
            ("COMPLETING", false),
            ("COMPLETED", true),
            ("TIMEOUT", true),
            ("BOOT_FAIL", true),
            ("SUSPENDED", false),
        ] {
            assert_eq!(State::parse(state, "").is_final(), done, "{state}");
        }
        assert_eq!(
            State::parse("TIMEOUT", "0:0").name(),
            "TIMEOUT (its time limit)"
        );
    }

    #[test]
    fn polling_backs_off_while_nothing_changes() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(2));
        let waits: Vec<u128> = [false, false, false, false, true, false]
            .map(|changed| backoff.next(changed).as_millis())
            .to_vec();
        assert_eq!(waits, [500, 1000, 2000, 2000, 250, 500]);
    }

    #[test]
    fn script_words_are_quoted_whole() {
        assert_eq!(quote("/a b/it's"), r"'/a b/it'\''s'");
        // A later build reads a batch script's words back (to adopt its jobs).
        let words = ["/usr/bin/render", "run-jobs", "/a b/it's.json", "''"];
        let script = format!(
            "#!/bin/sh\n# written by render\nexec {}\n",
            words.map(quote).join(" ")
        );
        assert_eq!(
            script_words(&script),
            Some(words.map(String::from).to_vec())
        );
        assert_eq!(script_words("#!/bin/sh\nexec 'unclosed\n"), None);
    }
}
