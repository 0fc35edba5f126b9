//! The outbox as the operator's console shows it: rows still to deliver, oldest first,
//! with their last error; and "retry now", which makes a pending row due at once unless
//! a worker holds its lease (the worker's attempt is the retry then).

use super::{Store, StoreError, db, on_backend};
use crate::model::OfficeId;

/// One row still to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// The row's id.
    pub id: String,
    /// What is delivered (`submission`, …).
    pub subject_kind: String,
    /// To whom.
    pub target_office: OfficeId,
    /// Failed attempts.
    pub attempts: u32,
    /// Queued at (unix ms, the store's clock).
    pub created_at: i64,
    /// Next attempt at (unix ms).
    pub next_attempt_at: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

type Row = (String, String, String, i64, i64, i64, Option<String>);

impl Store {
    /// Up to `limit` pending rows, by target office then age; and the store's time now.
    pub async fn undelivered(&self, limit: u32) -> Result<(Vec<Undelivered>, i64), StoreError> {
        const OP: &str = "undelivered";
        let rows: Vec<Row> = on_backend!(self, pool => {
            sqlx::query_as::<_, Row>(
                "SELECT id, subject_kind, target_office, attempts, created_at, next_attempt_at, \
                 last_error FROM outbox WHERE state = 'pending' \
                 ORDER BY target_office, created_at, id LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db(OP))?
        });
        let rows = rows
            .into_iter()
            .map(
                |(id, kind, office, attempts, created_at, next, last_error)| {
                    let target_office = office.parse().map_err(|_| StoreError::Corrupt {
                        table: "outbox",
                        column: "target_office",
                        problem: format!("{office:?} is not an office id"),
                    })?;
                    Ok(Undelivered {
                        id,
                        subject_kind: kind,
                        target_office,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                        created_at,
                        next_attempt_at: next,
                        last_error,
                    })
                },
            )
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((rows, self.clock.now_ms()))
    }

    /// Makes a pending, unleased row due now. `false`: no such pending row, or a worker
    /// holds it right now.
    pub async fn retry_now(&self, id: &str) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let done = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE outbox SET next_attempt_at = $2 WHERE id = $1 AND state = 'pending' \
                 AND (lease_owner IS NULL OR lease_expires_at <= $2)",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await
            .map_err(db("retry_now"))?
            .rows_affected()
        });
        Ok(done == 1)
    }
}
