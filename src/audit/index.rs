//! The accesses index: person hash → positions of that person's `account-query` records.
//! Loaded at start from its file next to the log ([`super::index_file`]), grown by every
//! append; the listing reads only the lines it points at (and checks each one's hash)
//! instead of scanning the whole folder.
//!
//! Invariant: the index holds keyed hashes and byte positions only, never an AHV number.
//! It lives in memory (about 100 bytes per indexed record) and on disk (about 130).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use super::chain::{Pos, Scan, file_name, open_line};
use super::index_file::{self, Disk, IndexStart};
use super::{AuditError, Kind, Record, lock};

/// A record of the log: where it lies, its sequence number and its hash (in the index file,
/// the first 16 hex digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tip {
    pub pos: Pos,
    pub seq: u64,
    pub hash: String,
}

/// An `account-query` record and the person hash it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub person: String,
    pub tip: Tip,
}

/// Person hash → positions, oldest first, and the file that keeps them.
pub(crate) struct Index {
    map: Mutex<HashMap<String, Vec<Pos>>>,
    disk: Mutex<Disk>,
}

impl Index {
    /// Loads (or rebuilds) the index for the log whose head `scan` found.
    pub(crate) fn open(
        dir: &Path,
        secret: &aws_lc_rs::hmac::Key,
        scan: &Scan,
    ) -> Result<(Index, IndexStart), AuditError> {
        let loaded = index_file::load(dir, secret, scan)?;
        let s = &loaded.start;
        tracing::info!(
            dir = %dir.display(),
            rebuilt = s.rebuilt.is_some(),
            files_read = s.files_read,
            records_read = s.records_read,
            dropped = s.dropped,
            "audit accesses index ready"
        );
        let mut map: HashMap<String, Vec<Pos>> = HashMap::new();
        for e in loaded.entries {
            map.entry(e.person).or_default().push(e.tip.pos);
        }
        let index = Index {
            map: Mutex::new(map),
            disk: Mutex::new(loaded.disk),
        };
        Ok((index, loaded.start))
    }

    /// Remembers records just committed (in memory and in the file) and, every `every`
    /// records, marks how far the log is indexed. Called under the writer's lock, so the
    /// lines follow the records' order.
    pub(crate) fn add(&self, entries: Vec<Entry>, tip: Option<&Tip>, every: u64) {
        {
            let mut map = lock(&self.map);
            for e in &entries {
                map.entry(e.person.clone()).or_default().push(e.tip.pos);
            }
        }
        let mut disk = lock(&self.disk);
        let mark = tip.filter(|t| t.seq >= disk.covered.saturating_add(every.max(1)));
        if !entries.is_empty() || mark.is_some() {
            // A failure is logged and stops the file; the next start catches up from the log.
            let _ = disk.append(&entries, mark, false);
        }
    }

    /// Marks the head as indexed and syncs the file (at shutdown).
    pub(crate) fn mark(&self, tip: &Tip) {
        let mut disk = lock(&self.disk);
        let mark = (tip.seq > disk.covered).then_some(tip);
        let _ = disk.append(&[], mark, true);
    }

    /// The person's `account-query` records, oldest first. A position whose line no longer
    /// holds an intact record of this person (the file was changed behind the gateway's
    /// back) is an error, not silently skipped.
    pub(crate) fn read(&self, dir: &Path, person: &str) -> Result<Vec<Record>, AuditError> {
        let positions = lock(&self.map).get(person).cloned().unwrap_or_default();
        read_at(dir, person, positions)
    }
}

/// The records at `positions` of the log in `dir`, each checked to be an intact
/// `account-query` record of `person` (also what [`super::peers`] serves from).
pub(crate) fn read_at(
    dir: &Path,
    person: &str,
    positions: Vec<Pos>,
) -> Result<Vec<Record>, AuditError> {
    let mut out = Vec::with_capacity(positions.len());
    let mut open: Option<(u32, std::fs::File)> = None;
    for pos in positions {
        let path = file_name(dir, pos.file);
        if open.as_ref().is_none_or(|(i, _)| *i != pos.file) {
            let f =
                std::fs::File::open(&path).map_err(|e| AuditError::io(&path, "cannot open", &e))?;
            open = Some((pos.file, f));
        }
        let Some((_, file)) = open.as_mut() else {
            continue;
        };
        let mut buf = vec![0u8; pos.len as usize];
        file.seek(SeekFrom::Start(pos.offset))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| AuditError::io(&path, "cannot read an indexed record", &e))?;
        let line = String::from_utf8(buf)
            .map_err(|_| AuditError::damaged(&path, "an indexed record is not UTF-8"))?;
        let (record, _) = open_line(&line).map_err(|m| {
            AuditError::damaged(&path, format!("record at byte {}: {m}", pos.offset))
        })?;
        if record.event.kind != Kind::AccountQuery || record.event.person.as_deref() != Some(person)
        {
            return Err(AuditError::damaged(
                &path,
                format!("record at byte {} is not the one indexed", pos.offset),
            ));
        }
        out.push(record);
    }
    Ok(out)
}
