//! The farm file: where a render farm is and how to ask it for work — this machine's
//! business, like its engines file, not the content folder's. `$RENDER_FARM`, else
//! `$XDG_CONFIG_HOME/render/farm.toml`, else `~/.config/render/farm.toml`; with none, a
//! Slurm farm is used on its own defaults (the default partition, no account, one CPU per
//! job, GPUs asked for with `--gpus=1`).
//!
//! ```toml
//! partition = "batch"             # where CPU jobs go (Slurm's default when not given)
//! account = "studio"
//! qos = "nightly"
//! sbatch = ["--nice=10"]          # given to every sbatch
//! max_in_flight = 64              # Slurm jobs of one build queued or running at once
//! submit_per_second = 5           # sbatch calls a second, at most
//! poll_seconds = 5                # the longest wait between two squeue calls of a build
//!
//! [cpu]                           # speech, captions, face tracks, scenes
//! cpus = 2
//! memory = "4G"
//! time = "30"                     # Slurm's formats: minutes, h:mm:ss, days-hours, ...
//!
//! [gpu]                           # GPU engines and models
//! partition = "gpu"
//! options = ["--gres=gpu:1"]      # how a job asks for its GPU here
//! cpus = 8
//! memory = "64G"
//! time = "4:00:00"
//!
//! [time]                          # per engine, over [cpu]/[gpu]'s
//! wan = "1-00:00:00"
//! ```
//!
//! Every option render passes itself (job name, output files, `--parsable`, the command)
//! is refused in `sbatch`/`options`, so the farm can always find and cancel its jobs and
//! keep their logs. Problems are reported at once, each at its file, line and column.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{ConfigError, Doc, Errors};
use crate::manifest::table;

/// A farm, as this machine's farm file describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Farm {
    /// The file it was read from (None: no file, the farm's defaults).
    pub file: Option<PathBuf>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Options for every `sbatch`, after render's own.
    pub sbatch: Vec<String>,
    pub max_in_flight: usize,
    pub submit_per_second: f64,
    /// The longest wait between two polling rounds (`squeue`) of a build, in seconds.
    pub poll_seconds: u32,
    pub cpu: Request,
    pub gpu: Request,
    /// Time limits by engine name, in minutes.
    pub time: BTreeMap<String, u32>,
}

/// What one kind of Slurm job asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    pub partition: Option<String>,
    pub cpus: Option<u32>,
    /// Megabytes.
    pub memory_mb: Option<u64>,
    /// Minutes.
    pub time: Option<u32>,
    pub options: Vec<String>,
    /// `batch_seconds`: how much work (by the history's job times) one Slurm job of
    /// several jobs aims to hold; None: the executor's own (`executor::slurm`).
    pub batch_seconds: Option<u32>,
}

/// Which kind of job a Slurm job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Cpu,
    Gpu,
}

pub const MAX_IN_FLIGHT: usize = 100;
pub const SUBMIT_PER_SECOND: f64 = 10.0;
pub const POLL_SECONDS: u32 = 5;

/// Options render sets on every job itself.
const RENDERS_OWN: &[&str] = &[
    "-J",
    "--job-name",
    "-o",
    "--output",
    "-e",
    "--error",
    "--parsable",
    "--wrap",
    "-a",
    "--array",
    "-D",
    "--chdir",
];

impl Default for Farm {
    fn default() -> Farm {
        Farm {
            file: None,
            account: None,
            qos: None,
            sbatch: Vec::new(),
            max_in_flight: MAX_IN_FLIGHT,
            submit_per_second: SUBMIT_PER_SECOND,
            poll_seconds: POLL_SECONDS,
            cpu: Request::default(),
            gpu: Request {
                options: vec!["--gpus=1".into()],
                ..Request::default()
            },
            time: BTreeMap::new(),
        }
    }
}

