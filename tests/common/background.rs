//! A render command left running in the background (`render watch`, `render serve`), its
//! output collected as it comes, for tests that talk to it while it runs.

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Folder;

pub struct Background {
    pub child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Background {
    /// `render serve --port 0` on the folder, with `args`, once it listens; its port.
    pub fn serve(folder: &Folder, args: &[&str], limit: Duration) -> (Background, u16) {
        let mut all = vec!["serve", "--port", "0"];
        all.extend_from_slice(args);
        let server = Background::start(folder, &all, &[]);
        super::wait_for_sigint_handler(server.pid());
        server.wait_until("the address", limit, |_, err| {
            err.split(" at http://")
                .nth(1)
                .is_some_and(|rest| rest.contains("/\n"))
        });
        let stderr = server.stderr();
        let port = stderr
            .split(" at http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|address| address.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {stderr}"));
        (server, port)
    }

    pub fn start(folder: &Folder, args: &[&str], env: &[(&str, &str)]) -> Background {
        let mut command = folder.command(args);
        command.envs(env.iter().copied());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let drain = |mut pipe: Box<dyn Read + Send>| {
            let text: Arc<Mutex<String>> = Arc::default();
            let into = Arc::clone(&text);
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    into.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            });
            text
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        Background {
            child,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until `test` holds of (stdout, stderr); fails the test after `limit`.
    #[track_caller]
    pub fn wait_until(&self, what: &str, limit: Duration, test: impl Fn(&str, &str) -> bool) {
        let start = Instant::now();
        loop {
            if test(&self.stdout(), &self.stderr()) {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "waited {limit:?} for {what}; stdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for it to exit (within `limit`): its exit code.
    pub fn end_within(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the readers take the last output.
                std::thread::sleep(Duration::from_millis(50));
                return status.code();
            }
            assert!(
                start.elapsed() < limit,
                "still running after {limit:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Background {
    /// A failed test leaves nothing running: Ctrl-C first (so its build ends cleanly),
    /// then a kill.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            super::ctrl_c(self.child.id());
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
