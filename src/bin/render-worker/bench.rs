//! `render bench` (run inside `render-worker`, where libtorch is): frames per second of the lip-sync stage through render's libtorch
//! engine, against plain Python torch running the same TorchScript file with the same batch
//! on the same device, measured in one run and printed as a ratio. The figures are the
//! model's (copy in, forward, copy out) and, for render, the whole stage around it (face
//! crops in, feathered paste back); encoding is left out, it does not touch the model.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rayon::prelude::*;

use crate::libtorch::{Accelerator, LoadedModel, WAV2LIP_FACE, WAV2LIP_MEL, WAV2LIP_OUT};
use render::cli::BenchArgs;
use render::commands;
use render::device::Device;

use render::error::{Error, Result};
use render::face::wav2lip;
use render::frame::{FaceBox, Frame};
use render::manifest::model;
use render::process;

const FACE: usize = WAV2LIP_FACE;
const OUT: usize = WAV2LIP_OUT;
const MEL: usize = WAV2LIP_MEL;

pub fn run(args: &BenchArgs) -> i32 {
    commands::exit_code(bench(args))
}

fn bench(args: &BenchArgs) -> Result<i32> {
    let model_dir = args
        .model
        .as_deref()
        .ok_or_else(|| Error::Other("name a model folder: `render bench MODEL_DIR`".into()))?;
    let dir = model_dir
        .canonicalize()
        .map_err(|e| Error::io("cannot open the model folder", model_dir, e))?;
    let name = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let root = dir.parent().and_then(Path::parent).ok_or_else(|| {
        Error::Other("pass a model folder laid out as <folder>/models/<name>/model.toml".into())
    })?;
    let model = model::load(root, &name).map_err(|problem| match problem {
        model::ModelProblem::NotFound { message, .. } => Error::Other(message),
        model::ModelProblem::Invalid(error) => error.into(),
    })?;
    let batch = args.batch.unwrap_or(model.batch_size);
    let (device, notice) = Device::resolve(&args.device, Accelerator::cuda_devices)
        .map_err(|m| Error::Other(format!("device {m}")))?;
    let accelerator = Accelerator::new(device);
    if let Some(notice) = notice {
        eprintln!("render: {notice}");
    }
    let frames = args.frames;
    println!(
        "lip-sync bench: model `{name}` ({}), {frames} frames, batch {batch}, {} {}",
        model.file.rel,
        device,
        device.precision()
    );

    // Inputs: a synthetic face frame and fixed pseudo-random mel values.
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let mel: Vec<f32> = (0..frames * MEL).map(|_| next() * 8.0 - 4.0).collect();
    let frame = synthetic_frame();
    let face = FaceBox {
        x: 96.0,
        y: 64.0,
        w: 128.0,
        h: 128.0,
    };

    let loaded = LoadedModel::load(&name, &model.file.abs, accelerator)?;
    let mut faces = vec![0f32; frames * FACE];
    faces
        .par_chunks_mut(FACE)
        .for_each(|out| wav2lip::face_input(&frame, &face, out));
    // Warm-up: allocator, cuDNN autotuning, TorchScript's profiling runs.
    for _ in 0..2 {
        let n = batch.min(frames);
        loaded.wav2lip(&mel[..n * MEL], &faces[..n * FACE], n)?;
    }
    accelerator.reset_peak_memory();

    let start = Instant::now();
    let mut output = vec![0f32; frames * OUT];
    let used = loaded.wav2lip_frames(&mel, &faces, &mut output, batch)?;
    let model_seconds = start.elapsed().as_secs_f64();
    let peak = accelerator.peak_memory();

    let start = Instant::now();
    faces
        .par_chunks_mut(FACE)
        .for_each(|out| wav2lip::face_input(&frame, &face, out));
    loaded.wav2lip_frames(&mel, &faces, &mut output, batch)?;
    let pasted: usize = output
        .par_chunks(OUT)
        .map(|out| {
            let mut copy = frame.clone();
            wav2lip::paste(&mut copy, &face, out);
            copy.data[0] as usize
        })
        .sum();
    std::hint::black_box(pasted);
    let stage_seconds = start.elapsed().as_secs_f64();
    drop(loaded);
    accelerator.empty_cache();

    let render_fps = frames as f64 / model_seconds;
    println!("render (tch)     model {render_fps:>9.1} frames/s  (batch {used})");
    println!(
        "render (tch)     stage {:>9.1} frames/s  (crops + model + paste)",
        frames as f64 / stage_seconds
    );
    if let Some(peak) = peak {
        println!(
            "peak GPU memory  {:>9.1} MiB",
            peak as f64 / (1 << 20) as f64
        );
    }
    match python_baseline(&model.file.abs, batch, frames, device) {
        Ok(python_fps) => {
            println!("python torch     model {python_fps:>9.1} frames/s  (batch {batch})");
            println!("ratio render/python  {:.2}", render_fps / python_fps);
        }
        Err(message) => println!("python torch     not measured: {message}"),
    }
    Ok(0)
}

fn synthetic_frame() -> Frame {
    let mut frame = Frame::new(320, 256);
    for y in 0..256 {
        for x in 0..320 {
            frame.set_pixel(x, y, [(x / 2) as u8, y as u8, ((x + y) / 3) as u8]);
        }
    }
    frame
}

/// Runs tools/bench/torch_baseline.py with the project venv's python.
fn python_baseline(
    file: &Path,
    batch: usize,
    frames: usize,
    device: Device,
) -> std::result::Result<f64, String> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("RENDER_BENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".venv/bin/python"));
    let mut command = Command::new(python);
    command
        .arg(repo.join("tools/bench/torch_baseline.py"))
        .arg("--model")
        .arg(file)
        .args([
            "--batch",
            &batch.to_string(),
            "--frames",
            &frames.to_string(),
        ])
        .args(["--device", &device.to_string()])
        .args(["--threads", &tch::get_num_threads().to_string()]);
    let deadline = process::deadline(3600.0);
    let output =
        process::run(&mut command, "the python baseline", deadline).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&output.stdout);
    let value: serde_json::Value = serde_json::from_str(line.trim()).map_err(|e| e.to_string())?;
    value["fps"]
        .as_f64()
        .ok_or_else(|| "no fps in its output".to_string())
}
