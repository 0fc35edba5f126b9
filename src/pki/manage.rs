//! Owns the operations behind `guichet certs`: init, issue, renew, revoke and CRL
//! publication on a federation folder, keeping the inventory in step with the files.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::RevocationReason;
use time::OffsetDateTime;

use crate::pki::files::write_atomic;
use crate::pki::inventory::{Entry, Inventory, Revocation, rfc3339};
use crate::pki::{
    Ca, FederationLayout, Identity, LeafSpec, PkiError, Result, Role, parse_reason, write_pem_files,
};

/// Validity of the root CA made by `init` (20 years).
pub const ROOT_DAYS: u32 = 7305;
/// Validity of the issuing CA made by `init` (5 years).
pub const ISSUING_DAYS: u32 = 1826;
/// Validity of a published CRL.
pub const CRL_DAYS: u32 = 30;
/// What to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Who.
    pub identity: Identity,
    /// Validity in days.
    pub days: u32,
    /// Adds serverAuth and SANs (always for offices).
    pub server: bool,
    /// DNS SANs of a server certificate (default `localhost`).
    pub dns: Vec<String>,
    /// IP SANs of a server certificate (default `127.0.0.1`).
    pub ips: Vec<IpAddr>,
    /// Replace existing files.
    pub force: bool,
}

/// Which certificate `renew` or `revoke` acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertTarget {
    /// By serial (hex).
    Serial(String),
    /// The one in use with this name (and role, when the name is ambiguous).
    Name {
        /// The identity name.
        name: String,
        /// The role, if given.
        role: Option<Role>,
    },
}

/// `init`: a root CA and an issuing CA, an empty CRL and inventory. Never overwrites a CA.
pub fn init(dir: &Path) -> Result<FederationLayout> {
    let layout = FederationLayout::new(dir);
    for existing in [
        &layout.root.cert,
        &layout.root.key,
        &layout.issuing.cert,
        &layout.issuing.key,
    ] {
        if existing.exists() {
            return Err(PkiError::BadFile {
                path: existing.clone(),
                reason:
                    "already exists: a federation is initialised here (a CA is never overwritten)"
                        .into(),
            });
        }
    }
    let root = Ca::create_root("guichet federation root CA", ROOT_DAYS)?;
    let issuing = root.issue_intermediate("guichet federation issuing CA", ISSUING_DAYS)?;
    root.write(&layout.root.cert, &layout.root.key)?;
    issuing.write(&layout.issuing.cert, &layout.issuing.key)?;
    let mut inventory = Inventory::load(&layout.inventory)?;
    publish_crl(&layout, &issuing, &mut inventory)?;
    inventory.save(&layout.inventory)?;
    Ok(layout)
}

/// `issue`: a key and certificate (with the issuing CA appended) recorded in the inventory.
pub fn issue(layout: &FederationLayout, req: &IssueRequest) -> Result<Entry> {
    let seal = req.identity.role == Role::Seal;
    if seal && (req.server || !req.dns.is_empty() || !req.ips.is_empty()) {
        return Err(PkiError::InvalidSpec {
            identity: req.identity.to_string(),
            reason: "a seal certificate signs receipts only: no --server, --dns or --ip".into(),
        });
    }
    let (ca, chain) = layout.open_issuer()?;
    let mut inventory = Inventory::load(&layout.inventory)?;
    let server = req.server || req.identity.role == Role::Office;
    let stem = match (req.identity.role, server) {
        (Role::Office, _) => format!("offices/{}", req.identity.name),
        (role, true) => format!("{role}-{}-server", req.identity.name),
        (role, false) => format!("{role}-{}", req.identity.name),
    };
    let (cert_file, key_file) = (
        PathBuf::from(format!("{stem}.pem")),
        PathBuf::from(format!("{stem}.key")),
    );
    if !req.force {
        for f in [&cert_file, &key_file] {
            let path = layout.dir.join(f);
            if path.exists() {
                return Err(PkiError::BadFile {
                    path,
                    reason: "already exists; use --force to replace it, or `renew`".into(),
                });
            }
        }
    }
    let mut spec = if seal {
        LeafSpec::seal(req.identity.clone(), req.days)
    } else {
        LeafSpec::new(req.identity.clone(), req.days)
    };
    if server {
        spec.server_auth = true;
        spec.dns_names = if req.dns.is_empty() && req.ips.is_empty() {
            vec!["localhost".to_owned()]
        } else {
            req.dns.clone()
        };
        spec.ip_addrs = if req.dns.is_empty() && req.ips.is_empty() {
            vec![IpAddr::from([127, 0, 0, 1])]
        } else {
            req.ips.clone()
        };
    }
    let entry = write_leaf(layout, &ca, &chain, &spec, cert_file, key_file, None)?;
    inventory.certificates.push(entry.clone());
    inventory.save(&layout.inventory)?;
    Ok(entry)
}

