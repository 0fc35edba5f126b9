//! The `[seal]` section: the files of the gateway's seal identity, which signs receipts.
//! Absent, receipts are off (routes that need one answer with a clear problem). Raw TOML
//! in, a validated [`SealConfig`] out; the files themselves are read by
//! [`crate::receipt::Sealer::load`] at build time.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::FieldError;

/// `[seal]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSeal {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

/// Where the seal's files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealConfig {
    /// The seal certificate (role `seal`), leaf first then the issuing CA: the `x5c`.
    pub cert: PathBuf,
    /// Its ECDSA P-256 private key (`0600`).
    pub key: PathBuf,
    /// The federation root the chain must lead to (checked at load and every reload, as
    /// a receipt's verifier will check it).
    pub ca: PathBuf,
}

impl SealConfig {
    /// The sealer's file set.
    pub fn paths(&self) -> crate::receipt::SealPaths {
        crate::receipt::SealPaths {
            cert: self.cert.clone(),
            key: self.key.clone(),
            ca: self.ca.clone(),
        }
    }
}

impl RawSeal {
    /// Validates the section; `at` resolves a path against the configuration's folder.
    pub(super) fn validate(&self, at: impl Fn(&Path) -> PathBuf) -> Result<SealConfig, FieldError> {
        for (field, path) in [
            ("seal.cert", &self.cert),
            ("seal.key", &self.key),
            ("seal.ca", &self.ca),
        ] {
            if path.as_os_str().is_empty() {
                return Err(FieldError::new(field, "is empty"));
            }
        }
        Ok(SealConfig {
            cert: at(&self.cert),
            key: at(&self.key),
            ca: at(&self.ca),
        })
    }
}
