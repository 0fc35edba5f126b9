//! The audit tests' set-up (shared by `audit_checkpoints`, `audit_index` and
//! `audit_replicas`): key files in a temporary folder, a portal's event, logs with small
//! files (4 KiB, so a few records rotate) and no fsync, the log files of a folder, and
//! `guichet audit verify` run as a command.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use guichet::audit::{Actor, ActorRole, AuditError, AuditLog, Event, Kind, Options, keys};

/// The HMAC secret of the logs opened without key files.
pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";

/// The HMAC secret and checkpoint signing key, made in a temporary folder.
pub struct Keys {
    _dir: tempfile::TempDir,
    pub hmac: PathBuf,
    pub signing: PathBuf,
}

pub fn keys() -> Keys {
    let dir = tempfile::tempdir().expect("tmp");
    let hmac = dir.path().join("audit-hmac.key");
    let signing = dir.path().join("audit-checkpoint.p8");
    keys::ensure(&hmac, &signing).expect("keys");
    Keys {
        _dir: dir,
        hmac,
        signing,
    }
}

/// A portal's record number `i`: an account query of `person`, or (without one) an
/// adapter change; one office's outcome and 200 bytes of detail.
pub fn event(person: Option<String>, i: u32) -> Event {
    Event {
        kind: if person.is_some() {
            Kind::AccountQuery
        } else {
            Kind::AccountChanged
        },
        actor: Actor {
            role: ActorRole::Portal,
            name: "demo".into(),
        },
        purpose: Some("self-service".into()),
        person,
        offices: vec![("025.000".into(), "ok".into())],
        result: format!("complete {i}"),
        detail: Some("x".repeat(200)),
        binding: None,
    }
}

/// Small files, no fsync, a checkpoint every `checkpoint_every` records, unsigned.
pub fn options(checkpoint_every: u64) -> Options {
    Options {
        max_file_bytes: 4096,
        fsync: false,
        checkpoint_every,
        ..Options::default()
    }
}

/// The log in `dir` keyed and signed with `k`, a checkpoint every 5 records; `replica`
/// and the other replicas' folders `peers` as in `Options`.
pub fn open_signed(
    dir: &Path,
    k: &Keys,
    replica: Option<&str>,
    peers: &[&Path],
) -> Result<AuditLog, AuditError> {
    let secret = keys::read_hmac_secret(&k.hmac).expect("secret");
    let options = Options {
        signer: Some(Arc::new(keys::read_signer(&k.signing).expect("signer"))),
        replica: replica.map(str::to_owned),
        replica_dirs: peers.iter().map(|p| p.to_path_buf()).collect(),
        ..options(5)
    };
    AuditLog::open(dir, &secret, options)
}

/// The log files of `dir`, oldest first.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    guichet::audit::log_files(dir)
        .expect("audit folder")
        .into_iter()
        .map(|(_, path)| path)
        .collect()
}

/// `guichet audit verify` over `dirs` with `k`'s public key: exit code and stdout.
pub fn verify_cli(dirs: &[&Path], k: &Keys) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["audit", "verify"])
        .args(dirs)
        .arg("--public-key")
        .arg(keys::public_key_path(&k.signing))
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
