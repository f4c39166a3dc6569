//! render: a make-like builder of talking-head videos from TOML declarations.
//!
//! The flow of `render build`: `manifest` reads the content folder, `graph` turns it into
//! content-keyed artifacts (`key`, `sources`), `scheduler` makes the stale ones through the
//! `stage`s and their `engine`s, and `cache` moves each finished artifact into place
//! atomically and publishes the scenes to `out/`.

pub mod build_log;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod frame;
pub mod gpu_lane;
pub mod graph;
pub mod key;
pub mod lock;
pub mod manifest;
pub mod media;
pub mod process;
pub mod report;
pub mod scheduler;
pub mod sources;
pub mod stage;
pub mod toolchain;

use clap::Parser;

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    let cli = cli::Cli::parse();
    process::install_interrupt_handler();
    match &cli.command {
        cli::Command::Build(args) => commands::build::run(args),
        cli::Command::Plan { dir } => commands::plan::run(dir),
        cli::Command::Bench(args) => commands::bench::run(args),
        cli::Command::Clean { dir } => commands::clean::run(dir),
    }
}
