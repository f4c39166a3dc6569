//! `render log`: the recent builds from the history (`cache/history.jsonl`), one row each —
//! when it started, how long it took, what it made, reused and failed, its exit code and
//! command — and under a build that failed, what failed: "which night broke this scene"
//! is one look down the list.

use std::path::Path;

use crate::cache::Cache;
use crate::commands;
use crate::history::{self, History};

/// Failed artifacts named under a build, at most.
const FAILURES_SHOWN: usize = 5;

pub fn run(dir: &Path, count: usize) -> i32 {
    let root = match commands::content_root(dir) {
        Ok(root) => root,
        Err(error) => return commands::exit_code(Err(error)),
    };
    let read = History::of(&Cache::new(&root)).read();
    if read.skipped > 0 {
        eprintln!(
            "render: skipped {} unreadable line{} of the history (a build killed while writing it)",
            read.skipped,
            if read.skipped == 1 { "" } else { "s" }
        );
    }
    if read.builds.is_empty() {
        eprintln!("render: no builds recorded yet");
        return 0;
    }
    print!("{}", table(&read.builds, count));
    0
}

/// The last `count` builds, oldest first, numbered from the history's first build.
pub fn table(builds: &[history::BuildRecord], count: usize) -> String {
    let first = builds.len().saturating_sub(count);
    let mut text = format!(
        "{:>5}  {:<19}  {:>9}  {:>5}  {:>6}  {:>6}  {:>4}  command\n",
        "build", "started (UTC)", "took", "made", "reused", "failed", "exit"
    );
    for (n, build) in builds.iter().enumerate().skip(first) {
        let counts = &build.counts;
        text.push_str(&format!(
            "{:>5}  {:<19}  {:>9}  {:>5}  {:>6}  {:>6}  {:>4}  {}\n",
            n + 1,
            history::utc(build.started),
            history::duration(build.seconds()),
            counts.made,
            counts.reused,
            counts.failed,
            build.exit,
            command_line(&build.command),
        ));
        text.push_str(&nodes(build));
        let failed: Vec<&str> = (build.failures.iter())
            .map(|f| f.artifact.as_str())
            .collect();
        for name in failed.iter().take(FAILURES_SHOWN) {
            text.push_str(&format!("{:>7}failed: {name}\n", ""));
        }
        if failed.len() > FAILURES_SHOWN {
            text.push_str(&format!(
                "{:>7}and {} more\n",
                "",
                failed.len() - FAILURES_SHOWN
            ));
        }
    }
    text
}

/// Under a build whose work was spread over machines (a farm's nodes), a line of what each
/// one made and the seconds it spent: `nodes: n1 12 made in 31 s, n2 10 made in 28 s`. A
/// build made wholly on its own host (every local build) shows none.
fn nodes(build: &history::BuildRecord) -> String {
    let nodes = history::made_on_nodes(build);
    if nodes.is_empty() {
        return String::new();
    }
    let each: Vec<String> = (nodes.iter())
        .map(|(node, (made, seconds))| {
            format!("{node} {made} made in {}", history::duration(*seconds))
        })
        .collect();
    format!("{:>7}nodes: {}\n", "", each.join(", "))
}

/// The command as typed, with the program's own path shortened to its name.
fn command_line(command: &[String]) -> String {
    let mut words: Vec<String> = command.to_vec();
    if let Some(program) = words.first_mut() {
        if let Some(name) = Path::new(program.as_str()).file_name() {
            *program = name.to_string_lossy().into_owned();
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{ArtifactRun, BuildRecord, Counts, Failure};

    #[test]
    fn a_row_per_build_and_what_failed_under_it() {
        let build = |made, failures: Vec<&str>| BuildRecord {
            started: 1_795_489_212.0,
            ended: 1_795_489_212.0 + 190.0,
            command: vec!["/usr/local/bin/render".into(), "build".into()],
            exit: if failures.is_empty() { 0 } else { 1 },
            counts: Counts {
                made,
                reused: 9,
                failed: failures.len(),
                ..Counts::default()
            },
            failures: (failures.iter())
                .map(|name| Failure {
                    artifact: name.to_string(),
                    message: String::new(),
                })
                .collect(),
            ..BuildRecord::default()
        };
        let mut farm = build(3, vec![]);
        farm.host = "driver".into();
        farm.artifacts = [("n1", 2.0), ("n2", 3.5), ("n1", 4.0)]
            .map(|(node, seconds)| ArtifactRun {
                name: "speech demo/welcome:1".into(),
                kind: "speech".into(),
                key: "00".into(),
                status: "made".into(),
                start: None,
                seconds,
                host: Some(node.into()),
                variants: Vec::new(),
            })
            .to_vec();
        let builds = [
            build(1, vec![]),
            build(13, vec![]),
            build(2, vec!["speech demo/welcome:2"]),
        ];
        assert_eq!(
            table(&builds, 2),
            "\
build  started (UTC)             took   made  reused  failed  exit  command
    2  2026-11-24 03:00:12  3 min 10 s     13       9       0     0  render build
    3  2026-11-24 03:00:12  3 min 10 s      2       9       1     1  render build
       failed: speech demo/welcome:2
"
        );
        assert_eq!(
            table(&[farm], 1),
            "\
build  started (UTC)             took   made  reused  failed  exit  command
    1  2026-11-24 03:00:12  3 min 10 s      3       9       0     0  render build
       nodes: n1 2 made in 6.0 s, n2 1 made in 3.5 s
"
        );
    }
}
