//! End-user tokens in the harnesses: the `[identity]` section that trusts the development
//! identity provider of a harness's PKI, and tokens of that provider for a person, bound
//! to a portal certificate (what a portal gets from the federal login in production).
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use guichet::model::Vn;
use guichet::pki::DevPki;
use guichet::pki::idp::{DEV_ACR, DEV_AUDIENCE, DEV_ISSUER, Grant, Signer, thumbprint_of_pem};

/// The `[identity]` section trusting the development provider whose JWKS is in `certs`.
pub fn identity_section(certs: &Path) -> String {
    format!(
        "[identity]\naudience = \"{DEV_AUDIENCE}\"\n\n[[identity.issuers]]\nissuer = \"{DEV_ISSUER}\"\n\
         jwks = \"{}/idp-jwks.json\"\nacr = [\"{DEV_ACR}\"]\n",
        certs.display()
    )
}

/// A token of the development provider for `vn`, bound to the certificate in `cert`.
pub fn mint(pki: &DevPki, vn: Vn, cert: &Path) -> String {
    let signer = Signer::load(&pki.idp.key, DEV_ISSUER).expect("dev idp key");
    let portal = thumbprint_of_pem(cert).expect("portal certificate");
    signer
        .mint(&Grant {
            vn,
            portal: &portal,
            audience: DEV_AUDIENCE,
            acr: DEV_ACR,
            ttl: Duration::from_secs(600),
        })
        .expect("token")
}
