//! Owns the rustls material: crypto provider, PEM loading, server/client configs, peer identity.
//!
//! Everything here runs on the single aws-lc-rs provider of the tree, whose key-exchange
//! order (with rustls' `prefer-post-quantum` feature) puts the hybrid `X25519MLKEM768` first.
//! Both ends speak TLS 1.3 and 1.2 and advertise ALPN `h2` then `http/1.1`. The server always
//! requires a client certificate chaining to the configured roots (and not revoked by the
//! configured CRLs); the holder's role is then read from its SAN URI by [`peer_identity`]
//! (scheme and types in [`crate::model::Identity`]).

mod material;
mod office_verifier;
mod pem;

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{
    ClientConfig, InconsistentKeys, RootCertStore, ServerConfig, SupportedProtocolVersion,
};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use thiserror::Error;
use x509_parser::extensions::GeneralName;

use crate::model::{Identity, URI_PREFIX};

pub use material::{
    CertInfo, ClientPaths, CrlInfo, Loaded, ServerPaths, days_left as material_days_left,
    load_client, load_server,
};
pub use office_verifier::{
    OfficeCertError, OfficeTls, describe_handshake_error, office_cert_error,
};
pub use pem::{load_certs, load_certs_from_pem, load_crls, load_key, load_key_from_pem};

/// ALPN protocols offered by both ends, in preference order.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Protocol versions enabled on both ends.
static VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Errors building TLS material; those about files name the file (`origin`).
#[derive(Debug, Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {origin}: {source}")]
    Read {
        /// File (or other source) name.
        origin: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty or whitespace only.
    #[error("{origin}: file is empty")]
    Empty {
        /// File (or other source) name.
        origin: String,
    },
    /// The PEM syntax is broken (bad base64, missing END line, ...).
    #[error("{origin}: invalid PEM: {reason}")]
    Pem {
        /// File (or other source) name.
        origin: String,
        /// What the PEM parser reported.
        reason: String,
    },
    /// No PEM block of the expected kind was found.
    #[error("{origin}: no `{expected}` PEM block found")]
    NoPemBlock {
        /// File (or other source) name.
        origin: String,
        /// The expected PEM label.
        expected: &'static str,
    },
    /// A `CERTIFICATE` block does not hold a parsable X.509 certificate.
    #[error("{origin}: certificate #{index} is not valid X.509: {reason}")]
    BadCertificate {
        /// File (or other source) name.
        origin: String,
        /// Zero-based position of the block in the file.
        index: usize,
        /// What the parser reported.
        reason: String,
    },
    /// The private key block is not a key the provider can use.
    #[error("{origin}: unusable private key: {reason}")]
    BadKey {
        /// File (or other source) name.
        origin: String,
        /// What the provider reported.
        reason: String,
    },
    /// No trust anchor was given.
    #[error("no trust anchors given for verifying {peer} certificates")]
    NoTrustAnchors {
        /// `client` or `server`.
        peer: &'static str,
    },
    /// A trust anchor certificate was rejected.
    #[error("trust anchor #{index} rejected: {reason}")]
    BadTrustAnchor {
        /// Zero-based index in the given roots.
        index: usize,
        /// What webpki reported.
        reason: String,
    },
    /// The certificate chain is empty.
    #[error("certificate chain is empty")]
    EmptyChain,
    /// The private key does not belong to the end-entity certificate.
    #[error("private key does not match the certificate's public key")]
    KeyMismatch,
    /// A certificate verifier could not be built (bad CRL, unusable roots, ...).
    #[error("cannot build certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// Another error, about the named file.
    #[error("{origin}: {source}")]
    InFile {
        /// The file concerned.
        origin: String,
        /// What went wrong with it.
        #[source]
        source: Box<TlsError>,
    },
    /// Any other rustls configuration error.
    #[error("TLS configuration error: {0}")]
    Rustls(rustls::Error),
}

impl From<rustls::Error> for TlsError {
    fn from(err: rustls::Error) -> Self {
        match err {
            rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => TlsError::KeyMismatch,
            other => TlsError::Rustls(other),
        }
    }
}

/// The process-wide aws-lc-rs provider (post-quantum hybrid key exchange preferred).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .clone()
}

