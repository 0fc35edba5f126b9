//! The other replicas' audit folders (`[audit] replica_dirs`), read — never written — so
//! that the accesses listing covers every replica. Each folder is followed from where the
//! last listing stopped: new complete lines are scanned for `account-query` records and
//! their positions kept per person hash (as the own index does); an incomplete last line
//! (a write in progress there) is left for the next listing. Served records are read back
//! and their hashes checked, like the own index's.
//!
//! Invariant: a replica's folder is written by that replica only; here it is only read.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::chain::{Pos, accesses_in, log_files};
use super::index::read_at;
use super::{AuditError, Record, lock};

/// Every other replica's folder and how far it has been read.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    logs: Vec<Mutex<PeerLog>>,
}

/// One other replica's folder.
#[derive(Debug)]
struct PeerLog {
    dir: PathBuf,
    /// The file and byte offset up to which complete lines were scanned.
    file: u32,
    offset: u64,
    /// Person hash → positions of its `account-query` records, oldest first.
    map: HashMap<String, Vec<Pos>>,
}

impl Peers {
    /// Follows `dirs` (none: a single replica, nothing to read).
    pub(crate) fn new(dirs: &[PathBuf]) -> Peers {
        let logs = dirs
            .iter()
            .map(|dir| {
                Mutex::new(PeerLog {
                    dir: dir.clone(),
                    file: 1,
                    offset: 0,
                    map: HashMap::new(),
                })
            })
            .collect();
        Peers { logs }
    }

    /// The `account-query` records of `person` in every other replica's folder, after
    /// catching up with what they appended since the last call. A folder that cannot be
    /// read, or a record that is no longer intact, is an error naming the file.
    pub(crate) fn accesses(&self, person: &str) -> Result<Vec<Record>, AuditError> {
        let mut out = Vec::new();
        for log in &self.logs {
            let mut log = lock(log);
            log.catch_up()?;
            let positions = log.map.get(person).cloned().unwrap_or_default();
            out.extend(read_at(&log.dir, person, positions)?);
        }
        Ok(out)
    }
}

impl PeerLog {
    /// Scans the complete lines appended since the last call.
    fn catch_up(&mut self) -> Result<(), AuditError> {
        if !self.dir.exists() {
            // A replica that never wrote yet; its folder appears with its first record.
            return Ok(());
        }
        for (index, path) in log_files(&self.dir)? {
            if index < self.file {
                continue;
            }
            let from = if index == self.file { self.offset } else { 0 };
            let text = complete_lines(&path, from)?;
            for e in accesses_in(&text, index, from) {
                self.map.entry(e.person).or_default().push(e.tip.pos);
            }
            self.file = index;
            self.offset = from + text.len() as u64;
        }
        Ok(())
    }
}

/// The text of `path` from byte `from` up to its last `\n`.
fn complete_lines(path: &Path, from: u64) -> Result<String, AuditError> {
    let mut file =
        std::fs::File::open(path).map_err(|e| AuditError::io(path, "cannot open", &e))?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(from))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| AuditError::io(path, "cannot read", &e))?;
    let keep = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |at| at + 1);
    bytes.truncate(keep);
    String::from_utf8(bytes)
        .map_err(|_| AuditError::damaged(path, "not UTF-8 text; run `guichet audit verify`"))
}
