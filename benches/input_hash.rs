//! Input hashing: what it costs a build that every input a job reads is hashed first
//! (`Cache::verify_input`, issue 21's shared cache). The repository's demo is built once;
//! then each run changes the pause between lines (every scene and its captions are made
//! again, reading every line's speech and clip, which the build hashes first) and times the
//! whole `render build`. In the same run, this process hashes exactly the objects those
//! scenes read, as the build does, and times that alone. The table gives both medians, the
//! share of the build that hashing is, and the rate. The page cache is warm for both (the
//! build reads what it hashes a moment later, as here).
//!
//! Run: `cargo bench --bench input_hash` (`INPUT_HASH_RUNS=N`, default 3;
//! `INPUT_HASH_SIZE=320x180` for smaller frames, default the demo's 1280×720).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use render::cache::{Cache, Check};
use render::key::Key;

fn main() {
    let runs: usize = std::env::var("INPUT_HASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let size = std::env::var("INPUT_HASH_SIZE").unwrap_or_else(|_| "1280x720".into());
    let (width, height) = size.split_once('x').expect("INPUT_HASH_SIZE: WxH");
    let render = PathBuf::from(env!("CARGO_BIN_EXE_render"));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    common::use_repo_models(repo);
    let tmp = tempfile::Builder::new()
        .prefix("render-input-hash-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.path().join("demo");
    std::fs::create_dir_all(&dir).unwrap();
    common::copy_tree(&repo.join("projects"), &dir.join("projects"));
    common::copy_tree(&repo.join("avatars"), &dir.join("avatars"));
    std::os::unix::fs::symlink(repo.join(".venv-piper"), dir.join(".venv-piper")).unwrap();
    let renderfile = std::fs::read_to_string(repo.join("Renderfile.toml")).unwrap();
    let renderfile =
        renderfile.replace("size = [1280, 720]", &format!("size = [{width}, {height}]"));
    let with_pause = |pause: &str| renderfile.replace("pause = 0.4 ", &format!("pause = {pause} "));
    assert_ne!(with_pause("0.5"), renderfile, "the demo sets `pause = 0.4`");
    std::fs::write(dir.join("Renderfile.toml"), &renderfile).unwrap();
    build(&render, &dir);

    let cache = Cache::new(&dir);
    let mut builds = Vec::new();
    let mut hashing = Vec::new();
    let mut read = (0, 0);
    for run in 0..runs {
        let pause = format!("{:.2}", 0.41 + 0.01 * run as f64);
        std::fs::write(dir.join("Renderfile.toml"), with_pause(&pause)).unwrap();
        let start = Instant::now();
        build(&render, &dir);
        builds.push(start.elapsed());
        let inputs = scene_inputs(&cache);
        let bytes: u64 = (inputs.iter())
            .filter_map(|key| cache.record(key))
            .flat_map(|record| record.outputs)
            .map(|output| output.bytes)
            .sum();
        let start = Instant::now();
        for key in &inputs {
            assert_eq!(cache.verify_input(key), Check::Intact);
        }
        hashing.push(start.elapsed());
        read = (inputs.len(), bytes);
    }
    let (build, hash) = (median(builds), median(hashing));
    println!(
        "input hashing: the demo at {size}, {runs} run(s); the scenes read {} objects, {:.1} MB",
        read.0,
        read.1 as f64 / 1e6
    );
    println!(
        "{:>16} {:>14} {:>7} {:>9}",
        "build (median)", "hashing", "share", "rate"
    );
    println!(
        "{:>14.2} s {:>12.4} s {:>6.2}% {:>5.0} MB/s",
        build.as_secs_f64(),
        hash.as_secs_f64(),
        100.0 * hash.as_secs_f64() / build.as_secs_f64(),
        read.1 as f64 / 1e6 / hash.as_secs_f64().max(1e-9)
    );
}

fn build(render: &Path, dir: &Path) {
    common::build_in(render, dir, &[]);
}

/// Every object the scenes in the cache read (their key specs' inputs).
fn scene_inputs(cache: &Cache) -> BTreeSet<Key> {
    (cache.keys().iter())
        .filter_map(|key| cache.record(key))
        .filter(|record| record.spec.kind == render::key::ArtifactKind::Scene)
        .flat_map(|record| record.spec.inputs.values().copied().collect::<Vec<_>>())
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
