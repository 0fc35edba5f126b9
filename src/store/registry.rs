//! The adapter registry on PostgreSQL (`adapter_registry`, `adapter_history` of migration
//! 3): what several replicas share instead of each one's adapters folder. A change is one
//! transaction: the office's row locked, the caller's version compared, the new version
//! written to the history and to the registry (an UPDATE guarded by the version read), a
//! notice to the other replicas, commit. The adapter store (`crate::adapter::Store`)
//! validates definitions; this file only moves rows.

use sqlx::Row;
use sqlx::postgres::Postgres;

use super::{Store, StoreError, db};

mod import;

pub use import::Replacement;

/// One office's row: its live definition, or `None` once deleted (a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRow {
    /// The office id (`001.000`).
    pub office: String,
    /// Its version (every change adds one).
    pub version: u64,
    /// Display name (kept for a tombstone).
    pub name: String,
    /// The adapter file's text with its managed header; `None`: deleted.
    pub definition: Option<String>,
    /// RFC 3339 time of the change.
    pub changed_at: String,
    /// Who made it.
    pub changed_by: String,
}

/// One version ever written of an office (the live one included; `None`: a deletion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The version.
    pub version: u64,
    /// The text of that version; `None` for a deletion.
    pub definition: Option<String>,
    /// When.
    pub changed_at: String,
    /// By whom.
    pub changed_by: String,
}

/// One office as an import brings it: its row and every version of its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedOffice {
    /// The registry row.
    pub row: RegistryRow,
    /// Its history, ascending by version.
    pub history: Vec<HistoryRow>,
}

/// What an import did with one office.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Not in the database before: written.
    Added,
    /// Already there with the same content: nothing changed.
    Unchanged,
    /// There with other content and `replace` was given: the imported definition is
    /// now a new version (the live one plus one), the old ones kept in the history.
    Replaced,
    /// There with other content: refused, nothing written (no `replace`).
    Different,
}

/// A change of one office in progress: its row is locked until [`RegistryTx::write`]
/// commits or the value is dropped (rolled back).
#[derive(Debug)]
pub struct RegistryTx {
    tx: sqlx::Transaction<'static, Postgres>,
    office: String,
    current: u64,
    name: Option<String>,
}

fn version(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn registry_row(r: &sqlx::postgres::PgRow) -> Result<RegistryRow, sqlx::Error> {
    Ok(RegistryRow {
        office: r.try_get("office")?,
        version: version(r.try_get("version")?),
        name: r.try_get("name")?,
        definition: r.try_get("definition")?,
        changed_at: r.try_get("changed_at")?,
        changed_by: r.try_get("changed_by")?,
    })
}

fn history_row(r: &sqlx::postgres::PgRow) -> Result<HistoryRow, sqlx::Error> {
    Ok(HistoryRow {
        version: version(r.try_get("version")?),
        definition: r.try_get("definition")?,
        changed_at: r.try_get("changed_at")?,
        changed_by: r.try_get("changed_by")?,
    })
}

const SELECT_ROWS: &str =
    "SELECT office, version, name, definition, changed_at, changed_by FROM adapter_registry";
const SELECT_HISTORY: &str = "SELECT version, definition, changed_at, changed_by \
     FROM adapter_history WHERE office = $1 ORDER BY version";

impl Store {
    /// Every office of the registry (live and deleted), by office.
    pub async fn registry_rows(&self) -> Result<Vec<RegistryRow>, StoreError> {
        let pool = self.pg_pool("registry_rows")?;
        let sql = format!("{SELECT_ROWS} ORDER BY office");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .map_err(db("registry_rows"))?;
        rows.iter()
            .map(registry_row)
            .collect::<Result<_, _>>()
            .map_err(db("registry_rows"))
    }

    /// Every version of `office`, ascending.
    pub async fn registry_history(&self, office: &str) -> Result<Vec<HistoryRow>, StoreError> {
        let pool = self.pg_pool("registry_history")?;
        let rows = sqlx::query(SELECT_HISTORY)
            .bind(office)
            .fetch_all(pool)
            .await
            .map_err(db("registry_history"))?;
        rows.iter()
            .map(history_row)
            .collect::<Result<_, _>>()
            .map_err(db("registry_history"))
    }

    /// Begins a change of `office`: locks its row (if any) and reads its version (`0`
    /// for an office never registered).
    pub async fn registry_begin(&self, office: &str) -> Result<RegistryTx, StoreError> {
        let pool = self.pg_pool("registry_change")?;
        let mut tx = pool.begin().await.map_err(db("registry_change"))?;
        let row: Option<(i64, String, bool)> = sqlx::query_as(
            "SELECT version, name, definition IS NOT NULL FROM adapter_registry \
             WHERE office = $1 FOR UPDATE",
        )
        .bind(office)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("registry_change"))?;
        Ok(RegistryTx {
            tx,
            office: office.to_owned(),
            current: row.as_ref().map_or(0, |r| version(r.0)),
            name: row.and_then(|(_, name, live)| live.then_some(name)),
        })
    }
}

