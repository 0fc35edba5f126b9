//! The problems of the message routes (issue #16): each status they send is chosen here.

use hyper::StatusCode;

use super::Problem;
use crate::message::MessageError;

impl Problem {
    /// `404`: no message with this id for this caller (another office's, another
    /// person's listing: not shown).
    pub fn no_message() -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-message",
            "No such message",
            "no message (or attachment, or reply) with this id for this caller".into(),
        )
    }

    /// `503`: the gateway has no `[messages]` section (no keys to encrypt content).
    pub fn messages_unavailable() -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "messages-unavailable",
            "Messages unavailable",
            "this gateway has no [messages] keys configured, so it stores no messages".into(),
        )
    }

    /// `400`: a `cursor` that this gateway did not hand out.
    pub fn invalid_cursor() -> Problem {
        Problem::bad_request(
            "invalid-cursor",
            "the cursor is not one this gateway gave out",
        )
    }
}

impl From<MessageError> for Problem {
    /// A refused message or reply (`422`, `413`, `415`); a key or decryption failure is
    /// the gateway's (`503`, logged without content).
    fn from(e: MessageError) -> Problem {
        match e {
            MessageError::Invalid(errors) => {
                let n = errors.len();
                Problem {
                    errors: errors.into_boxed_slice(),
                    ..Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-message",
                        "Message refused: invalid fields",
                        format!("{n} invalid field(s); see errors"),
                    )
                }
            }
            MessageError::UnsupportedMedia { .. } => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-attachment",
                "Attachment type not accepted",
                format!("{e}; only PDF, PNG and JPEG are accepted, read from the content"),
            ),
            MessageError::TooLarge { .. } => Problem::too_large(e.to_string()),
            other => {
                tracing::error!(error = %other, "message content unavailable");
                Problem {
                    retry_after: Some(30),
                    ..Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "messages-unavailable",
                        "Messages unavailable",
                        "the message content cannot be encrypted or decrypted now".into(),
                    )
                }
            }
        }
    }
}

impl Problem {
    /// `410`: the content was deleted after its retention period (hashes and receipts stay).
    pub fn content_deleted() -> Problem {
        Problem::new(
            StatusCode::GONE,
            "content-deleted",
            "Content deleted",
            "the retention period of this content has passed; its receipts remain".into(),
        )
    }
}
