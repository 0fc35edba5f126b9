//! End-user tokens: verifies the `Authorization: Bearer <JWT>` a portal sends on behalf of
//! the person logged in at it (the federal login's OIDC token, or one exchanged for it,
//! RFC 8693). A token is accepted only when every check passes: the signature (ES256 or
//! RS256, a key of its issuer's JWKS chosen by `kid`), `iss` (a configured provider),
//! `aud` (this gateway), `exp`/`nbf`/`iat` (with the configured clock skew), `acr` (one of
//! the provider's accepted levels), `cnf["x5t#S256"]` (the SHA-256 of the client
//! certificate of the very connection that presents it, RFC 8705) and the AHV number
//! claim (a valid number). Whether that number is the person asked about is the caller's
//! check ([`Verified::vn`]), because it is a `403`, not a `401`.
//!
//! Owns the JWKS files ([`keys`]): loaded whole at start, polled for changes (a file that
//! fails keeps the last good set). Knows nothing of HTTP statuses: the server turns a
//! [`TokenError`] into a problem document (`server/problem.rs`) and calls this through
//! `server::require_end_user`. Never logs or returns the token, the `sub` or the number.

pub mod keys;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use crate::config::{IdentityConfig, IssuerConfig};
use crate::locks::{lock, read, write};
use crate::model::Vn;
pub use keys::JwksError;
use keys::{KeySet, Stamp};

/// Longest `Authorization` value looked at (a JWT of a federal login is 1–3 KiB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The check a token failed; its name starts the `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not a compact JWS, or a part that does not decode.
    Malformed,
    /// `iss` is not a configured provider.
    Issuer,
    /// No key of the issuer for its `kid`, an algorithm other than ES256/RS256, or a
    /// signature that does not verify.
    Signature,
    /// `exp` is past (beyond the skew) or missing.
    Expired,
    /// `nbf` is in the future (beyond the skew).
    NotYetValid,
    /// `iat` is missing or in the future (beyond the skew).
    IssuedAt,
    /// `aud` does not name this gateway.
    Audience,
    /// `acr` is missing or not one of the provider's accepted levels.
    Acr,
    /// `cnf["x5t#S256"]` is missing or is not the thumbprint of the presenting
    /// certificate.
    Cnf,
    /// The AHV number claim is missing or not a valid number.
    AhvClaim,
}

impl Check {
    /// The stable name of the check (the start of `error_description`).
    pub fn name(self) -> &'static str {
        match self {
            Check::Missing => "missing",
            Check::Malformed => "malformed",
            Check::Issuer => "issuer",
            Check::Signature => "signature",
            Check::Expired => "expired",
            Check::NotYetValid => "not-yet-valid",
            Check::IssuedAt => "iat",
            Check::Audience => "audience",
            Check::Acr => "acr",
            Check::Cnf => "cnf",
            Check::AhvClaim => "ahv-claim",
        }
    }
}

/// A refused token: the check and why, in words that never quote the token or a claim
/// value (safe for a header, a problem document and a log line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {why}", check.name())]
pub struct TokenError {
    /// Which check failed.
    pub check: Check,
    /// Why, without any value of the token.
    pub why: String,
}

impl TokenError {
    fn new(check: Check, why: impl Into<String>) -> TokenError {
        TokenError {
            check,
            why: why.into(),
        }
    }
}

/// The base64url (no padding) SHA-256 of a certificate's DER: RFC 8705's `x5t#S256`.
#[derive(Clone, PartialEq, Eq)]
pub struct CertThumbprint(Arc<str>);

impl CertThumbprint {
    /// The thumbprint of a DER certificate.
    pub fn of(der: &[u8]) -> CertThumbprint {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        CertThumbprint(URL_SAFE_NO_PAD.encode(digest.as_ref()).into())
    }

    /// The base64url text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CertThumbprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "x5t#S256:{}", self.0)
    }
}

