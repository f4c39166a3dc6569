//! The diffusers wrappers (engines/diffusers-still, engines/svd-xt) run for real, on the CPU,
//! against tiny pipelines that tools/tiny-pipelines/make.py builds from diffusers' own classes
//! with random weights (tools/setup makes them, and `.venv-diffusers`, with pinned diffusers,
//! transformers and peft on the project venv's torch). Each run takes its command line from
//! the adapter's engine.toml as it is — every `{placeholder}` replaced by a job's value, list
//! placeholders one argument per item, the model folder moved to the tiny pipeline — so the
//! wrapper's call into diffusers is exercised exactly as a build would exercise it: pipeline
//! loading, LoRA loading and scales, seeded generation, PNG and MP4 writing. The pictures are
//! noise; what is checked is what the wrappers control: the bytes for a seed, the LoRA's
//! effect, the size, the frame count and rate.

mod common;

use common::repo;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The diffusers venv's python; tools/setup makes it.
fn python() -> PathBuf {
    let python = repo().join(".venv-diffusers/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tools/setup (it makes .venv-diffusers and models/tiny-pipelines)",
        python.display()
    );
    python
}

/// `models/tiny-pipelines/<rel>`, made by tools/tiny-pipelines/make.py.
fn tiny(rel: &str) -> PathBuf {
    let path = repo().join("models/tiny-pipelines").join(rel);
    assert!(
        path.exists(),
        "{} is missing: run tools/setup (tools/tiny-pipelines/make.py)",
        path.display()
    );
    path
}

