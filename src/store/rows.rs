//! Reading rows of either backend: typed column getters ([`Cols`]) and the decoders of
//! the store's values. A value that does not read back is [`StoreError::Corrupt`], naming
//! the table and column, never a panic.

use std::str::FromStr;

use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::StoreError;
use super::model::{
    Delivery, HistoryEntry, Lease, Receipt, ReceiptKind, Subject, SubjectKind, Submission,
    SubmissionId, SubmissionState, SubmissionType,
};
use crate::model::OfficeId;

/// The columns of one row, read by name.
pub(super) trait Cols {
    /// A text column.
    fn text(&self, table: &'static str, col: &'static str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(
        &self,
        table: &'static str,
        col: &'static str,
    ) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn int(&self, table: &'static str, col: &'static str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, table: &'static str, col: &'static str) -> Result<Option<i64>, StoreError>;

    /// A text column parsed with `FromStr`.
    fn parsed<T: FromStr>(&self, table: &'static str, col: &'static str) -> Result<T, StoreError>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.text(table, col)?;
        text.parse().map_err(|e: T::Err| corrupt(table, col, e))
    }

    /// A nullable text column parsed with `FromStr`.
    fn opt_parsed<T: FromStr>(
        &self,
        table: &'static str,
        col: &'static str,
    ) -> Result<Option<T>, StoreError>
    where
        T::Err: std::fmt::Display,
    {
        self.opt_text(table, col)?
            .map(|t| t.parse().map_err(|e: T::Err| corrupt(table, col, e)))
            .transpose()
    }
}

fn corrupt(table: &'static str, column: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        table,
        column,
        problem: e.to_string(),
    }
}

macro_rules! cols_for {
    ($row:ty) => {
        impl Cols for $row {
            fn text(&self, table: &'static str, col: &'static str) -> Result<String, StoreError> {
                self.try_get(col).map_err(|e| corrupt(table, col, e))
            }
            fn opt_text(
                &self,
                table: &'static str,
                col: &'static str,
            ) -> Result<Option<String>, StoreError> {
                self.try_get(col).map_err(|e| corrupt(table, col, e))
            }
            fn int(&self, table: &'static str, col: &'static str) -> Result<i64, StoreError> {
                self.try_get(col).map_err(|e| corrupt(table, col, e))
            }
            fn opt_int(
                &self,
                table: &'static str,
                col: &'static str,
            ) -> Result<Option<i64>, StoreError> {
                self.try_get(col).map_err(|e| corrupt(table, col, e))
            }
        }
    };
}
cols_for!(SqliteRow);
cols_for!(PgRow);

/// Columns of `submissions` read by [`submission`].
pub(super) const SUBMISSION_COLUMNS: &str = "id, kind, portal, idempotency_key, body_sha256, \
     body, state, competent_office, routing_rule, case_number, created_at, updated_at";

/// A `submissions` row (history and receipts empty: the caller adds them).
pub(super) fn submission(r: &impl Cols) -> Result<Submission, StoreError> {
    const T: &str = "submissions";
    Ok(Submission {
        id: r.parsed::<SubmissionId>(T, "id")?,
        kind: r.parsed::<SubmissionType>(T, "kind")?,
        portal: r.text(T, "portal")?,
        idempotency_key: r.text(T, "idempotency_key")?,
        body_sha256: r.text(T, "body_sha256")?,
        body: r.text(T, "body")?,
        state: r.parsed::<SubmissionState>(T, "state")?,
        competent_office: r.parsed::<OfficeId>(T, "competent_office")?,
        routing_rule: r.text(T, "routing_rule")?,
        case_number: r.opt_text(T, "case_number")?,
        created_at: r.int(T, "created_at")?,
        updated_at: r.int(T, "updated_at")?,
        history: Vec::new(),
        receipts: Vec::new(),
    })
}

/// A `submission_history` row (`state, office, detail, at`).
pub(super) fn history(r: &impl Cols) -> Result<HistoryEntry, StoreError> {
    const T: &str = "submission_history";
    Ok(HistoryEntry {
        state: r.parsed::<SubmissionState>(T, "state")?,
        office: r.opt_parsed::<OfficeId>(T, "office")?,
        detail: r.opt_text(T, "detail")?,
        at: r.int(T, "at")?,
    })
}

/// A `receipts` row (`id, kind, jws, sha256, created_at`).
pub(super) fn receipt(r: &impl Cols) -> Result<Receipt, StoreError> {
    const T: &str = "receipts";
    Ok(Receipt {
        id: r.text(T, "id")?,
        kind: r.parsed::<ReceiptKind>(T, "kind")?,
        jws: r.text(T, "jws")?,
        sha256: r.text(T, "sha256")?,
        created_at: r.int(T, "created_at")?,
    })
}

/// Columns of `outbox` read by [`delivery`].
pub(super) const OUTBOX_COLUMNS: &str = "id, subject_kind, subject_id, target_office, \
     message_id, attempts, lease_owner, lease_expires_at, last_error, created_at, expires_at";

/// A claimed `outbox` row.
pub(super) fn delivery(r: &impl Cols) -> Result<Delivery, StoreError> {
    const T: &str = "outbox";
    let attempts = r.int(T, "attempts")?;
    Ok(Delivery {
        lease: Lease {
            outbox_id: r.text(T, "id")?,
            owner: r.opt_text(T, "lease_owner")?.unwrap_or_default(),
            expires_at: r.int(T, "lease_expires_at")?,
        },
        subject: Subject {
            kind: r.parsed::<SubjectKind>(T, "subject_kind")?,
            id: r.text(T, "subject_id")?,
        },
        target_office: r.parsed::<OfficeId>(T, "target_office")?,
        message_id: r.text(T, "message_id")?,
        attempts: u32::try_from(attempts).map_err(|e| corrupt(T, "attempts", e))?,
        last_error: r.opt_text(T, "last_error")?,
        created_at: r.int(T, "created_at")?,
        expires_at: r.int(T, "expires_at")?,
    })
}
