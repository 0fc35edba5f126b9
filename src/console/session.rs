//! Console sessions, in memory: a login token is redeemed once (its nonce remembered
//! until it expires) for a session with a random id (the cookie) and a random CSRF token
//! (hidden in every form). A session ends at its expiry, at logout or at a restart; it
//! is never renewed by use.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::ConsoleError;
use super::token::{Login, hex};
use crate::locks::lock;
use crate::model::Identity;

/// A logged-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session's id (the cookie's value).
    pub id: String,
    /// The identity the login link was made for; every change is audited as it.
    pub identity: Identity,
    /// The form token of this session.
    pub csrf: String,
    /// When it ends.
    expires: Instant,
}

/// The sessions and the redeemed login nonces of one gateway process.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    live: Mutex<HashMap<String, Session>>,
    /// Redeemed nonces, with the expiry of their token (forgotten after it).
    used: Mutex<HashMap<String, i64>>,
}

impl Sessions {
    /// Redeems a verified login at `now` (unix seconds) for a session of `ttl`: its id.
    pub(super) fn redeem(
        &self,
        login: Login,
        now: i64,
        ttl: Duration,
    ) -> Result<(String, Session), ConsoleError> {
        {
            let mut used = lock(&self.used);
            used.retain(|_, expires| *expires >= now);
            if used.insert(login.nonce, login.expires).is_some() {
                return Err(ConsoleError::Token(
                    "the login link was used already: ask guichet console-login for a new one",
                ));
            }
        }
        let id = random_hex()?;
        let session = Session {
            id: id.clone(),
            identity: login.identity,
            csrf: random_hex()?,
            expires: Instant::now() + ttl,
        };
        let mut live = lock(&self.live);
        let t = Instant::now();
        live.retain(|_, s| s.expires > t);
        live.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session of a cookie value.
    pub(super) fn get(&self, id: &str) -> Option<Session> {
        let live = lock(&self.live);
        live.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    /// Ends a session.
    pub(super) fn end(&self, id: &str) {
        lock(&self.live).remove(id);
    }
}

/// 32 random bytes as hex.
fn random_hex() -> Result<String, ConsoleError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ConsoleError::Randomness)?;
    Ok(hex(&bytes))
}

/// Compares two secrets in constant time.
pub(super) fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(nonce: &str) -> Login {
        Login {
            identity: Identity::parse_uri("urn:guichet:admin:ops").expect("identity"),
            expires: 100,
            nonce: nonce.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_login_is_redeemed_once_and_a_session_expires() {
        let s = Sessions::default();
        let (id, session) = s
            .redeem(login("n1"), 50, Duration::from_secs(60))
            .expect("first use");
        assert_eq!(session.csrf.len(), 64);
        assert!(matches!(
            s.redeem(login("n1"), 51, Duration::from_secs(60)),
            Err(ConsoleError::Token(_))
        ));
        assert!(s.get(&id).is_some());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(s.get(&id).is_none(), "expired");
        assert!(s.get("nope").is_none());
    }

    #[test]
    fn logout_ends_the_session() {
        let s = Sessions::default();
        let (id, _) = s
            .redeem(login("n2"), 50, Duration::from_secs(60))
            .expect("login");
        s.end(&id);
        assert!(s.get(&id).is_none());
        assert!(same("abc", "abc") && !same("abc", "abd"));
    }
}
