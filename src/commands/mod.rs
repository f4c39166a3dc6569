//! The subcommands. Each loads what it needs and returns an exit code; errors are printed
//! as miette diagnostics here, once.

pub mod bench;
pub mod build;
pub mod clean;
pub mod engines;
pub mod gc;
pub mod log;
pub mod plan;
pub mod report;
pub mod run_job;
pub mod serve;
pub mod status;
pub mod verify;
pub mod watch;

use std::path::{Path, PathBuf};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::manifest::{self, ConfigError, Manifest};
use crate::media_check::MediaChecks;
use crate::sources::SourceHashes;

/// Exit codes: 0 ok, 1 an artifact failed (or, for `plan --check`, something is stale),
/// 2 a configuration error, 64 a command line render cannot parse (BSD sysexits'
/// `EX_USAGE`), 130 stopped by Ctrl-C (the shell's code for a SIGINT death, which scripts
/// test for).
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_CONFIG: i32 = 2;
pub const EXIT_USAGE: i32 = 64;
pub const EXIT_INTERRUPTED: i32 = 130;

/// What marks a content folder.
pub const RENDERFILE: &str = "Renderfile.toml";

/// The content folder and the targets from `build` and `plan` arguments (`[DIR]
/// [TARGET…]`): the first argument is the folder when it holds Renderfile.toml, or when
/// it is an existing folder that cannot be a target (`/x`, `./x`, `a/b/c`); otherwise
/// every argument is a target and the folder is found as `find_folder` finds it.
pub fn locate(args: &[String]) -> Result<(PathBuf, Vec<String>)> {
    if let Some(first) = args.first() {
        let dir = Path::new(first);
        let not_a_target =
            first.starts_with(['/', '.']) || first.trim_end_matches('/').matches('/').count() > 1;
        if dir.join(RENDERFILE).is_file() || (not_a_target && dir.is_dir()) {
            return Ok((dir.to_path_buf(), args[1..].to_vec()));
        }
    }
    Ok((find_folder()?, args.to_vec()))
}

/// The content folder of a command that takes only `[DIR]`: DIR, else the nearest folder
/// holding Renderfile.toml.
pub fn folder(dir: Option<&Path>) -> Result<PathBuf> {
    match dir {
        Some(dir) => Ok(dir.to_path_buf()),
        None => find_folder(),
    }
}

/// The nearest folder, from the working directory upwards, holding Renderfile.toml (as
/// cargo finds Cargo.toml and just a justfile).
fn find_folder() -> Result<PathBuf> {
    let here = Path::new(".");
    let start = here
        .canonicalize()
        .map_err(|e| Error::io("cannot open the folder", here, e))?;
    start
        .ancestors()
        .find(|dir| dir.join(RENDERFILE).is_file())
        .map(Path::to_path_buf)
        .ok_or(Error::NoContentFolder { from: start })
}

/// The content folder, canonicalised, or a configuration error saying why not.
pub fn content_root(dir: &Path) -> std::result::Result<PathBuf, Error> {
    let root = dir
        .canonicalize()
        .map_err(|e| Error::io("cannot open the content folder", dir, e))?;
    Ok(root)
}

/// Loads the manifest, checking the media files it names. Returns the manifest, whether
/// some scenes were left out, and the source hashes (read here, so that the checks and the
/// graph stat each file once).
pub fn load(
    dir: &Path,
    keep_going: bool,
) -> std::result::Result<(Manifest, bool, SourceHashes), i32> {
    let root = match content_root(dir) {
        Ok(root) => root,
        Err(error) => {
            report(error);
            return Err(EXIT_CONFIG);
        }
    };
    crate::toolchain::remember_in(
        crate::cache::Cache::new(&root)
            .state_dir()
            .join("tools.json"),
    );
    let state = crate::cache::Cache::new(&root).state_dir();
    let hashes = SourceHashes::load(&state.join("sources.json"));
    let loaded = manifest::load_checked(&root, &MediaChecks::new(&hashes));
    if crate::process::interrupted() {
        // Whatever went wrong while loading may be Ctrl-C's doing: say only that.
        return Err(interrupted());
    }
    match loaded {
        Err(errors) => {
            errors.into_iter().for_each(|e| report(e.into()));
            Err(EXIT_CONFIG)
        }
        Ok(loaded) => {
            for warning in &loaded.warnings {
                crate::noop_stamp::say(&render(warning));
            }
            let partial = !loaded.errors.is_empty();
            for error in loaded.errors {
                report(error.into());
            }
            if partial && !keep_going {
                // --keep-going helps only where some scene is valid.
                let valid = loaded
                    .manifest
                    .projects
                    .iter()
                    .any(|p| !p.scenes.is_empty());
                eprintln!(
                    "render: nothing was built; fix the errors above{}",
                    if valid {
                        ", or pass --keep-going to build the valid scenes"
                    } else {
                        ""
                    }
                );
                return Err(EXIT_CONFIG);
            }
            Ok((loaded.manifest, partial, hashes))
        }
    }
}

