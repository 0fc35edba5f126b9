//! Offline verification of a receipt against the federation's root certificate(s): the
//! signature with the `x5c` leaf's key, the leaf being a seal certificate, the `iss` claim
//! naming that seal, and the chain to a given root valid at the signing time (`iat`).
//! What `guichet receipts verify` and the sealer's own load check run.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use x509_parser::oid_registry::Oid;

use super::jws::{self, HEADER_TYP, Header};
use super::{DOCUMENT_SIGNING_ARCS, DOCUMENT_SIGNING_DER, Receipt, rfc3339};
use crate::model::{Identity, Role};
use crate::tls::{peer_identity, provider};

/// How far in the future a signing time may lie (clock skew between gateway and verifier).
const FUTURE_SKEW_SECS: u64 = 300;

/// Why a receipt is refused; the message is the reason `guichet receipts verify` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a receipt at all: bad encoding, JSON, algorithm, header or claims.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// The signature does not verify with the key of the `x5c` leaf.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The signing certificate is not a seal certificate (role, key usage, EKU) or the
    /// `iss` claim does not name it.
    #[error("not a seal certificate: {0}")]
    NotSeal(String),
    /// The chain does not lead to any of the given roots.
    #[error("chain not to the given root: {0}")]
    Untrusted(String),
    /// A certificate of the chain is on a given CRL (or a CRL is unusable).
    #[error("seal certificate revoked: {0}")]
    Revoked(String),
    /// A certificate of the chain was not valid at the signing time.
    #[error("seal certificate not valid at signing time {at}: {reason}")]
    NotValidAtSigning {
        /// The signing time (`iat`), RFC 3339.
        at: String,
        /// What webpki found (expired, not yet valid).
        reason: String,
    },
}

/// A receipt that verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The typed payload.
    pub receipt: Receipt,
    /// The payload exactly as signed (JSON), for printing.
    pub payload: serde_json::Value,
    /// The seal that signed.
    pub signer: Identity,
    /// Serial of the seal certificate, lowercase hex.
    pub serial: String,
}

