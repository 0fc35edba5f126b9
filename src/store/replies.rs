//! Replies and retention: a person's reply to a message, an office's inbox of replies not
//! yet acknowledged (oldest first, by cursor) and its acknowledgement, and the retention
//! pass that deletes content past its period and keeps hashes, sizes and receipts.

use super::message_model::{Cursor, MessageId, NewReply, Purged, StoredReply};
use super::messages::{sealed_of, stored};
use super::model::Subject;
use super::rows::Cols;
use super::submissions::INSERT_OUTBOX;
use super::{Store, StoreError, WritePool, db, duration_ms, on_backend};
use crate::model::OfficeId;

const REPLY_COLUMNS: &str =
    "id, message_id, office, key_id, content, content_sha256, created_at, acknowledged_at";

fn reply_row(r: &impl Cols) -> Result<StoredReply, StoreError> {
    const T: &str = "message_replies";
    Ok(StoredReply {
        id: r.parsed::<MessageId>(T, "id")?,
        message_id: r.parsed::<MessageId>(T, "message_id")?,
        office: r.parsed::<OfficeId>(T, "office")?,
        content: sealed_of(r, T)?,
        content_sha256: r.text(T, "content_sha256")?,
        created_at: r.int(T, "created_at")?,
        acknowledged_at: r.opt_int(T, "acknowledged_at")?,
    })
}

/// Empties the content of `table`'s rows past their retention period (`$1` now); hashes,
/// sizes, times and receipts stay.
fn purge_content(table: &'static str) -> String {
    format!(
        "UPDATE {table} SET key_id = NULL, content = NULL, purged_at = $1 \
         WHERE purge_after <= $1 AND purged_at IS NULL"
    )
}

impl Store {
    /// Stores a reply for the message's office and, when it is pushed, its outbox row (due
    /// now, the reply's id as the message id of every attempt), in one transaction.
    pub async fn create_reply(&self, new: &NewReply) -> Result<StoredReply, StoreError> {
        const OP: &str = "create_reply";
        let now = self.clock.now_ms();
        let (key_id, content) = stored(&new.content);
        let subject = Subject::reply(new.id);
        on_backend!(self, pool => {
            let _turn = self.write_turn().await;
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            sqlx::query(
                "INSERT INTO message_replies (id, message_id, office, portal, person, key_id, \
                 content, content_sha256, created_at, acknowledged_at, purge_after, purged_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, NULL)",
            )
            .bind(new.id.to_string())
            .bind(new.message_id.to_string())
            .bind(new.office.to_string())
            .bind(&new.portal)
            .bind(&new.person)
            .bind(&key_id)
            .bind(&content)
            .bind(&new.content_sha256)
            .bind(now)
            .bind(now.saturating_add(duration_ms(new.retention)))
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
            if let Some(expiry) = new.push_expiry {
                sqlx::query(INSERT_OUTBOX)
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(subject.kind.as_str())
                    .bind(&subject.id)
                    .bind(new.office.to_string())
                    .bind(&subject.id)
                    .bind(now)
                    .bind(now.saturating_add(duration_ms(expiry)))
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
            }
            tx.commit().await.map_err(db(OP))?;
        });
        Ok(StoredReply {
            id: new.id,
            message_id: new.message_id,
            office: new.office,
            content: Some(new.content.clone()),
            content_sha256: new.content_sha256.clone(),
            created_at: now,
            acknowledged_at: None,
        })
    }

    /// Reply `id` (the delivery worker's read).
    pub async fn get_reply(&self, id: MessageId) -> Result<Option<StoredReply>, StoreError> {
        on_backend!(self, pool => {
            let sql = format!("SELECT {REPLY_COLUMNS} FROM message_replies WHERE id = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await
                .map_err(db("get_reply"))?
                .map(|r| reply_row(&r))
                .transpose()
        })
    }

    /// The replies to `office` not yet acknowledged, oldest first, after `cursor`.
    pub async fn inbox(
        &self,
        office: OfficeId,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<StoredReply>, StoreError> {
        let (at, after) = cursor.map_or((i64::MIN, String::new()), |c| (c.at, c.id.clone()));
        on_backend!(self, pool => {
            let sql = format!(
                "SELECT {REPLY_COLUMNS} FROM message_replies WHERE office = $1 \
                 AND acknowledged_at IS NULL \
                 AND (created_at > $2 OR (created_at = $2 AND id > $3)) \
                 ORDER BY created_at, id LIMIT $4"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(office.to_string())
                .bind(at)
                .bind(&after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(db("inbox"))?
                .iter()
                .map(reply_row)
                .collect()
        })
    }

    /// The replies to message `id`, oldest first.
    pub async fn replies_of(&self, id: MessageId) -> Result<Vec<StoredReply>, StoreError> {
        on_backend!(self, pool => {
            let sql = format!(
                "SELECT {REPLY_COLUMNS} FROM message_replies WHERE message_id = $1 \
                 ORDER BY created_at, id"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.to_string())
                .fetch_all(pool)
                .await
                .map_err(db("replies_of"))?
                .iter()
                .map(reply_row)
                .collect()
        })
    }

    /// The office acknowledges reply `id`: `Ok(true)` the first time, `Ok(false)` when it
    /// was acknowledged before; `None` when `office` has no such reply.
    pub async fn acknowledge_reply(
        &self,
        office: OfficeId,
        id: MessageId,
    ) -> Result<Option<bool>, StoreError> {
        const OP: &str = "acknowledge_reply";
        let now = self.clock.now_ms();
        on_backend!(self, pool => {
            let found: Option<Option<i64>> = sqlx::query_scalar(
                "SELECT acknowledged_at FROM message_replies WHERE id = $1 AND office = $2",
            )
            .bind(id.to_string())
            .bind(office.to_string())
            .fetch_optional(pool)
            .await
            .map_err(db(OP))?;
            let Some(before) = found else {
                return Ok(None);
            };
            if before.is_some() {
                return Ok(Some(false));
            }
            let done = sqlx::query(
                "UPDATE message_replies SET acknowledged_at = $3 \
                 WHERE id = $1 AND office = $2 AND acknowledged_at IS NULL",
            )
            .bind(id.to_string())
            .bind(office.to_string())
            .bind(now)
            .execute(pool)
            .await
            .map_err(db(OP))?;
            Ok(Some(done.rows_affected() == 1))
        })
    }

    /// Deletes the content of messages (with their attachments) and replies whose
    /// retention period has passed; hashes, sizes, times and receipts stay.
    pub async fn purge_expired(&self) -> Result<Purged, StoreError> {
        const OP: &str = "purge_expired";
        let now = self.clock.now_ms();
        on_backend!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            sqlx::query(
                "UPDATE message_attachments SET key_id = NULL, content = NULL \
                 WHERE content IS NOT NULL AND message_id IN \
                 (SELECT id FROM messages WHERE purge_after <= $1 AND purged_at IS NULL)",
            )
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
            let mut purged = [0u64; 2];
            for (n, table) in purged.iter_mut().zip(["messages", "message_replies"]) {
                *n = sqlx::query(sqlx::AssertSqlSafe(purge_content(table)))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?
                    .rows_affected();
            }
            let [messages, replies] = purged;
            tx.commit().await.map_err(db(OP))?;
            Ok(Purged { messages, replies })
        })
    }
}
