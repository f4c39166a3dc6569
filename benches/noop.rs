//! The no-op build against ninja: how much a `render build` that has nothing to make costs,
//! in time, memory and per artifact, next to `ninja` on an equivalent build.ninja.
//!
//! Run with `cargo bench --bench noop` (`NOOP_RUNS=N` sets the repetitions, default 10;
//! `NOOP_SIZES=1000,10000` the generated folders' script lines; `NOOP_KEEP=1` keeps the
//! folders, e.g. to profile a no-op). Every figure is whole
//! processes, repeated; the table gives the median and the minimum wall time, the median
//! CPU time, and the peak RSS from `wait4` (setup runs in child processes, so the bench
//! itself stays small: a forked child's peak RSS starts at its parent's).
//!
//! The folders:
//! - the repository's demo (2 scenes, 9 lines), built for real once;
//! - generated folders of 1,000 and 10,000 script lines (10 lines a scene, 10 projects,
//!   64×64 frames at 5 fps, the demo's avatar and voices).
//!
//! Making 10,000 real lines takes hours here, so the generated folders' caches are made
//! complete without rendering: the bench loads each folder with render's own manifest
//! loader, builds render's own graph with its keys, and commits a placeholder object for
//! every node through render's own cache module (a record holding the node's real key
//! spec, and a placeholder main output). Then it runs a real `render build` once, which
//! finds everything present, publishes the scenes and writes its state. The timed no-ops
//! therefore walk exactly what a no-op after a real build walks; only the bytes of the
//! videos are placeholders, and a no-op never reads them.
//!
//! A build that published something writes no no-op stamp (`noop_stamp.rs`), so before
//! the timed runs plain no-ops run until one leaves its stamp unchanged (a file younger
//! than the stamp's 2 s racy window is never vouched for): the rows `no-op build` time the
//! stamped no-op, the rows `no-op, no stamp` the full one, the stamp removed before each
//! run (it loads the folder, builds the graph, checks each object and writes the stamp).
//!
//! The row `render report` times the page every build ends with, written alone (the
//! no-op rows include it).
//!
//! The equivalent build.ninja has one edge per artifact with the same inputs as render's
//! graph (speech ← the file holding its text, face track ← the avatar image, clip ← its
//! speech, the face track and the avatar, scene ← its clips and speeches); each edge
//! `touch`es its output.
//! ninja runs once to make it up to date, then its no-op is timed.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use render::cache::Cache;
use render::graph::Graph;
use render::key::ArtifactKind;
use render::sources::SourceHashes;

use common::{copy_tree, device, fill_cache, generate};

