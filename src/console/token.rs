//! One-time login links of the console: `guichet console-login` signs the identity that
//! asked, an expiry and a random nonce with the console's HMAC-SHA-256 key
//! (`[console] key_file`, `0600`); the console accepts a link once, before it expires,
//! and turns it into a session. The token carries no secret of its own: whoever holds
//! the key file (the operator on the host) can mint links, nobody else can.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::ConsoleError;
use crate::model::{Identity, Role};

/// Domain separation of the MAC: a console login token, format 1.
const CONTEXT: &[u8] = b"guichet-console-login-v1\n";

/// A verified login token, not yet redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// Whom the session will be bound to.
    pub identity: Identity,
    /// Unix seconds after which the token is refused.
    pub expires: i64,
    /// Random, 32 hex digits: the token is accepted once.
    pub nonce: String,
}

/// The identities the console serves: administrators and offices.
pub fn check_identity(identity: &Identity) -> Result<(), ConsoleError> {
    match identity.role {
        Role::Admin | Role::Office => Ok(()),
        other => Err(ConsoleError::Identity(format!(
            "the console serves admin and office identities, not {other}"
        ))),
    }
}

/// Signs a login token for `identity` valid until `expires` (unix seconds).
pub fn mint(key: &[u8], identity: &Identity, expires: i64) -> Result<String, ConsoleError> {
    check_identity(identity)?;
    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| ConsoleError::Randomness)?;
    let payload = format!("{}\n{expires}\n{}", identity.uri(), hex(&nonce));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), &signed(&payload));
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    ))
}

/// Checks a token's signature, shape and expiry at `now` (unix seconds). Whether it was
/// used already is the sessions' business.
pub fn verify(key: &[u8], token: &str, now: i64) -> Result<Login, ConsoleError> {
    let bad = || ConsoleError::Token("the login link is not one guichet console-login made");
    let (payload, tag) = token.split_once('.').ok_or_else(bad)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
    let payload = String::from_utf8(payload).map_err(|_| bad())?;
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        &signed(&payload),
        &tag,
    )
    .map_err(|_| bad())?;
    let mut parts = payload.split('\n');
    let (Some(uri), Some(expires), Some(nonce), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let identity = Identity::parse_uri(uri).map_err(|_| bad())?;
    check_identity(&identity)?;
    let expires: i64 = expires.parse().map_err(|_| bad())?;
    if now > expires {
        return Err(ConsoleError::Token(
            "the login link has expired: ask guichet console-login for a new one",
        ));
    }
    Ok(Login {
        identity,
        expires,
        nonce: nonce.to_owned(),
    })
}

fn signed(payload: &str) -> Vec<u8> {
    [CONTEXT, payload.as_bytes()].concat()
}

/// Lower-case hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn admin() -> Identity {
        Identity::parse_uri("urn:guichet:admin:ops").expect("identity")
    }

    #[test]
    fn a_minted_token_verifies_once_made() {
        let t = mint(KEY, &admin(), 1_000).expect("mint");
        let login = verify(KEY, &t, 999).expect("valid");
        assert_eq!(login.identity, admin());
        assert_eq!(login.nonce.len(), 32);
        assert!(matches!(
            verify(KEY, &t, 1_001),
            Err(ConsoleError::Token(_))
        ));
    }

    #[test]
    fn another_key_or_an_edit_is_refused() {
        let t = mint(KEY, &admin(), 1_000).expect("mint");
        assert!(verify(b"another key another key another k", &t, 0).is_err());
        let (payload, tag) = t.split_once('.').expect("two parts");
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("utf8");
        let forged = URL_SAFE_NO_PAD.encode(text.replace("admin:ops", "admin:eve"));
        assert!(verify(KEY, &format!("{forged}.{tag}"), 0).is_err());
        assert!(verify(KEY, "garbage", 0).is_err());
    }

    #[test]
    fn portals_get_no_console() {
        let portal = Identity::parse_uri("urn:guichet:portal:demo").expect("identity");
        assert!(matches!(
            mint(KEY, &portal, 1),
            Err(ConsoleError::Identity(_))
        ));
    }
}
