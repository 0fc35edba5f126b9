//! eCH-0090 v2 receipts (`receipts/receipt_<messageId>.xml`): what the sedex client says
//! happened to a message, and what that means for the sender.

use super::envelope::is_message_id;
use super::xml::{Fields, XmlError, read_children};

/// The receipt's namespace.
pub const RECEIPT_NS: &str = "http://www.ech.ch/xmlns/eCH-0090/2";

/// What a receipt's status code means for the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SedexStatus {
    /// `100`: delivered to the recipient's inbox. Final success.
    Delivered,
    /// `2xx` (envelope or message invalid, duplicate id, expired …), `3xx` (unknown or
    /// unauthorised sender or recipient; `330` too large). Final failure: re-sending the
    /// same message cannot succeed.
    Failed(u16),
    /// `4xx` (network, recipient unreachable), `5xx` (sedex internal error), `601` (sent,
    /// not yet delivered), `701` (will expire soon). Not final: the client keeps trying;
    /// a later receipt replaces this one.
    Pending(u16),
}

impl SedexStatus {
    /// The meaning of a status code; `None` for a code outside eCH-0090's classes.
    pub fn from_code(code: u16) -> Option<SedexStatus> {
        match code {
            100 => Some(SedexStatus::Delivered),
            200..=399 => Some(SedexStatus::Failed(code)),
            400..=599 | 601 | 701 => Some(SedexStatus::Pending(code)),
            _ => None,
        }
    }

    /// Whether no later receipt will change the outcome.
    pub fn is_final(self) -> bool {
        !matches!(self, SedexStatus::Pending(_))
    }

    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            SedexStatus::Delivered => 100,
            SedexStatus::Failed(c) | SedexStatus::Pending(c) => c,
        }
    }
}

/// One receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The message it is about.
    pub message_id: String,
    /// What happened.
    pub status: SedexStatus,
    /// The client's explanation, when given.
    pub status_info: Option<String>,
    /// `xs:dateTime` of the event.
    pub event_date: String,
    /// The message type, when given.
    pub message_type: Option<u32>,
    /// The sender's participant id, when given.
    pub sender_id: Option<String>,
    /// The recipient this receipt is for, when given.
    pub recipient_id: Option<String>,
}

impl Receipt {
    /// Reads a receipt; every refusal names the element.
    pub fn parse(bytes: &[u8]) -> Result<Receipt, XmlError> {
        let f = Fields::new("receipt", read_children(bytes, RECEIPT_NS, "receipt")?);
        let code: u16 = f.number("statusCode")?;
        let status = SedexStatus::from_code(code)
            .ok_or_else(|| f.invalid("statusCode", "not an eCH-0090 status code (1xx–7xx)"))?;
        let message_id = f.required("messageId")?.to_owned();
        if !is_message_id(&message_id) {
            return Err(f.invalid("messageId", "not a message id (1–100 of A–Z a–z 0–9 - _ .)"));
        }
        let message_type = match f.optional("messageType")? {
            Some(_) => Some(f.number("messageType")?),
            None => None,
        };
        Ok(Receipt {
            message_id,
            status,
            status_info: f.optional("statusInfo")?.map(str::to_owned),
            event_date: f.required("eventDate")?.to_owned(),
            message_type,
            sender_id: f.optional("senderId")?.map(str::to_owned),
            recipient_id: f.optional("recipientId")?.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_fall_into_the_contract_classes() {
        assert_eq!(SedexStatus::from_code(100), Some(SedexStatus::Delivered));
        for c in [200, 202, 204, 300, 313, 330] {
            let s = SedexStatus::from_code(c).expect("known");
            assert_eq!(s, SedexStatus::Failed(c));
            assert!(s.is_final());
        }
        for c in [400, 404, 500, 501, 601, 701] {
            let s = SedexStatus::from_code(c).expect("known");
            assert_eq!(s, SedexStatus::Pending(c));
            assert!(!s.is_final());
            assert_eq!(s.code(), c);
        }
        for c in [0, 99, 101, 600, 602, 700, 800] {
            assert_eq!(SedexStatus::from_code(c), None, "{c}");
        }
    }
}