/// Runs `command` on the content folder `found`, or reports why there is none.
pub fn with_folder(found: Result<PathBuf>, command: impl FnOnce(&Path) -> i32) -> i32 {
    match found {
        Ok(dir) => command(&dir),
        Err(error) => exit_code(Err(error)),
    }
}

/// The device for models, when the manifest uses any: `auto` may fall back to the CPU
/// with a notice; an unusable `cuda:N` is a configuration error.
pub fn device(manifest: &Manifest) -> Result<Option<Device>> {
    if let Err(notice) = crate::face_model::installed() {
        crate::noop_stamp::say(&format!("render: {notice}\n"));
    }
    if !crate::graph::uses_models(manifest) {
        return Ok(None);
    }
    let resolved = Device::resolve(&manifest.settings.device, crate::worker::cuda_devices);
    let (device, notice) = resolved.map_err(|message| {
        let help = "set `device = \"auto\"` (CUDA when present, else the CPU) or `device = \"cpu\"` in [render]";
        let message = format!("device {message}");
        let renderfile = manifest.root.join(RENDERFILE);
        let text = std::fs::read_to_string(&renderfile).unwrap_or_default();
        match &manifest.settings.device_at {
            Some(at) if at.end <= text.len() => crate::diagnostic::Doc::new(RENDERFILE, text)
                .err(at.clone(), message, "not on this machine", help),
            _ => ConfigError::in_file(RENDERFILE, message).with_help(help),
        }
    })?;
    // Falling back to the CPU matters for lip-sync and speech models, not for the face
    // landmark model alone: a build that uses only that says nothing.
    if let Some(notice) = notice.filter(|_| crate::graph::uses_heavy_models(manifest)) {
        crate::noop_stamp::say(&format!("render: {notice}\n"));
    }
    Ok(Some(device))
}

/// `path` as the user would write it: relative to the content folder when inside it.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every mistake of a machine's own file (the farm file, the engines file) shown, and the
/// first as the error the command fails with; `what` names the file when there is none.
pub fn config_errors(errors: Vec<crate::diagnostic::ConfigError>, what: &str) -> Error {
    let mut errors = errors.into_iter().map(|e| Error::Config(Box::new(e)));
    let first = errors.next();
    errors.for_each(report);
    first.unwrap_or_else(|| Error::Other(format!("{what} is not valid")))
}

pub fn report(error: Error) {
    eprint!("{}", render(&error));
}

/// Renders a diagnostic the same way everywhere: colour on a terminal, plain text in logs
/// (and tests), file:line:col and a snippet for configuration errors.
pub fn render(diagnostic: &dyn miette::Diagnostic) -> String {
    use std::io::IsTerminal;
    // Logs are not wrapped: a message stays on one line for grep and for tests.
    if std::io::stderr().is_terminal() {
        render_with(diagnostic, miette::GraphicalTheme::unicode(), 100)
    } else {
        render_plain(diagnostic)
    }
}

/// A diagnostic as plain text, whatever stderr is (for files: the history, the report).
pub fn render_plain(diagnostic: &dyn miette::Diagnostic) -> String {
    render_with(diagnostic, miette::GraphicalTheme::unicode_nocolor(), 400)
}

fn render_with(
    diagnostic: &dyn miette::Diagnostic,
    theme: miette::GraphicalTheme,
    width: usize,
) -> String {
    let mut out = String::new();
    let _ = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .render_report(&mut out, diagnostic);
    out
}

/// Says that Ctrl-C stopped the command; returns its exit code.
pub fn interrupted() -> i32 {
    eprintln!("render: interrupted");
    EXIT_INTERRUPTED
}

pub fn exit_code(result: Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(Error::Interrupted) => interrupted(),
        Err(_) if crate::process::interrupted() => interrupted(),
        Err(error) => {
            let code = if error.is_config() {
                EXIT_CONFIG
            } else {
                EXIT_FAILED
            };
            report(error);
            code
        }
    }
}