fn main() {
    common::use_repo_models(Path::new(env!("CARGO_MANIFEST_DIR")));
    // The heavy setup runs in a child (see `in_child`): asked to, this process is that child.
    if let Some(dir) = std::env::var_os(FILL) {
        println!("{}", fill_cache(Path::new(&dir)));
        return;
    }
    if let Some(dir) = std::env::var_os(CHECK_COST) {
        println!("{}", check_cost(Path::new(&dir), env_or("NOOP_RUNS", 10)));
        return;
    }
    if let (Some(dir), Some(ninja_dir)) = (std::env::var_os(NINJA), std::env::var_os(NINJA_DIR)) {
        println!("{}", write_ninja(Path::new(&dir), Path::new(&ninja_dir)));
        return;
    }
    let runs: usize = env_or("NOOP_RUNS", 10);
    let sizes: Vec<usize> = std::env::var("NOOP_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000]);
    let render = render_binary();
    let ninja = which("ninja");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::Builder::new()
        .prefix("render-noop-")
        .tempdir()
        .expect("temp dir");
    eprintln!("render: {}", render.display());
    match &ninja {
        Some(ninja) => eprintln!("ninja:  {}", ninja.display()),
        None => eprintln!("ninja:  not found (apt-get install ninja-build); render's figures only"),
    }

    let mut folders = Vec::new();
    let demo = tmp.path().join("demo");
    for part in ["Renderfile.toml", "projects", "avatars"] {
        copy_tree(&repo.join(part), &demo.join(part));
    }
    // The narrator's engine (Piper) lives in the repository's .venv-piper (tools/setup).
    std::os::unix::fs::symlink(repo.join(".venv-piper"), demo.join(".venv-piper")).unwrap();
    let started = Instant::now();
    check(
        Command::new(&render).arg("build").arg(&demo),
        "the demo's real build",
    );
    eprintln!(
        "demo: real build in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    folders.push(("demo".to_string(), demo));
    for &lines in &sizes {
        let dir = tmp.path().join(format!("lines-{lines}"));
        let started = Instant::now();
        generate(&dir, repo, lines);
        let placed = in_child(&[(FILL, &dir)]);
        check(
            Command::new(&render).arg("build").arg(&dir),
            "the first build",
        );
        eprintln!(
            "{lines} lines: generated, {placed} placeholder objects, first build in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        folders.push((format!("{lines} lines"), dir));
    }

    let mut rows = Vec::new();
    let mut checks = Vec::new();
    rows.push(Row::measure(
        "--version",
        None,
        runs,
        || {
            let mut c = Command::new(&render);
            c.arg("--version");
            c
        },
        None::<fn() -> Command>,
        ninja.as_ref().map(|ninja| {
            let ninja = ninja.clone();
            move || {
                let mut c = Command::new(&ninja);
                c.arg("--version");
                c
            }
        }),
    ));
    for (name, dir) in &folders {
        let artifacts = up_to_date(&render, dir);
        let ninja_dir = dir.with_extension("ninja");
        let edges = ninja.as_ref().map(|ninja| {
            let edges = in_child(&[(NINJA, dir), (NINJA_DIR, &ninja_dir)]);
            let started = Instant::now();
            check(
                Command::new(ninja).arg("-C").arg(&ninja_dir),
                "ninja's first build",
            );
            eprintln!(
                "{name}: build.ninja of {edges} edges made up to date in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            assert_eq!(edges, artifacts, "one edge per artifact");
            ninja.clone()
        });
        // The no-op that writes the stamp the timed ones use (`noop_stamp.rs`); files younger
        // than its racy window are checked again, so it is written once they are older.
        stamp_written(&render, dir);
        let state = state_stamps(dir);
        let mut row = Row::measure(
            &format!("no-op build, {name}"),
            Some(artifacts),
            runs,
            || {
                let mut c = Command::new(&render);
                c.arg("build").arg(dir);
                c
            },
            Some(|| {
                let mut c = Command::new(&render);
                c.arg("--version");
                c
            }),
            edges.map(|ninja| {
                let ninja_dir = ninja_dir.clone();
                move || {
                    let mut c = Command::new(&ninja);
                    c.arg("-C").arg(&ninja_dir);
                    c
                }
            }),
        );
        row.state_rewritten = state != state_stamps(dir);
        assert_eq!(up_to_date(&render, dir), artifacts);
        rows.push(row);
        // The same no-op without its stamp (removed before each run): the full path, which
        // loads the folder, builds the graph, checks each object and writes the stamp again.
        let stamp = std::ffi::CString::new(
            dir.join("cache/state/noop")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        rows.push(Row::measure(
            &format!("no-op, no stamp, {name}"),
            Some(artifacts),
            runs,
            || {
                let mut c = Command::new(&render);
                c.arg("build").arg(dir);
                let stamp = stamp.clone();
                // In the child, before render starts: only an unlink(2), async-signal-safe.
                unsafe {
                    std::os::unix::process::CommandExt::pre_exec(&mut c, move || {
                        libc::unlink(stamp.as_ptr());
                        Ok(())
                    });
                }
                c
            },
            Some(|| {
                let mut c = Command::new(&render);
                c.arg("--version");
                c
            }),
            ninja.clone().map(|ninja| {
                let ninja_dir = ninja_dir.clone();
                move || {
                    let mut c = Command::new(&ninja);
                    c.arg("-C").arg(&ninja_dir);
                    c
                }
            }),
        ));
        // What the report costs a no-op: every build ends by writing out/report.html, and
        // `render report` writes the same page alone (declarations, history, scene.json).
        rows.push(Row::measure(
            &format!("render report, {name}"),
            Some(artifacts),
            runs,
            || {
                let mut c = Command::new(&render);
                c.arg("report").arg(dir);
                c
            },
            None::<fn() -> Command>,
            None::<fn() -> Command>,
        ));
        // The same no-op re-hashing every object behind the scenes, against the plain no-op.
        rows.push(Row::measure(
            &format!("no-op build --verify, {name}"),
            Some(artifacts),
            runs,
            || {
                let mut c = Command::new(&render);
                c.arg("build").arg("--verify").arg(dir);
                c
            },
            None::<fn() -> Command>,
            None::<fn() -> Command>,
        ));
        checks.push((name.clone(), in_child_line(&[(CHECK_COST, dir)])));
    }
    print!("{}", table(&rows, runs));
    println!();
    println!("The cache's own checks on a no-op (in one process, median of {runs}):");
    for (name, line) in &checks {
        println!("  {name}: {line}");
    }
    if std::env::var_os("NOOP_KEEP").is_some() {
        eprintln!("kept the folders in {}", tmp.keep().display());
    }
}

const FILL: &str = "NOOP_CHILD_FILL_CACHE";
const CHECK_COST: &str = "NOOP_CHILD_CHECK_COST";
const NINJA: &str = "NOOP_CHILD_WRITE_NINJA";
const NINJA_DIR: &str = "NOOP_CHILD_NINJA_DIR";

/// Runs this bench again as a child that does one piece of setup and prints a count. Setup
/// holds a whole graph in memory, and Linux starts a forked child's peak RSS at its
/// parent's: done here, it would inflate every figure measured after it.
fn in_child(env: &[(&str, &Path)]) -> usize {
    let output = Command::new(std::env::current_exe().expect("the bench's own path"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .stderr(Stdio::inherit())
        .output()
        .expect("the bench starts itself");
    assert!(output.status.success(), "setup in a child failed");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("the child prints a count")
}

/// [`in_child`] for a child that prints a line of text.
fn in_child_line(env: &[(&str, &Path)]) -> String {
    let output = Command::new(std::env::current_exe().expect("the bench's own path"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .stderr(Stdio::inherit())
        .output()
        .expect("the bench starts itself");
    assert!(output.status.success(), "a child failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Times deciding what is stale on an up-to-date `dir` three ways, in this process: the
/// walk trusting that a record's presence means a whole object (render before the cheap
/// check: one stat per needed object), the walk with the cheap check (what every build
/// does), and `--verify` (every object re-hashed).
fn check_cost(dir: &Path, runs: usize) -> String {
    let manifest = render::manifest::load(dir).unwrap().manifest;
    let cache = Cache::new(&manifest.root);
    let hashes = SourceHashes::load(&cache.state_dir().join("sources.json"));
    let graph = Graph::from_manifest(&manifest, &hashes, device(&manifest)).unwrap();
    let median = |f: &dyn Fn() -> usize| {
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                assert_eq!(f(), 0, "the folder is up to date");
                started.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let scenes = graph.nodes.iter().filter(|n| !n.publish.is_empty()).count();
    let trusting = median(&|| {
        (graph.nodes.iter())
            .filter(|n| !n.publish.is_empty() && !cache.has(&n.key()))
            .count()
    });
    let cheap = median(&|| graph.stale(false).make.iter().filter(|m| **m).count());
    let verify = median(&|| graph.stale(true).make.iter().filter(|m| **m).count());
    let bytes: u64 = (graph.nodes.iter())
        .filter_map(|n| cache.record(&n.key()))
        .flat_map(|r| r.outputs)
        .map(|o| o.bytes)
        .sum();
    format!(
        "record present only {:.2} ms; cheap check of the {scenes} objects a no-op reuses {:.2} ms \
         (+{:.2} ms, {:.1} µs an object); --verify of all {} objects ({:.0} MiB) {:.0} ms ({:.0}× the cheap walk)",
        trusting * 1e3,
        cheap * 1e3,
        (cheap - trusting) * 1e3,
        (cheap - trusting) * 1e6 / scenes as f64,
        graph.nodes.len(),
        bytes as f64 / (1 << 20) as f64,
        verify * 1e3,
        verify / cheap
    )
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The release `render` cargo built for this bench (it sits next to the bench's folder).
fn render_binary() -> PathBuf {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_render"));
    if built.is_file() {
        return built;
    }
    let exe = std::env::current_exe().expect("bench path");
    let next = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("render"));
    next.filter(|p| p.is_file())
        .expect("build render first: cargo build --release")
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn check(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts `render plan` finds nothing to make; returns the number of artifacts.
fn up_to_date(render: &Path, dir: &Path) -> usize {
    let output = Command::new(render).arg("plan").arg(dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .strip_prefix("up to date (")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not up to date:\n{stdout}"))
}

/// Writes `<ninja_dir>/build.ninja`: one edge per node of render's graph of `dir`, with the
/// same inputs. Returns the number of edges.
fn write_ninja(dir: &Path, ninja_dir: &Path) -> usize {
    let manifest = render::manifest::load(dir).unwrap().manifest;
    let hashes = SourceHashes::default();
    let graph = Graph::from_manifest(&manifest, &hashes, device(&manifest)).unwrap();
    let root = &manifest.root;
    let output = |i: usize| -> String {
        let node = &graph.nodes[i];
        let name = node.name().replace([' ', ':'], "/");
        format!(
            "obj/{name}.{}",
            render::stage::main_output(node.kind())
                .rsplit('.')
                .next()
                .unwrap()
        )
    };
    // Where a scene's lines are written: its script, else its project.toml.
    let mut text_of: BTreeMap<String, PathBuf> = BTreeMap::new();
    for project in &manifest.projects {
        for scene in &project.scenes {
            let script = root.join(format!("projects/{}/{}.txt", project.name, scene.name));
            let file = if script.is_file() {
                script
            } else {
                root.join(format!("projects/{}/project.toml", project.name))
            };
            text_of.insert(format!("{}/{}", project.name, scene.name), file);
        }
    }
    let mut text = String::from("rule touch\n  command = touch $out\n\n");
    for (i, node) in graph.nodes.iter().enumerate() {
        let mut inputs: Vec<String> = node.deps.iter().map(|&d| output(d)).collect();
        for source in node.spec().sources.values() {
            inputs.push(root.join(&source.path).display().to_string());
        }
        if node.kind() == ArtifactKind::Speech {
            let at = node.name().trim_start_matches("speech ");
            let scene = at.rsplit_once(':').map_or(at, |(scene, _)| scene);
            inputs.push(text_of[scene].display().to_string());
        }
        writeln!(text, "build {}: touch {}", output(i), inputs.join(" ")).unwrap();
    }
    std::fs::create_dir_all(ninja_dir).unwrap();
    std::fs::write(ninja_dir.join("build.ninja"), text).unwrap();
    graph.nodes.len()
}

/// (path, mtime, inode) of every file under `cache/state/`: a no-op should change none.
/// Runs plain no-ops until one leaves the stamp as it found it (the stamp of a no-op whose
/// files were all older than the racy window), waiting out the window between tries.
fn stamp_written(render: &Path, dir: &Path) {
    use std::os::unix::fs::MetadataExt;
    let stamp = || {
        let meta = std::fs::metadata(dir.join("cache/state/noop")).ok()?;
        Some((meta.ino(), meta.mtime(), meta.mtime_nsec()))
    };
    for _ in 0..3 {
        check(Command::new(render).arg("build").arg(dir), "a no-op");
        let written = stamp();
        check(Command::new(render).arg("build").arg(dir), "a no-op");
        if written.is_some() && stamp() == written {
            return;
        }
        std::thread::sleep(Duration::from_millis(2_100));
    }
    panic!("no no-op of {} kept its stamp", dir.display());
}

fn state_stamps(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut stamps: Vec<_> = std::fs::read_dir(dir.join("cache/state"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            (e.path(), meta.modified().unwrap(), meta.ino())
        })
        .collect();
    stamps.sort();
    stamps
}

/// One process run: wall time, CPU time (user + system) and peak RSS.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    rss_kib: u64,
}

// The child is reaped by `wait4`, which std's `wait` does not offer.
#[allow(clippy::zombie_processes)]
fn run_once(mut command: Command) -> Sample {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let child = command.spawn().expect("spawn");
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 reaps our own child and fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{command:?} failed ({status})"
    );
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Sample {
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        rss_kib: usage.ru_maxrss as u64,
    }
}

struct Stats {
    median: Duration,
    min: Duration,
    cpu: Duration,
    rss_kib: u64,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

impl Stats {
    fn of(samples: &[Sample]) -> Stats {
        Stats {
            median: median(samples.iter().map(|s| s.wall).collect()),
            min: samples.iter().map(|s| s.wall).min().unwrap(),
            cpu: median(samples.iter().map(|s| s.cpu).collect()),
            rss_kib: samples.iter().map(|s| s.rss_kib).max().unwrap(),
        }
    }
}

struct Row {
    figure: String,
    artifacts: Option<usize>,
    render: Stats,
    ninja: Option<Stats>,
    /// The median of (this run − the `render --version` run beside it): the part of the
    /// no-op that is not process start-up, robust to a machine whose load drifts.
    less_start: Option<Duration>,
    state_rewritten: bool,
}

impl Row {
    /// Runs render, `render --version` (when `start` is given) and ninja in turn, `runs`
    /// times, so that a busy machine weighs on all of them alike.
    fn measure<R, S, N>(
        figure: &str,
        artifacts: Option<usize>,
        runs: usize,
        render: R,
        start: Option<S>,
        ninja: Option<N>,
    ) -> Row
    where
        R: Fn() -> Command,
        S: Fn() -> Command,
        N: Fn() -> Command,
    {
        // One unmeasured round warms the page cache.
        let mut rounds = Vec::new();
        for round in 0..=runs.max(1) {
            let r = run_once(render());
            let s = start.as_ref().map(|s| run_once(s()));
            let n = ninja.as_ref().map(|n| run_once(n()));
            if round > 0 {
                rounds.push((r, s, n));
            }
        }
        let render: Vec<Sample> = rounds.iter().map(|r| r.0).collect();
        let ninja: Vec<Sample> = rounds.iter().filter_map(|r| r.2).collect();
        let less_start = start.as_ref().map(|_| {
            median(
                rounds
                    .iter()
                    .map(|(r, s, _)| r.wall.saturating_sub(s.unwrap().wall))
                    .collect(),
            )
        });
        Row {
            figure: figure.to_string(),
            artifacts,
            render: Stats::of(&render),
            ninja: (!ninja.is_empty()).then(|| Stats::of(&ninja)),
            less_start,
            state_rewritten: false,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn table(rows: &[Row], runs: usize) -> String {
    let mut t = String::new();
    writeln!(
        t,
        "\nno-op build: render vs ninja ({runs} runs each; wall median / min, CPU (user + system) median, peak RSS; ratios of the medians)\n"
    )
    .unwrap();
    writeln!(
        t,
        "{:<30} {:>9} {:>17} {:>10} {:>12} {:>17} {:>9} {:>7} {:>9} {:>11} {:>11}",
        "figure",
        "artifacts",
        "render ms",
        "render CPU",
        "render RSS",
        "ninja ms",
        "ninja CPU",
        "ratio",
        "CPU ratio",
        "µs/artifact",
        "less start"
    )
    .unwrap();
    let mut per_artifact = Vec::new();
    for row in rows {
        let (ninja, ninja_cpu, ratio, cpu_ratio) = match &row.ninja {
            Some(n) => (
                format!("{:.1} / {:.1}", ms(n.median), ms(n.min)),
                format!("{:.1}", ms(n.cpu)),
                format!("{:.2}×", ms(row.render.median) / ms(n.median)),
                format!("{:.2}×", ms(row.render.cpu) / ms(n.cpu).max(0.001)),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let (per, less_start) = match (row.artifacts, row.less_start) {
            (Some(n), Some(less)) => {
                let per = row.render.median.as_secs_f64() * 1e6 / n as f64;
                let less = less.as_secs_f64() * 1e6 / n as f64;
                per_artifact.push((row.figure.clone(), n, per, less));
                (format!("{per:.1}"), format!("{less:.1}"))
            }
            _ => ("-".into(), "-".into()),
        };
        writeln!(
            t,
            "{:<30} {:>9} {:>17} {:>10} {:>12} {:>17} {:>9} {:>7} {:>9} {:>11} {:>11}",
            row.figure,
            row.artifacts.map_or("-".into(), |n| n.to_string()),
            format!("{:.1} / {:.1}", ms(row.render.median), ms(row.render.min)),
            format!("{:.1}", ms(row.render.cpu)),
            format!("{:.1} MB", row.render.rss_kib as f64 / 1024.0),
            ninja,
            ninja_cpu,
            ratio,
            cpu_ratio,
            per,
            less_start,
        )
        .unwrap();
    }
    writeln!(
        t,
        "\n(µs/artifact: render's median no-op over its artifacts; \"less start\": the median of \
         each no-op less the `render --version` run beside it, over the artifacts: the part that \
         grows with the folder)"
    )
    .unwrap();
    // Flatness: the largest generated folder against the smallest (the stamped no-ops).
    let generated: Vec<_> = per_artifact
        .iter()
        .filter(|p| p.0.starts_with("no-op build, ") && p.0.contains("lines"))
        .collect();
    if let (Some(small), Some(large)) = (generated.first(), generated.last()) {
        if small.1 != large.1 {
            writeln!(
                t,
                "per-artifact cost, {} vs {}: {:.2}× (with start-up), {:.2}× (less start-up)",
                large.0,
                small.0,
                large.2 / small.2,
                large.3 / small.3
            )
            .unwrap();
        }
    }
    for row in rows.iter().filter(|r| r.state_rewritten) {
        writeln!(
            t,
            "warning: {} rewrote files under cache/state/",
            row.figure
        )
        .unwrap();
    }
    t
}