impl Farm {
    /// This machine's farm file, or the defaults when there is none (a `$RENDER_FARM` that
    /// names no file is an error).
    pub fn load() -> Result<Farm, Vec<ConfigError>> {
        let named = std::env::var_os("RENDER_FARM").map(PathBuf::from);
        let Some(path) = named.clone().or_else(default_file) else {
            return Ok(Farm::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Farm::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && named.is_none() => {
                Ok(Farm::default())
            }
            Err(e) => {
                let name = path.display().to_string();
                let error = ConfigError::in_file(&name, format!("cannot read `{name}`: {e}"));
                Err(vec![error.with_help(
                    "this machine's farm file: $RENDER_FARM, else ~/.config/render/farm.toml",
                )])
            }
        }
    }

    /// The farm that `text` (the file at `path`) describes, or every problem in it.
    pub fn parse(path: &Path, text: &str) -> Result<Farm, Vec<ConfigError>> {
        let doc = Doc::new(path.display().to_string(), text);
        let mut top = table::parse_document(&doc)?;
        let mut errors = Vec::new();
        let ctx = "in the farm file";
        let keys = [
            "partition",
            "account",
            "qos",
            "sbatch",
            "max_in_flight",
            "submit_per_second",
            "poll_seconds",
            "cpu",
            "gpu",
            "time",
        ];
        table::unknown_keys(&doc, &mut top, &keys, ctx, &mut errors);
        for name in ["cpu", "gpu"] {
            if let Some(toml::de::DeValue::Table(t)) = top.get_mut(name).map(|v| v.get_mut()) {
                let keys = [
                    "partition",
                    "cpus",
                    "memory",
                    "time",
                    "options",
                    "batch_seconds",
                ];
                table::unknown_keys(&doc, t, &keys, &format!("in [{name}]"), &mut errors);
            }
        }
        let span = 0..text.len();
        let value = Spanned::new(span, toml::de::DeValue::Table(top));
        let Some(raw) = errors.keep(table::de::<Raw>(&doc, value, ctx)) else {
            return Err(errors);
        };
        let mut farm = Farm {
            file: Some(path.to_path_buf()),
            account: raw.account,
            qos: raw.qos,
            sbatch: options(&doc, raw.sbatch, &mut errors),
            max_in_flight: raw.max_in_flight.map_or(MAX_IN_FLIGHT, |n| {
                positive(&doc, n, "max_in_flight", &mut errors) as usize
            }),
            submit_per_second: raw.submit_per_second.map_or(SUBMIT_PER_SECOND, |rate| {
                let span = rate.span();
                let rate = rate.into_inner();
                if !(rate > 0.0 && rate.is_finite()) {
                    let help =
                        "how many sbatch calls a second, e.g. 5 (a busy controller wants few)";
                    errors.push(doc.err(span, "`submit_per_second` must be above 0", "", help));
                }
                rate
            }),
            poll_seconds: (raw.poll_seconds).map_or(POLL_SECONDS, |n| {
                positive(&doc, n, "poll_seconds", &mut errors)
            }),
            cpu: request(&doc, raw.cpu.unwrap_or_default(), Kind::Cpu, &mut errors),
            gpu: request(&doc, raw.gpu.unwrap_or_default(), Kind::Gpu, &mut errors),
            time: BTreeMap::new(),
        };
        farm.cpu.partition = farm.cpu.partition.or(raw.partition);
        for (engine, limit) in raw.time {
            if let Some(minutes) = minutes(&doc, &limit, &mut errors) {
                farm.time.insert(engine, minutes);
            }
        }
        if errors.is_empty() {
            Ok(farm)
        } else {
            Err(errors)
        }
    }

    /// The `sbatch` options of a job of `kind` running `engines` (the longest of their time
    /// limits wins), besides render's own: partition, account, QoS, resources, time limit,
    /// then the file's extra options.
    pub fn sbatch_options(&self, kind: Kind, engines: &[&str]) -> Vec<String> {
        let request = match kind {
            Kind::Cpu => &self.cpu,
            Kind::Gpu => &self.gpu,
        };
        let mut args = Vec::new();
        let partition = request.partition.as_ref();
        let partition = partition.or(self.cpu.partition.as_ref().filter(|_| kind == Kind::Gpu));
        if let Some(partition) = partition {
            args.push(format!("--partition={partition}"));
        }
        if let Some(account) = &self.account {
            args.push(format!("--account={account}"));
        }
        if let Some(qos) = &self.qos {
            args.push(format!("--qos={qos}"));
        }
        if let Some(cpus) = request.cpus {
            args.push(format!("--cpus-per-task={cpus}"));
        }
        if let Some(mb) = request.memory_mb {
            args.push(format!("--mem={mb}M"));
        }
        let by_engine = engines.iter().filter_map(|e| self.time.get(*e)).max();
        if let Some(minutes) = by_engine.or(request.time.as_ref()) {
            args.push(format!("--time={minutes}"));
        }
        args.extend(request.options.iter().cloned());
        args.extend(self.sbatch.iter().cloned());
        args
    }
}

fn default_file() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("render").join("farm.toml"))
}

#[derive(Deserialize)]
struct Raw {
    partition: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    #[serde(default)]
    sbatch: Vec<Spanned<String>>,
    max_in_flight: Option<Spanned<i64>>,
    submit_per_second: Option<Spanned<f64>>,
    poll_seconds: Option<Spanned<i64>>,
    cpu: Option<RawRequest>,
    gpu: Option<RawRequest>,
    #[serde(default)]
    time: BTreeMap<String, Spanned<String>>,
}

#[derive(Default, Deserialize)]
struct RawRequest {
    partition: Option<String>,
    cpus: Option<Spanned<i64>>,
    memory: Option<Spanned<String>>,
    time: Option<Spanned<String>>,
    /// None: the default (`--gpus=1` for a GPU job); `[]`: nothing (a GPU-less test farm).
    options: Option<Vec<Spanned<String>>>,
    batch_seconds: Option<Spanned<i64>>,
}

