//! The registry on PostgreSQL, shared by replicas: opening (seeding an empty registry from
//! the adapters folder once, under the import lock), a change as one transaction guarded
//! by the version read (the audit intent before the write, a notice to every replica at
//! commit), and the re-read a notice or the periodic safety net asks for.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::change::{Change, Op};
use super::{
    AdapterDef, AdapterError, Adopted, Backend, EndpointPolicy, Entry, Inner, Meta, Publish, Store,
    StoreError, Tombstone, adopt, files, validate,
};
use crate::mapping::MappingSet;
use crate::model::OfficeId;
use crate::store::{RegistryRow, Store as Db};

/// The shared registry: the database, the runtime its calls block on, and the notice
/// (channel, payload) that tells every replica to re-read.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) db: Arc<Db>,
    runtime: tokio::runtime::Handle,
    notice: Option<(String, String)>,
}

impl Shared {
    fn notice(&self) -> Option<(&str, &str)> {
        self.notice.as_ref().map(|(c, p)| (c.as_str(), p.as_str()))
    }
}

impl Store {
    /// Opens the registry kept in PostgreSQL `db`. An empty registry is first seeded from
    /// the adapters folder `dir` (its definitions, `.history/` and tombstones), once: under
    /// the import lock, replicas starting together import it one time. A registry that has
    /// rows is the truth and the folder is not read. `notice` (channel, payload) is sent
    /// at every change. Must run inside a Tokio runtime.
    pub async fn open_shared(
        dir: &Path,
        mappings: MappingSet,
        policy: EndpointPolicy,
        db: Arc<Db>,
        notice: Option<(String, String)>,
    ) -> Result<Store, AdapterError> {
        let place = PathBuf::from(format!("registry in {} (PostgreSQL)", db.location()));
        let failed = |e: crate::store::StoreError| AdapterError {
            file: place.clone(),
            message: e.to_string(),
        };
        let mut rows = db.registry_rows().await.map_err(failed)?;
        if rows.is_empty() {
            let folder = Store::open_with_policy(dir, mappings.clone(), policy.clone())?;
            let offices = folder.export()?;
            if db.registry_seed(&offices).await.map_err(failed)? {
                tracing::info!(folder = %dir.display(), offices = offices.len(), "the PostgreSQL adapter registry was empty: imported the adapters folder");
            }
            rows = db.registry_rows().await.map_err(failed)?;
        } else {
            tracing::info!(offices = rows.len(), folder = %dir.display(), "adapter registry read from PostgreSQL; the adapters folder is not used");
        }
        let mut inner = Inner::default();
        for row in &rows {
            let refused = |message: String| AdapterError {
                file: place.clone(),
                message: format!("office {} version {}: {message}", row.office, row.version),
            };
            let office = row
                .office
                .parse::<OfficeId>()
                .map_err(|e| refused(e.to_string()))?;
            adopt(
                &mut inner,
                office,
                adopted(&mappings, &policy, office, row).map_err(refused)?,
            );
        }
        if inner.entries.is_empty() {
            return Err(AdapterError {
                file: place,
                message: "no live adapter in the registry".into(),
            });
        }
        let shared = Shared {
            db,
            runtime: tokio::runtime::Handle::current(),
            notice,
        };
        Ok(Store::new(
            dir,
            mappings,
            policy,
            Backend::Postgres(shared),
            inner,
        ))
    }

