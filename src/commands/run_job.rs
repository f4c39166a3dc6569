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

use std::path::Path;
use std::time::Instant;

use crate::cache::Check;
use crate::commands;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::scratch::Registration;

pub fn run(spec: &Path) -> i32 {
    commands::exit_code((|| -> Result<i32> {
        let job = Job::read(spec)?;
        let inputs = job.spec.inputs.values().copied().collect();
        let _registered = Registration::new(&job.cache, &job.name, job.key, inputs)?;
        let start = Instant::now();
        if job.cache().check(&job.key) != Check::Intact {
            verify_inputs(&job)?;
        }
        if crate::executor::run_here(&job)? {
            eprintln!("made {} ({:.2} s)", job.name, start.elapsed().as_secs_f64());
        } else {
            eprintln!("{} is already in the cache", job.name);
        }
        Ok(0)
    })())
}

/// Hashes every input of `job` that is in the cache; a damaged one is moved to
/// `cache/quarantine/` and fails the job (a missing one is `run_here`'s to report).
fn verify_inputs(job: &Job) -> Result<()> {
    let cache = job.cache();
    for (name, key) in &job.spec.inputs {
        let Check::Damaged(reason) = cache.verify_input(key) else {
            continue;
        };
        let input = cache.record(key).map_or_else(|| name.clone(), |r| r.name);
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
