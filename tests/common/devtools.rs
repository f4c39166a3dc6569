//! Headless Chromium driven over the DevTools protocol (a websocket, `tungstenite`): the
//! tests open a page, run JavaScript in it and read back what the browser made of it —
//! a video's `readyState` and `duration`, the DOM after server-sent events changed it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

pub struct Browser {
    child: Child,
    socket: WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    next: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

/// Chromium on PATH (Debian's `chromium`, or another); None (the test skips) only when it
/// is missing and `RENDER_SKIP_BROWSER_TESTS=1`, otherwise its absence fails the test.
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| super::which(name));
    if found.is_none() && std::env::var("RENDER_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: no chromium on PATH and RENDER_SKIP_BROWSER_TESTS=1");
        return None;
    }
    Some(found.expect(
        "pages are tested in a real browser: install Debian's chromium \
         (`apt-get install chromium`; tools/setup does), or set RENDER_SKIP_BROWSER_TESTS=1 to skip",
    ))
}

/// Headless Chromium with a profile folder of its own (tests run in parallel), its HOME
/// there too; the caller adds its flags and the page.
pub fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .env("HOME", profile);
    command
}

impl Browser {
    /// Starts headless Chromium with its debugging port on any free port.
    pub fn launch() -> Option<Browser> {
        let chromium = chromium()?;
        let profile = tempfile::tempdir().unwrap();
        let mut child = headless(&chromium, profile.path())
            .args([
                "--remote-debugging-port=0",
                "--autoplay-policy=no-user-gesture-required",
            ])
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("chromium says where it listens")
                .unwrap();
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                break url.trim().to_string();
            }
        };
        // Keep draining its stderr so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let (socket, _) = tungstenite::connect(url.as_str()).expect("the DevTools websocket");
        Some(Browser {
            child,
            socket,
            next: 0,
            session: None,
            _profile: profile,
        })
    }

    /// Sends a command (to the page's session once one is open); its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::Text(message.to_string().into()))
            .unwrap();
        loop {
            let Message::Text(text) = self.socket.read().unwrap() else {
                continue;
            };
            let answer: Value = serde_json::from_str(text.as_str()).unwrap();
            if answer["id"] == id {
                assert!(answer["error"].is_null(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    /// Opens `url` in a new tab and attaches to it.
    pub fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", json!({ "url": url }));
        let attached = self.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        self.session = Some(attached["sessionId"].as_str().unwrap().to_string());
        self.call("Runtime.enable", json!({}));
    }

    /// Evaluates `expression` in the page (awaiting a promise); its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is true; fails the test after `limit`.
    #[track_caller]
    pub fn wait_for(&mut self, expression: &str, limit: Duration) {
        let start = Instant::now();
        while self.eval(expression) != json!(true) {
            assert!(start.elapsed() < limit, "never true: {expression}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
