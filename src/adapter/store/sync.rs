//! Hand edits of the adapters folder: what the watcher hands over when a file changed.

use super::{Meta, Publish, Store, current, files, parse_entry, toml_files};
use crate::model::OfficeId;

impl Store {
    /// Re-reads the folder after a change on disk: a valid edited file becomes the next
    /// version (the file gets the managed header), a removed file a tombstone; an invalid
    /// file is logged and its last good definition kept. Publishes when anything changed.
    /// A registry shared in PostgreSQL is not the folder's: nothing happens.
    pub fn sync_from_disk(&self, target: &dyn Publish) -> bool {
        if self.is_shared() {
            return false;
        }
        let mut inner = self.lock();
        let paths = match toml_files(&self.dir) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read the adapters folder; keeping the registry");
                return false;
            }
        };
        let mut changed = false;
        let mut present = Vec::new();
        for path in paths {
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let office = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<OfficeId>().ok());
            if let Some(o) = office {
                present.push(o);
                if inner.entries.get(&o).is_some_and(|e| e.text == text) {
                    continue;
                }
            }
            match parse_entry(&path, &text, &self.mappings, &self.policy) {
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "adapter file refused; keeping the last good definition")
                }
                Ok(entry) => {
                    let office = entry.adapter.office;
                    let now = current(&inner, office);
                    let (meta, text) = match files::parse_meta(&text) {
                        Some(m) if m.version > now => (m, text),
                        _ => {
                            let meta = Meta::next(now + 1, "file");
                            let text = files::with_header(&meta, &text);
                            (meta, text)
                        }
                    };
                    tracing::info!(%office, version = meta.version, "adapter file changed on disk");
                    match self.commit(
                        &mut inner,
                        entry.adapter.as_ref().clone(),
                        entry.def,
                        meta,
                        text,
                    ) {
                        Ok(()) => changed = true,
                        Err(e) => {
                            tracing::warn!(%office, error = %e, "cannot adopt the edited adapter file")
                        }
                    }
                }
            }
        }
        let removed: Vec<OfficeId> = inner
            .entries
            .keys()
            .filter(|o| !present.contains(o))
            .copied()
            .collect();
        for office in removed {
            let meta = Meta::next(current(&inner, office) + 1, "file");
            tracing::info!(%office, version = meta.version, "adapter file removed: office deregistered");
            match self.tombstone(&mut inner, office, &meta) {
                Ok(()) => changed = true,
                Err(e) => tracing::warn!(%office, error = %e, "cannot record the removal"),
            }
        }
        drop(inner);
        if changed {
            self.publish(target);
        }
        changed
    }
}