/// Verifies a compact JWS receipt against `roots` (the federation's root certificate, or
/// several); `now` bounds how far in the future the signing time may lie.
pub fn verify(
    jws_text: &str,
    roots: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<Verified, Refusal> {
    verify_with_crls(jws_text, roots, &[], now)
}

/// [`verify`], and refuses a receipt whose seal (or issuing CA) is on one of `crls`,
/// whatever the revocation date: without a trusted time stamp a receipt signed with a
/// revoked key cannot be told from one forged with it afterwards. A certificate no CRL
/// speaks for is not refused; an expired CRL is used as it is.
pub fn verify_with_crls(
    jws_text: &str,
    roots: &[CertificateDer<'_>],
    crls: &[CertificateRevocationListDer<'_>],
    now: UnixTime,
) -> Result<Verified, Refusal> {
    let malformed = Refusal::Malformed;
    let parts = jws::split(jws_text).map_err(malformed)?;
    let header: Header = serde_json::from_slice(&parts.header)
        .map_err(|e| Refusal::Malformed(format!("header is not a receipt header: {e}")))?;
    if header.alg != "ES256" {
        return Err(Refusal::Malformed(format!(
            "algorithm {:?} (receipts are ES256)",
            header.alg
        )));
    }
    if header.typ != HEADER_TYP {
        return Err(Refusal::Malformed(format!(
            "typ {:?} (receipts are {HEADER_TYP})",
            header.typ
        )));
    }
    if let Some(crit) = &header.crit {
        return Err(Refusal::Malformed(format!(
            "critical header extensions {crit:?} are not understood"
        )));
    }
    let chain = jws::chain_of(&header).map_err(Refusal::Malformed)?;
    let leaf = &chain[0];
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| Refusal::Malformed(format!("x5c[0] is not an X.509 certificate: {e}")))?;
    UnparsedPublicKey::new(
        &ECDSA_P256_SHA256_FIXED,
        &cert.public_key().subject_public_key.data,
    )
    .verify(parts.signing_input.as_bytes(), &parts.signature)
    .map_err(|_| {
        Refusal::BadSignature(
            "the signature does not match header and payload with the x5c certificate's key".into(),
        )
    })?;
    let payload: serde_json::Value = serde_json::from_slice(&parts.payload)
        .map_err(|e| Refusal::Malformed(format!("payload is not JSON: {e}")))?;
    let receipt: Receipt = serde_json::from_value(payload.clone())
        .map_err(|e| Refusal::Malformed(format!("payload is not a receipt: {e}")))?;
    let signer = seal_identity(leaf)?;
    if receipt.iss != signer.uri() {
        return Err(Refusal::NotSeal(format!(
            "the iss claim {:?} does not name the signing certificate's {}",
            receipt.iss,
            signer.uri()
        )));
    }
    let signed_at = u64::try_from(receipt.iat)
        .map_err(|_| Refusal::Malformed(format!("negative signing time iat {}", receipt.iat)))?;
    if signed_at > now.as_secs().saturating_add(FUTURE_SKEW_SECS) {
        return Err(Refusal::Malformed(format!(
            "signed in the future ({})",
            rfc3339(receipt.iat)
        )));
    }
    let at = UnixTime::since_unix_epoch(from_secs(signed_at));
    verify_chain(&chain, roots, crls, at)?;
    Ok(Verified {
        serial: cert
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        receipt,
        payload,
        signer,
    })
}

/// Checks that `chain` (leaf first) is a seal certificate chaining to one of `roots` at
/// `time`: what a receipt's verifier will check, so the sealer refuses to load anything
/// else, and the development PKI checks its seal with it.
pub fn check_seal_chain(
    chain: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
    time: UnixTime,
) -> Result<Identity, Refusal> {
    let leaf = chain
        .first()
        .ok_or_else(|| Refusal::Malformed("no certificate".into()))?;
    let identity = seal_identity(leaf)?;
    verify_chain(chain, roots, &[], time)?;
    Ok(identity)
}

/// The seal identity of a leaf: role `seal` in the SAN URI, key usage digitalSignature or
/// nonRepudiation, EKU documentSigning and no TLS usage.
fn seal_identity(leaf: &CertificateDer<'_>) -> Result<Identity, Refusal> {
    let not_seal = |reason: String| Refusal::NotSeal(reason);
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| Refusal::Malformed(format!("leaf is not an X.509 certificate: {e}")))?;
    let identity = peer_identity(leaf)
        .ok_or_else(|| not_seal("the leaf carries no urn:guichet: identity".into()))?;
    if identity.role != Role::Seal {
        return Err(not_seal(format!(
            "the leaf is {}, not a seal (urn:guichet:seal:<name>)",
            identity.uri()
        )));
    }
    let eku = cert
        .extended_key_usage()
        .map_err(|e| not_seal(format!("unreadable extended key usage: {e}")))?
        .map(|e| e.value)
        .ok_or_else(|| not_seal("no extended key usage (documentSigning required)".into()))?;
    let signing = Oid::from(&DOCUMENT_SIGNING_ARCS[..]).map_err(|_| {
        Refusal::Malformed("internal: the documentSigning OID does not encode".into())
    })?;
    if eku.server_auth || eku.client_auth || eku.any || !eku.other.contains(&signing) {
        return Err(not_seal(
            "extended key usage must be documentSigning, without serverAuth/clientAuth".into(),
        ));
    }
    let usage = cert
        .key_usage()
        .map_err(|e| not_seal(format!("unreadable key usage: {e}")))?
        .map(|k| k.value)
        .ok_or_else(|| not_seal("no key usage".into()))?;
    if !(usage.digital_signature() || usage.non_repudiation()) {
        return Err(not_seal(
            "key usage has neither digitalSignature nor nonRepudiation".into(),
        ));
    }
    Ok(identity)
}

/// The chain to one of `roots` at `time`, for the document-signing usage, none of its
/// certificates on `crls`.
fn verify_chain(
    chain: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
    crls: &[CertificateRevocationListDer<'_>],
    time: UnixTime,
) -> Result<(), Refusal> {
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| Refusal::Malformed("no certificate".into()))?;
    let anchors = roots
        .iter()
        .enumerate()
        .map(|(i, r)| {
            webpki::anchor_from_trusted_cert(r)
                .map_err(|e| Refusal::Untrusted(format!("root certificate {i} is unusable: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if anchors.is_empty() {
        return Err(Refusal::Untrusted("no root certificate given".into()));
    }
    let ee = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| Refusal::Malformed(format!("leaf certificate: {e}")))?;
    let usage = webpki::KeyUsage::required_if_present(DOCUMENT_SIGNING_DER);
    let crls = crls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            webpki::BorrowedCertRevocationList::from_der(c.as_ref())
                .map(webpki::CertRevocationList::from)
                .map_err(|e| Refusal::Revoked(format!("CRL {i} is unusable: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let crl_refs: Vec<&webpki::CertRevocationList<'_>> = crls.iter().collect();
    let revocation = webpki::RevocationOptionsBuilder::new(&crl_refs)
        .ok()
        .map(|builder| {
            builder
                .with_depth(webpki::RevocationCheckDepth::Chain)
                .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
                .build()
        });
    match ee.verify_for_usage(
        provider().signature_verification_algorithms.all,
        &anchors,
        intermediates,
        time,
        usage,
        revocation,
        None,
    ) {
        Ok(_) => Ok(()),
        Err(e @ (webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. })) => {
            let at = i64::try_from(time.as_secs()).unwrap_or(i64::MAX);
            Err(Refusal::NotValidAtSigning {
                at: rfc3339(at),
                reason: e.to_string(),
            })
        }
        Err(e @ webpki::Error::RequiredEkuNotFoundContext(_)) => Err(Refusal::NotSeal(format!(
            "a certificate of the chain lacks documentSigning: {e}"
        ))),
        Err(e @ webpki::Error::CertRevoked) => Err(Refusal::Revoked(format!(
            "{e}: a receipt of a revoked key cannot be told from a forgery"
        ))),
        Err(e) => Err(Refusal::Untrusted(e.to_string())),
    }
}

/// Seconds as a `Duration`.
fn from_secs(secs: u64) -> std::time::Duration {
    std::time::Duration::from_secs(secs)
}
