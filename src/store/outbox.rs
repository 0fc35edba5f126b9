//! The outbox: delivery workers lease due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
//! one serialized `UPDATE … RETURNING` on SQLite), and every change to a leased row
//! presents its [`Lease`] (owner and expiry): a worker whose lease was taken over changes
//! nothing ([`StoreError::LeaseLost`]). A lease that expires (its replica died) makes the
//! row due again for any worker; `release_leases` hands a worker's rows back at shutdown.

use std::time::Duration;

use super::model::{
    Delivery, Lease, OutboxStats, Step, Subject, SubjectKind, SubmissionId, SubmissionState,
};
use super::rows::{self, Cols, OUTBOX_COLUMNS};
use super::submissions::{
    INSERT_HISTORY, INSERT_OUTBOX, INSERT_RECEIPT, UPDATE_STATE, apply_step, insert_receipt,
};
use super::{Store, StoreError, WritePool, db, duration_ms, on_backend, sha256_hex};
use crate::model::OfficeId;

/// Selects the due rows; PostgreSQL appends `FOR UPDATE SKIP LOCKED` so that concurrent
/// workers take disjoint rows without waiting for each other.
const DUE: &str = "SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $3 \
     AND (lease_owner IS NULL OR lease_expires_at <= $3) \
     ORDER BY next_attempt_at, created_at, id LIMIT $4";

/// Closes a leased row (`$4` the new state) if the lease is still this worker's.
const CLOSE: &str = "UPDATE outbox SET state = $4, lease_owner = NULL, lease_expires_at = NULL, \
     finished_at = $5 WHERE id = $1 AND lease_owner = $2 AND lease_expires_at = $3 \
     AND state = 'pending' RETURNING subject_kind, subject_id, target_office, expires_at";

/// A pushed reply the office answered is acknowledged (unless it was before, through
/// the inbox: the first acknowledgement's time stays).
const ACKNOWLEDGE_PUSHED: &str = "UPDATE message_replies \
     SET acknowledged_at = COALESCE(acknowledged_at, $2) WHERE id = $1";

/// How a leased row ends.
#[derive(Clone, Copy)]
enum Close {
    Done,
    Failed,
}

impl Store {
    /// Leases up to `n` due rows to `worker` for `lease` (due: pending, next attempt
    /// reached, not leased or the lease expired). Concurrent callers never get the same row.
    pub async fn claim_due(
        &self,
        worker: &str,
        n: u32,
        lease: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        const OP: &str = "claim_due";
        let now = self.clock.now_ms();
        let until = now.saturating_add(duration_ms(lease));
        let lock = if self.is_postgres() {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE outbox SET lease_owner = $1, lease_expires_at = $2 \
             WHERE id IN ({DUE}{lock}) RETURNING {OUTBOX_COLUMNS}"
        );
        on_backend!(self, pool => {
            let _turn = self.write_turn().await;
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(worker)
                .bind(until)
                .bind(now)
                .bind(i64::from(n))
                .fetch_all(&mut *tx)
                .await
                .map_err(db(OP))?;
            tx.commit().await.map_err(db(OP))?;
            let mut due = found.iter().map(rows::delivery).collect::<Result<Vec<_>, _>>()?;
            due.sort_by(|a, b| (a.created_at, &a.lease.outbox_id).cmp(&(b.created_at, &b.lease.outbox_id)));
            Ok(due)
        })
    }

    /// Extends a lease by `by` from now (a long delivery); the new lease replaces the old.
    pub async fn extend_lease(&self, lease: &Lease, by: Duration) -> Result<Lease, StoreError> {
        let until = self.clock.now_ms().saturating_add(duration_ms(by));
        self.update_leased(lease, "lease_expires_at = $4", until, "extend_lease")
            .await?;
        Ok(Lease {
            expires_at: until,
            ..lease.clone()
        })
    }

    /// The delivery is finished: the row is done and the subject takes `step` (`delivered`
    /// awaiting an acknowledgement, or `accepted`/`rejected` with the delivery receipt).
    pub async fn complete(&self, lease: &Lease, step: &Step) -> Result<(), StoreError> {
        self.close_row(lease, Close::Done, step, "complete").await
    }

