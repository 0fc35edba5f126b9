//! Rollback: the version live before the current one comes back from the history.

use super::{HISTORY, Inner, Intent, Meta, Store, StoreError, current, files};
use crate::model::OfficeId;

impl Store {
    /// Restores the version that was live before the current one from the folder's
    /// history, as a new version.
    pub(super) fn rollback_files(
        &self,
        inner: &mut Inner,
        office: OfficeId,
        by: &str,
        intent: Intent<'_>,
    ) -> Result<Meta, StoreError> {
        let now = current(inner, office);
        let history = self.dir.join(HISTORY).join(office.to_string());
        let previous = files::history_versions(&history)
            .into_iter()
            .rev()
            .find(|v| *v < now)
            .ok_or(StoreError::NoHistory(office))?;
        let path = history.join(format!("{previous}.toml"));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        let def = files::parse_def(&text)
            .map_err(|e| StoreError::Invalid(format!("version {previous}: {e}")))?;
        let adapter = self
            .validate(office, &def)
            .map_err(|e| StoreError::Invalid(format!("version {previous}: {e}")))?;
        let meta = Meta::next(now + 1, by);
        let text = files::render(&def, &meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
        intent(&meta)?;
        self.commit(inner, adapter, def, meta.clone(), text)?;
        tracing::info!(%office, restored = previous, version = meta.version, "adapter rolled back");
        Ok(meta)
    }
}
