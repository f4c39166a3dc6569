//! External programs (espeak-ng, ffmpeg, ffprobe, model runners): run without a shell, from
//! an argv, with their output captured. Every child is registered so that Ctrl-C can end
//! them all, and each dies with render (PR_SET_PDEATHSIG) so a killed build leaves no
//! orphan writing into the cache.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

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

/// Runs a program in its own process group with stdout and stderr captured, killing the
/// whole group if it outlives `deadline` (a wrapper's children included). Whatever output
/// there was comes back with the result, failed or not.
pub fn run_with_deadline(
    command: &mut Command,
    artifact: &str,
    deadline: std::time::Duration,
) -> (Result<()>, Option<Output>) {
    use std::os::unix::process::CommandExt as _;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let program = command.get_program().to_string_lossy().to_string();
    let mut tracked = match spawn(command) {
        Ok(tracked) => tracked,
        Err(error) => return (Err(error), None),
    };
    let pid = tracked.child.id() as libc::pid_t;
    let stdout = read_in_background(tracked.child.stdout.take());
    let stderr = read_in_background(tracked.child.stderr.take());
    let start = std::time::Instant::now();
    let mut timed_out = false;
    let status = loop {
        match tracked.child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if start.elapsed() >= deadline || interrupted() => {
                timed_out = !interrupted();
                // SAFETY: signalling the process group of a child we started.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
                break tracked.child.wait();
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => break Err(e),
        }
    };
    drop(tracked);
    let status = match status {
        Ok(status) => status,
        Err(e) => return (Err(Error::Other(format!("{program}: {e}"))), None),
    };
    let output = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    let failed = |status: String| {
        Err(Error::ToolFailed {
            program: program.clone(),
            artifact: artifact.to_string(),
            status,
            log: tail(&String::from_utf8_lossy(&output.stderr), 20),
        })
    };
    let result = if interrupted() {
        Err(Error::Interrupted)
    } else if timed_out {
        failed(format!(
            "stopped after {} s, its deadline",
            deadline.as_secs()
        ))
    } else if !output.status.success() {
        failed(output.status.to_string())
    } else {
        Ok(())
    };
    (result, Some(output))
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
