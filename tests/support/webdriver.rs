//! A small W3C WebDriver client for the browser tests: Debian's `chromedriver` started
//! on a loopback port, driving Debian's `chromium` headless. Plain HTTP/1.1 JSON to the
//! local driver (no TLS, no extra crate). A missing browser or driver fails the test
//! loudly; it never passes without one.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The element reference key of the W3C protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian installs them (`apt-get install chromium chromium-driver`).
const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const DRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

fn find(candidates: &[&str], env: &str, what: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{what} not found (looked at {candidates:?}; set {env}): the browser tests need \
                 Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
            )
        })
}

/// A running chromedriver with one headless Chromium session.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> Browser {
        let chromium = find(CHROMIUM, "GUICHET_CHROMIUM", "chromium");
        let driver_bin = find(DRIVER, "GUICHET_CHROMEDRIVER", "chromedriver");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_bin.display()));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut ready = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not listen on {addr}");
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1100",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let v = call(addr, "POST", "/session", Some(&caps)).await;
        let session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        Browser {
            driver,
            addr,
            session,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        call(self.addr, method, &path, body).await
    }

    /// Opens `url` and waits for the page's load.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(&json!({ "url": url }))).await;
    }

    /// The current page's HTML.
    pub async fn source(&self) -> String {
        let v = self.cmd("GET", "/source", None).await;
        v.as_str().expect("page source").to_owned()
    }

    /// The current address.
    pub async fn url(&self) -> String {
        let v = self.cmd("GET", "/url", None).await;
        v.as_str().expect("url").to_owned()
    }

    /// The first element matching a CSS selector.
    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(&json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    /// Replaces an input's text, as typed.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/clear"), Some(&json!({})))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(&json!({ "text": text })),
        )
        .await;
    }

    /// Clicks an element (and waits for a navigation it starts).
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/click"), Some(&json!({})))
            .await;
    }

    /// The browser's cookies for the current page.
    pub async fn cookies(&self) -> Vec<Value> {
        let v = self.cmd("GET", "/cookie", None).await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Forgets every cookie.
    pub async fn clear_cookies(&self) {
        self.cmd("DELETE", "/cookie", None).await;
    }

    /// Writes a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let v = self.cmd("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 screenshot"))
            .expect("decode screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort: end the session (closes Chromium), then the driver we started.
        let (addr, path) = (self.addr, format!("/session/{}", self.session));
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        call(addr, "DELETE", &path, None),
                    )
                    .await;
                });
            }
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One WebDriver command; its `value`, or a panic naming the driver's error.
async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to chromedriver");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("write");
    // chromedriver answers `Connection: close` but keeps the socket open: read the head,
    // then exactly `Content-Length` bytes.
    let payload = tokio::time::timeout(Duration::from_secs(120), read_answer(&mut tcp))
        .await
        .unwrap_or_else(|_| panic!("chromedriver answers {method} {path} within 120 s"));
    let payload = String::from_utf8_lossy(&payload).into_owned();
    let v: Value = serde_json::from_str(&payload)
        .unwrap_or_else(|e| panic!("chromedriver said {payload:?}: {e}"));
    if let Some(err) = v["value"].get("error") {
        panic!(
            "WebDriver {method} {path}: {err}: {}",
            v["value"]["message"]
        );
    }
    v["value"].clone()
}

/// Reads one answer's body (by its `Content-Length`, else to the end of the stream).
async fn read_answer(tcp: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(n) = length {
                while raw.len() < at + 4 + n {
                    let got = tcp.read(&mut buf).await.expect("read");
                    assert!(got > 0, "chromedriver closed the answer early");
                    raw.extend_from_slice(&buf[..got]);
                }
                return raw[at + 4..at + 4 + n].to_vec();
            }
            let mut rest = raw[at + 4..].to_vec();
            tcp.read_to_end(&mut rest).await.expect("read");
            return rest;
        }
        let got = tcp.read(&mut buf).await.expect("read");
        assert!(got > 0, "chromedriver closed without an answer");
        raw.extend_from_slice(&buf[..got]);
    }
}
