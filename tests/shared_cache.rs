//! A cache that several machines write (a farm's nodes mounting one content folder): every
//! input a job reads is hashed before use, so a byte flipped in a cached object is caught
//! by the job that would read it, quarantined and made again — never built upon; two
//! machines committing the same key at once leave one verified object and no error; and
//! each object's record names the machine that made it, which `render log` sums per node.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{Folder, Run};

fn render(folder: &Folder, args: &[&str]) -> Run {
    folder.render_within(args, Duration::from_secs(120))
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

/// The one folder in cache/quarantine/, relative to the content folder.
fn quarantined(folder: &Folder) -> String {
    let entries: Vec<PathBuf> = std::fs::read_dir(folder.file("cache/quarantine"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let relative = entries[0].strip_prefix(folder.path()).unwrap();
    relative.display().to_string()
}

/// The job specs `plan --write-jobs jobs` wrote, in their order.
fn write_jobs(folder: &Folder) -> Vec<PathBuf> {
    let plan = folder.render(&["plan", "--write-jobs", "jobs"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let mut specs: Vec<PathBuf> = std::fs::read_dir(folder.file("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    specs.sort();
    specs
}

fn run_job(folder: &Folder, spec: &Path) -> Run {
    render(folder, &["run-job", spec.to_str().unwrap()])
}

#[test]
fn a_byte_flipped_in_a_speech_wav_is_caught_by_the_scene_that_reads_it_and_made_again() {
    let folder = Folder::tiny();
    folder.build();
    let speech = folder.object("speech p/talk:2").join("speech.wav");
    let clean = std::fs::read(&speech).unwrap();
    flip_byte(&speech, 1000);
    // The scene, which reads every line's speech, must be made again; the speech need not.
    folder.edit("Renderfile.toml", "pause = 0.2", "pause = 0.3");

    let run = render(&folder, &["build"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let aside = quarantined(&folder);
    let line = format!(
        "render: speech p/talk:2: its object in the cache was damaged (speech.wav does not match its record (its bytes changed)); moved to {aside} and making it again"
    );
    assert!(
        run.stderr.lines().any(|l| l == line),
        "no line {line:?} in:\n{}",
        run.stderr
    );
    // Made again from the same text before the scene read it: the same bytes as before.
    assert_eq!(
        run.made(),
        ["captions p/talk", "scene p/talk", "speech p/talk:2"]
    );
    assert_eq!(std::fs::read(&speech).unwrap(), clean);
    // Nine objects of the edited scene, and the first build's scene and captions.
    assert_eq!(folder.verify_cache(), 11);
    // The damaged file is kept, as it was found.
    let kept = std::fs::read(folder.file(&aside).join("speech.wav")).unwrap();
    assert_ne!(kept, clean);
    assert_eq!(kept.len(), clean.len());
}

#[test]
fn run_job_hashes_its_inputs_and_refuses_a_damaged_one() {
    let folder = Folder::tiny();
    let specs = write_jobs(&folder);
    let mut flipped = false;
    let mut refused = Vec::new();
    for spec in &specs {
        let job: serde_json::Value = serde_json::from_slice(&std::fs::read(spec).unwrap()).unwrap();
        if job["name"] == "clip p/talk:2" {
            let wav = folder.object("speech p/talk:2").join("speech.wav");
            flip_byte(&wav, 1000);
            flipped = true;
        }
        let run = run_job(&folder, spec);
        if run.code != 0 {
            refused.push(run.stderr);
        }
    }
    assert!(flipped);
    let aside = quarantined(&folder);
    // The clip that reads it refuses it; the captions and the scene then find it missing.
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert_eq!(
        refused[0],
        format!(
            "  × clip p/talk:2: its input speech p/talk:2 is damaged (speech.wav does not match its record (its bytes changed)); moved to {aside}, and the next build makes it again\n"
        )
    );
    assert!(refused[1].contains("captions p/talk: its input `line0002.speech` is not in the cache"));
    assert!(refused[2].contains("scene p/talk: its input `line0002.clip` is not in the cache"));
    assert!(folder
        .records()
        .iter()
        .all(|(_, r)| r["name"] != "clip p/talk:2"));
    // The next build makes the speech again, then what reads it.
    let run = folder.build();
    assert_eq!(
        run.made(),
        [
            "captions p/talk",
            "clip p/talk:2",
            "scene p/talk",
            "speech p/talk:2"
        ]
    );
    assert_eq!(folder.verify_cache(), 9);
}

#[test]
fn two_run_jobs_of_one_spec_at_once_leave_one_verified_object() {
    let folder = Folder::tiny();
    let specs = write_jobs(&folder);
    let (scene, before) = specs.split_last().unwrap();
    assert!(
        scene.to_string_lossy().ends_with("-scene.json"),
        "{scene:?}"
    );
    for spec in before {
        let run = run_job(&folder, spec);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    // Two machines (here: four processes) make the same scene at the same moment.
    let racers: Vec<_> = (0..4)
        .map(|n| {
            (folder.command(&["run-job", scene.to_str().unwrap()]))
                .env("SLURMD_NODENAME", format!("n{n}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for racer in racers {
        let out = racer.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.starts_with("made scene p/talk (")
                || stderr == "scene p/talk is already in the cache\n",
            "{stderr}"
        );
    }
    let scenes: Vec<_> = (folder.records().into_iter())
        .filter(|(_, r)| r["name"] == "scene p/talk")
        .collect();
    assert_eq!(scenes.len(), 1);
    let host = scenes[0].1["host"].as_str().unwrap().to_string();
    assert!(["n0", "n1", "n2", "n3"].contains(&host.as_str()), "{host}");
    assert_eq!(folder.verify_cache(), 9);
    // Nothing left behind by the losers.
    let tmp: Vec<_> = std::fs::read_dir(folder.file("cache/tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "{tmp:?}");
    assert!(!folder.file("cache/quarantine").exists());
    // The build publishes the one object without making anything.
    assert!(folder.build().made().is_empty());
}

#[test]
fn records_name_the_node_that_made_them_and_the_log_counts_per_node() {
    let folder = Folder::tiny();
    let run = folder.render_with_env(
        &["build"],
        &[("SLURMD_NODENAME", "gpu07")],
        Duration::from_secs(120),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let hosts: Vec<String> = (folder.records().iter())
        .map(|(_, r)| r["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts, vec!["gpu07".to_string(); 9]);
    let log = render(&folder, &["log"]);
    let nodes: Vec<&str> = (log.stdout.lines())
        .filter(|l| l.trim_start().starts_with("nodes:"))
        .collect();
    assert_eq!(nodes.len(), 1, "{}", log.stdout);
    assert!(
        nodes[0].trim_start().starts_with("nodes: gpu07 9 made in "),
        "{}",
        nodes[0]
    );

    // Made on the build's own host: no per-node line (`clean` empties the history too).
    render(&folder, &["clean"]);
    folder.build();
    let log = render(&folder, &["log"]);
    assert_eq!(log.stdout.matches("nodes:").count(), 0, "{}", log.stdout);
    let host = &folder.records()[0].1["host"];
    assert!(host.as_str().is_some_and(|h| !h.is_empty()), "{host}");
}
