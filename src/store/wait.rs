//! Changes to a leased outbox row that touch nothing else: waiting on a delivery without
//! counting an attempt (a sedex message handed to the fund's client waits for its
//! receipt, a `202` for its acknowledgement; a wait is not a failure, and polling must not
//! flood the history), closing a row its submission no longer needs, extending a lease.
//! Each presents the lease: [`StoreError::LeaseLost`] when it is no longer this worker's.

use super::model::Lease;
use super::{Store, StoreError, db, on_backend};

impl Store {
    /// Hands a leased row back, due again at `next_attempt_at` (unix ms), changing nothing
    /// else.
    pub async fn defer(&self, lease: &Lease, next_attempt_at: i64) -> Result<(), StoreError> {
        const SET: &str = "next_attempt_at = $4, lease_owner = NULL, lease_expires_at = NULL";
        self.update_leased(lease, SET, next_attempt_at, "defer")
            .await
    }

    /// Closes a leased row `done` without touching its submission: the submission moved on
    /// without it (an acknowledgement that arrived through a sedex inbox, a transfer).
    pub async fn close_superseded(&self, lease: &Lease) -> Result<(), StoreError> {
        const SET: &str =
            "state = 'done', lease_owner = NULL, lease_expires_at = NULL, finished_at = $4";
        let now = self.clock.now_ms();
        self.update_leased(lease, SET, now, "close_superseded")
            .await
    }

    /// `UPDATE outbox SET <set>` (where `$4` is `value`) on the row `lease` holds, if it
    /// still holds it.
    pub(super) async fn update_leased(
        &self,
        lease: &Lease,
        set: &'static str,
        value: i64,
        op: &'static str,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE outbox SET {set} WHERE id = $1 AND lease_owner = $2 \
             AND lease_expires_at = $3 AND state = 'pending'"
        );
        let turn = self.write_turn().await;
        let changed = on_backend!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&lease.outbox_id)
                .bind(&lease.owner)
                .bind(lease.expires_at)
                .bind(value)
                .execute(pool)
                .await
                .map_err(db(op))?
                .rows_affected()
        });
        drop(turn);
        if changed == 0 {
            return Err(super::outbox::lost(lease));
        }
        Ok(())
    }
}
