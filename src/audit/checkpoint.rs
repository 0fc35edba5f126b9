//! Signed checkpoints: `(file, seq, hash, time)` of the chain's head, signed with the
//! gateway's own Ed25519 key, one JSON line each in `checkpoints.jsonl` next to the log.
//!
//! A hash chain alone lets whoever can write the folder delete the newest records or edit
//! one and recompute every later hash. A checkpoint pins the head at a point in time with a
//! key the folder does not hold (the private key lives with the gateway's other secrets,
//! `0600`), so `guichet audit verify --public-key` finds both. Records after the newest
//! checkpoint are covered only by the chain: checkpoints are written every N records and at
//! shutdown, and `GET /admin/v1/audit/head` lets monitoring keep the newest one elsewhere.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use super::chain::{cut_incomplete_tail, hex, now, open_append};
use super::{AuditError, Head};

/// Name of the checkpoint file in the audit folder.
pub const FILE: &str = "checkpoints.jsonl";

/// One signed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    /// The file holding the record.
    pub file: String,
    /// The record's sequence number.
    pub seq: u64,
    /// The record's hash.
    pub hash: String,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
    /// The replica whose chain is signed (absent for a gateway without a replica id, and
    /// in older checkpoints); covered by the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// Hex of the Ed25519 signature over [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    /// The bytes signed: a fixed prefix and the four fields, one per line; with a replica
    /// id, prefix `/2` and the replica first (so a checkpoint cannot be moved to another
    /// replica's chain).
    pub fn message(&self) -> Vec<u8> {
        let fields = format!(
            "{}\n{}\n{}\n{}\n",
            self.file, self.seq, self.hash, self.time
        );
        match &self.replica {
            None => format!("guichet-audit-checkpoint/1\n{fields}"),
            Some(r) => format!("guichet-audit-checkpoint/2\n{r}\n{fields}"),
        }
        .into_bytes()
    }

    /// Whether the signature is valid for `public_key` (32 raw bytes).
    pub fn verify(&self, public_key: &[u8]) -> bool {
        let Some(signature) = unhex(&self.signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(&self.message(), &signature)
            .is_ok()
    }
}

/// The gateway's checkpoint signing key.
pub struct Signer {
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public_key", &self.public_key_hex())
            .finish()
    }
}

impl Signer {
    /// A signer from a PKCS#8 document (DER).
    pub fn from_pkcs8(path: &Path, der: &[u8]) -> Result<Signer, AuditError> {
        let key = Ed25519KeyPair::from_pkcs8(der).map_err(|e| AuditError::Key {
            path: path.to_owned(),
            message: format!("not an Ed25519 PKCS#8 key ({e})"),
        })?;
        Ok(Signer { key })
    }

    /// Hex of the raw 32-byte public key, as written to the `.pub` file.
    pub fn public_key_hex(&self) -> String {
        hex(self.key.public_key().as_ref())
    }

    fn sign(&self, head: &Head, replica: Option<&str>) -> Checkpoint {
        let mut c = Checkpoint {
            file: head.file.clone(),
            seq: head.seq,
            hash: head.hash.clone(),
            time: now(),
            replica: replica.map(str::to_owned),
            signature: String::new(),
        };
        c.signature = hex(self.key.sign(&c.message()).as_ref());
        c
    }
}

/// The checkpoint file as the writer keeps it open.
#[derive(Debug)]
pub(crate) struct Book {
    path: PathBuf,
    file: Option<File>,
    signer: Option<Arc<Signer>>,
    last: Option<Checkpoint>,
}

