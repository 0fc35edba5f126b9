//! Imports into the registry (`guichet store import`, and the seeding of an empty registry
//! at start-up), under one transaction-scoped advisory lock so that replicas starting
//! together and an operator's import take turns. A replaced office gets a new version
//! (versions only grow, the history is kept) and the import sends the notice a change
//! sends, so running replicas adopt it as they adopt any change.

use sqlx::postgres::Postgres;

use super::{
    HistoryRow, Imported, ImportedOffice, RegistryRow, SELECT_HISTORY, SELECT_ROWS, history_of,
    history_row, insert_history, insert_row, notify, registry_row, update_row,
};
use crate::store::{Store, StoreError, db};

/// The lock key under which imports run.
const IMPORT_LOCK: i64 = 0x6775_6963_6865_7401;

/// What replaces an office's live row with an imported one: the imported content as the
/// next version of `live` (`(imported, live)` → the new row), or `None` when the imported
/// content is the live content (nothing to write). The adapter layer decides, as it
/// knows the definition and its managed header.
pub type Replacement<'a> = &'a (dyn Fn(&RegistryRow, &RegistryRow) -> Option<RegistryRow> + Sync);

/// What an import writes for one office.
enum Write<'a> {
    /// The office with its whole history (not in the database before).
    Insert(&'a ImportedOffice),
    /// A new version over the live one (at the version given).
    Next(u64, RegistryRow),
}

impl Store {
    /// Writes `offices` into an empty registry, under the import lock; `false` (nothing
    /// written) when the registry already has rows.
    pub async fn registry_seed(&self, offices: &[ImportedOffice]) -> Result<bool, StoreError> {
        let pool = self.pg_pool("registry_seed")?;
        let mut tx = pool.begin().await.map_err(db("registry_seed"))?;
        import_lock(&mut tx).await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM adapter_registry")
            .fetch_one(&mut *tx)
            .await
            .map_err(db("registry_seed"))?;
        if count > 0 {
            return Ok(false);
        }
        for office in offices {
            insert(&mut tx, office).await?;
        }
        tx.commit().await.map_err(db("registry_seed"))?;
        Ok(true)
    }

    /// Imports `offices` under the import lock: an office not in the database is added
    /// with its history, one with the same rows is left alone, one with other rows is
    /// refused — or, with `replace`, given the imported definition as a new version
    /// (`replacement`; the same content changes nothing). Nothing is written when any
    /// office is refused. `notice` (channel, payload) tells running replicas, in the
    /// transaction, when anything changed.
    pub async fn registry_import(
        &self,
        offices: &[ImportedOffice],
        replace: bool,
        replacement: Replacement<'_>,
        notice: Option<(&str, &str)>,
    ) -> Result<Vec<Imported>, StoreError> {
        let pool = self.pg_pool("registry_import")?;
        let mut tx = pool.begin().await.map_err(db("registry_import"))?;
        import_lock(&mut tx).await?;
        let mut outcome = Vec::with_capacity(offices.len());
        let mut writes = Vec::new();
        for office in offices {
            let (existing, history) = read(&mut tx, &office.row.office).await?;
            let (done, write) = match existing {
                None if history.is_empty() => (Imported::Added, Some(Write::Insert(office))),
                Some(row) if row == office.row && history == office.history => {
                    (Imported::Unchanged, None)
                }
                Some(live) if replace => match replacement(&office.row, &live) {
                    None => (Imported::Unchanged, None),
                    Some(next) => (Imported::Replaced, Some(Write::Next(live.version, next))),
                },
                _ => (Imported::Different, None),
            };
            outcome.push(done);
            writes.extend(write);
        }
        if outcome.contains(&Imported::Different) || writes.is_empty() {
            return Ok(outcome);
        }
        for write in writes {
            match write {
                Write::Insert(office) => insert(&mut tx, office).await?,
                Write::Next(current, row) => {
                    update_row(&mut tx, &row, current)
                        .await
                        .map_err(db("registry_import"))?;
                    insert_history(&mut tx, &row.office, &history_of(&row)).await?;
                }
            }
        }
        if let Some((channel, payload)) = notice {
            notify(&mut tx, channel, payload).await?;
        }
        tx.commit().await.map_err(db("registry_import"))?;
        Ok(outcome)
    }
}

/// The office's row (locked until the import's transaction ends) and its history.
async fn read(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    office: &str,
) -> Result<(Option<RegistryRow>, Vec<HistoryRow>), StoreError> {
    let sql = format!("{SELECT_ROWS} WHERE office = $1 FOR UPDATE");
    let existing = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(office)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db("registry_import"))?
        .map(|r| registry_row(&r))
        .transpose()
        .map_err(db("registry_import"))?;
    let history = sqlx::query(SELECT_HISTORY)
        .bind(office)
        .fetch_all(&mut **tx)
        .await
        .map_err(db("registry_import"))?
        .iter()
        .map(history_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(db("registry_import"))?;
    Ok((existing, history))
}

async fn import_lock(tx: &mut sqlx::Transaction<'static, Postgres>) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(IMPORT_LOCK)
        .execute(&mut **tx)
        .await
        .map_err(db("registry_import"))?;
    Ok(())
}

async fn insert(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    office: &ImportedOffice,
) -> Result<(), StoreError> {
    insert_row(tx, &office.row)
        .await
        .map_err(db("registry_import"))?;
    for h in &office.history {
        insert_history(tx, &office.row.office, h).await?;
    }
    Ok(())
}
