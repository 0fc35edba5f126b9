//! The schema's migrations: one list of portable SQL files (`migrations/NNNN_name.sql`)
//! compiled into the binary and applied by sqlx's migrator, which records each in
//! `_sqlx_migrations` with its checksum (a changed file is refused) and, on PostgreSQL,
//! holds an advisory lock while it works, so that replicas starting together do not race.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Connection, SqlSafeStr};

use super::{Store, StoreError, db, on_backend};

/// Every migration: version, description, SQL (the same text on SQLite and PostgreSQL).
/// A new file in `migrations/` is added here; `every_file_is_listed` checks both ways.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "store", include_str!("migrations/0001_store.sql")),
    (2, "messages", include_str!("migrations/0002_messages.sql")),
    (3, "cluster", include_str!("migrations/0003_cluster.sql")),
];

/// The schema version this build needs: its newest migration.
pub fn latest_version() -> i64 {
    MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0)
}

/// The migrator of [`MIGRATIONS`].
pub fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

impl Store {
    /// Applies the migrations not yet applied (none: nothing happens) and returns the
    /// schema version. On PostgreSQL the configured schema is created first if missing.
    /// The migrator runs on a connection of its own that is closed afterwards, so that an
    /// advisory lock left by a failed migration never stays in the pool.
    pub async fn migrate(&self) -> Result<i64, StoreError> {
        let migrator = migrator();
        on_backend!(self, pool => {
            let mut conn = pool.acquire().await.map_err(db("migrate"))?.detach();
            if let Some(schema) = &self.schema {
                // The name is checked by `config::check_schema` (a-z, 0-9, _).
                let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                    .execute(&mut conn)
                    .await
                    .map_err(db("migrate"))?;
            }
            let outcome = migrator.run_direct(None, &mut conn, false).await;
            let closed = conn.close().await;
            outcome?;
            closed.map_err(db("migrate"))?;
        });
        self.schema_version()
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                table: "_sqlx_migrations",
                column: "version",
                problem: "empty after migrating".into(),
            })
    }

    /// The highest migration applied successfully; `None` on a database never migrated.
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        on_backend!(self, pool => {
            let exists = sqlx::query_scalar::<_, i64>(if self.is_postgres() {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()"
            } else {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            })
            .fetch_one(pool)
            .await
            .map_err(db("schema_version"))?;
            if exists == 0 {
                return Ok(None);
            }
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
            )
            .fetch_one(pool)
            .await
            .map_err(db("schema_version"))
        })
    }

    /// Whether every migration of this build is applied (readiness).
    pub async fn is_migrated(&self) -> Result<bool, StoreError> {
        Ok(self.schema_version().await? >= Some(latest_version()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("migrations folder")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
            .collect();
        assert_eq!(files, listed);
        let versions: Vec<i64> = MIGRATIONS.iter().map(|m| m.0).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    }
}
