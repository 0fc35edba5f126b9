//! The tamper-evident audit log: one JSON line per account query and per administrative
//! change, each carrying the SHA-256 of the previous line, appended (and synced) before the
//! answer leaves. The person concerned is recorded only as a keyed hash (HMAC-SHA-256), so
//! "every access to person X" can be found without storing X in clear.
//!
//! Files are `audit-NNNNNN.jsonl` in one folder, rotated by size; the chain runs on across
//! files. [`verify`] checks a whole folder and names the first broken record.

mod verify;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use verify::{VerifyReport, verify};

use crate::locks::lock;
use crate::model::Vn;

/// SHA-256 of nothing before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit log that cannot be opened or written.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit log {path}: {message}")]
pub struct AuditError {
    /// File or folder concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// Who did it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    /// Role of the client certificate (`portal`, `office`, `admin`).
    pub role: String,
    /// Name in the certificate.
    pub name: String,
}

/// What is recorded, before the chain fields are added.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `account-query`, `accesses-query`, `account-changed`, `adapter-change`, `reload`…
    pub kind: String,
    /// The caller.
    pub actor: Actor,
    /// The stated purpose, for queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// HMAC-SHA-256 of the person's AHV number (hex), when a person is concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Offices contacted and their status (`office` → `ok`, `timeout`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offices: Vec<(String, String)>,
    /// The result: `complete`, `incomplete`, `cached`, `ok`, an error…
    pub result: String,
    /// Free detail without personal data (the adapter changed, the request id…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One line of the log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Position in the whole chain, from 1.
    pub seq: u64,
    /// RFC 3339 UTC time.
    pub time: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
    /// Hash of the previous line.
    pub prev: String,
}

struct Writer {
    file: File,
    path: PathBuf,
    size: u64,
    index: u32,
    seq: u64,
    prev: String,
}

/// The audit log of one gateway. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    dir: PathBuf,
    max_bytes: u64,
    fsync: bool,
    key: Arc<aws_lc_rs::hmac::Key>,
    writer: Arc<Mutex<Writer>>,
    pending: Arc<Mutex<Vec<(Event, Reply)>>>,
}

