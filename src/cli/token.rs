//! `guichet token`: an end-user token of the development identity provider, bound to a
//! portal's certificate, for curl, the demo and tests. Production tokens come from the
//! federation's identity provider (docs/operating.md, "End-user tokens").

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::model::Vn;
use crate::pki::idp::{Grant, Signer, thumbprint_of_pem};

/// Longest lifetime `guichet token` signs (a development token, not a session).
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// What to put in the token and what to sign it with.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    /// The person.
    pub vn: Vn,
    /// The portal certificate (PEM) it is bound to.
    pub portal_cert: &'a Path,
    /// `acr`.
    pub acr: &'a str,
    /// Lifetime.
    pub ttl: Duration,
    /// The ES256 signing key (PKCS#8 PEM).
    pub key: &'a Path,
    /// `iss`.
    pub issuer: &'a str,
    /// `aud`.
    pub audience: &'a str,
}

/// The compact JWS.
pub fn token(r: &TokenRequest<'_>) -> anyhow::Result<String> {
    if r.ttl.is_zero() || r.ttl > MAX_TTL {
        anyhow::bail!("--ttl must be over 0 and at most 24h");
    }
    let signer = Signer::load(r.key, r.issuer)
        .with_context(|| format!("signing key {} (made by `guichet demo`)", r.key.display()))?;
    let portal = thumbprint_of_pem(r.portal_cert)?;
    let grant = Grant {
        vn: r.vn,
        portal: &portal,
        audience: r.audience,
        acr: r.acr,
        ttl: r.ttl,
    };
    Ok(signer.mint(&grant)?)
}
