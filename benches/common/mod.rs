//! What the benches share: the generated content folders of many lines, and a cache made
//! complete for them without rendering (see `benches/noop.rs` for why that is faithful).

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};

use render::cache::{Cache, Record};
use render::graph::Graph;
use render::key::ArtifactKind;
use render::sources::SourceHashes;

/// Points this process, and every process it starts (the `render` builds it times, its own
/// setup children), at the repository's `models/`: the face landmark model's pin enters
/// every face-track key, and without this a bench binary under `target/release/deps/`
/// would look for the model beside itself, find none, and fill the cache under keys the
/// real `render` (which finds it) never asks for. Fails loudly when the model is missing:
/// the benches measure the folder a user has after `./tools/setup`.
pub fn use_repo_models(repo: &Path) {
    let models = repo.join("models");
    if std::env::var_os("RENDER_MODELS").is_none() {
        // Set before any thread starts: nothing reads the environment concurrently.
        std::env::set_var("RENDER_MODELS", &models);
    }
    if let Err(notice) = render::face_model::installed() {
        panic!("the benches need the face landmark model (run ./tools/setup): {notice}");
    }
}

/// The device a build of `manifest` resolves (the face landmark model makes every folder
/// use one): it enters the keys of model artifacts, so the bench's graph must have it too.
pub fn device(manifest: &render::manifest::Manifest) -> Option<render::device::Device> {
    render::commands::device(manifest).expect("the folder's device resolves")
}

pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// A content folder of `lines` script lines: 10 projects, 10 lines a scene, tiny frames.
pub fn generate(dir: &Path, repo: &Path, lines: usize) {
    copy_tree(&repo.join("avatars"), &dir.join("avatars"));
    std::fs::write(
        dir.join("Renderfile.toml"),
        r##"[render]
device = "cpu"

[defaults]
fps = 5
size = [64, 64]
pause = 0.4
background = "#1b2030"
voice = "narrator"
avatar = "astronaut"

[voices.narrator]
engine = "espeak"
language = "en-us"
variant = "m3"
pitch = 45
rate = 165

[voices.guest]
engine = "espeak"
language = "en-gb"
variant = "f3"
pitch = 65
rate = 175

[avatars.astronaut]
image = "avatars/astronaut.png"
lipsync = "builtin"
"##,
    )
    .unwrap();
    const PROJECTS: usize = 10;
    const LINES_PER_SCENE: usize = 10;
    let scenes = lines.div_ceil(LINES_PER_SCENE * PROJECTS);
    let mut line = 0;
    for p in 1..=PROJECTS {
        let project = format!("p{p:02}");
        let folder = dir.join("projects").join(&project);
        std::fs::create_dir_all(&folder).unwrap();
        let mut toml = String::new();
        for s in 1..=scenes {
            let scene = format!("s{s:04}");
            let mut script = String::new();
            for l in 1..=LINES_PER_SCENE {
                line += 1;
                if line <= lines {
                    writeln!(
                        script,
                        "Line {l} of scene {s} in project {p}, number {line}."
                    )
                    .unwrap();
                }
            }
            if script.is_empty() {
                break;
            }
            std::fs::write(folder.join(format!("{scene}.txt")), script).unwrap();
            writeln!(toml, "[[scene]]\nname = \"{scene}\"").unwrap();
            writeln!(toml, "script = \"projects/{project}/{scene}.txt\"").unwrap();
            if s % 2 == 0 {
                writeln!(toml, "voice = \"guest\"").unwrap();
            }
            toml.push('\n');
        }
        std::fs::write(folder.join("project.toml"), toml).unwrap();
    }
}

