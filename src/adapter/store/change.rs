//! A change of one office — a new definition, a deletion, a rollback — on either
//! backend, and the folder backend's writes (the file, its history, the tombstone).

use std::sync::Arc;

use super::{
    Backend, Entry, HISTORY, Inner, Intent, Meta, Publish, Store, StoreError, TOMBSTONE, Tombstone,
    check, current, files,
};
use crate::adapter::{Adapter, AdapterDef};
use crate::model::OfficeId;

/// A change of one office, whichever the backend.
#[derive(Debug)]
pub(super) enum Op {
    /// A validated definition as the next version.
    Put(Box<Adapter>, Box<AdapterDef>),
    /// Deregistration (a tombstone).
    Delete,
    /// The previous version, as a new one.
    Rollback,
}

/// One change as the API asked for it: the office, what, the version it was made against,
/// who, and the audit intent recorded before anything is written.
pub(super) struct Change<'a> {
    pub(super) office: OfficeId,
    pub(super) op: Op,
    pub(super) expected: Option<u64>,
    pub(super) by: &'a str,
    pub(super) intent: Intent<'a>,
}

impl Store {
    /// Writes a validated definition as the next version, keeps the previous one in the
    /// history, and publishes the new registry.
    pub fn put(
        &self,
        adapter: Adapter,
        def: AdapterDef,
        expected: Option<u64>,
        by: &str,
        target: &dyn Publish,
        intent: Intent<'_>,
    ) -> Result<Meta, StoreError> {
        let office = adapter.office;
        let op = Op::Put(Box::new(adapter), Box::new(def));
        self.change(office, op, expected, by, intent, target)
    }

    /// Deletes an adapter: the file goes to the history, a tombstone keeps the office in
    /// answers as `unavailable` ("deregistered").
    pub fn delete(
        &self,
        office: OfficeId,
        expected: Option<u64>,
        by: &str,
        target: &dyn Publish,
        intent: Intent<'_>,
    ) -> Result<Meta, StoreError> {
        self.change(office, Op::Delete, expected, by, intent, target)
    }

    /// Restores the version that was live before the current one, as a new version.
    pub fn rollback(
        &self,
        office: OfficeId,
        by: &str,
        target: &dyn Publish,
        intent: Intent<'_>,
    ) -> Result<Meta, StoreError> {
        self.change(office, Op::Rollback, None, by, intent, target)
    }

    /// One change on the backend, then the new registry. With PostgreSQL this blocks on
    /// the database: call it from a blocking thread (`spawn_blocking`), as the API does.
    fn change(
        &self,
        office: OfficeId,
        op: Op,
        expected: Option<u64>,
        by: &str,
        intent: Intent<'_>,
        target: &dyn Publish,
    ) -> Result<Meta, StoreError> {
        let change = Change {
            office,
            op,
            expected,
            by,
            intent,
        };
        let meta = match &self.backend {
            Backend::Files => self.change_files(change)?,
            Backend::Postgres(shared) => self.change_shared(shared, change)?,
        };
        self.publish(target);
        Ok(meta)
    }

    fn change_files(&self, change: Change<'_>) -> Result<Meta, StoreError> {
        let (office, op, by, intent) = (change.office, change.op, change.by, change.intent);
        let mut inner = self.lock();
        if matches!(op, Op::Rollback) {
            return self.rollback_files(&mut inner, office, by, intent);
        }
        if matches!(op, Op::Delete) && !inner.entries.contains_key(&office) {
            return Err(StoreError::NotFound(office));
        }
        check(&inner, office, change.expected)?;
        let meta = Meta::next(current(&inner, office) + 1, by);
        match op {
            Op::Put(adapter, def) => {
                let text =
                    files::render(&def, &meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
                intent(&meta)?;
                self.commit(&mut inner, *adapter, *def, meta.clone(), text)?;
            }
            _ => {
                intent(&meta)?;
                self.tombstone(&mut inner, office, &meta)?;
            }
        }
        Ok(meta)
    }

    pub(super) fn commit(
        &self,
        inner: &mut Inner,
        adapter: Adapter,
        def: AdapterDef,
        meta: Meta,
        text: String,
    ) -> Result<(), StoreError> {
        let office = adapter.office;
        let io = |e: std::io::Error| StoreError::Io(e.to_string());
        let history = self.dir.join(HISTORY).join(office.to_string());
        if let Some(old) = inner.entries.get(&office) {
            files::write_atomic(
                &history.join(format!("{}.toml", old.meta.version)),
                &old.text,
                false,
            )
            .map_err(io)?;
        }
        let crash = inner.crash_before_rename == Some(office);
        if crash {
            inner.crash_before_rename = None;
        }
        files::write_atomic(&self.dir.join(format!("{office}.toml")), &text, crash).map_err(io)?;
        if inner.tombstones.remove(&office).is_some() {
            let _ = files::remove(&history.join(TOMBSTONE));
        }
        tracing::info!(%office, version = meta.version, by = %meta.changed_by, "adapter written");
        inner.entries.insert(
            office,
            Entry {
                def,
                adapter: Arc::new(adapter),
                meta,
                text,
            },
        );
        Ok(())
    }

    pub(super) fn tombstone(
        &self,
        inner: &mut Inner,
        office: OfficeId,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let io = |e: std::io::Error| StoreError::Io(e.to_string());
        let Some(old) = inner.entries.get(&office) else {
            return Err(StoreError::NotFound(office));
        };
        let history = self.dir.join(HISTORY).join(office.to_string());
        files::write_atomic(
            &history.join(format!("{}.toml", old.meta.version)),
            &old.text,
            false,
        )
        .map_err(io)?;
        let stone = Tombstone {
            name: old.adapter.name.clone(),
            version: meta.version,
            changed_at: meta.changed_at.clone(),
            changed_by: meta.changed_by.clone(),
        };
        let text = toml::to_string(&stone).map_err(|e| StoreError::Io(e.to_string()))?;
        files::write_atomic(&history.join(TOMBSTONE), &text, false).map_err(io)?;
        let file = self.dir.join(format!("{office}.toml"));
        if file.exists() {
            files::remove(&file).map_err(io)?;
        }
        inner.entries.remove(&office);
        inner.tombstones.insert(office, stone);
        tracing::info!(%office, version = meta.version, by = %meta.changed_by, "adapter deleted");
        Ok(())
    }
}
