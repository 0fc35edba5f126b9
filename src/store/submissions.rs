//! Submissions: creating one in a single transaction (the submission, its first history,
//! its submission receipt and its outbox row, or nothing), reading one back for its
//! portal, and the acknowledgements that arrive after delivery.

use super::model::{
    Created, NewSubmission, OutboxEntry, OutboxState, Receipt, Step, Subject, SubjectKind,
    Submission, SubmissionId, SubmissionState,
};
use super::rows::{self, Cols, SUBMISSION_COLUMNS};
use super::{Store, StoreError, WritePool, db, duration_ms, on_backend, sha256_hex};
use crate::model::{Identity, OfficeId};

const INSERT_SUBMISSION: &str = "INSERT INTO submissions (id, kind, portal, idempotency_key, \
     body_sha256, body, state, competent_office, routing_rule, case_number, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $10) \
     ON CONFLICT (portal, idempotency_key) DO NOTHING";

/// Appends a history row after the last one. The submission's row is always updated first
/// in the same transaction: its row lock orders concurrent writers of one submission.
pub(super) const INSERT_HISTORY: &str = "INSERT INTO submission_history \
     (submission_id, seq, state, office, detail, at) \
     SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM submission_history \
     WHERE submission_id = $1";

pub(super) const INSERT_RECEIPT: &str = "INSERT INTO receipts \
     (id, subject_kind, subject_id, kind, jws, sha256, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

pub(super) const INSERT_OUTBOX: &str = "INSERT INTO outbox (id, subject_kind, subject_id, \
     target_office, message_id, state, attempts, next_attempt_at, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $7)";

/// Moves a submission to a new state unless it is final; `$3` replaces the case number
/// when given, `$5` the competent office when given.
pub(super) const UPDATE_STATE: &str = "UPDATE submissions SET state = $2, \
     case_number = COALESCE($3, case_number), updated_at = $4, \
     competent_office = COALESCE($5, competent_office) \
     WHERE id = $1 AND state NOT IN ('accepted', 'rejected', 'failed')";

/// Runs `$tx` statements that insert a receipt for `$subject` (a `Subject`), returning
/// the `Result` of the insert.
macro_rules! insert_receipt {
    ($tx:expr, $subject:expr, $receipt:expr, $now:expr) => {{
        let receipt: &$crate::store::NewReceipt = $receipt;
        sqlx::query(INSERT_RECEIPT)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind($subject.kind.as_str())
            .bind($subject.id.as_str())
            .bind(receipt.kind.as_str())
            .bind(receipt.jws.as_str())
            .bind(sha256_hex(receipt.jws.as_bytes()))
            .bind($now)
            .execute(&mut *$tx)
            .await
    }};
}
pub(super) use insert_receipt;

/// Applies `$step` to submission `$id` (text) in `$tx`: the state (unless final), the
/// case number, a new competent office, a history row naming `$office`, and the receipt.
/// Evaluates to `Ok(true)`, or `Ok(false)` when the submission is missing or final.
macro_rules! apply_step {
    ($tx:expr, $id:expr, $step:expr, $office:expr, $new_office:expr, $now:expr) => {{
        let step: &$crate::store::Step = $step;
        let id: &str = $id;
        let office: Option<String> = $office;
        let new_office: Option<String> = $new_office;
        async {
            let changed = sqlx::query(UPDATE_STATE)
                .bind(id)
                .bind(step.state.as_str())
                .bind(step.case_number.as_deref())
                .bind($now)
                .bind(new_office)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Ok::<bool, sqlx::Error>(false);
            }
            sqlx::query(INSERT_HISTORY)
                .bind(id)
                .bind(step.state.as_str())
                .bind(office)
                .bind(step.detail.as_deref())
                .bind($now)
                .execute(&mut *$tx)
                .await?;
            if let Some(receipt) = &step.receipt {
                let subject = Subject {
                    kind: SubjectKind::Submission,
                    id: id.to_owned(),
                };
                insert_receipt!($tx, subject, receipt, $now)?;
            }
            Ok(true)
        }
        .await
    }};
}
pub(super) use apply_step;

/// The one idempotency rule of submissions and messages: what was stored under the key
/// (with the SHA-256 of the request that stored it) answers a request with the same
/// SHA-256; another request under the key is [`StoreError::Conflict`]; nothing stored,
/// `None` (a new request). Asked before anything is sealed, so a replay seals, stores
/// and audits nothing.
pub(super) fn same_request<T>(
    found: Option<(T, String)>,
    request_sha256: &str,
) -> Result<Option<T>, StoreError> {
    match found {
        Some((_, stored)) if stored != request_sha256 => Err(StoreError::Conflict),
        found => Ok(found.map(|(row, _)| row)),
    }
}

