//! Owns the inventory of issued certificates (`inventory.json`): what was issued to whom,
//! where the files are, renewals and revocations. Written atomically (temp, fsync, rename).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;

use crate::pki::files::write_atomic;
use crate::pki::{PkiError, Result};
use crate::tls::{load_certs, peer_identity};

/// Current format version.
const VERSION: u32 = 1;

/// Every certificate issued in one federation folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inventory {
    /// Format version (1).
    pub version: u32,
    /// Number of the last CRL published.
    pub crl_number: u64,
    /// The certificates, in issuing order.
    pub certificates: Vec<Entry>,
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entry {
    /// Serial, lowercase hex.
    pub serial: String,
    /// `portal`, `office`, `admin` or `gateway`.
    pub role: String,
    /// The name within the role.
    pub name: String,
    /// Subject DN.
    pub subject: String,
    /// serverAuth usage.
    pub server: bool,
    /// clientAuth usage.
    pub client: bool,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// IP SANs.
    pub ips: Vec<String>,
    /// Start of validity, seconds since the epoch.
    pub not_before: i64,
    /// End of validity, seconds since the epoch.
    pub not_after: i64,
    /// End of validity, RFC 3339 (for people reading the file).
    pub not_after_text: String,
    /// Certificate file, relative to the folder.
    pub cert_file: PathBuf,
    /// Key file, relative to the folder.
    pub key_file: PathBuf,
    /// When it was issued, seconds since the epoch.
    pub issued_at: i64,
    /// The serial this one renewed.
    pub renewed_from: Option<String>,
    /// The serial that renewed this one (this one stays valid until it expires).
    pub superseded_by: Option<String>,
    /// Set once revoked.
    pub revoked: Option<Revocation>,
}

/// A revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revocation {
    /// When, seconds since the epoch.
    pub at: i64,
    /// Reason (CRL reason code name, e.g. `key-compromise`).
    pub reason: String,
}

impl Entry {
    /// Whole days left (negative once expired).
    pub fn days_left(&self) -> i64 {
        crate::tls::material_days_left(self.not_after)
    }

    /// `revoked`, `expired`, `superseded` or `valid`.
    pub fn status(&self) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if self.not_after <= OffsetDateTime::now_utc().unix_timestamp() {
            "expired"
        } else if self.superseded_by.is_some() {
            "superseded"
        } else {
            "valid"
        }
    }

    /// Whether it needs attention within `days`: in use (neither revoked nor renewed) and
    /// expiring (or expired) within the window.
    pub fn expiring_within(&self, days: i64) -> bool {
        self.revoked.is_none() && self.superseded_by.is_none() && self.days_left() < days
    }
}

impl Inventory {
    /// Reads the inventory; a missing file is an empty inventory, a damaged one an error
    /// naming the file.
    pub fn load(path: &Path) -> Result<Inventory> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Inventory {
                    version: VERSION,
                    ..Inventory::default()
                });
            }
            Err(source) => {
                return Err(PkiError::Io {
                    op: "read",
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let inventory: Inventory = serde_json::from_str(&text).map_err(|e| PkiError::BadFile {
            path: path.to_path_buf(),
            reason: format!("damaged inventory: {e}; restore it from a backup"),
        })?;
        if inventory.version != VERSION {
            return Err(PkiError::BadFile {
                path: path.to_path_buf(),
                reason: format!("unsupported inventory version {}", inventory.version),
            });
        }
        Ok(inventory)
    }

    /// Writes the inventory atomically (mode 0644).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| PkiError::BadFile {
            path: path.to_path_buf(),
            reason: format!("cannot serialize the inventory: {e}"),
        })?;
        text.push('\n');
        write_atomic(path, text.as_bytes(), 0o644, 0o700)
    }

    /// The entry with this serial (hex, case and `:` separators ignored).
    pub fn find(&self, serial: &str) -> Option<usize> {
        let wanted: String = serial
            .chars()
            .filter(|c| *c != ':')
            .collect::<String>()
            .to_ascii_lowercase();
        self.certificates.iter().position(|e| e.serial == wanted)
    }
}

impl Entry {
    /// The entry of a certificate already on disk (`cert_file` and `key_file` relative to
    /// `dir`), read from the certificate itself: serial, identity, usages, names, validity.
    pub fn from_file(
        dir: &Path,
        cert_file: PathBuf,
        key_file: PathBuf,
        issued_at: i64,
    ) -> Result<Entry> {
        let path = dir.join(&cert_file);
        let bad = |reason: String| PkiError::BadFile {
            path: path.clone(),
            reason,
        };
        let certs = load_certs(&path)?;
        let leaf = certs
            .first()
            .expect("invariant: load_certs never returns an empty list");
        let identity = peer_identity(leaf)
            .ok_or_else(|| bad("carries no valid urn:guichet: SAN URI".into()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
            .map_err(|e| bad(format!("not valid X.509: {e}")))?;
        let eku = cert
            .extended_key_usage()
            .map_err(|e| bad(format!("bad extended key usage: {e}")))?
            .map(|e| e.value);
        let (mut dns, mut ips) = (Vec::new(), Vec::new());
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                    GeneralName::IPAddress(b) => ips.extend(ip_text(b)),
                    _ => {}
                }
            }
        }
        let not_after = cert.validity().not_after.timestamp();
        Ok(Entry {
            serial: cert
                .raw_serial()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            role: identity.role.to_string(),
            name: identity.name,
            subject: cert.subject().to_string(),
            server: eku.is_some_and(|e| e.server_auth),
            client: eku.is_some_and(|e| e.client_auth),
            dns,
            ips,
            not_before: cert.validity().not_before.timestamp(),
            not_after,
            not_after_text: rfc3339(not_after),
            cert_file,
            key_file,
            issued_at,
            renewed_from: None,
            superseded_by: None,
            revoked: None,
        })
    }
}

impl Inventory {
    /// Records `entry` unless its serial is already there; an older entry in use for the
    /// same certificate file (replaced on disk) is marked superseded by it. Returns whether
    /// the inventory changed.
    pub fn record(&mut self, entry: Entry) -> bool {
        if self.find(&entry.serial).is_some() {
            return false;
        }
        for old in &mut self.certificates {
            if old.cert_file == entry.cert_file
                && old.superseded_by.is_none()
                && old.revoked.is_none()
            {
                old.superseded_by = Some(entry.serial.clone());
            }
        }
        self.certificates.push(entry);
        true
    }
}

/// An IP SAN (4 or 16 bytes) as text.
fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::from(b).to_string()),
        _ => None,
    }
}

/// RFC 3339 text of a Unix time.
pub fn rfc3339(unix: i64) -> String {
    crate::timefmt::rfc3339_unix(unix)
}
