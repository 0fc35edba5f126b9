//! Owns the gateway's verification of ONE office's server certificate, during the
//! handshake: the federation CA (WebPKI, CRLs), then the SAN URI `urn:guichet:office:<id>`
//! naming that office, then the adapter's SHA-256 pin if it sets one. A certificate that
//! fails any step aborts the handshake, so not one request byte reaches the wrong peer.
//!
//! Offices may share one host (127.0.0.1 on several ports), so SNI cannot tell them apart:
//! each office gets its own [`rustls::ClientConfig`] from [`OfficeTls::for_office`].
//! Invariant: nothing here looks at the request or the answer; identity is settled before
//! the first application byte.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};

use super::{ALPN, TlsError, VERSIONS, peer_identity, provider, root_store};
use crate::model::{Identity, OfficeId, Role};

/// Why an office's certificate was refused after its chain verified. Carries no
/// personal data; it travels inside `rustls::Error` so the caller can name the step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfficeCertError {
    /// The certificate carries no (single, valid) `urn:guichet:` identity.
    #[error("the server certificate names no guichet office")]
    NoIdentity,
    /// The certificate belongs to someone else.
    #[error("the server certificate belongs to {found}, not to {expected}")]
    OtherHolder {
        /// The peer this connection was for (`office 025.000`, `register zas`).
        expected: String,
        /// The identity the certificate names (`office:002.000`, `portal:demo`, …).
        found: String,
    },
    /// The adapter pins a certificate and this is not it.
    #[error("the server certificate is not the one pinned by server_cert_sha256")]
    PinMismatch,
}

/// The gateway's client identity and federation trust, from which each office's
/// connection configuration is derived. Cheap to clone.
#[derive(Clone)]
pub struct OfficeTls {
    base: ClientConfig,
    webpki: Arc<WebPkiServerVerifier>,
}

impl std::fmt::Debug for OfficeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficeTls").finish_non_exhaustive()
    }
}

impl OfficeTls {
    /// Trusts `roots` (with `crls`: a revoked office certificate is refused) and presents
    /// `identity` (chain, key) to the offices.
    pub fn new(
        roots: &[CertificateDer<'static>],
        identity: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<OfficeTls, TlsError> {
        let roots = Arc::new(root_store(roots, "server")?);
        let check_crls = !crls.is_empty();
        let mut builder =
            WebPkiServerVerifier::builder_with_provider(roots, provider()).with_crls(crls);
        if check_crls {
            builder = builder.only_check_end_entity_revocation();
        }
        let webpki = builder.build()?;
        let (chain, key) = identity;
        if chain.is_empty() {
            return Err(TlsError::EmptyChain);
        }
        let mut base = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)?
            .with_webpki_verifier(Arc::clone(&webpki))
            .with_client_auth_cert(chain, key)?;
        // reqwest's preconfigured-TLS path sets no ALPN: offer h2, then http/1.1.
        base.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(OfficeTls { base, webpki })
    }

    /// The configuration for connections to `office`: only a federation certificate
    /// naming that office (and, with `pin`, exactly the pinned one) completes the handshake.
    pub fn for_office(&self, office: OfficeId, pin: Option<[u8; 32]>) -> ClientConfig {
        let expected = Identity {
            role: Role::Office,
            name: office.to_string(),
        };
        self.for_peer(expected, pin)
    }

    /// The configuration for connections to the peer `expected` (an office, the account
    /// register): only a federation certificate naming exactly that identity (and, with
    /// `pin`, exactly the pinned one) completes the handshake.
    pub fn for_peer(&self, expected: Identity, pin: Option<[u8; 32]>) -> ClientConfig {
        let mut config = self.base.clone();
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(OfficeVerifier {
                webpki: Arc::clone(&self.webpki),
                expected,
                pin,
            }));
        config
    }
}

/// The verifier of one peer (an office, the register): federation chain first, then
/// holder, then pin.
#[derive(Debug)]
struct OfficeVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    expected: Identity,
    pin: Option<[u8; 32]>,
}

impl OfficeVerifier {
    fn check_holder(&self, end_entity: &CertificateDer<'_>) -> Result<(), OfficeCertError> {
        let id = peer_identity(end_entity).ok_or(OfficeCertError::NoIdentity)?;
        if id.role != self.expected.role || id.name != self.expected.name {
            return Err(OfficeCertError::OtherHolder {
                expected: format!("{} {}", self.expected.role, self.expected.name),
                found: id.to_string(),
            });
        }
        if let Some(pin) = &self.pin {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, end_entity);
            if digest.as_ref() != pin {
                return Err(OfficeCertError::PinMismatch);
            }
        }
        Ok(())
    }
}

impl ServerCertVerifier for OfficeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        self.check_holder(end_entity).map_err(|e| {
            tracing::warn!(peer = %self.expected, reason = %e, "server certificate refused in the handshake");
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
        })?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// What a failed handshake with an office means, in words that carry no OS error text
/// and no peer-supplied text: the office-identity refusals of this module, or a short
/// description of the certificate or protocol problem.
pub fn describe_handshake_error(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            inner.downcast_ref::<OfficeCertError>().map_or_else(
                || "the server certificate was refused".into(),
                ToString::to_string,
            )
        }
        E::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the server certificate has expired".into()
            }
            CertificateError::Revoked => "the server certificate is revoked".into(),
            CertificateError::UnknownIssuer => {
                "the server certificate is not issued by the federation CA".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the server certificate is not valid for the endpoint's host".into()
            }
            _ => "the server certificate is invalid".into(),
        },
        E::AlertReceived(_) => "the office refused the handshake".into(),
        E::NoApplicationProtocol => "no common application protocol (h2, http/1.1)".into(),
        _ => "the TLS handshake failed".into(),
    }
}

/// The office-identity refusal inside a handshake error, if that is what it was.
pub fn office_cert_error(e: &rustls::Error) -> Option<&OfficeCertError> {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            inner.downcast_ref::<OfficeCertError>()
        }
        _ => None,
    }
}
