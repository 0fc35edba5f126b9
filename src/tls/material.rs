//! Owns loading one complete set of TLS material from files (the ingress's, or the gateway's
//! client side towards offices) and describing it: subjects, serials, expiry, CRLs.
//!
//! A set is loaded whole or not at all, so a reload either swaps everything or keeps the
//! last good set; every error names the file it is about.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use serde::Serialize;
use time::OffsetDateTime;

use crate::tls::{
    OfficeTls, TlsError, load_certs, load_crls, load_key, peer_identity, server_config,
};

/// The files of the ingress: own chain and key, trusted client CAs, optional CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPaths {
    /// Server certificate chain (leaf first, then intermediates).
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
    /// Bundle of CAs client certificates must chain to.
    pub client_ca: PathBuf,
    /// CRLs of the client certificates' issuers.
    pub crl: Option<PathBuf>,
}

/// The files of the gateway's client side: offices' CAs, own chain and key, optional CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientPaths {
    /// Bundle of CAs office server certificates must chain to.
    pub ca: PathBuf,
    /// Client certificate chain.
    pub cert: PathBuf,
    /// Client private key.
    pub key: PathBuf,
    /// CRLs of the offices' certificates' issuers.
    pub crl: Option<PathBuf>,
}

impl ServerPaths {
    /// Every file of the set (for change detection).
    pub fn files(&self) -> Vec<&Path> {
        let mut v = vec![self.cert.as_path(), self.key.as_path(), &self.client_ca];
        v.extend(self.crl.as_deref());
        v
    }
}

impl ClientPaths {
    /// Every file of the set (for change detection).
    pub fn files(&self) -> Vec<&Path> {
        let mut v = vec![self.ca.as_path(), self.cert.as_path(), &self.key];
        v.extend(self.crl.as_deref());
        v
    }
}

/// One loaded certificate, as shown by `GET /admin/v1/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertInfo {
    /// The file it came from.
    pub file: String,
    /// What it is used for: `server`, `client`, `chain`, `client-ca`, `office-ca`.
    pub usage: &'static str,
    /// Subject DN.
    pub subject: String,
    /// The `urn:guichet:` identity, if any.
    pub identity: Option<String>,
    /// Serial, lowercase hex.
    pub serial: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days left (negative once expired), as of the last [`CertInfo::refresh`].
    pub days_left: i64,
    /// End of validity, seconds since the epoch.
    #[serde(skip)]
    pub not_after_unix: i64,
}

impl CertInfo {
    /// Recomputes `days_left` for the current time.
    pub fn refresh(&mut self) {
        self.days_left = days_left(self.not_after_unix);
    }
}

/// One loaded CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrlInfo {
    /// The file it came from.
    pub file: String,
    /// Issuer DN.
    pub issuer: String,
    /// Next update, RFC 3339 (if stated).
    pub next_update: Option<String>,
    /// Number of revoked serials.
    pub revoked: usize,
}

impl CrlInfo {
    /// Seconds until the CRL's next update (negative once it is past: the CRL is stale
    /// and should be re-published), if it states one.
    pub fn seconds_to_next_update(&self) -> Option<i64> {
        let next = time::OffsetDateTime::parse(
            self.next_update.as_deref()?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()?;
        Some((next - time::OffsetDateTime::now_utc()).whole_seconds())
    }
}

/// What a set of material holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Loaded {
    /// Every certificate, own and trusted.
    pub certificates: Vec<CertInfo>,
    /// Every CRL.
    pub crls: Vec<CrlInfo>,
}

/// Loads the ingress material: the server config and its description.
pub fn load_server(p: &ServerPaths) -> Result<(Arc<ServerConfig>, Loaded), TlsError> {
    let mut loaded = Loaded::default();
    let chain = load_certs(&p.cert)?;
    let key = load_key(&p.key)?;
    let roots = load_certs(&p.client_ca)?;
    describe_chain(&mut loaded, &p.cert, &chain, "server");
    describe_all(&mut loaded, &p.client_ca, &roots, "client-ca");
    let crls = optional_crls(&mut loaded, p.crl.as_deref())?;
    let config = server_config(chain, key, &roots, crls)
        .map_err(|e| blame(e, &p.cert, &p.key, &p.client_ca, p.crl.as_deref()))?;
    Ok((config, loaded))
}