/// Where a committed record's outcome is sent.
type Reply = tokio::sync::oneshot::Sender<Result<u64, AuditError>>;

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.dir)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (or starts) the log in `dir`, continuing the chain of the newest file.
    /// `secret` keys the person hashes; it must be at least 32 bytes.
    pub fn open(
        dir: &Path,
        secret: &[u8],
        max_bytes: u64,
        fsync: bool,
    ) -> Result<AuditLog, AuditError> {
        let err = |path: &Path, message: String| AuditError {
            path: path.to_owned(),
            message,
        };
        if secret.len() < 32 {
            return Err(err(dir, "the HMAC secret must be at least 32 bytes".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| err(dir, format!("cannot create: {e}")))?;
        let files = verify::log_files(dir).map_err(|m| err(dir, m))?;
        let (index, seq, prev) = match files.last() {
            Some((index, path)) => {
                let (seq, prev) = verify::tail(path, &files).map_err(|m| err(path, m))?;
                (*index, seq, prev)
            }
            None => (1, 0, GENESIS.to_owned()),
        };
        let path = file_name(dir, index);
        let file = open_append(&path)
            .map_err(|e| err(&path, format!("cannot open for appending: {e}")))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(AuditLog {
            dir: dir.to_owned(),
            max_bytes: max_bytes.max(4096),
            fsync,
            key: Arc::new(aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                secret,
            )),
            writer: Arc::new(Mutex::new(Writer {
                file,
                path,
                size,
                index,
                seq,
                prev,
            })),
            pending: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The keyed hash under which a person appears in the log (hex).
    pub fn person(&self, vn: Vn) -> String {
        hex(aws_lc_rs::hmac::sign(&self.key, vn.digits().as_bytes()).as_ref())
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
        rx.await.map_err(|_| AuditError {
            path: self.dir.clone(),
            message: "the audit writer stopped before recording".into(),
        })?
    }

    /// Takes the writer, then every pending record, and commits them together.
    fn commit_pending(&self) {
        let mut w = lock(&self.writer);
        let batch = std::mem::take(&mut *lock(&self.pending));
        if batch.is_empty() {
            return; // an earlier commit took this task's record along
        }
        let (events, replies): (Vec<Event>, Vec<Reply>) = batch.into_iter().unzip();
        for (result, reply) in self.write_batch(&mut w, events).into_iter().zip(replies) {
            let _ = reply.send(result);
        }
    }

    /// Appends one record from a blocking context.
    pub fn append_blocking(&self, event: Event) -> Result<u64, AuditError> {
        let mut w = lock(&self.writer);
        self.write_batch(&mut w, vec![event])
            .pop()
            .unwrap_or_else(|| {
                Err(AuditError {
                    path: w.path.clone(),
                    message: "nothing was written".into(),
                })
            })
    }

    /// Writes records in order, then syncs once. A failure fails that record and every
    /// later one; a failed sync fails them all (they may be on disk, but unconfirmed).
    fn write_batch(&self, w: &mut Writer, events: Vec<Event>) -> Vec<Result<u64, AuditError>> {
        let mut results = Vec::with_capacity(events.len());
        let mut failed: Option<AuditError> = None;
        for event in events {
            if let Some(e) = &failed {
                results.push(Err(e.clone()));
                continue;
            }
            match self.write_one(w, event) {
                Ok(seq) => results.push(Ok(seq)),
                Err(e) => {
                    failed = Some(e.clone());
                    results.push(Err(e));
                }
            }
        }
        if self.fsync
            && results.iter().any(Result::is_ok)
            && let Err(e) = w.file.sync_data()
        {
            let e = AuditError {
                path: w.path.clone(),
                message: format!("cannot sync: {e}"),
            };
            return results.into_iter().map(|_| Err(e.clone())).collect();
        }
        results
    }

    fn write_one(&self, w: &mut Writer, event: Event) -> Result<u64, AuditError> {
        if w.size >= self.max_bytes {
            self.rotate(w)?;
        }
        let record = Record {
            seq: w.seq + 1,
            time: now(),
            event,
            prev: w.prev.clone(),
        };
        let (line, hash) = seal(&record).map_err(|m| AuditError {
            path: w.path.clone(),
            message: m,
        })?;
        w.file.write_all(line.as_bytes()).map_err(|e| AuditError {
            path: w.path.clone(),
            message: format!("cannot write: {e}"),
        })?;
        w.size += line.len() as u64;
        w.seq = record.seq;
        w.prev = hash;
        Ok(record.seq)
    }

    fn rotate(&self, w: &mut Writer) -> Result<(), AuditError> {
        if self.fsync {
            w.file.sync_data().map_err(|e| AuditError {
                path: w.path.clone(),
                message: format!("cannot sync: {e}"),
            })?;
        }
        let index = w.index + 1;
        let path = file_name(&self.dir, index);
        let file = open_append(&path).map_err(|e| AuditError {
            path: path.clone(),
            message: format!("cannot create: {e}"),
        })?;
        w.file = file;
        w.path = path;
        w.index = index;
        w.size = 0;
        Ok(())
    }

    /// Every `account-query` record about a person, oldest first.
    pub fn accesses(&self, vn: Vn) -> Result<Vec<Record>, AuditError> {
        let person = self.person(vn);
        let files = verify::log_files(&self.dir).map_err(|m| AuditError {
            path: self.dir.clone(),
            message: m,
        })?;
        let mut out = Vec::new();
        for (_, path) in files {
            let text = std::fs::read_to_string(&path).map_err(|e| AuditError {
                path: path.clone(),
                message: e.to_string(),
            })?;
            for line in text.lines() {
                if !line.contains(&person) {
                    continue;
                }
                if let Ok(r) = serde_json::from_str::<Record>(line)
                    && r.event.kind == "account-query"
                    && r.event.person.as_deref() == Some(person.as_str())
                {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// The folder of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The line to write (ending in `\n`) and its hash: the hash covers the record's JSON
/// without the `hash` field, which is appended last.
pub fn seal(record: &Record) -> Result<(String, String), String> {
    let body = serde_json::to_string(record).map_err(|e| e.to_string())?;
    let hash = sha256_hex(body.as_bytes());
    let open = body
        .strip_suffix('}')
        .ok_or("record is not a JSON object")?;
    Ok((format!("{open},\"hash\":\"{hash}\"}}\n"), hash))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn file_name(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("audit-{index:06}.jsonl"))
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}