/// A token that passed every check. `Debug` shows neither `sub` nor the number.
#[derive(Clone)]
pub struct Verified {
    /// The provider (`iss`), as configured.
    pub issuer: String,
    /// The `sub` claim: to be hashed (`AuditLog::subject`) and dropped, never logged.
    pub subject: String,
    /// The authentication level (`acr`).
    pub acr: String,
    /// The verified AHV number of the end user.
    pub vn: Vn,
    /// `exp`, seconds since the epoch.
    pub expires: u64,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("issuer", &self.issuer)
            .field("acr", &self.acr)
            .finish_non_exhaustive()
    }
}

/// One trusted provider and its current keys.
#[derive(Debug)]
struct Issuer {
    config: IssuerConfig,
    keys: RwLock<Arc<KeySet>>,
    /// The JWKS file's stamp at the last load attempt.
    stamp: Mutex<Stamp>,
}

/// Verifies end-user tokens against the configured providers; cheap to share.
#[derive(Debug)]
pub struct Verifier {
    audience: String,
    skew: Duration,
    issuers: Vec<Issuer>,
}

/// A JWKS file read again after a change, not yet in use: record it, then [`Verifier::install`].
#[derive(Debug)]
pub struct Staged {
    index: usize,
    stamp: Stamp,
    /// The new keys, or why the file was refused (the last good set then stays).
    keys: Result<Arc<KeySet>, JwksError>,
}

impl Staged {
    /// What the reload does, for the audit record and the log (issuer, key ids or error).
    pub fn describe(&self, verifier: &Verifier) -> String {
        let issuer = verifier
            .issuers
            .get(self.index)
            .map_or("?", |i| i.config.issuer.as_str());
        match &self.keys {
            Ok(keys) => format!("jwks of {issuer}: keys {:?}", keys.kids()),
            Err(e) => format!("jwks of {issuer} kept: {e}"),
        }
    }

    /// Whether the file was refused (the last good set stays).
    pub fn failed(&self) -> bool {
        self.keys.is_err()
    }
}

/// The claims looked at before the signature is checked: only to choose the keys.
#[derive(Deserialize)]
struct Unverified {
    iss: Option<String>,
}

/// The claims after the signature: registered ones typed, the rest by name.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    acr: Option<String>,
    #[serde(default)]
    cnf: Option<Confirmation>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

/// RFC 7800 `cnf` with RFC 8705's certificate thumbprint.
#[derive(Deserialize)]
struct Confirmation {
    #[serde(rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

impl Verifier {
    /// Loads every provider's JWKS file; fails naming the first file that cannot be used.
    pub fn new(config: &IdentityConfig) -> Result<Verifier, JwksError> {
        let issuers = config
            .issuers
            .iter()
            .map(|c| {
                let stamp = keys::stamp(&c.jwks);
                let set = KeySet::load(&c.jwks)?;
                tracing::info!(issuer = %c.issuer, kids = ?set.kids(), "end-user token keys loaded");
                Ok(Issuer {
                    config: c.clone(),
                    keys: RwLock::new(Arc::new(set)),
                    stamp: Mutex::new(stamp),
                })
            })
            .collect::<Result<Vec<_>, JwksError>>()?;
        Ok(Verifier {
            audience: config.audience.clone(),
            skew: config.clock_skew,
            issuers,
        })
    }

    /// A verifier of one provider whose JWKS document is `jwks` (not read from a file and
    /// never reloaded): the load test's measure of the verification cost.
    pub fn with_jwks(
        audience: &str,
        skew: Duration,
        issuer: IssuerConfig,
        jwks: &[u8],
    ) -> Result<Verifier, JwksError> {
        let set = KeySet::parse(jwks, &issuer.issuer)?;
        Ok(Verifier {
            audience: audience.to_owned(),
            skew,
            issuers: vec![Issuer {
                config: issuer,
                keys: RwLock::new(Arc::new(set)),
                stamp: Mutex::new(None),
            }],
        })
    }

    /// The JWKS files, for operators and tests.
    pub fn jwks_files(&self) -> Vec<PathBuf> {
        self.issuers.iter().map(|i| i.config.jwks.clone()).collect()
    }

