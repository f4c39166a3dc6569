//! External programs (espeak-ng, ffmpeg, ffprobe, model runners): run without a shell, from
//! an argv, with their output captured. Each runs in its own process group under a
//! watchdog, so a program that hangs, or leaves a hanging child holding render's pipes,
//! costs its deadline and no more: the whole group is killed at the deadline, on Ctrl-C,
//! and when the program exits. Every child is registered so that Ctrl-C can end them all,
//! and each dies with render (PR_SET_PDEATHSIG) so a killed build leaves no orphan
//! writing into the cache.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
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

/// Starts `command` (made to die with render, as [`prepare`] does) from a thread that lives
/// as long as render. `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends,
/// not the process, so a child that outlives the job which started it — a declared server,
/// used by many lines' jobs — is forked here: it dies with render, SIGKILL included, and
/// not with the job's thread.
pub fn spawn_for_the_build(mut command: Command) -> std::io::Result<Child> {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, received) = mpsc::channel::<Request>();
        let _ = std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                for (mut command, reply) in received {
                    let _ = reply.send(command.spawn());
                }
            });
        Mutex::new(requests)
    });
    prepare(&mut command);
    let gone = || std::io::Error::other("render's spawner thread is gone");
    let (reply, answer) = mpsc::channel();
    spawner
        .lock()
        .unwrap()
        .send((command, reply))
        .map_err(|_| gone())?;
    answer.recv().map_err(|_| gone())?
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

/// How long a program may run: `seconds` for the work at hand, times this machine's
/// `RENDER_TIMEOUT_SCALE` (default 1; a slow machine raises it, a test lowers it). A
/// deadline belongs to the machine, like where programs live, not to the content folder.
pub fn deadline(seconds: f64) -> Duration {
    let scale = std::env::var("RENDER_TIMEOUT_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0);
    Duration::from_secs_f64((seconds * scale).max(0.05))
}

/// Runs a program to completion with stdout and stderr captured, without a shell, stdin
/// closed, in its own process group: the whole group is killed when it outlives
/// `deadline`, when the build is interrupted, and once the program exits (a child it left
/// behind must not keep render waiting on the pipes).
pub fn run(command: &mut Command, artifact: &str, deadline: Duration) -> Result<Output> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let program = command.get_program().to_string_lossy().to_string();
    let mut tracked = spawn(command)?;
    let stdout = read_in_background(tracked.child.stdout.take());
    let stderr = read_in_background(tracked.child.stderr.take());
    let ended = supervise(&mut tracked, deadline, &program)?;
    // Whatever escaped the group may still hold a pipe: its output is not worth a hang.
    let stdout = stdout.recv_timeout(PIPE_GRACE).unwrap_or_default();
    let stderr = stderr.recv_timeout(PIPE_GRACE).unwrap_or_default();
    let failed = |status: String| Error::ToolFailed {
        program: program.clone(),
        artifact: artifact.to_string(),
        status,
        log: tail(&String::from_utf8_lossy(&stderr), 20),
    };
    match ended {
        Ended::Interrupted => Err(Error::Interrupted),
        Ended::TimedOut => Err(failed(stopped_at(deadline))),
        Ended::Exited(status) if !status.success() => Err(failed(status.to_string())),
        Ended::Exited(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
    }
}

/// Runs a short command to completion even after Ctrl-C, under `deadline`: what a farm
/// needs while the build stops (`scancel` for the jobs it submitted, a last `squeue` to see
/// them gone). [`run`] refuses to start anything once interrupted and kills what runs, so
/// this is its one exception, kept to commands that end work rather than start it. No
/// shell, stdin closed, its own process group (killed at the deadline).
pub fn run_while_stopping(command: &mut Command, what: &str, deadline: Duration) -> Result<Output> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    prepare(command);
    let program = command.get_program().to_string_lossy().to_string();
    let mut child = command.spawn().map_err(|e| missing_or_io(&program, e))?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                // SAFETY: not reaped yet (try_wait said it runs): its group id is ours.
                unsafe {
                    libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
                }
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = stdout.recv_timeout(PIPE_GRACE).unwrap_or_default();
    let stderr = stderr.recv_timeout(PIPE_GRACE).unwrap_or_default();
    let failed = |status: String| Error::ToolFailed {
        program: program.clone(),
        artifact: what.to_string(),
        status,
        log: tail(&String::from_utf8_lossy(&stderr), 20),
    };
    match status {
        None => Err(failed(stopped_at(deadline))),
        Some(status) if !status.success() => Err(failed(status.to_string())),
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
    }
}

/// How long the pipes of a finished program are read before render gives up on them.
pub const PIPE_GRACE: Duration = Duration::from_secs(1);

fn stopped_at(deadline: Duration) -> String {
    let s = deadline.as_secs_f64();
    let s = if s >= 10.0 || s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    };
    format!("stopped after {s} s, its deadline")
}

/// How a supervised program ended.
#[derive(Debug)]
pub enum Ended {
    Exited(std::process::ExitStatus),
    TimedOut,
    Interrupted,
}

