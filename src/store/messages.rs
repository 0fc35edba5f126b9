//! Messages: storing one with its attachments and dispatch receipt in a single
//! transaction (idempotent per sending office and key), reading one, a person's listing
//! (newest first, by cursor) with the unread count, and the first read, which records
//! the read receipt exactly once. Content is only stored encrypted.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::message_model::{
    Cursor, MessageCreated, MessageId, NewMessage, StoredAttachment, StoredMessage,
};
use super::model::{NewReceipt, Receipt};
use super::rows::{self, Cols};
use super::submissions::{INSERT_RECEIPT, same_request};
use super::{Store, StoreError, WritePool, db, duration_ms, on_backend, sha256_hex};
use crate::message::{MessageKind, Sealed};
use crate::model::OfficeId;

/// The `subject_kind` of a message's receipts in `receipts`.
pub(super) const MESSAGE_SUBJECT: &str = "message";

/// Inserts a receipt of message `$id` (text) in `$tx`, mapping the error.
macro_rules! insert_message_receipt {
    ($tx:expr, $id:expr, $receipt:expr, $now:expr) => {{
        let receipt: &NewReceipt = $receipt;
        sqlx::query(INSERT_RECEIPT)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(MESSAGE_SUBJECT)
            .bind($id)
            .bind(receipt.kind.as_str())
            .bind(receipt.jws.as_str())
            .bind(sha256_hex(receipt.jws.as_bytes()))
            .bind($now)
            .execute(&mut *$tx)
            .await
            .map_err(db("insert_receipt"))
    }};
}

const MESSAGE_COLUMNS: &str = "id, sender_office, idempotency_key, person, kind, reference, \
     key_id, content, body_sha256, created_at, read_at, purged_at";

/// The stored text of an encrypted value: its key id and base64.
pub(super) fn stored(sealed: &Sealed) -> (String, String) {
    (sealed.key_id().to_owned(), STANDARD.encode(sealed.data()))
}

/// An encrypted value read back (`None` when deleted).
pub(super) fn sealed_of(r: &impl Cols, table: &'static str) -> Result<Option<Sealed>, StoreError> {
    let (Some(key_id), Some(text)) = (r.opt_text(table, "key_id")?, r.opt_text(table, "content")?)
    else {
        return Ok(None);
    };
    let data = STANDARD
        .decode(text.as_bytes())
        .map_err(|e| StoreError::Corrupt {
            table,
            column: "content",
            problem: e.to_string(),
        })?;
    Ok(Some(Sealed::from_stored(key_id, data)))
}

fn message_row(r: &impl Cols) -> Result<StoredMessage, StoreError> {
    const T: &str = "messages";
    Ok(StoredMessage {
        id: r.parsed::<MessageId>(T, "id")?,
        sender: r.parsed::<OfficeId>(T, "sender_office")?,
        idempotency_key: r.text(T, "idempotency_key")?,
        person: r.text(T, "person")?,
        kind: r.parsed::<MessageKind>(T, "kind")?,
        reference: r.opt_text(T, "reference")?,
        content: sealed_of(r, T)?,
        body_sha256: r.text(T, "body_sha256")?,
        created_at: r.int(T, "created_at")?,
        read_at: r.opt_int(T, "read_at")?,
        purged_at: r.opt_int(T, "purged_at")?,
        attachments: Vec::new(),
    })
}

fn attachment_row(r: &impl Cols, with_content: bool) -> Result<StoredAttachment, StoreError> {
    const T: &str = "message_attachments";
    Ok(StoredAttachment {
        seq: u32::try_from(r.int(T, "seq")?).unwrap_or(u32::MAX),
        media_type: r.text(T, "media_type")?,
        size: u64::try_from(r.int(T, "size")?).unwrap_or(0),
        sha256: r.text(T, "sha256")?,
        content: if with_content { sealed_of(r, T)? } else { None },
    })
}

