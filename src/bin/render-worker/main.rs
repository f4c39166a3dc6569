//! `render-worker`: the only process that links libtorch (see `src/worker.rs` for why and
//! for the protocol). `serve` loads one model and runs calls until its input closes;
//! `probe` says how many CUDA devices libtorch sees; `bench` is `render bench`'s
//! measurements (`bench.rs`: the lip-sync model's speed; `face_bench.rs`: a rendered face
//! against its portrait). The torch code lives in this binary's own modules, never in the
//! library, so `render` (which links the library) cannot pull libtorch in.

mod bench;
mod face_bench;
mod libtorch;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};

use render::device::Device;
use render::engine::{read_f32, write_f32};
use render::engine::{LaneDone, ModelCall};
use render::error::{Error, Result};
use render::face::facemesh;
use render::worker::{Reply, Request};

use crate::libtorch::{Accelerator, LoadedModel, WAV2LIP_FACE, WAV2LIP_MEL, WAV2LIP_OUT};

#[derive(Debug, Parser)]
#[command(
    name = "render-worker",
    version,
    about = "render's libtorch worker (started by render)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load a model and run the calls render sends on stdin (one JSON line each)
    Serve {
        #[arg(long)]
        model: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        device: Device,
    },
    /// Print how many CUDA devices libtorch sees, as JSON
    Probe,
    /// `render bench`, run where libtorch is
    Bench(render::cli::BenchArgs),
}

fn main() {
    std::process::exit(run());
}

/// Runs the worker's command line and returns its exit code.
fn run() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            model,
            file,
            device,
        } => serve(&model, &file, device),
        Command::Probe => {
            println!("{{\"cuda_devices\":{}}}", Accelerator::cuda_devices());
            0
        }
        Command::Bench(args) => match &args.what {
            Some(render::cli::BenchCommand::Face(face)) => face_bench::run(face),
            None => bench::run(&args),
        },
    }
}

fn send(reply: &Reply) {
    let mut line = serde_json::to_vec(reply).expect("replies serialise");
    line.push(b'\n');
    let mut stdout = std::io::stdout().lock();
    // render went away: nothing left to do but finish the call and exit on closed stdin.
    let _ = stdout.write_all(&line).and_then(|()| stdout.flush());
}

fn serve(model: &str, file: &std::path::Path, device: Device) -> i32 {
    let start = Instant::now();
    let accelerator = Accelerator::new(device);
    // A test hook: the fault a CUDA error in tch looks like (tch panics), on demand.
    if std::env::var("RENDER_WORKER_FAULT").as_deref() == Ok(&format!("panic-on-load:{model}")) {
        panic!("injected fault while loading model `{model}` (RENDER_WORKER_FAULT)");
    }
    let loaded = match LoadedModel::load(model, file, accelerator) {
        Ok(loaded) => loaded,
        Err(error) => {
            send(&Reply::Failed {
                id: None,
                message: error.to_string(),
                out_of_memory: false,
            });
            return 1;
        }
    };
    send(&Reply::Ready {
        device: device.to_string(),
        precision: device.precision().to_string(),
        seconds: start.elapsed().as_secs_f64(),
    });
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let request: Request = match serde_json::from_str(&line) {
            Ok(request) => request,
            Err(error) => {
                send(&Reply::Failed {
                    id: None,
                    message: format!("model `{model}`: unreadable request: {error}"),
                    out_of_memory: false,
                });
                continue;
            }
        };
        // A test hook: a worker that dies in the middle of a call (a CUDA fault, an OOM
        // kill), in the first worker of `model` to claim the marker file only.
        if let Some(marker) = std::env::var("RENDER_WORKER_FAULT").ok().and_then(|f| {
            f.strip_prefix(&format!("exit-on-call:{model}:"))
                .map(str::to_string)
        }) {
            let first = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&marker)
                .is_ok();
            if first {
                eprintln!("injected fault in a call of model `{model}` (RENDER_WORKER_FAULT)");
                std::process::exit(3);
            }
        }
        let reply = match run_call(&loaded, &request.call) {
            Ok(result) => Reply::Done {
                id: request.id,
                result,
            },
            Err(error) => Reply::Failed {
                id: Some(request.id),
                out_of_memory: matches!(error, Error::OutOfMemory { .. }),
                message: error.to_string(),
            },
        };
        send(&reply);
    }
    drop(loaded);
    accelerator.empty_cache();
    0
}

/// One call: its contract's tensors in, its output written, in batches that halve on
/// out-of-memory.
fn run_call(loaded: &LoadedModel, call: &ModelCall) -> Result<LaneDone> {
    match call.contract.as_str() {
        "wav2lip" => wav2lip_call(loaded, call),
        facemesh::CONTRACT => facemesh_call(loaded, call),
        other => Err(Error::Other(format!(
            "model `{}`: unknown contract `{other}`",
            call.model
        ))),
    }
}

fn input(call: &ModelCall, name: &str, len: usize) -> Result<Vec<f32>> {
    let path = call.inputs.get(name).ok_or_else(|| {
        Error::Other(format!(
            "model `{}`: the call has no `{name}` input",
            call.model
        ))
    })?;
    read_f32(path, len)
}

fn lane_done(loaded: &LoadedModel, call: &ModelCall, batch_size: usize) -> LaneDone {
    LaneDone {
        device: call.device.to_string(),
        precision: call.device.precision().to_string(),
        batch_size: Some(batch_size),
        peak_memory_bytes: loaded.accelerator.peak_memory(),
    }
}

/// The facemesh call: context patches `[N,3,288,288]` in; the model runs twice on crops cut
/// from them (`render::face::facemesh::two_pass`: level, then levelled by the eyes);
/// landmarks and score per frame out.
fn facemesh_call(loaded: &LoadedModel, call: &ModelCall) -> Result<LaneDone> {
    let frames = call.frames;
    let context = input(call, "context", frames * facemesh::CONTEXT_LEN)?;
    loaded.accelerator.reset_peak_memory();
    let (output, used) = loaded.facemesh_two_pass(&context, frames, call.batch_size)?;
    write_f32(&call.output, &output)?;
    Ok(lane_done(loaded, call, used))
}

/// The wav2lip call: mel `[B,1,80,16]` + faces `[B,6,96,96]` in, `[B,3,96,96]` out.
fn wav2lip_call(loaded: &LoadedModel, call: &ModelCall) -> Result<LaneDone> {
    let input = |name: &str, len: usize| input(call, name, len);
    let frames = call.frames;
    let mel = input("mel", frames * WAV2LIP_MEL)?;
    let faces = input("faces", frames * WAV2LIP_FACE)?;
    let accelerator = loaded.accelerator;
    accelerator.reset_peak_memory();
    let mut output = vec![0f32; frames * WAV2LIP_OUT];
    let used = loaded.wav2lip_frames(&mel, &faces, &mut output, call.batch_size)?;
    write_f32(&call.output, &output)?;
    Ok(lane_done(loaded, call, used))
}
