//! Declared servers: a speech engine may name the server it needs
//! (`[engines.<name>.server]`), a command render starts itself on first use, so a model is
//! loaded once per build instead of once per line while every line stays its own job.
//!
//! A server starts in its own process group on a loopback port render picks (`{port}` in
//! its args and the engine's `url`), with its output in a log file, and is used once its
//! health URL answers 200; one that is not healthy by its start deadline, or exits first,
//! fails every line that needs it with the end of its log (it is not started again for
//! each line). One that dies during the build is started again once; if it dies again its
//! remaining lines fail. Every server is stopped — its whole group — when the build ends,
//! whether it succeeded, failed or was interrupted ([`Servers`], held by the build).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::manifest::openai_speech::ServerCommand;
use crate::process;

/// How often a starting server's health is asked.
const POLL: Duration = Duration::from_millis(100);

/// One engine's server, as the build last saw it.
enum State {
    Running {
        child: Child,
        url: String,
    },
    /// It never became healthy, or died again after its restart: why, for every line.
    Failed(String),
}

struct Managed {
    state: Option<State>,
    restarts: u32,
    log: PathBuf,
}

type Table = Mutex<BTreeMap<String, Arc<Mutex<Managed>>>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// The base URL of engine `engine`'s server, started (or started again once, if it died)
/// as needed. `url` is the engine's URL template (`{port}` is the server's port).
pub fn url(engine: &str, url: &str, server: &ServerCommand) -> Result<String> {
    let managed = {
        let mut table = table().lock().unwrap_or_else(|e| e.into_inner());
        let log = std::env::temp_dir().join(format!(
            "render-{}-server-{}.log",
            std::process::id(),
            engine.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ));
        table
            .entry(engine.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Managed {
                    state: None,
                    restarts: 0,
                    log,
                }))
            })
            .clone()
    };
    let mut managed = managed.lock().unwrap_or_else(|e| e.into_inner());
    match &mut managed.state {
        Some(State::Failed(why)) => return Err(Error::Other(why.clone())),
        Some(State::Running { child, url }) => match child.try_wait() {
            Ok(None) => return Ok(url.clone()),
            _ if managed.restarts >= 1 => {
                let why = format!(
                    "engine `{engine}`: its server exited again after its restart; {}",
                    log_tail(&managed.log)
                );
                stop_child(managed.state.take());
                managed.state = Some(State::Failed(why.clone()));
                return Err(Error::Other(why));
            }
            _ => {
                stop_child(managed.state.take());
                managed.restarts += 1;
            }
        },
        None => {}
    }
    match start(engine, url, server, &managed.log) {
        Ok((child, url)) => {
            managed.state = Some(State::Running {
                child,
                url: url.clone(),
            });
            Ok(url)
        }
        Err(Error::Interrupted) => Err(Error::Interrupted),
        Err(e) => {
            let why = e.to_string();
            managed.state = Some(State::Failed(why.clone()));
            Err(Error::Other(why))
        }
    }
}

/// Starts the server and waits for its health URL to answer 200.
fn start(
    engine: &str,
    url: &str,
    server: &ServerCommand,
    log: &PathBuf,
) -> Result<(Child, String)> {
    let port = free_port()?;
    let fill = |s: &str| s.replace("{port}", &port.to_string());
    let base = fill(url);
    let out = std::fs::File::create(log).map_err(|e| Error::io("cannot create", log, e))?;
    let err = out
        .try_clone()
        .map_err(|e| Error::io("cannot create", log, e))?;
    let mut command = Command::new(&server.program);
    command
        .args(server.args.iter().map(|a| fill(a)))
        .env_clear()
        .envs(
            ["PATH", "HOME", "LANG"]
                .into_iter()
                .filter_map(|name| std::env::var_os(name).map(|value| (name, value))),
        )
        .envs(&server.env)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    process::check_interrupted()?;
    // Dies with render even when render is killed (SIGKILL leaves no server behind).
    let mut child = process::spawn_for_the_build(command).map_err(|e| {
        Error::Other(format!(
            "engine `{engine}`: its server `{}` cannot start: {e}",
            server.program.display()
        ))
    })?;
    let health = format!("{}{}", base.trim_end_matches('/'), server.health);
    let deadline = Instant::now() + Duration::from_secs(server.start_timeout);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    loop {
        if process::interrupted() {
            stop_child(Some(State::Running { child, url: base }));
            return Err(Error::Interrupted);
        }
        if let Ok(Some(status)) = child.try_wait() {
            kill_group(&child);
            return Err(Error::Other(format!(
                "engine `{engine}`: its server exited ({status}) before it was healthy; {}",
                log_tail(log)
            )));
        }
        if agent
            .get(&health)
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
        {
            return Ok((child, base));
        }
        if Instant::now() >= deadline {
            stop_child(Some(State::Running { child, url: base }));
            return Err(Error::Other(format!(
                "engine `{engine}`: its server was not healthy ({health}) within its start deadline of {} s; {}",
                server.start_timeout,
                log_tail(log)
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// A loopback port free now (the kernel's pick; the server binds it right after).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Error::Other(format!("cannot find a free port for a server: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Other(format!("cannot find a free port for a server: {e}")))
}

fn log_tail(log: &PathBuf) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let tail = process::tail(&String::from_utf8_lossy(&text), 10);
    if tail.is_empty() {
        "its log is empty".to_string()
    } else {
        format!("the end of its log:\n{tail}")
    }
}

fn kill_group(child: &Child) {
    // SAFETY: the child leads its own process group (`process_group(0)`); it is not yet
    // reaped, so the group id is still its.
    unsafe {
        libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
    }
}

fn stop_child(state: Option<State>) {
    if let Some(State::Running { mut child, .. }) = state {
        // SAFETY: as in `kill_group`: asked politely first, then the whole group killed.
        unsafe {
            libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(&child);
        let _ = child.wait();
    }
}

/// Stops every server this build started. Held by the build; dropped at its end, however
/// it ends.
pub struct Servers;

impl Drop for Servers {
    fn drop(&mut self) {
        let all: Vec<_> = {
            let mut table = table().lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *table).into_values().collect()
        };
        for managed in all {
            let mut managed = managed.lock().unwrap_or_else(|e| e.into_inner());
            stop_child(managed.state.take());
            let _ = std::fs::remove_file(&managed.log);
        }
    }
}
