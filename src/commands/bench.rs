//! `render bench`: the measurement itself runs in `render-worker` (`src/bin/render-worker/bench.rs`),
//! where libtorch is; this command hands it the same arguments and its exit code back.

use std::process::Command;

use crate::cli::BenchArgs;
use crate::commands::{self, EXIT_FAILED};
use crate::error::Error;

pub fn run(args: &BenchArgs) -> i32 {
    let mut command = Command::new(crate::worker::program());
    command
        .arg("bench")
        .arg(&args.model)
        .args(["--frames", &args.frames.to_string()])
        .args(["--device", &args.device]);
    if let Some(batch) = args.batch {
        command.args(["--batch", &batch.to_string()]);
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
