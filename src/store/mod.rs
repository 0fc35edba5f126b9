//! The store: submissions, their state history, receipts and the delivery outbox, in an
//! embedded SQLite file (the default) or in PostgreSQL (several replicas). One schema,
//! one set of migrations (`migrations/`, portable SQL) and one typed API for both; all of
//! guichet's SQL lives in this module. Times are unix milliseconds UTC from the store's
//! [`Clock`]; ids are UUIDs; hashes lowercase hex.
//!
//! Must not: know HTTP, JSON shapes or XML; log a body, a key or a receipt.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use crate::config::{StoreConfig, StoreLocation};

mod cluster;
mod message_model;
mod messages;
mod migrate;
pub use migrate::latest_version;
mod model;
mod outbox;
mod registry;
mod replies;
mod rows;
pub mod scratch;
mod submissions;
mod undelivered;
mod wait;

pub use message_model::{
    Cursor, MessageCreated, MessageId, NewAttachment, NewMessage, NewReply, Purged,
    StoredAttachment, StoredMessage, StoredReply,
};
pub use migrate::{MIGRATIONS, migrator};
pub use model::{
    Created, Delivery, HistoryEntry, Integrity, Lease, NewReceipt, NewSubmission, OutboxState,
    OutboxStats, Receipt, ReceiptKind, Step, Subject, SubjectKind, Submission, SubmissionId,
    SubmissionState, SubmissionType,
};
pub use registry::{
    HistoryRow, Imported, ImportedOffice, RegistryRow, RegistryTx, Replacement, history_of,
};
pub use undelivered::Undelivered;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or opened.
    #[error("store {location}: cannot connect: {source}")]
    Connect {
        /// The database (without password).
        location: String,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// The SQLite file's folder cannot be created.
    #[error("store: cannot create the folder {path}: {source}")]
    Folder {
        /// The folder.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The password file cannot be read.
    #[error("store: cannot read store.password_file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Migrating the schema failed (nothing of the failed migration is applied).
    #[error("store: migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("store: {op}: {source}")]
    Database {
        /// The operation (`create_submission`, `claim_due`, …).
        op: &'static str,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// The idempotency key was used before with another body (`409`).
    #[error("the idempotency key was used before with another body")]
    Conflict,
    /// The worker's lease on an outbox row expired and another worker may hold it now;
    /// nothing was changed.
    #[error("the lease on outbox row {outbox_id} is no longer held by this worker")]
    LeaseLost {
        /// The outbox row.
        outbox_id: String,
    },
    /// A replicas' operation on a store that is not PostgreSQL (names the operation).
    #[error("store: {0} needs PostgreSQL ([store] url = \"postgres://…\")")]
    NotPostgres(&'static str),
    /// No such submission.
    #[error("no submission {0}")]
    NotFound(SubmissionId),
    /// A stored value does not read back (a hand edit, or a newer schema).
    #[error("store: {table}.{column} holds an unreadable value: {problem}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// Why it does not read.
        problem: String,
    },
}

impl StoreError {
    /// Whether trying again later can succeed (the database was busy or unreachable).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Database { source, .. } => matches!(
                source,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Database(_)
            ),
            _ => false,
        }
    }
}

/// A `sqlx` error in operation `op`.
fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { op, source }
}

