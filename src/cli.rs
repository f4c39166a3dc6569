//! The command line, in one place: every subcommand and flag with its help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "render",
    version,
    about = "Turns a folder of TOML declarations into talking-head videos, rebuilding only what is stale"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make every stale artifact and publish the scenes to out/<project>/<scene>.mp4
    Build(BuildArgs),
    /// List every stale artifact and why it is stale, without making anything
    Plan {
        /// The content folder (holding Renderfile.toml)
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Also write each stale artifact's job spec into DIR, numbered in an order that
        /// runs every job after its inputs (for `render run-job`)
        #[arg(long, value_name = "DIR")]
        write_jobs: Option<PathBuf>,
    },
    /// Run one job from its spec file (written by `plan --write-jobs`) into the cache
    RunJob {
        /// The job spec (JSON)
        spec: PathBuf,
    },
    /// Measure the lip-sync model through render against plain Python torch
    Bench(BenchArgs),
    /// Re-hash every object in the cache against its record; quarantine the damaged ones
    /// (exit 1 when any was)
    Verify {
        /// The content folder (holding Renderfile.toml)
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Write out/report.html again from the last build (every build writes it): each scene
    /// with its poster, what was made and failed, what changed in out/, recent builds
    Report {
        /// The content folder (holding Renderfile.toml)
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Remove everything render made: cache/ and out/
    Clean {
        /// The content folder (holding Renderfile.toml)
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The content folder (holding Renderfile.toml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// CPU jobs to run at once [default: Renderfile's `jobs`, else the number of cores]
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Build everything that does not depend on a failure (and skip invalid scenes)
    #[arg(short, long)]
    pub keep_going: bool,
    /// Show what would be made, and why, without making it
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Write every artifact with its kind, key, status and seconds to FILE as JSON
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Re-hash every cached object the build reads against its record first (damaged
    /// ones are quarantined and made again); without it, only sizes are checked
    #[arg(long)]
    pub verify: bool,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A model folder, e.g. models/wav2lip (holding model.toml)
    pub model: PathBuf,
    /// Frames to run through the model
    #[arg(long, default_value_t = 512)]
    pub frames: usize,
    /// Batch size [default: the model's]
    #[arg(long)]
    pub batch: Option<usize>,
    /// "auto" | "cpu" | "cuda:N"
    #[arg(long, default_value = "auto")]
    pub device: String,
}
