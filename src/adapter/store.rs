//! The adapter store: the adapters folder as the source of truth for the live registry.
//! Start-up, API changes, rollbacks and hand edits all end in [`Store::publish`], which
//! builds one new [`Registry`] snapshot and hands it to the fan-out.
//!
//! Changes are serialized (one lock for the folder, and one async lock per office that the
//! API holds across its conformance probe); versions only grow; every replaced or deleted
//! definition is kept in `adapters/.history/<office>/<version>.toml`.
//!
//! Where the registry is kept is the one seam ([`Backend`]): the adapters folder (one
//! machine, the default) or PostgreSQL shared by replicas ([`Store::open_shared`], see
//! `pg.rs`). Validation, versions and the audit intent are the same for both.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::files::{self, HISTORY, Meta, TOMBSTONE, Tombstone};
use super::{Adapter, AdapterDef, AdapterError, DefError, EndpointPolicy, Registry};
use crate::locks;
use crate::mapping::MappingSet;
use crate::model::OfficeId;

mod change;
mod export;
mod history;
mod pg;
mod read;
mod rollback;
mod sync;

pub use export::{IMPORTED_BY, replacement};

use read::{parse_entry, toml_files};

/// Where a new registry snapshot goes (the fan-out engine of the gateway).
pub trait Publish: Send + Sync {
    /// Replaces the live registry.
    fn publish(&self, registry: Registry);
}

/// Called with the version about to be written, before any file changes: an administrative
/// change is recorded before it is applied, and an error refuses it
/// ([`StoreError::NotRecorded`]) with files and registry untouched.
pub type Intent<'a> = &'a dyn Fn(&Meta) -> Result<(), crate::audit::AuditError>;

/// Why a change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The caller's version is not the current one.
    #[error(
        "office {office} is at version {current}, the change was made against version {expected}"
    )]
    Conflict {
        /// The office.
        office: OfficeId,
        /// Its current version.
        current: u64,
        /// The version the caller saw.
        expected: u64,
    },
    /// No adapter for this office.
    #[error("office {0} has no adapter")]
    NotFound(OfficeId),
    /// Nothing in the history to roll back to.
    #[error("office {0} has no previous version in the history")]
    NoHistory(OfficeId),
    /// The definition is not valid (names the field).
    #[error("{0}")]
    Invalid(String),
    /// Writing the folder failed; the live registry is unchanged.
    #[error("cannot write the adapters folder: {0}")]
    Io(String),
    /// The shared registry in PostgreSQL could not be read or written; nothing changed.
    #[error("cannot write the adapter registry in PostgreSQL: {0}")]
    Database(String),
    /// The audit record of the change could not be written, so nothing was changed.
    #[error("the change was not applied: {0}")]
    NotRecorded(#[from] crate::audit::AuditError),
}

/// One office as the store knows it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The office.
    pub office: OfficeId,
    /// Display name.
    pub name: String,
    /// Version, time and author of the last change.
    pub meta: Meta,
    /// The definition, `None` when deleted.
    pub def: Option<AdapterDef>,
}

#[derive(Debug, Clone)]
struct Entry {
    def: AdapterDef,
    adapter: Arc<Adapter>,
    meta: Meta,
    text: String,
}

/// What an office is after a change: a live definition or a tombstone.
#[derive(Debug)]
enum Adopted {
    Live(Box<Entry>),
    Deleted(Tombstone),
}

/// Where the registry is kept.
#[derive(Debug)]
enum Backend {
    /// The adapters folder is the source of truth (one machine).
    Files,
    /// PostgreSQL, shared by every replica (the folder only seeds an empty registry).
    Postgres(pg::Shared),
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<OfficeId, Entry>,
    tombstones: BTreeMap<OfficeId, Tombstone>,
    crash_before_rename: Option<OfficeId>,
}

/// The adapters folder, its history and the definitions currently live.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    mappings: MappingSet,
    policy: EndpointPolicy,
    backend: Backend,
    inner: Mutex<Inner>,
    office_locks: Mutex<HashMap<OfficeId, Arc<tokio::sync::Mutex<()>>>>,
    /// Held from building a snapshot to handing it over: the last snapshot published is
    /// never older than the one before.
    publishing: Mutex<()>,
}

impl Store {
    /// Loads every `*.toml` of `dir` (the first invalid file refuses the start, naming it)
    /// and the tombstones of deleted adapters; removes temporary files of interrupted writes.
    pub fn open(dir: &Path, mappings: MappingSet) -> Result<Store, AdapterError> {
        Store::open_with_policy(dir, mappings, EndpointPolicy::permissive())
    }

