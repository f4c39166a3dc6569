//! The farm's overhead on a real Slurm cluster: the local two-node one
//! (`tools/slurm/cluster`, started in a temporary folder and stopped at the end). Jobs are
//! fakes of a fixed cost (`sleep`: wall time, not CPU, so two nodes on one host can show
//! their ratio), run through render's Slurm client (`src/slurm.rs`): submitted with
//! `sbatch`, seen ended by `squeue` polled every 0.1 s.
//!
//! - **Per job, single:** one Slurm job per unit of work, one after another; the overhead
//!   is submission to seen ended, minus the job's own time.
//! - **Per job, batched:** `SLURM_BENCH_BATCH` units in one Slurm job; the overhead is the
//!   batch's, shared by its units.
//! - **Makespan, 1 vs 2 nodes:** `SLURM_BENCH_WIDE` jobs submitted at once, all on n1,
//!   then free to use n1 and n2 (each node runs two one-CPU jobs at once).
//! - **A real `render build --farm slurm`:** `SLURM_BENCH_WIDE` one-line scenes whose
//!   speech (a fake program) takes the unit's cost, against the same folder built here with
//!   `--jobs 4` (the farm's four slots): the farm's makespan and its ratio to the local one.
//!
//! Run: `cargo bench --bench slurm` (`SLURM_BENCH_COST` seconds a unit, default 10;
//! `SLURM_BENCH_RUNS`, default 3; `SLURM_BENCH_BATCH`, default 4; `SLURM_BENCH_WIDE`,
//! default 8). Needs root and the Slurm packages (`tools/setup`); says so and stops without
//! them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use render::slurm::{JobId, Slurm, Submission};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Cluster(PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tools/slurm/cluster"))
            .arg("stop")
            .arg(&self.0)
            .output();
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    let cost: f64 = env_or("SLURM_BENCH_COST", 10.0);
    let runs: usize = env_or("SLURM_BENCH_RUNS", 3);
    let batch: usize = env_or("SLURM_BENCH_BATCH", 4);
    let wide: usize = env_or("SLURM_BENCH_WIDE", 8);
    if !Path::new("/usr/sbin/slurmctld").exists() {
        println!("slurm: skipped, the Slurm packages are not installed (tools/setup)");
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("render-slurm-bench-")
        .tempdir_in("/tmp")
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("cluster");
    let out = Command::new(repo().join("tools/slurm/cluster"))
        .arg("start")
        .arg(&dir)
        .output()
        .unwrap();
    let _cluster = Cluster(dir.clone());
    assert!(
        out.status.success(),
        "cluster start:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let slurm = Slurm {
        conf: Some(dir.join("slurm.conf")),
        ..Slurm::default()
    };
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut n = 0;
    let mut submit = |seconds: f64, options: &[&str]| -> JobId {
        n += 1;
        let job = Submission {
            name: "render-bench".into(),
            command: vec!["/bin/sleep".into(), format!("{seconds}")],
            options: options.iter().map(|o| o.to_string()).collect(),
            script: logs.join(format!("{n}.sh")),
            stdout: logs.join(format!("{n}.out")),
            stderr: logs.join(format!("{n}.err")),
            dir: logs.clone(),
        };
        slurm.submit(&job).unwrap()
    };
    // Until every one of `ids` is seen ended (COMPLETED), polling every 0.1 s.
    let wait = |ids: &[JobId]| loop {
        let queue = slurm.queue("render-bench").unwrap();
        let ended = ids
            .iter()
            .all(|id| queue.get(id).is_some_and(|s| s.state.is_final()));
        if ended {
            for id in ids {
                assert_eq!(queue[id].state, render::slurm::State::Completed, "job {id}");
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    };

    let mut single = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let id = submit(cost, &["--nodelist=n1"]);
        wait(&[id]);
        single.push(start.elapsed().as_secs_f64() - cost);
    }
    let mut batched = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let id = submit(cost * batch as f64, &["--nodelist=n1"]);
        wait(&[id]);
        batched.push((start.elapsed().as_secs_f64() - cost * batch as f64) / batch as f64);
    }
    let makespan = |options: &[&str], submit: &mut dyn FnMut(f64, &[&str]) -> JobId| {
        let start = Instant::now();
        let ids: Vec<JobId> = (0..wide).map(|_| submit(cost, options)).collect();
        wait(&ids);
        start.elapsed().as_secs_f64()
    };
    let one = makespan(&["--nodelist=n1"], &mut submit);
    let two = makespan(&[], &mut submit);

    let (farm, local) = (
        build_wide(tmp.path(), &dir, wide, cost, true),
        build_wide(tmp.path(), &dir, wide, cost, false),
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (single, batched) = (median(single), median(batched));
    println!("slurm: the local two-node cluster, jobs of {cost} s (sleep), {runs} run(s), medians");
    println!(
        "{:<28} {:>10} {:>12}",
        "per-job overhead", "seconds", "of job time"
    );
    println!(
        "{:<28} {:>10.2} {:>11.1}%",
        "single (1 unit a job)",
        single,
        100.0 * single / cost
    );
    println!(
        "{:<28} {:>10.2} {:>11.1}%",
        format!("batched ({batch} units a job)"),
        batched,
        100.0 * batched / cost
    );
    println!(
        "makespan of {wide} jobs: 1 node {one:.1} s, 2 nodes {two:.1} s, ratio {:.2}× (ideal {:.2}×)",
        one / two,
        2.0
    );
    println!(
        "render build of {wide} scenes ({cost} s of speech each): --farm slurm {farm:.1} s, here with --jobs 4 {local:.1} s, ratio {:.2}×",
        farm / local
    );
}

/// Builds a folder of `wide` one-line scenes whose speech takes `cost` s (a fake program
/// that sleeps), on the farm or here; its makespan.
fn build_wide(tmp: &Path, cluster: &Path, wide: usize, cost: f64, on_farm: bool) -> f64 {
    let folder = tmp.join(if on_farm { "farm" } else { "local" });
    std::fs::create_dir_all(folder.join("avatars")).unwrap();
    std::fs::create_dir_all(folder.join("projects/p")).unwrap();
    std::fs::copy(
        repo().join("avatars/astronaut.png"),
        folder.join("avatars/astronaut.png"),
    )
    .unwrap();
    let tts = folder.join("tts");
    std::fs::write(
        &tts,
        format!("#!/bin/sh\nsleep {cost}\nexec espeak-ng -w \"$2\" \"$1\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tts, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        folder.join("Renderfile.toml"),
        "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [96, 54]\nvoice = \"host\"\navatar = \"astronaut\"\n\n\
         [voices.host]\nengine = \"slow\"\n\n[engines.slow]\nstage = \"speech\"\nprogram = \"./tts\"\nargs = [\"{text}\", \"{out}\"]\n\n\
         [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\nlipsync = \"builtin\"\n",
    )
    .unwrap();
    let project: String = (1..=wide)
        .map(|i| format!("[[scene]]\nname = \"s{i}\"\nlines = [\"Scene number {i}.\"]\n\n"))
        .collect();
    std::fs::write(folder.join("projects/p/project.toml"), project).unwrap();
    let farm_file = tmp.join("farm.toml");
    std::fs::write(
        &farm_file,
        "[cpu]\nmemory = \"1G\"\n\n[gpu]\npartition = \"gpu\"\noptions = []\nmemory = \"2G\"\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_render"));
    command
        .arg("build")
        .current_dir(&folder)
        .env("SLURM_CONF", cluster.join("slurm.conf"))
        .env("RENDER_FARM", &farm_file)
        .env("XDG_CONFIG_HOME", folder.join(".config"));
    if on_farm {
        command.args(["--farm", "slurm"]);
    } else {
        command.args(["--jobs", "4"]);
    }
    let start = Instant::now();
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed().as_secs_f64()
}
