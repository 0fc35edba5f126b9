//! The tamper-evident audit log: one JSON line per account query and per administrative
//! change, each carrying the SHA-256 of the previous line, appended (and synced) before the
//! answer leaves — and before an administrative change is applied. The person concerned is
//! recorded only as a keyed hash (HMAC-SHA-256), so "every access to person X" can be found
//! without storing X in clear.
//!
//! Files are `audit-NNNNNN.jsonl` in one folder, rotated by size; the chain runs on across
//! files. Every `checkpoint_every` records and at shutdown the gateway signs the head of the
//! chain with its own Ed25519 key into `checkpoints.jsonl` ([`checkpoint`]), so that a
//! deleted tail or a chain recomputed after an edit is found by [`verify`]. This module owns
//! the files of the audit folder; it knows nothing of HTTP.

mod chain;
pub mod checkpoint;
mod counts;
mod index;
mod index_file;
pub mod keys;
mod peers;
mod record;
mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

pub use chain::{log_files, seal};
pub use checkpoint::{Checkpoint, Signer};
pub use counts::access_counts;
pub use index_file::IndexStart;
pub use record::{Actor, ActorRole, Binding, Event, Kind, Record};
pub use verify::{ChainReport, VerifyReport, verify, verify_replicas, verify_with};
pub use writer::Fault;

use crate::locks::lock;
use crate::model::Vn;
use writer::Writer;

/// SHA-256 of nothing before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What can go wrong with the audit log. Every variant names the file or folder; none
/// carries record content.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuditError {
    /// A file or folder cannot be read, written, synced or created.
    #[error("audit log {path}: {what}: {message}")]
    Io {
        /// File or folder concerned.
        path: PathBuf,
        /// The operation (`cannot write`, `cannot sync`…).
        what: &'static str,
        /// The OS error.
        message: String,
    },
    /// The files are not a valid log (a record that does not parse, a broken chain…).
    #[error("audit log {path}: {message}")]
    Damaged {
        /// File concerned.
        path: PathBuf,
        /// What is wrong, with the line or record number.
        message: String,
    },
    /// A key file is missing, malformed or readable by others.
    #[error("audit key {path}: {message}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An earlier write failed in a way that could not be undone; nothing more is written
    /// until a restart recovers the file.
    #[error("audit log {0}: stopped after a failed write or sync; restart the gateway to recover")]
    Stopped(PathBuf),
    /// A record could not be serialized (a bug, not an input problem).
    #[error("audit record cannot be serialized: {0}")]
    Serialize(String),
}

impl AuditError {
    pub(crate) fn io(path: &Path, what: &'static str, e: &std::io::Error) -> AuditError {
        AuditError::Io {
            path: path.to_owned(),
            what,
            message: e.to_string(),
        }
    }

    pub(crate) fn damaged(path: &Path, message: impl Into<String>) -> AuditError {
        AuditError::Damaged {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// How the log is written.
#[derive(Debug, Clone)]
pub struct Options {
    /// Size at which a new file is started (at least 4096).
    pub max_file_bytes: u64,
    /// Sync every batch of records before confirming it.
    pub fsync: bool,
    /// A checkpoint after this many records (at least 1).
    pub checkpoint_every: u64,
    /// The checkpoint signing key; `None` writes no checkpoints (tests of the chain alone).
    pub signer: Option<Arc<Signer>>,
    /// The replica id written into every record and checkpoint (`None`: a single gateway).
    pub replica: Option<String>,
    /// The other replicas' audit folders, read (never written) for the accesses listing.
    pub replica_dirs: Vec<PathBuf>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_file_bytes: 64 * 1024 * 1024,
            fsync: true,
            checkpoint_every: 1000,
            signer: None,
            replica: None,
            replica_dirs: Vec::new(),
        }
    }
}

/// The newest record of the chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Head {
    /// File holding it.
    pub file: String,
    /// Its sequence number (0: empty log).
    pub seq: u64,
    /// Its hash ([`GENESIS`] for an empty log).
    pub hash: String,
}

/// The audit log of one gateway. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    dir: PathBuf,
    key: Arc<aws_lc_rs::hmac::Key>,
    writer: Arc<Mutex<Writer>>,
    pending: Arc<Mutex<Vec<(Event, Reply)>>>,
    index: Arc<index::Index>,
    index_start: IndexStart,
    peers: Arc<peers::Peers>,
}