/// Loads `dir` with render's manifest loader, graph and keys, and commits a placeholder
/// object for every node that has none, through render's cache. Returns how many.
pub fn fill_cache(dir: &Path) -> usize {
    let loaded = render::manifest::load(dir).unwrap_or_else(|errors| {
        panic!(
            "the generated folder does not load: {:?}",
            errors[0].message
        )
    });
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors[0].message);
    let manifest = loaded.manifest;
    let cache = Cache::new(&manifest.root);
    cache.prepare().unwrap();
    let hashes = SourceHashes::load(&cache.state_dir().join("sources.json"));
    let graph = Graph::from_manifest(&manifest, &hashes, device(&manifest)).unwrap();
    let mut placed = 0;
    for node in &graph.nodes {
        if cache.has(&node.key()) {
            continue;
        }
        let job = cache.job_dir(&node.key()).unwrap();
        let output = render::stage::main_output(node.kind());
        // As large as the demo's real objects at 1280×720, so `--verify` hashes what a
        // real cache holds; a plain no-op never reads them.
        let size = match node.kind() {
            ArtifactKind::Speech => 110_000,
            ArtifactKind::Clip => 90_000,
            ArtifactKind::Scene => 130_000 * node.spec().inputs.len() / 2,
            _ => 28_000,
        };
        let mut bytes = format!("placeholder {}\n", node.name()).into_bytes();
        bytes.resize(size.max(bytes.len()), b'.');
        std::fs::write(job.join(output), bytes).unwrap();
        let mut outputs = vec![output.to_string()];
        // Every object holds the files a real one does, so the cheap check stats as many.
        match node.kind() {
            ArtifactKind::Captions => {
                use render::stage::captions;
                std::fs::write(job.join(captions::VTT), "WEBVTT\n\nplaceholder\n").unwrap();
                outputs = captions::OUTPUTS.iter().map(|o| o.to_string()).collect();
            }
            ArtifactKind::FaceTrack => {
                let crop = render::stage::face_track::CROP;
                std::fs::write(job.join(crop), "placeholder face crop").unwrap();
                outputs.push(crop.to_string());
            }
            _ => {}
        }
        let mut loudness = None;
        if node.kind() == ArtifactKind::Scene {
            // Its stills (placeholders too) and a real `scene.json`, which the report reads.
            use render::stage::scene;
            for still in [scene::POSTER, scene::SHEET] {
                std::fs::write(job.join(still), format!("placeholder {still}\n")).unwrap();
            }
            let lines = node.spec().inputs.len() / 2;
            let timeline = scene::Timeline::new(&vec![10; lines], 0.0, render::fps::Fps::whole(5));
            let info = scene::Info::new(&timeline, render::fps::Fps::whole(5), 64, 64);
            std::fs::write(job.join(scene::INFO), serde_json::to_vec(&info).unwrap()).unwrap();
            outputs = scene::OUTPUTS.iter().map(|o| o.to_string()).collect();
            // A real scene's record holds its loudness (first pass, mode, aim, output).
            loudness = serde_json::from_value(serde_json::json!({
                "target": {"integrated": -14.0, "true_peak": -1.0},
                "input": {"input_i": -19.8, "input_tp": -4.58, "input_lra": 8.7,
                          "input_thresh": -30.61, "target_offset": 0.32},
                "normalization": "dynamic", "aim": -14.0, "output_i": -14.2, "output_tp": -1.9
            }))
            .expect("a real scene record's loudness");
        }
        let record = Record {
            name: node.name().to_string(),
            key: node.key(),
            spec: node.spec().clone(),
            outputs: Vec::new(),
            // The same fields a real record has, of the same lengths.
            tool: format!("render {}", env!("CARGO_PKG_VERSION")),
            device: "cpu".into(),
            precision: node.spec().precision.to_string(),
            seconds: 0.4187,
            batch_size: None,
            peak_memory_bytes: None,
            loudness,
        };
        cache.commit(&job, record, &outputs).unwrap();
        placed += 1;
    }
    placed
}

/// Runs `render build <args>` in `dir` the way the benches time it: the machine's engines
/// file and the user's config left out (`RENDER_ENGINES` unset, `XDG_CONFIG_HOME` inside
/// `dir`), so only the folder's own engines count. Fails the bench when the build fails.
pub fn build_in(render: &Path, dir: &Path, args: &[&std::ffi::OsStr]) -> Output {
    let out = Command::new(render)
        .arg("build")
        .args(args)
        .current_dir(dir)
        .env_remove("RENDER_ENGINES")
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .output()
        .expect("render runs");
    assert!(
        out.status.success(),
        "the build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
