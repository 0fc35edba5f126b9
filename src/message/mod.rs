//! Messages between offices and insured persons (issue #16): what a message is before it
//! is stored (`MessageKind`, the checked [`Draft`] with its attachments), the attachments'
//! media types read from their content ([`media`]), and the AES-256-GCM encryption of
//! bodies and attachments at rest ([`keys`], key id per row so keys can rotate).
//!
//! Must not: speak HTTP, write SQL (the store does), log a subject, a body, an attachment
//! or an AHV number.

pub mod draft;
pub mod keys;
pub mod media;
pub mod retention;

use std::fmt;
use std::str::FromStr;

pub use draft::{Attachment, Content, Draft, ReplyContent};
pub use keys::{Keyring, Sealed};
pub use media::MediaType;

/// Largest body of a message or reply, in bytes of UTF-8 text.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// Largest sum of a message's (or reply's) attachments, decoded.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// Most attachments of one message.
pub const MAX_ATTACHMENTS: usize = 20;

/// Longest attachment name and reference, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Why a message, a reply or a message key cannot be used. No variant carries content.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// Fields of the request are invalid: each a JSON pointer and a message (`422`).
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<(String, String)>),
    /// An attachment is not a PDF, PNG or JPEG by its content (`415`).
    #[error("attachment {index}: its content is not a PDF, PNG or JPEG")]
    UnsupportedMedia {
        /// Position of the attachment, from 0.
        index: usize,
    },
    /// The attachments are larger than allowed in all (`413`).
    #[error("the attachments are {size} bytes in all; at most {MAX_ATTACHMENT_BYTES}")]
    TooLarge {
        /// Their decoded size.
        size: usize,
    },
    /// A key file cannot be read or is not a key.
    #[error("messages key {id} ({path}): {problem}")]
    Key {
        /// The key id.
        id: String,
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// Stored content names a key id the configuration does not hold.
    #[error("no messages key with id {0} is configured")]
    UnknownKey(String),
    /// Stored content does not decrypt (wrong key or altered row).
    #[error("stored message content does not decrypt with key {0}")]
    Decrypt(String),
    /// The crypto provider failed (no input can cause this).
    #[error("the crypto provider failed to {0}")]
    Crypto(&'static str),
}

/// What an office sends (`docs/api.md`, "Messages"); the retention period is per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    /// A decision (legally binding).
    Decision,
    /// A request for documents or information.
    Request,
    /// Information.
    Information,
}

impl MessageKind {
    /// Every kind.
    pub const ALL: [MessageKind; 3] = [
        MessageKind::Decision,
        MessageKind::Request,
        MessageKind::Information,
    ];

    /// The wire and stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Decision => "decision",
            MessageKind::Request => "request",
            MessageKind::Information => "information",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<MessageKind, String> {
        MessageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| "must be decision, request or information".to_owned())
    }
}