    /// Like [`Store::open`], and every endpoint (in files at start, hand edits and API
    /// changes) must satisfy `policy`.
    pub fn open_with_policy(
        dir: &Path,
        mappings: MappingSet,
        policy: EndpointPolicy,
    ) -> Result<Store, AdapterError> {
        let err = |file: &Path, message: String| AdapterError {
            file: file.to_owned(),
            message,
        };
        let mut inner = Inner::default();
        for path in toml_files(dir).map_err(|e| err(dir, format!("cannot read the folder: {e}")))? {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| err(&path, format!("cannot read: {e}")))?;
            let entry = parse_entry(&path, &text, &mappings, &policy)
                .map_err(|e| err(&path, e.to_string()))?;
            inner.entries.insert(entry.adapter.office, entry);
        }
        if let Ok(offices) = std::fs::read_dir(dir.join(HISTORY)) {
            for office_dir in offices.filter_map(|e| e.ok()) {
                let path = office_dir.path().join(TOMBSTONE);
                let Ok(office) = office_dir.file_name().to_string_lossy().parse::<OfficeId>()
                else {
                    continue;
                };
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let stone: Tombstone = toml::from_str(&text)
                    .map_err(|e| err(&path, format!("tombstone: {}", e.message())))?;
                if !inner.entries.contains_key(&office) {
                    inner.tombstones.insert(office, stone);
                }
            }
        }
        if inner.entries.is_empty() {
            return Err(err(dir, "no adapter (*.toml) in this folder".into()));
        }
        Ok(Store::new(dir, mappings, policy, Backend::Files, inner))
    }

    fn new(
        dir: &Path,
        mappings: MappingSet,
        policy: EndpointPolicy,
        backend: Backend,
        inner: Inner,
    ) -> Store {
        Store {
            dir: dir.to_owned(),
            mappings,
            policy,
            backend,
            inner: Mutex::new(inner),
            office_locks: Mutex::new(HashMap::new()),
            publishing: Mutex::new(()),
        }
    }

    /// The adapters folder (with PostgreSQL: the folder an empty registry is seeded from).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the registry is PostgreSQL's, shared by replicas (the folder is then not
    /// watched).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The registry of what is live now (the one code path that builds snapshots).
    pub fn registry(&self) -> Registry {
        let inner = self.lock();
        Registry::from_parts(
            inner.entries.values().map(|e| Arc::clone(&e.adapter)),
            inner.tombstones.iter().map(|(o, t)| (*o, t.name.clone())),
        )
    }

    /// Builds the registry and hands it to `target`.
    pub fn publish(&self, target: &dyn Publish) {
        let _turn = locks::lock(&self.publishing);
        target.publish(self.registry());
    }

    /// Every office, with its definition or its tombstone.
    pub fn list(&self) -> Vec<Listed> {
        let inner = self.lock();
        let mut all: Vec<Listed> = inner
            .entries
            .iter()
            .map(|(o, e)| Listed {
                office: *o,
                name: e.adapter.name.clone(),
                meta: e.meta.clone(),
                def: Some(e.def.clone()),
            })
            .chain(inner.tombstones.iter().map(|(o, t)| Listed {
                office: *o,
                name: t.name.clone(),
                meta: t.meta(),
                def: None,
            }))
            .collect();
        all.sort_by_key(|l| l.office);
        all
    }

    /// One office.
    pub fn get(&self, office: OfficeId) -> Option<Listed> {
        self.list().into_iter().find(|l| l.office == office)
    }

    /// Validates a definition for `office` (schema and ranges); names the field.
    pub fn validate(&self, office: OfficeId, def: &AdapterDef) -> Result<Adapter, DefError> {
        validate(&self.mappings, &self.policy, office, def)
    }

    /// The lock an API change of `office` holds from its version check to its commit.
    pub fn office_lock(&self, office: OfficeId) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(locks::lock(&self.office_locks).entry(office).or_default())
    }

    /// Refuses a change made against another version than the current one. With the
    /// shared registry this replica may not know the newest version yet: only a version
    /// older than the one it knows is refused here (versions only grow); the change's
    /// transaction compares with the database.
    pub fn check_version(&self, office: OfficeId, expected: Option<u64>) -> Result<(), StoreError> {
        let inner = self.lock();
        match expected {
            Some(e) if self.is_shared() && e > current(&inner, office) => Ok(()),
            _ => check(&inner, office, expected),
        }
    }

    /// Test hook: the next write of `office`'s file stops right before the rename, as a
    /// crash there would.
    pub fn crash_before_rename(&self, office: Option<OfficeId>) {
        self.lock().crash_before_rename = office;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        locks::lock(&self.inner)
    }
}

/// Validates a definition for `office`: schema and ranges, endpoint policy, the office.
fn validate(
    mappings: &MappingSet,
    policy: &EndpointPolicy,
    office: OfficeId,
    def: &AdapterDef,
) -> Result<Adapter, DefError> {
    let adapter = Adapter::from_def(def, mappings)?;
    policy.check(&adapter.endpoint)?;
    if adapter.office != office {
        return Err(DefError::field(
            "office",
            format!(
                "{} does not match the office {office} of the path",
                adapter.office
            ),
        ));
    }
    Ok(adapter)
}

/// Takes `adopted` as `office`'s state unless the store already knows a version as new
/// (a notice and the writer's own update may arrive in either order; versions only grow).
fn adopt(inner: &mut Inner, office: OfficeId, adopted: Adopted) -> bool {
    let version = match &adopted {
        Adopted::Live(e) => e.meta.version,
        Adopted::Deleted(t) => t.version,
    };
    if version <= current(inner, office) {
        return false;
    }
    match adopted {
        Adopted::Live(entry) => {
            inner.tombstones.remove(&office);
            inner.entries.insert(office, *entry);
        }
        Adopted::Deleted(stone) => {
            inner.entries.remove(&office);
            inner.tombstones.insert(office, stone);
        }
    }
    true
}

fn current(inner: &Inner, office: OfficeId) -> u64 {
    inner
        .entries
        .get(&office)
        .map(|e| e.meta.version)
        .or_else(|| inner.tombstones.get(&office).map(|t| t.version))
        .unwrap_or(0)
}

fn check(inner: &Inner, office: OfficeId, expected: Option<u64>) -> Result<(), StoreError> {
    let now = current(inner, office);
    match expected {
        Some(expected) if expected != now => Err(StoreError::Conflict {
            office,
            current: now,
            expected,
        }),
        _ => Ok(()),
    }
}
