//! Waiting on a delivery without counting an attempt: a sedex message handed to the
//! fund's client waits for its receipt, a `202` for its acknowledgement. The row is
//! handed back due at a later time; its attempts, its error and the submission's history
//! stay as they are (a wait is not a failure, and polling must not flood the history).

use super::model::Lease;
use super::{Store, StoreError, db, on_backend};

impl Store {
    /// Hands a leased row back, due again at `next_attempt_at` (unix ms), changing nothing
    /// else. [`StoreError::LeaseLost`] when the lease is no longer this worker's.
    pub async fn defer(&self, lease: &Lease, next_attempt_at: i64) -> Result<(), StoreError> {
        const OP: &str = "defer";
        let changed = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE outbox SET next_attempt_at = $4, lease_owner = NULL, \
                 lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2 \
                 AND lease_expires_at = $3 AND state = 'pending'",
            )
            .bind(&lease.outbox_id)
            .bind(&lease.owner)
            .bind(lease.expires_at)
            .bind(next_attempt_at)
            .execute(pool)
            .await
            .map_err(db(OP))?
            .rows_affected()
        });
        if changed == 0 {
            return Err(super::outbox::lost(lease));
        }
        Ok(())
    }

    /// Closes a leased row `done` without touching its submission: the submission moved on
    /// without it (an acknowledgement that arrived through a sedex inbox, a transfer).
    pub async fn close_superseded(&self, lease: &Lease) -> Result<(), StoreError> {
        const OP: &str = "close_superseded";
        let now = self.clock.now_ms();
        let changed = on_backend!(self, pool => {
            sqlx::query(
                "UPDATE outbox SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, \
                 finished_at = $4 WHERE id = $1 AND lease_owner = $2 AND lease_expires_at = $3 \
                 AND state = 'pending'",
            )
            .bind(&lease.outbox_id)
            .bind(&lease.owner)
            .bind(lease.expires_at)
            .bind(now)
            .execute(pool)
            .await
            .map_err(db(OP))?
            .rows_affected()
        });
        if changed == 0 {
            return Err(super::outbox::lost(lease));
        }
        Ok(())
    }
}
