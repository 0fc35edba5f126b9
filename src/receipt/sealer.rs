//! The seal: the key and chain that sign receipts, loaded from the `[seal]` files, checked
//! as a verifier will check them, and replaced whole when the files change (the last good
//! seal is kept when new files are unusable), like the TLS material.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rustls_pki_types::UnixTime;
use serde::Serialize;

use super::jws::{Header, sign_parts};
use super::{Receipt, ReceiptBody, ReceiptError, ReceiptKind, check_seal_chain, rfc3339};
use crate::audit::{Actor, AuditLog, Event, Kind};
use crate::locks::{lock, read, write};
use crate::model::Identity;
use crate::tls::{load_certs, load_key};

/// The seal's files (`[seal]` of the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealPaths {
    /// The seal certificate, PEM, leaf first then the issuing CA (the `x5c` chain).
    pub cert: PathBuf,
    /// Its private key (ECDSA P-256, PKCS#8 or SEC1 PEM, `0600`).
    pub key: PathBuf,
    /// The federation root(s) the chain must lead to, as receipts' verifiers check it.
    pub ca: PathBuf,
}

/// A signed receipt, as the store keeps it and the API hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReceipt {
    /// The receipt's id (the `jti` claim).
    pub id: String,
    /// What it attests.
    pub kind: ReceiptKind,
    /// Signing time, seconds since the epoch (the `iat` claim).
    pub issued_at: i64,
    /// The compact JWS.
    pub jws: String,
    /// SHA-256 (hex) of the compact JWS text: what the audit log records.
    pub sha256: String,
}

/// The seal in use, for operators (`daysLeft` as of the call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SealStatus {
    /// `urn:guichet:seal:<name>`.
    pub identity: String,
    /// Serial of the seal certificate, lowercase hex.
    pub serial: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days left (negative once expired).
    pub days_left: i64,
}

/// One loaded seal: key, identity and the encoded protected header.
struct Material {
    key: EcdsaKeyPair,
    identity: Identity,
    serial: String,
    not_after: i64,
    /// base64url of the header JSON, the same for every receipt of this seal.
    header: String,
}

/// A seal expiring within this many days is warned about at every load (as TLS material).
const WARN_DAYS: i64 = 30;

/// What polling can tell about a file's content.
type Stamp = Option<(SystemTime, u64, u64)>;

