//! Owns certificate revocation lists signed by the CA and the hex form of serials.

use rcgen::{
    CertificateRevocationList, CertificateRevocationListParams, KeyIdMethod, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use rustls_pki_types::CertificateRevocationListDer;
use time::{Duration, OffsetDateTime};

use crate::pki::ca::rcgen_err;
use crate::pki::{Ca, PkiError, Result};

impl Ca {
    /// Signs a CRL revoking `revoked` (serial as lowercase hex, as in
    /// [`crate::pki::IssuedCert::serial_hex`], and revocation time), valid for `next_update_days` days.
    pub fn crl(
        &self,
        revoked: &[(&str, OffsetDateTime)],
        next_update_days: u32,
    ) -> Result<CertificateRevocationListDer<'static>> {
        let revoked: Vec<_> = revoked.iter().map(|(s, t)| (*s, *t, None)).collect();
        Ok(self
            .signed_crl(&revoked, next_update_days, None)?
            .der()
            .clone())
    }

    /// Like [`Ca::crl`], PEM (`X509 CRL`).
    pub fn crl_pem(
        &self,
        revoked: &[(&str, OffsetDateTime)],
        next_update_days: u32,
    ) -> Result<String> {
        let revoked: Vec<_> = revoked.iter().map(|(s, t)| (*s, *t, None)).collect();
        self.signed_crl(&revoked, next_update_days, None)?
            .pem()
            .map_err(rcgen_err("encode the CRL"))
    }

    /// Signs a CRL with reason codes and an explicit CRL number (`None`: seconds since the
    /// epoch).
    pub(super) fn signed_crl(
        &self,
        revoked: &[(&str, OffsetDateTime, Option<RevocationReason>)],
        next_update_days: u32,
        number: Option<u64>,
    ) -> Result<CertificateRevocationList> {
        let now = OffsetDateTime::now_utc();
        let revoked_certs = revoked
            .iter()
            .map(|(serial, time, reason)| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&from_hex(serial)?),
                    revocation_time: *time,
                    reason_code: *reason,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(i64::from(next_update_days)),
            // Seconds since the epoch: monotonic enough for a CRL number.
            crl_number: SerialNumber::from_slice(
                &number
                    .unwrap_or_else(|| now.unix_timestamp().unsigned_abs())
                    .to_be_bytes(),
            ),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.issuer)
            .map_err(rcgen_err("sign the CRL"))
    }
}

/// The reason codes of RFC 5280 §5.3.1: guichet's spelling (stored in the inventory), the
/// RFC 5280 / OpenSSL name, and the code — or, for the two names that are recognised but
/// refused, why.
const REASONS: [(&str, &str, Result<RevocationReason, &str>); 10] = [
    (
        "unspecified",
        "unspecified",
        Ok(RevocationReason::Unspecified),
    ),
    (
        "key-compromise",
        "keyCompromise",
        Ok(RevocationReason::KeyCompromise),
    ),
    (
        "ca-compromise",
        "cACompromise",
        Ok(RevocationReason::CaCompromise),
    ),
    (
        "affiliation-changed",
        "affiliationChanged",
        Ok(RevocationReason::AffiliationChanged),
    ),
    ("superseded", "superseded", Ok(RevocationReason::Superseded)),
    (
        "cessation-of-operation",
        "cessationOfOperation",
        Ok(RevocationReason::CessationOfOperation),
    ),
    (
        "certificate-hold",
        "certificateHold",
        Err(
            "a hold is meant to be released, and guichet revocations are final; revoke with a final reason",
        ),
    ),
    (
        "remove-from-crl",
        "removeFromCRL",
        Err("it only appears in delta CRLs, which guichet does not publish"),
    ),
    (
        "privilege-withdrawn",
        "privilegeWithdrawn",
        Ok(RevocationReason::PrivilegeWithdrawn),
    ),
    (
        "aa-compromise",
        "aACompromise",
        Ok(RevocationReason::AaCompromise),
    ),
];

/// A `--reason` word: guichet's spelling (`key-compromise`) or the RFC 5280 / OpenSSL name
/// (`keyCompromise`, `CACompromise`), case, `-` and `_` ignored. Returns the spelling kept
/// in the inventory and the CRL reason code.
pub fn parse_reason(text: &str) -> Result<(&'static str, RevocationReason)> {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let wanted = fold(text);
    let refuse = |reason: String| PkiError::InvalidSpec {
        identity: "revocation".into(),
        reason,
    };
    let (name, rfc, code) = REASONS
        .iter()
        .find(|(name, _, _)| fold(name) == wanted)
        .ok_or_else(|| {
            let known: Vec<String> = REASONS
                .iter()
                .filter(|(_, _, code)| code.is_ok())
                .map(|(name, rfc, _)| format!("{name} ({rfc})"))
                .collect();
            refuse(format!(
                "unknown reason {text:?} (one of {})",
                known.join(", ")
            ))
        })?;
    code.map(|code| (*name, code))
        .map_err(|why| refuse(format!("reason {rfc} is not accepted: {why}")))
}

/// Lowercase hex without separators.
pub(super) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex (optionally `:`-separated) into bytes.
fn from_hex(hex: &str) -> Result<Vec<u8>> {
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    let invalid = || PkiError::InvalidSpec {
        identity: "CRL".to_owned(),
        reason: format!("serial {hex:?} is not hexadecimal"),
    };
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return Err(invalid());
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(invalid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(from_hex("0aff").expect("hex"), vec![0x0a, 0xff]);
        assert_eq!(from_hex("0a:ff").expect("hex"), vec![0x0a, 0xff]);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
        assert_eq!(to_hex(&[0x0a, 0xff]), "0aff");
    }

    #[test]
    fn every_rfc_5280_reason_name_is_recognised() {
        for (ours, rfc, code) in REASONS {
            for spelling in [
                ours,
                rfc,
                &rfc.to_ascii_uppercase(),
                &ours.replace('-', "_"),
            ] {
                match (parse_reason(spelling), code) {
                    (Ok((name, parsed)), Ok(expected)) => {
                        assert_eq!((name, parsed), (ours, expected), "{spelling}");
                    }
                    (Err(err), Err(why)) => {
                        assert!(err.to_string().contains(why), "{spelling}: {err}");
                        assert!(err.to_string().contains(rfc), "{spelling}: {err}");
                    }
                    (got, _) => panic!("{spelling}: unexpected {got:?}"),
                }
            }
        }
        // OpenSSL's spelling of the CA and AA reasons.
        assert_eq!(
            parse_reason("CACompromise").expect("ca").1,
            RevocationReason::CaCompromise
        );
        assert_eq!(
            parse_reason("AACompromise").expect("aa").1,
            RevocationReason::AaCompromise
        );
        let err = parse_reason("stolen").expect_err("unknown").to_string();
        assert!(
            err.contains("key-compromise (keyCompromise)") && !err.contains("certificateHold"),
            "{err}"
        );
        assert!(parse_reason("").is_err());
    }

    #[test]
    fn crl_signs() {
        let ca = Ca::create("test CA", 1).expect("ca");
        let now = OffsetDateTime::now_utc();
        let crl = ca.crl(&[("4f01", now)], 7).expect("crl");
        assert!(!crl.is_empty());
        assert!(ca.crl(&[("xyz", now)], 7).is_err());
    }
}
