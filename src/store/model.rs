//! The store's values: what goes in (`NewSubmission`, `NewReceipt`, `Step`) and what comes
//! out (`Submission`, `HistoryEntry`, `Receipt`, `Delivery`, `OutboxStats`). States and
//! kinds are enums with one text form each, the form stored in the database.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::model::{Identity, OfficeId};

/// Defines an enum with one stored text per variant, `as_str` and `FromStr`.
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant,)+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored (and API) text.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<$name, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "unknown {} `{}`",
                        stringify!($name),
                        other.chars().take(40).collect::<String>()
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// What kind of form a submission is.
    SubmissionType {
        /// The loss-of-earnings (EO/APG) claim.
        ApgClaim = "apg-claim",
    }
);

text_enum!(
    /// Where a submission stands (`api.md`, "Submissions").
    SubmissionState {
        /// Stored, not yet routed.
        Received = "received",
        /// The competent office is chosen; delivery is queued.
        Routed = "routed",
        /// Being delivered (an attempt failed and another follows).
        Delivering = "delivering",
        /// The office (or its sedex client) has it; its acknowledgement follows.
        Delivered = "delivered",
        /// The office accepted it (with its case number).
        Accepted = "accepted",
        /// The office refused it.
        Rejected = "rejected",
        /// The office named another as competent; delivery to that one is queued.
        Transferred = "transferred",
        /// Not deliverable (final failure or expiry).
        Failed = "failed",
    }
);

impl SubmissionState {
    /// Whether nothing more happens to a submission in this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SubmissionState::Accepted | SubmissionState::Rejected | SubmissionState::Failed
        )
    }
}

text_enum!(
    /// What a receipt attests.
    ReceiptKind {
        /// The gateway received and stored a submission.
        Submission = "submission",
        /// The competent office acknowledged a submission.
        Delivery = "delivery",
        /// An office sent a message to a person.
        Dispatch = "dispatch",
        /// The person read a message for the first time.
        Read = "read",
    }
);

text_enum!(
    /// What an outbox row delivers.
    SubjectKind {
        /// A row of `submissions`.
        Submission = "submission",
        /// A row of `message_replies`, pushed to an office that runs a reply endpoint.
        Reply = "reply",
    }
);

text_enum!(
    /// Where an outbox row stands.
    OutboxState {
        /// To be delivered (possibly leased by a worker right now).
        Pending = "pending",
        /// Delivered (or handed on by a transfer).
        Done = "done",
        /// Given up.
        Failed = "failed",
    }
);

/// A submission's id: a random UUID, shown hyphenated in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubmissionId(pub uuid::Uuid);

impl SubmissionId {
    /// A fresh random id.
    pub fn random() -> SubmissionId {
        SubmissionId(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for SubmissionId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<SubmissionId, uuid::Error> {
        uuid::Uuid::try_parse(s).map(SubmissionId)
    }
}

/// What an outbox row is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    /// Which table.
    pub kind: SubjectKind,
    /// The row's id there.
    pub id: String,
}

impl Subject {
    /// The subject for a person's reply pushed to its office.
    pub fn reply(id: super::MessageId) -> Subject {
        Subject {
            kind: SubjectKind::Reply,
            id: id.to_string(),
        }
    }

    /// The subject for a submission.
    pub fn submission(id: SubmissionId) -> Subject {
        Subject {
            kind: SubjectKind::Submission,
            id: id.to_string(),
        }
    }
}

/// A receipt to store: the compact JWS (its SHA-256 is computed by the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// What it attests.
    pub kind: ReceiptKind,
    /// The compact JWS.
    pub jws: String,
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Its id (UUID).
    pub id: String,
    /// What it attests.
    pub kind: ReceiptKind,
    /// The compact JWS.
    pub jws: String,
    /// SHA-256 of the JWS text, lowercase hex (the value appended to the audit log).
    pub sha256: String,
    /// When it was stored (unix ms).
    pub created_at: i64,
}

/// A submission to store (validated, routed and its receipt signed by the caller).
#[derive(Debug, Clone)]
pub struct NewSubmission {
    /// Its id, chosen by the caller (the receipt names it).
    pub id: SubmissionId,
    /// The form.
    pub kind: SubmissionType,
    /// The portal that submitted it.
    pub portal: Identity,
    /// The portal's `Idempotency-Key`.
    pub idempotency_key: String,
    /// The canonical JSON body (its SHA-256 is the idempotency comparison).
    pub body: String,
    /// The office it is delivered to.
    pub competent_office: OfficeId,
    /// The routing rule that chose the office.
    pub routing_rule: String,
    /// What the routing rested on (the register's answer, or why the claim's own content
    /// decided), kept in the `routed` history entry after the rule; no personal data.
    pub routing_basis: Option<String>,
    /// The submission receipt.
    pub receipt: NewReceipt,
    /// The delivery gives up this long after creation (sedex: 30 days).
    pub delivery_expiry: Duration,
}

