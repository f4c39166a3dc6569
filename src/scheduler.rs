//! Runs the stale part of the graph in dependency order. CPU jobs share a rayon pool of
//! `--jobs N` threads; the loop that hands out work runs on the calling thread so it never
//! takes a worker's place. A failure stops new launches, or with `--keep-going` only skips
//! what depends on it. Ctrl-C stops launches; running jobs see their children end.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::time::Instant;

use crate::error::Error;
use crate::process;

#[derive(Debug)]
pub enum Outcome {
    Made { seconds: f64 },
    Failed(Error),
    /// Not run because something it depends on failed.
    Skipped,
    /// Not run because the build stopped (a failure without --keep-going, or Ctrl-C).
    NotStarted,
}

pub enum Event {
    Started(usize),
    Finished(usize),
}

/// Runs `work(i)` for every `i` with `make[i]`, after the `deps[i]` that are also made.
/// Returns one outcome per node (`None` for nodes not to be made).
pub fn run<W, E>(
    deps: &[Vec<usize>],
    make: &[bool],
    jobs: usize,
    keep_going: bool,
    work: W,
    mut on_event: E,
) -> Vec<Option<Outcome>>
where
    W: Fn(usize) -> Result<(), Error> + Sync,
    E: FnMut(Event, &[Option<Outcome>]),
{
    let n = deps.len();
    let mut outcomes: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
    let mut waiting_on = vec![0usize; n];
    let mut dependents = vec![Vec::new(); n];
    for i in (0..n).filter(|&i| make[i]) {
        for &dep in &deps[i] {
            if make[dep] {
                waiting_on[i] += 1;
                dependents[dep].push(i);
            }
        }
    }
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| make[i] && waiting_on[i] == 0).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .thread_name(|i| format!("render-job-{i}"))
        .build()
        .expect("thread pool starts");
    let (tx, rx) = mpsc::channel::<(usize, Result<f64, Error>)>();
    let mut running = 0;
    let mut stop = false;

    pool.in_place_scope(|scope| loop {
        stop |= process::interrupted();
        while running < jobs.max(1) && !stop {
            let Some(i) = ready.pop_front() else { break };
            running += 1;
            on_event(Event::Started(i), &outcomes);
            let tx = tx.clone();
            let work = &work;
            scope.spawn(move |_| {
                let start = Instant::now();
                let result = work(i).map(|()| start.elapsed().as_secs_f64());
                let _ = tx.send((i, result));
            });
        }
        if running == 0 {
            break;
        }
        let (i, result) = rx.recv().expect("a job reports back");
        running -= 1;
        match result {
            Ok(seconds) => {
                outcomes[i] = Some(Outcome::Made { seconds });
                for &next in &dependents[i] {
                    waiting_on[next] -= 1;
                    if waiting_on[next] == 0 && outcomes[next].is_none() {
                        ready.push_back(next);
                    }
                }
            }
            Err(error) => {
                stop |= !keep_going || matches!(error, Error::Interrupted);
                outcomes[i] = Some(Outcome::Failed(error));
                skip_dependents(i, &dependents, &mut outcomes);
            }
        }
        on_event(Event::Finished(i), &outcomes);
    });

    for i in (0..n).filter(|&i| make[i]) {
        outcomes[i].get_or_insert(Outcome::NotStarted);
    }
    outcomes
}

fn skip_dependents(failed: usize, dependents: &[Vec<usize>], outcomes: &mut [Option<Outcome>]) {
    let mut stack = dependents[failed].clone();
    while let Some(i) = stack.pop() {
        if outcomes[i].is_none() {
            outcomes[i] = Some(Outcome::Skipped);
            stack.extend(&dependents[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn runs_dependencies_first_and_skips_after_a_failure() {
        // 0 → 2, 1 → 2, 2 → 3; 4 independent; 1 fails.
        let deps = vec![vec![], vec![], vec![0, 1], vec![2], vec![]];
        let order = Mutex::new(Vec::new());
        let outcomes = run(
            &deps,
            &[true; 5],
            2,
            true,
            |i| {
                order.lock().unwrap().push(i);
                if i == 1 {
                    Err(Error::Other("boom".into()))
                } else {
                    Ok(())
                }
            },
            |_, _| {},
        );
        assert!(matches!(outcomes[0], Some(Outcome::Made { .. })));
        assert!(matches!(outcomes[1], Some(Outcome::Failed(_))));
        assert!(matches!(outcomes[2], Some(Outcome::Skipped)));
        assert!(matches!(outcomes[3], Some(Outcome::Skipped)));
        assert!(matches!(outcomes[4], Some(Outcome::Made { .. })));
        let order = order.into_inner().unwrap();
        assert!(!order.contains(&2) && !order.contains(&3));
    }

    #[test]
    fn without_keep_going_nothing_new_starts_after_a_failure() {
        let deps = vec![vec![], vec![0], vec![1]];
        let outcomes = run(
            &deps,
            &[true; 3],
            1,
            false,
            |i| if i == 0 { Err(Error::Other("boom".into())) } else { Ok(()) },
            |_, _| {},
        );
        assert!(matches!(outcomes[0], Some(Outcome::Failed(_))));
        assert!(matches!(outcomes[1], Some(Outcome::Skipped)));
        assert!(matches!(outcomes[2], Some(Outcome::Skipped)));
    }

    #[test]
    fn only_stale_nodes_run() {
        let deps = vec![vec![], vec![0]];
        let ran = Mutex::new(Vec::new());
        let outcomes = run(&deps, &[false, true], 2, false, |i| {
            ran.lock().unwrap().push(i);
            Ok(())
        }, |_, _| {});
        assert_eq!(*ran.lock().unwrap(), vec![1]);
        assert!(outcomes[0].is_none());
    }
}
