//! Test harness: copies a content folder to a temp dir, runs the real `render` binary on
//! it, and reads back what a user would look at — exit code, stderr, --json, out/, cache/.

#![allow(dead_code)]

pub mod background;
pub mod devtools;
pub mod http;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Folder {
    pub dir: tempfile::TempDir,
}

/// A content folder and a temp dir standing in for the machine's `/`: engines installed
/// under its `opt/` (their engine files' `/opt/` moved there), and a machine engines file
/// declaring none, so that this machine's own is not in the way.
pub struct Machine {
    pub folder: Folder,
    pub root: tempfile::TempDir,
}

impl Machine {
    pub fn new() -> Machine {
        let machine = Machine {
            folder: Folder {
                dir: tempfile::tempdir().unwrap(),
            },
            root: tempfile::tempdir().unwrap(),
        };
        std::fs::write(machine.engines_file(), "# none\n").unwrap();
        machine
    }

    /// Where `/opt/<rel>` is here.
    pub fn opt(&self, rel: &str) -> PathBuf {
        self.root.path().join("opt").join(rel)
    }

    /// The repository's engine file `rel` (`engines/<name>/engine.toml`) as installed here.
    pub fn engines(&self, rel: &str) -> String {
        let opt = self.root.path().join("opt");
        std::fs::read_to_string(repo().join(rel))
            .unwrap()
            .replace("/opt/", &format!("{}/", opt.display()))
    }

    /// The machine's engines file (`RENDER_ENGINES`).
    pub fn engines_file(&self) -> PathBuf {
        self.root.path().join("engines.toml")
    }

    /// `render ARGS` in the folder, on this machine.
    pub fn render(&self, args: &[&str]) -> Run {
        let engines = self.engines_file();
        self.folder.render_with_env(
            args,
            &[("RENDER_ENGINES", engines.to_str().unwrap())],
            std::time::Duration::from_secs(300),
        )
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// From --json: artifact name → status.
    pub statuses: BTreeMap<String, String>,
}

impl Run {
    pub fn made(&self) -> Vec<String> {
        self.with_status("made")
    }

