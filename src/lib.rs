//! render: a make-like builder of talking-head videos from TOML declarations.
//!
//! The flow of `render build`: `manifest` reads the content folder, `graph` turns it into
//! content-keyed jobs (`plan` joins each `stage` to its `engine`; `key`, `sources`, `job`), `scheduler` decides what runs when
//! and hands each job to an executor (`executor` on the CPU pool, `gpu_lane` with its
//! `worker` processes for models), the `engine`s do the work, and `cache` moves each
//! finished artifact into place atomically and publishes the scenes to `out/`.
//! ARCHITECTURE.md has the map.
//!
//! Two binaries: `render` (`main.rs`), which never links libtorch, and `render-worker`
//! (`bin/render-worker/`), the only code that touches tch.

pub mod build_log;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod device;
pub mod diagnostic;
pub mod engine;
pub mod error;
pub mod executor;
pub mod files;
pub mod frame;
pub mod gpu_lane;
pub mod graph;
pub mod history;
pub mod html_report;
pub mod job;
pub mod key;
pub mod lock;
pub mod manifest;
pub mod media;
pub mod media_check;
pub mod plan;
pub mod process;
pub mod report;
pub mod scheduler;
pub mod sources;
pub mod stage;
pub mod toolchain;
pub mod worker;

use clap::Parser;

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    // First, so that Ctrl-C at any moment is ours to handle (exit 130, children ended).
    process::install_interrupt_handler();
    let cli = cli::Cli::parse();
    match &cli.command {
        cli::Command::Build(args) => commands::build::run(args),
        cli::Command::Plan { dir, write_jobs } => commands::plan::run(dir, write_jobs.as_deref()),
        cli::Command::RunJob { spec } => commands::run_job::run(spec),
        cli::Command::Bench(args) => commands::bench::run(args),
        cli::Command::Verify { dir } => commands::verify::run(dir),
        cli::Command::Report { dir } => commands::report::run(dir),
        cli::Command::Clean { dir } => commands::clean::run(dir),
    }
}