impl Store {
    /// Stores a new submission with its `received` and `routed` history, its submission
    /// receipt and its outbox row (due now, message id fixed for every attempt) in one
    /// transaction: all of it or nothing. The same portal and idempotency key with the
    /// same body → [`Created::Existing`] (nothing written); with another body →
    /// [`StoreError::Conflict`].
    pub async fn create_submission(&self, new: NewSubmission) -> Result<Created, StoreError> {
        const OP: &str = "create_submission";
        let now = self.clock.now_ms();
        let id = new.id.to_string();
        let portal = new.portal.uri();
        let office = new.competent_office.to_string();
        let body_sha256 = sha256_hex(new.body.as_bytes());
        let subject = Subject::submission(new.id);
        let expires_at = now.saturating_add(duration_ms(new.delivery_expiry));
        let inserted = on_backend!(self, pool => {
            let _turn = self.write_turn().await;
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            let written = sqlx::query(INSERT_SUBMISSION)
                .bind(&id)
                .bind(new.kind.as_str())
                .bind(&portal)
                .bind(&new.idempotency_key)
                .bind(&body_sha256)
                .bind(&new.body)
                .bind(SubmissionState::Routed.as_str())
                .bind(&office)
                .bind(&new.routing_rule)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db(OP))?
                .rows_affected();
            if written == 0 {
                tx.rollback().await.map_err(db(OP))?;
                false
            } else {
                for (seq, state, detail) in [
                    (1_i64, SubmissionState::Received, None),
                    (2, SubmissionState::Routed, Some(routed_detail(&new))),
                ] {
                    sqlx::query(
                        "INSERT INTO submission_history \
                         (submission_id, seq, state, office, detail, at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&id)
                    .bind(seq)
                    .bind(state.as_str())
                    .bind((state == SubmissionState::Routed).then_some(office.as_str()))
                    .bind(detail)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                }
                insert_receipt!(tx, subject, &new.receipt, now).map_err(db(OP))?;
                sqlx::query(INSERT_OUTBOX)
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(subject.kind.as_str())
                    .bind(&subject.id)
                    .bind(&office)
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(now)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db(OP))?;
                tx.commit().await.map_err(db(OP))?;
                true
            }
        });
        if !inserted {
            // A concurrent first attempt with the same key won the unique constraint.
            let existing = self
                .replay(&new.portal, &new.idempotency_key, &body_sha256)
                .await?
                .ok_or(StoreError::Conflict)?;
            return Ok(Created::Existing(existing));
        }
        self.load_submission(new.id)
            .await?
            .map(Created::New)
            .ok_or(StoreError::NotFound(new.id))
    }

    /// A repeated request: the submission `portal` stored under `key`, if any, when its
    /// body has the SHA-256 `body_sha256`; [`StoreError::Conflict`] when the key was used
    /// with another body. Asked before anything is signed, so a replay seals nothing.
    pub async fn replay(
        &self,
        portal: &Identity,
        key: &str,
        body_sha256: &str,
    ) -> Result<Option<Submission>, StoreError> {
        let found = self.find_by_key(portal, key).await?.map(|s| {
            let sha = s.body_sha256.clone();
            (s, sha)
        });
        same_request(found, body_sha256)
    }

    /// The submission `id` if `portal` submitted it (another portal's → `None`).
    pub async fn get_submission(
        &self,
        portal: &Identity,
        id: SubmissionId,
    ) -> Result<Option<Submission>, StoreError> {
        Ok(self
            .load_submission(id)
            .await?
            .filter(|s| s.portal == portal.uri()))
    }

    /// The submission `id` whoever submitted it (the delivery worker's read).
    pub async fn load_submission(
        &self,
        id: SubmissionId,
    ) -> Result<Option<Submission>, StoreError> {
        let sql = format!("SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE id = $1");
        self.read_submission(&sql, &[id.to_string()]).await
    }

    /// The submission stored under `portal`'s idempotency `key`.
    async fn find_by_key(
        &self,
        portal: &Identity,
        key: &str,
    ) -> Result<Option<Submission>, StoreError> {
        let sql = format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE portal = $1 AND idempotency_key = $2"
        );
        self.read_submission(&sql, &[portal.uri(), key.to_owned()])
            .await
    }

    /// One submission by a `SELECT` of its columns, with its history and receipts.
    async fn read_submission(
        &self,
        sql: &str,
        args: &[String],
    ) -> Result<Option<Submission>, StoreError> {
        const OP: &str = "get_submission";
        on_backend!(self, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for a in args {
                query = query.bind(a.as_str());
            }
            let Some(row) = query.fetch_optional(pool).await.map_err(db(OP))? else {
                return Ok(None);
            };
            let mut submission = rows::submission(&row)?;
            let id = submission.id.to_string();
            let history = sqlx::query(
                "SELECT state, office, detail, at FROM submission_history \
                 WHERE submission_id = $1 ORDER BY seq",
            )
            .bind(&id)
            .fetch_all(pool)
            .await
            .map_err(db(OP))?;
            submission.history = history.iter().map(rows::history).collect::<Result<_, _>>()?;
            let receipts = sqlx::query(
                "SELECT id, kind, jws, sha256, created_at FROM receipts \
                 WHERE subject_kind = $1 AND subject_id = $2 ORDER BY created_at, id",
            )
            .bind(SubjectKind::Submission.as_str())
            .bind(&id)
            .fetch_all(pool)
            .await
            .map_err(db(OP))?;
            submission.receipts = receipts.iter().map(rows::receipt).collect::<Result<_, _>>()?;
            Ok(Some(submission))
        })
    }

    /// The receipts of `subject`, oldest first.
    pub async fn receipts(&self, subject: &Subject) -> Result<Vec<Receipt>, StoreError> {
        on_backend!(self, pool => {
            let found = sqlx::query(
                "SELECT id, kind, jws, sha256, created_at FROM receipts \
                 WHERE subject_kind = $1 AND subject_id = $2 ORDER BY created_at, id",
            )
            .bind(subject.kind.as_str())
            .bind(&subject.id)
            .fetch_all(pool)
            .await
            .map_err(db("receipts"))?;
            found.iter().map(rows::receipt).collect()
        })
    }

    /// Records an acknowledgement that arrived after delivery (over sedex, later): the
    /// state, case number, history and delivery receipt, in one transaction. `Ok(false)`
    /// when the submission is already final (a repeated acknowledgement changes nothing).
    pub async fn acknowledge(
        &self,
        id: SubmissionId,
        office: OfficeId,
        step: &Step,
    ) -> Result<bool, StoreError> {
        const OP: &str = "acknowledge";
        let now = self.clock.now_ms();
        let id_text = id.to_string();
        on_backend!(self, pool => {
            let _turn = self.write_turn().await;
            let mut tx = pool.begin_write().await.map_err(db(OP))?;
            let applied = apply_step!(tx, &id_text, step, Some(office.to_string()), None, now)
                .map_err(db(OP))?;
            if applied {
                tx.commit().await.map_err(db(OP))?;
            } else {
                tx.rollback().await.map_err(db(OP))?;
                if self.load_submission(id).await?.is_none() {
                    return Err(StoreError::NotFound(id));
                }
            }
            Ok(applied)
        })
    }

    /// The outbox rows of `subject`, oldest first (each delivery target once, its message id).
    pub async fn outbox_of(&self, subject: &Subject) -> Result<Vec<OutboxEntry>, StoreError> {
        const T: &str = "outbox";
        on_backend!(self, pool => {
            let found = sqlx::query(
                "SELECT id, target_office, message_id, state, attempts, last_error, created_at \
                 FROM outbox WHERE subject_kind = $1 AND subject_id = $2 ORDER BY created_at, id",
            )
            .bind(subject.kind.as_str())
            .bind(&subject.id)
            .fetch_all(pool)
            .await
            .map_err(db("outbox_of"))?;
            found
                .iter()
                .map(|r| {
                    Ok(OutboxEntry {
                        id: r.text(T, "id")?,
                        target_office: r.parsed::<OfficeId>(T, "target_office")?,
                        message_id: r.text(T, "message_id")?,
                        state: r.parsed::<OutboxState>(T, "state")?,
                        attempts: u32::try_from(r.int(T, "attempts")?).unwrap_or(u32::MAX),
                        last_error: r.opt_text(T, "last_error")?,
                        created_at: r.int(T, "created_at")?,
                    })
                })
                .collect()
        })
    }
}

