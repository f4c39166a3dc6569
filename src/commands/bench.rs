//! `render bench`: the measurements run in `render-worker` (`src/bin/render-worker/bench.rs`
//! and `face_bench.rs`), where libtorch is; this command hands it the same arguments and
//! its exit code back.

use std::process::Command;

use crate::cli::{BenchArgs, BenchCommand};
use crate::commands::{self, EXIT_FAILED};
use crate::error::Error;

pub fn run(args: &BenchArgs) -> i32 {
    let mut command = Command::new(crate::worker::program());
    command.arg("bench");
    match (&args.what, &args.model) {
        (Some(BenchCommand::Face(face)), _) => {
            command
                .arg("face")
                .arg(&face.video)
                .arg("--reference")
                .arg(&face.reference)
                .args(["--device", &face.device]);
            if let Some(json) = &face.json {
                command.arg("--json").arg(json);
            }
        }
        (None, model) => {
            // clap requires MODEL_DIR without a subcommand.
            command
                .args(model)
                .args(["--frames", &args.frames.to_string()])
                .args(["--device", &args.device]);
            if let Some(batch) = args.batch {
                command.args(["--batch", &batch.to_string()]);
            }
        }
    }
    crate::process::prepare(&mut command);
    match command.status() {
        Ok(status) => status.code().unwrap_or(EXIT_FAILED),
        Err(error) => {
            commands::report(Error::Other(format!(
                "cannot start `{}`: {error}",
                crate::worker::program().display()
            )));
            EXIT_FAILED
        }
    }
}
