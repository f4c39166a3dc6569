//! The model worker, as the coordinator sees it. libtorch costs every process that links
//! it about 0.4 s of start-up and 460 MB, and a model's GPU memory is only truly released
//! when its process ends; so `render` does not link it. Model calls run in
//! `render-worker`, built from this package (`src/bin/render-worker/`), one process per model
//! group: the GPU lane starts one when a group begins and closes it when the group is done,
//! so the card is empty before the next model or an external GPU program runs.
//!
//! # Protocol
//!
//! `render-worker serve --model NAME --file MODEL.pt --device cpu|cuda:N`; one JSON object
//! per line on its stdin and stdout; its stderr is its log (the last lines are shown when
//! it fails).
//!
//! ```text
//! worker → render, once:  {"ready":{"device":"cuda:0","precision":"fp16","seconds":1.9}}
//!                     or  {"failed":{"id":null,"message":"cannot load …"}} and exit 1
//! render → worker:        {"id":7,"call":{ModelCall}}          (tensors are files)
//! worker → render:        {"done":{"id":7,"result":{LaneDone}}}
//!                     or  {"failed":{"id":7,"message":"…","out_of_memory":false}}
//! render closes stdin:    the worker drops the model, empties the CUDA cache, exits 0.
//! ```
//!
//! A worker that crashes, panics or is killed closes its stdout; every call in flight then
//! fails at once with the model's name, its exit status and the tail of its log.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::device::Device;
use crate::engine::{LaneDone, ModelCall};
use crate::error::{Error, Result};
use crate::process;

/// How long a model may take to load before its worker is given up on.
const LOAD_DEADLINE: Duration = Duration::from_secs(600);
/// How long one call may take (a long clip on a slow CPU is minutes, not hours).
const CALL_DEADLINE: Duration = Duration::from_secs(3600);

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Request {
    pub id: u64,
    pub call: ModelCall,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ready {
        device: String,
        precision: String,
        seconds: f64,
    },
    Done {
        id: u64,
        result: LaneDone,
    },
    Failed {
        id: Option<u64>,
        message: String,
        #[serde(default)]
        out_of_memory: bool,
    },
}

/// The worker program: `RENDER_WORKER`, else `render-worker` next to this executable.
pub fn program() -> PathBuf {
    if let Some(path) = std::env::var_os("RENDER_WORKER") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("render-worker")))
        .unwrap_or_else(|| PathBuf::from("render-worker"))
}

/// How many CUDA devices libtorch sees. Asked of a worker only where an NVIDIA driver is
/// loaded; 0 when the worker cannot say (the `device` setting then explains).
///
/// Starting a worker costs a second or more (libtorch, CUDA's initialisation), and every
/// build whose lines show a face asks (face tracks run the landmark model), so the answer
/// is remembered until the machine boots again, the driver or the worker changes, or
/// `CUDA_VISIBLE_DEVICES` does: a no-op build on a GPU machine stays a no-op.
pub fn cuda_devices() -> usize {
    // A probe's answer is not a file's stat: a build that asks writes no no-op stamp.
    crate::noop_stamp::consulted(Path::new("/proc/driver/nvidia/version"));
    crate::noop_stamp::consulted(Path::new("/dev/nvidiactl"));
    if std::env::var_os("RENDER_NVIDIA_SMI").is_some() || crate::device::nvidia_driver_present() {
        crate::noop_stamp::unstampable();
    }
    // A stand-in for nvidia-smi (tests) says how many cards there are.
    if std::env::var_os("RENDER_NVIDIA_SMI").is_some() {
        return crate::device::cards().len();
    }
    if !crate::device::nvidia_driver_present() {
        return 0;
    }
    let remembered = probe_memo();
    if let Some(count) = remembered
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
    {
        if let Ok(count) = count.trim().parse() {
            return count;
        }
    }
    let mut command = Command::new(program());
    command.arg("probe");
    let count = process::run(&mut command, "a CUDA probe", process::deadline(120.0))
        .ok()
        .and_then(|output| {
            let value: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
            value["cuda_devices"].as_u64()
        });
    // Only an answer is remembered; a worker that could not say is asked again next time.
    if let (Some(count), Some(path)) = (count, remembered) {
        let _ = crate::files::write_atomically(&path, format!("{count}\n").as_bytes());
    }
    count.unwrap_or(0) as usize
}

/// Where this machine's probe answer is kept: a file in the user's runtime folder (else the
/// temporary folder) named by what the answer depends on.
fn probe_memo() -> Option<PathBuf> {
    let worker = program();
    let meta = std::fs::metadata(&worker).ok()?;
    let mut hasher = blake3::Hasher::new();
    for part in [
        std::fs::read("/proc/sys/kernel/random/boot_id").unwrap_or_default(),
        std::fs::read("/proc/driver/nvidia/version").unwrap_or_default(),
        worker.as_os_str().as_encoded_bytes().to_vec(),
        format!("{:?} {}", meta.modified().ok(), meta.len()).into_bytes(),
        std::env::var_os("CUDA_VISIBLE_DEVICES")
            .map(|v| v.as_encoded_bytes().to_vec())
            .unwrap_or_default(),
    ] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(&part);
    }
    let user = std::env::var("USER").unwrap_or_default();
    let base = std::env::var_os("XDG_RUNTIME_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = base.join(format!("render-cuda-probe-{user}"));
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join(&hasher.finalize().to_hex()[..32]))
}

/// A running worker with one model loaded.
pub struct Worker {
    model: String,
    stdin: Option<ChildStdin>,
    replies: Receiver<Reply>,
    log: Arc<Mutex<Vec<u8>>>,
    child: process::Tracked,
    next_id: u64,
    pub device: String,
    pub precision: String,
}

