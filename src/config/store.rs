//! `[store]`: where submissions, receipts and the outbox live. An embedded SQLite file
//! (the default, under the configuration's folder) or a PostgreSQL database shared by
//! several replicas. Raw TOML in, a validated [`StoreConfig`] out; every refusal names the
//! key.

use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::FieldError;

/// The SQLite file used when `[store]` names none, relative to the configuration's folder.
pub const DEFAULT_SQLITE_FILE: &str = "data/guichet.db";

/// `[store]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawStore {
    url: Option<String>,
    schema: Option<String>,
    password_file: Option<PathBuf>,
    pool_size: u32,
    lease_ms: u64,
    busy_timeout_ms: u64,
    connect_timeout_ms: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            url: None,
            schema: None,
            password_file: None,
            pool_size: 8,
            lease_ms: 60_000,
            busy_timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
        }
    }
}

/// Which database holds the store.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An embedded SQLite file (created with its folder on first use).
    Sqlite {
        /// The database file.
        file: PathBuf,
    },
    /// A PostgreSQL database shared by the replicas.
    Postgres {
        /// `postgres://user@host:port/database?…` as configured (may hold a password:
        /// never printed, see the `Debug` and `Display` forms).
        url: String,
        /// The schema the tables live in (`search_path`); `None`: the server's default.
        schema: Option<String>,
        /// A file holding the password (a mounted secret), read at each connect.
        password_file: Option<PathBuf>,
    },
}

impl StoreLocation {
    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            StoreLocation::Sqlite { .. } => "sqlite",
            StoreLocation::Postgres { .. } => "postgres",
        }
    }
}

