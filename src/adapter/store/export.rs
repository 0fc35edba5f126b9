//! A folder registry as rows for PostgreSQL (`guichet store import`, and the seeding of
//! an empty shared registry): each office's live definition or tombstone, and every
//! version kept in `.history/<office>/`. Errors name the file.

use super::{HISTORY, Meta, Store, files};
use crate::adapter::AdapterError;
use crate::model::OfficeId;
use crate::store::{HistoryRow, ImportedOffice, RegistryRow, history_of};

/// Who an import's new versions are by.
pub const IMPORTED_BY: &str = "store import";

/// `guichet store import --replace`: the imported row as the next version of the `live`
/// one (managed header restamped, by [`IMPORTED_BY`], now), or `None` when both hold the
/// same definition (compared as parsed, so layout and header do not count) or are both
/// deletions of the same name.
pub fn replacement(imported: &RegistryRow, live: &RegistryRow) -> Option<RegistryRow> {
    let same = imported.name == live.name
        && imported.definition.as_deref().map(canonical)
            == live.definition.as_deref().map(canonical);
    if same {
        return None;
    }
    let meta = Meta::next(live.version + 1, IMPORTED_BY);
    Some(RegistryRow {
        office: live.office.clone(),
        version: meta.version,
        name: imported.name.clone(),
        definition: imported
            .definition
            .as_deref()
            .map(|text| files::with_header(&meta, text)),
        changed_at: meta.changed_at,
        changed_by: meta.changed_by,
    })
}

/// A definition's text without layout: the parsed definition rendered again (the text
/// without its header when it does not parse).
fn canonical(text: &str) -> String {
    files::parse_def(text)
        .ok()
        .and_then(|def| toml::to_string(&def).ok())
        .unwrap_or_else(|| {
            let none = Meta {
                version: 0,
                changed_at: String::new(),
                changed_by: String::new(),
            };
            files::with_header(&none, text)
        })
}

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
            let row = super::history::kept(&path, version)
                .map_err(|e| err(format!("cannot read: {e}")))?;
            if let Some(text) = &row.definition {
                files::parse_def(text).map_err(|e| err(e.to_string()))?;
            }
            rows.push(row);
        }
        Ok(rows)
    }
}
