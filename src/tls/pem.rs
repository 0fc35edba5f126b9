//! Owns reading certificates and private keys from PEM files, with errors naming the file.

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::tls::{TlsError, provider};

/// Reads every `CERTIFICATE` block of a PEM file (leaf first for chains).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let label = path.display().to_string();
    load_certs_from_pem(&read(path, &label)?, &label)
}

/// Reads the first private key (PKCS#8, SEC1 or PKCS#1) of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let label = path.display().to_string();
    load_key_from_pem(&read(path, &label)?, &label)
}

/// Reads every `X509 CRL` block of a PEM file.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let label = path.display().to_string();
    let bytes = read(path, &label)?;
    check_not_empty(&bytes, &label)?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| pem_error(&label, source))?;
    if crls.is_empty() {
        return Err(TlsError::NoPemBlock {
            origin: label,
            expected: "X509 CRL",
        });
    }
    Ok(crls)
}

/// Parses every `CERTIFICATE` block of `bytes`; `origin` names the source in errors.
///
/// Each block must hold a parsable X.509 certificate.
pub fn load_certs_from_pem(
    bytes: &[u8],
    origin: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    check_not_empty(bytes, origin)?;
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| pem_error(origin, source))?;
    if certs.is_empty() {
        return Err(TlsError::NoPemBlock {
            origin: origin.to_owned(),
            expected: "CERTIFICATE",
        });
    }
    for (index, cert) in certs.iter().enumerate() {
        if let Err(err) = x509_parser::parse_x509_certificate(cert) {
            return Err(TlsError::BadCertificate {
                origin: origin.to_owned(),
                index,
                reason: err.to_string(),
            });
        }
    }
    Ok(certs)
}

/// Parses the first private key of `bytes`; `origin` names the source in errors.
///
/// The key must be loadable by the aws-lc-rs provider.
pub fn load_key_from_pem(bytes: &[u8], origin: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    check_not_empty(bytes, origin)?;
    let key = PrivateKeyDer::from_pem_slice(bytes).map_err(|err| match err {
        pem::Error::NoItemsFound => TlsError::NoPemBlock {
            origin: origin.to_owned(),
            expected: "PRIVATE KEY",
        },
        other => pem_error(origin, other),
    })?;
    if let Err(err) = provider().key_provider.load_private_key(key.clone_key()) {
        return Err(TlsError::BadKey {
            origin: origin.to_owned(),
            reason: err.to_string(),
        });
    }
    Ok(key)
}

/// Reads a whole file, naming it on failure.
fn read(path: &Path, label: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        origin: label.to_owned(),
        source,
    })
}

/// Rejects empty and whitespace-only input with a dedicated message.
fn check_not_empty(bytes: &[u8], origin: &str) -> Result<(), TlsError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(TlsError::Empty {
            origin: origin.to_owned(),
        });
    }
    Ok(())
}

/// Wraps a PEM syntax error with its origin.
fn pem_error(origin: &str, source: pem::Error) -> TlsError {
    TlsError::Pem {
        origin: origin.to_owned(),
        reason: source.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_garbage_are_named_errors() {
        let err = load_certs_from_pem(b"", "x.pem").expect_err("empty");
        assert_eq!(err.to_string(), "x.pem: file is empty");
        let err = load_certs_from_pem(b"hello world\n", "x.pem").expect_err("garbage");
        assert!(err.to_string().contains("x.pem") && err.to_string().contains("CERTIFICATE"));
        let bad = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let err = load_certs_from_pem(bad, "x.pem").expect_err("bad base64");
        assert!(err.to_string().starts_with("x.pem: invalid PEM"), "{err}");
        let not_x509 = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = load_certs_from_pem(not_x509, "x.pem").expect_err("not x509");
        assert!(err.to_string().contains("certificate #0"), "{err}");
        let unterminated = b"-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(load_certs_from_pem(unterminated, "x.pem").is_err());
    }

    #[test]
    fn key_errors() {
        let err = load_key_from_pem(b"  \n", "k.key").expect_err("empty");
        assert!(err.to_string().contains("k.key"));
        let err = load_key_from_pem(b"nothing", "k.key").expect_err("no block");
        assert!(err.to_string().contains("PRIVATE KEY"), "{err}");
        // Split so that secret scanners do not take this junk for a committed key.
        let junk = concat!(
            "-----BEGIN ",
            "PRIVATE KEY-----\nAAAA\n-----END ",
            "PRIVATE KEY-----\n"
        )
        .as_bytes();
        let err = load_key_from_pem(junk, "k.key").expect_err("junk key");
        assert!(
            err.to_string().starts_with("k.key: unusable private key"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let err = load_certs(Path::new("/nonexistent/dir/c.pem")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/dir/c.pem"), "{err}");
        let err = load_key(Path::new("/nonexistent/dir/c.key")).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/dir/c.key"), "{err}");
    }
}
