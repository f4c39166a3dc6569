//! The Slurm client against a real cluster: `tools/slurm/cluster` starts a throw-away one
//! (a controller and two `slurmd`s, n1 and n2, on this host) in a temporary folder, and
//! each test stops it, whatever happened. Nothing is mocked. Skipped, saying so, only
//! where the Slurm packages are not installed (`tools/test` installs them, as root; so CI runs them).
//!
//! What is tested here: the farm's ground (a build's work split into batches, submitted to
//! both nodes with `render run-jobs`, found with one `squeue` per round, and judged by the
//! cache; each way a Slurm job ends, named), then `render build --farm slurm` itself: the
//! same objects as a local build, a model loaded once for a batch of clips, TIMEOUT named,
//! a crashed node's jobs run again on the other, a node without an engine's program named,
//! Ctrl-C leaving nothing in the queue, and a killed driver's running jobs adopted by the
//! next build rather than run twice.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{add_fixture_models, repo, tone_wav, write_program, Folder};
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

    /// A folder for the scripts and logs of jobs a test submits itself.
    fn jobs_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("jobs");
        std::fs::create_dir_all(&dir).unwrap();
        dir
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
    let dir = cluster.jobs_dir();
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
    wait_for(Duration::from_secs(30), "job 4 running", || {
        running(&slurm, name, &cancelled)
    });
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
    let dir = cluster.jobs_dir();
    let slurm = cluster.slurm();
    let name = "render-test-node";
    let sleep = vec!["/bin/sleep".to_string(), "120".to_string()];
    let job = slurm
        .submit(&submission(name, &dir, 1, sleep, &["--nodelist=n1"]))
        .unwrap();
    wait_for(Duration::from_secs(30), "the job running", || {
        running(&slurm, name, &job)
    });
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

/// Polls `done` (every 100 ms) until it gives a value; fails saying `what` after `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = done() {
            return value;
        }
        assert!(start.elapsed() < limit, "{what} (after {limit:?})");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `job` of build `name` is running: Some(()) when it is.
fn running(slurm: &Slurm, name: &str, job: &JobId) -> Option<()> {
    let state = slurm.queue(name).unwrap().get(job).map(|s| s.state.clone());
    (state == Some(State::Running)).then_some(())
}

/// The environment of a `--farm slurm` build on `cluster`: its slurm.conf, a farm file
/// that polls every second at most and asks for the gres-free `gpu` partition where a
/// studio writes `--gres=gpu:1`, and a
/// PATH with the folder's `bin/` (fake engine programs) first. `extra` is appended to the
/// farm file.
fn farm_env(cluster: &Cluster, folder: &Folder, extra: &str) -> Vec<(String, String)> {
    let farm = cluster.dir.path().join("farm.toml");
    std::fs::write(
        &farm,
        // A one-host cluster answers at once: polled every second at most, not every 5 s.
        format!("poll_seconds = 1\n\n[cpu]\nmemory = \"1G\"\n\n[gpu]\npartition = \"gpu\"\noptions = []\nmemory = \"2G\"\n{extra}"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        folder.file("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        (
            "SLURM_CONF".into(),
            cluster.dir.path().join("slurm.conf").display().to_string(),
        ),
        ("RENDER_FARM".into(), farm.display().to_string()),
        ("PATH".into(), path),
    ]
}

fn farm_build(folder: &Folder, env: &[(String, String)], args: &[&str]) -> common::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut full = vec!["build", "--farm", "slurm"];
    full.extend(args);
    folder.render_with_env(&full, &env, Duration::from_secs(400))
}

/// `render build --farm slurm ARGS` started in the background, its stderr in the cluster's
/// folder's `build.err`.
fn start_farm_build(
    cluster: &Cluster,
    folder: &Folder,
    env: &[(String, String)],
    args: &[&str],
) -> std::process::Child {
    let mut full = vec!["build", "--farm", "slurm"];
    full.extend(args);
    let err = std::fs::File::create(cluster.dir.path().join("build.err")).unwrap();
    (folder.command(&full))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap()
}

