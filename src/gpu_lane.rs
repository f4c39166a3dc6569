//! The GPU lane: the executor for everything that needs the GPU. One thread runs one call
//! at a time: a model call in the worker process of its model (`worker.rs`), or an
//! external GPU program. Calls are taken group by group (a model, or a program's engine) —
//! the lane keeps its group while more calls for it are expected — so each model is loaded
//! once per build; a worker is closed, which frees all of its GPU memory, before another
//! group runs (a 10 GB card holds one model at a time). CPU work around a call
//! (decode, mel, crops, paste-back, encode) runs on the pool, so the lane only ever waits on
//! tensor work. Every load, unload, start and end is recorded with a timestamp: the lane's
//! own account, which tests and `--json` read.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use serde::Serialize;

use crate::engine::{LaneCall, LaneDone, ModelLoad};
use crate::error::{Error, Result};
use crate::process;
use crate::worker::Worker;

pub enum ToLane {
    Run {
        node: usize,
        artifact: String,
        call: LaneCall,
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
    call: LaneCall,
}

/// Runs the lane until the scheduler hangs up. `expected` counts the calls per group.
/// `started(node)` says when a call leaves the queue and its work begins (its model's
/// load included); `reply` gives its result.
pub fn run_lane(
    first: Option<ModelLoad>,
    mut expected: BTreeMap<String, usize>,
    requests: Receiver<ToLane>,
    started: impl Fn(usize),
    reply: impl Fn(usize, Result<LaneDone>),
    start: Instant,
) -> Vec<LaneEvent> {
    let mut events = Vec::new();
    let mut record = |event: &'static str, group: &str, artifact: Option<&str>| {
        events.push(LaneEvent {
            seconds: start.elapsed().as_secs_f64(),
            event,
            model: group.to_string(),
            artifact: artifact.map(str::to_string),
        })
    };
    let mut pending: Vec<Pending> = Vec::new();
    // The group whose calls the lane is running, and its worker when it is a model.
    let mut current: Option<String> = None;
    let mut loaded: Option<Worker> = None;
    // A model that failed to load fails every call that needs it, without reloading.
    let mut load_errors: BTreeMap<String, String> = BTreeMap::new();
    let mut no_more = false;
    let mut hung_up = false;

    // The first model the build needs loads at once, while the CPU prepares its calls:
    // its first scene does not wait for a load after its inputs are ready.
    if let Some(first) = first.filter(|f| expected.contains_key(&f.model)) {
        current = Some(first.model.clone());
        match Worker::start(&first.model, &first.file, first.device) {
            Ok(worker) => {
                record("load", &first.model, None);
                loaded = Some(worker);
            }
            Err(error) => {
                record("load-failed", &first.model, None);
                load_errors.insert(first.model.clone(), error.to_string());
                current = None;
            }
        }
    }

