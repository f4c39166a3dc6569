//! `kind = "openai-speech"` engines against a real HTTP server on loopback
//! (tests/fixtures/speech_server.py, which records every request): the exact request body
//! and auth header, retries on 429 and 5xx, the body's tail on failure, the deadline, raw
//! PCM, a key that holds neither the URL's host nor the API key, and the API key written
//! into no file.

mod common;

use common::{tone_wav, Folder};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SECRET: &str = "sk-test-0123456789-secret";

/// The fake server, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &std::path::Path) -> Server {
    let _ = std::fs::remove_file(dir.join("port"));
    let child = Command::new("python3")
        .arg(common::repo().join("tests/fixtures/speech_server.py"))
        .arg(dir)
        .spawn()
        .unwrap();
    // Killed and waited for by its Drop, whatever happens next.
    let mut server = Server { child, port: 0 };
    let start = Instant::now();
    loop {
        if let Ok(port) = std::fs::read_to_string(dir.join("port")) {
            server.port = port.trim().parse().unwrap();
            return server;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the server never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A folder whose narrator speaks through engine `kokoro` on `server`'s port, answering
/// as `script` says (see the fixture), with one line per `lines`.
fn folder(script: &str, extra: &str, lines: &[&str]) -> (Folder, Server) {
    let folder = Folder::with_portrait();
    std::fs::create_dir_all(folder.file("server")).unwrap();
    std::fs::write(folder.file("server/tone.wav"), tone_wav(24_000, 0.8)).unwrap();
    std::fs::write(folder.file("server/script"), script).unwrap();
    let server = start_server(&folder.file("server"));
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [160, 90]\npause = 0.4\nvoice = \"narrator\"\navatar = \"astronaut\"\n\n\
             [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n\n\
             [engines.kokoro]\nstage = \"speech\"\nkind = \"openai-speech\"\nurl = \"http://127.0.0.1:{}\"\nmodel = \"kokoro\"\nvoice = \"af_bella\"\n\
             api_key_env = \"RENDER_TEST_KEY\"\nversion = \"Kokoro-FastAPI 0.2.4\"\n{extra}\n\n[voices.narrator]\nengine = \"kokoro\"\n",
            server.port
        ),
    );
    let lines: Vec<String> = lines.iter().map(|l| format!("{l:?}")).collect();
    folder.write(
        "projects/demo/project.toml",
        &format!(
            "[[scene]]\nname = \"intro\"\nlines = [{}]\n",
            lines.join(", ")
        ),
    );
    (folder, server)
}

fn build(folder: &Folder) -> common::Run {
    folder.render_with_env(
        &["build"],
        &[("RENDER_TEST_KEY", SECRET)],
        Duration::from_secs(120),
    )
}

fn requests(folder: &Folder) -> Vec<serde_json::Value> {
    std::fs::read_to_string(folder.file("server/requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &std::path::Path, needle: &str) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .map(|e| e.path().display().to_string())
        .collect()
}

#[test]
fn a_line_is_posted_with_its_key_retried_after_429_and_the_key_is_written_nowhere() {
    let (folder, server) = folder("429\n200\n", "", &["Say \"hi\" to Ada."]);
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.made().contains(&"speech demo/intro:1".to_string()),
        "{:?}",
        run.made()
    );
    let requests = requests(&folder);
    assert_eq!(requests.len(), 2, "{requests:?}");
    for request in &requests {
        assert_eq!(request["path"], "/v1/audio/speech");
        assert_eq!(request["authorization"], format!("Bearer {SECRET}"));
        assert_eq!(request["content_type"], "application/json");
        assert_eq!(
            request["body"],
            r#"{"input":"Say \"hi\" to Ada.","model":"kokoro","response_format":"wav","voice":"af_bella"}"#
        );
    }
    // The speech is the server's WAV.
    let speech = walkdir::WalkDir::new(folder.file("cache/objects"))
        .into_iter()
        .flatten()
        .find(|e| e.file_name() == "speech.wav")
        .unwrap();
    let reader = hound::WavReader::open(speech.path()).unwrap();
    assert_eq!((reader.spec().sample_rate, reader.len()), (24_000, 19_200));
    // The API key is in no file render wrote.
    for dir in ["cache", "out"] {
        assert_eq!(
            files_holding(&folder.file(dir), SECRET),
            Vec::<String>::new()
        );
    }
    assert!(!run.stderr.contains(SECRET) && !run.stdout.contains(SECRET));

    // The URL's host is not part of the key: the same server under another name makes
    // nothing again.
    folder.edit(
        "Renderfile.toml",
        &format!("127.0.0.1:{}", server.port),
        &format!("localhost:{}", server.port),
    );
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.made(), Vec::<String>::new());
    assert_eq!(self::requests(&folder).len(), 2);
    // The voice is.
    folder.edit("Renderfile.toml", "af_bella", "af_sky");
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.made().contains(&"speech demo/intro:1".to_string()));
}

