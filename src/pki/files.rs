//! Owns the atomic, permission-aware writing of certificate and key files.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::pki::{PkiError, Result};

/// Mode of private key files (owner read/write only).
const KEY_MODE: u32 = 0o600;
/// Mode of certificate files.
const CERT_MODE: u32 = 0o644;
/// Mode of directories created to hold key files.
const KEY_DIR_MODE: u32 = 0o700;
/// Mode of directories created to hold only certificates.
const CERT_DIR_MODE: u32 = 0o755;

/// Distinguishes temporary files of concurrent writers within one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes a certificate and its key atomically, the key first.
///
/// Each file is written to a temporary file in the destination directory (the key one created
/// with mode `0600` from the start, the certificate one with `0644`), fsynced, renamed over
/// the destination, and the directory is fsynced. Missing parent directories are created
/// (`0700` for the key's, `0755` for a certificate-only one).
pub fn write_pem_files(
    cert_path: &Path,
    cert_pem: &str,
    key_path: &Path,
    key_pem: &str,
) -> Result<()> {
    write_atomic(key_path, key_pem.as_bytes(), KEY_MODE, KEY_DIR_MODE)?;
    write_atomic(cert_path, cert_pem.as_bytes(), CERT_MODE, CERT_DIR_MODE)
}

/// Writes a secret (an HMAC key, …) atomically with mode `0600`.
pub fn write_secret_file(path: &Path, secret: &str) -> Result<()> {
    write_atomic(path, secret.as_bytes(), KEY_MODE, KEY_DIR_MODE)
}

/// Writes `bytes` to `path` through a fsynced temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32, dir_mode: u32) -> Result<()> {
    let file_name = path.file_name().ok_or_else(|| PkiError::BadFile {
        path: path.to_path_buf(),
        reason: "is not a file path".to_owned(),
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_dir_all(&dir, dir_mode)?;

    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_tmp(&tmp, bytes, mode).and_then(|()| {
        fs::rename(&tmp, path).map_err(|source| PkiError::Io {
            op: "rename temporary file onto",
            path: path.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        // Best effort: the temporary file is garbage either way.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    sync_dir(&dir)
}

/// Creates `tmp` exclusively with `mode`, writes and fsyncs it.
fn write_tmp(tmp: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let io = |op: &'static str| {
        move |source| PkiError::Io {
            op,
            path: tmp.to_path_buf(),
            source,
        }
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(tmp).map_err(io("create"))?;
    file.write_all(bytes).map_err(io("write"))?;
    file.sync_all().map_err(io("fsync"))
}

/// Creates `dir` and its missing ancestors with `mode`.
fn create_dir_all(dir: &Path, mode: u32) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(dir).map_err(|source| PkiError::Io {
        op: "create directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Makes a rename durable by fsyncing the containing directory (no-op off unix).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| PkiError::Io {
                op: "fsync directory",
                path: dir.to_path_buf(),
                source,
            })?;
    }
    #[cfg(not(unix))]
    let _ = (dir, File::open);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn writes_with_modes_and_replaces() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cert = tmp.path().join("sub/a.pem");
        let key = tmp.path().join("sub/a.key");
        write_pem_files(&cert, "CERT", &key, "KEY").expect("write");
        assert_eq!(fs::read_to_string(&cert).expect("read"), "CERT");
        assert_eq!(fs::read_to_string(&key).expect("read"), "KEY");
        assert_eq!(mode_of(&key), 0o600);
        assert_eq!(mode_of(tmp.path().join("sub").as_path()), 0o700);
        // umask may only remove bits from the certificate's 0644.
        assert_eq!(mode_of(&cert) & !0o644, 0);

        write_pem_files(&cert, "CERT2", &key, "KEY2").expect("rewrite");
        assert_eq!(fs::read_to_string(&key).expect("read"), "KEY2");
        assert_eq!(mode_of(&key), 0o600);
        let leftovers: Vec<_> = fs::read_dir(tmp.path().join("sub"))
            .expect("read_dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn error_names_the_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let blocker = tmp.path().join("file");
        fs::write(&blocker, "x").expect("write");
        let key = blocker.join("k.key");
        let err = write_pem_files(&blocker.join("c.pem"), "C", &key, "K").expect_err("must fail");
        assert!(
            err.to_string().contains(&*blocker.to_string_lossy()),
            "{err}"
        );
    }
}
