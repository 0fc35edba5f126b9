//! Owns the idempotent development federation (CA, gateway, portal, admin, seal, account
//! register and office certificates), recorded in its `inventory.json` like any federation so that
//! `guichet certs list|renew|revoke` work on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::pki::inventory::{Entry, Inventory};
use crate::pki::{Ca, FederationLayout, Identity, LeafSpec, PkiError, Result, Role};
use crate::tls::{TlsError, load_certs, load_key, peer_identity, provider};

/// Validity of the development CA (10 years).
const CA_DAYS: u32 = 3652;
/// Validity of development leaves.
const LEAF_DAYS: u32 = 365;
/// Common name of the development CA.
const CA_NAME: &str = "guichet development federation CA";

/// Where a certificate and its key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// The PEM certificate file.
    pub cert: PathBuf,
    /// The PEM private key file (mode `0600`).
    pub key: PathBuf,
}

impl CertPaths {
    /// `<dir>/<stem>.pem` and `<dir>/<stem>.key`.
    pub fn in_dir(dir: &Path, stem: &str) -> CertPaths {
        CertPaths {
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
        }
    }
}

/// The files of a development federation, as returned by [`ensure_dev_pki`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevPki {
    /// The federation directory.
    pub dir: PathBuf,
    /// `federation-ca.pem`: the trust anchor for every peer.
    pub ca_cert: PathBuf,
    /// `federation-ca.key`.
    pub ca_key: PathBuf,
    /// `gateway-server`: `gateway:guichet`, server auth, SAN `localhost` + `127.0.0.1`.
    pub gateway_server: CertPaths,
    /// `gateway-client`: `gateway:guichet`, client auth (towards offices).
    pub gateway_client: CertPaths,
    /// `portal-demo`: `portal:demo`, client auth.
    pub portal: CertPaths,
    /// `admin-ops`: `admin:ops`, client auth.
    pub admin: CertPaths,
    /// `register-zas`: `register:zas`, the central account register the simulator plays;
    /// server + client auth, SAN `localhost` + `127.0.0.1`.
    pub register: CertPaths,
    /// `seal-guichet`: `seal:guichet`, document signing only (the receipts' seal).
    pub seal: CertPaths,
    /// `offices/<id>`: `office:<id>`, server + client auth, SAN `localhost` + `127.0.0.1`.
    pub offices: BTreeMap<String, CertPaths>,
    /// The development identity provider: `idp-signing.key` (ES256, `0600`) and
    /// `idp-jwks.json`, for end-user tokens ([`crate::pki::idp`]).
    pub idp: crate::pki::idp::DevIdp,
}

