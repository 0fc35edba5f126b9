//! The JSON shapes of the message routes (`docs/api.md`, "Messages"): what an office gets
//! back when it sends, what a person's portal lists and reads, the receipts an office
//! fetches, and the replies in an office's inbox.

use serde::{Deserialize, Serialize};

use super::ReceiptView;

/// `201`/`200` of `POST /v1/messages`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSentView {
    /// The message id.
    pub id: String,
    /// `decision`, `request` or `information`.
    pub kind: String,
    /// When it was sent, RFC 3339 UTC.
    pub sent_at: String,
    /// SHA-256 of the subject and body as the receipts attest them.
    pub body_sha256: String,
    /// The signed dispatch receipt.
    pub dispatch_receipt: ReceiptView,
}

/// An attachment as a reader sees it (its bytes at `href`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    /// Position, from 0 (`…/attachments/{n}`).
    pub index: u32,
    /// The file name (absent once the content was deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The media type detected from the content.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the bytes.
    pub sha256: String,
    /// Where to download it.
    pub href: String,
}

/// `GET /v1/messages/{id}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// The message id.
    pub id: String,
    /// The sending office (`NNN.NNN`).
    pub sender_office: String,
    /// `decision`, `request` or `information`.
    pub kind: String,
    /// The office's case or submission reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The subject (absent once the retention period deleted the content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The plain-text body (absent once deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// SHA-256 of the subject and body.
    pub body_sha256: String,
    /// When it was sent, RFC 3339 UTC.
    pub sent_at: String,
    /// When it was first read, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
    /// Whether the content was deleted after its retention period.
    pub content_deleted: bool,
    /// The attachments, in order.
    pub attachments: Vec<AttachmentView>,
}

/// One entry of `GET /v1/persons/{vn}/messages`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSummaryView {
    /// The message id.
    pub id: String,
    /// The sending office.
    pub sender_office: String,
    /// Its kind.
    pub kind: String,
    /// The subject (absent once deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When it was sent.
    pub sent_at: String,
    /// Whether it was read.
    pub read: bool,
    /// How many attachments it has.
    pub attachments: u32,
}

/// `GET /v1/persons/{vn}/messages`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageListView {
    /// Messages never read, in all.
    pub unread: u64,
    /// This page, newest first.
    pub messages: Vec<MessageSummaryView>,
    /// The `cursor` of the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /v1/messages/{id}/receipts`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReceiptsView {
    /// The message id.
    pub message_id: String,
    /// The dispatch receipt, then the read receipt once read.
    pub receipts: Vec<ReceiptView>,
}

/// An attachment of a reply, inline.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyAttachmentView {
    /// The file name.
    pub name: String,
    /// The media type detected from the content.
    pub media_type: String,
    /// SHA-256 of the bytes.
    pub sha256: String,
    /// The bytes, base64.
    pub content_base64: String,
}

/// A reply, as its office receives it (inbox or push).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyView {
    /// The reply's id (acknowledge it by this id).
    pub id: String,
    /// The message replied to.
    pub message_id: String,
    /// When the person replied, RFC 3339 UTC.
    pub received_at: String,
    /// The text (absent once deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The attachments.
    #[serde(default)]
    pub attachments: Vec<ReplyAttachmentView>,
    /// SHA-256 of the stored content.
    pub content_sha256: String,
}

/// `201` of `POST /v1/messages/{id}/replies`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplySentView {
    /// The reply's id.
    pub id: String,
    /// The message replied to.
    pub message_id: String,
    /// The office it goes to.
    pub office: String,
    /// When it was stored, RFC 3339 UTC.
    pub received_at: String,
}

/// `GET /v1/offices/{office}/inbox`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxView {
    /// Replies not yet acknowledged, oldest first.
    pub replies: Vec<ReplyView>,
    /// The `cursor` of the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}
