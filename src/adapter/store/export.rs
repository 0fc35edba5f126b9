//! A folder registry as rows for PostgreSQL (`guichet store import`, and the seeding of
//! an empty shared registry): each office's live definition or tombstone, and every
//! version kept in `.history/<office>/`. Errors name the file.

use super::{HISTORY, Meta, Store, files};
use crate::adapter::AdapterError;
use crate::model::OfficeId;
use crate::store::{HistoryRow, ImportedOffice, history_of};

impl Store {
    /// Every office of the folder (definitions already validated at open), with its
    /// history, by office. A definition without the managed header gets one (version 1,
    /// the file's time), as the folder registry shows it.
    pub fn export(&self) -> Result<Vec<ImportedOffice>, AdapterError> {
        let inner = self.lock();
        let mut out = Vec::new();
        for (office, e) in &inner.entries {
            let text = match files::parse_meta(&e.text) {
                Some(_) => e.text.clone(),
                None => files::with_header(&e.meta, &e.text),
            };
            out.push(self.office_rows(*office, &e.meta, &e.adapter.name, Some(text))?);
        }
        for (office, stone) in &inner.tombstones {
            out.push(self.office_rows(*office, &stone.meta(), &stone.name, None)?);
        }
        out.sort_by(|a, b| a.row.office.cmp(&b.row.office));
        Ok(out)
    }

    fn office_rows(
        &self,
        office: OfficeId,
        meta: &Meta,
        name: &str,
        definition: Option<String>,
    ) -> Result<ImportedOffice, AdapterError> {
        let row = super::pg::row(office, meta, name, definition);
        let mut history = self.history_files(office, meta.version)?;
        history.push(history_of(&row));
        Ok(ImportedOffice { row, history })
    }

    /// The versions kept in `.history/<office>/`, each checked to be an adapter definition
    /// older than the live version.
    fn history_files(&self, office: OfficeId, live: u64) -> Result<Vec<HistoryRow>, AdapterError> {
        let folder = self.dir.join(HISTORY).join(office.to_string());
        let mut rows = Vec::new();
        for version in files::history_versions(&folder) {
            let path = folder.join(format!("{version}.toml"));
            let err = |message: String| AdapterError {
                file: path.clone(),
                message,
            };
            if version >= live {
                return Err(err(format!(
                    "version {version} in the history is not older than the live version {live}"
                )));
            }
            let text =
                std::fs::read_to_string(&path).map_err(|e| err(format!("cannot read: {e}")))?;
            files::parse_def(&text).map_err(|e| err(e.to_string()))?;
            let meta = files::parse_meta(&text);
            rows.push(HistoryRow {
                version,
                changed_at: meta
                    .as_ref()
                    .map(|m| m.changed_at.clone())
                    .unwrap_or_else(|| files::modified(&path)),
                changed_by: meta.map_or_else(|| "file".to_owned(), |m| m.changed_by),
                definition: Some(text),
            });
        }
        Ok(rows)
    }
}
