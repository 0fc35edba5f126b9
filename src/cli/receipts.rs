//! `guichet receipts verify FILE --ca ROOT [--crl CRL]`: checks one receipt offline, as
//! anyone holding the federation's root certificate can: the payload on stdout (JSON) and
//! exit 0, or the reason on stderr and exit 1.

use std::path::Path;

use anyhow::Context;
use rustls_pki_types::UnixTime;

use crate::receipt::verify_with_crls;
use crate::tls::{load_certs, load_crls};

/// Verifies the compact JWS in `file` against the root certificate(s) in `ca` (and, if
/// given, the CRLs in `crl`); returns the decoded payload as pretty JSON and a line saying
/// who signed it.
pub fn receipts_verify(
    file: &Path,
    ca: &Path,
    crl: Option<&Path>,
) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the receipt {}", file.display()))?;
    let roots = load_certs(ca)?;
    let crls = crl.map(load_crls).transpose()?.unwrap_or_default();
    let verified = verify_with_crls(&text, &roots, &crls, UnixTime::now())
        .map_err(|refusal| anyhow::anyhow!("receipt {} refused: {refusal}", file.display()))?;
    let json = serde_json::to_string_pretty(&verified.payload)?;
    let who = format!(
        "receipt verified: {} {} signed by {} (certificate serial {}) at {}, chain to {}",
        verified.receipt.body.kind(),
        verified.receipt.jti,
        verified.signer.uri(),
        verified.serial,
        crate::receipt::rfc3339(verified.receipt.iat),
        ca.display()
    );
    Ok((json, who))
}