/// `renew`: a new certificate for the same identity, usages and names, replacing the files;
/// the old one is marked superseded but stays valid (overlap) until it expires.
pub fn renew(
    layout: &FederationLayout,
    target: &CertTarget,
    days: Option<u32>,
) -> Result<(Entry, Entry)> {
    let (ca, chain) = layout.open_issuer()?;
    let mut inventory = Inventory::load(&layout.inventory)?;
    let index = find(&inventory, &layout.inventory, target)?;
    let old = inventory.certificates[index].clone();
    if old.revoked.is_some() {
        return Err(PkiError::BadFile {
            path: layout.inventory.clone(),
            reason: format!(
                "serial {} is revoked: issue a new certificate instead",
                old.serial
            ),
        });
    }
    let identity = Identity::new(old.role.parse()?, old.name.clone())?;
    let lifetime_days = ((old.not_after - old.not_before) / 86_400).clamp(1, i64::from(u32::MAX));
    let days = days.unwrap_or(u32::try_from(lifetime_days).unwrap_or(365));
    let mut spec = LeafSpec::new(identity, days);
    spec.server_auth = old.server;
    spec.client_auth = old.client;
    spec.dns_names = old.dns.clone();
    spec.ip_addrs = old
        .ips
        .iter()
        .map(|ip| {
            ip.parse().map_err(|_| PkiError::BadFile {
                path: layout.inventory.clone(),
                reason: format!("serial {}: bad IP address {ip:?}", old.serial),
            })
        })
        .collect::<Result<_>>()?;
    let new = write_leaf(
        layout,
        &ca,
        &chain,
        &spec,
        old.cert_file.clone(),
        old.key_file.clone(),
        Some(old.serial.clone()),
    )?;
    inventory.certificates[index].superseded_by = Some(new.serial.clone());
    inventory.certificates.push(new.clone());
    inventory.save(&layout.inventory)?;
    Ok((old, new))
}

