//! An office's version history from whichever backend keeps the registry: the folder's
//! `.history/<office>/` with the live file and the tombstone, or PostgreSQL's
//! `adapter_history`. What the console's office page shows, for both backends alike.

use std::path::Path;

use super::{Backend, HISTORY, Store, StoreError, files};
use crate::model::OfficeId;
use crate::store::HistoryRow;

impl Store {
    /// Every kept version of `office`, ascending, the live one (or its deletion: no
    /// definition) last. Empty for an office never registered.
    pub async fn history(&self, office: OfficeId) -> Result<Vec<HistoryRow>, StoreError> {
        match &self.backend {
            Backend::Postgres(shared) => shared
                .db
                .registry_history(&office.to_string())
                .await
                .map_err(|e| StoreError::Database(e.to_string())),
            Backend::Files => Ok(self.folder_history(office)),
        }
    }

    /// The folder's versions of `office`; a file that cannot be read is left out.
    fn folder_history(&self, office: OfficeId) -> Vec<HistoryRow> {
        let folder = self.dir.join(HISTORY).join(office.to_string());
        let mut rows: Vec<HistoryRow> = files::history_versions(&folder)
            .into_iter()
            .filter_map(|v| kept(&folder.join(format!("{v}.toml")), v).ok())
            .collect();
        let inner = self.lock();
        let (meta, definition) = match (inner.entries.get(&office), inner.tombstones.get(&office)) {
            (Some(e), _) => (e.meta.clone(), Some(e.text.clone())),
            (None, Some(t)) => (t.meta(), None),
            (None, None) => return rows,
        };
        rows.retain(|r| r.version < meta.version);
        rows.push(HistoryRow {
            version: meta.version,
            definition,
            changed_at: meta.changed_at,
            changed_by: meta.changed_by,
        });
        rows
    }
}

/// Version `version` kept at `path`: its text, and when and by whom from its managed
/// header (the file's time and `file` without one).
pub(super) fn kept(path: &Path, version: u64) -> std::io::Result<HistoryRow> {
    let text = std::fs::read_to_string(path)?;
    let meta = files::parse_meta(&text);
    Ok(HistoryRow {
        version,
        changed_at: meta
            .as_ref()
            .map(|m| m.changed_at.clone())
            .unwrap_or_else(|| files::modified(path)),
        changed_by: meta.map_or_else(|| "file".to_owned(), |m| m.changed_by),
        definition: Some(text),
    })
}
