//! Access counts for the operator's console: how many account queries each portal made
//! for each purpose, read from the log files. Only the actor and the purpose are
//! counted — never the person (the keyed hash is not even kept while counting). A line
//! that does not read as a record is skipped here; `verify` is what reports it.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::Path;

use super::{ActorRole, AuditError, Kind, Record, log_files};

/// `(portal, purpose)` → account queries recorded, over every log file of `dir`.
pub fn access_counts(dir: &Path) -> Result<BTreeMap<(String, String), u64>, AuditError> {
    let mut counts = BTreeMap::new();
    for (_, file) in log_files(dir)? {
        let f = std::fs::File::open(&file)
            .map_err(|e| AuditError::io(&file, "cannot open the log file", &e))?;
        for line in std::io::BufReader::new(f).lines() {
            let line = line.map_err(|e| AuditError::io(&file, "cannot read the log file", &e))?;
            let Ok(record) = serde_json::from_str::<Record>(&line) else {
                continue;
            };
            let e = record.event;
            if e.kind == Kind::AccountQuery && e.actor.role == ActorRole::Portal {
                let purpose = e.purpose.unwrap_or_default();
                *counts.entry((e.actor.name, purpose)).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}