/// Loads the gateway's client material: the per-office TLS source and its description.
pub fn load_client(p: &ClientPaths) -> Result<(OfficeTls, Loaded), TlsError> {
    let mut loaded = Loaded::default();
    let roots = load_certs(&p.ca)?;
    let chain = load_certs(&p.cert)?;
    let key = load_key(&p.key)?;
    describe_chain(&mut loaded, &p.cert, &chain, "client");
    describe_all(&mut loaded, &p.ca, &roots, "office-ca");
    let crls = optional_crls(&mut loaded, p.crl.as_deref())?;
    let config = OfficeTls::new(&roots, (chain, key), crls)
        .map_err(|e| blame(e, &p.cert, &p.key, &p.ca, p.crl.as_deref()))?;
    Ok((config, loaded))
}

/// Names the file an error from building a config is about.
fn blame(e: TlsError, cert: &Path, key: &Path, ca: &Path, crl: Option<&Path>) -> TlsError {
    let origin = match &e {
        TlsError::KeyMismatch => format!("{} (for {})", key.display(), cert.display()),
        TlsError::EmptyChain => cert.display().to_string(),
        TlsError::NoTrustAnchors { .. } | TlsError::BadTrustAnchor { .. } => {
            ca.display().to_string()
        }
        TlsError::Verifier(_) => match crl {
            Some(crl) => format!("{} or {}", crl.display(), ca.display()),
            None => ca.display().to_string(),
        },
        _ => return e,
    };
    TlsError::InFile {
        origin,
        source: Box::new(e),
    }
}

fn optional_crls(
    loaded: &mut Loaded,
    path: Option<&Path>,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let crls = load_crls(path)?;
    for crl in &crls {
        let (_, parsed) = x509_parser::parse_x509_crl(crl).map_err(|e| TlsError::Pem {
            origin: path.display().to_string(),
            reason: format!("not a valid X.509 CRL: {e}"),
        })?;
        loaded.crls.push(CrlInfo {
            file: path.display().to_string(),
            issuer: parsed.issuer().to_string(),
            next_update: parsed.next_update().map(|t| rfc3339(t.timestamp())),
            revoked: parsed.iter_revoked_certificates().count(),
        });
    }
    Ok(crls)
}

/// The leaf gets `usage`, the rest of the chain `chain`.
fn describe_chain(
    loaded: &mut Loaded,
    file: &Path,
    chain: &[CertificateDer<'_>],
    usage: &'static str,
) {
    for (i, cert) in chain.iter().enumerate() {
        loaded
            .certificates
            .extend(describe(file, cert, if i == 0 { usage } else { "chain" }));
    }
}

fn describe_all(
    loaded: &mut Loaded,
    file: &Path,
    certs: &[CertificateDer<'_>],
    usage: &'static str,
) {
    for cert in certs {
        loaded.certificates.extend(describe(file, cert, usage));
    }
}

/// Describes one certificate (already checked to parse by the PEM loader).
pub(crate) fn describe(
    file: &Path,
    cert: &CertificateDer<'_>,
    usage: &'static str,
) -> Option<CertInfo> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).ok()?;
    let not_after = parsed.validity().not_after.timestamp();
    Some(CertInfo {
        file: file.display().to_string(),
        usage,
        subject: parsed.subject().to_string(),
        identity: peer_identity(cert).map(|id| id.uri()),
        serial: parsed
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        not_after: rfc3339(not_after),
        days_left: days_left(not_after),
        not_after_unix: not_after,
    })
}

/// Whole days from now until `unix` (rounded towards negative infinity).
pub fn days_left(unix: i64) -> i64 {
    (unix - OffsetDateTime::now_utc().unix_timestamp()).div_euclid(86_400)
}

use crate::timefmt::rfc3339_unix as rfc3339;

#[cfg(test)]
mod crl_tests {
    use super::CrlInfo;

    fn crl(next_update: Option<&str>) -> CrlInfo {
        CrlInfo {
            file: "f.crl.pem".into(),
            issuer: "CN=x".into(),
            next_update: next_update.map(str::to_owned),
            revoked: 0,
        }
    }

    #[test]
    fn staleness_is_measured_from_next_update() {
        assert!(
            crl(Some("2000-01-01T00:00:00Z"))
                .seconds_to_next_update()
                .is_some_and(|s| s < 0)
        );
        assert!(
            crl(Some("2999-01-01T00:00:00Z"))
                .seconds_to_next_update()
                .is_some_and(|s| s > 0)
        );
        assert_eq!(crl(None).seconds_to_next_update(), None);
        assert_eq!(crl(Some("soon")).seconds_to_next_update(), None);
    }
}