/// Waits for a child started in its own process group (`process_group(0)`) without
/// reaping it until its whole group is dead: a watchdog kills the group at the deadline or
/// on Ctrl-C, and whatever is left of the group is killed once the leader exits.
pub fn supervise(tracked: &mut Tracked, deadline: Duration, program: &str) -> Result<Ended> {
    let pid = tracked.child.id() as libc::pid_t;
    let watchdog = Watchdog::arm(pid, deadline);
    let waited = wait_unreaped(pid);
    let watch = watchdog.disarm();
    // SAFETY: the leader is a zombie (not reaped), so its process group id is still ours.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let status = tracked
        .child
        .wait()
        .map_err(|e| Error::Other(format!("{program}: {e}")))?;
    waited.map_err(|e| Error::Other(format!("{program}: {e}")))?;
    Ok(match watch {
        Watch::Interrupted => Ended::Interrupted,
        Watch::TimedOut => Ended::TimedOut,
        _ if interrupted() => Ended::Interrupted,
        _ => Ended::Exited(status),
    })
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
    let ended = supervise(&mut tracked, deadline, &program)?;
    let failed = |status: String| {
        let log = std::fs::read(&run.log).unwrap_or_default();
        Err(Error::ToolFailed {
            program: program.clone(),
            artifact: artifact.to_string(),
            status,
            log: tail(&String::from_utf8_lossy(&log), 20),
        })
    };
    match ended {
        Ended::Interrupted => Err(Error::Interrupted),
        Ended::TimedOut => failed(stopped_at(deadline)),
        Ended::Exited(status) if !status.success() => failed(status.to_string()),
        Ended::Exited(_) => Ok(()),
    }
}

/// Blocks until child `pid` has exited, leaving it unreaped (a zombie) so its pid and
/// process group id stay ours until `wait`.
pub fn wait_unreaped(pid: libc::pid_t) -> std::io::Result<()> {
    loop {
        // SAFETY: waitid writes only into `info`, which outlives the call.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOWAIT;
        if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// What a watchdog saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    Armed,
    Disarmed,
    TimedOut,
    Interrupted,
}

struct WatchState {
    watch: Watch,
    /// The deadline counts from here; `touch` moves it (progress made).
    since: Instant,
}

/// Kills a child's process group when it outlives its deadline or the build is
/// interrupted. It must be disarmed before the child is reaped: it signals only while
/// armed, under the same lock, so it can never hit a reused pid.
pub struct Watchdog {
    shared: std::sync::Arc<(Mutex<WatchState>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Watches process group `pid` (its leader's pid).
    pub fn arm(pid: libc::pid_t, deadline: Duration) -> Watchdog {
        let shared = std::sync::Arc::new((
            Mutex::new(WatchState {
                watch: Watch::Armed,
                since: Instant::now(),
            }),
            std::sync::Condvar::new(),
        ));
        let watched = shared.clone();
        let thread = std::thread::spawn(move || {
            let (state, wake) = &*watched;
            let mut state = state.lock().unwrap();
            while state.watch == Watch::Armed {
                let fire = if interrupted() {
                    Watch::Interrupted
                } else if state.since.elapsed() >= deadline {
                    Watch::TimedOut
                } else {
                    // Wakes for Ctrl-C too: the handler cannot reach this condvar.
                    let left = deadline.saturating_sub(state.since.elapsed());
                    state = wake
                        .wait_timeout(state, left.min(INTERRUPT_POLL))
                        .unwrap()
                        .0;
                    continue;
                };
                // SAFETY: armed means the leader is not reaped: the group id is ours.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
                state.watch = fire;
            }
        });
        Watchdog {
            shared,
            thread: Some(thread),
        }
    }

    /// Progress was made: the deadline counts again from now (for streams).
    pub fn touch(&self) {
        self.shared.0.lock().unwrap().since = Instant::now();
    }

    /// Stops watching and says whether it fired.
    pub fn disarm(mut self) -> Watch {
        self.stop()
    }

    fn stop(&mut self) -> Watch {
        let watch = {
            let mut state = self.shared.0.lock().unwrap();
            if state.watch == Watch::Armed {
                state.watch = Watch::Disarmed;
            }
            state.watch
        };
        self.shared.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        watch
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How often a watchdog looks for Ctrl-C.
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

/// A pipe being drained on its own thread; `recv_timeout` gives what it read.
pub type Pipe = std::sync::mpsc::Receiver<Vec<u8>>;

/// Drains a pipe on its own thread so a chatty child never blocks on a full pipe.
pub fn read_in_background(pipe: Option<impl std::io::Read + Send + 'static>) -> Pipe {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = send.send(bytes);
    });
    receive
}

/// The package to install for a program render knows, on Debian and Ubuntu (for any
/// other, a guessed package name would mislead).
pub fn package_of(program: &str) -> Option<&'static str> {
    match program {
        "ffmpeg" | "ffprobe" => Some("ffmpeg"),
        "espeak-ng" | "espeak" => Some("espeak-ng"),
        _ => None,
    }
}

pub fn missing_or_io(program: &str, error: std::io::Error) -> Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        // Only a program render knows has a package to name: a guess would mislead.
        let hint = match package_of(program) {
            Some(package) => {
                format!("install it with `sudo apt install {package}`, or run tools/setup")
            }
            None => format!("install `{program}`, or put the folder that holds it on PATH"),
        };
        Error::ToolMissing {
            program: program.to_string(),
            hint,
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
