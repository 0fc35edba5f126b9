//! Throw-away PostgreSQL schemas for tests (the store's, and later the messages' and the
//! replicas'): each test gets a fresh schema of the database named by
//! `GUICHET_TEST_DATABASE_URL` and drops it at the end. Without the variable, or without
//! a server, [`ScratchSchema::create`] fails with a message saying so: a test that needs
//! PostgreSQL never passes silently without it.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::StoreError;
use crate::config::StoreConfig;

/// The environment variable naming the test database (`postgres://postgres@127.0.0.1:5432/test`).
pub const TEST_DATABASE_URL: &str = "GUICHET_TEST_DATABASE_URL";

/// A schema created for one test; dropped by [`ScratchSchema::drop_schema`], or on drop.
#[derive(Debug)]
pub struct ScratchSchema {
    url: String,
    name: String,
    dropped: bool,
}

impl ScratchSchema {
    /// Creates `guichet_test_<random>` in the database of `GUICHET_TEST_DATABASE_URL`.
    pub async fn create() -> Result<ScratchSchema, String> {
        let url = std::env::var(TEST_DATABASE_URL).map_err(|_| {
            format!(
                "{TEST_DATABASE_URL} is not set: the postgres-tests feature needs a PostgreSQL \
                 server, e.g. {TEST_DATABASE_URL}=postgres://postgres@127.0.0.1:5432/test"
            )
        })?;
        let name = format!("guichet_test_{}", uuid::Uuid::new_v4().simple());
        run(&url, &format!("CREATE SCHEMA {name}"))
            .await
            .map_err(|e| format!("cannot create a test schema with {TEST_DATABASE_URL}: {e}"))?;
        Ok(ScratchSchema {
            url,
            name,
            dropped: false,
        })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A store configuration on this schema (default settings).
    pub fn config(&self) -> StoreConfig {
        StoreConfig::postgres(self.url.clone(), Some(self.name.clone()))
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(mut self) -> Result<(), String> {
        self.dropped = true;
        run(&self.url, &format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .map_err(|e| format!("cannot drop test schema {}: {e}", self.name))
    }
}

impl Drop for ScratchSchema {
    /// A test that failed before `drop_schema` still leaves no schema behind (best effort,
    /// on a thread of its own: `Drop` cannot wait on the test's runtime).
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (url, sql) = (
            self.url.clone(),
            format!("DROP SCHEMA {} CASCADE", self.name),
        );
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = runtime {
                let _ = rt.block_on(run(&url, &sql));
            }
        });
        let _ = cleanup.join();
    }
}

/// Runs one statement on a connection of its own.
async fn run(url: &str, sql: &str) -> Result<(), StoreError> {
    let options: PgConnectOptions = url.parse().map_err(|source| StoreError::Connect {
        location: crate::config::redact_url(url),
        source,
    })?;
    let mut conn = options
        .disable_statement_logging()
        .connect()
        .await
        .map_err(|source| StoreError::Connect {
            location: crate::config::redact_url(url),
            source,
        })?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .map_err(|source| StoreError::Database {
            op: "scratch schema",
            source,
        })?;
    conn.close().await.map_err(|source| StoreError::Database {
        op: "scratch schema",
        source,
    })
}
