//! One identity provider's signing keys, read from its JWKS file (RFC 7517) as a whole:
//! ES256 (EC P-256) and RS256 (RSA) signature keys, each with its `kid`. Keys of other
//! types or uses are skipped; a file that does not parse, or holds no usable key, is
//! refused and the last good set stays in use.

use std::path::Path;
use std::time::SystemTime;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The identity of a file's content as far as polling can tell (mtime, length, inode).
pub(crate) type Stamp = Option<(SystemTime, u64, u64)>;

/// A JWKS file that cannot be used (names the file; never a key).
#[derive(Debug, Clone, thiserror::Error)]
#[error("JWKS {file}: {problem}")]
pub struct JwksError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub problem: String,
}

/// One verification key.
pub(crate) struct Key {
    /// `kid`, when the set names it.
    pub(crate) kid: Option<String>,
    /// ES256 or RS256.
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

/// The usable keys of one JWKS file.
pub(crate) struct KeySet {
    pub(crate) keys: Vec<Key>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kids()).finish()
    }
}

impl KeySet {
    /// Reads and parses `path`.
    pub(crate) fn load(path: &Path) -> Result<KeySet, JwksError> {
        let text = std::fs::read(path).map_err(|e| JwksError {
            file: path.display().to_string(),
            problem: format!("cannot read: {e}"),
        })?;
        KeySet::parse(&text, &path.display().to_string())
    }

    /// Parses a JWKS document; `name` names it in errors.
    pub(crate) fn parse(text: &[u8], name: &str) -> Result<KeySet, JwksError> {
        let fail = |problem: String| JwksError {
            file: name.to_owned(),
            problem,
        };
        let set: JwkSet =
            serde_json::from_slice(text).map_err(|e| fail(format!("not a JWK set: {e}")))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            if let Some(key) = usable(jwk).map_err(fail)? {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(fail(
                "no ES256 (EC P-256) or RS256 (RSA) signature key".into(),
            ));
        }
        if keys.len() > 1 && keys.iter().any(|k| k.kid.is_none()) {
            return Err(fail("several keys: each needs a kid".into()));
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|o| o.kid.is_some() && o.kid == k.kid) {
                return Err(fail(format!(
                    "kid {:?} is used twice",
                    k.kid.as_deref().unwrap_or("")
                )));
            }
        }
        Ok(KeySet { keys })
    }

    /// The key for a token's `kid` (the only key when the token names none and the set
    /// has exactly one).
    pub(crate) fn find(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }

    /// The key ids, for logs and the audit record of a reload.
    pub(crate) fn kids(&self) -> Vec<&str> {
        self.keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("(no kid)"))
            .collect()
    }
}

/// The key of a JWK when it is an ES256 or RS256 signature key; `Ok(None)` for others.
fn usable(jwk: &Jwk) -> Result<Option<Key>, String> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return Ok(None);
    }
    let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
            if p.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        _ => return Ok(None),
    };
    let kid = jwk.common.key_id.clone();
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|e| format!("key {:?}: {e}", kid.as_deref().unwrap_or("(no kid)")))?;
    Ok(Some(Key { kid, alg, key }))
}

/// The stamp of `path` now.
pub(crate) fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}