/// Ensures a development federation exists under `dir`, creating only what is missing.
///
/// An existing CA is loaded and reused; existing leaves are checked (parsable, key matches,
/// expected identity, chains to the CA and not expired). A damaged or inconsistent file is
/// reported with its name and never overwritten. Office ids must be `NNN.NNN`.
pub fn ensure_dev_pki(dir: &Path, offices: &[String]) -> Result<DevPki, PkiError> {
    let office_ids = offices
        .iter()
        .map(|id| Identity::new(Role::Office, id.as_str()))
        .collect::<Result<Vec<_>, _>>()?;

    let ca_paths = CertPaths::in_dir(dir, "federation-ca");
    let ca = if pair_exists(&ca_paths)? {
        Ca::load(&ca_paths.cert, &ca_paths.key)?
    } else {
        let ca = Ca::create(CA_NAME, CA_DAYS)?;
        ca.write(&ca_paths.cert, &ca_paths.key)?;
        ca
    };
    let checker = LeafChecker::new(&ca, &ca_paths.cert)?;

    let gateway = Identity::new(Role::Gateway, "guichet")?;
    let mut gateway_server_spec = LeafSpec::server(gateway.clone(), LEAF_DAYS);
    gateway_server_spec.client_auth = false;
    let fixed = [
        ("gateway-server", gateway_server_spec),
        ("gateway-client", LeafSpec::new(gateway, LEAF_DAYS)),
        (
            "portal-demo",
            LeafSpec::new(Identity::new(Role::Portal, "demo")?, LEAF_DAYS),
        ),
        (
            "admin-ops",
            LeafSpec::new(Identity::new(Role::Admin, "ops")?, LEAF_DAYS),
        ),
        (
            "register-zas",
            LeafSpec::server(Identity::new(Role::Register, "zas")?, LEAF_DAYS),
        ),
        (
            "seal-guichet",
            LeafSpec::seal(Identity::new(Role::Seal, "guichet")?, LEAF_DAYS),
        ),
    ];
    let mut fixed_paths = Vec::with_capacity(fixed.len());
    let mut leaves = Vec::with_capacity(fixed.len() + office_ids.len());
    for (stem, spec) in &fixed {
        let paths = CertPaths::in_dir(dir, stem);
        leaves.push((paths.clone(), ensure_leaf(&ca, &checker, &paths, spec)?));
        fixed_paths.push(paths);
    }
    let [
        gateway_server,
        gateway_client,
        portal,
        admin,
        register,
        seal,
    ] = <[CertPaths; 6]>::try_from(fixed_paths)
        .expect("invariant: exactly six fixed leaves are listed above");

    let office_dir = dir.join("offices");
    let mut office_paths = BTreeMap::new();
    for identity in office_ids {
        let paths = CertPaths::in_dir(&office_dir, &identity.name);
        let spec = LeafSpec::server(identity.clone(), LEAF_DAYS);
        leaves.push((paths.clone(), ensure_leaf(&ca, &checker, &paths, &spec)?));
        office_paths.insert(identity.name, paths);
    }
    record_leaves(dir, &leaves)?;
    let idp = crate::pki::idp::ensure_dev_idp(dir)?;

    Ok(DevPki {
        dir: dir.to_path_buf(),
        ca_cert: ca_paths.cert,
        ca_key: ca_paths.key,
        gateway_server,
        gateway_client,
        portal,
        admin,
        register,
        seal,
        offices: office_paths,
        idp,
    })
}

/// Issues the leaf if neither file exists, otherwise checks the existing pair. Returns
/// whether it was issued now.
fn ensure_leaf(ca: &Ca, checker: &LeafChecker, paths: &CertPaths, spec: &LeafSpec) -> Result<bool> {
    if pair_exists(paths)? {
        checker.check(paths, spec).map(|()| false)
    } else {
        ca.issue(spec)?
            .write(&paths.cert, &paths.key)
            .map(|()| true)
    }
}

/// Records every leaf in the folder's inventory (those made before the inventory existed
/// too, dated by their start of validity); writes it only when something is new.
fn record_leaves(dir: &Path, leaves: &[(CertPaths, bool)]) -> Result<()> {
    let layout = FederationLayout::new(dir);
    let mut inventory = Inventory::load(&layout.inventory)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let relative = |path: &Path| path.strip_prefix(dir).unwrap_or(path).to_path_buf();
    let mut changed = false;
    for (paths, issued_now) in leaves {
        let mut entry = Entry::from_file(dir, relative(&paths.cert), relative(&paths.key), now)?;
        if !issued_now {
            entry.issued_at = entry.not_before;
        }
        let known = inventory.find(&entry.serial);
        if let Some(r) = known.and_then(|i| inventory.certificates[i].revoked.as_ref()) {
            return Err(PkiError::BadFile {
                path: paths.cert.clone(),
                reason: format!(
                    "is revoked (serial {}, {}); delete it and its key to have them regenerated",
                    entry.serial, r.reason
                ),
            });
        }
        changed |= inventory.record(entry);
    }
    if changed {
        inventory.save(&layout.inventory)?;
    }
    Ok(())
}

