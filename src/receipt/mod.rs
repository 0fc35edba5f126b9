//! Legally binding receipts: a typed payload ([`Receipt`]) signed by the gateway's seal
//! identity (role `seal`, `urn:guichet:seal:<name>`) as a compact JWS (RFC 7515, ES256)
//! whose protected header carries the `x5c` chain, so anyone holding the federation's root
//! certificate can verify a receipt offline (`guichet receipts verify`).
//!
//! Creating, signing and verifying are three steps: the caller builds a [`ReceiptBody`]
//! (submission, delivery, dispatch or read receipt), [`Sealer::seal_and_audit`] signs it
//! and appends its SHA-256 to the audit log before handing it out, and [`verify`] is what
//! the offline command runs. A seal certificate is for signing only: key usage
//! digitalSignature + nonRepudiation and the single EKU `id-kp-documentSigning`
//! (RFC 9336), so no TLS verifier accepts it and no TLS certificate passes as a seal.
//!
//! This module knows no HTTP and no store: routes and the store keep the [`SignedReceipt`]s.
//!
//! How an integrator issues one (e.g. the `201` of `POST /v1/submissions`):
//! `let sealer = state.seal()?;` (`503 receipts-unavailable` without `[seal]`), then
//! `sealer.seal_and_audit(&state.audit, actor, body).await?` (an audit failure becomes
//! `503 audit-unavailable` through `Problem::from`), then store `jws` and `sha256` with the
//! submission before answering. A caller that must sign inside its own transaction uses
//! [`Sealer::seal`] and appends [`receipt_event`] itself before the receipt leaves.

mod jws;
mod payload;
mod sealer;
mod verify;

use std::path::PathBuf;

pub use jws::{HEADER_TYP, Header, encode};
pub use payload::{
    AttachmentHash, DeliveryOutcome, DeliveryReceipt, DispatchReceipt, ReadReceipt, Receipt,
    ReceiptBody, ReceiptKind, SubmissionOutcome, SubmissionReceipt,
};
pub use sealer::{SealPaths, SealStatus, Sealer, SignedReceipt, receipt_event};
pub use verify::{Refusal, Verified, check_seal_chain, verify, verify_with_crls};

/// `id-kp-documentSigning` (RFC 9336, 1.3.6.1.5.5.7.3.36): the only EKU of a seal
/// certificate, as arcs (for issuing with rcgen).
pub const DOCUMENT_SIGNING_ARCS: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 3, 36];

/// The same OID as DER content octets (for rustls-webpki's key-usage check).
pub(crate) const DOCUMENT_SIGNING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];

/// Why the seal cannot sign; every file-related variant names the file. None carries
/// receipt content.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// No `[seal]` section: receipts are off in this configuration.
    #[error("receipts are off: the configuration has no [seal] section (see docs/operating.md)")]
    Disabled,
    /// A seal file cannot be read or is not usable PEM.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The seal's files are readable but unusable (wrong role, key mismatch, expired…).
    #[error("seal {}: {reason}", path.display())]
    BadSeal {
        /// The certificate or key file concerned.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The seal certificate in use has expired since it was loaded: nothing is signed
    /// until a renewed one is in place (a receipt it signed would not verify).
    #[error(
        "the seal certificate expired at {not_after}; renew it (`guichet certs renew --name <seal> --role seal`)"
    )]
    Expired {
        /// End of validity, RFC 3339.
        not_after: String,
    },
    /// The crypto provider failed to sign (no input can cause this).
    #[error("the seal key failed to sign")]
    Sign,
    /// The payload cannot be serialized (a bug, not an input problem).
    #[error("receipt payload cannot be serialized: {0}")]
    Serialize(String),
    /// The receipt's audit record could not be written: the receipt must not be handed out.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

/// Lowercase hex SHA-256 of `bytes` (the hash receipts carry and the audit log records).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3339 text (UTC, seconds) of a Unix time, as receipts write their times.
pub fn rfc3339(unix: i64) -> String {
    crate::timefmt::rfc3339_unix(unix)
}
