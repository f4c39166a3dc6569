//! The CPU pool: the executor for every part of a job that is not a lane call. `--jobs N`
//! rayon threads run a job's first part (its engine's `run`, which commits at once when it
//! needs no call) and its last part (`finish`, after the call). A rayon pool rather than
//! plain threads: engines split their own work with rayon (face tracks, image reads), and
//! inside the pool that work stays on its `--jobs` threads.
//!
//! It has room while fewer than `--jobs` parts run; a `Finish` is started even when it has
//! none (the job's call is done, and its folder should not wait behind new jobs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{Ended, Executor, LaneEvent, Pending, Report, Reports, Started, Work};
use crate::engine::LaneDone;
use crate::error::Result;
use crate::process::contained;

/// The pool, within a rayon scope: `start` and `finish` run a node's first and last part.
pub struct Pool<'a, 'scope, S, F> {
    scope: &'a rayon::Scope<'scope>,
    jobs: usize,
    running: Arc<AtomicUsize>,
    start: &'scope S,
    finish: &'scope F,
    reports: Reports,
}

impl<'a, 'scope, S, F> Pool<'a, 'scope, S, F>
where
    S: Fn(usize) -> Result<Started> + Sync,
    F: Fn(usize, Pending, Result<LaneDone>) -> Result<()> + Sync,
{
    pub fn new(
        scope: &'a rayon::Scope<'scope>,
        jobs: usize,
        start: &'scope S,
        finish: &'scope F,
        reports: Reports,
    ) -> Self {
        Pool {
            scope,
            jobs: jobs.max(1),
            running: Arc::new(AtomicUsize::new(0)),
            start,
            finish,
            reports,
        }
    }
}

impl<S, F> Executor for Pool<'_, '_, S, F>
where
    S: Fn(usize) -> Result<Started> + Sync,
    F: Fn(usize, Pending, Result<LaneDone>) -> Result<()> + Sync,
{
    fn name(&self) -> &'static str {
        "pool"
    }

    fn takes(&self, _node: usize, work: &Work) -> bool {
        matches!(work, Work::Job | Work::Finish(..))
    }

    fn has_room(&self) -> bool {
        self.running.load(Ordering::SeqCst) < self.jobs
    }

    fn start(&mut self, node: usize, work: Work) {
        self.running.fetch_add(1, Ordering::SeqCst);
        let running = Arc::clone(&self.running);
        let reports = self.reports.clone();
        let (start, finish) = (self.start, self.finish);
        self.scope.spawn(move |_| {
            let ended = match work {
                Work::Job => match contained(|| start(node)) {
                    Ok(Started::Committed) => Ended::Made,
                    Ok(Started::NeedsLane(pending)) => Ended::NeedsCall(pending),
                    Err(error) => Ended::Failed(error),
                },
                Work::Finish(pending, done) => match contained(|| finish(node, pending, done)) {
                    Ok(()) => Ended::Made,
                    Err(error) => Ended::Failed(error),
                },
                Work::Call(pending) => Ended::Failed(crate::error::Error::Other(format!(
                    "internal error (a bug in render): the CPU pool was given `{}`'s call",
                    pending.call.group()
                ))),
            };
            // Free before the report: the scheduler asks for room as soon as it reads it.
            running.fetch_sub(1, Ordering::SeqCst);
            reports.send(Report::Ended { node, ended });
        });
    }

    /// Rayon's scope waits for every spawned part before the scheduler's returns.
    fn close(self: Box<Self>) -> Vec<LaneEvent> {
        Vec::new()
    }
}