/// One job's placeholder values; a list's items become one argument each.
struct Job {
    values: Vec<(&'static str, Vec<String>)>,
}

impl Job {
    fn new(values: &[(&'static str, &str)]) -> Job {
        Job {
            values: values
                .iter()
                .map(|(k, v)| (*k, vec![v.to_string()]))
                .collect(),
        }
    }

    fn set(mut self, name: &'static str, items: &[&str]) -> Job {
        self.values.retain(|(k, _)| *k != name);
        (self.values).push((name, items.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// `args` of engines/<adapter>/engine.toml's `[engines.<engine>]`, filled in: /opt paths
    /// moved to the repository's wrapper and the tiny pipeline `model`.
    fn argv(&self, adapter: &str, engine: &str, model: &Path) -> Vec<String> {
        let toml =
            std::fs::read_to_string(repo().join("engines").join(adapter).join("engine.toml"))
                .unwrap();
        let table: toml::Table = toml.parse().unwrap();
        let args = table["engines"][engine]["args"].as_array().unwrap();
        let env = table["engines"][engine].get("env");
        assert_eq!(
            env.map(|e| e.to_string()),
            Some("{ HF_HUB_OFFLINE = \"1\" }".to_string()),
            "{engine}: expected only HF_HUB_OFFLINE in env (the test sets the same)"
        );
        let mut argv = Vec::new();
        for arg in args {
            let arg = arg.as_str().unwrap();
            let arg = if arg.starts_with("/opt/diffusers/render-") {
                let wrapper = arg.trim_start_matches("/opt/diffusers/");
                repo()
                    .join("engines")
                    .join(adapter)
                    .join(wrapper)
                    .display()
                    .to_string()
            } else if arg.starts_with("/opt/diffusers/") {
                model.display().to_string()
            } else {
                arg.to_string()
            };
            if let Some((_, items)) =
                (self.values.iter()).find(|(name, _)| arg == format!("{{{name}}}"))
            {
                argv.extend(items.iter().cloned());
                continue;
            }
            let mut filled = arg.clone();
            for (name, items) in &self.values {
                let mark = format!("{{{name}}}");
                if filled.contains(&mark) {
                    assert_eq!(
                        items.len(),
                        1,
                        "{{{name}}} is a list: only a whole argument"
                    );
                    filled = filled.replace(&mark, &items[0]);
                }
            }
            assert!(
                !filled.contains('{'),
                "{engine}: a placeholder this test does not fill: {filled}"
            );
            argv.push(filled);
        }
        argv
    }
}

/// Runs engine `engine` of engines/`adapter` on `model` for `job` in a fresh folder (its
/// working directory, like a build's job folder): the output's bytes and the program's
/// stdout and stderr.
fn run(adapter: &str, engine: &str, model: &Path, job: &Job, out: &Path) -> (Vec<u8>, String) {
    let argv = job.argv(adapter, engine, model);
    let done = Command::new(python())
        .args(&argv)
        .current_dir(out.parent().unwrap())
        .env("HF_HUB_OFFLINE", "1")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(done.status.success(), "{engine} failed: {argv:?}\n{log}");
    let bytes = std::fs::read(out).unwrap();
    std::fs::remove_file(out).unwrap();
    (bytes, log)
}

/// [`run`] of a diffusers-still engine on the tiny SDXL pipeline.
fn still(engine: &str, job: &Job, out: &Path) -> (Vec<u8>, String) {
    run("diffusers-still", engine, &tiny("sdxl"), job, out)
}

/// A still job at 64x48 (the tiny SDXL's latents are 32x24), two steps.
fn still_job(out: &Path, seed: &str) -> Job {
    Job::new(&[
        ("prompt", "-a portrait of a presenter, studio light"),
        ("negative_prompt", ""),
        ("width", "64"),
        ("height", "48"),
        ("steps", "2"),
        ("guidance", "5.0"),
        ("seed", seed),
        ("device", "cpu"),
        ("out", out.to_str().unwrap()),
    ])
    .set("lora_files", &[])
    .set("lora_scales", &[])
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

#[test]
fn diffusers_still_makes_the_same_png_for_a_seed_and_another_for_another_seed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let (first, _) = still("diffusers-still", &still_job(&out, "7"), &out);
    let (again, _) = still("diffusers-still", &still_job(&out, "7"), &out);
    let (other, _) = still("diffusers-still", &still_job(&out, "8"), &out);

    assert_eq!(png_size(&first), (64, 48));
    assert!(
        first == again,
        "seed 7 made different bytes on a second run"
    );
    assert!(first != other, "seeds 7 and 8 made the same bytes");
}

#[test]
fn diffusers_still_loads_each_lora_as_an_adapter_at_its_scale() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let lora = tiny("lora/tiny-lora.safetensors");
    let lora = lora.to_str().unwrap();
    let with = |scale: &str| {
        still_job(&out, "7")
            .set("lora_files", &[lora])
            .set("lora_scales", &[scale])
    };

    let (none, _) = still("diffusers-still", &still_job(&out, "7"), &out);
    let (full, log) = still("diffusers-still", &with("1.0"), &out);
    let (off, _) = still("diffusers-still", &with("0.0"), &out);

    assert!(
        log.contains("render-diffusers-still: LoRA adapters ['lora0']"),
        "diffusers did not report the adapter as active:\n{log}"
    );
    assert!(full != none, "the LoRA at scale 1 changed nothing");
    assert!(off == none, "the LoRA at scale 0 is not the base model");
}

#[test]
fn diffusers_still_img2img_starts_from_the_reference_picture() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let astronaut = repo().join("avatars/astronaut.png");
    let job = |picture: &Path| still_job(&out, "7").set("image", &[picture.to_str().unwrap()]);
    let (from_astronaut, _) = still("diffusers-still-img2img", &job(&astronaut), &out);

    // The same job from a flat grey picture: only the reference differs.
    let grey = dir.path().join("grey.png");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=96x72",
            "-frames:v",
            "1",
        ])
        .arg(&grey)
        .status()
        .unwrap();
    assert!(made.success());
    let (from_grey, _) = still("diffusers-still-img2img", &job(&grey), &out);

    assert_eq!(png_size(&from_astronaut), (64, 48));
    assert!(
        from_astronaut != from_grey,
        "the reference picture changed nothing"
    );
}

#[test]
fn diffusers_still_refuses_lora_files_without_as_many_scales() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let lora = tiny("lora/tiny-lora.safetensors");
    let job = still_job(&out, "7").set("lora_files", &[lora.to_str().unwrap()]);
    let argv = job.argv("diffusers-still", "diffusers-still", &tiny("sdxl"));
    let done = Command::new(python()).args(&argv).output().unwrap();
    assert_eq!(done.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&done.stderr).contains("1 --loras but 0 --lora-scales"),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(!out.exists());
}

/// Frames, rate and size of a video's first stream, counted by decoding it.
fn frames_rate_size(video: &Path) -> (u64, String, (u32, u32)) {
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
        ])
        .args([
            "stream=nb_read_frames,r_frame_rate,width,height",
            "-of",
            "json",
        ])
        .arg(video)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    let s = &json["streams"][0];
    (
        s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        s["r_frame_rate"].as_str().unwrap().to_string(),
        (
            s["width"].as_u64().unwrap() as u32,
            s["height"].as_u64().unwrap() as u32,
        ),
    )
}

