//! The JSON of `/v1/submissions`: a submission with its history and receipts, and the
//! receipts alone. Times are RFC 3339 UTC (milliseconds dropped); receipts are the compact
//! JWS as stored, verifiable offline with the federation's root.

use serde::Serialize;

use crate::store::{HistoryEntry, Receipt, Submission};

/// `GET /v1/submissions/{id}` and the body of `201`/`200` of `POST /v1/submissions`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionView {
    /// The submission id (UUID).
    pub id: String,
    /// The form, `apg-claim`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `received`, `routed`, `delivering`, `delivered`, `accepted`, `rejected`,
    /// `transferred` or `failed`.
    pub state: &'static str,
    /// The office the claim is (or was last) delivered to, `NNN.NNN`.
    pub competent_office: String,
    /// The routing rule that chose the first office.
    pub routing_rule: String,
    /// The accepting fund's case number, once accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    /// Every state, oldest first.
    pub history: Vec<HistoryView>,
    /// Every receipt, oldest first.
    pub receipts: Vec<ReceiptView>,
}

/// One state of a submission's history.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView {
    /// The state entered.
    pub state: &'static str,
    /// The office concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    /// What happened (rule ids, outcome codes; no personal data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// When, RFC 3339 UTC.
    pub at: String,
}

/// One receipt.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptView {
    /// Its id.
    pub id: String,
    /// `submission` or `delivery`.
    pub kind: &'static str,
    /// The compact JWS (RFC 7515) signed by the gateway's seal.
    pub jws: String,
    /// SHA-256 of the JWS text (the value in the audit log).
    pub sha256: String,
    /// When it was stored, RFC 3339 UTC.
    pub created_at: String,
}

/// `GET /v1/submissions/{id}/receipts`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptsView {
    /// The submission id.
    pub submission_id: String,
    /// Every receipt, oldest first.
    pub receipts: Vec<ReceiptView>,
}

fn at(ms: i64) -> String {
    crate::receipt::rfc3339(ms.div_euclid(1000))
}

impl From<&HistoryEntry> for HistoryView {
    fn from(h: &HistoryEntry) -> HistoryView {
        HistoryView {
            state: h.state.as_str(),
            office: h.office.map(|o| o.to_string()),
            detail: h.detail.clone(),
            at: at(h.at),
        }
    }
}

impl From<&Receipt> for ReceiptView {
    fn from(r: &Receipt) -> ReceiptView {
        ReceiptView {
            id: r.id.clone(),
            kind: r.kind.as_str(),
            jws: r.jws.clone(),
            sha256: r.sha256.clone(),
            created_at: at(r.created_at),
        }
    }
}

impl From<&Submission> for SubmissionView {
    fn from(s: &Submission) -> SubmissionView {
        SubmissionView {
            id: s.id.to_string(),
            kind: s.kind.as_str(),
            state: s.state.as_str(),
            competent_office: s.competent_office.to_string(),
            routing_rule: s.routing_rule.clone(),
            case_number: s.case_number.clone(),
            history: s.history.iter().map(HistoryView::from).collect(),
            receipts: s.receipts.iter().map(ReceiptView::from).collect(),
        }
    }
}

impl From<&Submission> for ReceiptsView {
    fn from(s: &Submission) -> ReceiptsView {
        ReceiptsView {
            submission_id: s.id.to_string(),
            receipts: s.receipts.iter().map(ReceiptView::from).collect(),
        }
    }
}
