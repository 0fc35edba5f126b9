//! Every log line of a test binary, as JSON, at debug level (shared by `privacy` and
//! `end_user_tokens`, which search them for what must never be logged).

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Every log line of this test binary, as JSON, at debug level.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        guichet::locks::lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub static LOGS: std::sync::LazyLock<Captured> = std::sync::LazyLock::new(|| {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || writer.clone())
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
    captured
});

impl Captured {
    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(guichet::locks::lock(&self.0).clone()).expect("utf-8 logs")
    }
}
