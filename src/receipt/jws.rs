//! The compact JWS serialization of a receipt (RFC 7515 §7.1): base64url(header) `.`
//! base64url(payload) `.` base64url(signature), ES256 (ECDSA P-256 SHA-256, the 64-byte
//! `r‖s` form of RFC 7518 §3.4), the signer's chain in `x5c` (standard base64 DER, leaf
//! first, RFC 7515 §4.1.6).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::EcdsaKeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use super::{Receipt, ReceiptError};

/// The `typ` of every receipt's protected header.
pub const HEADER_TYP: &str = "guichet-receipt+jwt";

/// The protected header of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always `ES256`.
    pub alg: String,
    /// Always [`HEADER_TYP`].
    pub typ: String,
    /// The signer's chain, leaf first, each certificate standard-base64 DER.
    pub x5c: Vec<String>,
    /// base64url SHA-256 of the leaf's DER (a lookup key; the verifier relies on `x5c`).
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    /// Critical extensions: receipts use none, so a verifier refuses any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<Vec<String>>,
}

impl Header {
    /// The header of receipts signed with `chain` (leaf first).
    pub fn for_chain(chain: &[CertificateDer<'_>]) -> Header {
        let x5t = chain.first().map(|leaf| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf.as_ref());
            URL_SAFE_NO_PAD.encode(digest.as_ref())
        });
        Header {
            alg: "ES256".to_owned(),
            typ: HEADER_TYP.to_owned(),
            x5c: chain.iter().map(|c| STANDARD.encode(c.as_ref())).collect(),
            x5t_s256: x5t,
            crit: None,
        }
    }

    /// The header's first compact part (base64url of its JSON).
    pub(super) fn encoded(&self) -> Result<String, ReceiptError> {
        let json = serde_json::to_vec(self).map_err(|e| ReceiptError::Serialize(e.to_string()))?;
        Ok(URL_SAFE_NO_PAD.encode(json))
    }
}

/// Signs `receipt` with `key` under a header carrying `chain`, without checking that the
/// chain is a seal's: [`super::Sealer`] does that when it loads its files. Public so tests
/// (and tools) can build receipts a verifier must refuse.
pub fn encode(
    key: &EcdsaKeyPair,
    chain: &[CertificateDer<'_>],
    receipt: &Receipt,
) -> Result<String, ReceiptError> {
    sign_parts(key, &Header::for_chain(chain).encoded()?, receipt)
}

/// `header.payload.signature` for an already encoded header.
pub(super) fn sign_parts(
    key: &EcdsaKeyPair,
    header: &str,
    receipt: &Receipt,
) -> Result<String, ReceiptError> {
    let payload =
        serde_json::to_vec(receipt).map_err(|e| ReceiptError::Serialize(e.to_string()))?;
    let mut jws = String::with_capacity(header.len() + payload.len() * 4 / 3 + 100);
    jws.push_str(header);
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut jws);
    let signature = key
        .sign(&SystemRandom::new(), jws.as_bytes())
        .map_err(|_| ReceiptError::Sign)?;
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jws);
    Ok(jws)
}

/// The three decoded parts of a compact JWS and the signing input.
pub(super) struct Parts<'a> {
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The header's JSON.
    pub header: Vec<u8>,
    /// The payload's JSON.
    pub payload: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

/// Splits and base64url-decodes a compact JWS; the error says which part is malformed.
pub(super) fn split(jws: &str) -> Result<Parts<'_>, String> {
    let jws = jws.trim();
    let mut parts = jws.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS (expected three parts separated by dots)".into());
    };
    let decode = |what: &str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|e| format!("{what} is not base64url: {e}"))
    };
    Ok(Parts {
        signing_input: &jws[..h.len() + 1 + p.len()],
        header: decode("header", h)?,
        payload: decode("payload", p)?,
        signature: decode("signature", s)?,
    })
}

/// The DER certificates of a header's `x5c`.
pub(super) fn chain_of(header: &Header) -> Result<Vec<CertificateDer<'static>>, String> {
    if header.x5c.is_empty() {
        return Err("header has an empty x5c chain".into());
    }
    header
        .x5c
        .iter()
        .enumerate()
        .map(|(i, c)| {
            STANDARD
                .decode(c)
                .map(CertificateDer::from)
                .map_err(|e| format!("x5c[{i}] is not base64: {e}"))
        })
        .collect()
}