impl Worker {
    /// Starts a worker and waits until `model` is loaded from `file` on `device`.
    pub fn start(model: &str, file: &Path, device: Device) -> Result<Worker> {
        Worker::spawn(model, file, device)?.ready()
    }

    /// Starts a worker that loads `model` from `file` on `device`; [`Worker::ready`] waits
    /// for the load. The worker dies with the thread that spawns it (`process::spawn`), so
    /// a lane spawns its workers on its own thread and may wait for the load on another.
    pub fn spawn(model: &str, file: &Path, device: Device) -> Result<Worker> {
        let program = program();
        let mut command = Command::new(&program);
        command
            .arg("serve")
            .args(["--model", model])
            .arg("--file")
            .arg(file)
            .args(["--device", &device.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = process::spawn(&mut command).map_err(|error| match error {
            Error::ToolMissing { .. } => Error::Other(format!(
                "model `{model}`: cannot start its worker `{}`: it is missing (build it with `cargo build --release`, which makes render-worker next to render)",
                program.display()
            )),
            other => other,
        })?;
        let stdin = child.child.stdin.take();
        let stdout = child.child.stdout.take().expect("stdout is piped");
        let stderr = child.child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let log_writer = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                log_writer.lock().unwrap().extend_from_slice(&line);
                line.clear();
            }
        });
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Reply>(&line) {
                    Ok(reply) => {
                        if tx.send(reply).is_err() {
                            break;
                        }
                    }
                    // Stray output (a library printing to stdout) is not a reply.
                    Err(_) => continue,
                }
            }
        });
        Ok(Worker {
            model: model.to_string(),
            stdin,
            replies,
            log,
            child,
            next_id: 0,
            device: device.to_string(),
            precision: device.precision().to_string(),
        })
    }

    /// Waits until the spawned worker has loaded its model.
    pub fn ready(self) -> Result<Worker> {
        let mut worker = self;
        match worker.reply(LOAD_DEADLINE, "loading")? {
            Reply::Ready {
                device, precision, ..
            } => {
                worker.device = device;
                worker.precision = precision;
                Ok(worker)
            }
            // The worker's messages name the model already.
            Reply::Failed { message, .. } => Err(Error::Other(message)),
            Reply::Done { .. } => Err(worker.protocol_error("a result before it was ready")),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Runs one call and waits for its result.
    pub fn run(&mut self, call: &ModelCall) -> Result<LaneDone> {
        self.next_id += 1;
        let id = self.next_id;
        let request = Request {
            id,
            call: call.clone(),
        };
        let mut line = serde_json::to_vec(&request).expect("requests serialise");
        line.push(b'\n');
        let sent = self
            .stdin
            .as_mut()
            .map(|stdin| stdin.write_all(&line).and_then(|()| stdin.flush()));
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.crashed("running"));
        }
        match self.reply(CALL_DEADLINE, "running")? {
            Reply::Done { id: got, result } if got == id => Ok(result),
            Reply::Failed {
                out_of_memory: true,
                ..
            } => Err(Error::OutOfMemory {
                model: self.model.clone(),
            }),
            Reply::Failed { message, .. } => Err(Error::Other(message)),
            _ => Err(self.protocol_error("a reply to another call")),
        }
    }

    /// Closes the worker's input and waits for it to exit, which frees its GPU memory.
    pub fn stop(mut self) {
        self.stdin = None;
        let _ = self.child.child.wait();
    }

    fn reply(&mut self, deadline: Duration, doing: &str) -> Result<Reply> {
        // Poll so that Ctrl-C is noticed while a model loads or runs.
        let step = Duration::from_millis(200);
        let mut waited = Duration::ZERO;
        loop {
            match self.replies.recv_timeout(step) {
                Ok(reply) => return Ok(reply),
                Err(RecvTimeoutError::Disconnected) => return Err(self.crashed(doing)),
                Err(RecvTimeoutError::Timeout) => {
                    process::check_interrupted()?;
                    waited += step;
                    if waited >= deadline {
                        let _ = self.child.child.kill();
                        return Err(Error::Other(format!(
                            "model `{}`: its worker was stopped after {} s {doing} with no answer",
                            self.model,
                            deadline.as_secs()
                        )));
                    }
                }
            }
        }
    }

    /// The error for a worker that went away: its exit status and the end of its log.
    fn crashed(&mut self, doing: &str) -> Error {
        self.stdin = None;
        let status = self
            .child
            .child
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        // The log reader may still be draining the last lines.
        std::thread::sleep(Duration::from_millis(50));
        if process::interrupted() {
            return Error::Interrupted;
        }
        let log = String::from_utf8_lossy(&self.log.lock().unwrap()).to_string();
        Error::WorkerCrashed {
            model: self.model.clone(),
            doing: doing.to_string(),
            status,
            log: process::tail(&log, 12),
        }
    }

    fn protocol_error(&self, what: &str) -> Error {
        Error::Other(format!(
            "model `{}`: its worker answered out of turn ({what})",
            self.model
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_json_line_each() {
        let reply = Reply::Failed {
            id: Some(3),
            message: "boom".into(),
            out_of_memory: false,
        };
        let line = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            line,
            r#"{"failed":{"id":3,"message":"boom","out_of_memory":false}}"#
        );
        assert_eq!(serde_json::from_str::<Reply>(&line).unwrap(), reply);
        let ready: Reply =
            serde_json::from_str(r#"{"ready":{"device":"cpu","precision":"fp32","seconds":0.5}}"#)
                .unwrap();
        assert!(matches!(ready, Reply::Ready { .. }));
    }
}