impl RegistryTx {
    /// The office's version in the database (`0`: never registered).
    pub fn current(&self) -> u64 {
        self.current
    }

    /// The display name of the live adapter; `None` when deleted or never registered.
    pub fn live_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The newest definition below version `below` (rollback's source), with its version.
    pub async fn previous(&mut self, below: u64) -> Result<Option<(u64, String)>, StoreError> {
        let found: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, definition FROM adapter_history \
             WHERE office = $1 AND version < $2 AND definition IS NOT NULL \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(&self.office)
        .bind(signed(below))
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db("registry_rollback"))?;
        Ok(found.map(|(v, text)| (version(v), text)))
    }

    /// Writes `row` (whose version must be the current one plus one) to the history and
    /// the registry, sends `notice` (channel, payload; delivered at commit) and commits.
    /// The registry write is guarded by the version read: `Ok(false)`, nothing written,
    /// when the row moved meanwhile.
    pub async fn write(
        mut self,
        row: &RegistryRow,
        notice: Option<(&str, &str)>,
    ) -> Result<bool, StoreError> {
        let tx = &mut self.tx;
        let op = db("registry_change");
        let written = if self.current == 0 {
            insert_row(tx, row).await
        } else {
            update_row(tx, row, self.current).await
        }
        .map_err(op)?;
        if written.rows_affected() != 1 {
            return Ok(false);
        }
        insert_history(tx, &row.office, &history_of(row)).await?;
        if let Some((channel, payload)) = notice {
            notify(tx, channel, payload).await?;
        }
        self.tx.commit().await.map_err(db("registry_change"))?;
        Ok(true)
    }
}

/// The history row of a registry row.
pub fn history_of(row: &RegistryRow) -> HistoryRow {
    HistoryRow {
        version: row.version,
        definition: row.definition.clone(),
        changed_at: row.changed_at.clone(),
        changed_by: row.changed_by.clone(),
    }
}

async fn notify(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    channel: &str,
    payload: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(&mut **tx)
        .await
        .map_err(db("registry_notify"))?;
    Ok(())
}

/// Writes `row` over the office's row if it is still at version `current`
/// (`rows_affected` 0 otherwise).
async fn update_row(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    row: &RegistryRow,
    current: u64,
) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    sqlx::query(
        "UPDATE adapter_registry SET version = $2, name = $3, definition = $4, \
         changed_at = $5, changed_by = $6 WHERE office = $1 AND version = $7",
    )
    .bind(&row.office)
    .bind(signed(row.version))
    .bind(&row.name)
    .bind(&row.definition)
    .bind(&row.changed_at)
    .bind(&row.changed_by)
    .bind(signed(current))
    .execute(&mut **tx)
    .await
}

/// Inserts a registry row unless the office has one (`rows_affected` 0 then).
async fn insert_row(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    r: &RegistryRow,
) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    sqlx::query(
        "INSERT INTO adapter_registry (office, version, name, definition, changed_at, changed_by) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (office) DO NOTHING",
    )
    .bind(&r.office)
    .bind(signed(r.version))
    .bind(&r.name)
    .bind(&r.definition)
    .bind(&r.changed_at)
    .bind(&r.changed_by)
    .execute(&mut **tx)
    .await
}

async fn insert_history(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    office: &str,
    h: &HistoryRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO adapter_history (office, version, definition, changed_at, changed_by) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(office)
    .bind(signed(h.version))
    .bind(&h.definition)
    .bind(&h.changed_at)
    .bind(&h.changed_by)
    .execute(&mut **tx)
    .await
    .map_err(db("registry_history"))?;
    Ok(())
}
