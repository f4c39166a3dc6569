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
pub mod check_log;
pub mod cli;
pub mod commands;
pub mod device;
pub mod diagnostic;
pub mod disk;
pub mod engine;
pub mod error;
pub mod events;
pub mod executor;
pub mod face;
pub mod face_model;
pub mod farm;
pub mod farm_logs;
pub mod files;
pub mod font;
pub mod fps;
pub mod frame;
pub mod framing;
pub mod graph;
pub mod history;
pub mod html_report;
pub mod job;
pub mod key;
pub mod lane_plan;
pub mod lanes;
pub mod lock;
pub mod loudness;
pub mod manifest;
pub mod media;
pub mod media_check;
pub mod noop_stamp;
pub mod plan;
pub mod process;
pub mod published;
pub mod report;
pub mod scheduler;
pub mod scratch;
pub mod server;
pub mod slurm;
pub mod sources;
pub mod stage;
pub mod stat_at;
pub mod studio;
pub mod target;
pub mod templates;
pub mod toolchain;
pub mod upkeep;
pub mod variants;
pub mod worker;

use clap::Parser;

/// Runs the command line and returns the process exit code.
pub fn run() -> i32 {
    // First, so that Ctrl-C at any moment is ours to handle (exit 130, children ended).
    process::install_interrupt_handler();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                commands::EXIT_USAGE
            } else {
                0 // --help, --version
            };
        }
    };
    // -C: as if started there, for every path on the command line (make's meaning).
    if let Some(dir) = &cli.directory {
        if let Err(error) = std::env::set_current_dir(dir) {
            return commands::exit_code(Err(error::Error::NoSuchFolder {
                folder: dir.clone(),
                source: error,
            }));
        }
    }
    let folder = |dir: &cli::FolderArg| commands::folder(dir.dir.as_deref());
    match &cli.command {
        cli::Command::Build(args) => commands::build::run(args),
        cli::Command::Plan {
            args,
            check,
            write_jobs,
            farm,
        } => commands::plan::run(args, *check, write_jobs.as_deref(), farm.is_some()),
        cli::Command::RunJob { spec } => commands::run_job::run(spec),
        cli::Command::RunJobs { specs, results } => {
            commands::run_job::run_batch(specs, results.as_deref())
        }
        cli::Command::Bench(args) => commands::bench::run(args),
        cli::Command::Verify(dir) => commands::with_folder(folder(dir), commands::verify::run),
        cli::Command::Log { folder: dir, count } => {
            commands::with_folder(folder(dir), |dir| commands::log::run(dir, *count))
        }
        cli::Command::Status(dir) => commands::with_folder(folder(dir), commands::status::run),
        cli::Command::Engines(dir) => commands::with_folder(folder(dir), commands::engines::run),
        cli::Command::Gc {
            folder: dir,
            dry_run,
            keep_builds,
            max_size,
        } => commands::with_folder(folder(dir), |dir| {
            commands::gc::run(dir, *dry_run, *keep_builds, *max_size)
        }),
        cli::Command::Report(dir) => commands::with_folder(folder(dir), commands::report::run),
        cli::Command::Watch { args } => commands::watch::run(args),
        cli::Command::Serve(args) => commands::serve::run(args),
        cli::Command::Clean {
            folder: dir,
            dry_run,
        } => commands::with_folder(folder(dir), |dir| commands::clean::run(dir, *dry_run)),
    }
}