    pub fn with_status(&self, status: &str) -> Vec<String> {
        self.statuses
            .iter()
            .filter(|(_, s)| *s == status)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// stderr's lines without their indentation and miette's nesting arrow (`╰─▶`), so that
    /// `× no face found ...` matches whether or not it is the cause of another error.
    pub fn stderr_lines(&self) -> Vec<&str> {
        (self.stderr.lines())
            .map(|l| l.trim_start().trim_start_matches("╰─▶").trim())
            .collect()
    }

    /// stderr has each of `expected` as a line (indentation aside).
    #[track_caller]
    pub fn assert_lines(&self, expected: &[&str]) {
        let have = self.stderr_lines();
        for line in expected {
            assert!(
                have.contains(line),
                "stderr has no line {line:?}:\n{}",
                self.stderr
            );
        }
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_render")
}

/// Runs a copy of the binary (`cmd`), waiting out "text file busy": while the copy was
/// written, another test's thread may have forked, and its child holds the copy's write
/// descriptor open until it execs.
pub fn output_of_copy(cmd: &mut Command) -> std::process::Output {
    for _ in 0..100 {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            result => return result.expect("the copied binary starts"),
        }
    }
    panic!("the copied binary stayed busy for two seconds")
}

/// Writes the tiny TorchScript fixture models (tools/export/fixtures.py, with the project
/// venv's torch) into `models/` of the folder.
pub fn add_fixture_models(folder: &Folder) {
    let output = Command::new(repo().join(".venv/bin/python"))
        .arg(repo().join("tools/export/fixtures.py"))
        .arg("--out")
        .arg(folder.file("models"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A program on PATH, by name.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Writes an executable script at `path` (a fake program for render to start).
pub fn write_program(path: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A mono 16-bit WAV of `seconds` of a 220 Hz tone, swelling and fading like a voice.
pub fn tone_wav(rate: u32, seconds: f64) -> Vec<u8> {
    let n = (rate as f64 * seconds) as usize;
    let mut bytes = Vec::new();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::new(std::io::Cursor::new(&mut bytes), spec).unwrap();
    for i in 0..n {
        let t = i as f64 / rate as f64;
        let envelope = (std::f64::consts::PI * t / seconds).sin() * (0.6 + 0.4 * (9.0 * t).sin());
        let sample = 12_000.0 * envelope * (2.0 * std::f64::consts::PI * 220.0 * t).sin();
        writer.write_sample(sample as i16).unwrap();
    }
    writer.finalize().unwrap();
    bytes
}

/// Copies a folder tree (files and folders) from `from` into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl Folder {
    /// A copy of the repository's demo content folder.
    pub fn demo() -> Folder {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            repo().join("Renderfile.toml"),
            dir.path().join("Renderfile.toml"),
        )
        .unwrap();
        copy_tree(&repo().join("projects"), &dir.path().join("projects"));
        copy_tree(&repo().join("avatars"), &dir.path().join("avatars"));
        // The narrator's engine (Piper) lives in the repository's .venv-piper.
        std::os::unix::fs::symlink(repo().join(".venv-piper"), dir.path().join(".venv-piper"))
            .unwrap();
        Folder { dir }
    }

    /// An empty content folder holding only the demo's portrait, `avatars/astronaut.png`.
    pub fn with_portrait() -> Folder {
        let folder = Folder {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(folder.file("avatars")).unwrap();
        std::fs::copy(
            repo().join("avatars/astronaut.png"),
            folder.file("avatars/astronaut.png"),
        )
        .unwrap();
        folder
    }

    /// One scene of three espeak lines on the built-in face, small and quick.
    pub fn tiny() -> Folder {
        let folder = Folder::with_portrait();
        folder.write(
            "Renderfile.toml",
            r##"[defaults]
fps = 25
size = [160, 90]
pause = 0.2
background = "#102030"
voice = "host"
avatar = "astronaut"

[voices.host]
engine = "espeak"
language = "en"

[avatars.astronaut]
image = "avatars/astronaut.png"
lipsync = "builtin"
"##,
        );
        folder.write(
            "projects/p/project.toml",
            r#"[[scene]]
name = "talk"
lines = ["One two three.", "Four five six.", "Seven eight."]
"#,
        );
        folder
    }

    /// The demo at a small output size, so tests that build it often stay quick.
    pub fn small_demo() -> Folder {
        let folder = Folder::demo();
        folder.edit("Renderfile.toml", "size = [1280, 720]", "size = [320, 180]");
        folder
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.file(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap()
    }

    /// Replaces `from` (which must occur) with `to` in a file.
    /// `╭─[rel:line:col]`, where miette points at `needle` in `rel` (1-based, columns in
    /// characters), computed from the file so edits elsewhere in it do not break the tests.
    pub fn location(&self, rel: &str, needle: &str) -> String {
        let text = self.read(rel);
        let offset = text
            .find(needle)
            .unwrap_or_else(|| panic!("{rel} does not contain {needle:?}"));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .count()
            + 1;
        format!("╭─[{rel}:{line}:{col}]")
    }

    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bin());
        // This machine's engines file is the folder's `.config/render/engines.toml`, if any.
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("RENDER_ENGINES")
            .env("XDG_CONFIG_HOME", self.path().join(".config"));
        command
    }

    /// Runs render with `args` (a build also writes --json); a run that hangs fails the
    /// test after ten minutes instead of hanging it.
    pub fn render(&self, args: &[&str]) -> Run {
        self.render_within(args, std::time::Duration::from_secs(600))
    }

    /// `render build` that must succeed.
    pub fn build(&self) -> Run {
        let run = self.render(&["build"]);
        assert_eq!(run.code, 0, "build failed:\n{}", run.stderr);
        run
    }

    /// Every file under out/, relative.
    pub fn out_files(&self) -> Vec<String> {
        files_under(&self.file("out"), self.path())
    }

    /// Every object in cache/objects: its folder and its parsed record.
    pub fn records(&self) -> Vec<(PathBuf, serde_json::Value)> {
        let mut records = Vec::new();
        let objects = self.file("cache/objects");
        for shard in std::fs::read_dir(&objects).into_iter().flatten() {
            for object in std::fs::read_dir(shard.unwrap().path()).unwrap() {
                let dir = object.unwrap().path();
                let record: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(dir.join("record.json")).unwrap())
                        .unwrap_or_else(|e| panic!("{}: bad record: {e}", dir.display()));
                records.push((dir, record));
            }
        }
        records
    }

    /// The object folder of the artifact named `name` (from its record).
    pub fn object(&self, name: &str) -> PathBuf {
        self.records()
            .into_iter()
            .find(|(_, record)| record["name"] == name)
            .unwrap_or_else(|| panic!("no object for {name}"))
            .0
    }

    /// Checks every object in cache/objects against its record; returns how many.
    pub fn verify_cache(&self) -> usize {
        let mut count = 0;
        for (dir, record) in self.records() {
            assert_eq!(
                record["key"].as_str().unwrap(),
                dir.file_name().unwrap().to_str().unwrap()
            );
            let mut names = vec!["record.json".to_string()];
            for output in record["outputs"].as_array().unwrap() {
                let file = output["file"].as_str().unwrap();
                let bytes = std::fs::read(dir.join(file)).unwrap();
                assert_eq!(bytes.len() as u64, output["bytes"].as_u64().unwrap());
                assert_eq!(
                    blake3::hash(&bytes).to_hex().as_str(),
                    output["blake3"].as_str().unwrap(),
                    "{}/{file} does not match its record",
                    dir.display()
                );
                // An output may sit in a folder (`voice/ada.pth`).
                names.push(file.split('/').next().unwrap().to_string());
            }
            let mut present: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect();
            present.sort();
            names.sort();
            names.dedup();
            assert_eq!(present, names, "{} holds stray files", dir.display());
            count += 1;
        }
        count
    }
}

/// What `out/` holds after builds that published `videos` (`out/<project>/<scene>.mp4`):
/// each video with its poster, contact sheet and captions, and the report, sorted.
pub fn published(videos: &[&str]) -> Vec<String> {
    let mut files = vec!["out/report.html".to_string()];
    for video in videos {
        let stem = video.strip_suffix(".mp4").expect("a video");
        files.extend([
            video.to_string(),
            format!("{stem}.jpg"),
            format!("{stem}.sheet.jpg"),
            format!("{stem}.srt"),
            format!("{stem}.vtt"),
        ]);
    }
    files.sort();
    files
}

pub fn files_under(dir: &Path, base: &Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    let mut files: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            e.path()
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .to_string()
        })
        .collect();
    files.sort();
    files
}

/// ffprobe's view of a finished video: (video codec, audio codec, video s, audio s).
pub fn probe(path: &Path) -> (String, String, f64, f64) {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_streams"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ffprobe failed on {}",
        path.display()
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut result = (String::new(), String::new(), 0.0, 0.0);
    for stream in value["streams"].as_array().unwrap() {
        let codec = stream["codec_name"].as_str().unwrap().to_string();
        let seconds: f64 = stream["duration"].as_str().unwrap().parse().unwrap();
        match stream["codec_type"].as_str().unwrap() {
            "video" => (result.0, result.2) = (codec, seconds),
            "audio" => (result.1, result.3) = (codec, seconds),
            _ => {}
        }
    }
    result
}

/// Runs ffmpeg with the given arguments (no shell); panics with its log on failure.
pub fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Frame `n` (0-based) of a video or picture, through the filters `then` (e.g. a crop; empty
/// for none), as raw `pix_fmt` pixels ("rgb24", "gray").
pub fn video_frame(file: &Path, n: u64, then: &str, pix_fmt: &str) -> Vec<u8> {
    let pick = format!("select=eq(n\\,{n})");
    let filters = if then.is_empty() {
        pick
    } else {
        format!("{pick},{then}")
    };
    let file = file.to_str().unwrap();
    let args = [
        "-i",
        file,
        "-vf",
        &filters,
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
    ];
    ffmpeg(&[&args[..], &["-pix_fmt", pix_fmt, "-"]].concat())
}

/// Pearson correlation.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let (a, b) = (&a[..n as usize], &b[..n as usize]);
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

impl Folder {
    /// [`Folder::render`] that fails the test, instead of hanging it, when render has not
    /// exited after `limit` (it is killed).
    pub fn render_within(&self, args: &[&str], limit: std::time::Duration) -> Run {
        self.render_with_env(args, &[], limit)
    }

    /// [`Folder::render_within`] with extra environment variables.
    pub fn render_with_env(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        limit: std::time::Duration,
    ) -> Run {
        use std::io::Read;
        let json = self.path().join("report.json");
        let _ = std::fs::remove_file(&json);
        let json_arg = json.to_string_lossy().to_string();
        let mut full: Vec<&str> = args.to_vec();
        if args.first() == Some(&"build") && !args.contains(&"--dry-run") {
            full.extend(["--json", &json_arg]);
        }
        let mut child = self
            .command(&full)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > limit {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!(
                    "render {args:?} still running after {limit:?}; killed. stderr:\n{}",
                    stderr.join().unwrap()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let statuses = std::fs::read(&json)
            .ok()
            .map(|bytes| {
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                value["artifacts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        (
                            a["name"].as_str().unwrap().to_string(),
                            a["status"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
            statuses,
        }
    }
}

/// How many frames the video stream of `path` decodes to (ffprobe -count_frames).
pub fn video_frames(path: &Path) -> u64 {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ffprobe failed on {}",
        path.display()
    );
    let text = String::from_utf8_lossy(&output.stdout);
    (text.trim().trim_end_matches(',').parse())
        .unwrap_or_else(|_| panic!("ffprobe counted {text:?} frames in {}", path.display()))
}

/// Processes still running (zombies aside) whose working folder is under `dir` or whose
/// command line names it, as "pid: command line": what a stopped build must not leave.
pub fn processes_in(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let needle = dir.to_string_lossy().to_string();
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if stat.rsplit(") ").next().is_none_or(|s| s.starts_with('Z')) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        if cwd.starts_with(&dir) || cmdline.contains(&needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// Waits up to two seconds for [`processes_in`] to be empty; returns what is left.
pub fn processes_left_in(dir: &Path) -> Vec<String> {
    let start = std::time::Instant::now();
    loop {
        let left = processes_in(dir);
        if left.is_empty() || start.elapsed() > std::time::Duration::from_secs(2) {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits until process `pid` handles SIGINT itself (its handler is installed), so a
/// signal sent now is render's to handle rather than the default death.
pub fn wait_for_sigint_handler(pid: u32) {
    let start = std::time::Instant::now();
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = (status.lines())
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .unwrap_or(0);
        if caught & (1 << (libc::SIGINT - 1)) != 0 {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "render never installed its Ctrl-C handler"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Whether process `pid` is running (a zombie is not).
pub fn running(pid: i32) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    state
        .rsplit(") ")
        .next()
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('Z'))
}

/// The pid a fake program wrote into `file` of the folder.
pub fn pid_in(folder: &Folder, file: &str) -> i32 {
    folder.read(file).trim().parse().unwrap()
}

/// Sends SIGINT (Ctrl-C) to process `pid`.
pub fn ctrl_c(pid: u32) {
    // SAFETY: signalling a child process of the test.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGINT);
    }
}

/// Runs render with `args` in the working directory `dir` (not a content folder's root):
/// (exit code, stdout, stderr).
pub fn run_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("RENDER_ENGINES")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// ffmpeg's `ebur128` of a file's audio: (integrated LUFS, true peak dBTP).
pub fn ebur128(path: &Path) -> (f64, f64) {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-nostats", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:a:0",
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "ffmpeg ebur128 failed");
    let log = String::from_utf8_lossy(&output.stderr);
    let summary = &log[log.rfind("Summary:").expect("an ebur128 summary")..];
    let value = |after: &str| -> f64 {
        let at = summary.find(after).unwrap() + after.len();
        summary[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (value("I:"), value("Peak:"))
}
