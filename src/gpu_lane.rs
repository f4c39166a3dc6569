//! The GPU lane: one thread that owns the accelerator and runs one job at a time. Jobs are
//! taken model by model — the lane keeps its model while more jobs for it are expected —
//! so each model is loaded once per build; the old module is dropped and the CUDA caching
//! allocator emptied before the next one loads (a 10 GB card holds one model at a time).
//! CPU work around a job (decode, mel, crops, paste-back, encode) runs on the rayon pool,
//! so the lane only ever does tensor work. Every load, unload, start and end is recorded
//! with a timestamp: the lane's own account, which tests and `--json` read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use serde::Serialize;

use crate::engine::torch::{Accelerator, LoadedModel};
use crate::error::{Error, Result};
use crate::process;

/// What a job does on the CPU after its GPU part.
pub type Finish = Box<dyn FnOnce() -> Result<()> + Send>;
/// A job's GPU part: runs with the model loaded, hands back its CPU finish.
pub type Infer = Box<dyn FnOnce(&LoadedModel) -> Result<Finish> + Send>;

/// The GPU part of a job.
pub struct GpuTask {
    pub model: String,
    pub file: PathBuf,
    pub run: Infer,
}

pub enum ToLane {
    Run {
        node: usize,
        artifact: String,
        task: GpuTask,
    },
    /// A job expected for `model` will never come (it failed or was skipped).
    Cancel { model: String },
    /// The build stopped: expect nothing more.
    NoMore,
}

#[derive(Clone, Debug, Serialize)]
pub struct LaneEvent {
    pub seconds: f64,
    /// load | unload | start | end
    pub event: &'static str,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
}

struct Pending {
    node: usize,
    artifact: String,
    task: GpuTask,
}

/// Runs the lane until the scheduler hangs up. `expected` counts the jobs per model.
pub fn run_lane(
    accelerator: Accelerator,
    mut expected: BTreeMap<String, usize>,
    requests: Receiver<ToLane>,
    reply: impl Fn(usize, Result<Finish>),
    start: Instant,
) -> Vec<LaneEvent> {
    let mut events = Vec::new();
    let mut record = |event: &'static str, model: &str, artifact: Option<&str>| {
        events.push(LaneEvent {
            seconds: start.elapsed().as_secs_f64(),
            event,
            model: model.to_string(),
            artifact: artifact.map(str::to_string),
        })
    };
    let mut pending: Vec<Pending> = Vec::new();
    let mut loaded: Option<LoadedModel> = None;
    // A model that failed to load fails every job that needs it, without reloading.
    let mut load_errors: BTreeMap<String, String> = BTreeMap::new();
    let mut no_more = false;
    let mut hung_up = false;

    loop {
        while let Ok(message) = requests.try_recv() {
            apply(message, &mut expected, &mut pending, &mut no_more);
        }
        let current = loaded.as_ref().map(|m| m.name.clone());
        let same_model = current
            .as_ref()
            .and_then(|name| pending.iter().position(|p| &p.task.model == name));
        let current_expects_more = current
            .as_ref()
            .is_some_and(|name| !no_more && expected.get(name).copied().unwrap_or(0) > 0);
        let pick = match same_model {
            Some(index) => Some(index),
            // Stay with the loaded model while its jobs are still being prepared.
            None if current_expects_more => None,
            None => pending
                .iter()
                .position(|p| !load_errors.contains_key(&p.task.model))
                .or(if pending.is_empty() { None } else { Some(0) }),
        };
        let Some(index) = pick else {
            if hung_up {
                break;
            }
            match requests.recv() {
                Ok(message) => apply(message, &mut expected, &mut pending, &mut no_more),
                Err(_) => {
                    hung_up = true;
                    no_more = true;
                    if pending.is_empty() {
                        break;
                    }
                }
            }
            continue;
        };

        let job = pending.remove(index);
        if let Some(count) = expected.get_mut(&job.task.model) {
            *count = count.saturating_sub(1);
        }
        if process::interrupted() {
            reply(job.node, Err(Error::Interrupted));
            continue;
        }
        if let Some(message) = load_errors.get(&job.task.model) {
            reply(job.node, Err(Error::Other(message.clone())));
            continue;
        }
        if current.as_deref() != Some(job.task.model.as_str()) {
            if let Some(old) = loaded.take() {
                let name = old.name.clone();
                drop(old);
                accelerator.empty_cache();
                record("unload", &name, None);
            }
            match LoadedModel::load(&job.task.model, &job.task.file, accelerator) {
                Ok(model) => {
                    record("load", &job.task.model, None);
                    loaded = Some(model);
                }
                Err(error) => {
                    load_errors.insert(job.task.model.clone(), error.to_string());
                    reply(job.node, Err(error));
                    continue;
                }
            }
        }
        let model = loaded.as_ref().expect("the job's model is loaded");
        record("start", &model.name, Some(&job.artifact));
        let result = crate::scheduler::contained(|| (job.task.run)(model));
        record("end", &model.name, Some(&job.artifact));
        reply(job.node, result);
    }
    if let Some(old) = loaded.take() {
        let name = old.name.clone();
        drop(old);
        accelerator.empty_cache();
        record("unload", &name, None);
    }
    events
}

fn apply(
    message: ToLane,
    expected: &mut BTreeMap<String, usize>,
    pending: &mut Vec<Pending>,
    no_more: &mut bool,
) {
    match message {
        ToLane::Run {
            node,
            artifact,
            task,
        } => pending.push(Pending {
            node,
            artifact,
            task,
        }),
        ToLane::Cancel { model } => {
            if let Some(count) = expected.get_mut(&model) {
                *count = count.saturating_sub(1);
            }
        }
        ToLane::NoMore => *no_more = true,
    }
}

/// "GPU lane: 2 loads, 14 jobs, busy 63% of 12.1 s", from the lane's record.
pub fn summary(events: &[LaneEvent], build_seconds: f64) -> Option<String> {
    if events.is_empty() {
        return None;
    }
    let loads = events.iter().filter(|e| e.event == "load").count();
    let mut jobs = 0;
    let mut busy = 0.0;
    let mut started = None;
    for event in events {
        match event.event {
            "start" => started = Some(event.seconds),
            "end" => {
                jobs += 1;
                busy += event.seconds - started.take().unwrap_or(event.seconds);
            }
            _ => {}
        }
    }
    Some(format!(
        "GPU lane: {loads} model load(s), {jobs} job(s), busy {:.0}% of {build_seconds:.1} s",
        100.0 * busy / build_seconds.max(1e-9)
    ))
}

/// Sends a request; a lane that has already stopped is not an error here (its reply is).
pub fn send(lane: &Sender<ToLane>, message: ToLane) {
    let _ = lane.send(message);
}