#[test]
fn a_server_failing_three_times_fails_the_line_with_the_end_of_its_body() {
    let (folder, _server) = folder("500\n", "", &["Hello there."]);
    let run = build(&folder);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("failed while making speech demo/intro:1: HTTP 500, 3 tries"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("500: the model is busy (request 3)"),
        "{}",
        run.stderr
    );
    assert_eq!(requests(&folder).len(), 3);
    // A client error is not retried.
    std::fs::write(folder.file("server/script"), "404\n").unwrap();
    std::fs::remove_file(folder.file("server/requests.jsonl")).unwrap();
    let run = build(&folder);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(": HTTP 404\n"), "{}", run.stderr);
    assert_eq!(requests(&folder).len(), 1);
}

#[test]
fn a_server_that_never_answers_stops_at_the_deadline() {
    let (folder, _server) = folder("hang\n", "timeout = 2", &["Hello there."]);
    let start = Instant::now();
    let run = build(&folder);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert!(
        run.stderr
            .contains("failed while making speech demo/intro:1: no answer before its deadline"),
        "{}",
        run.stderr
    );
    assert_eq!(requests(&folder).len(), 1);
}

#[test]
fn raw_pcm_becomes_the_lines_wav_and_a_missing_key_variable_is_an_error() {
    let (folder, _server) = folder(
        "pcm\n",
        "format = \"pcm\"\nsample_rate = 24000",
        &["Hello."],
    );
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(requests(&folder)[0]["body"]
        .as_str()
        .unwrap()
        .contains("\"response_format\":\"pcm\""));
    let run = folder.render_within(&["build", "--force"], Duration::from_secs(120));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the environment variable `RENDER_TEST_KEY` (its `api_key_env`) is not set"),
        "{}",
        run.stderr
    );
}

/// A folder whose engine `kokoro` declares its server: the fake, started by render on a
/// port it picks, answering as `script` says; `lines` lines of text.
fn served(script: &str, start_timeout: u32, lines: usize) -> Folder {
    let folder = Folder::with_portrait();
    std::fs::create_dir_all(folder.file("server")).unwrap();
    std::fs::write(folder.file("server/tone.wav"), tone_wav(24_000, 0.5)).unwrap();
    std::fs::write(folder.file("server/script"), script).unwrap();
    folder.write(
        "Renderfile.toml",
        &format!(
            "[render]\ndevice = \"cpu\"\n\n[defaults]\nfps = 10\nsize = [160, 90]\npause = 0.4\nvoice = \"narrator\"\navatar = \"astronaut\"\n\n\
             [avatars.astronaut]\nimage = \"avatars/astronaut.png\"\n\n\
             [engines.kokoro]\nstage = \"speech\"\nkind = \"openai-speech\"\nmodel = \"kokoro\"\ntimeout = 20\n\n\
             [engines.kokoro.server]\nprogram = \"python3\"\nargs = [{:?}, {:?}, \"--port\", \"{{port}}\"]\nhealth = \"/health\"\nstart_timeout = {start_timeout}\n\n\
             [voices.narrator]\nengine = \"kokoro\"\n",
            common::repo().join("tests/fixtures/speech_server.py").display().to_string(),
            folder.file("server").display().to_string(),
        ),
    );
    let lines: Vec<String> = (1..=lines)
        .map(|i| format!("\"Line number {i}.\""))
        .collect();
    folder.write(
        "projects/demo/project.toml",
        &format!(
            "[[scene]]\nname = \"intro\"\nlines = [{}]\n",
            lines.join(", ")
        ),
    );
    folder
}

