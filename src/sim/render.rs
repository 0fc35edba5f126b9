//! The offices' side of the wire: reads the gateway's requests (any dialect) and writes an
//! office's answer in its dialect, in the style of the contract examples
//! (`tests/fixtures/contract/`). Plain string building: it runs 101 times per query.

use std::fmt::{Display, Write as _};

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use super::population::{Person, SimOffice};
use crate::merge::YearRange;
use crate::model::{CodeName, IkEntry, IvCase, Money};

mod request;

pub(crate) use request::decode;
pub use request::{RequestError, SimRequest, parse_request};

/// The gateway's participant id (the recipient of every answer).
pub(crate) const GATEWAY: &str = "T6-000000-1";
const ECH_IK_NS: &str = "urn:guichet:xmlns:ik-extract:1";
const ECH_IV_NS: &str = "urn:guichet:xmlns:iv-cases:1";
pub(super) const UTC_MILLIS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
const LOCAL_SECONDS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// Why a simulated office could not write its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The office's dialect is none the simulator writes.
    #[error("unknown dialect {0:?}")]
    UnknownDialect(String),
    /// The answer's timestamp could not be written.
    #[error("{0}")]
    Clock(String),
    /// The blocking task that renders a heavy answer did not finish.
    #[error("rendering the heavy answer failed")]
    Interrupted,
}

/// The office's answer in its dialect (`ech-ik`, `vendor-ik`, `ech-iv`), in the style of
/// the contract examples. Only entries within the request's years; an office where the
/// person has nothing answers with its negative report. Unknown dialect → `Err`.
pub fn render_answer(
    dialect: &str,
    office: &SimOffice,
    person: &Person,
    request: &SimRequest,
) -> Result<Vec<u8>, RenderError> {
    let now = OffsetDateTime::now_utc();
    let clock = |e: time::error::Format| RenderError::Clock(e.to_string());
    match dialect {
        "ech-ik" => {
            let date = now.format(UTC_MILLIS).map_err(clock)?;
            Ok(ech_ik(office, person, request, &date).into_bytes())
        }
        "vendor-ik" => {
            let date = now.format(LOCAL_SECONDS).map_err(clock)?;
            Ok(vendor_ik(office, person, request, &date))
        }
        "ech-iv" => {
            let date = now.format(UTC_MILLIS).map_err(clock)?;
            Ok(ech_iv(office, person, request, &date).into_bytes())
        }
        other => Err(RenderError::UnknownDialect(other.to_owned())),
    }
}

fn in_range<'p>(
    person: &'p Person,
    office: &SimOffice,
    request: &SimRequest,
) -> Option<Vec<&'p IkEntry>> {
    let range = YearRange {
        from: request.year_from,
        to: request.year_to,
    };
    let all = person.accounts.get(&office.id)?;
    Some(all.iter().filter(|e| range.contains(e.year)).collect())
}

/// The eCH-0058 header fields common to `ech-ik` and `ech-iv`.
struct Header<'a> {
    prefix: &'a str,
    message_type: &'a str,
    sub_message_type: &'a str,
    action: u8,
    closed: bool,
    date: &'a str,
}

fn open_ech(out: &mut String, ns: &str, h: &Header<'_>, office: &SimOffice, req: &SimRequest) {
    let p = h.prefix;
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{p}:message xmlns:{p}=\"{ns}\"\n            \
         xmlns:eCH-0058=\"http://www.ech.ch/xmlns/eCH-0058/5\"\n            \
         xmlns:eCH-0044=\"http://www.ech.ch/xmlns/eCH-0044/4\"\n            \
         minorVersion=\"0\">\n  <{p}:header>\n"
    );
    let i = "    ";
    raw(out, i, "eCH-0058:senderId", office.id.participant_id("T6"));
    raw(out, i, "eCH-0058:recipientId", GATEWAY);
    raw(out, i, "eCH-0058:messageId", uuid::Uuid::new_v4());
    if let Some(m) = &req.message_id {
        text(out, i, "eCH-0058:referenceMessageId", m);
    }
    raw(out, i, "eCH-0058:messageType", h.message_type);
    raw(out, i, "eCH-0058:subMessageType", h.sub_message_type);
    out.push_str("    <eCH-0058:sendingApplication>\n");
    text(out, "      ", "eCH-0058:manufacturer", &office.name);
    raw(out, "      ", "eCH-0058:product", "guichet-sim");
    raw(
        out,
        "      ",
        "eCH-0058:productVersion",
        env!("CARGO_PKG_VERSION"),
    );
    out.push_str("    </eCH-0058:sendingApplication>\n");
    raw(out, i, "eCH-0058:messageDate", h.date);
    raw(out, i, "eCH-0058:action", h.action);
    raw(out, i, "eCH-0058:testDeliveryFlag", req.test_delivery);
    if h.closed {
        raw(out, i, "eCH-0058:businessCaseClosed", true);
    }
    let _ = write!(
        out,
        "  </{p}:header>\n  <{p}:content>\n    <{p}:insuredPerson>\n"
    );
}

