//! The eCH-0090 v1 envelope (`envl_<messageId>.xml`): who sends what to whom, written
//! next to the data file of every outgoing message and read from every incoming one.

use super::xml::{Fields, XmlError, element, read_children};
use crate::model::is_participant_id;

/// The envelope's namespace.
pub const ENVELOPE_NS: &str = "http://www.ech.ch/xmlns/eCH-0090/1";

/// One sedex envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The message id; also names the files (`data_<id>.xml`, `envl_<id>.xml`).
    pub message_id: String,
    /// The message type (`2014` for the APG claim).
    pub message_type: u32,
    /// The message class (0 = initial message).
    pub message_class: u8,
    /// The message this one answers, if any.
    pub reference_message_id: Option<String>,
    /// The sender's participant id.
    pub sender_id: String,
    /// The recipients' participant ids (one or more).
    pub recipient_ids: Vec<String>,
    /// `xs:dateTime` of the business event.
    pub event_date: String,
    /// `xs:dateTime` the message was produced.
    pub message_date: String,
}

impl Envelope {
    /// An envelope for one message to one recipient, dated `at`.
    pub fn new(
        message_id: &str,
        message_type: u32,
        message_class: u8,
        sender_id: &str,
        recipient_id: &str,
        at: time::OffsetDateTime,
    ) -> Envelope {
        let date = date_time(at);
        Envelope {
            message_id: message_id.to_owned(),
            message_type,
            message_class,
            reference_message_id: None,
            sender_id: sender_id.to_owned(),
            recipient_ids: vec![recipient_id.to_owned()],
            event_date: date.clone(),
            message_date: date,
        }
    }

    /// The envelope's XML (eCH-0090 v1, as `sedex-envelope.xml`).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(640);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<eCH-0090:envelope xmlns:eCH-0090=\"");
        out.push_str(ENVELOPE_NS);
        out.push_str("\" version=\"1.0\">\n");
        let p = "eCH-0090";
        element(&mut out, p, "messageId", &self.message_id);
        element(&mut out, p, "messageType", &self.message_type.to_string());
        element(&mut out, p, "messageClass", &self.message_class.to_string());
        if let Some(r) = &self.reference_message_id {
            element(&mut out, p, "referenceMessageId", r);
        }
        element(&mut out, p, "senderId", &self.sender_id);
        for r in &self.recipient_ids {
            element(&mut out, p, "recipientId", r);
        }
        element(&mut out, p, "eventDate", &self.event_date);
        element(&mut out, p, "messageDate", &self.message_date);
        out.push_str("</eCH-0090:envelope>\n");
        out
    }

    /// Reads an envelope; every refusal names the element.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, XmlError> {
        let f = Fields::new("envelope", read_children(bytes, ENVELOPE_NS, "envelope")?);
        let participant = |name: &str| -> Result<String, XmlError> {
            let v = f.required(name)?;
            if is_participant_id(v) {
                Ok(v.to_owned())
            } else {
                Err(f.invalid(name, "not a participant id like T6-066000-1"))
            }
        };
        let recipient_ids: Vec<String> = f
            .all("recipientId")
            .into_iter()
            .map(str::to_owned)
            .collect();
        if recipient_ids.is_empty() {
            return Err(XmlError::Missing(f.path("recipientId")));
        }
        if !recipient_ids.iter().all(|r| is_participant_id(r)) {
            return Err(f.invalid("recipientId", "not a participant id like T6-066000-1"));
        }
        let message_id = f.required("messageId")?.to_owned();
        if !is_message_id(&message_id) {
            return Err(f.invalid("messageId", "not a message id (1–100 of A–Z a–z 0–9 - _ .)"));
        }
        Ok(Envelope {
            message_id,
            message_type: f.number("messageType")?,
            message_class: f.number("messageClass")?,
            reference_message_id: f.optional("referenceMessageId")?.map(str::to_owned),
            sender_id: participant("senderId")?,
            recipient_ids,
            event_date: f.required("eventDate")?.to_owned(),
            message_date: f.required("messageDate")?.to_owned(),
        })
    }
}

/// A message id that can name a file: 1–100 of `A–Z a–z 0–9 - _ .`, not starting with a
/// dot.
pub fn is_message_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `xs:dateTime` in UTC with seconds: `2026-11-26T14:02:11Z`.
pub fn date_time(at: time::OffsetDateTime) -> String {
    crate::timefmt::rfc3339(at)
}