    loop {
        while let Ok(message) = requests.try_recv() {
            apply(message, &mut expected, &mut pending, &mut no_more);
        }
        let same_group = current
            .as_ref()
            .and_then(|group| pending.iter().position(|p| p.call.group() == group));
        let current_expects_more = current
            .as_ref()
            .is_some_and(|group| !no_more && expected.get(group).copied().unwrap_or(0) > 0);
        let pick = match same_group {
            Some(index) => Some(index),
            // Stay with the current group while its calls are still being prepared.
            None if current_expects_more => None,
            None => pending
                .iter()
                .position(|p| !load_errors.contains_key(p.call.group()))
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
        let group = job.call.group().to_string();
        if let Some(count) = expected.get_mut(&group) {
            *count = count.saturating_sub(1);
        }
        if process::interrupted() {
            reply(job.node, Err(Error::Interrupted));
            continue;
        }
        if let Some(message) = load_errors.get(&group) {
            reply(job.node, Err(Error::Other(message.clone())));
            continue;
        }
        started(job.node);
        if current.as_deref() != Some(group.as_str()) {
            // The card is emptied before another group runs: the old worker exits.
            if let Some(old) = loaded.take() {
                let name = old.model().to_string();
                old.stop();
                record("unload", &name, None);
            }
            current = Some(group.clone());
            if let LaneCall::Model(call) = &job.call {
                match Worker::start(&call.model, &call.file, call.device) {
                    Ok(worker) => {
                        record("load", &group, None);
                        loaded = Some(worker);
                    }
                    Err(error) => {
                        record("load-failed", &group, None);
                        // Every later call for this model fails with the same words, at once.
                        load_errors.insert(group.clone(), error.to_string());
                        reply(job.node, Err(error));
                        continue;
                    }
                }
            }
        }
        record("start", &group, Some(&job.artifact));
        let result = match &job.call {
            LaneCall::Model(call) => loaded
                .as_mut()
                .expect("the call's model is loaded")
                .run(call),
            LaneCall::Program(call) => call.run(&job.artifact),
        };
        record("end", &group, Some(&job.artifact));
        if let Err(error @ Error::WorkerCrashed { .. }) = &result {
            // A crashed worker serves no more calls, and its model's remaining calls fail
            // at once with the same words rather than crash it again one by one.
            load_errors.insert(group.clone(), error.to_string());
            if let Some(old) = loaded.take() {
                old.stop();
                record("unload", &group, None);
            }
            current = None;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;
    use crate::engine::ProgramCall;
    use crate::process::ProgramRun;
    use std::sync::mpsc;
    use std::sync::Mutex;
    use std::time::Duration;

    fn program(dir: &std::path::Path, script: &str, timeout_seconds: u64) -> ProgramCall {
        ProgramCall {
            group: "talker".into(),
            runs: vec![ProgramRun {
                name: "/bin/sh".into(),
                program: "/bin/sh".into(),
                args: vec!["-c".into(), script.into()],
                env: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
                dir: dir.to_path_buf(),
                log: dir.join("program.log"),
            }],
            timeout_seconds,
            device: Device::Cpu,
        }
    }

    #[test]
    fn program_calls_run_one_at_a_time_with_their_log_kept() {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (tx, rx) = mpsc::channel();
        for (node, dir) in dirs.iter().enumerate() {
            let call = program(
                dir.path(),
                "echo \"$GREETING from $PWD\"; echo warn >&2",
                10,
            );
            tx.send(ToLane::Run {
                node,
                artifact: format!("clip {node}"),
                call: LaneCall::Program(call),
            })
            .unwrap();
        }
        drop(tx);
        let replies = Mutex::new(Vec::new());
        let events = run_lane(
            None,
            BTreeMap::from([("talker".to_string(), 2)]),
            rx,
            |_| {},
            |node, result| replies.lock().unwrap().push((node, result.is_ok())),
            Instant::now(),
        );
        assert_eq!(*replies.lock().unwrap(), [(0, true), (1, true)]);
        let kinds: Vec<&str> = events.iter().map(|e| e.event).collect();
        assert_eq!(
            kinds,
            ["start", "end", "start", "end"],
            "no worker for a program"
        );
        for dir in &dirs {
            let log = std::fs::read_to_string(dir.path().join("program.log")).unwrap();
            let pwd = dir.path().canonicalize().unwrap();
            assert_eq!(log, format!("hello from {}\nwarn\n", pwd.display()));
        }
    }

    #[test]
    fn a_program_past_its_deadline_is_stopped_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        // A wrapper whose child hangs: killing only the wrapper would leave the child.
        let call = program(
            dir.path(),
            "sleep 30 & echo $! > child; echo started >&2; wait",
            1,
        );
        let start = Instant::now();
        let error = call.run("clip demo/a:1").unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(
            error.to_string(),
            "/bin/sh failed while making clip demo/a:1: stopped after 1 s, its deadline\nstarted"
        );
        let child: i32 = std::fs::read_to_string(dir.path().join("child"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed means gone or a zombie (not yet reaped by whoever inherited it); a killed
        // process can still show as running for a moment while it exits.
        let running = || {
            let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            let alive = (state.rsplit(") ").next())
                .is_some_and(|rest| !rest.starts_with('Z') && !rest.is_empty());
            alive.then_some(state)
        };
        let waited = Instant::now();
        while running().is_some() && waited.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(state) = running() {
            panic!("the wrapper's child outlived the deadline: {state}");
        }
    }

    #[test]
    fn a_failing_program_shows_the_end_of_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let call = program(dir.path(), "echo loading weights >&2; exit 3", 10);
        let error = call.run("clip demo/a:1").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/bin/sh failed while making clip demo/a:1: exit status: 3\nloading weights"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("program.log")).unwrap(),
            "loading weights\n"
        );
    }
}