/// Signs receipts with the current seal. Cheap to share (`Arc`); signing takes a read lock.
pub struct Sealer {
    paths: SealPaths,
    current: RwLock<Arc<Material>>,
    /// The files' stamps at the last load attempt; serialises reloads.
    stamps: Mutex<Vec<Stamp>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("paths", &self.paths)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Sealer {
    /// Loads the seal: the key must match the certificate, which must be a seal
    /// certificate chaining to `paths.ca` now. Errors name the file.
    pub fn load(paths: SealPaths) -> Result<Sealer, ReceiptError> {
        let stamps = stamps(&paths);
        let material = load_material(&paths)?;
        warn_expiring(&material);
        Ok(Sealer {
            paths,
            current: RwLock::new(Arc::new(material)),
            stamps: Mutex::new(stamps),
        })
    }

    /// Signs `body` now. The caller must record the receipt before it leaves the gateway:
    /// [`Sealer::seal_and_audit`] does both in order.
    pub fn seal(&self, body: ReceiptBody) -> Result<SignedReceipt, ReceiptError> {
        let material = Arc::clone(&read(&self.current));
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if now >= material.not_after {
            return Err(ReceiptError::Expired {
                not_after: rfc3339(material.not_after),
            });
        }
        let receipt = Receipt {
            iss: material.identity.uri(),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            body,
        };
        let jws = sign_parts(&material.key, &material.header, &receipt)?;
        Ok(SignedReceipt {
            sha256: super::sha256_hex(jws.as_bytes()),
            id: receipt.jti,
            kind: receipt.body.kind(),
            issued_at: now,
            jws,
        })
    }

    /// Signs `body` and appends the receipt's `receipt` record (kind, id, subject id and
    /// SHA-256; no person) to the audit log, synced, before returning it: a receipt whose
    /// record cannot be written is dropped and the error returned (answer `503`).
    pub async fn seal_and_audit(
        &self,
        audit: &AuditLog,
        actor: Actor,
        body: ReceiptBody,
    ) -> Result<SignedReceipt, ReceiptError> {
        let subject = body.subject_id().to_owned();
        let receipt = self.seal(body)?;
        audit
            .append(receipt_event(&receipt, &subject, actor))
            .await?;
        Ok(receipt)
    }

    /// The seal in use.
    pub fn status(&self) -> SealStatus {
        let m = Arc::clone(&read(&self.current));
        SealStatus {
            identity: m.identity.uri(),
            serial: m.serial.clone(),
            not_after: rfc3339(m.not_after),
            days_left: crate::tls::material_days_left(m.not_after),
        }
    }

    /// The files it reads.
    pub fn paths(&self) -> &SealPaths {
        &self.paths
    }

    /// Reloads when a file changed since the last attempt (`None`: nothing changed).
    pub fn reload_changed(&self, audit: &AuditLog) -> Option<Result<SealStatus, ReceiptError>> {
        if *lock(&self.stamps) == stamps(&self.paths) {
            return None;
        }
        let trigger = "file change";
        Some(self.reload(audit, Actor::operator(trigger), trigger))
    }

    /// Loads the files and, if usable, records the swap in the audit log and swaps; an
    /// unusable set keeps the current seal (the `reload` record says why). The stamps are
    /// kept on an audit failure, so the next poll tries again.
    pub fn reload(
        &self,
        audit: &AuditLog,
        actor: Actor,
        trigger: &str,
    ) -> Result<SealStatus, ReceiptError> {
        let mut last = lock(&self.stamps);
        let stamps = stamps(&self.paths);
        let loaded = load_material(&self.paths);
        let (result, detail) = match &loaded {
            Ok(m) => ("reloaded", format!("{trigger}: swapping seal {}", m.serial)),
            Err(e) => ("failed", format!("{trigger}: seal kept: {e}")),
        };
        let event = Event {
            kind: Kind::Reload,
            actor,
            purpose: None,
            person: None,
            offices: Vec::new(),
            result: result.to_owned(),
            detail: Some(detail),
            binding: None,
        };
        if let Err(e) = audit.append_blocking(event) {
            tracing::error!(trigger, error = %e, "seal reload not applied: its audit record cannot be written");
            return Err(e.into());
        }
        *last = stamps;
        match loaded {
            Ok(material) => {
                tracing::info!(trigger, serial = %material.serial, "seal reloaded");
                warn_expiring(&material);
                *write(&self.current) = Arc::new(material);
                Ok(self.status())
            }
            Err(e) => {
                tracing::warn!(trigger, error = %e, "seal reload failed; the current seal is kept");
                Err(e)
            }
        }
    }
}

/// The audit record of one receipt: its kind, id, what it is about and its hash.
pub fn receipt_event(receipt: &SignedReceipt, subject: &str, actor: Actor) -> Event {
    Event {
        kind: Kind::Receipt,
        actor,
        purpose: None,
        person: None,
        offices: Vec::new(),
        result: receipt.kind.as_str().to_owned(),
        detail: Some(format!(
            "receipt {} for {subject} sha256 {}",
            receipt.id, receipt.sha256
        )),
        binding: None,
    }
}

/// Reads and checks one seal set.
fn load_material(paths: &SealPaths) -> Result<Material, ReceiptError> {
    let bad = |path: &Path, reason: String| ReceiptError::BadSeal {
        path: path.to_path_buf(),
        reason,
    };
    let chain = load_certs(&paths.cert)?;
    let key_der = load_key(&paths.key)?;
    let roots = load_certs(&paths.ca)?;
    let key =
        EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, key_der.secret_der())
            .map_err(|e| bad(&paths.key, format!("not an ECDSA P-256 private key: {e}")))?;
    let (_, cert) = x509_parser::parse_x509_certificate(chain[0].as_ref())
        .map_err(|e| bad(&paths.cert, format!("not valid X.509: {e}")))?;
    if key.public_key().as_ref() != &*cert.public_key().subject_public_key.data {
        return Err(bad(
            &paths.key,
            format!("does not match the certificate {}", paths.cert.display()),
        ));
    }
    let identity = check_seal_chain(&chain, &roots, UnixTime::now()).map_err(|e| {
        bad(
            &paths.cert,
            format!("{e} (checked against {})", paths.ca.display()),
        )
    })?;
    Ok(Material {
        header: Header::for_chain(&chain).encoded()?,
        serial: cert
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        not_after: cert.validity().not_after.timestamp(),
        identity,
        key,
    })
}

/// Warns when the seal expires within the TLS material's warning window.
fn warn_expiring(m: &Material) {
    let days = crate::tls::material_days_left(m.not_after);
    if days < WARN_DAYS {
        tracing::warn!(serial = %m.serial, days_left = days, "the seal certificate expires soon; renew it");
    }
}

/// The stamps of the seal's files.
fn stamps(paths: &SealPaths) -> Vec<Stamp> {
    [&paths.cert, &paths.key, &paths.ca]
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            #[cfg(unix)]
            let ino = std::os::unix::fs::MetadataExt::ino(&meta);
            #[cfg(not(unix))]
            let ino = 0;
            Some((meta.modified().ok()?, meta.len(), ino))
        })
        .collect()
}