fn ech_ik(office: &SimOffice, person: &Person, req: &SimRequest, date: &str) -> String {
    let entries = in_range(person, office, req);
    let mut out = String::with_capacity(1500 + 400 * entries.as_ref().map_or(0, Vec::len));
    let header = Header {
        prefix: "ik",
        message_type: "2050",
        sub_message_type: "000402",
        action: if entries.is_some() { 6 } else { 8 },
        closed: entries.is_some(),
        date,
    };
    open_ech(&mut out, ECH_IK_NS, &header, office, req);
    raw(&mut out, "      ", "eCH-0044:vn", person.vn.digits());
    let Some(entries) = entries else {
        out.push_str("    </ik:insuredPerson>\n    <ik:negativeReport>\n");
        raw(&mut out, "      ", "ik:code", 4);
        raw(
            &mut out,
            "      ",
            "ik:text",
            "Kein individuelles Konto für diese Person",
        );
        out.push_str("    </ik:negativeReport>\n  </ik:content>\n</ik:message>\n");
        return out;
    };
    person_details(&mut out, person);
    out.push_str("    </ik:insuredPerson>\n    <ik:account>\n");
    raw(
        &mut out,
        "      ",
        "ik:compensationOffice",
        office.id.number,
    );
    raw(&mut out, "      ", "ik:agency", office.id.agency);
    for e in entries {
        ech_entry(&mut out, e);
    }
    out.push_str("    </ik:account>\n  </ik:content>\n</ik:message>\n");
    out
}

fn person_details(out: &mut String, person: &Person) {
    let i = "      ";
    text(out, i, "eCH-0044:officialName", &person.official_name);
    text(out, i, "eCH-0044:firstName", &person.first_name);
    raw(out, i, "eCH-0044:sex", person.sex());
    if let Some(d) = person.date_of_birth() {
        out.push_str("      <eCH-0044:dateOfBirth>\n");
        raw(out, "        ", "eCH-0044:yearMonthDay", d);
        out.push_str("      </eCH-0044:dateOfBirth>\n");
    }
}

fn ech_entry(out: &mut String, e: &IkEntry) {
    let i = "        ";
    out.push_str("      <ik:entry>\n");
    text(out, i, "ik:accountNumber", &e.account_number);
    raw(out, i, "ik:incomeCode", e.income_code);
    if let Some(f) = e.care_credit_fraction {
        raw(out, i, "ik:careCreditFraction", f);
    }
    raw(out, i, "ik:monthFrom", e.month_from.code());
    raw(out, i, "ik:monthTo", e.month_to.code());
    raw(out, i, "ik:year", e.year);
    raw(out, i, "ik:income", e.income);
    if let Some(name) = &e.employer {
        text(out, i, "ik:employerName", name);
    }
    if let Some(d) = e.booking_date {
        raw(out, i, "ik:bookingDate", d);
    }
    out.push_str("      </ik:entry>\n");
}

fn vendor_ik(office: &SimOffice, person: &Person, req: &SimRequest, date: &str) -> Vec<u8> {
    let Some(entries) = in_range(person, office, req) else {
        let mut out = String::with_capacity(600);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<message xmlns=\"urn:legacy-vendor:ik-search:1\">\n  <reportHeader>\n");
        vendor_header(&mut out, req, date, 8);
        out.push_str("  </reportHeader>\n  <report>\n");
        raw(&mut out, "    ", "code", 4);
        raw(&mut out, "    ", "text", "no account found for client");
        out.push_str("  </report>\n</message>\n");
        return latin1(&out);
    };
    let mut out = String::with_capacity(1200 + 450 * entries.len());
    out.push_str("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<message xmlns=\"urn:legacy-vendor:ik-search:1\">\n  <header>\n");
    vendor_header(&mut out, req, date, 6);
    out.push_str("  </header>\n  <searchIndividualAccountReponse>\n");
    let i = "    ";
    raw(&mut out, i, "vn", person.vn.digits());
    text(&mut out, i, "officialName", &person.official_name);
    text(&mut out, i, "firstName", &person.first_name);
    if let Some(y) = req.year_from {
        raw(&mut out, i, "yearFrom", y);
    }
    if let Some(y) = req.year_to {
        raw(&mut out, i, "yearTo", y);
    }
    out.push_str("    <account>\n");
    raw(&mut out, "      ", "personId", person.vn.digits());
    let total: Money = entries.iter().map(|e| e.income).sum();
    raw(&mut out, "      ", "totalIncome", total);
    for e in entries {
        vendor_entry(&mut out, office, e);
    }
    out.push_str("    </account>\n  </searchIndividualAccountReponse>\n</message>\n");
    latin1(&out)
}