/// One state a submission went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The state entered.
    pub state: SubmissionState,
    /// The office concerned (the competent one, or the one transferred to).
    pub office: Option<OfficeId>,
    /// What happened (no personal data: rule ids, outcome codes, error kinds).
    pub detail: Option<String>,
    /// When (unix ms).
    pub at: i64,
}

/// A stored submission with its history and receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// Its id.
    pub id: SubmissionId,
    /// The form.
    pub kind: SubmissionType,
    /// The submitting portal's identity URI.
    pub portal: String,
    /// The portal's idempotency key.
    pub idempotency_key: String,
    /// SHA-256 of `body`, lowercase hex.
    pub body_sha256: String,
    /// The canonical JSON body.
    pub body: String,
    /// Where it stands.
    pub state: SubmissionState,
    /// The office it is (or was last) delivered to.
    pub competent_office: OfficeId,
    /// The routing rule that chose the first office.
    pub routing_rule: String,
    /// The accepting office's case number.
    pub case_number: Option<String>,
    /// When it was received (unix ms).
    pub created_at: i64,
    /// Last change (unix ms).
    pub updated_at: i64,
    /// Every state, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Its receipts, oldest first.
    pub receipts: Vec<Receipt>,
}

/// The answer of `create_submission`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Stored now (`201`).
    New(Submission),
    /// The same key with the same body was stored before: that submission (`200`).
    Existing(Submission),
}

impl Created {
    /// The submission, new or existing.
    pub fn submission(&self) -> &Submission {
        match self {
            Created::New(s) | Created::Existing(s) => s,
        }
    }
}

/// The hold a worker has on an outbox row; every change to the row presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The outbox row.
    pub outbox_id: String,
    /// The worker holding it.
    pub owner: String,
    /// Until when (unix ms); after that another worker may take the row.
    pub expires_at: i64,
}

/// An outbox row claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The hold on the row.
    pub lease: Lease,
    /// What to deliver.
    pub subject: Subject,
    /// To whom.
    pub target_office: OfficeId,
    /// The message id sent with every attempt (stable: a retry is recognisable).
    pub message_id: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When the row was queued (unix ms).
    pub created_at: i64,
    /// After this (unix ms) the delivery is given up.
    pub expires_at: i64,
}

/// A change of state with what to record about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The state entered.
    pub state: SubmissionState,
    /// What happened (no personal data).
    pub detail: Option<String>,
    /// The accepting office's case number.
    pub case_number: Option<String>,
    /// A receipt to store with it (the delivery receipt).
    pub receipt: Option<NewReceipt>,
}

impl Step {
    /// A step to `state` with nothing else.
    pub fn to(state: SubmissionState) -> Step {
        Step {
            state,
            detail: None,
            case_number: None,
            receipt: None,
        }
    }

    /// With a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Step {
        self.detail = Some(detail.into());
        self
    }
}

/// The outbox's gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Rows still to deliver.
    pub depth: u64,
    /// Of those, rows held by a worker right now.
    pub leased: u64,
    /// Age of the oldest row still to deliver.
    pub oldest_age: Option<Duration>,
}

/// Rows that break the store's invariants (all zero in a sound store): every submission
/// has its history, its submission receipt and an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Integrity {
    /// Submissions stored.
    pub submissions: u64,
    /// Submissions without any history row.
    pub without_history: u64,
    /// Submissions without a submission receipt.
    pub without_receipt: u64,
    /// Submissions without an outbox row.
    pub without_outbox: u64,
}

impl Integrity {
    /// Whether nothing is half-written.
    pub fn is_sound(&self) -> bool {
        self.without_history == 0 && self.without_receipt == 0 && self.without_outbox == 0
    }
}

/// One outbox row of a subject, as the status and the tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The row's id.
    pub id: String,
    /// To whom.
    pub target_office: OfficeId,
    /// The message id of every attempt.
    pub message_id: String,
    /// Where it stands.
    pub state: OutboxState,
    /// Attempts that failed.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Queued at (unix ms).
    pub created_at: i64,
}

impl Submission {
    /// The offices this submission was transferred to, in order (a repeat is a loop).
    pub fn transferred_to(&self) -> impl Iterator<Item = OfficeId> + '_ {
        self.history
            .iter()
            .filter(|h| h.state == SubmissionState::Transferred)
            .filter_map(|h| h.office)
    }

    /// The receipts of `kind`, oldest first.
    pub fn receipts_of(&self, kind: ReceiptKind) -> impl Iterator<Item = &Receipt> + '_ {
        self.receipts.iter().filter(move |r| r.kind == kind)
    }
}
