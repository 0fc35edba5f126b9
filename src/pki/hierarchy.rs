//! Owns the two-tier federation hierarchy (root CA, issuing CA) and where a federation
//! folder keeps its files; also opens a development federation (single CA) the same way.

use std::path::{Path, PathBuf};

use rcgen::Issuer;

use crate::pki::ca::{ca_params, generate_key, rcgen_err};
use crate::pki::{Ca, CertPaths, PkiError, Result};

/// The files of a federation folder managed by `guichet certs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationLayout {
    /// The folder.
    pub dir: PathBuf,
    /// `root-ca.pem` / `.key`: the trust anchor (the key may be moved offline after `init`).
    pub root: CertPaths,
    /// `issuing-ca.pem` / `.key`: signs leaves and the CRL.
    pub issuing: CertPaths,
    /// `federation-ca.pem` / `.key`: the single CA of a development federation.
    pub dev: CertPaths,
    /// `federation.crl.pem`: the CRL of the issuing CA.
    pub crl: PathBuf,
    /// `inventory.json`: every certificate issued.
    pub inventory: PathBuf,
}

impl FederationLayout {
    /// The layout of `dir`.
    pub fn new(dir: &Path) -> FederationLayout {
        FederationLayout {
            dir: dir.to_path_buf(),
            root: CertPaths::in_dir(dir, "root-ca"),
            issuing: CertPaths::in_dir(dir, "issuing-ca"),
            dev: CertPaths::in_dir(dir, "federation-ca"),
            crl: dir.join("federation.crl.pem"),
            inventory: dir.join("inventory.json"),
        }
    }

    /// The CA that issues leaves here and the PEM to append to leaf certificates (the
    /// issuing CA's certificate, so peers get the whole chain; empty for a dev federation).
    pub fn open_issuer(&self) -> Result<(Ca, String)> {
        if self.issuing.cert.exists() || self.issuing.key.exists() {
            let ca = Ca::load(&self.issuing.cert, &self.issuing.key)?;
            let chain = ca.cert_pem().to_owned();
            Ok((ca, chain))
        } else if self.dev.cert.exists() && self.dev.key.exists() {
            Ok((Ca::load(&self.dev.cert, &self.dev.key)?, String::new()))
        } else {
            Err(PkiError::BadFile {
                path: self.issuing.cert.clone(),
                reason: format!(
                    "missing: no issuing CA in {} (run `guichet certs --dir {} init`)",
                    self.dir.display(),
                    self.dir.display()
                ),
            })
        }
    }

    /// The trust anchor peers should be configured with.
    pub fn trust_anchor(&self) -> &Path {
        if self.root.cert.exists() {
            &self.root.cert
        } else {
            &self.dev.cert
        }
    }
}

impl Ca {
    /// A self-signed root CA allowed one intermediate level (pathlen 1).
    pub fn create_root(common_name: &str, valid_days: u32) -> Result<Ca> {
        let params = ca_params(common_name, valid_days, 1)?;
        let key = generate_key()?;
        let cert = params
            .self_signed(&key)
            .map_err(rcgen_err("self-sign the root CA certificate"))?;
        Ok(Ca::from_parts(
            cert.pem(),
            cert.der().clone(),
            Issuer::new(params, key),
        ))
    }

    /// An issuing CA (pathlen 0) signed by this root; it signs leaves and the CRL.
    pub fn issue_intermediate(&self, common_name: &str, valid_days: u32) -> Result<Ca> {
        let mut params = ca_params(common_name, valid_days, 0)?;
        params.use_authority_key_identifier_extension = true;
        let key = generate_key()?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(rcgen_err("sign the issuing CA certificate"))?;
        Ok(Ca::from_parts(
            cert.pem(),
            cert.der().clone(),
            Issuer::new(params, key),
        ))
    }
}
