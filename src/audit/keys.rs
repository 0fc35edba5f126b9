//! The audit log's two secrets, read as bytes and refused when others may read them:
//!
//! - the HMAC secret keying person hashes: the file's bytes as they are (any bytes, at
//!   least 32), except that one final line break (`\n` or `\r\n`) is not part of the key, so
//!   an editor's newline changes nothing. `guichet demo` writes 64 random hex digits, which
//!   are used as those 64 bytes (the format of earlier releases: hashes stay the same);
//! - the checkpoint signing key: Ed25519, PKCS#8 DER; its public key (64 hex digits and a
//!   newline) is written next to it as `<name>.pub` for verifiers.
//!
//! Both must be `0600` (no access for group or other), as SSH insists for its keys.

use std::path::{Path, PathBuf};

use super::AuditError;
use super::checkpoint::Signer;

/// Reads the HMAC secret.
pub fn read_hmac_secret(path: &Path) -> Result<Vec<u8>, AuditError> {
    let mut bytes = read_private(path)?;
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    if bytes.len() < 32 {
        return Err(AuditError::Key {
            path: path.to_owned(),
            message: format!("{} bytes; the HMAC secret must be at least 32", bytes.len()),
        });
    }
    Ok(bytes)
}

/// Reads the checkpoint signing key.
pub fn read_signer(path: &Path) -> Result<Signer, AuditError> {
    let der = read_private(path)?;
    Signer::from_pkcs8(path, &der)
}

/// The public key file of a signing key file: the same path ending in `.pub`.
pub fn public_key_path(key: &Path) -> PathBuf {
    key.with_extension("pub")
}

/// Reads a public key file (64 hex digits) into its 32 bytes.
pub fn read_public_key(path: &Path) -> Result<Vec<u8>, AuditError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AuditError::io(path, "cannot read the public key", &e))?;
    super::checkpoint::unhex(&text)
        .filter(|k| k.len() == 32)
        .ok_or_else(|| AuditError::Key {
            path: path.to_owned(),
            message: "not an Ed25519 public key (64 hex digits)".into(),
        })
}

/// Makes the HMAC secret (64 random hex digits) and the checkpoint key pair when they do
/// not exist (development federation and benchmarks), each written `0600` atomically.
pub fn ensure(hmac: &Path, checkpoint: &Path) -> Result<(), AuditError> {
    if !hmac.exists() {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| no_randomness(hmac))?;
        write_private(hmac, super::chain::hex(&bytes).as_bytes())?;
    }
    if !checkpoint.exists() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| no_randomness(checkpoint))?;
        write_private(checkpoint, doc.as_ref())?;
    }
    let signer = read_signer(checkpoint)?;
    let public = public_key_path(checkpoint);
    let text = format!("{}\n", signer.public_key_hex());
    if std::fs::read_to_string(&public).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&public, text).map_err(|e| AuditError::io(&public, "cannot write", &e))?;
    }
    Ok(())
}

fn no_randomness(path: &Path) -> AuditError {
    AuditError::Key {
        path: path.to_owned(),
        message: "no randomness to make the key".into(),
    }
}

/// Reads a secret file, refusing it when group or other have any access to it.
fn read_private(path: &Path) -> Result<Vec<u8>, AuditError> {
    let file = std::fs::File::open(path).map_err(|e| AuditError::io(path, "cannot read", &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file
            .metadata()
            .map_err(|e| AuditError::io(path, "cannot read", &e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(AuditError::Key {
                path: path.to_owned(),
                message: format!(
                    "mode {:04o}: group or other may access it; `chmod 600` it (and replace the \
                     key if others may have read it)",
                    mode & 0o7777
                ),
            });
        }
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut &file, &mut bytes)
        .map_err(|e| AuditError::io(path, "cannot read", &e))?;
    Ok(bytes)
}

/// Writes a secret through a `0600` temporary file, synced, then renamed into place.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuditError> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| AuditError::io(dir, "cannot create", &e))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let written = o
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(AuditError::io(path, "cannot write", &e));
    }
    Ok(())
}
