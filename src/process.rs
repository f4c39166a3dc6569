//! External programs (espeak-ng, ffmpeg, ffprobe, model runners): run without a shell, from
//! an argv, with their output captured. Every child is registered so that Ctrl-C can end
//! them all, and each dies with render (PR_SET_PDEATHSIG) so a killed build leaves no
//! orphan writing into the cache.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Installs the Ctrl-C / SIGTERM handler: stop launching, end the children.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        for pid in CHILDREN.lock().unwrap().iter() {
            // SAFETY: sending a signal to a child we started and have not reaped.
            unsafe {
                libc::kill(*pid as libc::pid_t, libc::SIGTERM);
            }
        }
    });
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// Makes a child die with us and registers it for Ctrl-C.
pub fn prepare(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Keeps a child's pid in the set that Ctrl-C ends, until dropped.
pub struct Registration(u32);

impl Registration {
    pub fn new(pid: u32) -> Registration {
        CHILDREN.lock().unwrap().insert(pid);
        if interrupted() {
            // SAFETY: signalling a child we started.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        Registration(pid)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        CHILDREN.lock().unwrap().remove(&self.0);
    }
}

/// A running child that is unregistered (and killed if still running) when dropped.
pub struct Tracked {
    pub child: Child,
    _registration: Registration,
}

impl Tracked {
    pub fn new(child: Child) -> Tracked {
        let registration = Registration::new(child.id());
        Tracked {
            child,
            _registration: registration,
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        // Never leave a child running behind an error path.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn spawn(command: &mut Command) -> Result<Tracked> {
    check_interrupted()?;
    prepare(command);
    let program = command.get_program().to_string_lossy().to_string();
    let child = command.spawn().map_err(|e| missing_or_io(&program, e))?;
    Ok(Tracked::new(child))
}

/// Runs a program to completion with stdout and stderr captured.
pub fn run(command: &mut Command, artifact: &str) -> Result<Output> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = command.get_program().to_string_lossy().to_string();
    let mut tracked = spawn(command)?;
    let stdout = read_in_background(tracked.child.stdout.take());
    let stderr = read_in_background(tracked.child.stderr.take());
    let status = tracked
        .child
        .wait()
        .map_err(|e| Error::Other(format!("{program}: {e}")))?;
    drop(tracked);
    let output = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    check_interrupted()?;
    if !output.status.success() {
        return Err(Error::ToolFailed {
            program,
            artifact: artifact.to_string(),
            status: output.status.to_string(),
            log: tail(&String::from_utf8_lossy(&output.stderr), 20),
        });
    }
    Ok(output)
}

/// One run of an external program for a job (a model program, say): its argv, what it
/// adds to a minimal environment, its working folder and the file its output goes to.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ProgramRun {
    /// What messages call it, e.g. "engine `xtts` (/opt/xtts/bin/tts)".
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Added to a minimal environment (PATH, HOME, LANG; TMPDIR = `dir`).
    pub env: BTreeMap<String, String>,
    /// The working folder (fresh per run).
    pub dir: PathBuf,
    /// stdout and stderr, interleaved as written.
    pub log: PathBuf,
}

/// Runs a program without a shell, stdin closed, in its own process group, killing the
/// whole group if it outlives `deadline` or when the build is interrupted. Its output goes
/// straight to `run.log` (no pipes: a child it leaves behind cannot keep render waiting
/// on them), and whatever is left of its group is killed once it exits. On failure the
/// error shows the end of the log.
pub fn run_program(run: &ProgramRun, artifact: &str, deadline: Duration) -> Result<()> {
    let program = run.name.clone();
    let log =
        std::fs::File::create(&run.log).map_err(|e| Error::io("cannot create", &run.log, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("cannot create", &run.log, e))?;
    let mut command = Command::new(&run.program);
    command
        .args(&run.args)
        .current_dir(&run.dir)
        .env_clear()
        .envs(
            ["PATH", "HOME", "LANG"]
                .into_iter()
                .filter_map(|name| std::env::var_os(name).map(|value| (name, value))),
        )
        .env("TMPDIR", &run.dir)
        .envs(&run.env)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    let mut tracked = spawn(&mut command)?;
    let pid = tracked.child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: signalling the process group of a child we started and have not reaped
        // (waitid below leaves it a zombie), so the group id cannot have been reused.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    };
    let start = Instant::now();
    let mut timed_out = false;
    loop {
        match exited_unreaped(pid) {
            Ok(true) => break,
            Ok(false) if interrupted() || start.elapsed() >= deadline => {
                timed_out = !interrupted();
                break;
            }
            Ok(false) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(Error::Other(format!("{program}: {e}"))),
        }
    }
    // The leader has exited (or is being stopped): nothing of its group may outlive it.
    kill_group();
    let status = tracked
        .child
        .wait()
        .map_err(|e| Error::Other(format!("{program}: {e}")))?;
    drop(tracked);
    let failed = |status: String| {
        let log = std::fs::read(&run.log).unwrap_or_default();
        Err(Error::ToolFailed {
            program: program.clone(),
            artifact: artifact.to_string(),
            status,
            log: tail(&String::from_utf8_lossy(&log), 20),
        })
    };
    if interrupted() {
        Err(Error::Interrupted)
    } else if timed_out {
        failed(format!(
            "stopped after {} s, its deadline",
            deadline.as_secs()
        ))
    } else if !status.success() {
        failed(status.to_string())
    } else {
        Ok(())
    }
}

/// Whether child `pid` has exited, leaving it unreaped (a zombie) so its pid and process
/// group id stay ours until `wait`.
fn exited_unreaped(pid: libc::pid_t) -> std::io::Result<bool> {
    // SAFETY: waitid writes only into `info`, which outlives the call.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: si_pid is valid for a WEXITED result; 0 when the child has not exited.
    Ok(unsafe { info.si_pid() } != 0)
}

/// Drains a pipe on its own thread so a chatty child never blocks on a full pipe.
pub fn read_in_background(
    pipe: Option<impl std::io::Read + Send + 'static>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

pub fn missing_or_io(program: &str, error: std::io::Error) -> Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        let package = match program {
            "ffprobe" => "ffmpeg",
            other => other,
        };
        Error::ToolMissing {
            program: program.to_string(),
            hint: format!("install it with `sudo apt install {package}`, or run tools/setup"),
        }
    } else {
        Error::Other(format!("cannot start {program}: {error}"))
    }
}

/// The last `lines` lines of a program's log.
pub fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a job, turning a panic into an error: a job that never reports back would leave
/// the build waiting forever.
pub fn contained<T>(job: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::Other(format!(
            "internal error (a bug in render): {message}"
        )))
    })
}
