//! The chain's file format: sealing a record into a line, opening a line back, the file
//! names, the start-up scan that finds the head and cuts an incomplete last line, and the
//! reading of `account-query` positions for the accesses index.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::index::{Entry, Tip};
use super::{AuditError, GENESIS, Kind, Record};

/// Where one record lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    /// File index (`audit-NNNNNN.jsonl`).
    pub file: u32,
    /// Byte offset of the line.
    pub offset: u64,
    /// Length of the line without its `\n`.
    pub len: u32,
}

/// What the start-up scan found.
#[derive(Debug)]
pub(crate) struct Scan {
    /// Index of the newest file (1 for an empty folder).
    pub index: u32,
    /// Its size after recovery.
    pub size: u64,
    /// Name of the file holding the newest record (empty for an empty log).
    pub head_file: String,
    /// Sequence number of the newest record.
    pub seq: u64,
    /// Hash of the newest record.
    pub prev: String,
    /// Where the newest record lies (`None` for an empty log).
    pub tip: Option<Tip>,
}

/// The line to write (ending in `\n`) and its hash: the hash covers the record's JSON
/// without the `hash` field, which is appended last.
pub fn seal(record: &Record) -> Result<(String, String), AuditError> {
    let body = serde_json::to_string(record).map_err(|e| AuditError::Serialize(e.to_string()))?;
    let hash = sha256_hex(body.as_bytes());
    let open = body
        .strip_suffix('}')
        .ok_or_else(|| AuditError::Serialize("record is not a JSON object".into()))?;
    Ok((format!("{open},\"hash\":\"{hash}\"}}\n"), hash))
}

/// What is wrong with one line of an audit file; never what the line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line has no `"hash"` field at its end.
    #[error("no hash field")]
    NoHash,
    /// The `"hash"` field is not closed as written by [`seal`].
    #[error("malformed hash field")]
    MalformedHash,
    /// The line without its hash is not a record (the column where parsing stopped).
    #[error("not an audit record (column {0})")]
    NotRecord(usize),
    /// The stated hash does not cover the content.
    #[error("altered: its hash does not match its content")]
    Altered,
}

/// Splits a line into its record and its stated hash, checking that the hash covers it.
pub(crate) fn open_line(line: &str) -> Result<(Record, String), LineError> {
    const MARK: &str = ",\"hash\":\"";
    let at = line.rfind(MARK).ok_or(LineError::NoHash)?;
    let stated = line[at + MARK.len()..]
        .strip_suffix("\"}")
        .ok_or(LineError::MalformedHash)?;
    let body = format!("{}}}", &line[..at]);
    let record: Record =
        serde_json::from_str(&body).map_err(|e| LineError::NotRecord(e.column()))?;
    if sha256_hex(body.as_bytes()) != stated {
        return Err(LineError::Altered);
    }
    Ok((record, stated.to_owned()))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub(crate) fn file_name(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("audit-{index:06}.jsonl"))
}

/// The file name of a path, for reports.
pub(crate) fn base_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

pub(crate) fn open_append(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

pub(crate) fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The log files (`audit-<n>.jsonl`) of a folder, in chain order (by index).
pub fn log_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>, AuditError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| AuditError::io(dir, "cannot read the folder", &e))?;
    let mut files: Vec<(u32, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let index = name
                .strip_prefix("audit-")?
                .strip_suffix(".jsonl")?
                .parse()
                .ok()?;
            Some((index, p))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Cuts an incomplete last line (no `\n`: a write interrupted by a crash, which was never
/// acknowledged to anyone) and says so in the log, without its content. Returns the text
/// that remains.
pub(crate) fn cut_incomplete_tail(path: &Path, text: String) -> Result<String, AuditError> {
    if text.is_empty() || text.ends_with('\n') {
        return Ok(text);
    }
    let keep = text.rfind('\n').map_or(0, |at| at + 1);
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| AuditError::io(path, "cannot open to cut an incomplete record", &e))?;
    file.set_len(keep as u64)
        .and_then(|()| file.sync_all())
        .map_err(|e| AuditError::io(path, "cannot cut an incomplete record", &e))?;
    tracing::warn!(
        file = %path.display(),
        bytes = text.len() - keep,
        "audit log: removed an incomplete last record (a write interrupted by a crash; it was never acknowledged)"
    );
    let mut text = text;
    text.truncate(keep);
    Ok(text)
}

/// The fields of a line the accesses index needs, read without checking the hash (the
/// listing checks each line it serves).
#[derive(Deserialize)]
struct Light {
    seq: u64,
    kind: Kind,
    #[serde(default)]
    person: Option<String>,
    hash: String,
}

/// The `account-query` records of `text`, which starts at byte `base` of file `file`.
pub(crate) fn accesses_in(text: &str, file: u32, base: u64) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut offset = base;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if line.ends_with('\n')
            && body.contains("\"kind\":\"account-query\"")
            && let Ok(light) = serde_json::from_str::<Light>(body)
            && light.kind == Kind::AccountQuery
            && let Some(person) = light.person
        {
            let tip = Tip {
                pos: Pos {
                    file,
                    offset,
                    len: u32::try_from(body.len()).unwrap_or(u32::MAX),
                },
                seq: light.seq,
                hash: light.hash,
            };
            out.push(Entry { person, tip });
        }
        offset += line.len() as u64;
    }
    out
}

/// Reads a log file as text.
pub(crate) fn read_text(path: &Path) -> Result<String, AuditError> {
    let bytes = std::fs::read(path).map_err(|e| AuditError::io(path, "cannot read", &e))?;
    String::from_utf8(bytes)
        .map_err(|_| AuditError::damaged(path, "not UTF-8 text; run `guichet audit verify`"))
}

/// Finds the head of the chain reading only the newest file (and, right after a rotation,
/// the one before): recovers the newest file's tail and opens its last record. Older files
/// are not read; the accesses index has its own file ([`super::index`]).
pub(crate) fn scan(dir: &Path) -> Result<Scan, AuditError> {
    let files = log_files(dir)?;
    let mut scan = Scan {
        index: files.last().map_or(1, |(i, _)| *i),
        size: 0,
        head_file: String::new(),
        seq: 0,
        prev: GENESIS.to_owned(),
        tip: None,
    };
    for (n, (index, path)) in files.iter().enumerate().rev() {
        let text = read_text(path)?;
        let text = if n + 1 == files.len() {
            let text = cut_incomplete_tail(path, text)?;
            scan.size = text.len() as u64;
            text
        } else {
            text
        };
        if text.is_empty() {
            continue; // a file just started by a rotation: the head is in an older one
        }
        let Some(body) = text.strip_suffix('\n') else {
            return Err(AuditError::damaged(
                path,
                "its last record is incomplete; run `guichet audit verify`",
            ));
        };
        let start = body.rfind('\n').map_or(0, |at| at + 1);
        let line = &body[start..];
        let (record, hash) = open_line(line).map_err(|m| {
            AuditError::damaged(
                path,
                format!("last record: {m}; run `guichet audit verify`"),
            )
        })?;
        scan.seq = record.seq;
        scan.head_file = base_name(path);
        scan.tip = Some(Tip {
            pos: Pos {
                file: *index,
                offset: start as u64,
                len: u32::try_from(line.len()).unwrap_or(u32::MAX),
            },
            seq: record.seq,
            hash: hash.clone(),
        });
        scan.prev = hash;
        break;
    }
    Ok(scan)
}
