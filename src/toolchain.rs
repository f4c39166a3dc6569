//! Versions of the external programs render drives. They enter the keys of the artifacts
//! those programs make, so upgrading ffmpeg or espeak-ng re-makes what they made — the same
//! rule as a change to render's own stage code.
//!
//! Asking a program costs a process start (ffmpeg's alone is ~0.1 s), and a no-op build
//! would pay it every time. So, like source files in `sources.rs`, each answer is
//! remembered in `cache/state/tools.json` by the program's stamp — the path it resolves to
//! on PATH, its size, mtime and inode — and asked again only when that stamp changes (an
//! upgrade, another program first on PATH).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::files::{write_atomically, Stamp};
use crate::process;

/// Where the commands keep tool facts for this content folder (`cache/state/tools.json`).
/// Call once, before the manifest loads; without it facts are remembered for this process
/// only.
pub fn remember_in(path: PathBuf) {
    let _ = STATE_FILE.set(path);
}

static STATE_FILE: OnceLock<PathBuf> = OnceLock::new();

fn facts() -> &'static ToolFacts {
    static FACTS: OnceLock<ToolFacts> = OnceLock::new();
    FACTS.get_or_init(|| ToolFacts::load(STATE_FILE.get().cloned()))
}

/// The version line, asked once per process and remembered across builds by stamp.
fn version(program: &'static str, arg: &'static str) -> Result<String> {
    let output = facts().ask(program, &[arg])?;
    Ok(output.lines().next().unwrap_or("").trim().to_string())
}

pub fn espeak() -> Result<String> {
    static CELL: OnceLock<String> = OnceLock::new();
    once(&CELL, || version("espeak-ng", "--version"))
}

pub fn ffmpeg() -> Result<String> {
    static CELL: OnceLock<String> = OnceLock::new();
    // "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) ..." → keep the version words only
    // (kept so: every clip's and scene's key asks for it).
    once(&CELL, || {
        let line = version("ffmpeg", "-version")?;
        Ok(line.split(" Copyright").next().unwrap_or(&line).to_string())
    })
}

/// Only a success is kept: a missing program is reported again where it is needed.
fn once(cell: &'static OnceLock<String>, ask: impl FnOnce() -> Result<String>) -> Result<String> {
    if let Some(value) = cell.get() {
        return Ok(value.clone());
    }
    let value = ask()?;
    Ok(cell.get_or_init(|| value).clone())
}

/// The names espeak-ng accepts for `-v <language>+<variant>`, from `--voices` and
/// `--voices=variant`. espeak-ng quietly falls back to its default voice for an unknown
/// name, so render checks names itself. None when espeak-ng cannot be asked.
#[derive(Debug, Default)]
pub struct EspeakNames {
    /// Language codes ("en-us"), what render suggests.
    pub languages: std::collections::BTreeSet<String>,
    /// Voice file names ("en-US"), which espeak-ng accepts too.
    pub voice_files: std::collections::BTreeSet<String>,
    pub variants: std::collections::BTreeSet<String>,
}

pub fn espeak_names() -> Option<&'static EspeakNames> {
    static CELL: OnceLock<Option<EspeakNames>> = OnceLock::new();
    CELL.get_or_init(|| {
        let list = |arg: &str| -> Option<Vec<(String, String)>> {
            let text = facts().ask("espeak-ng", &[arg]).ok()?;
            // "Pty Language Age/Gender VoiceName File Other Languages"
            Some(
                text.lines()
                    .skip(1)
                    .filter_map(|line| {
                        let columns: Vec<&str> = line.split_whitespace().collect();
                        let file = columns.get(4)?;
                        let base = file.rsplit('/').next()?;
                        Some((columns.get(1)?.to_string(), base.to_string()))
                    })
                    .collect(),
            )
        };
        let (languages, voice_files) = list("--voices")?.into_iter().unzip();
        let variants = list("--voices=variant")?
            .into_iter()
            .map(|(_, file)| file)
            .collect();
        Some(EspeakNames {
            languages,
            voice_files,
            variants,
        })
    })
    .as_ref()
}

/// What identifies one installed program: where PATH finds it and its file's stamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Program {
    path: PathBuf,
    stamp: Stamp,
}

impl Program {
    fn at(path: PathBuf) -> Option<Program> {
        let stamp = Stamp::of(&std::fs::metadata(&path).ok()?);
        Some(Program { path, stamp })
    }
}

/// One remembered answer: a program's stdout for one argument list.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Fact {
    program: Program,
    stdout: String,
}

/// The remembered answers, by "program args" (e.g. "ffmpeg -version").
struct ToolFacts {
    file: Option<PathBuf>,
    known: Mutex<BTreeMap<String, Fact>>,
}

