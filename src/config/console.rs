//! `[console]`: the operator's web console on the operations listener — the HMAC key
//! that signs one-time login links, how long a link and a session live, and the address
//! `guichet console-login` prints. Absent, `/console/` answers `404`. Raw TOML in, a
//! validated [`ConsoleConfig`] out; every refusal names the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::FieldError;

/// `[console]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    key_file: PathBuf,
    #[serde(default = "default_login_ttl")]
    login_ttl_ms: u64,
    #[serde(default = "default_session_ttl")]
    session_ttl_ms: u64,
    #[serde(default)]
    public_url: Option<String>,
}

fn default_login_ttl() -> u64 {
    120_000
}

fn default_session_ttl() -> u64 {
    3_600_000
}

/// The console's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// The HMAC-SHA-256 key of login links (at least 32 bytes, mode `0600`).
    pub key_file: PathBuf,
    /// How long a printed login link may be used (once).
    pub login_ttl: Duration,
    /// How long a session lasts after its login (no sliding renewal).
    pub session_ttl: Duration,
    /// The console's base address as the operator's browser reaches it (e.g. through an
    /// SSH tunnel); `None`: `http://` and `[admin] listen`.
    pub public_url: Option<String>,
}

impl RawConsole {
    /// Validates the section; `at` resolves a path against the configuration's folder.
    pub(super) fn validate(
        &self,
        at: impl Fn(&Path) -> PathBuf,
    ) -> Result<ConsoleConfig, FieldError> {
        if self.key_file.as_os_str().is_empty() {
            return Err(FieldError::new("console.key_file", "is empty"));
        }
        let login =
            FieldError::range("console.login_ttl_ms", self.login_ttl_ms, 10_000, 3_600_000)?;
        let session = FieldError::range(
            "console.session_ttl_ms",
            self.session_ttl_ms,
            60_000,
            86_400_000,
        )?;
        let public_url = match &self.public_url {
            None => None,
            Some(u) => {
                let url = reqwest::Url::parse(u).map_err(|e| {
                    FieldError::new("console.public_url", format!("{u:?} is not a URL: {e}"))
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(FieldError::new(
                        "console.public_url",
                        format!("{u:?} must be an http(s) address with a host"),
                    ));
                }
                Some(u.trim_end_matches('/').to_owned())
            }
        };
        Ok(ConsoleConfig {
            key_file: at(&self.key_file),
            login_ttl: Duration::from_millis(login),
            session_ttl: Duration::from_millis(session),
            public_url,
        })
    }
}
