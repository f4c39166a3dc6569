//! `render gc` and `render status` on a generated folder of 1,000 script lines (`GC_LINES`
//! sets it; `GC_RUNS` the repetitions, default 5; `GC_KEEP=1` keeps the folder): the time to scan the cache and to remove
//! what an undone edit left behind.
//!
//! The folder and its complete cache are made the way `benches/noop.rs` makes them
//! (placeholder objects committed through render's own cache, then a real `render build`).
//! Then one line of every scene is edited, the new objects are committed the same way and
//! built, and the edit is undone and built again: a tenth of the lines' speech and clips,
//! and every scene, now have an object no declared scene needs, used by the previous build.
//! `gc --keep-builds 1` removes them; before each timed removal they are put back by hard
//! links from a copy made once, so every run removes the same objects.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{fill_cache, generate};

fn main() {
    let lines: usize = env_or("GC_LINES", 1_000);
    let runs: usize = env_or("GC_RUNS", 5);
    let render = PathBuf::from(env!("CARGO_BIN_EXE_render"));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    common::use_repo_models(repo);
    let tmp = tempfile::Builder::new()
        .prefix("render-gc-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.path().join(format!("lines-{lines}"));
    generate(&dir, repo, lines);
    fill_cache(&dir);
    build(&render, &dir);
    let before = object_dirs(&dir);

    // One line of every scene edited, made, then undone.
    let scripts: Vec<PathBuf> = walkdir::WalkDir::new(dir.join("projects"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    let originals: Vec<String> = (scripts.iter())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for (path, text) in scripts.iter().zip(&originals) {
        std::fs::write(path, text.replacen("Line 1 ", "Line one ", 1)).unwrap();
    }
    fill_cache(&dir);
    build(&render, &dir);
    for (path, text) in scripts.iter().zip(&originals) {
        std::fs::write(path, text).unwrap();
    }
    build(&render, &dir);
    let garbage: Vec<PathBuf> = (object_dirs(&dir).into_iter())
        .filter(|d| !before.contains(d))
        .collect();
    let stash = tmp.path().join("stash");
    for object in &garbage {
        link_tree(&dir.join(object), &stash.join(object));
    }
    eprintln!(
        "{lines} lines: {} objects, {} of them left by the undone edit",
        before.len() + garbage.len(),
        garbage.len()
    );

    let gc = |args: &[&str]| {
        let mut command = Command::new(&render);
        command.args(args).arg(&dir);
        command
    };
    let restore = || {
        for object in &garbage {
            if !dir.join(object).exists() {
                link_tree(&stash.join(object), &dir.join(object));
            }
        }
    };
    let rows = [
        measure("status", runs, || gc(&["status"]), || {}),
        measure(
            "gc -n (a week kept: nothing to remove)",
            runs,
            || gc(&["gc", "-n"]),
            || {},
        ),
        measure(
            "gc (a week kept: nothing to remove)",
            runs,
            || gc(&["gc"]),
            || {},
        ),
        measure(
            "gc -n --keep-builds 1",
            runs,
            || gc(&["gc", "-n", "--keep-builds", "1"]),
            || {},
        ),
        measure(
            "gc --keep-builds 1 (removes them)",
            runs,
            || gc(&["gc", "--keep-builds", "1"]),
            restore,
        ),
    ];
    println!("\nrender gc, {lines} script lines ({runs} runs each; wall median / min)\n");
    for (figure, median, min, summary) in rows {
        println!(
            "{figure:<40} {:>7.1} / {:>6.1} ms   {summary}",
            ms(median),
            ms(min)
        );
    }
    // What is left is what the scenes need: a build makes nothing.
    assert_eq!(object_dirs(&dir), before);
    build(&render, &dir);
    if std::env::var_os("GC_KEEP").is_some() {
        eprintln!("kept the folder in {}", tmp.keep().display());
    }
}

/// Runs `command` `runs` times after one unmeasured run (`prepare` before each); returns
/// the median and minimum wall time and the last run's summary line.
fn measure(
    figure: &str,
    runs: usize,
    command: impl Fn() -> Command,
    prepare: impl Fn(),
) -> (String, Duration, Duration, String) {
    let mut times = Vec::new();
    let mut summary = String::new();
    for round in 0..=runs.max(1) {
        prepare();
        let started = Instant::now();
        let output = command().output().expect("render runs");
        let wall = started.elapsed();
        assert!(
            output.status.success(),
            "{figure} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        summary = (stderr.lines())
            .rfind(|l| l.starts_with("render: removed") || l.starts_with("render: would"))
            .map(|l| l.trim_start_matches("render: ").to_string())
            .unwrap_or_else(|| {
                let stdout = String::from_utf8_lossy(&output.stdout);
                let objects = stdout.lines().find(|l| l.starts_with("objects "));
                objects
                    .unwrap_or_default()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        if round > 0 {
            times.push(wall);
        }
    }
    times.sort();
    (
        figure.to_string(),
        times[times.len() / 2],
        times[0],
        summary,
    )
}

fn build(render: &Path, dir: &Path) {
    let output = Command::new(render).arg("build").arg(dir).output().unwrap();
    assert!(
        output.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every object folder, relative to the content folder.
fn object_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut objects: Vec<PathBuf> = walkdir::WalkDir::new(dir.join("cache/objects"))
        .min_depth(2)
        .max_depth(2)
        .into_iter()
        .map(|e| {
            e.unwrap()
                .into_path()
                .strip_prefix(dir)
                .unwrap()
                .to_path_buf()
        })
        .collect();
    objects.sort();
    objects
}

/// Recreates the tree `from` at `to` by hard links.
fn link_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::hard_link(entry.path(), &target).unwrap();
        }
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
