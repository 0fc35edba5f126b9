//! A message or reply as an office or a person sends it, checked before anything is
//! signed or stored: every invalid field is collected as a JSON pointer (`422`), the
//! attachments are decoded, sized (`413`) and typed by content (`415`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{
    MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, MAX_BODY_BYTES, MAX_NAME_CHARS, MAX_SUBJECT_CHARS,
    MediaType, MessageError, MessageKind,
};
use crate::model::Vn;

/// What is encrypted as a message's content and hashed for its receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

impl Content {
    /// The bytes encrypted and hashed (JSON, members in this order).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// SHA-256 (hex) of [`Content::to_bytes`]: the `bodySha256` of the receipts.
    pub fn sha256(&self) -> String {
        crate::receipt::sha256_hex(&self.to_bytes())
    }
}

/// One attachment, decoded and typed by its content.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name as sent (shown to the reader; stored encrypted).
    pub name: String,
    /// The type read from the content.
    pub media: MediaType,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Attachment({}, {} bytes)",
            self.media.as_str(),
            self.bytes.len()
        )
    }
}

impl Attachment {
    /// SHA-256 (hex) of the bytes.
    pub fn sha256(&self) -> String {
        crate::receipt::sha256_hex(&self.bytes)
    }

    /// The hash as receipts list it.
    pub fn hash(&self) -> crate::receipt::AttachmentHash {
        crate::receipt::AttachmentHash {
            sha256: self.sha256(),
            media_type: self.media.as_str().to_owned(),
            size: self.bytes.len() as u64,
        }
    }

    /// What is encrypted: the name's length (2 bytes, big-endian), the name, the bytes.
    pub fn to_plain(&self) -> Vec<u8> {
        let name = self.name.as_bytes();
        let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(2 + name.len() + self.bytes.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&name[..usize::from(len)]);
        out.extend_from_slice(&self.bytes);
        out
    }

    /// The name and bytes of a decrypted [`Attachment::to_plain`].
    pub fn from_plain(plain: &[u8], media: MediaType) -> Option<Attachment> {
        let len = usize::from(u16::from_be_bytes([*plain.first()?, *plain.get(1)?]));
        let name = std::str::from_utf8(plain.get(2..2 + len)?).ok()?.to_owned();
        Some(Attachment {
            name,
            media,
            bytes: plain.get(2 + len..)?.to_vec(),
        })
    }
}

/// An office's message, checked.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The person.
    pub vn: Vn,
    /// Decision, request or information.
    pub kind: MessageKind,
    /// A case or submission id the office refers to.
    pub reference: Option<String>,
    /// Subject and body.
    pub content: Content,
    /// The attachments, in order.
    pub attachments: Vec<Attachment>,
}

impl Draft {
    /// SHA-256 (hex) of everything the office sent: the idempotency comparison.
    pub fn request_sha256(&self) -> String {
        let hashes: Vec<String> = self.attachments.iter().map(Attachment::sha256).collect();
        let names: Vec<&str> = self.attachments.iter().map(|a| a.name.as_str()).collect();
        let all = serde_json::json!([
            self.vn.digits(),
            self.kind.as_str(),
            self.reference,
            self.content.sha256(),
            hashes,
            names,
        ]);
        crate::receipt::sha256_hex(all.to_string().as_bytes())
    }
}

/// A person's reply, checked.
#[derive(Debug, Clone)]
pub struct ReplyContent {
    /// The plain-text body.
    pub body: String,
    /// The attachments, in order.
    pub attachments: Vec<Attachment>,
}

/// The JSON of an attachment on the wire.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAttachment {
    /// The file name.
    pub name: String,
    /// The declared type (informative only: the content decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The bytes, base64.
    pub content_base64: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    vn: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    kind: Option<String>,
    reference: Option<String>,
    #[serde(default)]
    attachments: Vec<WireAttachment>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    body: Option<String>,
    #[serde(default)]
    attachments: Vec<WireAttachment>,
}

/// The field errors found so far.
type Errors = Vec<(String, String)>;

fn shape_error(what: &str) -> MessageError {
    MessageError::Invalid(vec![(
        String::new(),
        format!("not a JSON object of the {what}'s shape (see docs/api.md, \"Messages\")"),
    )])
}

/// Checks an office's message (`POST /v1/messages`).
pub fn parse_message(json: &[u8]) -> Result<Draft, MessageError> {
    let raw: RawMessage = serde_json::from_slice(json).map_err(|_| shape_error("message"))?;
    let mut errors = Errors::new();
    let vn = match raw.vn.as_deref().map(Vn::parse) {
        Some(Ok(vn)) => Some(vn),
        Some(Err(e)) => {
            errors.push(("/vn".into(), e.to_string()));
            None
        }
        None => {
            errors.push(("/vn".into(), "is required".into()));
            None
        }
    };
    let kind = match raw.kind.as_deref().map(str::parse::<MessageKind>) {
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            errors.push(("/kind".into(), e));
            None
        }
        None => {
            errors.push(("/kind".into(), "is required".into()));
            None
        }
    };
    let subject = text_field(
        &mut errors,
        "/subject",
        raw.subject,
        MAX_SUBJECT_CHARS,
        false,
    );
    let body = body_field(&mut errors, raw.body);
    if let Some(r) = &raw.reference
        && (r.trim().is_empty() || r.chars().count() > MAX_NAME_CHARS)
    {
        errors.push((
            "/reference".into(),
            format!("must be 1–{MAX_NAME_CHARS} characters"),
        ));
    }
    let attachments = attachments(&mut errors, raw.attachments)?;
    match (vn, kind, errors.is_empty()) {
        (Some(vn), Some(kind), true) => Ok(Draft {
            vn,
            kind,
            reference: raw.reference,
            content: Content { subject, body },
            attachments,
        }),
        _ => Err(MessageError::Invalid(errors)),
    }
}

