//! Encryption at rest of message bodies, replies and attachments: AES-256-GCM from the
//! one crypto provider of the tree (aws-lc-rs), a fresh random 96-bit nonce per value, the
//! row's identity as associated data (a ciphertext moved to another row does not open),
//! and the key id stored beside each value so keys can rotate: new values use the active
//! key, old ones open with the key they name for as long as it is configured.
//!
//! Key files hold 64 hexadecimal digits (32 bytes) and must be readable by the owner only
//! (`0600`); `guichet demo` and the development federation write one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::MessageError;

/// A value encrypted at rest: the key id and `nonce ‖ ciphertext ‖ tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    key_id: String,
    data: Vec<u8>,
}

impl Sealed {
    /// A value as the store read it back.
    pub fn from_stored(key_id: String, data: Vec<u8>) -> Sealed {
        Sealed { key_id, data }
    }

    /// The key it was encrypted with.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `nonce ‖ ciphertext ‖ tag`.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({}, {} bytes)", self.key_id, self.data.len())
    }
}

/// The configured message keys and the active one.
pub struct Keyring {
    keys: BTreeMap<String, LessSafeKey>,
    active: String,
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    /// Names the key ids, never a key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

impl Keyring {
    /// A keyring of raw 32-byte keys; `active` must be one of them.
    pub fn from_keys(
        active: &str,
        keys: impl IntoIterator<Item = (String, [u8; 32])>,
    ) -> Result<Keyring, MessageError> {
        let mut map = BTreeMap::new();
        for (id, bytes) in keys {
            let key = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| MessageError::Crypto("load a key"))?;
            map.insert(id, LessSafeKey::new(key));
        }
        if !map.contains_key(active) {
            return Err(MessageError::UnknownKey(active.to_owned()));
        }
        Ok(Keyring {
            keys: map,
            active: active.to_owned(),
            rng: SystemRandom::new(),
        })
    }

    /// Reads each key file (`id` → path); refuses a file others may read.
    pub fn load<'a>(
        active: &str,
        files: impl IntoIterator<Item = (&'a String, &'a std::path::PathBuf)>,
    ) -> Result<Keyring, MessageError> {
        let mut keys = Vec::new();
        for (id, path) in files {
            keys.push((id.clone(), read_key(id, path)?));
        }
        Keyring::from_keys(active, keys)
    }

    /// The id of the key new values are encrypted with.
    pub fn active(&self) -> &str {
        &self.active
    }

    /// Encrypts `plain` with the active key, bound to `context` (the row and part).
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Sealed, MessageError> {
        let key = self
            .keys
            .get(&self.active)
            .ok_or_else(|| MessageError::UnknownKey(self.active.clone()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| MessageError::Crypto("draw a nonce"))?;
        let mut data = Vec::with_capacity(NONCE_LEN + plain.len() + AES_256_GCM.tag_len());
        data.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut body,
        )
        .map_err(|_| MessageError::Crypto("encrypt"))?;
        data.extend_from_slice(&body);
        Ok(Sealed {
            key_id: self.active.clone(),
            data,
        })
    }

    /// Decrypts a value sealed for `context` with the key it names.
    pub fn open(&self, context: &str, sealed: &Sealed) -> Result<Vec<u8>, MessageError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| MessageError::UnknownKey(sealed.key_id.clone()))?;
        let refused = || MessageError::Decrypt(sealed.key_id.clone());
        if sealed.data.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, body) = sealed.data.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut body = body.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| refused())?;
        Ok(plain.to_vec())
    }
}

/// Reads one key file: 64 hex digits, mode `0600` (or stricter).
fn read_key(id: &str, path: &Path) -> Result<[u8; 32], MessageError> {
    let bad = |problem: String| MessageError::Key {
        id: id.to_owned(),
        path: path.display().to_string(),
        problem,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "mode {mode:o} lets others read it; chmod 600 the file"
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let hex = text.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("must hold 64 hexadecimal digits (32 bytes)".into()));
    }
    let mut key = [0u8; 32];
    for (i, slot) in key.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| bad("must hold 64 hexadecimal digits (32 bytes)".into()))?;
    }
    Ok(key)
}

/// Writes a fresh random key file (`0600`, atomically) unless `path` exists: the
/// development federation's key. Returns whether a file was written.
pub fn ensure_key_file(path: &Path) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| anyhow::anyhow!("the crypto provider failed to draw a key"))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    crate::pki::write_secret_file(path, &format!("{hex}\n"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(active: &str) -> Keyring {
        Keyring::from_keys(active, [("k1".into(), [1u8; 32]), ("k2".into(), [2u8; 32])])
            .expect("keyring")
    }

    #[test]
    fn sealed_values_open_only_in_their_context_and_rotate() {
        let old = ring("k1");
        let sealed = old
            .seal("message:a", b"Verfuegung vom 1. Mai")
            .expect("seal");
        assert_eq!(sealed.key_id(), "k1");
        assert!(
            !sealed.data().windows(9).any(|w| w == b"Verfuegun"),
            "no plaintext in the ciphertext"
        );
        assert_eq!(
            old.open("message:a", &sealed).expect("open"),
            b"Verfuegung vom 1. Mai"
        );
        // Another row's context, or one flipped bit, is refused.
        assert!(matches!(
            old.open("message:b", &sealed),
            Err(MessageError::Decrypt(_))
        ));
        let mut data = sealed.data().to_vec();
        data[20] ^= 1;
        let flipped = Sealed::from_stored("k1".into(), data);
        assert!(old.open("message:a", &flipped).is_err());
        // After rotation new values use k2 and the old one still opens with k1.
        let new = ring("k2");
        assert_eq!(new.seal("x", b"y").expect("seal").key_id(), "k2");
        assert_eq!(
            new.open("message:a", &sealed).expect("open"),
            b"Verfuegung vom 1. Mai"
        );
        // A key id no longer configured is named.
        let only2 = Keyring::from_keys("k2", [("k2".into(), [2u8; 32])]).expect("ring");
        assert!(
            matches!(only2.open("message:a", &sealed), Err(MessageError::UnknownKey(k)) if k == "k1")
        );
        // Two seals of the same text differ (fresh nonce).
        assert_ne!(
            old.seal("c", b"same").expect("a"),
            old.seal("c", b"same").expect("b")
        );
    }

    #[test]
    fn key_files_are_private_and_hex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.key");
        assert!(ensure_key_file(&path).expect("write"));
        assert!(!ensure_key_file(&path).expect("kept"));
        let files = [("dev".to_owned(), path.clone())];
        let ring = Keyring::load("dev", files.iter().map(|(a, b)| (a, b))).expect("load");
        assert_eq!(ring.active(), "dev");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = Keyring::load("dev", files.iter().map(|(a, b)| (a, b))).expect_err("0644");
            assert!(err.to_string().contains("chmod 600"), "{err}");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        std::fs::write(&path, "not a key").expect("write");
        let err = Keyring::load("dev", files.iter().map(|(a, b)| (a, b))).expect_err("bad");
        assert!(err.to_string().contains("64 hexadecimal"), "{err}");
    }
}