    /// Checks the token of an `Authorization` header value presented over a connection
    /// whose client certificate has thumbprint `presenter`.
    pub fn verify(
        &self,
        authorization: Option<&[u8]>,
        presenter: Option<&CertThumbprint>,
    ) -> Result<Verified, TokenError> {
        let token = bearer(authorization)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::new(Check::Malformed, "the JOSE header does not decode"))?;
        if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
            return Err(TokenError::new(
                Check::Signature,
                "only ES256 and RS256 signatures are accepted",
            ));
        }
        let issuer = self.issuer_of(token)?;
        let keys = Arc::clone(&read(&issuer.keys));
        let key = keys.find(header.kid.as_deref()).ok_or_else(|| {
            TokenError::new(Check::Signature, "no key of the issuer has the token's kid")
        })?;
        if key.alg != header.alg {
            return Err(TokenError::new(
                Check::Signature,
                "the key of this kid is for another algorithm",
            ));
        }
        let claims =
            jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation(issuer, key.alg))
                .map_err(refusal)?
                .claims;
        self.check_claims(issuer, claims, presenter)
    }

    /// `iss`, `aud`, times, `acr`, `cnf` and the AHV claim of a correctly signed token.
    fn check_claims(
        &self,
        issuer: &Issuer,
        claims: Claims,
        presenter: Option<&CertThumbprint>,
    ) -> Result<Verified, TokenError> {
        let now = now();
        let skew = self.skew.as_secs();
        match claims.iat {
            Some(iat) if iat <= now.saturating_add(skew) => {}
            Some(_) => return Err(TokenError::new(Check::IssuedAt, "iat lies in the future")),
            None => return Err(TokenError::new(Check::IssuedAt, "the token has no iat")),
        }
        let acr = claims
            .acr
            .filter(|a| issuer.config.acr.iter().any(|ok| ok == a))
            .ok_or_else(|| {
                TokenError::new(
                    Check::Acr,
                    "the authentication level (acr) is missing or below the accepted ones",
                )
            })?;
        let bound = claims.cnf.and_then(|c| c.x5t_s256);
        match (bound, presenter) {
            (None, _) => {
                return Err(TokenError::new(
                    Check::Cnf,
                    "the token is not bound to a certificate (no cnf x5t#S256)",
                ));
            }
            (Some(_), None) => {
                return Err(TokenError::new(
                    Check::Cnf,
                    "no client certificate presented it",
                ));
            }
            (Some(b), Some(p)) if b != p.as_str() => {
                return Err(TokenError::new(
                    Check::Cnf,
                    "the token is bound to another certificate than the presenting portal's",
                ));
            }
            _ => {}
        }
        let claim = &issuer.config.ahv_claim;
        let vn = claims
            .other
            .get(claim)
            .and_then(serde_json::Value::as_str)
            .and_then(|s| Vn::parse(s).ok())
            .ok_or_else(|| {
                TokenError::new(
                    Check::AhvClaim,
                    format!("the claim {claim} is missing or not a valid AHV number"),
                )
            })?;
        Ok(Verified {
            issuer: claims.iss,
            subject: claims.sub,
            acr,
            vn,
            expires: claims.exp,
        })
    }

    /// The provider named by the (still unverified) `iss`.
    fn issuer_of(&self, token: &str) -> Result<&Issuer, TokenError> {
        let unverified: Unverified = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| TokenError::new(Check::Malformed, "the claims do not decode"))?;
        let iss = unverified
            .iss
            .ok_or_else(|| TokenError::new(Check::Issuer, "the token has no iss"))?;
        self.issuers
            .iter()
            .find(|i| i.config.issuer == iss)
            .ok_or_else(|| TokenError::new(Check::Issuer, "iss is not a trusted identity provider"))
    }

    fn validation(&self, issuer: &Issuer, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = self.skew.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.validate_aud = true;
        v.set_audience(&[&self.audience]);
        v.set_issuer(&[&issuer.config.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v
    }

    /// Reads again the JWKS files that changed since their last load attempt. Nothing is
    /// in use yet: the caller records each, then calls [`Verifier::install`].
    pub fn changed(&self) -> Vec<Staged> {
        let mut staged = Vec::new();
        for (index, issuer) in self.issuers.iter().enumerate() {
            let stamp = keys::stamp(&issuer.config.jwks);
            if *lock(&issuer.stamp) == stamp {
                continue;
            }
            let keys = KeySet::load(&issuer.config.jwks).map(Arc::new);
            staged.push(Staged { index, stamp, keys });
        }
        staged
    }

    /// Puts a staged set in use (a refused file only advances its stamp, so it is not
    /// read again until it changes).
    pub fn install(&self, staged: Staged) {
        let Some(issuer) = self.issuers.get(staged.index) else {
            return;
        };
        *lock(&issuer.stamp) = staged.stamp;
        match staged.keys {
            Ok(keys) => {
                tracing::info!(issuer = %issuer.config.issuer, kids = ?keys.kids(), "end-user token keys reloaded");
                *write(&issuer.keys) = keys;
            }
            Err(e) => {
                tracing::warn!(issuer = %issuer.config.issuer, error = %e, "end-user token keys kept: the changed JWKS file is refused");
            }
        }
    }
}

/// The token of `Bearer <token>`: a compact JWS of base64url parts, at most
/// [`MAX_TOKEN_BYTES`].
fn bearer(authorization: Option<&[u8]>) -> Result<&str, TokenError> {
    let value = authorization
        .ok_or_else(|| TokenError::new(Check::Missing, "no Authorization: Bearer header"))?;
    let malformed = |why: &str| TokenError::new(Check::Malformed, why);
    if value.len() > MAX_TOKEN_BYTES {
        return Err(malformed("the Authorization header is too long"));
    }
    let text = std::str::from_utf8(value)
        .map_err(|_| malformed("the Authorization header is not text"))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or_else(|| malformed("the Authorization header is not `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::new(
            Check::Missing,
            "the Authorization scheme is not Bearer",
        ));
    }
    let token = token.trim();
    let parts = token.split('.').count();
    let alphabet = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if parts != 3 || !alphabet {
        return Err(malformed(
            "the token is not a compact JWS (three base64url parts)",
        ));
    }
    Ok(token)
}

