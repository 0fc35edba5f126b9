//! `guichet serve` as a child process of a test: started on a configuration with JSON log
//! lines, its portal and operations addresses read from those lines (both listeners may
//! be on port 0), ready once `GET /readyz` answers `200`, signalled like an operator or a
//! node would (`SIGTERM`, `SIGKILL`, `SIGSTOP`/`SIGCONT`), and killed and reaped whenever it
//! is dropped — also when the test panics, so no server outlives its test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// A running `guichet serve`.
pub struct Serve {
    child: Child,
    /// Every line of its standard error (JSON log lines, and the crash points' plain ones).
    lines: mpsc::UnboundedReceiver<String>,
    /// `127.0.0.1:PORT` of the portal listener (mutual TLS).
    pub portal: String,
    /// `127.0.0.1:PORT` of the operations listener (plain HTTP).
    pub ops: String,
}

impl Serve {
    /// Starts `guichet serve --config CONFIG` with `env` added (and no inherited
    /// `GUICHET_CRASH_AT`); waits, within `within`, for the log lines naming both
    /// listeners. The configuration must have an `[admin] listen`.
    pub async fn start(config: &Path, env: &[(&str, &str)], within: Duration) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_guichet"));
        command
            .args(["serve", "--config"])
            .arg(config)
            .env("GUICHET_LOG_FORMAT", "json")
            .env("GUICHET_LOG", "info")
            .env_remove("GUICHET_CRASH_AT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn guichet serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        // Drained to the end even when nobody reads any more: a full pipe would block it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut serve = Serve {
            child,
            lines,
            portal: String::new(),
            ops: String::new(),
        };
        let started = Instant::now();
        while serve.portal.is_empty() || serve.ops.is_empty() {
            let left = within.saturating_sub(started.elapsed());
            let line = serve
                .next_json(left)
                .await
                .unwrap_or_else(|| panic!("{} did not start", config.display()));
            let message = line["fields"]["message"].as_str().unwrap_or_default();
            let addr = line["fields"]["addr"].as_str().unwrap_or_default();
            if message.starts_with("guichet serving") {
                serve.portal = addr.to_owned();
            } else if message.starts_with("operations listener") {
                serve.ops = addr.to_owned();
            }
        }
        serve
    }

    /// The next JSON log line within `within` (`None`: none came, or the process ended).
    async fn next_json(&mut self, within: Duration) -> Option<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .ok()??;
            if let Ok(v) = serde_json::from_str(&line) {
                return Some(v);
            }
        }
    }

    /// Waits, within `within`, for a line of standard error containing `text`.
    pub async fn wait_for_line(&mut self, text: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) if line.contains(text) => return,
                Ok(Some(_)) => {}
                Ok(None) => panic!("guichet serve ended before saying {text:?}"),
                Err(_) => panic!("guichet serve did not say {text:?} within {within:?}"),
            }
        }
    }

    /// Polls `GET /readyz` until it answers `200`, within `within`.
    pub async fn ready(&self, client: &reqwest::Client, within: Duration) {
        let started = Instant::now();
        loop {
            let url = format!("http://{}/readyz", self.ops);
            let status = match client.get(&url).send().await {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            if status == 200 {
                return;
            }
            assert!(
                started.elapsed() < within,
                "{url} still {status} after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `STOP`, `CONT`, `HUP`…) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill(1)");
        assert!(sent.success(), "SIG{signal} to {}", self.pid());
    }

    /// `kill -9`, then reaps the process.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// `SIGTERM`, then waits, within `within`, for the process to end; its exit status.
    pub async fn terminate(mut self, within: Duration) -> ExitStatus {
        self.signal("TERM");
        self.exited(within).await
    }

    /// Waits, within `within`, for the process to end by itself; its exit status.
    pub async fn exited(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "guichet serve (pid {}) still running after {within:?}",
                self.pid()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Serve {
    /// Killed (`SIGKILL` also ends a stopped process) and reaped.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