/// Finds the newest certificate in use of `name` (and `role`, needed when ambiguous).
fn find_by_name(
    inventory: &Inventory,
    file: &Path,
    name: &str,
    role: Option<Role>,
) -> Result<usize> {
    let candidates: Vec<usize> = (0..inventory.certificates.len())
        .filter(|i| {
            let e = &inventory.certificates[*i];
            e.name == name
                && e.revoked.is_none()
                && e.superseded_by.is_none()
                && role.is_none_or(|r| e.role == r.as_str())
        })
        .collect();
    match candidates.as_slice() {
        [] => Err(not_found(file, name)),
        [one] => Ok(*one),
        many => Err(PkiError::BadFile {
            path: file.to_path_buf(),
            reason: format!(
                "{} certificates in use are named {name} ({}); give the serial or --role",
                many.len(),
                many.iter()
                    .map(|i| format!(
                        "{} {}",
                        inventory.certificates[*i].role, inventory.certificates[*i].serial
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The index of the certificate `target` names.
fn find(inventory: &Inventory, file: &Path, target: &CertTarget) -> Result<usize> {
    match target {
        CertTarget::Name { name, role } => find_by_name(inventory, file, name, *role),
        CertTarget::Serial(serial) => inventory
            .find(serial)
            .ok_or_else(|| not_found(file, serial)),
    }
}

/// `revoke` by serial; see [`revoke_target`].
pub fn revoke(layout: &FederationLayout, serial: &str, reason: &str) -> Result<(Entry, bool)> {
    revoke_target(layout, &CertTarget::Serial(serial.to_owned()), reason)
}

/// `revoke`: records the revocation (reason in guichet's spelling, whichever RFC 5280
/// spelling was given, see [`parse_reason`]) and publishes a fresh CRL. Revoking again
/// re-publishes. By name, it is the certificate in use with that name, as for `renew`.
pub fn revoke_target(
    layout: &FederationLayout,
    target: &CertTarget,
    reason: &str,
) -> Result<(Entry, bool)> {
    let (reason, _) = parse_reason(reason)?;
    let (ca, _) = layout.open_issuer()?;
    let mut inventory = Inventory::load(&layout.inventory)?;
    let index = find(&inventory, &layout.inventory, target)?;
    let entry = &mut inventory.certificates[index];
    let newly = entry.revoked.is_none();
    if newly {
        entry.revoked = Some(Revocation {
            at: OffsetDateTime::now_utc().unix_timestamp(),
            reason: reason.to_owned(),
        });
    }
    let entry = entry.clone();
    publish_crl(layout, &ca, &mut inventory)?;
    inventory.save(&layout.inventory)?;
    Ok((entry, newly))
}

/// Signs the CRL of every revoked certificate of the inventory and writes it atomically.
pub fn publish_crl(layout: &FederationLayout, ca: &Ca, inventory: &mut Inventory) -> Result<()> {
    let mut revoked = Vec::new();
    for e in &inventory.certificates {
        if let Some(r) = &e.revoked {
            let at = OffsetDateTime::from_unix_timestamp(r.at)
                .unwrap_or_else(|_| OffsetDateTime::now_utc());
            revoked.push((e.serial.as_str(), at, Some(reason_code(&r.reason)?)));
        }
    }
    inventory.crl_number += 1;
    let pem = ca
        .signed_crl(&revoked, CRL_DAYS, Some(inventory.crl_number))?
        .pem()
        .map_err(crate::pki::ca::rcgen_err("encode the CRL"))?;
    write_atomic(&layout.crl, pem.as_bytes(), 0o644, 0o700)
}

/// The CRL reason code of a `--reason` word (any spelling [`parse_reason`] accepts).
pub fn reason_code(reason: &str) -> Result<RevocationReason> {
    parse_reason(reason).map(|(_, code)| code)
}

/// Issues `spec` and writes `<dir>/<cert_file>` (leaf + `chain`) and its key (0600).
fn write_leaf(
    layout: &FederationLayout,
    ca: &Ca,
    chain: &str,
    spec: &LeafSpec,
    cert_file: PathBuf,
    key_file: PathBuf,
    renewed_from: Option<String>,
) -> Result<Entry> {
    let leaf = ca.issue(spec)?;
    let cert_pem = format!("{}{chain}", leaf.cert_pem);
    write_pem_files(
        &layout.dir.join(&cert_file),
        &cert_pem,
        &layout.dir.join(&key_file),
        &leaf.key_pem,
    )?;
    Ok(Entry {
        serial: leaf.serial_hex.clone(),
        role: spec.identity.role.to_string(),
        name: spec.identity.name.clone(),
        subject: x509_parser::parse_x509_certificate(&leaf.cert_der)
            .map(|(_, c)| c.subject().to_string())
            .unwrap_or_else(|_| format!("O=guichet, CN={}", spec.identity.name)),
        server: spec.server_auth,
        client: spec.client_auth,
        dns: spec.dns_names.clone(),
        ips: spec.ip_addrs.iter().map(ToString::to_string).collect(),
        not_before: spec.not_before.unix_timestamp(),
        not_after: spec.not_after.unix_timestamp(),
        not_after_text: rfc3339(spec.not_after.unix_timestamp()),
        cert_file,
        key_file,
        issued_at: OffsetDateTime::now_utc().unix_timestamp(),
        renewed_from,
        superseded_by: None,
        revoked: None,
    })
}

fn not_found(inventory: &Path, what: &str) -> PkiError {
    PkiError::BadFile {
        path: inventory.to_path_buf(),
        reason: format!("no certificate {what:?} in the inventory (see `guichet certs list`)"),
    }
}