/// The check a `jsonwebtoken` refusal stands for.
fn refusal(e: jsonwebtoken::errors::Error) -> TokenError {
    use jsonwebtoken::errors::ErrorKind as K;
    let claim = |c: &str| match c {
        "exp" => TokenError::new(Check::Expired, "the token has no valid exp"),
        "aud" => TokenError::new(Check::Audience, "the token has no valid aud"),
        "iss" => TokenError::new(Check::Issuer, "the token has no valid iss"),
        "nbf" => TokenError::new(Check::NotYetValid, "nbf is not a number"),
        _ => TokenError::new(
            Check::Malformed,
            "a registered claim is missing or malformed",
        ),
    };
    match e.kind() {
        K::ExpiredSignature => TokenError::new(Check::Expired, "exp is past"),
        K::ImmatureSignature => TokenError::new(Check::NotYetValid, "nbf lies in the future"),
        K::InvalidAudience => TokenError::new(Check::Audience, "aud does not name this gateway"),
        K::InvalidIssuer => {
            TokenError::new(Check::Issuer, "iss is not a trusted identity provider")
        }
        K::MissingRequiredClaim(c) | K::InvalidClaimFormat(c) => claim(c),
        K::InvalidSignature => TokenError::new(Check::Signature, "the signature does not verify"),
        K::Json(_) | K::Base64(_) | K::Utf8(_) | K::InvalidToken => {
            TokenError::new(Check::Malformed, "a part of the token does not decode")
        }
        _ => TokenError::new(
            Check::Signature,
            "the signature cannot be checked with the issuer's key",
        ),
    }
}

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