/// Checks a person's reply (`POST /v1/messages/{id}/replies`).
pub fn parse_reply(json: &[u8]) -> Result<ReplyContent, MessageError> {
    let raw: RawReply = serde_json::from_slice(json).map_err(|_| shape_error("reply"))?;
    let mut errors = Errors::new();
    let body = body_field(&mut errors, raw.body);
    let attachments = attachments(&mut errors, raw.attachments)?;
    if !errors.is_empty() {
        return Err(MessageError::Invalid(errors));
    }
    Ok(ReplyContent { body, attachments })
}

fn body_field(errors: &mut Errors, body: Option<String>) -> String {
    let body = text_field(errors, "/body", body, usize::MAX, true);
    if body.len() > MAX_BODY_BYTES {
        errors.push((
            "/body".into(),
            format!("is at most {MAX_BODY_BYTES} bytes of UTF-8 text"),
        ));
    }
    body
}

/// A required, non-blank text of at most `max` characters (control characters other
/// than line breaks and tabs refused unless `multiline`).
fn text_field(
    errors: &mut Errors,
    pointer: &str,
    value: Option<String>,
    max: usize,
    multiline: bool,
) -> String {
    let Some(text) = value else {
        errors.push((pointer.into(), "is required".into()));
        return String::new();
    };
    let bad_char = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if text.trim().is_empty() {
        errors.push((pointer.into(), "must not be blank".into()));
    } else if max != usize::MAX && text.chars().count() > max {
        errors.push((pointer.into(), format!("is at most {max} characters")));
    } else if text.chars().any(bad_char) {
        errors.push((pointer.into(), "holds control characters".into()));
    }
    text
}

/// Decodes and types the attachments: a base64 or name error is a field error; too many
/// bytes in all is `413`, a type other than PDF, PNG or JPEG `415`.
fn attachments(
    errors: &mut Errors,
    wire: Vec<WireAttachment>,
) -> Result<Vec<Attachment>, MessageError> {
    if wire.len() > MAX_ATTACHMENTS {
        errors.push((
            "/attachments".into(),
            format!("at most {MAX_ATTACHMENTS} attachments"),
        ));
        return Ok(Vec::new());
    }
    let mut decoded = Vec::with_capacity(wire.len());
    let mut total = 0usize;
    for (i, a) in wire.into_iter().enumerate() {
        let name_ok = !a.name.trim().is_empty()
            && a.name.chars().count() <= MAX_NAME_CHARS
            && !a
                .name
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\');
        if !name_ok {
            errors.push((
                format!("/attachments/{i}/name"),
                format!(
                    "must be 1–{MAX_NAME_CHARS} characters without control characters or slashes"
                ),
            ));
        }
        match STANDARD.decode(a.content_base64.as_bytes()) {
            Ok(bytes) => {
                total += bytes.len();
                decoded.push((i, a.name, bytes));
            }
            Err(_) => errors.push((
                format!("/attachments/{i}/contentBase64"),
                "is not base64 (RFC 4648, with padding)".into(),
            )),
        }
    }
    if total > MAX_ATTACHMENT_BYTES {
        return Err(MessageError::TooLarge { size: total });
    }
    let mut out = Vec::with_capacity(decoded.len());
    for (index, name, bytes) in decoded {
        let media = MediaType::detect(&bytes).ok_or(MessageError::UnsupportedMedia { index })?;
        out.push(Attachment { name, media, bytes });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    #[test]
    fn every_invalid_field_is_named_without_its_value() {
        let json = br#"{"vn":"7561234567890","subject":"","body":"x","kind":"memo"}"#;
        let Err(MessageError::Invalid(errors)) = parse_message(json) else {
            panic!("invalid");
        };
        let pointers: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(pointers, ["/vn", "/kind", "/subject"]);
        assert!(errors.iter().all(|e| !e.1.contains("7561234567890")));
    }

    #[test]
    fn attachments_are_typed_by_content_and_sized() {
        let exe = format!(
            r#"{{"vn":"7561234567897","subject":"S","body":"B","kind":"decision",
               "attachments":[{{"name":"ok.pdf","contentBase64":"{}"}},
                              {{"name":"decision.pdf","mediaType":"application/pdf","contentBase64":"{}"}}]}}"#,
            b64(b"%PDF-1.4 x"),
            b64(b"MZ\x90\0 this program")
        );
        assert!(matches!(
            parse_message(exe.as_bytes()),
            Err(MessageError::UnsupportedMedia { index: 1 })
        ));
        let big = vec![0xFFu8; MAX_ATTACHMENT_BYTES + 1];
        let json = format!(
            r#"{{"vn":"7561234567897","subject":"S","body":"B","kind":"request",
               "attachments":[{{"name":"a.jpg","contentBase64":"{}"}}]}}"#,
            b64(&big)
        );
        assert!(matches!(
            parse_message(json.as_bytes()),
            Err(MessageError::TooLarge { .. })
        ));
        let ok = format!(
            r#"{{"vn":"756.1234.5678.97","subject":"S","body":"B","kind":"information",
               "reference":"case-1","attachments":[{{"name":"p.png","contentBase64":"{}"}}]}}"#,
            b64(b"\x89PNG\r\n\x1a\n....")
        );
        let draft = parse_message(ok.as_bytes()).expect("valid");
        assert_eq!(draft.attachments[0].media, MediaType::Png);
        let plain = draft.attachments[0].to_plain();
        assert_eq!(
            Attachment::from_plain(&plain, MediaType::Png),
            Some(draft.attachments[0].clone())
        );
    }
}
