//! End-user tokens for the load: the population's tokens minted before the run with an
//! identity provider's key (`--token-key`, bound to the load generator's `--cert`), so a
//! load test exercises the same verification as a real portal; and the cost of verifying
//! one, measured here with the gateway's own verifier on those tokens.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::IssuerConfig;
use crate::identity::Verifier;
use crate::model::Vn;
use crate::pki::idp::{Grant, Signer, thumbprint_of_pem};

/// How the population's tokens are made.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    /// The provider's ES256 signing key (PKCS#8 PEM).
    pub key: &'a Path,
    /// `iss`.
    pub issuer: &'a str,
    /// `aud` (the gateway's `identity.audience`).
    pub audience: &'a str,
    /// `acr`.
    pub acr: &'a str,
    /// The client certificate the load is sent with (the tokens' `cnf`).
    pub portal_cert: &'a Path,
}

/// What verifying one token costs.
#[derive(Debug, Clone, Copy)]
pub struct TokenCost {
    /// Mean time of one verification, microseconds.
    pub verify_us: f64,
    /// Verifications measured.
    pub samples: usize,
}

/// Verifications timed for [`TokenCost`] (spread over the population's tokens).
const SAMPLES: usize = 2000;

impl Tokens<'_> {
    /// One token per person, valid for `ttl`, and the cost of verifying one.
    pub fn mint(
        &self,
        population: &[Vn],
        ttl: Duration,
    ) -> anyhow::Result<(Vec<String>, TokenCost)> {
        let signer = Signer::load(self.key, self.issuer).context("--token-key")?;
        let portal = thumbprint_of_pem(self.portal_cert).context("--cert")?;
        let tokens = population
            .iter()
            .map(|&vn| {
                signer.mint(&Grant {
                    vn,
                    portal: &portal,
                    audience: self.audience,
                    acr: self.acr,
                    ttl,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let issuer = IssuerConfig {
            issuer: self.issuer.to_owned(),
            jwks: self.key.to_owned(),
            acr: vec![self.acr.to_owned()],
            ahv_claim: "ahvn13".into(),
        };
        let verifier = Verifier::with_jwks(
            self.audience,
            Duration::from_secs(30),
            issuer,
            signer.jwks_json()?.as_bytes(),
        )?;
        let cost = measure(&verifier, &tokens, &portal)?;
        Ok((tokens, cost))
    }
}

/// Times [`SAMPLES`] verifications (each must pass: a token the gateway would refuse
/// makes a load test of refusals).
fn measure(
    verifier: &Verifier,
    tokens: &[String],
    portal: &crate::identity::CertThumbprint,
) -> anyhow::Result<TokenCost> {
    anyhow::ensure!(!tokens.is_empty(), "no token to measure");
    let started = Instant::now();
    for token in tokens.iter().cycle().take(SAMPLES) {
        let header = format!("Bearer {token}");
        verifier
            .verify(Some(header.as_bytes()), Some(portal))
            .map_err(|e| anyhow::anyhow!("a minted token does not verify: {e}"))?;
    }
    let verify_us = started.elapsed().as_secs_f64() * 1e6 / SAMPLES as f64;
    Ok(TokenCost {
        verify_us,
        samples: SAMPLES,
    })
}