/// Shows the file, or the PostgreSQL URL without user info and query (no password in a log).
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite { file } => write!(f, "sqlite {}", file.display()),
            StoreLocation::Postgres { url, schema, .. } => {
                write!(f, "postgres {}", redact_url(url))?;
                if let Some(s) = schema {
                    write!(f, " schema {s}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `postgres://host:port/db`: the scheme, host, port and path of a URL, without user info
/// (user and password) and without the query.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{rest}")
}

/// The validated `[store]` section.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The database.
    pub location: StoreLocation,
    /// Connections in the pool (1–256).
    pub pool_size: NonZeroU32,
    /// How long a delivery worker holds an outbox row before another may take it over
    /// (1 s–1 h): longer than one delivery attempt, short enough that a dead replica's
    /// claims are delivered soon by the others.
    pub lease: Duration,
    /// SQLite: how long a writer waits for the file lock (0–10 min).
    pub busy_timeout: Duration,
    /// How long to wait for a connection (to connect, or from the pool) (100 ms–10 min).
    pub connect_timeout: Duration,
}

impl StoreConfig {
    /// An embedded SQLite store in `file` with the default settings.
    pub fn sqlite(file: impl Into<PathBuf>) -> StoreConfig {
        let raw = RawStore::default();
        StoreConfig {
            location: StoreLocation::Sqlite { file: file.into() },
            pool_size: NonZeroU32::new(raw.pool_size).unwrap_or(NonZeroU32::MIN),
            lease: Duration::from_millis(raw.lease_ms),
            busy_timeout: Duration::from_millis(raw.busy_timeout_ms),
            connect_timeout: Duration::from_millis(raw.connect_timeout_ms),
        }
    }

    /// A PostgreSQL store at `url` (tables in `schema` if given) with the default settings.
    pub fn postgres(url: impl Into<String>, schema: Option<String>) -> StoreConfig {
        StoreConfig {
            location: StoreLocation::Postgres {
                url: url.into(),
                schema,
                password_file: None,
            },
            ..StoreConfig::sqlite(PathBuf::new())
        }
    }
}

impl RawStore {
    /// Validates the section; `at` resolves a path against the configuration's folder.
    pub(super) fn validate(
        &self,
        at: impl Fn(&Path) -> PathBuf,
    ) -> Result<StoreConfig, FieldError> {
        let location = self.location(&at)?;
        let pool = FieldError::range("store.pool_size", self.pool_size, 1, 256)?;
        let lease = FieldError::range("store.lease_ms", self.lease_ms, 1_000, 3_600_000)?;
        let busy = FieldError::range("store.busy_timeout_ms", self.busy_timeout_ms, 0, 600_000)?;
        let connect = FieldError::range(
            "store.connect_timeout_ms",
            self.connect_timeout_ms,
            100,
            600_000,
        )?;
        Ok(StoreConfig {
            location,
            pool_size: NonZeroU32::new(pool).unwrap_or(NonZeroU32::MIN),
            lease: Duration::from_millis(lease),
            busy_timeout: Duration::from_millis(busy),
            connect_timeout: Duration::from_millis(connect),
        })
    }

    fn location(&self, at: &dyn Fn(&Path) -> PathBuf) -> Result<StoreLocation, FieldError> {
        let url = self.url.as_deref().unwrap_or("");
        if let Some(path) = sqlite_path(url) {
            let path = if path.is_empty() {
                DEFAULT_SQLITE_FILE
            } else {
                path
            };
            for (key, set) in [
                ("store.schema", self.schema.is_some()),
                ("store.password_file", self.password_file.is_some()),
            ] {
                if set {
                    return Err(FieldError::new(key, "applies to PostgreSQL only"));
                }
            }
            return Ok(StoreLocation::Sqlite {
                file: at(Path::new(path)),
            });
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(FieldError::new(
                "store.url",
                format!(
                    "`{}` is neither postgres://… nor sqlite://FILE (or absent: {DEFAULT_SQLITE_FILE})",
                    redact_url(url)
                ),
            ));
        }
        if let Some(schema) = &self.schema {
            check_schema(schema).map_err(|p| FieldError::new("store.schema", p))?;
        }
        Ok(StoreLocation::Postgres {
            url: url.to_owned(),
            schema: self.schema.clone(),
            password_file: self.password_file.as_deref().map(at),
        })
    }
}

/// The path of a SQLite URL (`sqlite://FILE`, `sqlite:FILE`, or nothing for the default).
fn sqlite_path(url: &str) -> Option<&str> {
    if url.is_empty() {
        return Some("");
    }
    let rest = url.strip_prefix("sqlite:")?;
    Some(rest.strip_prefix("//").unwrap_or(rest))
}

/// A schema name guichet may create and put on the `search_path`: lowercase letters,
/// digits and `_`, starting with a letter or `_`, at most 63 bytes.
pub fn check_schema(name: &str) -> Result<(), &'static str> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if !first_ok || name.len() > 63 {
        return Err("must start with a-z or _ and be at most 63 characters");
    }
    if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err("only a-z, 0-9 and _ are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(text: &str) -> Result<StoreConfig, FieldError> {
        let raw: RawStore =
            toml::from_str(text).map_err(|e| FieldError::new("toml", e.to_string()))?;
        raw.validate(|p: &Path| Path::new("/etc/guichet").join(p))
    }

    #[test]
    fn default_is_sqlite_under_the_config_folder() {
        let c = validate("").expect("default");
        assert_eq!(
            c.location,
            StoreLocation::Sqlite {
                file: PathBuf::from("/etc/guichet/data/guichet.db")
            }
        );
        assert_eq!(c.lease, Duration::from_secs(60));
        let c = validate("url = \"sqlite://../var/g.db\"").expect("sqlite url");
        assert_eq!(
            c.location,
            StoreLocation::Sqlite {
                file: PathBuf::from("/etc/guichet/../var/g.db")
            }
        );
    }

    #[test]
    fn postgres_url_schema_and_secret_file() {
        let c = validate(
            "url = \"postgres://g:secret@db:5432/guichet\"\nschema = \"gw\"\npassword_file = \"pw\"",
        )
        .expect("postgres");
        let shown = c.location.to_string();
        assert_eq!(shown, "postgres postgres://db:5432/guichet schema gw");
        assert!(!format!("{c:?}").contains("secret"));
        match c.location {
            StoreLocation::Postgres { password_file, .. } => {
                assert_eq!(password_file, Some(PathBuf::from("/etc/guichet/pw")))
            }
            other => panic!("expected postgres, got {other}"),
        }
    }

    #[test]
    fn refusals_name_the_key() {
        for (text, key) in [
            ("url = \"mysql://x\"", "store.url"),
            ("pool_size = 0", "store.pool_size"),
            ("pool_size = 1000", "store.pool_size"),
            ("lease_ms = 10", "store.lease_ms"),
            ("busy_timeout_ms = 9999999", "store.busy_timeout_ms"),
            ("connect_timeout_ms = 1", "store.connect_timeout_ms"),
            ("schema = \"x\"", "store.schema"),
            (
                "url = \"postgres://h/d\"\nschema = \"Bad-Name\"",
                "store.schema",
            ),
        ] {
            let e = validate(text).expect_err(text);
            assert_eq!(e.field, key, "{text}: {e}");
        }
        assert!(validate("colour = 1").is_err());
    }

    #[test]
    fn mysql_password_is_not_echoed() {
        let e = validate("url = \"mysql://u:hunter2@h/d\"").expect_err("mysql");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