/// Where the store takes the time from: the system clock, or a hand-moved one in tests.
#[derive(Clone, Default)]
pub enum Clock {
    /// The system's UTC clock.
    #[default]
    System,
    /// A clock that moves only when told to (unix ms).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock standing at `ms`.
    pub fn manual(ms: i64) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(ms)))
    }

    /// Now, in unix ms.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => {
                let now = time::OffsetDateTime::now_utc();
                i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
            }
            Clock::Manual(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: std::time::Duration) {
        if let Clock::Manual(ms) = self {
            ms.fetch_add(duration_ms(by), Ordering::SeqCst);
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clock::System => f.write_str("Clock::System"),
            Clock::Manual(ms) => write!(f, "Clock::Manual({})", ms.load(Ordering::SeqCst)),
        }
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The connection pool of one backend.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool: the same code compiled once per
/// database (the SQL is shared; where it must differ, the body asks [`Store::is_postgres`]).
macro_rules! on_backend {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Opens a write transaction. SQLite: `BEGIN IMMEDIATE`, so the write lock is taken at
/// the start (waiting up to the busy timeout) rather than failing on a read-to-write
/// upgrade; PostgreSQL: `BEGIN` (rows are locked by the statements).
pub(crate) trait WritePool {
    /// The database.
    type Db: sqlx::Database;
    /// A transaction that will write.
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl WritePool for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>> + Send
    {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl WritePool for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>> + Send
    {
        self.begin()
    }
}

/// The store: a pool on one backend, its clock and its lease duration.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) backend: Backend,
    pub(crate) clock: Clock,
    /// SQLite: one writer at a time in this process. SQLite takes one write lock per file
    /// anyway; without this queue, concurrent `BEGIN IMMEDIATE`s spin on the busy
    /// timeout (sleeps and retries) instead of waiting their turn. A tokio mutex is fair
    /// (first come, first served) and wakes the next writer at once. `None` on
    /// PostgreSQL, whose row locks order writers.
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
    location: String,
    /// PostgreSQL: the schema created at migration and put on the `search_path`.
    schema: Option<String>,
}

impl Store {
    /// Connects (creating the SQLite file and its folder if missing) and brings the schema
    /// up to date (on PostgreSQL under the migrator's advisory lock, so replicas starting
    /// together apply each migration once).
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let store = Store::connect(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating (`guichet migrate` and readiness checks migrate or look).
    pub async fn connect(config: &StoreConfig) -> Result<Store, StoreError> {
        let store = Store::open_lazy(config)?;
        let connected = on_backend!(&store, pool => pool.acquire().await.map(drop));
        connected.map_err(|source| StoreError::Connect {
            location: store.location.clone(),
            source,
        })?;
        Ok(store)
    }

    /// The store without connecting yet: the pool connects on first use. For
    /// [`crate::gateway::Gateway::build`], which is synchronous; `Gateway::serve` migrates
    /// (and so connects) before it accepts anything.
    pub fn open_lazy(config: &StoreConfig) -> Result<Store, StoreError> {
        let location = config.location.to_string();
        let backend = match &config.location {
            StoreLocation::Sqlite { file } => {
                if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                        path: dir.to_owned(),
                        source,
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(file)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a commit is on disk before `create_submission` returns.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(config.busy_timeout);
                let pool = SqlitePoolOptions::new()
                    .max_connections(config.pool_size.get())
                    .acquire_timeout(config.connect_timeout);
                Backend::Sqlite(pool.connect_lazy_with(options))
            }
            StoreLocation::Postgres { .. } => {
                let options = pg_options(&config.location)?;
                let pool = PgPoolOptions::new()
                    .max_connections(config.pool_size.get())
                    .acquire_timeout(config.connect_timeout);
                Backend::Postgres(pool.connect_lazy_with(options))
            }
        };
        let schema = match &config.location {
            StoreLocation::Postgres { schema, .. } => schema.clone(),
            StoreLocation::Sqlite { .. } => None,
        };
        let writer = match &backend {
            Backend::Sqlite(_) => Some(Arc::new(tokio::sync::Mutex::new(()))),
            Backend::Postgres(_) => None,
        };
        Ok(Store {
            backend,
            clock: Clock::System,
            writer,
            location,
            schema,
        })
    }

    /// The same store reading time from `clock` (tests move a manual clock).
    pub fn with_clock(mut self, clock: Clock) -> Store {
        self.clock = clock;
        self
    }

    /// Waits for this process's turn to write (SQLite; nothing to wait for on
    /// PostgreSQL). Held until the write transaction is committed or rolled back.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.writer {
            Some(writer) => Some(writer.lock().await),
            None => None,
        }
    }

    /// The database, for messages (`sqlite FILE` or `postgres URL` without password).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// PostgreSQL: the configured schema (`None`: the server's default, or SQLite).
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Whether this store is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, pool => {
            let mut conn = pool.acquire().await.map_err(db("ping"))?;
            conn.ping().await.map_err(db("ping"))
        })
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        on_backend!(self, pool => pool.close().await)
    }
}

/// PostgreSQL connect options from the location: the URL, the password file, and the
/// schema as the only entry of the `search_path` (a missing schema is an error, never a
/// silent fall back to `public`).
pub(crate) fn pg_options(location: &StoreLocation) -> Result<PgConnectOptions, StoreError> {
    let StoreLocation::Postgres {
        url,
        schema,
        password_file,
    } = location
    else {
        return Err(StoreError::Connect {
            location: location.to_string(),
            source: sqlx::Error::Configuration("not a PostgreSQL location".into()),
        });
    };
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|source| StoreError::Connect {
            location: location.to_string(),
            source,
        })?
        .application_name("guichet")
        .disable_statement_logging();
    if let Some(path) = password_file {
        let text = std::fs::read_to_string(path).map_err(|source| StoreError::PasswordFile {
            path: path.clone(),
            source,
        })?;
        options = options.password(text.trim_end_matches(['\n', '\r']));
    }
    if let Some(schema) = schema {
        options = options.options([("search_path", schema.as_str())]);
    }
    Ok(options)
}

/// Lowercase hex SHA-256 of `bytes` (bodies and receipts).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_nothing() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = Clock::manual(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(std::time::Duration::from_millis(500));
        assert_eq!(clock.now_ms(), 1_500);
        assert!(Clock::System.now_ms() > 1_700_000_000_000);
    }
}
