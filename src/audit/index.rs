//! The accesses index: person hash → positions of that person's `account-query` records.
//! Built from the files at start, grown by every append; the listing reads only the lines
//! it points at (and checks each one's hash) instead of scanning the whole folder.
//!
//! Invariant: the index holds keyed hashes and byte positions only, never an AHV number.
//! It lives in memory (about 100 bytes per indexed record) and is rebuilt at every start.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use super::chain::{Pos, Scan, file_name, open_line};
use super::{AuditError, Kind, Record, lock};

/// Person hash → positions, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Index {
    map: Mutex<HashMap<String, Vec<Pos>>>,
}

impl Index {
    /// The index of what the start-up scan found.
    pub(crate) fn from_scan(scan: &Scan) -> Index {
        let mut map: HashMap<String, Vec<Pos>> = HashMap::new();
        for (person, pos) in &scan.accesses {
            map.entry(person.clone()).or_default().push(*pos);
        }
        Index {
            map: Mutex::new(map),
        }
    }

    /// Remembers a record just written.
    pub(crate) fn add(&self, person: &str, pos: Pos) {
        lock(&self.map)
            .entry(person.to_owned())
            .or_default()
            .push(pos);
    }

    /// The person's `account-query` records, oldest first. A position whose line no longer
    /// holds an intact record of this person (the file was changed behind the gateway's
    /// back) is an error, not silently skipped.
    pub(crate) fn read(&self, dir: &Path, person: &str) -> Result<Vec<Record>, AuditError> {
        let positions = lock(&self.map).get(person).cloned().unwrap_or_default();
        let mut out = Vec::with_capacity(positions.len());
        let mut open: Option<(u32, std::fs::File)> = None;
        for pos in positions {
            let path = file_name(dir, pos.file);
            if open.as_ref().is_none_or(|(i, _)| *i != pos.file) {
                let f = std::fs::File::open(&path)
                    .map_err(|e| AuditError::io(&path, "cannot open", &e))?;
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
            if record.event.kind != Kind::AccountQuery
                || record.event.person.as_deref() != Some(person)
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
}
