//! The store's message values: what goes in (`NewMessage`, `NewAttachment`, `NewReply`)
//! and what comes out (`StoredMessage`, `StoredAttachment`, `StoredReply`, `Purged`).
//! Content is only ever a [`Sealed`] value (encrypted by [`crate::message::Keyring`]);
//! `None` once the retention period deleted it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::message::{MessageKind, Sealed};
use crate::model::OfficeId;

use super::model::NewReceipt;

/// A message's or reply's id: a random UUID, shown hyphenated in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub uuid::Uuid);

impl MessageId {
    /// A fresh random id.
    pub fn random() -> MessageId {
        MessageId(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for MessageId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<MessageId, uuid::Error> {
        uuid::Uuid::try_parse(s).map(MessageId)
    }
}

/// One attachment to store.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    /// `application/pdf`, `image/png` or `image/jpeg` (detected from the content).
    pub media_type: String,
    /// Size of the bytes.
    pub size: u64,
    /// SHA-256 (hex) of the bytes.
    pub sha256: String,
    /// Name and bytes, encrypted.
    pub content: Sealed,
}

/// A message to store with its dispatch receipt (signed by the caller).
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Its id (the receipt names it).
    pub id: MessageId,
    /// The sending office.
    pub sender: OfficeId,
    /// The office's `Idempotency-Key`.
    pub idempotency_key: String,
    /// SHA-256 of everything sent: the same key with another request is `Conflict`.
    pub request_sha256: String,
    /// The person: the audit log's keyed hash of the AHV number.
    pub person: String,
    /// Decision, request or information.
    pub kind: MessageKind,
    /// A case or submission id.
    pub reference: Option<String>,
    /// Subject and body, encrypted.
    pub content: Sealed,
    /// SHA-256 (hex) of the plain subject and body.
    pub body_sha256: String,
    /// The attachments, in order.
    pub attachments: Vec<NewAttachment>,
    /// The dispatch receipt.
    pub receipt: NewReceipt,
    /// The content is deleted this long after sending.
    pub retention: Duration,
}

/// A stored attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    /// Position, from 0.
    pub seq: u32,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// SHA-256 (hex) of the bytes.
    pub sha256: String,
    /// Name and bytes, encrypted; `None` once deleted (or when not loaded).
    pub content: Option<Sealed>,
}

/// A stored message (attachments without content unless asked for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its id.
    pub id: MessageId,
    /// The sending office.
    pub sender: OfficeId,
    /// The office's idempotency key.
    pub idempotency_key: String,
    /// The person's keyed hash.
    pub person: String,
    /// Its kind.
    pub kind: MessageKind,
    /// The office's reference.
    pub reference: Option<String>,
    /// Subject and body, encrypted; `None` after the retention period.
    pub content: Option<Sealed>,
    /// SHA-256 (hex) of the plain subject and body.
    pub body_sha256: String,
    /// Sent (unix ms).
    pub created_at: i64,
    /// First read (unix ms).
    pub read_at: Option<i64>,
    /// Content deleted (unix ms).
    pub purged_at: Option<i64>,
    /// Its attachments, in order.
    pub attachments: Vec<StoredAttachment>,
}

/// The answer of `create_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageCreated {
    /// Stored now (`201`).
    New(StoredMessage),
    /// The same key and request were stored before: that message (`200`).
    Existing(StoredMessage),
}

impl MessageCreated {
    /// The message, new or existing.
    pub fn message(&self) -> &StoredMessage {
        match self {
            MessageCreated::New(m) | MessageCreated::Existing(m) => m,
        }
    }
}

/// A person's reply to store.
#[derive(Debug, Clone)]
pub struct NewReply {
    /// Its id.
    pub id: MessageId,
    /// The message replied to.
    pub message_id: MessageId,
    /// The office it goes to (the message's sender).
    pub office: OfficeId,
    /// The portal it came through (identity URI).
    pub portal: String,
    /// The person's keyed hash.
    pub person: String,
    /// Body and attachments, encrypted.
    pub content: Sealed,
    /// SHA-256 (hex) of the plain content.
    pub content_sha256: String,
    /// The content is deleted this long after the reply.
    pub retention: Duration,
    /// The office runs a reply endpoint: the reply is queued in the outbox (in the same
    /// transaction) and pushed, given up this long after the reply. `None`: inbox only.
    pub push_expiry: Option<Duration>,
}

/// A stored reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReply {
    /// Its id.
    pub id: MessageId,
    /// The message replied to.
    pub message_id: MessageId,
    /// The office it goes to.
    pub office: OfficeId,
    /// Body and attachments, encrypted; `None` after the retention period.
    pub content: Option<Sealed>,
    /// SHA-256 (hex) of the plain content.
    pub content_sha256: String,
    /// When (unix ms).
    pub created_at: i64,
    /// When the office acknowledged it (unix ms).
    pub acknowledged_at: Option<i64>,
}

/// Where a page of a listing starts: after the row with this time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last row's time (unix ms).
    pub at: i64,
    /// The last row's id.
    pub id: String,
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Messages whose content (and attachments' content) was deleted.
    pub messages: u64,
    /// Replies whose content was deleted.
    pub replies: u64,
}
