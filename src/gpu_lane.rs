//! The GPU lane: the executor for model calls. One thread runs one call at a time, each in
//! the worker process of its model (`worker.rs`). Calls are taken model by model — the lane
//! keeps its worker while more calls for that model are expected — so each model is loaded
//! once per build; the worker is closed, which frees all of its GPU memory, before the next
//! model's worker starts (a 10 GB card holds one model at a time). CPU work around a call
//! (decode, mel, crops, paste-back, encode) runs on the pool, so the lane only ever waits on
//! tensor work. Every load, unload, start and end is recorded with a timestamp: the lane's
//! own account, which tests and `--json` read.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use serde::Serialize;

use crate::engine::{ModelCall, ModelDone};
use crate::error::{Error, Result};
use crate::process;
use crate::worker::Worker;

pub enum ToLane {
    Run {
        node: usize,
        artifact: String,
        call: ModelCall,
    },
    /// A job expected for `model` will never come (it failed or was skipped).
    Cancel { model: String },
    /// The build stopped: expect nothing more.
    NoMore,
}

#[derive(Clone, Debug, Serialize)]
pub struct LaneEvent {
    pub seconds: f64,
    /// load | load-failed | unload | start | end
    pub event: &'static str,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
}

struct Pending {
    node: usize,
    artifact: String,
    call: ModelCall,
}

/// Runs the lane until the scheduler hangs up. `expected` counts the calls per model.
pub fn run_lane(
    mut expected: BTreeMap<String, usize>,
    requests: Receiver<ToLane>,
    reply: impl Fn(usize, Result<ModelDone>),
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
    let mut loaded: Option<Worker> = None;
    // A model that failed to load fails every job that needs it, without reloading.
    let mut load_errors: BTreeMap<String, String> = BTreeMap::new();
    let mut no_more = false;
    let mut hung_up = false;

    loop {
        while let Ok(message) = requests.try_recv() {
            apply(message, &mut expected, &mut pending, &mut no_more);
        }
        let current = loaded.as_ref().map(|w| w.model().to_string());
        let same_model = current
            .as_ref()
            .and_then(|name| pending.iter().position(|p| &p.call.model == name));
        let current_expects_more = current
            .as_ref()
            .is_some_and(|name| !no_more && expected.get(name).copied().unwrap_or(0) > 0);
        let pick = match same_model {
            Some(index) => Some(index),
            // Stay with the loaded model while its jobs are still being prepared.
            None if current_expects_more => None,
            None => pending
                .iter()
                .position(|p| !load_errors.contains_key(&p.call.model))
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
        let model = job.call.model.clone();
        if let Some(count) = expected.get_mut(&model) {
            *count = count.saturating_sub(1);
        }
        if process::interrupted() {
            reply(job.node, Err(Error::Interrupted));
            continue;
        }
        if let Some(message) = load_errors.get(&model) {
            reply(job.node, Err(Error::Other(message.clone())));
            continue;
        }
        if current.as_deref() != Some(model.as_str()) {
            if let Some(old) = loaded.take() {
                let name = old.model().to_string();
                old.stop();
                record("unload", &name, None);
            }
            match Worker::start(&model, &job.call.file, job.call.device) {
                Ok(worker) => {
                    record("load", &model, None);
                    loaded = Some(worker);
                }
                Err(error) => {
                    record("load-failed", &model, None);
                    // Every later call for this model fails with the same words, at once.
                    load_errors.insert(model.clone(), error.to_string());
                    reply(job.node, Err(error));
                    continue;
                }
            }
        }
        let worker = loaded.as_mut().expect("the job's model is loaded");
        record("start", &model, Some(&job.artifact));
        let result = worker.run(&job.call);
        record("end", &model, Some(&job.artifact));
        if let Err(error @ Error::WorkerCrashed { .. }) = &result {
            // A crashed worker serves no more calls, and its model's remaining calls fail
            // at once with the same words rather than crash it again one by one.
            load_errors.insert(model.clone(), error.to_string());
            if let Some(old) = loaded.take() {
                old.stop();
                record("unload", &model, None);
            }
        }
        reply(job.node, result);
    }
    if let Some(old) = loaded.take() {
        let name = old.model().to_string();
        old.stop();
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
            call,
        } => pending.push(Pending {
            node,
            artifact,
            call,
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