    /// The delivery failed for good (a final failure, or expired): the row and the subject
    /// are `failed`, with `detail` in the history.
    pub async fn fail(&self, lease: &Lease, detail: &str) -> Result<(), StoreError> {
        let step = Step::to(SubmissionState::Failed).detail(detail);
        self.close_row(lease, Close::Failed, &step, "fail").await
    }

    /// Closes a leased row and applies `step` to its subject, in one transaction.
    async fn close_row(
        &self,
        lease: &Lease,
        how: Close,
        step: &Step,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let state = match how {
            Close::Done => "done",
            Close::Failed => "failed",
        };
        on_backend!(self, pool => {
            let _turn = self.write_turn().await;
            let mut tx = pool.begin_write().await.map_err(db(op))?;
            let Some(row) = sqlx::query(CLOSE)
                .bind(&lease.outbox_id)
                .bind(&lease.owner)
                .bind(lease.expires_at)
                .bind(state)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(op))?
            else {
                return Err(lost(lease));
            };
            let (subject, office, _) = closed_row(&row)?;
            match (subject.kind, how) {
                (SubjectKind::Submission, _) => {
                    apply_step!(tx, &subject.id, step, Some(office.to_string()), None, now)
                        .map_err(db(op))?;
                }
                // Pushed and answered: the office has it, so it leaves the inbox.
                (SubjectKind::Reply, Close::Done) => {
                    sqlx::query(ACKNOWLEDGE_PUSHED)
                        .bind(&subject.id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db(op))?;
                }
                // Given up: the reply stays in the office's inbox, unacknowledged.
                (SubjectKind::Reply, Close::Failed) => {}
            }
            tx.commit().await.map_err(db(op))
        })
    }

    /// The attempt failed and another follows at `next_attempt_at` (unix ms): the row is
    /// handed back with one more attempt and `error`; the subject is `delivering` with the
    /// attempt in its history.
    pub async fn retry_later(
        &self,
        lease: &Lease,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "retry_later";
        let now = self.clock.now_ms();
        on_backend!(self, pool => {
            let _turn = self.write_turn().await;
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            let Some(row) = sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $4, last_error = $5, \
                 lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2 \
                 AND lease_expires_at = $3 AND state = 'pending' \
                 RETURNING subject_kind, subject_id, target_office, expires_at, attempts",
            )
            .bind(&lease.outbox_id)
            .bind(&lease.owner)
            .bind(lease.expires_at)
            .bind(next_attempt_at)
            .bind(error)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(OP))?
            else {
                return Err(lost(lease));
            };
            let (subject, office, _) = closed_row(&row)?;
            let attempts = row.int("outbox", "attempts")?;
            let step = Step::to(SubmissionState::Delivering)
                .detail(format!("attempt {attempts} failed: {error}"));
            match subject.kind {
                SubjectKind::Submission => {
                    apply_step!(tx, &subject.id, &step, Some(office.to_string()), None, now)
                        .map_err(db(OP))?;
                }
                // A reply has no history: the row's attempts and last error say it all.
                SubjectKind::Reply => {}
            }
            tx.commit().await.map_err(db(OP))
        })
    }

    /// Records progress of a leased delivery (e.g. `delivering` when the data file is
    /// written) without closing the row.
    pub async fn progress(&self, lease: &Lease, step: &Step) -> Result<(), StoreError> {
        const OP: &str = "progress";
        let now = self.clock.now_ms();
        on_backend!(self, pool => {
            let _turn = self.write_turn().await;
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            let Some(row) = sqlx::query(
                "UPDATE outbox SET last_error = last_error WHERE id = $1 AND lease_owner = $2 \
                 AND lease_expires_at = $3 AND state = 'pending' \
                 RETURNING subject_kind, subject_id, target_office, expires_at",
            )
            .bind(&lease.outbox_id)
            .bind(&lease.owner)
            .bind(lease.expires_at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(OP))?
            else {
                return Err(lost(lease));
            };
            let (subject, office, _) = closed_row(&row)?;
            match subject.kind {
                SubjectKind::Submission => {
                    apply_step!(tx, &subject.id, step, Some(office.to_string()), None, now)
                        .map_err(db(OP))?;
                }
                SubjectKind::Reply => {}
            }
            tx.commit().await.map_err(db(OP))
        })
    }

    /// The office named `to` as competent: the submission is `transferred` to it (with
    /// `detail` and the office's receipt, if any), and a new outbox row for `to` (a new
    /// message id, due now, expiring `expiry` from now) replaces the delivery — in one
    /// transaction. With `lease` (a synchronous answer) the leased row is closed `done`;
    /// without (an acknowledgement that came later) no row is touched. Loop detection is
    /// the caller's: [`Submission::transferred_to`](super::Submission::transferred_to).
    pub async fn transfer(
        &self,
        id: SubmissionId,
        lease: Option<&Lease>,
        to: OfficeId,
        step_detail: &str,
        receipt: Option<super::NewReceipt>,
        expiry: Duration,
    ) -> Result<(), StoreError> {
        const OP: &str = "transfer";
        let now = self.clock.now_ms();
        let subject = Subject::submission(id);
        let step = Step {
            state: SubmissionState::Transferred,
            detail: Some(step_detail.to_owned()),
            case_number: None,
            receipt,
        };
        on_backend!(self, pool => {
            let _turn = self.write_turn().await;
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            if let Some(lease) = lease {
                let closed = sqlx::query(CLOSE)
                    .bind(&lease.outbox_id)
                    .bind(&lease.owner)
                    .bind(lease.expires_at)
                    .bind("done")
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                match closed {
                    Some(row) if closed_row(&row)?.0 == subject => {}
                    _ => return Err(lost(lease)),
                }
            }
            let applied = apply_step!(tx, &subject.id, &step, Some(to.to_string()), Some(to.to_string()), now)
                .map_err(db(OP))?;
            if !applied {
                return Err(StoreError::NotFound(id));
            }
            sqlx::query(INSERT_OUTBOX)
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(subject.kind.as_str())
                .bind(&subject.id)
                .bind(to.to_string())
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(now)
                .bind(now.saturating_add(duration_ms(expiry)))
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?;
            tx.commit().await.map_err(db(OP))
        })
    }

    /// Hands back every row `worker` holds (at shutdown): due again for any worker at once,
    /// attempts unchanged. Returns how many.
    pub async fn release_leases(&self, worker: &str) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await;
        on_backend!(self, pool => {
            Ok(sqlx::query(
                "UPDATE outbox SET lease_owner = NULL, lease_expires_at = NULL \
                 WHERE lease_owner = $1 AND state = 'pending'",
            )
            .bind(worker)
            .execute(pool)
            .await
            .map_err(db("release_leases"))?
            .rows_affected())
        })
    }

    /// Outbox gauges: rows to deliver, of those leased now, age of the oldest.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        const OP: &str = "outbox_stats";
        let now = self.clock.now_ms();
        let (depth, leased, oldest) = on_backend!(self, pool => {
            sqlx::query_as::<_, (i64, Option<i64>, Option<i64>)>(
                "SELECT COUNT(*), \
                 SUM(CASE WHEN lease_owner IS NOT NULL AND lease_expires_at > $1 THEN 1 ELSE 0 END), \
                 MIN(created_at) FROM outbox WHERE state = 'pending'",
            )
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(db(OP))?
        });
        Ok(OutboxStats {
            depth: u64::try_from(depth).unwrap_or(0),
            leased: leased.and_then(|l| u64::try_from(l).ok()).unwrap_or(0),
            oldest_age: oldest.map(|t| Duration::from_millis(u64::try_from(now - t).unwrap_or(0))),
        })
    }
}

/// The subject, target office and expiry of a row returned by `CLOSE` and its kin.
fn closed_row(row: &impl Cols) -> Result<(Subject, OfficeId, i64), StoreError> {
    const T: &str = "outbox";
    Ok((
        Subject {
            kind: row.parsed::<SubjectKind>(T, "subject_kind")?,
            id: row.text(T, "subject_id")?,
        },
        row.parsed::<OfficeId>(T, "target_office")?,
        row.int(T, "expires_at")?,
    ))
}

pub(super) fn lost(lease: &Lease) -> StoreError {
    StoreError::LeaseLost {
        outbox_id: lease.outbox_id.clone(),
    }
}