fn request(doc: &Doc, raw: RawRequest, kind: Kind, errors: &mut Vec<ConfigError>) -> Request {
    Request {
        partition: raw.partition,
        cpus: raw.cpus.map(|n| positive(doc, n, "cpus", errors)),
        memory_mb: raw.memory.and_then(|m| match megabytes(m.get_ref()) {
            Some(mb) => Some(mb),
            None => {
                let help = "a size as Slurm writes it: 512M, 4G, 1T (or a number of megabytes)";
                let msg = format!("`{}` is not an amount of memory", m.get_ref());
                errors.push(doc.err(m.span(), msg, "not a size", help));
                None
            }
        }),
        time: raw.time.and_then(|t| minutes(doc, &t, errors)),
        batch_seconds: raw
            .batch_seconds
            .map(|n| positive(doc, n, "batch_seconds", errors)),
        options: match (raw.options, kind) {
            (Some(raw), _) => options(doc, raw, errors),
            (None, Kind::Cpu) => Vec::new(),
            (None, Kind::Gpu) => Farm::default().gpu.options,
        },
    }
}

/// A count above 0 (else an error, and 1).
fn positive(doc: &Doc, n: Spanned<i64>, what: &str, errors: &mut Vec<ConfigError>) -> u32 {
    match u32::try_from(*n.get_ref()) {
        Ok(n) if n > 0 => n,
        _ => {
            let msg = format!("`{what}` must be a whole number above 0");
            errors.push(doc.err(n.span(), msg, "", ""));
            1
        }
    }
}

/// sbatch options, each one word starting with `-`, none that render sets itself.
fn options(doc: &Doc, raw: Vec<Spanned<String>>, errors: &mut Vec<ConfigError>) -> Vec<String> {
    let mut out = Vec::new();
    for option in raw {
        let (span, text): (Range<usize>, String) = (option.span(), option.into_inner());
        let name = text.split('=').next().unwrap_or_default();
        if !text.starts_with('-') || text.contains(char::is_whitespace) {
            let help = "one option a string, as on sbatch's command line: [\"--gres=gpu:1\", \"--constraint=a100\"]";
            let msg = format!("`{text}` is not one sbatch option");
            errors.push(doc.err(span, msg, "", help));
        } else if RENDERS_OWN.contains(&name)
            || (name.len() > 2 && RENDERS_OWN.contains(&&name[..2]) && !name.starts_with("--"))
        {
            let help = "render names each job for its build, keeps its output with the build and runs its own command: remove this option";
            let msg = format!("`{name}` is set by render itself");
            errors.push(doc.err(span, msg, "", help));
        } else {
            out.push(text);
        }
    }
    out
}

/// Slurm's memory size: a number of megabytes, or with K, M, G or T.
fn megabytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "M"),
    };
    let n: u64 = number.parse().ok()?;
    let mb = match unit.to_ascii_uppercase().as_str() {
        "K" | "KB" => n.div_ceil(1024),
        "M" | "MB" => n,
        "G" | "GB" => n.checked_mul(1024)?,
        "T" | "TB" => n.checked_mul(1024 * 1024)?,
        _ => return None,
    };
    (mb > 0).then_some(mb)
}

/// A Slurm time limit in minutes (rounded up), from its formats: `minutes`,
/// `minutes:seconds`, `hours:minutes:seconds`, `days-hours`, `days-hours:minutes`,
/// `days-hours:minutes:seconds`; else an error.
fn minutes(doc: &Doc, limit: &Spanned<String>, errors: &mut Vec<ConfigError>) -> Option<u32> {
    let parsed = slurm_minutes(limit.get_ref()).filter(|&m| m > 0);
    if parsed.is_none() {
        let help = "a time as Slurm writes it: 30 (minutes), 1:30:00, 2-00:00:00 (days-hours:minutes:seconds)";
        let msg = format!("`{}` is not a time limit", limit.get_ref());
        errors.push(doc.err(limit.span(), msg, "not a time", help));
    }
    parsed
}