/// True if both files exist, false if neither does, an error naming the orphan otherwise.
fn pair_exists(paths: &CertPaths) -> Result<bool> {
    let exists = |path: &Path| {
        path.try_exists().map_err(|source| PkiError::Io {
            op: "inspect",
            path: path.to_path_buf(),
            source,
        })
    };
    match (exists(&paths.cert)?, exists(&paths.key)?) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) => Err(orphan(&paths.cert, &paths.key)),
        (false, true) => Err(orphan(&paths.key, &paths.cert)),
    }
}

/// The error for half a pair: never regenerate over an existing file.
fn orphan(present: &Path, missing: &Path) -> PkiError {
    PkiError::BadFile {
        path: present.to_path_buf(),
        reason: format!(
            "exists but {} is missing; delete it to have the pair regenerated",
            missing.display()
        ),
    }
}

/// Verifies existing leaves against the federation CA.
struct LeafChecker {
    /// The CA certificate, for seal chains (checked as receipts' verifiers check them).
    anchor: CertificateDer<'static>,
    client: Arc<dyn ClientCertVerifier>,
    server: Arc<WebPkiServerVerifier>,
    ca_cert: PathBuf,
}

impl LeafChecker {
    fn new(ca: &Ca, ca_cert: &Path) -> Result<LeafChecker> {
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.cert_der().clone())
            .map_err(|err| PkiError::BadFile {
                path: ca_cert.to_path_buf(),
                reason: format!("unusable as trust anchor: {err}"),
            })?;
        let roots = Arc::new(roots);
        let client = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(TlsError::from)?;
        let server = WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(TlsError::from)?;
        Ok(LeafChecker {
            anchor: ca.cert_der().clone(),
            client,
            server,
            ca_cert: ca_cert.to_path_buf(),
        })
    }

    /// Checks an existing pair: parsable, key matches, expected identity, chains to the CA
    /// (for its usage: clientAuth, serverAuth for `localhost`, or a seal's document
    /// signing) and is not expired.
    fn check(&self, paths: &CertPaths, spec: &LeafSpec) -> Result<()> {
        let bad = |path: &Path, reason: String| PkiError::BadFile {
            path: path.to_path_buf(),
            reason: format!("{reason}; delete it and its pair to have them regenerated"),
        };
        let certs = load_certs(&paths.cert)?;
        let key = load_key(&paths.key)?;
        if let Err(err) = CertifiedKey::from_der(certs.clone(), key, &provider()) {
            return Err(bad(
                &paths.key,
                format!("does not match certificate {}: {err}", paths.cert.display()),
            ));
        }
        let (leaf, intermediates) = certs
            .split_first()
            .expect("invariant: load_certs never returns an empty list");
        match peer_identity(leaf) {
            Some(found) if found == spec.identity => {}
            Some(found) => {
                return Err(bad(
                    &paths.cert,
                    format!("carries identity {found}, expected {}", spec.identity),
                ));
            }
            None => {
                return Err(bad(
                    &paths.cert,
                    "carries no valid urn:guichet: SAN URI".into(),
                ));
            }
        }
        let now = UnixTime::now();
        if spec.identity.role == Role::Seal {
            return crate::receipt::check_seal_chain(
                &certs,
                std::slice::from_ref(&self.anchor),
                now,
            )
            .map(|_| ())
            .map_err(|err| {
                bad(
                    &paths.cert,
                    format!(
                        "is not a seal certificate of the CA {}: {err}",
                        self.ca_cert.display()
                    ),
                )
            });
        }
        let result = if spec.client_auth {
            self.client
                .verify_client_cert(leaf, intermediates, now)
                .map(|_| ())
        } else {
            let localhost = ServerName::try_from("localhost").expect("invariant: valid DNS name");
            self.server
                .verify_server_cert(leaf, intermediates, &localhost, &[], now)
                .map(|_| ())
        };
        result.map_err(|err| {
            bad(
                &paths.cert,
                format!(
                    "does not verify against the CA {}: {err}",
                    self.ca_cert.display()
                ),
            )
        })
    }
}