impl Store {
    /// Stores a message, its attachments and its dispatch receipt in one transaction, or
    /// nothing. The same office and key again: the stored message when the request is the
    /// same (`Existing`), [`StoreError::Conflict`] when it differs.
    pub async fn create_message(&self, new: NewMessage) -> Result<MessageCreated, StoreError> {
        const OP: &str = "create_message";
        let now = self.clock.now_ms();
        let id = new.id.to_string();
        let (key_id, content) = stored(&new.content);
        let inserted = on_backend!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            let done = sqlx::query(
                "INSERT INTO messages (id, sender_office, idempotency_key, request_sha256, \
                 person, kind, reference, key_id, content, body_sha256, created_at, read_at, \
                 purge_after, purged_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                 NULL, $12, NULL) ON CONFLICT (sender_office, idempotency_key) DO NOTHING",
            )
            .bind(&id)
            .bind(new.sender.to_string())
            .bind(&new.idempotency_key)
            .bind(&new.request_sha256)
            .bind(&new.person)
            .bind(new.kind.as_str())
            .bind(new.reference.as_deref())
            .bind(&key_id)
            .bind(&content)
            .bind(&new.body_sha256)
            .bind(now)
            .bind(now.saturating_add(duration_ms(new.retention)))
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
            if done.rows_affected() == 0 {
                tx.rollback().await.map_err(db(OP))?;
                false
            } else {
                for (seq, a) in new.attachments.iter().enumerate() {
                    let (key_id, content) = stored(&a.content);
                    sqlx::query(
                        "INSERT INTO message_attachments (message_id, seq, media_type, size, \
                         sha256, key_id, content) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&id)
                    .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                    .bind(&a.media_type)
                    .bind(i64::try_from(a.size).unwrap_or(i64::MAX))
                    .bind(&a.sha256)
                    .bind(&key_id)
                    .bind(&content)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                }
                insert_message_receipt!(tx, &id, &new.receipt, now)?;
                tx.commit().await.map_err(db(OP))?;
                true
            }
        });
        if !inserted {
            // A concurrent first attempt with the same key won the unique constraint.
            let existing = self
                .replay_message(new.sender, &new.idempotency_key, &new.request_sha256)
                .await?
                .ok_or(StoreError::Conflict)?;
            return Ok(MessageCreated::Existing(existing));
        }
        let created = self.get_message(new.id).await?;
        created
            .map(MessageCreated::New)
            .ok_or_else(|| StoreError::Corrupt {
                table: "messages",
                column: "id",
                problem: "not found right after it was stored".into(),
            })
    }

    /// A repeated request: the message `sender` stored under `key`, if any, when it was
    /// sent by a request with the SHA-256 `request_sha256`; [`StoreError::Conflict`] when
    /// the key was used with another request. The rule of [`Store::replay`], asked before
    /// the dispatch receipt is sealed.
    pub async fn replay_message(
        &self,
        sender: OfficeId,
        key: &str,
        request_sha256: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let found = self.find_message_by_key(sender, key).await?;
        same_request(found, request_sha256)
    }

    /// The message stored under `sender`'s idempotency `key`, and its request hash.
    async fn find_message_by_key(
        &self,
        sender: OfficeId,
        key: &str,
    ) -> Result<Option<(StoredMessage, String)>, StoreError> {
        let found = on_backend!(self, pool => {
            sqlx::query(
                "SELECT id, request_sha256 FROM messages \
                 WHERE sender_office = $1 AND idempotency_key = $2",
            )
            .bind(sender.to_string())
            .bind(key)
            .fetch_optional(pool)
            .await
            .map_err(db("create_message"))?
            .map(|r| Ok::<_, StoreError>((r.parsed::<MessageId>("messages", "id")?, r.text("messages", "request_sha256")?)))
            .transpose()?
        });
        let Some((id, request)) = found else {
            return Ok(None);
        };
        Ok(self.get_message(id).await?.map(|m| (m, request)))
    }

    /// A message with its content and its attachments' hashes (not their content).
    pub async fn get_message(&self, id: MessageId) -> Result<Option<StoredMessage>, StoreError> {
        const OP: &str = "get_message";
        on_backend!(self, pool => {
            let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
            let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await
                .map_err(db(OP))?
            else {
                return Ok(None);
            };
            let mut message = message_row(&row)?;
            let attachments = sqlx::query(
                "SELECT seq, media_type, size, sha256 FROM message_attachments \
                 WHERE message_id = $1 ORDER BY seq",
            )
            .bind(id.to_string())
            .fetch_all(pool)
            .await
            .map_err(db(OP))?;
            message.attachments = attachments
                .iter()
                .map(|r| attachment_row(r, false))
                .collect::<Result<_, _>>()?;
            Ok(Some(message))
        })
    }

    /// Attachment `seq` of message `id`, with its content (`None` inside once deleted).
    pub async fn message_attachment(
        &self,
        id: MessageId,
        seq: u32,
    ) -> Result<Option<StoredAttachment>, StoreError> {
        on_backend!(self, pool => {
            sqlx::query(
                "SELECT seq, media_type, size, sha256, key_id, content FROM message_attachments \
                 WHERE message_id = $1 AND seq = $2",
            )
            .bind(id.to_string())
            .bind(i64::from(seq))
            .fetch_optional(pool)
            .await
            .map_err(db("message_attachment"))?
            .map(|r| attachment_row(&r, true))
            .transpose()
        })
    }

    /// The person's messages, newest first, after `cursor`, at most `limit` (with their
    /// attachments' hashes, no attachment content).
    pub async fn list_messages(
        &self,
        person: &str,
        cursor: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        const OP: &str = "list_messages";
        let (at, after) = cursor.map_or((i64::MAX, String::new()), |c| (c.at, c.id.clone()));
        let ids: Vec<MessageId> = on_backend!(self, pool => {
            sqlx::query(
                "SELECT id FROM messages WHERE person = $1 \
                 AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
                 ORDER BY created_at DESC, id DESC LIMIT $4",
            )
            .bind(person)
            .bind(at)
            .bind(&after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db(OP))?
            .iter()
            .map(|r| r.parsed::<MessageId>("messages", "id"))
            .collect::<Result<_, _>>()?
        });
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = self.get_message(id).await? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// How many of the person's messages were never read.
    pub async fn unread_count(&self, person: &str) -> Result<u64, StoreError> {
        let n: i64 = on_backend!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE person = $1 AND read_at IS NULL")
                .bind(person)
                .fetch_one(pool)
                .await
                .map_err(db("unread_count"))?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Records the first read of message `id` with its read receipt, in one transaction.
    /// `Ok(false)` (nothing stored) when it was read before: later reads change nothing.
    pub async fn mark_read(&self, id: MessageId, receipt: &NewReceipt) -> Result<bool, StoreError> {
        const OP: &str = "mark_read";
        let now = self.clock.now_ms();
        let id = id.to_string();
        on_backend!(self, pool => {
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            let done = sqlx::query(
                "UPDATE messages SET read_at = $2 WHERE id = $1 AND read_at IS NULL",
            )
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db(OP))?;
            if done.rows_affected() == 0 {
                tx.rollback().await.map_err(db(OP))?;
                return Ok(false);
            }
            insert_message_receipt!(tx, &id, receipt, now)?;
            tx.commit().await.map_err(db(OP))?;
            Ok(true)
        })
    }

    /// The receipts of message `id` (dispatch, then read), oldest first.
    pub async fn message_receipts(&self, id: MessageId) -> Result<Vec<Receipt>, StoreError> {
        on_backend!(self, pool => {
            sqlx::query(
                "SELECT id, kind, jws, sha256, created_at FROM receipts \
                 WHERE subject_kind = $1 AND subject_id = $2 ORDER BY created_at, id",
            )
            .bind(MESSAGE_SUBJECT)
            .bind(id.to_string())
            .fetch_all(pool)
            .await
            .map_err(db("message_receipts"))?
            .iter()
            .map(rows::receipt)
            .collect()
        })
    }
}