/// The `routed` history entry's detail: the rule, then what the routing rested on.
fn routed_detail(new: &NewSubmission) -> String {
    match &new.routing_basis {
        Some(basis) => format!("rule {}; {basis}", new.routing_rule),
        None => format!("rule {}", new.routing_rule),
    }
}

impl Store {
    /// Counts submissions missing a part that `create_submission` writes with them (all
    /// zero unless a transaction was half-applied, which must never happen).
    pub async fn integrity(&self) -> Result<super::Integrity, StoreError> {
        let (submissions, without_history, without_receipt, without_outbox) = on_backend!(self, pool => {
            sqlx::query_as::<_, (i64, Option<i64>, Option<i64>, Option<i64>)>(
                "SELECT COUNT(*), \
                 SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM submission_history h \
                     WHERE h.submission_id = s.id) THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM receipts r \
                     WHERE r.subject_kind = 'submission' AND r.subject_id = s.id \
                     AND r.kind = 'submission') THEN 1 ELSE 0 END), \
                 SUM(CASE WHEN NOT EXISTS (SELECT 1 FROM outbox o \
                     WHERE o.subject_kind = 'submission' AND o.subject_id = s.id) THEN 1 ELSE 0 END) \
                 FROM submissions s",
            )
            .fetch_one(pool)
            .await
            .map_err(db("integrity"))?
        });
        let count = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        Ok(super::Integrity {
            submissions: count(Some(submissions)),
            without_history: count(without_history),
            without_receipt: count(without_receipt),
            without_outbox: count(without_outbox),
        })
    }
}
