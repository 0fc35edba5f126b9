//! What the replicas of one PostgreSQL store tell each other: heartbeats (the live
//! replica count), notifications (`pg_notify`) and the cluster's shared keys. PostgreSQL
//! only: a SQLite store is one process, and these answer [`StoreError::NotPostgres`].
//! Times here are the database's clock, so replicas' own clocks may differ.

use std::time::Duration;

use sqlx::postgres::PgPool;

use super::{Backend, Store, StoreError, db, duration_ms};

/// The database's clock in unix ms.
const NOW_MS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";

impl Store {
    /// The PostgreSQL pool, or [`StoreError::NotPostgres`] naming `op`.
    pub(crate) fn pg_pool(&self, op: &'static str) -> Result<&PgPool, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => Ok(pool),
            Backend::Sqlite(_) => Err(StoreError::NotPostgres(op)),
        }
    }

    /// Records that `replica` is alive now, forgets replicas silent for a hundred expiries,
    /// and returns how many replicas were seen within `expiry` (this one included).
    pub async fn heartbeat(&self, replica: &str, expiry: Duration) -> Result<usize, StoreError> {
        let pool = self.pg_pool("heartbeat")?;
        let upsert = format!(
            "INSERT INTO replicas (id, started_at, seen_at) VALUES ($1, {NOW_MS}, {NOW_MS}) \
             ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at"
        );
        sqlx::query(sqlx::AssertSqlSafe(upsert))
            .bind(replica)
            .execute(pool)
            .await
            .map_err(db("heartbeat"))?;
        let expiry = duration_ms(expiry);
        let forget = format!("DELETE FROM replicas WHERE seen_at < {NOW_MS} - $1");
        sqlx::query(sqlx::AssertSqlSafe(forget))
            .bind(expiry.saturating_mul(100))
            .execute(pool)
            .await
            .map_err(db("heartbeat"))?;
        let count = format!("SELECT COUNT(*) FROM replicas WHERE seen_at >= {NOW_MS} - $1");
        let live: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count))
            .bind(expiry)
            .fetch_one(pool)
            .await
            .map_err(db("heartbeat"))?;
        Ok(usize::try_from(live).unwrap_or(1).max(1))
    }

    /// Removes `replica`'s heartbeat (a replica stopping cleanly: the others count one
    /// fewer at once instead of after the expiry).
    pub async fn leave(&self, replica: &str) -> Result<(), StoreError> {
        let pool = self.pg_pool("leave")?;
        sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(replica)
            .execute(pool)
            .await
            .map_err(db("leave"))?;
        Ok(())
    }

    /// Sends `payload` to every replica listening on `channel` (delivered when the
    /// statement's transaction commits; here at once).
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let pool = self.pg_pool("notify")?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(pool)
            .await
            .map_err(db("notify"))?;
        Ok(())
    }

    /// The shared key `name` (32 random bytes), made by the first replica that asks.
    pub async fn cluster_key(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let pool = self.pg_pool("cluster_key")?;
        let mut fresh = [0u8; 32];
        aws_lc_rs::rand::fill(&mut fresh).map_err(|_| StoreError::Corrupt {
            table: "cluster_keys",
            column: "key_hex",
            problem: "no random bytes from the system".into(),
        })?;
        let hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        sqlx::query(
            "INSERT INTO cluster_keys (name, key_hex) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&hex)
        .execute(pool)
        .await
        .map_err(db("cluster_key"))?;
        let stored: String = sqlx::query_scalar("SELECT key_hex FROM cluster_keys WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await
            .map_err(db("cluster_key"))?;
        from_hex(&stored).ok_or_else(|| StoreError::Corrupt {
            table: "cluster_keys",
            column: "key_hex",
            problem: format!("key {name} is not hex"),
        })
    }
}

/// Bytes of an even-length lowercase or uppercase hex string.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_reads_back() {
        assert_eq!(from_hex("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