fn slurm_minutes(text: &str) -> Option<u32> {
    let number = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (number(d)?, Some(rest)),
        None => (0, None),
    };
    let seconds: u32 = match rest {
        Some(rest) => {
            let parts: Vec<u32> = rest.split(':').map(number).collect::<Option<_>>()?;
            match parts[..] {
                [h] => h * 3600,
                [h, m] => h * 3600 + m * 60,
                [h, m, s] => h * 3600 + m * 60 + s,
                _ => return None,
            }
        }
        None => {
            let parts: Vec<u32> = text.split(':').map(number).collect::<Option<_>>()?;
            match parts[..] {
                [m] => m * 60,
                [m, s] => m * 60 + s,
                [h, m, s] => h * 3600 + m * 60 + s,
                _ => return None,
            }
        }
    };
    Some(days * 24 * 60 + seconds.div_ceil(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Farm, Vec<String>> {
        Farm::parse(Path::new("farm.toml"), text).map_err(|errors| {
            (errors.iter())
                .map(|e| {
                    format!(
                        "{}: {} ({})",
                        e.location(),
                        e,
                        e.help.clone().unwrap_or_default()
                    )
                })
                .collect()
        })
    }

    #[test]
    fn a_studio_farm_file_becomes_each_kind_of_jobs_sbatch_options() {
        let farm = parse(
            r#"partition = "batch"
account = "studio"
qos = "nightly"
sbatch = ["--nice=10"]
max_in_flight = 64
submit_per_second = 5
poll_seconds = 2

[cpu]
cpus = 2
memory = "4G"
time = "30"

[gpu]
partition = "gpu"
options = ["--gres=gpu:1"]
memory = "64G"
time = "4:00:00"

[time]
wan = "1-00:00:00"
"#,
        )
        .unwrap();
        assert_eq!((farm.max_in_flight, farm.submit_per_second), (64, 5.0));
        assert_eq!(farm.poll_seconds, 2);
        assert_eq!(
            farm.sbatch_options(Kind::Cpu, &["espeak-ng", "ffmpeg"]),
            [
                "--partition=batch",
                "--account=studio",
                "--qos=nightly",
                "--cpus-per-task=2",
                "--mem=4096M",
                "--time=30",
                "--nice=10"
            ]
        );
        assert_eq!(
            farm.sbatch_options(Kind::Gpu, &["wan"]),
            [
                "--partition=gpu",
                "--account=studio",
                "--qos=nightly",
                "--mem=65536M",
                "--time=1440",
                "--gres=gpu:1",
                "--nice=10"
            ]
        );
        assert_eq!(
            farm.sbatch_options(Kind::Gpu, &["hallo2"])[3..5],
            ["--mem=65536M", "--time=240"]
        );
    }

    #[test]
    fn without_a_file_the_clusters_defaults_and_one_gpu_a_gpu_job() {
        let farm = Farm::default();
        assert_eq!(farm.sbatch_options(Kind::Cpu, &[]), Vec::<String>::new());
        assert_eq!(farm.sbatch_options(Kind::Gpu, &[]), ["--gpus=1"]);
        // A GPU-less test farm says how its "GPU" jobs are asked for, even by nothing.
        let farm = parse("[gpu]\npartition = \"gpu\"\noptions = []\n").unwrap();
        assert_eq!(farm.sbatch_options(Kind::Gpu, &[]), ["--partition=gpu"]);
    }

    #[test]
    fn every_mistake_is_named_at_its_place_with_a_hint() {
        let errors = parse(
            r#"partiton = "batch"
sbatch = ["--job-name=mine", "--mem 4G"]
max_in_flight = 0

[gpu]
memory = "64 gigs"
time = "forever"
gres = "gpu:1"
"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "farm.toml:1:1: unknown key `partiton` in the farm file (did you mean `partition`?)",
                "farm.toml:8:1: unknown key `gres` in [gpu] (valid keys here are `partition`, `cpus`, `memory`, `time`, `options` and `batch_seconds`)",
                "farm.toml:2:11: `--job-name` is set by render itself (render names each job for its build, keeps its output with the build and runs its own command: remove this option)",
                "farm.toml:2:30: `--mem 4G` is not one sbatch option (one option a string, as on sbatch's command line: [\"--gres=gpu:1\", \"--constraint=a100\"])",
                "farm.toml:3:17: `max_in_flight` must be a whole number above 0 ()",
                "farm.toml:6:10: `64 gigs` is not an amount of memory (a size as Slurm writes it: 512M, 4G, 1T (or a number of megabytes))",
                "farm.toml:7:8: `forever` is not a time limit (a time as Slurm writes it: 30 (minutes), 1:30:00, 2-00:00:00 (days-hours:minutes:seconds))",
            ]
        );
    }

    #[test]
    fn slurm_time_formats() {
        let cases = [
            ("30", Some(30)),
            ("1:30", Some(2)),
            ("1:30:00", Some(90)),
            ("2-00", Some(2880)),
            ("1-02:03", Some(1563)),
            ("1-00:00:01", Some(1441)),
            ("", None),
            ("1h", None),
            ("1:2:3:4", None),
        ];
        for (text, minutes) in cases {
            assert_eq!(slurm_minutes(text), minutes, "{text}");
        }
        assert_eq!(megabytes("512"), Some(512));
        assert_eq!(megabytes("2g"), Some(2048));
        assert_eq!(megabytes("4 G"), None);
    }
}