fn vendor_header(out: &mut String, req: &SimRequest, date: &str, action: u8) {
    raw(out, "    ", "messageId", uuid::Uuid::new_v4());
    if let Some(m) = &req.message_id {
        text(out, "    ", "referenceMessageId", m);
    }
    raw(out, "    ", "messageDate", date);
    raw(out, "    ", "action", action);
}

fn vendor_entry(out: &mut String, office: &SimOffice, e: &IkEntry) {
    let i = "        ";
    out.push_str("      <accountData>\n");
    let _ = writeln!(
        out,
        "{i}<compensationOffice>{:02}</compensationOffice>",
        office.id.number % 100
    );
    text(out, i, "accountNumber", &e.account_number);
    raw(out, i, "incomeCode", e.income_code);
    if let Some(f) = e.care_credit_fraction {
        raw(out, i, "fractionFL", f);
    }
    let _ = writeln!(
        out,
        "{i}<contributionMonthStart>--{:02}</contributionMonthStart>\n\
         {i}<contributionMonthEnd>--{:02}</contributionMonthEnd>",
        e.month_from.code(),
        e.month_to.code()
    );
    raw(out, i, "contributionYear", e.year);
    raw(out, i, "income", e.income);
    if let Some(name) = &e.employer {
        text(out, i, "description", name);
    }
    out.push_str("      </accountData>\n");
}

fn ech_iv(office: &SimOffice, person: &Person, req: &SimRequest, date: &str) -> String {
    let cases: Vec<&IvCase> = person
        .iv_cases
        .iter()
        .filter(|c| c.office == office.id)
        .collect();
    let mut out = String::with_capacity(1500 + 300 * cases.len());
    let header = Header {
        prefix: "iv",
        message_type: "2057",
        sub_message_type: "000602",
        action: if cases.is_empty() { 8 } else { 6 },
        closed: false,
        date,
    };
    open_ech(&mut out, ECH_IV_NS, &header, office, req);
    raw(&mut out, "      ", "eCH-0044:vn", person.vn.digits());
    out.push_str("    </iv:insuredPerson>\n");
    let i = "      ";
    for c in cases {
        out.push_str("    <iv:case>\n");
        text(&mut out, i, "iv:decisionNumber", &c.decision_number);
        raw(&mut out, i, "iv:benefit", c.benefit.name());
        raw(&mut out, i, "iv:status", c.status.name());
        if let Some(d) = c.degree {
            raw(&mut out, i, "iv:degree", d);
        }
        if let Some(d) = c.valid_from {
            raw(&mut out, i, "iv:validFrom", d);
        }
        if let Some(d) = c.valid_to {
            raw(&mut out, i, "iv:validTo", d);
        }
        out.push_str("    </iv:case>\n");
    }
    out.push_str("  </iv:content>\n</iv:message>\n");
    out
}

/// One element whose value needs no escaping (numbers, codes, dates, ids).
pub(super) fn raw(out: &mut String, indent: &str, name: &str, value: impl Display) {
    let _ = writeln!(out, "{indent}<{name}>{value}</{name}>");
}

/// One element with escaped text.
pub(super) fn text(out: &mut String, indent: &str, name: &str, value: &str) {
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

/// ISO-8859-1 bytes; characters above U+00FF become character references.
fn latin1(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => out.push(b),
            Err(_) => {
                let _ = write!(ByteSink(&mut out), "&#{};", u32::from(c));
            }
        }
    }
    out
}

/// Lets `write!` append to a byte vector.
struct ByteSink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_encodes_latin1() {
        let mut out = String::new();
        text(&mut out, "", "a", "Müller & <Söhne>");
        assert_eq!(out, "<a>Müller &amp; &lt;Söhne&gt;</a>\n");
        assert_eq!(
            latin1("Rhône Dvořák Œ"),
            b"Rh\xF4ne Dvo&#345;\xE1k &#338;".to_vec()
        );
    }
}
