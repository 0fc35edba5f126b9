//! A simulated fund's acknowledgement of a claim, written in the style of the contract
//! examples `apg-ack-accepted.xml`, `apg-ack-rejected.xml`, `apg-ack-transferred.xml`.

use std::fmt::Write as _;

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use super::claim::{APG_NS, Claim};
use crate::model::OfficeId;
use crate::sim::population::SimOffice;

const UTC_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// A reason code of a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A claim of the same person for an overlapping period is already registered.
    DuplicatePeriod,
    /// The claim does not pass the fund's checks.
    InvalidData,
}

impl Reason {
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::DuplicatePeriod => "duplicate-period",
            Reason::InvalidData => "invalid-data",
        }
    }
}

/// What the fund decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Registered under the fund's case number.
    Accepted {
        /// `APG-<fund>-<year>-<serial>`.
        case_number: String,
    },
    /// Refused, with a reason code and a text (no personal data).
    Rejected {
        /// The code.
        reason: Reason,
        /// The text.
        text: String,
    },
    /// Not competent: sent on to the fund where the person is affiliated.
    Transferred {
        /// The competent fund.
        to: OfficeId,
        /// The text.
        text: String,
    },
}

/// An acknowledgement as sent, kept to be sent again unchanged for a retried claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The acknowledgement's own `messageId`.
    pub message_id: String,
    /// The claim's `messageId` (`referenceMessageId`).
    pub claim_message_id: String,
    /// The claim's sender (the recipient of the acknowledgement).
    pub recipient_id: String,
    /// The decision.
    pub outcome: Outcome,
    /// The document.
    pub xml: Vec<u8>,
}

/// Writes the acknowledgement of `claim` by `fund`.
pub fn render_ack(fund: &SimOffice, claim: &Claim, outcome: Outcome) -> Ack {
    let message_id = uuid::Uuid::new_v4().to_string();
    let date = OffsetDateTime::now_utc()
        .format(UTC_MILLIS)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned());
    let recipient = if claim.sender_id.is_empty() {
        crate::sim::render::GATEWAY.to_owned()
    } else {
        claim.sender_id.clone()
    };
    let action = match outcome {
        Outcome::Rejected { .. } => 8,
        _ => 6,
    };
    let mut out = String::with_capacity(1600);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<apg:message xmlns:apg=\"{APG_NS}\"\n             \
         xmlns:eCH-0058=\"http://www.ech.ch/xmlns/eCH-0058/5\"\n             \
         minorVersion=\"0\">\n  <apg:header>\n"
    );
    let i = "    ";
    text(
        &mut out,
        i,
        "eCH-0058:senderId",
        &fund.id.participant_id("T6"),
    );
    text(&mut out, i, "eCH-0058:recipientId", &recipient);
    text(&mut out, i, "eCH-0058:messageId", &message_id);
    text(
        &mut out,
        i,
        "eCH-0058:referenceMessageId",
        &claim.message_id,
    );
    if !claim.business_process_id.is_empty() {
        text(
            &mut out,
            i,
            "eCH-0058:businessProcessId",
            &claim.business_process_id,
        );
    }
    text(&mut out, i, "eCH-0058:messageType", "2014");
    text(&mut out, i, "eCH-0058:subMessageType", "000102");
    out.push_str("    <eCH-0058:sendingApplication>\n");
    let j = "      ";
    text(&mut out, j, "eCH-0058:manufacturer", &fund.name);
    text(&mut out, j, "eCH-0058:product", "guichet-sim APG");
    text(
        &mut out,
        j,
        "eCH-0058:productVersion",
        env!("CARGO_PKG_VERSION"),
    );
    out.push_str("    </eCH-0058:sendingApplication>\n");
    text(&mut out, i, "eCH-0058:messageDate", &date);
    text(&mut out, i, "eCH-0058:action", &action.to_string());
    text(
        &mut out,
        i,
        "eCH-0058:testDeliveryFlag",
        if claim.test_delivery { "true" } else { "false" },
    );
    out.push_str("  </apg:header>\n  <apg:content>\n    <apg:acknowledgement>\n");
    let k = "      ";
    match &outcome {
        Outcome::Accepted { case_number } => {
            text(&mut out, k, "apg:outcome", "accepted");
            text(&mut out, k, "apg:caseNumber", case_number);
        }
        Outcome::Rejected { reason, text: why } => {
            text(&mut out, k, "apg:outcome", "rejected");
            text(&mut out, k, "apg:reasonCode", reason.code());
            text(&mut out, k, "apg:reason", why);
        }
        Outcome::Transferred { to, text: why } => {
            text(&mut out, k, "apg:outcome", "transferred");
            text(&mut out, k, "apg:transferredTo", &to.to_string());
            text(&mut out, k, "apg:reason", why);
        }
    }
    out.push_str("    </apg:acknowledgement>\n  </apg:content>\n</apg:message>\n");
    Ack {
        message_id,
        claim_message_id: claim.message_id.clone(),
        recipient_id: recipient,
        outcome,
        xml: out.into_bytes(),
    }
}

/// One element with escaped text.
pub(crate) fn text(out: &mut String, indent: &str, name: &str, value: &str) {
    let _ = write!(out, "{indent}<{name}>");
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    let _ = writeln!(out, "</{name}>");
}
