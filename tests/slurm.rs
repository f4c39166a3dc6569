//! The Slurm client against a real cluster: `tools/slurm/cluster` starts a throw-away one
//! (a controller and two `slurmd`s, n1 and n2, on this host) in a temporary folder, and
//! each test stops it, whatever happened. Nothing is mocked. Skipped, saying so, only
//! where the Slurm packages are not installed (`tools/test` installs them, as root; so CI runs them).
//!
//! What is tested here is the farm's ground: a build's work split into batches, submitted
//! to both nodes with `render run-jobs`, found with one `squeue` per round, and judged by
//! the cache; and each way a Slurm job ends, named. `render build --farm slurm` is not
//! there yet (docs/slurm.md says what is missing).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{repo, Folder};
use render::slurm::{Backoff, JobId, Slurm, State, Status, Submission};

/// A cluster this test started, in its own folder; stopped when dropped. One at a time:
/// two clusters starting at once could pick the same free ports, and two cores do not run
/// four `slurmd`s and their jobs well.
struct Cluster {
    dir: tempfile::TempDir,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Cluster {
    /// None (with a message) when the Slurm packages are absent.
    fn start() -> Option<Cluster> {
        let installed = ["slurmctld", "slurmd", "sbatch", "munged"].iter().all(|p| {
            ["/usr/sbin", "/usr/bin"]
                .iter()
                .any(|d| Path::new(d).join(p).exists())
        });
        if !installed {
            eprintln!("skipped: the Slurm packages (slurmctld, slurmd, slurm-client, munge) are not installed; tools/test (or tools/slurm/cluster install) installs them");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("render-slurm-test-")
            .tempdir_in("/tmp")
            .unwrap();
        // munged, running as munge, must reach the folder.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let cluster = Cluster {
            dir,
            // A test that failed while holding it still leaves a usable lock.
            _one_at_a_time: ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()),
        };
        let out = cluster.tool(&["start"]);
        assert!(
            out.status.success(),
            "cluster start:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(cluster)
    }

    /// A client of this cluster.
    fn slurm(&self) -> Slurm {
        Slurm {
            conf: Some(self.dir.path().join("slurm.conf")),
            ..Slurm::default()
        }
    }

    fn tool(&self, args: &[&str]) -> std::process::Output {
        Command::new(repo().join("tools/slurm/cluster"))
            .args(args)
            .arg(self.dir.path())
            .output()
            .unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = self.tool(&["stop"]);
        if !out.status.success() {
            eprintln!("cluster stop:\n{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// A submission of `command` named `name`, its files in `dir`.
fn submission(
    name: &str,
    dir: &Path,
    n: usize,
    command: Vec<String>,
    options: &[&str],
) -> Submission {
    Submission {
        name: name.into(),
        command,
        options: options.iter().map(|o| o.to_string()).collect(),
        script: dir.join(format!("{n}.sh")),
        stdout: dir.join(format!("{n}.out")),
        stderr: dir.join(format!("{n}.err")),
        dir: dir.to_path_buf(),
    }
}

/// Polls the build's jobs (one `squeue` a round) until every one of `ids` has ended, or
/// has left the queue (then `sacct -c` says how it ended); their final statuses.
fn wait_all(slurm: &Slurm, name: &str, ids: &[JobId], limit: Duration) -> Vec<Status> {
    let start = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(2));
    let mut last = None;
    loop {
        let queue = slurm.queue(name).unwrap();
        let gone: Vec<JobId> = ids
            .iter()
            .filter(|id| !queue.contains_key(*id))
            .cloned()
            .collect();
        let completed = slurm
            .completions(&gone)
            .expect("sacct -c works on the test cluster");
        let statuses: Vec<Option<Status>> = (ids.iter())
            .map(|id| queue.get(id).or_else(|| completed.get(id)).cloned())
            .collect();
        if statuses
            .iter()
            .all(|s| s.as_ref().is_some_and(|s| s.state.is_final()))
        {
            // squeue has no exit codes: the completion log has.
            return (ids.iter().zip(statuses))
                .map(|(id, s)| {
                    let s = s.unwrap();
                    match (&s.state, slurm.completions(std::slice::from_ref(id))) {
                        (State::Failed(_), Some(done)) => done.get(id).cloned().unwrap_or(s),
                        _ => s,
                    }
                })
                .collect();
        }
        assert!(
            start.elapsed() < limit,
            "jobs still not done after {limit:?}: {statuses:?}"
        );
        let changed = last.as_ref() != Some(&statuses);
        last = Some(statuses);
        std::thread::sleep(backoff.next(changed));
    }
}

fn render_words(args: &[String]) -> Vec<String> {
    std::iter::once(env!("CARGO_BIN_EXE_render").to_string())
        .chain(args.iter().cloned())
        .collect()
}

/// One scene of three espeak lines on the built-in face.
fn tiny() -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        "[defaults]\nfps = 25\nsize = [160, 90]\npause = 0.2\nvoice = \"host\"\navatar = \"astronaut\"\n\n\
         [voices.host]\nengine = \"espeak\"\nlanguage = \"en\"\n\n\
         [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\nlipsync = \"builtin\"\n",
    );
    folder.write(
        "projects/p/project.toml",
        "[[scene]]\nname = \"talk\"\nlines = [\"One two three.\", \"Four five six.\", \"Seven eight.\"]\n",
    );
    folder
}

#[test]
fn a_folder_made_in_batches_on_both_nodes_is_the_build_a_machine_makes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let folder = tiny();
    let plan = folder.render(&["plan", "--write-jobs", "jobs"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let mut specs: Vec<PathBuf> = std::fs::read_dir(folder.file("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    specs.sort();
    let kind = |s: &PathBuf| {
        let name = s.file_name().unwrap().to_string_lossy().into_owned();
        name.rsplit('-')
            .next()
            .unwrap()
            .trim_end_matches(".json")
            .to_string()
    };
    let words = |specs: Vec<&PathBuf>| {
        let mut args = vec!["run-jobs".to_string()];
        args.extend(specs.iter().map(|s| s.display().to_string()));
        render_words(&args)
    };
    // Three rounds, as the dependencies allow: speech and the face track on n1, captions
    // on n2; the clips on n2; the scene on n1.
    let first: Vec<&PathBuf> = specs
        .iter()
        .filter(|s| ["speech", "track"].contains(&kind(s).as_str()))
        .collect();
    let captions: Vec<&PathBuf> = specs.iter().filter(|s| kind(s) == "captions").collect();
    let clips: Vec<&PathBuf> = specs.iter().filter(|s| kind(s) == "clip").collect();
    let scene: Vec<&PathBuf> = specs.iter().filter(|s| kind(s) == "scene").collect();
    assert_eq!(
        (first.len(), captions.len(), clips.len(), scene.len()),
        (4, 1, 3, 1),
        "{specs:?}"
    );

    let slurm = cluster.slurm();
    assert!(slurm.available());
    let logs = folder.file("cache/farm");
    std::fs::create_dir_all(&logs).unwrap();
    let name = "render-test-build";
    let mut n = 0;
    let mut round = |batches: Vec<(Vec<&PathBuf>, &str)>| {
        let ids: Vec<JobId> = (batches.into_iter())
            .map(|(specs, node)| {
                n += 1;
                let job = submission(
                    name,
                    &logs,
                    n,
                    words(specs),
                    // The face landmark model's worker needs more than the cluster's
                    // 256 MB a CPU (a farm file's `[cpu] memory`).
                    &[&format!("--nodelist={node}"), "--mem=2G"],
                );
                let sub = Submission {
                    dir: folder.path().to_path_buf(),
                    ..job
                };
                slurm.submit(&sub).unwrap()
            })
            .collect();
        let done = wait_all(&slurm, name, &ids, Duration::from_secs(120));
        for (status, id) in done.iter().zip(&ids) {
            assert_eq!(status.state, State::Completed, "job {id}: {status:?}");
        }
    };
    round(vec![(first, "n1")]);
    round(vec![(captions, "n2"), (clips, "n2")]);
    round(vec![(scene, "n1")]);

    // The cache is the truth: every object is there, verifies, and names its node.
    assert_eq!(folder.verify_cache(), specs.len());
    let mut by_node: Vec<(String, String)> = (folder.records().into_iter())
        .map(|(_, r)| {
            (
                r["host"].as_str().unwrap().to_string(),
                r["spec"]["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    by_node.sort();
    by_node.dedup();
    assert_eq!(
        by_node,
        [
            ("n1", "face-track"),
            ("n1", "scene"),
            ("n1", "speech"),
            ("n2", "captions"),
            ("n2", "clip")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // The batches' logs are kept: each made its jobs.
    let out = std::fs::read_to_string(logs.join("1.err")).unwrap();
    assert!(out.contains("render: batch of 4: 0 failed"), "{out}");
    // Nothing of the build is left in the queue but ended jobs; a local build makes
    // nothing and publishes the scene.
    let queue = slurm.queue(name).unwrap();
    assert!(queue.values().all(|s| s.state.is_final()), "{queue:?}");
    let build = folder.build();
    assert!(build.made().is_empty(), "{:?}", build.made());
    assert!(folder.file("out/p/talk.mp4").is_file());
}

#[test]
fn each_way_a_slurm_job_ends_is_named() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = cluster.dir.path().join("jobs");
    std::fs::create_dir_all(&dir).unwrap();
    let slurm = cluster.slurm();
    let name = "render-test-ends";
    let sh = |script: &str| vec!["/bin/sh".to_string(), "-c".to_string(), script.to_string()];
    let python = |code: &str| vec!["python3".to_string(), "-c".to_string(), code.to_string()];
    let submit = |n, command, options: &[&str]| {
        slurm
            .submit(&submission(name, &dir, n, command, options))
            .unwrap()
    };

    let ok = submit(1, vec!["/bin/echo".into(), "it's fine".into()], &[]);
    let failed = submit(2, sh("echo failing >&2; exit 3"), &[]);
    let hog = submit(
        3,
        python("x = bytearray(400 << 20)\nimport time\ntime.sleep(10)"),
        &["--mem=64M"],
    );
    let cancelled = submit(4, sh("sleep 60"), &[]);
    // Wait until it runs, then cancel it.
    let start = Instant::now();
    while slurm.queue(name).unwrap().get(&cancelled).map(|s| &s.state) != Some(&State::Running) {
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(100));
    }
    slurm.cancel(std::slice::from_ref(&cancelled)).unwrap();

    let ids = [ok, failed, hog, cancelled];
    let done = wait_all(&slurm, name, &ids, Duration::from_secs(60));
    let stderr =
        |n: usize| std::fs::read_to_string(dir.join(format!("{n}.err"))).unwrap_or_default();
    let states: Vec<State> = (done.into_iter().enumerate())
        .map(|(i, status)| status.state.with_log(&stderr(i + 1)))
        .collect();
    assert_eq!(
        states,
        [
            State::Completed,
            State::Failed("3:0".into()),
            State::OutOfMemory,
            State::Cancelled
        ]
    );
    // The script quoted its words whole; the logs are where the submission said.
    assert_eq!(
        std::fs::read_to_string(dir.join("1.out")).unwrap(),
        "it's fine\n"
    );
    assert_eq!(render::slurm::log_tail(&dir.join("2.err"), 5), "failing");
    // A cancelled job leaves the running states at once.
    let queue = slurm.queue(name).unwrap();
    assert!(queue.values().all(|s| s.state.is_final()), "{queue:?}");
}

#[test]
fn a_node_whose_slurmd_dies_fails_its_job_as_the_nodes_fault() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = cluster.dir.path().join("jobs");
    std::fs::create_dir_all(&dir).unwrap();
    let slurm = cluster.slurm();
    let name = "render-test-node";
    let sleep = vec!["/bin/sleep".to_string(), "120".to_string()];
    let job = slurm
        .submit(&submission(name, &dir, 1, sleep, &["--nodelist=n1"]))
        .unwrap();
    let start = Instant::now();
    while slurm.queue(name).unwrap().get(&job).map(|s| &s.state) != Some(&State::Running) {
        assert!(start.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = cluster.tool(&["kill-node", "n1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // SlurmdTimeout=10: the controller gives up on the node after about 30 s.
    let done = wait_all(
        &slurm,
        name,
        std::slice::from_ref(&job),
        Duration::from_secs(90),
    );
    assert_eq!(done[0].state, State::NodeFail, "{done:?}");
    assert_eq!(done[0].nodes, "n1");
    assert!(done[0].state.is_nodes_fault());
    let out = cluster.tool(&["start-node", "n1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