fn shot_job(out: &Path, frames: &str, fps: &str, seed: &str) -> Job {
    Job::new(&[
        (
            "image",
            repo().join("avatars/astronaut.png").to_str().unwrap(),
        ),
        ("width", "64"),
        ("height", "48"),
        ("frames", frames),
        ("fps", fps),
        ("steps", "2"),
        ("guidance", "3.0"),
        ("seed", seed),
        ("device", "cpu"),
        ("out", out.to_str().unwrap()),
    ])
}

#[test]
fn svd_xt_makes_the_asked_frames_at_the_asked_rate_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let made = dir.path().join("made.mp4");
    // The video's frames, rate and size, and its bytes.
    let shot = |frames: &str, fps: &str, seed: &str| {
        let (bytes, _) = run(
            "svd-xt",
            "svd-xt",
            &tiny("svd"),
            &shot_job(&out, frames, fps, seed),
            &out,
        );
        std::fs::write(&made, &bytes).unwrap();
        (frames_rate_size(&made), bytes)
    };
    let (first, first_bytes) = shot("9", "25", "3");
    assert_eq!(first, (9, "25/1".to_string(), (64, 48)));
    // A fractional rate, another length and another seed.
    let (other, other_bytes) = shot("5", "30000/1001", "4");
    assert_eq!(other, (5, "30000/1001".to_string(), (64, 48)));
    assert!(first_bytes != other_bytes);
}

/// A content folder whose one scene is a b-roll line: the shot `idle` (svd-xt) made from
/// the still `host` (diffusers-still, with the tiny LoRA, seed `seed`), both
/// engines declared exactly as their engine.toml files, moved onto the tiny pipelines and
/// `.venv-diffusers`.
fn generation_folder(seed: u32) -> common::Folder {
    let folder = common::Folder {
        dir: tempfile::tempdir().unwrap(),
    };
    let mut engines = String::new();
    for (adapter, model) in [("diffusers-still", "sdxl"), ("svd-xt", "svd")] {
        let toml =
            std::fs::read_to_string(repo().join("engines").join(adapter).join("engine.toml"))
                .unwrap();
        let real_model = match model {
            "sdxl" => "/opt/diffusers/stable-diffusion-xl-base-1.0",
            _ => "/opt/diffusers/stable-video-diffusion-img2vid-xt",
        };
        let wrapper = format!("/opt/diffusers/render-{adapter}.py");
        engines += &toml
            .replace(real_model, tiny(model).to_str().unwrap())
            .replace(
                "diffusion_pytorch_model.fp16.safetensors",
                "diffusion_pytorch_model.safetensors",
            )
            .replace(
                &wrapper,
                repo()
                    .join("engines")
                    .join(adapter)
                    .join(format!("render-{adapter}.py"))
                    .to_str()
                    .unwrap(),
            )
            .replace("/opt/diffusers/venv/bin/python", python().to_str().unwrap());
        engines += "\n";
    }
    assert!(!engines.contains("/opt/"), "{engines}");
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n\
             [defaults]\nfps = 8\nsize = [64, 48]\nbackground = \"#101820\"\n\
             voice = \"ada\"\navatar = \"host\"\n\n\
             [voices.ada]\nengine = \"espeak\"\n\n\
             [avatars.host]\nimage = \"avatars/host.png\"\n\n\
             [stills.host]\nengine = \"diffusers-still\"\n\
             prompt = \"A portrait of a presenter, studio light\"\nnegative = \"blurry\"\n\
             width = 64\nheight = 48\nsteps = 2\nguidance = 5.0\nseed = {seed}\n\
             loras = [{{ file = \"loras/tiny.safetensors\", scale = 1.0 }}]\n\n\
             [shots.idle]\nengine = \"svd-xt\"\nimage = {{ still = \"host\" }}\n\
             prompt = \"(SVD takes no prompt)\"\n\
             width = 64\nheight = 48\nseconds = 1\nfps = 8\nsteps = 2\nguidance = 3.0\nseed = 3\n\n\
             {engines}"
        ),
    );
    folder.write(
        "projects/demo/project.toml",
        "[[scene]]\nname = \"idle\"\nlines = [{ shot = \"idle\", seconds = 1 }]\n",
    );
    // The scene is its b-roll alone: the avatar says nothing (a scene must name one).
    std::fs::create_dir_all(folder.file("avatars")).unwrap();
    std::fs::copy(
        repo().join("avatars/astronaut.png"),
        folder.file("avatars/host.png"),
    )
    .unwrap();
    std::fs::create_dir_all(folder.file("loras")).unwrap();
    std::fs::copy(
        tiny("lora/tiny-lora.safetensors"),
        folder.file("loras/tiny.safetensors"),
    )
    .unwrap();
    folder
}