impl ToolFacts {
    fn load(file: Option<PathBuf>) -> ToolFacts {
        // A missing or unreadable state only costs asking again, never correctness.
        let known = file
            .as_ref()
            .and_then(|file| std::fs::read(file).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        ToolFacts {
            file,
            known: Mutex::new(known),
        }
    }

    /// `program args`' stdout: remembered while the program's stamp holds, else asked.
    fn ask(&self, program: &str, args: &[&str]) -> Result<String> {
        let installed =
            find_on_path(program, std::env::var_os("PATH").as_deref()).and_then(Program::at);
        let question = std::iter::once(program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(installed) = &installed {
            if let Some(fact) = self.known.lock().unwrap().get(&question) {
                if fact.program == *installed {
                    return Ok(fact.stdout.clone());
                }
            }
        }
        // Run by name, as the stages do, so a missing program gets the usual message.
        let output = process::run(
            Command::new(program).args(args),
            "a version check",
            process::deadline(30.0),
        )?;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if let Some(installed) = installed {
            let mut known = self.known.lock().unwrap();
            known.insert(
                question,
                Fact {
                    program: installed,
                    stdout: stdout.clone(),
                },
            );
            self.save(&known);
        }
        Ok(stdout)
    }

    /// Writes the facts, but never creates the cache: `render plan` on a folder never
    /// built leaves it as it was (the next build remembers instead).
    fn save(&self, known: &BTreeMap<String, Fact>) {
        let Some(file) = &self.file else { return };
        let cache_exists = file
            .parent()
            .and_then(Path::parent)
            .is_some_and(Path::is_dir);
        if cache_exists {
            let bytes = serde_json::to_vec(known).expect("tool facts serialise");
            // Failing to remember only costs asking again next time.
            let _ = write_atomically(file, &bytes);
        }
    }
}

/// The file `program` names, searched on `path` the way the shell and `execvp` do.
pub fn find_on_path(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    // Each folder looked in, for the no-op stamp: a program put in an earlier one is found.
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            crate::noop_stamp::consulted(candidate);
            is_executable(candidate)
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake program that answers "fake 1.0" and counts its runs in `runs`.
    fn fake_program(dir: &Path, answer: &str) -> PathBuf {
        let program = dir.join("fake-tool");
        let runs = dir.join("runs");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\necho x >> '{}'\necho '{answer}'\n",
                runs.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        program
    }

    fn runs(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("runs"))
            .map(|text| text.lines().count())
            .unwrap_or(0)
    }

    #[test]
    fn asks_a_program_again_only_when_its_stamp_changes() {
        let dir = tempfile::tempdir().unwrap();
        let program = fake_program(dir.path(), "fake 1.0");
        let name = program.to_str().unwrap();
        // The state lives in <cache>/state/, and is written only when <cache> exists.
        let state = dir.path().join("cache/state/tools.json");
        std::fs::create_dir_all(dir.path().join("cache")).unwrap();

        let facts = ToolFacts::load(Some(state.clone()));
        assert_eq!(facts.ask(name, &["--version"]).unwrap(), "fake 1.0\n");
        assert_eq!(facts.ask(name, &["--version"]).unwrap(), "fake 1.0\n");
        assert_eq!(runs(dir.path()), 1);
        // Another question is asked once too.
        facts.ask(name, &["--list"]).unwrap();
        assert_eq!(runs(dir.path()), 2);

        // The next build remembers from the file, without running the program.
        let next = ToolFacts::load(Some(state.clone()));
        assert_eq!(next.ask(name, &["--version"]).unwrap(), "fake 1.0\n");
        assert_eq!(runs(dir.path()), 2);

        // A touched program is asked again…
        let file = std::fs::File::options().write(true).open(&program).unwrap();
        file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        drop(file);
        let touched = ToolFacts::load(Some(state.clone()));
        assert_eq!(touched.ask(name, &["--version"]).unwrap(), "fake 1.0\n");
        assert_eq!(runs(dir.path()), 3);

        // …and so is an upgraded one, whose new answer is what counts.
        std::fs::remove_file(&program).unwrap();
        fake_program(dir.path(), "fake 2.0.1");
        let upgraded = ToolFacts::load(Some(state));
        assert_eq!(upgraded.ask(name, &["--version"]).unwrap(), "fake 2.0.1\n");
        assert_eq!(runs(dir.path()), 4);
    }

    #[test]
    fn finds_programs_on_path_in_order() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let in_second = fake_program(second.path(), "second");
        let path = std::env::join_paths([first.path(), second.path()]).unwrap();
        assert_eq!(find_on_path("fake-tool", Some(&path)), Some(in_second));
        let in_first = fake_program(first.path(), "first");
        assert_eq!(find_on_path("fake-tool", Some(&path)), Some(in_first));
        assert_eq!(find_on_path("no-such-tool", Some(&path)), None);
    }

    #[test]
    fn never_creates_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let program = fake_program(dir.path(), "fake 1.0");
        let state = dir.path().join("cache/state/tools.json");
        let facts = ToolFacts::load(Some(state));
        facts.ask(program.to_str().unwrap(), &["-v"]).unwrap();
        assert!(!dir.path().join("cache").exists());
    }
}