/// `scenes` scenes of two lines each, in one project, spoken by `voice` (a `[voices.host]`
/// table's body) on the built-in face; `extra` is appended to the Renderfile.
fn scenes(count: usize, voice: &str, extra: &str) -> Folder {
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [96, 54]\npause = 0.2\nvoice = \"host\"\navatar = \"astronaut\"\n\n\
             [voices.host]\n{voice}\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\nlipsync = \"builtin\"\n{extra}"
        ),
    );
    let mut project = String::new();
    for i in 1..=count {
        project.push_str(&format!(
            "[[scene]]\nname = \"s{i:02}\"\nlines = [\"Scene {i} begins.\", \"And {i} ends.\"]\n\n"
        ));
    }
    folder.write("projects/p/project.toml", &project);
    folder
}

/// A speech engine `fake` whose program (`fake-tts`, looked up on PATH: `bin/` of the
/// folder) takes `seconds` and writes a tone.
fn with_fake_speech(folder: &Folder, seconds: f64) {
    std::fs::create_dir_all(folder.file("bin")).unwrap();
    std::fs::write(folder.file("tone.wav"), tone_wav(16_000, 0.6)).unwrap();
    write_program(
        &folder.file("bin/fake-tts"),
        &format!(
            "#!/bin/sh\nsleep {seconds}\ncp '{}' \"$1\"\n",
            folder.file("tone.wav").display()
        ),
    );
}

const FAKE_SPEECH: &str = "engine = \"fake\"";
const FAKE_ENGINE: &str =
    "\n[engines.fake]\nstage = \"speech\"\nprogram = \"fake-tts\"\nargs = [\"{out}\"]\n";

/// Every object's key with its output files' bytes.
fn objects(folder: &Folder) -> std::collections::BTreeMap<String, Vec<(String, Vec<u8>)>> {
    folder
        .records()
        .into_iter()
        .map(|(dir, record)| {
            let files = (record["outputs"].as_array().unwrap().iter())
                .map(|o| {
                    let file = o["file"].as_str().unwrap().to_string();
                    let bytes = std::fs::read(dir.join(&file)).unwrap();
                    (file, bytes)
                })
                .collect();
            (record["key"].as_str().unwrap().to_string(), files)
        })
        .collect()
}