    /// Re-reads the shared registry and publishes it when an office has a newer version
    /// (a notice from a replica, or the periodic safety net). A row that no longer
    /// validates is logged and the office's last good definition kept. The folder
    /// backend has nothing to re-read (`false`).
    pub async fn reload(&self, target: &dyn Publish) -> bool {
        let Backend::Postgres(shared) = &self.backend else {
            return false;
        };
        let rows = match shared.db.registry_rows().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-read the adapter registry; keeping the current one");
                return false;
            }
        };
        let mut changed = false;
        {
            let mut inner = self.lock();
            for row in &rows {
                let Ok(office) = row.office.parse::<OfficeId>() else {
                    tracing::warn!(office = %row.office, "registry row of an invalid office id ignored");
                    continue;
                };
                if row.version <= super::current(&inner, office) {
                    continue;
                }
                match adopted(&self.mappings, &self.policy, office, row) {
                    Ok(a) => {
                        tracing::info!(%office, version = row.version, "adapter changed by a replica");
                        changed |= adopt(&mut inner, office, a);
                    }
                    Err(e) => {
                        tracing::warn!(%office, version = row.version, error = %e, "registry row refused; keeping the last good definition")
                    }
                }
            }
        }
        if changed {
            self.publish(target);
        }
        changed
    }

    /// One change as one transaction (see the module's documentation).
    pub(super) fn change_shared(
        &self,
        shared: &Shared,
        change: Change<'_>,
    ) -> Result<Meta, StoreError> {
        let office = change.office;
        let (meta, state) = shared.runtime.block_on(self.transact(shared, change))?;
        adopt(&mut self.lock(), office, state);
        Ok(meta)
    }

    async fn transact(
        &self,
        shared: &Shared,
        change: Change<'_>,
    ) -> Result<(Meta, Adopted), StoreError> {
        let Change {
            office,
            op,
            expected,
            by,
            intent,
        } = change;
        let database = |e: crate::store::StoreError| StoreError::Database(e.to_string());
        let mut tx = shared
            .db
            .registry_begin(&office.to_string())
            .await
            .map_err(database)?;
        let now = tx.current();
        let live = tx.live_name().map(str::to_owned);
        if matches!(op, Op::Delete) && live.is_none() {
            return Err(StoreError::NotFound(office));
        }
        if let Some(expected) = expected
            && expected != now
        {
            return Err(StoreError::Conflict {
                office,
                current: now,
                expected,
            });
        }
        let meta = Meta::next(now + 1, by);
        let state = match op {
            Op::Put(adapter, def) => self.live(*adapter, *def, &meta)?,
            Op::Delete => Adopted::Deleted(Tombstone {
                name: live.unwrap_or_default(),
                version: meta.version,
                changed_at: meta.changed_at.clone(),
                changed_by: meta.changed_by.clone(),
            }),
            Op::Rollback => {
                let (previous, text) = tx
                    .previous(now)
                    .await
                    .map_err(database)?
                    .ok_or(StoreError::NoHistory(office))?;
                let invalid = |e: String| StoreError::Invalid(format!("version {previous}: {e}"));
                let def = files::parse_def(&text).map_err(|e| invalid(e.to_string()))?;
                let adapter = self
                    .validate(office, &def)
                    .map_err(|e| invalid(e.to_string()))?;
                tracing::info!(%office, restored = previous, version = meta.version, "adapter rolled back");
                self.live(adapter, def, &meta)?
            }
        };
        let row = match &state {
            Adopted::Live(e) => row(office, &meta, &e.adapter.name, Some(e.text.clone())),
            Adopted::Deleted(t) => row(office, &meta, &t.name, None),
        };
        intent(&meta)?;
        if !tx.write(&row, shared.notice()).await.map_err(database)? {
            return Err(StoreError::Conflict {
                office,
                current: now + 1,
                expected: now,
            });
        }
        tracing::info!(%office, version = meta.version, by = %meta.changed_by, deleted = row.definition.is_none(), "adapter registry changed");
        Ok((meta, state))
    }

    fn live(
        &self,
        adapter: super::Adapter,
        def: AdapterDef,
        meta: &Meta,
    ) -> Result<Adopted, StoreError> {
        let text = files::render(&def, meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(Adopted::Live(Box::new(Entry {
            def,
            adapter: Arc::new(adapter),
            meta: meta.clone(),
            text,
        })))
    }
}

/// The registry row of `office` at `meta`.
pub(super) fn row(
    office: OfficeId,
    meta: &Meta,
    name: &str,
    definition: Option<String>,
) -> RegistryRow {
    RegistryRow {
        office: office.to_string(),
        version: meta.version,
        name: name.to_owned(),
        definition,
        changed_at: meta.changed_at.clone(),
        changed_by: meta.changed_by.clone(),
    }
}

/// A registry row as the store keeps it: a validated live definition, or a tombstone.
fn adopted(
    mappings: &MappingSet,
    policy: &EndpointPolicy,
    office: OfficeId,
    row: &RegistryRow,
) -> Result<Adopted, String> {
    let meta = Meta {
        version: row.version,
        changed_at: row.changed_at.clone(),
        changed_by: row.changed_by.clone(),
    };
    let Some(text) = &row.definition else {
        return Ok(Adopted::Deleted(Tombstone {
            name: row.name.clone(),
            version: meta.version,
            changed_at: meta.changed_at,
            changed_by: meta.changed_by,
        }));
    };
    let def = files::parse_def(text).map_err(|e| e.to_string())?;
    let adapter = validate(mappings, policy, office, &def).map_err(|e| e.to_string())?;
    Ok(Adopted::Live(Box::new(Entry {
        def,
        adapter: Arc::new(adapter),
        meta,
        text: text.clone(),
    })))
}
