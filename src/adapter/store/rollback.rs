//! Rollback: the version live before the current one comes back from the history.

use super::{HISTORY, Intent, Meta, Publish, Store, StoreError, current, files};
use crate::model::OfficeId;

impl Store {
    /// Restores the version that was live before the current one, as a new version.
    pub fn rollback(
        &self,
        office: OfficeId,
        by: &str,
        target: &dyn Publish,
        intent: Intent<'_>,
    ) -> Result<Meta, StoreError> {
        let mut inner = self.lock();
        let now = current(&inner, office);
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
        self.commit(&mut inner, adapter, def, meta.clone(), text)?;
        drop(inner);
        tracing::info!(%office, restored = previous, version = meta.version, "adapter rolled back");
        self.publish(target);
        Ok(meta)
    }
}
