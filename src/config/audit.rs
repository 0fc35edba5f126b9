//! The `[audit]` section: where the audit log lives, its keys, how it is synced and how
//! often it is checkpointed. Raw TOML in, a validated [`AuditConfig`] out.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::FieldError;

/// `[audit]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    dir: PathBuf,
    hmac_key_file: PathBuf,
    #[serde(default)]
    checkpoint_key_file: Option<PathBuf>,
    #[serde(default = "default_checkpoint_every")]
    checkpoint_every: u64,
    #[serde(default = "default_audit_bytes")]
    max_file_bytes: u64,
    #[serde(default = "default_true")]
    fsync: bool,
    #[serde(default)]
    unsafe_no_fsync: bool,
    #[serde(default)]
    replica_dirs: Vec<PathBuf>,
}

fn default_audit_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_checkpoint_every() -> u64 {
    1000
}

fn default_true() -> bool {
    true
}

/// Where and how the audit log is written.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Folder of the audit files (and of `checkpoints.jsonl`).
    pub dir: PathBuf,
    /// File holding the HMAC secret that keys person hashes (raw bytes, ≥ 32, `0600`).
    pub hmac_key_file: PathBuf,
    /// The gateway's own Ed25519 checkpoint signing key (PKCS#8 DER, `0600`); its public
    /// key is the same path with the extension `.pub` (64 hex digits).
    pub checkpoint_key_file: PathBuf,
    /// A signed checkpoint is written after this many records (and at shutdown).
    pub checkpoint_every: u64,
    /// Size at which a new file is started.
    pub max_file_bytes: u64,
    /// Sync every record to disk before the answer leaves (off only with
    /// `unsafe_no_fsync = true`, for benchmarks).
    pub fsync: bool,
    /// The other replicas' audit folders (a shared volume, read only): the accesses
    /// listing covers them too. Empty: this gateway's own folder only.
    pub replica_dirs: Vec<PathBuf>,
}

/// The checkpoint key's default file name, next to the HMAC secret.
pub const CHECKPOINT_KEY: &str = "audit-checkpoint.p8";

impl RawAudit {
    /// Validates the section; `at` resolves a path against the configuration's folder.
    pub(super) fn validate(
        &self,
        at: impl Fn(&Path) -> PathBuf,
    ) -> Result<AuditConfig, FieldError> {
        if !self.fsync && !self.unsafe_no_fsync {
            return Err(FieldError::new(
                "audit.fsync",
                "false loses acknowledged records on a power cut; \
                 it is accepted only together with audit.unsafe_no_fsync = true (benchmarks)",
            ));
        }
        if self.unsafe_no_fsync && self.fsync {
            return Err(FieldError::new(
                "audit.unsafe_no_fsync",
                "true only goes with audit.fsync = false",
            ));
        }
        FieldError::range("audit.max_file_bytes", self.max_file_bytes, 4096, 1 << 40)?;
        FieldError::range(
            "audit.checkpoint_every",
            self.checkpoint_every,
            1,
            1_000_000,
        )?;
        let hmac_key_file = at(&self.hmac_key_file);
        let checkpoint_key_file = match &self.checkpoint_key_file {
            Some(p) => at(p),
            None => hmac_key_file.with_file_name(CHECKPOINT_KEY),
        };
        let dir = at(&self.dir);
        let replica_dirs: Vec<PathBuf> = self.replica_dirs.iter().map(|p| at(p)).collect();
        if let Some(same) = replica_dirs.iter().find(|p| **p == dir) {
            return Err(FieldError::new(
                "audit.replica_dirs",
                format!(
                    "{} is this gateway's own audit.dir; list only the other replicas' folders",
                    same.display()
                ),
            ));
        }
        Ok(AuditConfig {
            replica_dirs,
            dir,
            hmac_key_file,
            checkpoint_key_file,
            checkpoint_every: self.checkpoint_every,
            max_file_bytes: self.max_file_bytes,
            fsync: self.fsync,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(text: &str) -> Result<AuditConfig, FieldError> {
        let raw: RawAudit = toml::from_str(text).expect("toml");
        raw.validate(|p: &Path| Path::new("/etc/guichet").join(p))
    }

    #[test]
    fn other_replicas_folders_resolve_like_paths_and_never_name_the_own_folder() {
        let base = "dir = \"audit-a\"\nhmac_key_file = \"k\"\n";
        assert!(validate(base).expect("valid").replica_dirs.is_empty());
        let c = validate(&format!(
            "{base}replica_dirs = [\"audit-b\", \"/srv/audit-c\"]"
        ))
        .expect("valid");
        assert_eq!(
            c.replica_dirs,
            vec![
                PathBuf::from("/etc/guichet/audit-b"),
                PathBuf::from("/srv/audit-c")
            ]
        );
        let e = validate(&format!("{base}replica_dirs = [\"audit-b\", \"audit-a\"]"))
            .expect_err("own folder");
        assert_eq!(e.field, "audit.replica_dirs");
        assert!(e.problem.contains("/etc/guichet/audit-a"), "{e}");
    }
}
