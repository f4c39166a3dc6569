//! `render run-job SPEC`: runs one job from its spec file alone — the unit a cluster
//! executor sends to another machine that mounts the content folder at the same path. The
//! spec is what `render plan --write-jobs DIR` writes. Its inputs must already be in the
//! cache; its object is committed there (publishing to `out/` is the build's business).
//!
//! It takes no build lock (a cluster runs many beside a build), so it registers itself in
//! `cache/jobs/` while it runs (`scratch::Registration`): `gc` and `clean` then leave its
//! inputs alone, and every sweep of `cache/tmp/` leaves its folder, named for its process.
//!
//! Every input is hashed before the job reads it (`Cache::verify_input`), whichever machine
//! made it: on a shared cache the driver's cheap check cannot see a byte flipped on disk,
//! nor an object another node's NFS client shows before all of its bytes. A damaged input
//! is quarantined and the job fails naming it; the next build makes it again.
//!
//! `render run-jobs SPEC…` runs a batch in one process, in the order given (dependencies
//! first): a farm sends same-model jobs together so the model loads once per allocation (a
//! 14B model takes minutes to load), and small CPU jobs together so the scheduler's
//! per-job overhead (about a second) is paid once. A job that fails does not stop the
//! others; the batch fails when any did, and says how many times it loaded a model.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cache::Check;
use crate::commands;
use crate::engine::EngineJob;
use crate::error::{Error, Result};
use crate::executor::slurm::Outcome;
use crate::executor::Loaded;
use crate::job::Job;
use crate::scratch::Registration;

pub fn run(spec: &Path) -> i32 {
    commands::exit_code((|| -> Result<i32> {
        let mut job = Job::read(spec)?;
        on_this_machine(std::slice::from_mut(&mut job))?;
        // A line whose engine declares a server starts it (`server.rs`); it stops here.
        let _servers = crate::server::Servers;
        let mut loaded = Loaded::default();
        let made = run_one(&job, &mut loaded);
        loaded.stop();
        made.map(|()| 0)
    })())
}

/// `render run-jobs SPEC…`: every spec is read first (a bad one runs nothing), then each
/// job runs in turn, sharing the loaded models.
///
/// With `results`, each job's outcome is appended to that file as one JSON line
/// ([`Outcome`]) as soon as it is known: a farm's driver reads why each job failed, and a
/// node missing an engine's program is named with the engine, for its exclusion.
pub fn run_batch(specs: &[PathBuf], results: Option<&Path>) -> i32 {
    let jobs = match specs
        .iter()
        .map(|spec| Job::read(spec))
        .collect::<Result<Vec<Job>>>()
    {
        Ok(jobs) => jobs,
        Err(error) => return commands::exit_code(Err(error)),
    };
    let mut jobs = jobs;
    if let Err(error) = on_this_machine(&mut jobs) {
        return commands::exit_code(Err(error));
    }
    // Declared servers start on their first line and serve the whole batch.
    let _servers = crate::server::Servers;
    let mut loaded = Loaded::default();
    let mut failed = 0;
    for job in &jobs {
        if crate::process::interrupted() {
            break;
        }
        let made = run_one(job, &mut loaded);
        if matches!(made, Err(Error::Interrupted)) {
            break;
        }
        if let Some(file) = results {
            outcome(job, &made).append(file);
        }
        if let Err(error) = made {
            commands::report(error);
            failed += 1;
        }
    }
    let loads = loaded.loads;
    loaded.stop();
    if crate::process::interrupted() {
        return commands::exit_code(Err(Error::Interrupted));
    }
    eprintln!(
        "render: batch of {}: {} failed; {loads} model load{}",
        jobs.len(),
        failed,
        if loads == 1 { "" } else { "s" }
    );
    if failed > 0 {
        commands::EXIT_FAILED
    } else {
        0
    }
}

/// Runs `job` here, registered while it runs, its inputs hashed first; says what it did.
fn run_one(job: &Job, loaded: &mut Loaded) -> Result<()> {
    let inputs = job.spec.inputs.values().copied().collect();
    let _registered = Registration::new(&job.cache, &job.name, job.key, inputs)?;
    let start = Instant::now();
    if job.cache().check(&job.key) != Check::Intact {
        verify_inputs(job)?;
    }
    if crate::executor::run_in_batch(job, loaded)? {
        eprintln!("made {} ({:.2} s)", job.name, start.elapsed().as_secs_f64());
    } else {
        eprintln!("{} is already in the cache", job.name);
    }
    Ok(())
}

/// Each command engine's program as this machine's own engines file says (on a farm, the
/// node's): a GPU node often has a program at another path than the submitting host. Not
/// part of any key, like the program's path itself. A bad engines file fails the jobs, with
/// its diagnostic.
fn on_this_machine(jobs: &mut [Job]) -> Result<()> {
    let commands = jobs.iter().any(|j| matches!(j.work, EngineJob::Command(_)));
    if !commands {
        return Ok(());
    }
    let programs = crate::manifest::machine_programs()
        .map_err(|errors| commands::config_errors(errors, "this machine's engines file"))?;
    for job in jobs {
        if let EngineJob::Command(command) = &mut job.work {
            if let Some((program, engine_dir)) = programs.get(&command.engine) {
                command.program = program.clone();
                command.engine_dir = engine_dir.clone();
            }
        }
    }
    Ok(())
}

/// Hashes every input of `job` that is in the cache; a damaged one is moved to
/// `cache/quarantine/` and fails the job (a missing one is `run_here`'s to report).
fn verify_inputs(job: &Job) -> Result<()> {
    let cache = job.cache();
    for (name, key) in &job.spec.inputs {
        let Check::Damaged(reason) = cache.verify_input(key) else {
            continue;
        };
        let input = cache
            .record(key)
            .map_or_else(|| name.to_string(), |r| r.name);
        let aside = match cache.quarantine(key, &input, &reason) {
            Ok(aside) => {
                let root = cache.dir.parent().unwrap_or(&cache.dir);
                aside
                    .strip_prefix(root)
                    .unwrap_or(&aside)
                    .display()
                    .to_string()
            }
            // Another job reading it moved it aside first.
            Err(_) if !cache.object_dir(key).exists() => "cache/quarantine/".into(),
            Err(error) => return Err(error),
        };
        return Err(Error::Other(format!(
            "{}: its input {input} is damaged ({reason}); moved to {aside}, and the next build makes it again",
            job.name
        )));
    }
    Ok(())
}

/// One job's outcome for `--results`: its error as the user reads it.
fn outcome(job: &Job, made: &Result<()>) -> Outcome {
    let missing = match made {
        Err(Error::ToolMissing { program, .. }) => {
            Some((crate::executor::slurm::engine_of(job), program.clone()))
        }
        _ => None,
    };
    Outcome {
        name: job.name.clone(),
        key: job.key.hex(),
        host: crate::scratch::node(),
        error: made.as_ref().err().map(|e| commands::render_plain(e)),
        missing,
    }
}
