//! Owns guichet's small certificate authority: identities, issuance, CRLs and the dev federation.
//!
//! # Identity scheme
//!
//! Every certificate issued here carries exactly one SAN URI of the form
//! `urn:guichet:<role>:<name>`, where `<role>` is one of
//!
//! | role      | who                                         | name                      |
//! |-----------|---------------------------------------------|---------------------------|
//! | `portal`  | the citizen portal calling the gateway      | free, e.g. `demo`         |
//! | `office`  | a compensation fund / IV office             | office id `NNN.NNN`, e.g. `025.000` |
//! | `admin`   | an operator of the administration API       | free, e.g. `ops`          |
//! | `gateway` | guichet itself (server and outgoing client) | free, e.g. `guichet`      |
//!
//! Names are 1–64 characters of `[A-Za-z0-9._-]`; office names must additionally be office
//! ids (three digits, a dot, three digits). The subject CN repeats the name for humans, but
//! authorisation decisions read only the SAN URI (see [`crate::tls::peer_identity`]). The
//! scheme's types ([`Identity`], [`Role`]) live in [`crate::model`] and are re-exported here.
//!
//! Leaf keys are ECDSA P-256, serials are 16 random bytes (positive), and key files are
//! written atomically with mode `0600` from the start (see [`write_pem_files`]).

mod ca;
mod crl;
mod dev;
mod files;
mod hierarchy;
pub mod idp;
pub mod inventory;
pub mod manage;

use std::path::PathBuf;

use thiserror::Error;

use crate::tls::TlsError;

pub use ca::{Ca, IssuedCert, LeafSpec};
pub use crl::parse_reason;
pub use dev::{CertPaths, DevPki, ensure_dev_pki};
pub use files::{write_pem_files, write_secret_file};
pub use hierarchy::FederationLayout;
// The identity scheme lives in the model (the request path reads it without the CA); the
// certificate authority issues it.
pub use crate::model::{
    Identity, IdentityError, MAX_NAME_LEN, Role, URI_PREFIX, is_office_id, validate_name,
};

/// Errors of the certificate authority; every file-related variant names the file.
#[derive(Debug, Error)]
pub enum PkiError {
    /// A role or identity does not follow the scheme.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A leaf specification is inconsistent (dates, usages, names).
    #[error("invalid certificate request for {identity}: {reason}")]
    InvalidSpec {
        /// The identity that was being issued.
        identity: String,
        /// What is wrong.
        reason: String,
    },
    /// A file system operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The operation (`read`, `create`, `rename`, ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An existing file is unusable; it is never overwritten silently.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The damaged or inconsistent file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// rcgen failed to build or sign something.
    #[error("cannot {what}: {source}")]
    Rcgen {
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },
    /// The system random generator failed.
    #[error("system random generator failed")]
    Random,
    /// Reading PEM material failed (the error names the file).
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Shorthand for results of this module.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;
