//! The development identity provider: an ES256 signing key (`idp-signing.key`, PKCS#8
//! PEM, `0600`) and its public JWKS (`idp-jwks.json`) next to the development PKI, and the
//! minting of end-user tokens with it (`guichet token`, `guichet demo`, the load test and
//! the test harnesses). In production the federation's identity provider issues the
//! tokens (docs/operating.md, "End-user tokens"); nothing on the request path mints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::identity::CertThumbprint;
use crate::model::Vn;
use crate::pki::{PkiError, Result};

/// `iss` of the development identity provider.
pub const DEV_ISSUER: &str = "https://idp.dev.guichet.invalid";
/// `aud` the development configuration expects (the gateway's identity URI).
pub const DEV_AUDIENCE: &str = "urn:guichet:gateway:guichet";
/// The `acr` the development provider puts in by default (the federal login's
/// "substantial" level; the development configuration accepts it and "high").
pub const DEV_ACR: &str = "urn:guichet:acr:substantial";
/// File name of the signing key in the development PKI folder.
pub const KEY_FILE: &str = "idp-signing.key";
/// File name of the public keys in the development PKI folder.
pub const JWKS_FILE: &str = "idp-jwks.json";

/// The development provider's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevIdp {
    /// The ES256 signing key (PKCS#8 PEM, `0600`).
    pub key: PathBuf,
    /// The JWKS with its public key (what the gateway's `[[identity.issuers]]` reads).
    pub jwks: PathBuf,
}

/// Makes the signing key if missing, and writes the JWKS of the key (again when it does
/// not match).
pub fn ensure_dev_idp(dir: &Path) -> Result<DevIdp> {
    let idp = DevIdp {
        key: dir.join(KEY_FILE),
        jwks: dir.join(JWKS_FILE),
    };
    if !idp.key.exists() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .map_err(|_| PkiError::Random)?;
        let pem = pem_encode("PRIVATE KEY", doc.as_ref());
        super::write_secret_file(&idp.key, &pem)?;
    }
    let signer = Signer::load(&idp.key, DEV_ISSUER)?;
    let text = signer.jwks_json()?;
    if std::fs::read_to_string(&idp.jwks).ok().as_deref() != Some(text.as_str()) {
        super::files::write_atomic(&idp.jwks, text.as_bytes(), 0o644, 0o700)?;
    }
    Ok(idp)
}

/// An identity provider's signing key, minting end-user tokens.
pub struct Signer {
    issuer: String,
    kid: String,
    key: EncodingKey,
    public: Jwk,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What one token says.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    /// The person (the AHV number claim).
    pub vn: Vn,
    /// The portal certificate the token is bound to (`cnf["x5t#S256"]`).
    pub portal: &'a CertThumbprint,
    /// `aud`.
    pub audience: &'a str,
    /// `acr`.
    pub acr: &'a str,
    /// Lifetime from now.
    pub ttl: Duration,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    acr: &'a str,
    cnf: Cnf<'a>,
    ahvn13: String,
}

#[derive(Serialize)]
struct Cnf<'a> {
    #[serde(rename = "x5t#S256")]
    x5t_s256: &'a str,
}

impl Signer {
    /// Reads an ES256 key (PKCS#8 PEM) for `issuer`; its `kid` is the RFC 7638 thumbprint
    /// of the public key.
    pub fn load(key_file: &Path, issuer: &str) -> Result<Signer> {
        let bad = |reason: String| PkiError::BadFile {
            path: key_file.to_owned(),
            reason,
        };
        let pem = std::fs::read(key_file).map_err(|source| PkiError::Io {
            op: "read",
            path: key_file.to_owned(),
            source,
        })?;
        let key = EncodingKey::from_ec_pem(&pem)
            .map_err(|e| bad(format!("not an EC P-256 private key (PKCS#8 PEM): {e}")))?;
        let mut public = Jwk::from_encoding_key(&key, Algorithm::ES256)
            .map_err(|e| bad(format!("no public key: {e}")))?;
        let kid = public
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| bad(format!("no thumbprint: {e}")))?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        public.common.key_algorithm = Some(KeyAlgorithm::ES256);
        Ok(Signer {
            issuer: issuer.to_owned(),
            kid,
            key,
            public,
        })
    }

    /// The key id tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS holding this key's public half.
    pub fn jwks_json(&self) -> Result<String> {
        let set = JwkSet {
            keys: vec![self.public.clone()],
        };
        serde_json::to_string_pretty(&set)
            .map(|t| t + "\n")
            .map_err(|e| PkiError::InvalidSpec {
                identity: self.issuer.clone(),
                reason: format!("JWKS: {e}"),
            })
    }

    /// A signed token for `grant`: `sub` is a pseudonym of the person for this provider.
    pub fn mint(&self, grant: &Grant<'_>) -> Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("{}\0{}", self.issuer, grant.vn.digits()).as_bytes(),
        );
        let sub: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let claims = Claims {
            iss: &self.issuer,
            sub,
            aud: grant.audience,
            iat: now,
            nbf: now,
            exp: now + grant.ttl.as_secs(),
            acr: grant.acr,
            cnf: Cnf {
                x5t_s256: grant.portal.as_str(),
            },
            ahvn13: grant.vn.digits(),
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| PkiError::InvalidSpec {
            identity: self.issuer.clone(),
            reason: format!("cannot sign a token: {e}"),
        })
    }
}

/// PEM of one DER block, 64 characters a line.
fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The thumbprint of the first certificate of a PEM file (a portal's client certificate).
pub fn thumbprint_of_pem(cert_file: &Path) -> Result<CertThumbprint> {
    let certs = crate::tls::load_certs(cert_file)?;
    let first = certs.first().ok_or_else(|| PkiError::BadFile {
        path: cert_file.to_owned(),
        reason: "holds no certificate".into(),
    })?;
    Ok(CertThumbprint::of(first.as_ref()))
}