/// The bytes of every object file named `name` under cache/objects.
fn objects(folder: &common::Folder, name: &str) -> Vec<Vec<u8>> {
    (walkdir::WalkDir::new(folder.file("cache/objects")).into_iter())
        .flatten()
        .filter(|e| e.file_name() == name)
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect()
}

/// The bytes of the one object file named `name` under cache/objects.
fn object(folder: &common::Folder, name: &str) -> Vec<u8> {
    let mut found = objects(folder, name);
    assert_eq!(found.len(), 1, "{name}: {} objects", found.len());
    found.remove(0)
}

fn build(folder: &common::Folder) -> common::Run {
    let run = folder.render_within(&["build"], std::time::Duration::from_secs(900));
    assert_eq!(run.code, 0, "build failed:\n{}", run.stderr);
    run
}

#[test]
fn render_builds_a_still_and_a_shot_from_it_with_the_real_wrappers_reproducibly() {
    let folder = generation_folder(7);
    let run = build(&folder);
    let mut made = run.made();
    made.retain(|m| m.starts_with("still ") || m.starts_with("shot ") || m.starts_with("scene "));
    made.sort();
    assert_eq!(
        made,
        ["scene demo/idle", "shot idle", "still host"],
        "{}",
        run.stderr
    );
    let still = object(&folder, "still.png");
    assert_eq!(png_size(&still), (64, 48));
    let shot = object(&folder, "shot.mp4");
    let copy = folder.path().join("shot-copy.mp4");
    std::fs::write(&copy, &shot).unwrap();
    assert_eq!(frames_rate_size(&copy), (8, "8/1".to_string(), (64, 48)));
    let scene = folder.file("out/demo/idle.mp4");
    assert_eq!(frames_rate_size(&scene).0, 8);

    // Built again: nothing to make.
    let again = build(&folder);
    assert!(again.made().is_empty(), "{:?}", again.made());

    // The same declarations in a fresh folder (a fresh cache): the same still and shot,
    // byte for byte.
    let fresh = generation_folder(7);
    build(&fresh);
    assert!(
        object(&fresh, "still.png") == still,
        "seed 7 made another still in a second build"
    );
    assert!(
        object(&fresh, "shot.mp4") == shot,
        "the same shot made other bytes in a second build"
    );

    // Another seed: the still is made again, with other bytes (and so the shot from it).
    fresh.edit("Renderfile.toml", "seed = 7", "seed = 8");
    let run = build(&fresh);
    assert!(
        run.made().contains(&"still host".to_string()),
        "{:?}",
        run.made()
    );
    let stills = objects(&fresh, "still.png");
    assert_eq!(stills.len(), 2, "the seed 7 and seed 8 stills");
    assert!(stills[0] != stills[1], "seeds 7 and 8 made the same still");
}
