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
    /// Run as if render was started in DIR (as `make -C` and `ninja -C`); the content folder
    /// is then DIR or the nearest folder above it holding Renderfile.toml
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where a command's content folder comes from when none is named: the nearest folder,
/// from the working directory (or `-C DIR`) upwards, that holds Renderfile.toml.
#[derive(Debug, clap::Args)]
pub struct FolderArg {
    /// The content folder (holding Renderfile.toml) [default: the nearest one, from here up]
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make every stale artifact and publish the scenes to out/<project>/<scene>.mp4
    Build(BuildArgs),
    /// List every stale artifact and why it is stale, and what out/ would gain or lose,
    /// without making anything
    Plan {
        /// The content folder, then targets, as for `build`
        #[arg(value_name = "DIR|TARGET")]
        args: Vec<String>,
        /// Exit 1 when anything is stale or out/ would change, 0 when up to date
        /// (as `make -q`)
        #[arg(long)]
        check: bool,
        /// Also write each stale artifact's job spec into DIR, numbered in an order that
        /// runs every job after its inputs (for `render run-job`)
        #[arg(long, value_name = "DIR")]
        write_jobs: Option<PathBuf>,
        /// Show the farm's view too: which jobs go to it in which Slurm jobs
        #[arg(long, value_name = "FARM")]
        farm: Option<FarmKind>,
    },
    /// Run one job from its spec file (written by `plan --write-jobs`) into the cache
    RunJob {
        /// The job spec (JSON)
        spec: PathBuf,
    },
    /// Run a batch of jobs from their spec files in one process, in the order given: the
    /// models they call load once (what a farm sends to one allocation)
    RunJobs {
        /// The job specs (JSON), dependencies first
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Append each job's outcome to FILE, one JSON line each (what a farm's driver
        /// reads: which failed, why, and on which node)
        #[arg(long, value_name = "FILE")]
        results: Option<PathBuf>,
    },
    /// Measure the lip-sync model through render against plain Python torch (`bench
    /// MODEL_DIR`), or a rendered talking head against its portrait (`bench face VIDEO
    /// --reference IMAGE`)
    Bench(BenchArgs),
    /// Re-hash every object in the cache against its record; quarantine the damaged ones
    /// (exit 1 when any was)
    Verify(FolderArg),
    /// List the recent builds from the history: when, how long, what was made and failed
    Log {
        #[command(flatten)]
        folder: FolderArg,
        /// How many of the most recent builds to list
        #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
        count: usize,
    },
    /// Per artifact kind, how many are declared and stale; the cache's size, and how much of
    /// it no declared scene needs (only reads; exit 0 even when something is stale)
    Status(FolderArg),
    /// Every engine the folder can use (built in, the folder's, this machine's): what it
    /// makes, its program and whether this machine has it, version, GPU, declared licence,
    /// and which voices and avatars use it (only reads; runs nothing)
    Engines(FolderArg),
    /// Remove the cached objects that no declared scene needs and no recent build used,
    /// and the Slurm files of farm builds older than the kept ones (waits for a running
    /// build)
    Gc {
        #[command(flatten)]
        folder: FolderArg,
        /// List what would be removed, and remove nothing
        #[arg(short = 'n', long)]
        dry_run: bool,
        /// Keep what the last N builds used (0: none) [default: every build of the last 7 days]
        #[arg(long, value_name = "N")]
        keep_builds: Option<usize>,
        /// Then, while the cache is larger, remove what the kept builds used, least recently
        /// used first (never what a declared scene needs): bytes, or 500M, 2G, 1.5GiB
        /// (K/M/G/T count in 1024s; KB/MB/GB/TB in 1000s)
        #[arg(long, value_name = "SIZE", value_parser = crate::upkeep::parse_size)]
        max_size: Option<u64>,
    },
    /// Write out/report.html again from the last build that did something (such a build
    /// writes it; a no-op leaves it): each scene with its poster, what was made and failed,
    /// what changed in out/, recent builds
    Report(FolderArg),
    /// Build, then build again on every saved change to the folder's declarations and
    /// media (an edit during a build stops it and starts again; Ctrl-C ends the watch)
    Watch {
        /// The content folder, then targets, as for `build`
        #[arg(value_name = "DIR|TARGET")]
        args: Vec<String>,
    },
    /// Serve the folder as a local web app: scenes with their players, lines and why they
    /// are stale, build history, the running build live; a JSON API to start and cancel
    /// builds; media from out/ and the cache with range requests
    Serve(ServeArgs),
    /// Remove what render made: its objects and state in cache/, the files it published in
    /// out/ (never a file of yours, never through a symlink); lists what it removes
    Clean {
        #[command(flatten)]
        folder: FolderArg,
        /// List what would be removed, and remove nothing
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The content folder (an existing folder; default: the nearest one holding
    /// Renderfile.toml, from here up), then targets: `project` or `project/scene`
    /// (only their artifacts are made and only their videos published)
    #[arg(value_name = "DIR|TARGET")]
    pub args: Vec<String>,
    /// CPU jobs to run at once [default: Renderfile's `jobs`, else the number of cores]
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Build everything that does not depend on a failure (and skip invalid scenes)
    #[arg(short, long)]
    pub keep_going: bool,
    /// Show what would be made, and why, without making it (as `render plan`)
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// With -n: exit 1 when anything is stale or out/ would change
    #[arg(long, requires = "dry_run")]
    pub check: bool,
    /// Make the selected targets' artifacts again, even those in the cache
    #[arg(long)]
    pub force: bool,
    /// Write every artifact with its kind, key, status, start and seconds to FILE as JSON
    /// (`-`: standard output)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the build as it happens to FILE (`-`: standard output), one JSON object per
    /// line: each job started and finished, each file published, then the summary `--json`
    /// writes (what `render watch` and `render serve` read)
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Re-hash every cached object the build reads against its record first (damaged
    /// ones are quarantined and made again); without it, only sizes are checked
    #[arg(long)]
    pub verify: bool,
    /// Run the jobs on a farm: `slurm` (this machine's farm file, $RENDER_FARM or
    /// ~/.config/render/farm.toml, says how; see docs/slurm.md)
    #[arg(long, value_name = "FARM")]
    pub farm: Option<FarmKind>,
    /// On a farm, how many times a job is run again elsewhere after its node failed it
    /// (NODE_FAIL, PREEMPTED, a node without its engine)
    #[arg(long, value_name = "N", default_value_t = 1, requires = "farm")]
    pub retries: u32,
}

/// The farms render drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FarmKind {
    Slurm,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub folder: FolderArg,
    /// The port to listen on (0: any free port; the address is printed)
    #[arg(long, value_name = "P", default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on; anything but a loopback address requires a token
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// The token requests must carry (`Authorization: Bearer TOKEN`) [default: none on
    /// a loopback address, else one generated and printed once]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// With a token: let reads (pages, media, GET) through without it
    #[arg(long)]
    pub public_read: bool,
    /// Also build on every saved change, as `render watch` does
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: Option<BenchCommand>,
    /// A model folder, e.g. models/wav2lip (holding model.toml)
    #[arg(required = true, value_name = "MODEL_DIR")]
    pub model: Option<PathBuf>,
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

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Measure a talking-head video against its portrait with the face landmark model:
    /// lips against loudness, mouth drift, silent mouth, blinks, head motion, chin
    Face(FaceBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct FaceBenchArgs {
    /// The video to measure (with its audio)
    pub video: PathBuf,
    /// The still portrait it was made from
    #[arg(long, value_name = "IMAGE")]
    pub reference: PathBuf,
    /// Also write the figures and the per-frame series to FILE as JSON (`-`: standard
    /// output, and the table goes to standard error)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Where the landmark model runs: "auto" | "cpu" | "cuda:N"
    #[arg(long, default_value = "cpu")]
    pub device: String,
}