/// The pids of the server's starts, in order.
fn starts(folder: &Folder) -> Vec<i32> {
    std::fs::read_to_string(folder.file("server/starts.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

fn speech_made(run: &common::Run) -> usize {
    run.made()
        .iter()
        .filter(|m| m.starts_with("speech "))
        .count()
}

#[test]
fn a_declared_server_starts_once_for_twenty_lines_and_stops_with_the_build() {
    let folder = served("200\n", 30, 20);
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(speech_made(&run), 20, "{:?}", run.made());
    let starts = starts(&folder);
    assert_eq!(starts.len(), 1, "started {} times", starts.len());
    assert_eq!(requests(&folder).len(), 20);
    assert!(!common::running(starts[0]), "the server outlived the build");
    // An up-to-date build needs no server.
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(self::starts(&folder).len(), 1);
}

#[test]
fn a_killed_build_leaves_no_server_behind() {
    // The server answers no request, so the build is mid-line when it is killed.
    let folder = served("hang\n", 30, 1);
    let mut build = folder
        .command(&["build"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let asked = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while requests(&folder).is_empty() {
        assert!(
            std::time::Instant::now() < asked,
            "the line was never asked for"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let server = starts(&folder)[0];
    assert!(common::running(server));
    build.kill().unwrap(); // SIGKILL: render cannot stop anything itself
    build.wait().unwrap();
    let gone = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while common::running(server) {
        assert!(
            std::time::Instant::now() < gone,
            "the server outlived the killed build"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_server_never_healthy_fails_its_lines_at_the_start_deadline_with_its_log() {
    let folder = served("200\n", 2, 3);
    std::fs::write(folder.file("server/unhealthy"), "").unwrap();
    let start = Instant::now();
    let run = build(&folder);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert!(
        run.stderr
            .contains("engine `kokoro`: its server was not healthy (http://127.0.0.1:")
            && run
                .stderr
                .contains("/health) within its start deadline of 2 s; the end of its log:\n")
            && run.stderr.contains("│ loading the model...\n"),
        "{}",
        run.stderr
    );
    assert_eq!(speech_made(&run), 0);
    let starts = starts(&folder);
    assert_eq!(starts.len(), 1, "one start for all its lines");
    assert!(!common::running(starts[0]));
    assert_eq!(requests(&folder).len(), 0);
}

#[test]
fn a_server_that_dies_is_restarted_once_then_its_lines_fail() {
    // Each start answers two requests and dies on the third.
    let folder = served("200\n200\ndie\n", 30, 8);
    let run = build(&folder);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let starts = starts(&folder);
    assert_eq!(starts.len(), 2, "one restart: {starts:?}");
    assert!(starts.iter().all(|&pid| !common::running(pid)));
    assert_eq!(speech_made(&run), 4, "{:?}", run.made());
    assert!(
        run.stderr.contains(
            "engine `kokoro`: its server exited again after its restart; the end of its log:"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Killed: out of memory (request 3)"),
        "{}",
        run.stderr
    );
}

#[test]
fn run_job_of_a_line_whose_engine_declares_a_server_starts_it_and_stops_it_before_exiting() {
    let folder = served("200\n", 30, 2);
    let plan = folder.render(&["plan", "--write-jobs", "jobs"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let mut specs: Vec<_> = std::fs::read_dir(folder.file("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("-speech.json"))
        .collect();
    specs.sort();
    assert_eq!(specs.len(), 2, "{specs:?}");
    for (i, spec) in specs.iter().enumerate() {
        let run = folder.render(&["run-job", spec.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.starts_with("made speech demo/intro:"),
            "{}",
            run.stderr
        );
        // One start per run-job, and none left running once it has exited.
        let starts = starts(&folder);
        assert_eq!(starts.len(), i + 1, "{starts:?}");
        assert!(
            !common::running(starts[i]),
            "the server outlived `render run-job`"
        );
    }
    assert_eq!(requests(&folder).len(), 2);
    // The build finds both lines made.
    let run = build(&folder);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(speech_made(&run), 0, "{:?}", run.made());
}

/// `folder`, its narrator cloned by chatterbox-tts-api from `voices/ada.wav`: engine
/// `kokoro` made to upload the voice's sample with each line (`reference = "upload"`).
fn cloning(script: &str, lines: &[&str]) -> (Folder, Server) {
    let (folder, server) = folder(script, "reference = \"upload\"", lines);
    folder.edit(
        "Renderfile.toml",
        "model = \"kokoro\"",
        "model = \"chatterbox-v2\"",
    );
    std::fs::create_dir_all(folder.file("voices")).unwrap();
    std::fs::write(folder.file("voices/ada.wav"), tone_wav(22_050, 1.5)).unwrap();
    folder.edit(
        "Renderfile.toml",
        "[voices.narrator]\nengine = \"kokoro\"\n",
        "[voices.narrator]\nengine = \"kokoro\"\nsamples = [\"voices/ada.wav\"]\n",
    );
    (folder, server)
}

/// A build that succeeded and spoke both lines of `cloning`'s scene.
fn made_both_lines(run: &common::Run) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let made = run.made();
    for line in ["speech demo/intro:1", "speech demo/intro:2"] {
        assert!(made.contains(&line.to_string()), "{made:?}");
    }
}

#[test]
fn a_cloned_voice_uploads_its_sample_with_each_line_as_chatterbox_tts_api_takes_it() {
    let (folder, server) = cloning("429\n200\n", &["Say \"hi\" to Ada.", "Then go."]);
    made_both_lines(&build(&folder));
    // The first request was answered 429 and sent again whole: three requests, each a
    // multipart form with the line's text and the voice's sample, byte for byte.
    let sample = std::fs::read(folder.file("voices/ada.wav")).unwrap();
    let requests = requests(&folder);
    assert_eq!(requests.len(), 3, "{requests:?}");
    let mut texts = Vec::new();
    for request in &requests {
        assert_eq!(request["path"], "/v1/audio/speech/upload");
        assert_eq!(request["authorization"], format!("Bearer {SECRET}"));
        let content_type = request["content_type"].as_str().unwrap();
        assert!(
            content_type.starts_with("multipart/form-data; boundary="),
            "{content_type}"
        );
        let form = request["form"].as_object().unwrap();
        let names: Vec<&str> = form.keys().map(String::as_str).collect();
        assert_eq!(names, ["input", "model", "response_format", "voice_file"]);
        assert_eq!(form["model"], "chatterbox-v2");
        assert_eq!(form["response_format"], "wav");
        let file = &form["voice_file"];
        assert_eq!(
            (&file["filename"], &file["content_type"], &file["size"]),
            (&"ada.wav".into(), &"audio/wav".into(), &sample.len().into())
        );
        let arrived = std::fs::read(file["saved"].as_str().unwrap()).unwrap();
        assert!(arrived == sample, "the sample's bytes arrived changed");
        texts.push(form["input"].as_str().unwrap().to_string());
    }
    // Both lines, the first asked for twice (its 429, then its answer).
    texts.sort();
    texts.dedup();
    assert_eq!(texts, ["Say \"hi\" to Ada.", "Then go."]);
    // The key holds the sample's content hash, never the URL or the API key.
    let speech: Vec<_> = folder
        .records()
        .into_iter()
        .filter(|(_, r)| r["spec"]["kind"] == "speech")
        .collect();
    assert_eq!(speech.len(), 2);
    for (_, record) in &speech {
        let spec = record["spec"].to_string();
        assert!(spec.contains("voices/ada.wav"), "{spec}");
        assert!(!spec.contains(&server.port.to_string()), "{spec}");
        assert!(!spec.contains("127.0.0.1"), "{spec}");
    }
    for dir in ["cache", "out"] {
        assert_eq!(
            files_holding(&folder.file(dir), SECRET),
            Vec::<String>::new()
        );
    }
    // Built again: nothing asked for. A new recording of the voice re-makes its lines.
    assert_eq!(build(&folder).made(), Vec::<String>::new());
    assert_eq!(self::requests(&folder).len(), 3);
    std::fs::write(folder.file("voices/ada.wav"), tone_wav(22_050, 1.7)).unwrap();
    made_both_lines(&build(&folder));
    let sample = std::fs::read(folder.file("voices/ada.wav")).unwrap();
    let requests = self::requests(&folder);
    assert_eq!(requests.len(), 5);
    for request in &requests[3..] {
        let saved = request["form"]["voice_file"]["saved"].as_str().unwrap();
        assert!(std::fs::read(saved).unwrap() == sample);
    }
}

#[test]
fn an_uploading_engine_needs_one_sample_and_knows_its_reference_modes() {
    let (folder, _server) = cloning("200\n", &["Hello."]);
    // Each mistake fails the build with its message (at its place in Renderfile.toml).
    let refused = |message: &str, at: Option<&str>| {
        let run = build(&folder);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(message), "{}", run.stderr);
        if let Some(at) = at {
            let place = folder.location("Renderfile.toml", at);
            assert!(run.stderr.contains(&place), "{}", run.stderr);
        }
    };
    let two = "samples = [\"voices/ada.wav\", \"voices/ada.wav\"]";
    folder.edit("Renderfile.toml", "samples = [\"voices/ada.wav\"]", two);
    refused(
        "voice `narrator` gives 2 `samples`, but engine `kokoro` uploads one reference clip with each line",
        Some("[\"voices/ada.wav\", "),
    );
    folder.edit("Renderfile.toml", &format!("{two}\n"), "");
    refused(
        "voice `narrator` has no `samples`, which engine `kokoro` clones a voice from",
        None,
    );
    folder.edit(
        "Renderfile.toml",
        "reference = \"upload\"",
        "reference = \"library\"",
    );
    refused(
        "engine `kokoro`: `reference` must be \"upload\", not \"library\"",
        Some("\"library\""),
    );
    assert!(requests(&folder).is_empty());
}
