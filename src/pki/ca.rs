//! Owns the certificate authority: creating/loading the CA, issuing leaves and CRLs.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use crate::pki::crl::to_hex;
use crate::pki::{Identity, PkiError, Result, Role, validate_name, write_pem_files};
use crate::receipt::DOCUMENT_SIGNING_ARCS;
use crate::tls::{load_certs_from_pem, load_key_from_pem, provider};

/// Organisation put in every subject.
const ORGANISATION: &str = "guichet";

/// What a leaf certificate should contain; see [`Ca::issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafSpec {
    /// The identity written as SAN URI (and as CN).
    pub identity: Identity,
    /// Adds the `serverAuth` extended key usage.
    pub server_auth: bool,
    /// Adds the `clientAuth` extended key usage.
    pub client_auth: bool,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Additional DNS SANs.
    pub dns_names: Vec<String>,
    /// Additional IP SANs.
    pub ip_addrs: Vec<IpAddr>,
}

impl LeafSpec {
    /// A client certificate (clientAuth only) valid from one hour ago for `days` days.
    pub fn new(identity: Identity, days: u32) -> LeafSpec {
        let now = OffsetDateTime::now_utc();
        LeafSpec {
            identity,
            server_auth: false,
            client_auth: true,
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(i64::from(days)),
            dns_names: Vec::new(),
            ip_addrs: Vec::new(),
        }
    }

    /// A seal certificate (role `seal`: document signing only, no TLS usage) valid from
    /// one hour ago for `days` days; see [`Ca::issue`].
    pub fn seal(identity: Identity, days: u32) -> LeafSpec {
        LeafSpec {
            client_auth: false,
            ..LeafSpec::new(identity, days)
        }
    }

    /// A server+client certificate for `localhost` / `127.0.0.1`, valid for `days` days.
    pub fn server(identity: Identity, days: u32) -> LeafSpec {
        LeafSpec {
            server_auth: true,
            client_auth: true,
            dns_names: vec!["localhost".to_owned()],
            ip_addrs: vec![IpAddr::from([127, 0, 0, 1])],
            ..LeafSpec::new(identity, days)
        }
    }
}

/// A freshly issued leaf: certificate and its private key, PEM and DER.
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The private key (PKCS#8), DER.
    pub key_der: PrivateKeyDer<'static>,
    /// The serial number, lowercase hex without separators.
    pub serial_hex: String,
}

