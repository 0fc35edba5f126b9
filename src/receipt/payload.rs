//! The signed payload of a receipt: JWT-style `iss`/`iat`/`jti` claims the sealer sets,
//! plus one typed body per receipt kind (`kind` names it). Field names are the wire names
//! of `docs/api.md`; a new receipt kind is a new [`ReceiptBody`] variant.

use serde::{Deserialize, Serialize};

/// What a receipt attests; the `kind` claim of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiptKind {
    /// A submission was received and stored (`201` of `POST /v1/submissions`).
    Submission,
    /// The competent fund acknowledged a submission.
    Delivery,
    /// An office sent a message to a person.
    Dispatch,
    /// The person read a message for the first time.
    Read,
}

impl ReceiptKind {
    /// The wire name (`submission`, `delivery`, `dispatch`, `read`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Submission => "submission",
            ReceiptKind::Delivery => "delivery",
            ReceiptKind::Dispatch => "dispatch",
            ReceiptKind::Read => "read",
        }
    }
}

impl std::fmt::Display for ReceiptKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The whole signed payload (the JWS payload, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The seal that signed: `urn:guichet:seal:<name>`, equal to the certificate's SAN URI.
    pub iss: String,
    /// Signing time, seconds since the epoch; the chain is verified at this time.
    pub iat: i64,
    /// The receipt's id (unique, random).
    pub jti: String,
    /// What is attested.
    #[serde(flatten)]
    pub body: ReceiptBody,
}

/// What a receipt attests, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ReceiptBody {
    /// See [`SubmissionReceipt`].
    Submission(SubmissionReceipt),
    /// See [`DeliveryReceipt`].
    Delivery(DeliveryReceipt),
    /// See [`DispatchReceipt`].
    Dispatch(DispatchReceipt),
    /// See [`ReadReceipt`].
    Read(ReadReceipt),
}

impl ReceiptBody {
    /// The kind of receipt.
    pub fn kind(&self) -> ReceiptKind {
        match self {
            ReceiptBody::Submission(_) => ReceiptKind::Submission,
            ReceiptBody::Delivery(_) => ReceiptKind::Delivery,
            ReceiptBody::Dispatch(_) => ReceiptKind::Dispatch,
            ReceiptBody::Read(_) => ReceiptKind::Read,
        }
    }

    /// The id of what it is about (the submission or the message); no personal data.
    pub fn subject_id(&self) -> &str {
        match self {
            ReceiptBody::Submission(r) => &r.submission_id,
            ReceiptBody::Delivery(r) => &r.submission_id,
            ReceiptBody::Dispatch(r) => &r.message_id,
            ReceiptBody::Read(r) => &r.message_id,
        }
    }
}

/// The outcome a submission receipt attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubmissionOutcome {
    /// Received, validated and durably stored; delivery to the fund follows.
    Received,
}

/// The fund's answer a delivery receipt attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryOutcome {
    /// Delivered; the fund's decision follows (e.g. a sedex `100` receipt).
    Delivered,
    /// The fund accepted the claim.
    Accepted,
    /// The fund rejected the claim.
    Rejected,
    /// The fund transferred the claim to another fund.
    Transferred,
    /// Delivery failed for good (final failure or expiry).
    Failed,
}

/// A submission was received: `{submissionId, type, sha256, competentOffice, receivedAt,
/// outcome}` of `docs/api.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmissionReceipt {
    /// The submission's id.
    pub submission_id: String,
    /// The form, e.g. `apg-claim`.
    #[serde(rename = "type")]
    pub submission_type: String,
    /// SHA-256 (hex) of the submission's canonical JSON body.
    pub sha256: String,
    /// The office the submission was routed to (`NNN.NNN`).
    pub competent_office: String,
    /// The routing rule that chose it, when routed by rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_rule: Option<String>,
    /// When it was received, RFC 3339 UTC.
    pub received_at: String,
    /// Always `received`.
    pub outcome: SubmissionOutcome,
}

/// The competent fund acknowledged a submission: `{submissionId, type, sha256,
/// competentOffice, acknowledgedAt, outcome}` of `docs/api.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryReceipt {
    /// The submission's id.
    pub submission_id: String,
    /// The form, e.g. `apg-claim`.
    #[serde(rename = "type")]
    pub submission_type: String,
    /// SHA-256 (hex) of the submission's canonical JSON body.
    pub sha256: String,
    /// The office that acknowledged (`NNN.NNN`).
    pub competent_office: String,
    /// The stable message id the claim was delivered under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// When the fund's acknowledgement arrived, RFC 3339 UTC.
    pub acknowledged_at: String,
    /// What the fund answered.
    pub outcome: DeliveryOutcome,
    /// The fund's case number, once accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    /// The fund it was transferred to, for `transferred`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transferred_to: Option<String>,
}

/// The hash of one attachment as receipts list them (never its name or content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentHash {
    /// SHA-256 (hex) of the attachment's bytes.
    pub sha256: String,
    /// The media type detected from the content (`application/pdf`, …).
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// An office sent a message to a person (issue #16): who, to whom (keyed hash), which
/// content (hashes), when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchReceipt {
    /// The message's id.
    pub message_id: String,
    /// The sending office (`NNN.NNN`).
    pub sender_office: String,
    /// The person as the keyed hash of the audit log (HMAC-SHA-256 hex), never the number.
    pub person: String,
    /// `decision`, `request` or `information`.
    pub message_kind: String,
    /// SHA-256 (hex) of the subject and body as stored.
    pub body_sha256: String,
    /// Each attachment's hash, in order.
    #[serde(default)]
    pub attachments: Vec<AttachmentHash>,
    /// When it was sent, RFC 3339 UTC.
    pub sent_at: String,
}

/// The person read a message for the first time (issue #16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadReceipt {
    /// The message's id.
    pub message_id: String,
    /// The sending office (`NNN.NNN`).
    pub sender_office: String,
    /// The reader as the keyed hash of the audit log (HMAC-SHA-256 hex).
    pub person: String,
    /// The portal through which it was read (its certificate name).
    pub portal: String,
    /// SHA-256 (hex) of the subject and body that were read.
    pub body_sha256: String,
    /// Each attachment's hash, in order.
    #[serde(default)]
    pub attachments: Vec<AttachmentHash>,
    /// When it was first read, RFC 3339 UTC.
    pub read_at: String,
}
