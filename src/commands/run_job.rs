//! `render run-job SPEC`: runs one job from its spec file alone — the unit a cluster
//! executor sends to another machine that mounts the content folder at the same path. The
//! spec is what `render plan --write-jobs DIR` writes. Its inputs must already be in the
//! cache; its object is committed there (publishing to `out/` is the build's business).
//!
//! It takes no build lock (a cluster runs many beside a build), so it registers itself in
//! `cache/jobs/` while it runs (`scratch::Registration`): `gc` and `clean` then leave its
//! inputs alone, and every sweep of `cache/tmp/` leaves its folder, named for its process.

use std::path::Path;
use std::time::Instant;

use crate::commands;
use crate::error::Result;
use crate::job::Job;
use crate::scratch::Registration;

pub fn run(spec: &Path) -> i32 {
    commands::exit_code((|| -> Result<i32> {
        let job = Job::read(spec)?;
        let inputs = job.spec.inputs.values().copied().collect();
        let _registered = Registration::new(&job.cache, &job.name, job.key, inputs)?;
        let start = Instant::now();
        if crate::executor::run_here(&job)? {
            eprintln!("made {} ({:.2} s)", job.name, start.elapsed().as_secs_f64());
        } else {
            eprintln!("{} is already in the cache", job.name);
        }
        Ok(0)
    })())
}