impl IssuedCert {
    /// Writes certificate and key atomically (key `0600`), see [`write_pem_files`].
    pub fn write(&self, cert_path: &Path, key_path: &Path) -> Result<()> {
        write_pem_files(cert_path, &self.cert_pem, key_path, &self.key_pem)
    }
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("serial_hex", &self.serial_hex)
            .field("cert_der_len", &self.cert_der.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The federation certificate authority: its certificate and signing key.
pub struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    pub(super) issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("cert_der_len", &self.cert_der.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Ca {
    /// Creates a self-signed CA (ECDSA P-256, CA:TRUE pathlen 0, keyCertSign + cRLSign),
    /// valid from one hour ago for `valid_days` days.
    pub fn create(common_name: &str, valid_days: u32) -> Result<Ca> {
        let key = generate_key()?;
        let params = ca_params(common_name, valid_days, 0)?;
        let cert = params
            .self_signed(&key)
            .map_err(rcgen_err("self-sign the CA certificate"))?;
        Ok(Ca {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Assembles a CA from what rcgen produced.
    pub(super) fn from_parts(
        cert_pem: String,
        cert_der: CertificateDer<'static>,
        issuer: Issuer<'static, KeyPair>,
    ) -> Ca {
        Ca {
            cert_pem,
            cert_der,
            issuer,
        }
    }

    /// Loads a CA from its PEM certificate and key; errors name the offending file.
    ///
    /// The certificate file must hold exactly one CA certificate and the key must match it.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Ca> {
        let bad = |path: &Path, reason: String| PkiError::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let cert_pem = read_to_string(cert_path)?;
        let certs = load_certs_from_pem(cert_pem.as_bytes(), &cert_path.display().to_string())?;
        let [cert_der] = <[CertificateDer<'static>; 1]>::try_from(certs).map_err(|certs| {
            bad(
                cert_path,
                format!("expected one CA certificate, found {}", certs.len()),
            )
        })?;
        let key_pem = read_to_string(key_path)?;
        let key_der = load_key_from_pem(key_pem.as_bytes(), &key_path.display().to_string())?;
        let key = KeyPair::try_from(&key_der)
            .map_err(|err| bad(key_path, format!("unusable CA private key: {err}")))?;

        let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|err| bad(cert_path, format!("not valid X.509: {err}")))?;
        let is_ca = parsed
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(bad(
                cert_path,
                "is not a CA certificate (basicConstraints CA:TRUE missing)".into(),
            ));
        }
        if parsed.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(bad(
                key_path,
                format!("does not match the CA certificate {}", cert_path.display()),
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|err| bad(cert_path, format!("cannot use as issuer: {err}")))?;
        Ok(Ca {
            cert_pem,
            cert_der,
            issuer,
        })
    }

    /// Writes the CA certificate and key atomically (key `0600`).
    pub fn write(&self, cert_path: &Path, key_path: &Path) -> Result<()> {
        write_pem_files(
            cert_path,
            &self.cert_pem,
            key_path,
            &self.issuer.key().serialize_pem(),
        )
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER (the trust anchor to configure on peers).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Issues a leaf: fresh ECDSA P-256 key, random 16-byte serial, CN = identity name,
    /// SAN URI `urn:guichet:<role>:<name>` plus the spec's DNS/IP names,
    /// EKU per flags, key usage digitalSignature.
    ///
    /// A [`Role::Seal`](crate::pki::Role::Seal) leaf is for signing receipts only: no
    /// serverAuth/clientAuth (a spec asking for either is refused), no DNS/IP names, the
    /// EKU `id-kp-documentSigning` (RFC 9336) alone — so no TLS verifier accepts it — and
    /// key usage digitalSignature + nonRepudiation (contentCommitment).
    pub fn issue(&self, spec: &LeafSpec) -> Result<IssuedCert> {
        let invalid = |reason: String| PkiError::InvalidSpec {
            identity: spec.identity.to_string(),
            reason,
        };
        validate_name(spec.identity.role, &spec.identity.name)?;
        if spec.not_after <= spec.not_before {
            return Err(invalid("not_after must be later than not_before".into()));
        }
        let seal = spec.identity.role == Role::Seal;
        if seal && (spec.server_auth || spec.client_auth) {
            return Err(invalid(
                "a seal certificate signs receipts only: no serverAuth or clientAuth".into(),
            ));
        }
        if seal && !(spec.dns_names.is_empty() && spec.ip_addrs.is_empty()) {
            return Err(invalid(
                "a seal certificate carries no DNS or IP names".into(),
            ));
        }
        if !seal && !spec.server_auth && !spec.client_auth {
            return Err(invalid(
                "neither server_auth nor client_auth requested".into(),
            ));
        }

        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, ORGANISATION);
        params
            .distinguished_name
            .push(DnType::CommonName, spec.identity.name.as_str());
        let uri = spec.identity.uri();
        let uri = uri
            .clone()
            .try_into()
            .map_err(|err| invalid(format!("URI {uri} not IA5: {err}")))?;
        params.subject_alt_names.push(SanType::URI(uri));
        for dns in &spec.dns_names {
            let name = dns
                .clone()
                .try_into()
                .map_err(|err| invalid(format!("DNS name {dns:?}: {err}")))?;
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        params
            .subject_alt_names
            .extend(spec.ip_addrs.iter().map(|ip| SanType::IpAddress(*ip)));
        if spec.server_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if spec.client_auth {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if seal {
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::Other(
                    DOCUMENT_SIGNING_ARCS.to_vec(),
                ));
            params.key_usages.push(KeyUsagePurpose::ContentCommitment);
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        let serial = random_serial()?;
        params.serial_number = Some(SerialNumber::from_slice(&serial));

        let key = generate_key()?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(rcgen_err("sign the leaf certificate"))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            serial_hex: to_hex(&serial),
        })
    }
}

/// Reads a text file, naming it on failure.
fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// A fresh ECDSA P-256 key.
pub(super) fn generate_key() -> Result<KeyPair> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rcgen_err("generate an ECDSA P-256 key"))
}

/// 16 random bytes forming a positive, minimally encoded 16-byte serial.
pub(super) fn random_serial() -> Result<[u8; 16]> {
    let mut serial = [0u8; 16];
    provider()
        .secure_random
        .fill(&mut serial)
        .map_err(|_| PkiError::Random)?;
    // Clear the sign bit, set the next one so the DER INTEGER keeps all 16 bytes.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

/// Wraps an rcgen error with what was being done.
pub(super) fn rcgen_err(what: &'static str) -> impl Fn(rcgen::Error) -> PkiError {
    move |source| PkiError::Rcgen { what, source }
}

/// Parameters of a CA certificate: O=guichet, CN, CA:TRUE with `pathlen`, keyCertSign +
/// cRLSign + digitalSignature, a random serial, valid from one hour ago.
pub(super) fn ca_params(
    common_name: &str,
    valid_days: u32,
    pathlen: u8,
) -> Result<CertificateParams> {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, ORGANISATION);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(pathlen));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(valid_days));
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::peer_identity;

    #[test]
    fn issues_leaf_with_identity_and_serial() {
        let ca = Ca::create("test CA", 1).expect("ca");
        let id = Identity::new(Role::Office, "025.000").expect("id");
        let leaf = ca.issue(&LeafSpec::server(id.clone(), 1)).expect("leaf");
        assert_eq!(peer_identity(&leaf.cert_der), Some(id));
        assert_eq!(leaf.serial_hex.len(), 32);
        let (_, parsed) = x509_parser::parse_x509_certificate(&leaf.cert_der).expect("parse");
        assert_eq!(to_hex(parsed.raw_serial()), leaf.serial_hex);
        let debug = format!("{leaf:?}");
        assert!(!debug.contains("PRIVATE") && debug.contains("redacted"));
    }

    #[test]
    fn rejects_bad_specs() {
        let ca = Ca::create("test CA", 1).expect("ca");
        let id = Identity::new(Role::Portal, "demo").expect("id");
        let mut spec = LeafSpec::new(id, 1);
        spec.not_after = spec.not_before;
        assert!(ca.issue(&spec).is_err());
        let mut spec = LeafSpec::new(spec.identity.clone(), 1);
        spec.client_auth = false;
        assert!(ca.issue(&spec).is_err());
        spec.client_auth = true;
        spec.identity.name = "bad name".into();
        assert!(ca.issue(&spec).is_err());
    }

    #[test]
    fn seal_leaves_sign_documents_only() {
        let ca = Ca::create("test CA", 1).expect("ca");
        let id = Identity::new(Role::Seal, "guichet").expect("id");
        let leaf = ca.issue(&LeafSpec::seal(id.clone(), 1)).expect("seal");
        let (_, parsed) = x509_parser::parse_x509_certificate(&leaf.cert_der).expect("parse");
        let eku = parsed
            .extended_key_usage()
            .expect("eku")
            .expect("present")
            .value;
        assert!(!eku.server_auth && !eku.client_auth && eku.other.len() == 1);
        let usage = parsed.key_usage().expect("ku").expect("present").value;
        assert!(usage.digital_signature() && usage.non_repudiation());
        for spec in [
            LeafSpec::new(id.clone(), 1),
            LeafSpec::server(id.clone(), 1),
            LeafSpec {
                dns_names: vec!["localhost".into()],
                ..LeafSpec::seal(id, 1)
            },
        ] {
            let err = ca.issue(&spec).expect_err("TLS usage or names on a seal");
            assert!(err.to_string().contains("seal"), "{err}");
        }
    }
}
