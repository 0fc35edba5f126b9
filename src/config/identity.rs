//! The `[identity]` section: the identity providers whose end-user tokens the gateway
//! accepts (issuer, JWKS file, accepted `acr` values, the claim holding the AHV number),
//! the audience the tokens must name and the clock skew allowed. Raw TOML in, a validated
//! [`IdentityConfig`] out.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{FieldError, Resolve};

/// `[identity]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIdentity {
    #[serde(default)]
    audience: Option<String>,
    #[serde(default = "default_skew")]
    clock_skew_seconds: u64,
    #[serde(default)]
    issuers: Vec<RawIssuer>,
}

/// `[[identity.issuers]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    issuer: String,
    jwks: PathBuf,
    acr: Vec<String>,
    #[serde(default = "default_ahv_claim")]
    ahv_claim: String,
}

fn default_skew() -> u64 {
    30
}

fn default_ahv_claim() -> String {
    "ahvn13".into()
}

/// Most clock skew that may be allowed, in seconds (JWT times are whole seconds).
pub const MAX_SKEW_SECONDS: u64 = 300;

/// Who may vouch for an end user, and how their tokens are checked.
#[derive(Debug, Clone, Default)]
pub struct IdentityConfig {
    /// The `aud` every token must name (this gateway).
    pub audience: String,
    /// Tolerance on `exp`, `nbf` and `iat`.
    pub clock_skew: Duration,
    /// The trusted identity providers.
    pub issuers: Vec<IssuerConfig>,
}

/// One trusted identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    /// Its `iss` value, exactly.
    pub issuer: String,
    /// Its JWKS file (public keys; reloaded when the file changes).
    pub jwks: PathBuf,
    /// The `acr` values accepted from it (the authentication levels high enough).
    pub acr: Vec<String>,
    /// The claim holding the verified AHV number.
    pub ahv_claim: String,
}

impl RawIdentity {
    /// Issuers unique and non-empty, `acr` non-empty, an audience when there is an issuer,
    /// the skew within 0–[`MAX_SKEW_SECONDS`].
    pub(super) fn validate(&self, at: &Resolve<'_>) -> Result<IdentityConfig, FieldError> {
        let skew = FieldError::range(
            "identity.clock_skew_seconds",
            self.clock_skew_seconds,
            0,
            MAX_SKEW_SECONDS,
        )?;
        let mut issuers: Vec<IssuerConfig> = Vec::with_capacity(self.issuers.len());
        for (i, raw) in self.issuers.iter().enumerate() {
            let key = |k: &str| format!("identity.issuers[{i}].{k}");
            if raw.issuer.trim().is_empty() || raw.issuer.len() > 512 {
                return Err(FieldError::new(key("issuer"), "1–512 characters"));
            }
            if issuers.iter().any(|o| o.issuer == raw.issuer) {
                return Err(FieldError::new(
                    key("issuer"),
                    format!("{:?} is listed twice", raw.issuer),
                ));
            }
            if raw.acr.is_empty() || raw.acr.iter().any(|a| a.trim().is_empty()) {
                return Err(FieldError::new(
                    key("acr"),
                    "list at least one accepted authentication level, none empty",
                ));
            }
            let claim_ok = !raw.ahv_claim.is_empty()
                && raw.ahv_claim.len() <= 64
                && !matches!(
                    raw.ahv_claim.as_str(),
                    "iss" | "sub" | "aud" | "exp" | "nbf" | "iat" | "acr" | "cnf"
                );
            if !claim_ok {
                return Err(FieldError::new(
                    key("ahv_claim"),
                    "1–64 characters, not a registered claim name",
                ));
            }
            issuers.push(IssuerConfig {
                issuer: raw.issuer.clone(),
                jwks: at(&raw.jwks),
                acr: raw.acr.clone(),
                ahv_claim: raw.ahv_claim.clone(),
            });
        }
        let audience = self.audience.clone().unwrap_or_default();
        if !issuers.is_empty() && audience.trim().is_empty() {
            return Err(FieldError::new(
                "identity.audience",
                "required with issuers: the `aud` value tokens for this gateway carry",
            ));
        }
        Ok(IdentityConfig {
            audience,
            clock_skew: Duration::from_secs(skew),
            issuers,
        })
    }
}