/// Where a committed record's outcome is sent.
type Reply = tokio::sync::oneshot::Sender<Result<u64, AuditError>>;

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (or starts) the log in `dir`, continuing the chain of the newest file. An
    /// incomplete last line (a crash mid-write: never acknowledged) is cut off and logged;
    /// a log that ends before its newest checkpoint refuses to open. `secret` keys the
    /// person hashes; it must be at least 32 bytes.
    pub fn open(dir: &Path, secret: &[u8], options: Options) -> Result<AuditLog, AuditError> {
        if secret.len() < 32 {
            return Err(AuditError::Key {
                path: dir.to_owned(),
                message: "the HMAC secret must be at least 32 bytes".into(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| AuditError::io(dir, "cannot create", &e))?;
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        let scan = chain::scan(dir)?;
        let (index, index_start) = index::Index::open(dir, &key, &scan)?;
        let peers = Arc::new(peers::Peers::new(&options.replica_dirs));
        let writer = Writer::open(dir, scan, options)?;
        Ok(AuditLog {
            dir: dir.to_owned(),
            key: Arc::new(key),
            writer: Arc::new(Mutex::new(writer)),
            pending: Arc::new(Mutex::new(Vec::new())),
            index: Arc::new(index),
            index_start,
            peers,
        })
    }

    /// The keyed hash under which a person appears in the log (hex).
    pub fn person(&self, vn: Vn) -> String {
        chain::hex(aws_lc_rs::hmac::sign(&self.key, vn.digits().as_bytes()).as_ref())
    }

    /// The keyed hash (hex) under which an end user's `sub` from `issuer` is recorded: the
    /// same person of the same provider gets the same hash, and neither is in clear.
    pub fn subject(&self, issuer: &str, sub: &str) -> String {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.key);
        for part in [
            b"sub\0".as_slice(),
            issuer.as_bytes(),
            b"\0",
            sub.as_bytes(),
        ] {
            ctx.update(part);
        }
        chain::hex(ctx.sign().as_ref())
    }

    /// A short pseudonym of a person for log lines (the first 12 hex digits of the hash).
    pub fn pseudonym(&self, vn: Vn) -> String {
        self.person(vn)[..12].to_owned()
    }

    /// Appends one record (and syncs it when configured) before returning; runs off the
    /// async workers. Records appended at the same time share one write and one sync
    /// (group commit): whoever holds the writer takes every pending record.
    pub async fn append(&self, event: Event) -> Result<u64, AuditError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        lock(&self.pending).push((event, tx));
        let this = self.clone();
        let _ = tokio::task::spawn_blocking(move || this.commit_pending()).await;
        rx.await
            .map_err(|_| AuditError::Stopped(self.dir.clone()))?
    }

    /// Takes the writer, then every pending record, and commits them together.
    fn commit_pending(&self) {
        let mut w = lock(&self.writer);
        let batch = std::mem::take(&mut *lock(&self.pending));
        if batch.is_empty() {
            return; // an earlier commit took this task's record along
        }
        let (events, replies): (Vec<Event>, Vec<Reply>) = batch.into_iter().unzip();
        let results = w.write_batch(events, &self.index);
        count_failures(&results);
        for (result, reply) in results.into_iter().zip(replies) {
            let _ = reply.send(result);
        }
    }

    /// Appends one record from a blocking context.
    pub fn append_blocking(&self, event: Event) -> Result<u64, AuditError> {
        let mut w = lock(&self.writer);
        let results = w.write_batch(vec![event], &self.index);
        count_failures(&results);
        results
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(AuditError::Stopped(self.dir.clone())))
    }

    /// Signs the current head now (at shutdown), unless the newest checkpoint already
    /// covers it. `None` when the log has no signer or is empty.
    /// The accesses index is marked up to the head and synced as well.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, AuditError> {
        let mut w = lock(&self.writer);
        if let Some(tip) = w.tip() {
            self.index.mark(tip);
        }
        w.checkpoint_now()
    }

    /// How the accesses index was obtained when the log was opened: read from its file and
    /// completed with the newest records, or rebuilt from every file (and why).
    pub fn index_start(&self) -> &IndexStart {
        &self.index_start
    }

    /// The newest record of the chain and the newest checkpoint.
    pub fn head(&self) -> (Head, Option<Checkpoint>) {
        let w = lock(&self.writer);
        (w.head(), w.last_checkpoint())
    }

    /// The checkpoint verification key (hex of the raw Ed25519 public key), if any.
    pub fn public_key(&self) -> Option<String> {
        lock(&self.writer).public_key()
    }

    /// Test hook: makes the next writes fail (see [`Fault`]).
    pub fn inject(&self, fault: Fault) {
        lock(&self.writer).inject(fault);
    }

    /// Every `account-query` record about a person, oldest first, read through the index
    /// (kept in `accesses.idx` next to the files) rather than by scanning the files, and
    /// from the other replicas' folders (`replica_dirs`) when configured; each record's
    /// own hash is checked.
    pub fn accesses(&self, vn: Vn) -> Result<Vec<Record>, AuditError> {
        let person = self.person(vn);
        let mut records = self.index.read(&self.dir, &person)?;
        records.extend(self.peers.accesses(&person)?);
        // By time across replicas (a stable sort: one replica's order is kept on ties).
        records.sort_by_cached_key(|r| {
            time::OffsetDateTime::parse(&r.time, &time::format_description::well_known::Rfc3339)
                .map_or(i128::MAX, time::OffsetDateTime::unix_timestamp_nanos)
        });
        Ok(records)
    }

    /// The folder of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Counts the records of a batch that could not be written
/// (`guichet_audit_write_failures_total`).
fn count_failures(results: &[Result<u64, AuditError>]) {
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed > 0 {
        crate::metrics::METRICS
            .audit_write_failures
            .inc_by(failed as u64);
    }
}