/// The nodes that made the folder's objects.
fn hosts(folder: &Folder) -> std::collections::BTreeSet<String> {
    (folder.records().into_iter())
        .map(|(_, r)| r["host"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Fails unless no job of any render build is queued or running on `cluster`.
fn assert_nothing_left(cluster: &Cluster) {
    let left = unfinished(cluster);
    assert!(left.is_empty(), "{left:?}");
}

/// `count` scenes spoken by the fake speech engine (`seconds` a line) and their farm
/// environment on `cluster`.
fn fake_speech_farm(
    cluster: &Cluster,
    count: usize,
    seconds: f64,
) -> (Folder, Vec<(String, String)>) {
    let folder = scenes(count, FAKE_SPEECH, FAKE_ENGINE);
    with_fake_speech(&folder, seconds);
    let env = farm_env(cluster, &folder, "");
    (folder, env)
}

/// This cluster's jobs of any render build still queued or running.
fn unfinished(cluster: &Cluster) -> Vec<(JobId, String, PathBuf)> {
    cluster.slurm().unfinished("render-").unwrap()
}

/// Builds `farm` on the cluster and `local` (the same sources) here: the same keys, the
/// same bytes, every scene published, both nodes at work, nothing left in the queue. The
/// farm's objects that `given` selects (by record) are copied into `local`'s cache first:
/// what no machine makes twice alike.
fn farm_equals_local(
    cluster: &Cluster,
    farm: &Folder,
    local: &Folder,
    scenes: usize,
    given: impl Fn(&serde_json::Value) -> bool,
) {
    let env = farm_env(cluster, farm, "");
    let run = farm_build(farm, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("farm: "), "{}", run.stderr);
    assert_nothing_left(cluster);
    assert_eq!(hosts(farm), ["n1", "n2"].map(String::from).into());
    let published = farm
        .out_files()
        .iter()
        .filter(|f| f.ends_with(".mp4"))
        .count();
    assert_eq!(published, scenes, "{:?}", farm.out_files());
    for (dir, _) in farm.records().iter().filter(|(_, r)| given(r)) {
        let relative = dir.strip_prefix(farm.path()).unwrap();
        common::copy_tree(dir, &local.path().join(relative));
    }
    let run = local.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (on_farm, here) = (objects(farm), objects(local));
    assert_eq!(
        on_farm.keys().collect::<Vec<_>>(),
        here.keys().collect::<Vec<_>>()
    );
    let names: std::collections::BTreeMap<String, String> = (farm.records().into_iter())
        .map(|(_, r)| {
            (
                r["key"].as_str().unwrap().into(),
                r["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (key, files) in &on_farm {
        let differ: Vec<&str> = (files.iter().zip(&here[key]))
            .filter(|(a, b)| a != b)
            .map(|(a, _)| a.0.as_str())
            .collect();
        assert!(
            differ.is_empty(),
            "{} ({key}) differs from the local build's: {differ:?}",
            names[key]
        );
    }
    // Nothing is stale afterwards: the farm's objects are the build's.
    let again = farm_build(farm, &env, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.made().is_empty(), "{:?}", again.made());
}

#[test]
fn a_generated_folder_built_on_the_farm_is_the_build_a_machine_makes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let voice = "engine = \"espeak\"\nlanguage = \"en\"";
    let (farm, local) = (scenes(20, voice, ""), scenes(20, voice, ""));
    farm_equals_local(&cluster, &farm, &local, 20, |_| false);
}

#[test]
fn the_demo_built_on_the_farm_is_the_build_a_machine_makes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let (farm, local) = (Folder::small_demo(), Folder::small_demo());
    let scenes = farm
        .read("projects/demo/project.toml")
        .matches("[[scene]]")
        .count()
        + std::fs::read_dir(farm.file("projects"))
            .unwrap()
            .map(|p| p.unwrap().path().join("project.toml"))
            .filter(|p| !p.ends_with("demo/project.toml"))
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| t.matches("[[scene]]").count())
            .sum::<usize>();
    // Piper's speech is not reproducible (its noise is random: two runs here differ), so
    // the local build is given the farm's; everything made from it must then be the same.
    let piper =
        |r: &serde_json::Value| r["spec"]["kind"] == "speech" && r["spec"]["engine"] != "espeak-ng";
    farm_equals_local(&cluster, &farm, &local, scenes, piper);
}

#[test]
fn a_models_clips_go_to_one_slurm_job_that_loads_it_once() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let folder = scenes(5, "engine = \"espeak\"\nlanguage = \"en\"", "");
    add_fixture_models(&folder);
    folder.edit(
        "Renderfile.toml",
        "lipsync = \"builtin\"",
        "lipsync = \"tiny-lipsync\"",
    );
    let env = farm_env(&cluster, &folder, "");
    let run = farm_build(&folder, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.file("report.json")).unwrap()).unwrap();
    let events = json["gpu_lane"].as_array().unwrap();
    // Per Slurm job of the model: how many jobs it ran, how many loads.
    let mut batches: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for e in events.iter().filter(|e| e["model"] == "tiny-lipsync") {
        let artifact = e["artifact"].as_str().unwrap();
        let id = artifact.split([' ', ':']).nth(2).unwrap().to_string();
        let entry = batches.entry(id).or_default();
        match e["event"].as_str().unwrap() {
            "start" => {
                let jobs = artifact
                    .split('(')
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap();
                entry.0 = jobs.parse().unwrap();
            }
            "load" => entry.1 += 1,
            _ => {}
        }
    }
    assert!(!batches.is_empty(), "{events:?}");
    let clips: usize = batches.values().map(|b| b.0).sum();
    assert_eq!(clips, 10, "{batches:?}");
    for (id, (jobs, loads)) in &batches {
        assert_eq!(*loads, 1, "Slurm job {id}: {batches:?}");
        assert!(*jobs >= 8, "Slurm job {id} ran {jobs} clips: {batches:?}");
    }
    assert_eq!(json["gpu_lane"].as_array().map(|_| ()), Some(()));
    assert!(run.stderr.contains("model load(s)"), "{}", run.stderr);
}

#[test]
fn a_gpu_program_past_its_time_limit_ends_timeout_and_the_other_scenes_finish() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // The twin's clips come from a `gpu = true` program that never finishes; its Slurm
    // time limit is a minute (the shortest Slurm has).
    let talker = "\n[engines.talker]\nstage = \"lipsync\"\nprogram = \"./talker\"\nargs = [\"{audio}\", \"{image}\", \"{out}\", \"{fps}\"]\ngpu = true\ntimeout = 600\n\n\
                  [avatars.twin]\nimage = \"avatars/astronaut.png\"\nlipsync = \"talker\"\n";
    let folder = scenes(3, "engine = \"espeak\"\nlanguage = \"en\"", talker);
    write_program(&folder.file("talker"), "#!/bin/sh\nexec sleep 600\n");
    let project = folder.read("projects/p/project.toml")
        + "[[scene]]\nname = \"twin\"\navatar = \"twin\"\nlines = [\"Too slow.\"]\n";
    folder.write("projects/p/project.toml", &project);
    let env = farm_env(&cluster, &folder, "\n[time]\ntalker = \"1\"\n");
    let start = Instant::now();
    let run = farm_build(&folder, &env, &["--keep-going"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot make clip p/twin:1") && run.stderr.contains("TIMEOUT"),
        "{}",
        run.stderr
    );
    assert!(start.elapsed() < Duration::from_secs(200));
    for scene in ["s01", "s02", "s03"] {
        assert!(
            folder.file(&format!("out/p/{scene}.mp4")).is_file(),
            "{scene}"
        );
    }
    assert!(!folder.file("out/p/twin.mp4").exists());
    assert_nothing_left(&cluster);
}

#[test]
fn a_crashed_nodes_jobs_run_again_on_the_other_node() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // Six scenes whose speech takes 5 s each: n1 is crashed while it runs some.
    let (folder, env) = fake_speech_farm(&cluster, 6, 5.0);
    let json = folder.file("report.json");
    let mut child = start_farm_build(&cluster, &folder, &env, &["--json", json.to_str().unwrap()]);
    let slurm = cluster.slurm();
    let start = Instant::now();
    wait_for(Duration::from_secs(60), "nothing ran on n1", || {
        let on_n1 = (slurm.unfinished("render-").unwrap().into_iter()).any(|(id, name, _)| {
            (slurm.queue(&name).unwrap().get(&id))
                .is_some_and(|s| s.state == State::Running && s.nodes == "n1")
        });
        on_n1.then_some(())
    });
    let out = cluster.tool(&["crash-node", "n1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left = Duration::from_secs(240).saturating_sub(start.elapsed());
    let status = wait_for(left, "the build hangs", || child.try_wait().unwrap());
    let stderr = std::fs::read_to_string(cluster.dir.path().join("build.err")).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("on n1 ended NODE_FAIL") && stderr.contains("running it again elsewhere"),
        "{stderr}"
    );
    assert!(stderr.contains("failed nodes: n1 (NODE_FAIL"), "{stderr}");
    assert_eq!(
        folder
            .out_files()
            .iter()
            .filter(|f| f.ends_with(".mp4"))
            .count(),
        6
    );
    // The history names the dead node.
    let history = std::fs::read_to_string(folder.file("cache/history.jsonl")).unwrap();
    let last = history.lines().last().unwrap();
    assert!(
        last.contains("\"node-fault\"") && last.contains("\"device\":\"n1\""),
        "{last}"
    );
    let out = cluster.tool(&["start-node", "n1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_node_without_an_engines_program_fails_its_job_naming_node_and_engine() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let folder = scenes(1, FAKE_SPEECH, FAKE_ENGINE);
    with_fake_speech(&folder, 0.0);
    // n1 has no `fake-tts` on its PATH (its own environment, as a real node has).
    std::fs::write(
        cluster.dir.path().join("nodes/n1/env"),
        "export PATH=/usr/local/bin:/usr/bin:/bin\n",
    )
    .unwrap();
    let env = farm_env(&cluster, &folder, "");
    let run = farm_build(&folder, &env, &["--keep-going"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("node n1 has no `fake-tts`, the program of engine `fake`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("n1 gets no more `fake` jobs in this build"),
        "{}",
        run.stderr
    );
    // The next build sends the engine's jobs elsewhere only when told: n1 still lacks it,
    // so the job fails again there — or runs on n2. Either way nothing was made from nothing.
    assert!(!folder.file("out/p/s01.mp4").exists());
}

#[test]
fn ctrl_c_cancels_every_slurm_job_of_the_build_and_the_next_build_resumes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let (folder, env) = fake_speech_farm(&cluster, 6, 3.0);
    let mut child = start_farm_build(&cluster, &folder, &env, &[]);
    // Once something is committed (and more is running), Ctrl-C.
    wait_for(Duration::from_secs(90), "nothing was made", || {
        (!folder.records().is_empty() && !unfinished(&cluster).is_empty()).then_some(())
    });
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = wait_for(Duration::from_secs(10), "no exit within 10 s", || {
        child.try_wait().unwrap()
    });
    let stderr = std::fs::read_to_string(cluster.dir.path().join("build.err")).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_nothing_left(&cluster);
    // The next build makes only what is missing.
    let committed: Vec<String> = (folder.records().into_iter())
        .map(|(_, r)| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!committed.is_empty());
    let run = farm_build(&folder, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for name in &committed {
        assert!(!run.made().contains(name), "{name} was made again");
    }
    assert!(!run.made().is_empty());
    assert_eq!(
        folder
            .out_files()
            .iter()
            .filter(|f| f.ends_with(".mp4"))
            .count(),
        6
    );
}

#[test]
fn a_killed_drivers_running_jobs_are_waited_for_not_made_again() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let folder = scenes(4, FAKE_SPEECH, FAKE_ENGINE);
    with_fake_speech(&folder, 6.0);
    // Each run of the speech program leaves a line: nothing may run twice.
    let runs = folder.file("runs.log");
    write_program(
        &folder.file("bin/fake-tts"),
        &format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nsleep 6\ncp '{}' \"$1\"\n",
            runs.display(),
            folder.file("tone.wav").display()
        ),
    );
    let env = farm_env(&cluster, &folder, "");
    let mut child = start_farm_build(&cluster, &folder, &env, &[]);
    // Once a speech program runs on a node, the driver is killed outright.
    wait_for(Duration::from_secs(60), "nothing ran", || {
        runs.exists().then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let left = unfinished(&cluster);
    assert!(
        !left.is_empty(),
        "the Slurm jobs go on without their driver"
    );
    let run = farm_build(&folder, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("of an earlier build")
            && run
                .stderr
                .contains("waiting for it rather than making them again"),
        "{}",
        run.stderr
    );
    let lines = std::fs::read_to_string(&runs).unwrap().lines().count();
    assert_eq!(lines, 8, "each line's speech is made once");
    assert_eq!(
        folder
            .out_files()
            .iter()
            .filter(|f| f.ends_with(".mp4"))
            .count(),
        4
    );
    assert_nothing_left(&cluster);
}

/// A recorded line of `seconds` of "speech": words of tone 0.35 s long, in sentences of
/// four with 0.7 s of silence between them (where a long line is cut).
fn spoken_wav(path: &Path, seconds: f64) {
    let rate = 16_000u32;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let (mut written, total) = (0usize, (seconds * rate as f64) as usize);
    let put = |writer: &mut hound::WavWriter<_>, n: usize, pitch: f64| {
        for i in 0..n {
            let t = i as f64 / rate as f64;
            let v = if pitch > 0.0 {
                (t * pitch * std::f64::consts::TAU).sin() * 0.3 * 32767.0
            } else {
                0.0
            };
            writer.write_sample(v as i16).unwrap();
        }
        n
    };
    while written < total {
        for _ in 0..4 {
            written += put(&mut writer, (0.35 * rate as f64) as usize, 200.0);
            written += put(&mut writer, (0.08 * rate as f64) as usize, 0.0);
        }
        written += put(&mut writer, (0.7 * rate as f64) as usize, 0.0);
    }
    writer.finalize().unwrap();
}

#[test]
fn a_long_lines_speech_and_cuts_are_made_on_the_farm_too() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let folder = Folder::with_portrait();
    folder.write(
        "Renderfile.toml",
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [96, 54]\nvoice = \"host\"\navatar = \"astronaut\"\n\n\
         [voices.host]\nengine = \"espeak\"\n\n[avatars.astronaut]\nimage = \"avatars/astronaut.png\"\nlipsync = \"talker\"\n\n\
         [engines.talker]\nstage = \"lipsync\"\nprogram = \"./fake-lipsync\"\nargs = [\"{image}\", \"{frames}\", \"{fps}\", \"{out}\"]\nmax_seconds = 4\n",
    );
    write_program(
        &folder.file("fake-lipsync"),
        "#!/bin/sh\nexec ffmpeg -v error -loop 1 -i \"$1\" -frames:v \"$2\" -r \"$3\" -vf scale=64:64 -pix_fmt yuv420p \"$4\"\n",
    );
    folder.write(
        "projects/p/project.toml",
        "[[scene]]\nname = \"long\"\nlines = [{ audio = \"projects/p/talk.wav\" }]\n",
    );
    spoken_wav(&folder.file("projects/p/talk.wav"), 9.0);
    let env = farm_env(&cluster, &folder, "");
    let run = farm_build(&folder, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The first round (the line's speech and cuts) ran on the nodes, not here.
    let kinds: std::collections::BTreeMap<String, String> = (folder.records().into_iter())
        .map(|(_, r)| {
            let kind = r["spec"]["kind"].as_str().unwrap().to_string();
            (kind, r["host"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    for kind in ["speech", "cuts", "segment", "scene"] {
        let host = kinds
            .get(kind)
            .unwrap_or_else(|| panic!("no {kind}: {kinds:?}"));
        assert!(
            ["n1", "n2"].contains(&host.as_str()),
            "{kind} made on {host}"
        );
    }
    let farm = std::fs::read_dir(folder.file("cache/farm")).unwrap();
    let build = farm.map(|e| e.unwrap().path()).next().unwrap();
    assert!(build.join("cuts/1.sh").is_file(), "{:?}", build);
    assert!(build.join("ended").is_file(), "{:?}", build);
    assert_nothing_left(&cluster);
}

#[test]
fn each_node_runs_an_engine_from_its_own_engines_file() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let folder = scenes(2, FAKE_SPEECH, "");
    std::fs::create_dir_all(folder.file("ran")).unwrap();
    // The same engine, its program at another path on each machine: each copy marks that
    // it ran, and speaks for a length of its own (the driver's copy must never run).
    let length = |who: &str| match who {
        "n1" => 0.6,
        "n2" => 0.9,
        _ => 1.2,
    };
    let engines = |who: &str| {
        let tone = folder.file(&format!("{who}.wav"));
        std::fs::write(&tone, tone_wav(16_000, length(who))).unwrap();
        let program = folder.file(&format!("{who}-bin/fake-tts"));
        std::fs::create_dir_all(program.parent().unwrap()).unwrap();
        write_program(
            &program,
            &format!(
                "#!/bin/sh\ntouch '{}/{who}-'$$\ncp '{}' \"$1\"\n",
                folder.file("ran").display(),
                tone.display()
            ),
        );
        let file = cluster.dir.path().join(format!("{who}-engines.toml"));
        std::fs::write(
            &file,
            format!(
                "[engines.fake]\nstage = \"speech\"\nprogram = \"{}\"\nargs = [\"{{out}}\"]\n",
                program.display()
            ),
        )
        .unwrap();
        file
    };
    let here = engines("driver");
    for node in ["n1", "n2"] {
        let file = engines(node);
        std::fs::write(
            cluster.dir.path().join(format!("nodes/{node}/env")),
            format!("export RENDER_ENGINES={}\n", file.display()),
        )
        .unwrap();
    }
    let mut env = farm_env(&cluster, &folder, "");
    env.push(("RENDER_ENGINES".into(), here.display().to_string()));
    let run = farm_build(&folder, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ran: Vec<String> = std::fs::read_dir(folder.file("ran"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(ran.len(), 4, "{ran:?}");
    assert!(ran.iter().all(|r| !r.starts_with("driver")), "{ran:?}");
    // Each line's speech is as long as its node's program made it.
    let mut speeches = 0;
    for (dir, record) in folder.records() {
        if record["spec"]["kind"] != "speech" {
            continue;
        }
        speeches += 1;
        let host = record["host"].as_str().unwrap();
        let wav = (record["outputs"].as_array().unwrap().iter())
            .map(|o| o["file"].as_str().unwrap())
            .find(|f| f.ends_with(".wav"))
            .unwrap();
        let reader = hound::WavReader::open(dir.join(wav)).unwrap();
        let seconds = reader.duration() as f64 / reader.spec().sample_rate as f64;
        assert!(
            (seconds - length(host)).abs() < 0.1,
            "the speech made on {host} lasts {seconds} s, not its program's {} s",
            length(host)
        );
    }
    assert_eq!(speeches, 4);
}

/// Per Slurm job of `model` in the build's report: how many jobs it ran, and its node.
/// `render plan --farm slurm`: how many jobs each planned Slurm job of GPU group `group`
/// holds.
fn planned_gpu_jobs(folder: &Folder, env: &[(String, String)], group: &str) -> Vec<usize> {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = folder.render_with_env(&["plan", "--farm", "slurm"], &env, Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    (run.stdout.lines())
        .filter(|line| line.trim_start().starts_with("round "))
        .filter(|line| line.contains(&format!(": gpu: {group}: ")))
        .map(|line| line.rsplit(": ").next().unwrap().split(", ").count())
        .collect()
}

fn slurm_jobs_of(folder: &Folder, model: &str) -> Vec<(usize, String)> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.file("report.json")).unwrap()).unwrap();
    let events = json["gpu_lane"].as_array().unwrap();
    (events.iter())
        .filter(|e| e["model"] == model && e["event"] == "start")
        .map(|e| {
            let artifact = e["artifact"].as_str().unwrap();
            let jobs = artifact.split('(').nth(1).unwrap().split(' ').next();
            let node = e["device"].as_str().unwrap_or_default().to_string();
            (jobs.unwrap().parse().unwrap(), node)
        })
        .collect()
}

#[test]
fn a_gpu_groups_batches_are_sized_from_the_history_and_shared_by_the_nodes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let engine = "\n[engines.slow]\nstage = \"lipsync\"\nprogram = \"./fake-lipsync\"\ngpu = true\nversion = \"1\"\nargs = [\"{image}\", \"{frames}\", \"{fps}\", \"{out}\"]\n";
    let folder = scenes(5, "engine = \"espeak\"\nlanguage = \"en\"", engine);
    folder.edit(
        "Renderfile.toml",
        "lipsync = \"builtin\"",
        "lipsync = \"slow\"",
    );
    write_program(
        &folder.file("fake-lipsync"),
        "#!/bin/sh\nsleep 1\nexec ffmpeg -v error -loop 1 -i \"$1\" -frames:v \"$2\" -r \"$3\" -vf scale=64:64 -pix_fmt yuv420p \"$4\"\n",
    );
    // A Slurm job of this engine's jobs should hold about 3 s of work.
    let env = farm_env(&cluster, &folder, "batch_seconds = 3\n");
    assert_eq!(
        planned_gpu_jobs(&folder, &env, "slow"),
        [10],
        "no history: one part"
    );
    let run = farm_build(&folder, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // No history yet: the default batch, 8, so the 10 clips go together.
    let first = slurm_jobs_of(&folder, "slow");
    assert_eq!(first.iter().map(|j| j.0).sum::<usize>(), 10, "{first:?}");
    assert!(first.iter().all(|j| j.0 >= 8), "{first:?}");

    // The same clips again (a new version of the engine): the history says a clip takes
    // a second or more, so 3 s of work is 2 or 3 clips, and the 10 go in parts that both
    // nodes run.
    folder.edit("Renderfile.toml", "version = \"1\"", "version = \"2\"");
    // `plan --farm slurm` shows the parts the build is about to make.
    let planned = planned_gpu_jobs(&folder, &env, "slow");
    assert_eq!(planned.iter().sum::<usize>(), 10, "{planned:?}");
    assert!(planned.len() >= 3, "{planned:?}");
    assert!(planned.iter().all(|n| (1..=4).contains(n)), "{planned:?}");
    let run = farm_build(&folder, &env, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let second = slurm_jobs_of(&folder, "slow");
    assert_eq!(second.iter().map(|j| j.0).sum::<usize>(), 10, "{second:?}");
    assert!(second.len() >= 3, "{second:?}");
    assert!(second.iter().all(|j| (1..=4).contains(&j.0)), "{second:?}");
    let nodes: std::collections::BTreeSet<&str> = second.iter().map(|j| j.1.as_str()).collect();
    assert_eq!(nodes, ["n1", "n2"].into(), "{second:?}");
}

#[test]
fn one_spec_made_on_both_nodes_at_once_is_one_verified_object() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let folder = scenes(1, FAKE_SPEECH, FAKE_ENGINE);
    // Long enough that both nodes are making it at the same moment.
    with_fake_speech(&folder, 2.0);
    let env = farm_env(&cluster, &folder, "");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let plan = folder.render_with_env(
        &["plan", "--write-jobs", "jobs"],
        &env,
        Duration::from_secs(60),
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let spec = std::fs::read_dir(folder.file("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-speech.json"))
        .min()
        .unwrap();
    let slurm = cluster.slurm();
    let logs = folder.file("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // The nodes find `fake-tts` on the PATH the build would give them.
    let path = env.iter().find(|(k, _)| *k == "PATH").unwrap().1;
    let mut command = vec!["env".to_string(), format!("PATH={path}")];
    command.extend(render_words(&[
        "run-job".into(),
        spec.display().to_string(),
    ]));
    let ids: Vec<JobId> = ["n1", "n2"]
        .iter()
        .enumerate()
        .map(|(n, node)| {
            let mut job = submission("render-race", &logs, n, command.clone(), &["-w", node]);
            job.dir = folder.path().to_path_buf();
            slurm.submit(&job).unwrap()
        })
        .collect();
    let ended = wait_all(&slurm, "render-race", &ids, Duration::from_secs(60));
    for (n, status) in ended.iter().enumerate() {
        let stderr = std::fs::read_to_string(logs.join(format!("{n}.err"))).unwrap();
        assert_eq!(status.state, State::Completed, "{stderr}");
        assert!(
            stderr.starts_with("made speech ") || stderr.ends_with("is already in the cache\n"),
            "{stderr}"
        );
    }
    let speech: Vec<_> = (folder.records().into_iter())
        .filter(|(_, r)| r["spec"]["kind"] == "speech")
        .collect();
    assert_eq!(speech.len(), 1);
    let host = speech[0].1["host"].as_str().unwrap();
    assert!(["n1", "n2"].contains(&host), "{host}");
    assert_eq!(folder.verify_cache(), 1);
}

/// The CPU Slurm jobs `render build --dry-run --farm slurm ARGS` shows in its first round:
/// each one's job names.
fn planned_first_cpu_jobs(folder: &Folder, env: &[(&str, &str)], args: &[&str]) -> Vec<usize> {
    let mut full = vec!["build", "--dry-run", "--farm", "slurm"];
    full.extend(args);
    let run = folder.render_with_env(&full, env, Duration::from_secs(60));
    assert_eq!(run.code, 0, "{}", run.stderr);
    (run.stdout.lines())
        .filter_map(|l| l.trim().strip_prefix("round 1: cpu: scene: "))
        .map(|names| names.split(", ").count())
        .collect()
}

#[test]
fn plan_farm_slurm_joins_short_scenes_cpu_jobs_as_the_build_does() {
    // No cluster: the plan reads only the folder, its history and the farm file.
    let folder = scenes(4, "engine = \"espeak\"\nlanguage = \"en\"", "");
    let farm = folder.file("farm.toml");
    std::fs::write(&farm, "[cpu]\nbatch_seconds = 1000\n").unwrap();
    let env = [("RENDER_FARM", farm.to_str().unwrap())];
    // No history: no scene is known to be short, so each scene's first jobs (its two
    // lines' speech) are one Slurm job.
    let before = planned_first_cpu_jobs(&folder, &env, &[]);
    assert_eq!(before.len(), 4, "{before:?}");
    let run = folder.render(&["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // With the history's times (well under `batch_seconds`), consecutive scenes' go in
    // one, as the build joins them (a GPU group's Slurm job between two scenes' ends a
    // join there, as in the build).
    let after = planned_first_cpu_jobs(&folder, &env, &["--force"]);
    assert!(after.len() < before.len(), "{before:?} then {after:?}");
    assert_eq!(after.iter().sum::<usize>(), before.iter().sum::<usize>());
}