impl Book {
    /// Opens `checkpoints.jsonl` (cutting an incomplete last line) and checks that the log
    /// still reaches the newest checkpoint: a log that ends before it lost signed records,
    /// and writing on would hide that, so the start is refused.
    pub(crate) fn open(
        dir: &Path,
        signer: Option<Arc<Signer>>,
        head: &Head,
    ) -> Result<Book, AuditError> {
        let path = dir.join(FILE);
        let last = match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| AuditError::damaged(&path, "not UTF-8 text"))?;
                let text = cut_incomplete_tail(&path, text)?;
                match text.lines().last() {
                    Some(line) => Some(serde_json::from_str::<Checkpoint>(line).map_err(|e| {
                        AuditError::damaged(&path, format!("last line is not a checkpoint: {e}"))
                    })?),
                    None => None,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AuditError::io(&path, "cannot read", &e)),
        };
        if let Some(c) = &last
            && (c.seq > head.seq || (c.seq == head.seq && c.hash != head.hash))
        {
            return Err(AuditError::damaged(
                &path,
                format!(
                    "the checkpoint of {} signs record {} ({}), but the log ends at record {}: \
                     signed records were removed or changed; run `guichet audit verify` and keep \
                     the folder as evidence before starting on a new one",
                    c.time, c.seq, c.file, head.seq
                ),
            ));
        }
        Ok(Book {
            path,
            file: None,
            signer,
            last,
        })
    }

    /// The newest checkpoint.
    pub(crate) fn last(&self) -> Option<Checkpoint> {
        self.last.clone()
    }

    /// Sequence number the newest checkpoint covers (0 when none).
    pub(crate) fn last_seq(&self) -> u64 {
        self.last.as_ref().map_or(0, |c| c.seq)
    }

    /// The verification key, hex.
    pub(crate) fn public_key(&self) -> Option<String> {
        self.signer.as_ref().map(|s| s.public_key_hex())
    }

    /// Signs `head` and appends it (synced when `fsync`); `None` without a signer, for an
    /// empty log, or when the newest checkpoint already covers the head.
    pub(crate) fn sign(
        &mut self,
        head: &Head,
        replica: Option<&str>,
        fsync: bool,
    ) -> Result<Option<Checkpoint>, AuditError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        if head.seq == 0 || self.last_seq() >= head.seq {
            return Ok(None);
        }
        let checkpoint = signer.sign(head, replica);
        let mut line =
            serde_json::to_string(&checkpoint).map_err(|e| AuditError::Serialize(e.to_string()))?;
        line.push('\n');
        if self.file.is_none() {
            let f = open_append(&self.path)
                .map_err(|e| AuditError::io(&self.path, "cannot open", &e))?;
            self.file = Some(f);
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        let written = file
            .write_all(line.as_bytes())
            .map_err(|e| AuditError::io(&self.path, "cannot write", &e));
        if let Err(e) = written {
            // Do not leave a partial line for the next checkpoint to be appended to.
            self.file = None;
            let _ = cut_incomplete_tail(
                &self.path,
                std::fs::read_to_string(&self.path).unwrap_or_default(),
            );
            return Err(e);
        }
        if fsync {
            file.sync_data()
                .map_err(|e| AuditError::io(&self.path, "cannot sync", &e))?;
        }
        self.last = Some(checkpoint.clone());
        Ok(Some(checkpoint))
    }
}

/// A line of `checkpoints.jsonl` that is not a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointLineError {
    /// The last line has no newline: a write was cut off.
    #[error("incomplete line")]
    Incomplete,
    /// The line is not a checkpoint's JSON (what serde says).
    #[error("not a checkpoint: {0}")]
    NotCheckpoint(String),
}

/// Every checkpoint of a folder, in order; the problem for lines that are not one.
pub(crate) fn read_all(
    dir: &Path,
) -> Result<Vec<Result<Checkpoint, CheckpointLineError>>, AuditError> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuditError::io(&path, "cannot read", &e)),
    };
    Ok(text
        .split_inclusive('\n')
        .map(|line| match line.strip_suffix('\n') {
            None => Err(CheckpointLineError::Incomplete),
            Some(l) => serde_json::from_str(l)
                .map_err(|e| CheckpointLineError::NotCheckpoint(e.to_string())),
        })
        .collect())
}

/// Decodes hex (either case); `None` for anything else.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