/// Server config: TLS 1.3/1.2, client certificate required and verified against
/// `client_roots` and `crls`, ALPN `h2` then `http/1.1`.
///
/// Fails with [`TlsError::KeyMismatch`] if `key` does not belong to `chain[0]`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: &[CertificateDer<'static>],
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    if chain.is_empty() {
        return Err(TlsError::EmptyChain);
    }
    let verifier = client_verifier(client_roots, crls)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The verifier of client certificates the ingress uses: chains to `client_roots`, not
/// revoked by `crls`. Also used to check established connections after a reload.
pub fn client_verifier(
    client_roots: &[CertificateDer<'static>],
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let roots = root_store(client_roots, "client")?;
    let check_crls = !crls.is_empty();
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).with_crls(crls);
    if check_crls {
        // CRLs are published by the issuing CA for its leaves; the CAs themselves are
        // trusted (or not) through the bundle.
        builder = builder.only_check_end_entity_revocation();
    }
    Ok(builder.build()?)
}

/// Client config: verifies servers against `server_roots`, presents `identity` if given,
/// ALPN `h2` then `http/1.1` (set explicitly: reqwest's preconfigured-TLS path sets none).
pub fn client_config(
    server_roots: &[CertificateDer<'static>],
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, TlsError> {
    client_config_with_crls(server_roots, identity, Vec::new())
}

/// Like [`client_config`], and a server certificate revoked by one of `crls` is refused
/// (only the end-entity certificate is checked; the CRL of its issuer must be present).
pub fn client_config_with_crls(
    server_roots: &[CertificateDer<'static>],
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Result<ClientConfig, TlsError> {
    let roots = Arc::new(root_store(server_roots, "server")?);
    let check_crls = !crls.is_empty();
    let mut builder =
        WebPkiServerVerifier::builder_with_provider(roots, provider()).with_crls(crls);
    if check_crls {
        builder = builder.only_check_end_entity_revocation();
    }
    let verifier = builder.build()?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_webpki_verifier(verifier);
    let mut config = match identity {
        Some((chain, _)) if chain.is_empty() => return Err(TlsError::EmptyChain),
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The guichet identity of a (verified) peer certificate, from its SAN URI.
///
/// Returns `None` if the certificate does not parse, carries no `urn:guichet:` URI, carries
/// an invalid one, or carries more than one (ambiguous).
pub fn peer_identity(cert: &CertificateDer<'_>) -> Option<Identity> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let san = parsed.subject_alternative_name().ok()??;
    let mut found = None;
    for name in &san.value.general_names {
        if let GeneralName::URI(uri) = name
            && uri.starts_with(URI_PREFIX)
        {
            if found.is_some() {
                return None;
            }
            found = Some(Identity::parse_uri(uri).ok()?);
        }
    }
    found
}

/// Builds a root store, rejecting an empty or unusable anchor list.
fn root_store(
    roots: &[CertificateDer<'static>],
    peer: &'static str,
) -> Result<RootCertStore, TlsError> {
    if roots.is_empty() {
        return Err(TlsError::NoTrustAnchors { peer });
    }
    let mut store = RootCertStore::empty();
    for (index, cert) in roots.iter().enumerate() {
        store
            .add(cert.clone())
            .map_err(|err| TlsError::BadTrustAnchor {
                index,
                reason: err.to_string(),
            })?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_prefers_post_quantum_hybrid() {
        let provider = provider();
        let first = provider.kx_groups.first().expect("provider has kx groups");
        assert_eq!(first.name(), rustls::NamedGroup::X25519MLKEM768);
        assert!(provider.fips() || !provider.cipher_suites.is_empty());
    }

    #[test]
    fn empty_inputs_are_errors() {
        assert!(matches!(
            client_config(&[], None),
            Err(TlsError::NoTrustAnchors { peer: "server" })
        ));
        let err = server_config(
            Vec::new(),
            PrivateKeyDer::Pkcs8(Vec::new().into()),
            &[],
            Vec::new(),
        )
        .expect_err("empty chain");
        assert!(matches!(err, TlsError::EmptyChain));
    }

    #[test]
    fn peer_identity_of_garbage_is_none() {
        assert_eq!(peer_identity(&CertificateDer::from(vec![1, 2, 3])), None);
    }
}
