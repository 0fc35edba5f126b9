//! A simulated fund reading a loss-of-earnings claim (dialect `ech-apg`) and checking it
//! the way a fund would, independently of the gateway's own validation: elements are
//! found by local name under their parents (any prefix, any namespace, any order of
//! siblings, unknown elements skipped), a DOCTYPE is refused. A claim that cannot be
//! acknowledged at all (not XML, no `messageId`) is an [`UnreadableClaim`]; anything else
//! that is wrong becomes a list of problems, which the fund answers with `invalid-data`.

use quick_xml::Reader;
use quick_xml::events::Event;
use time::macros::format_description;

use crate::model::{Date, Vn};
use crate::sim::render::decode;

/// The namespace of the claim and of its acknowledgements.
pub const APG_NS: &str = "urn:guichet:xmlns:apg-claim:1";

/// A claim the fund cannot even acknowledge: what is wrong (never a value of the claim).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableClaim {
    /// Not well-formed XML, or text that does not decode.
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    /// A DOCTYPE declaration.
    #[error("a DOCTYPE is refused")]
    Doctype,
    /// No `header/messageId`: there is nothing to refer the acknowledgement to.
    #[error("the claim has no header/messageId")]
    NoMessageId,
}

/// The activity before the service: exactly one of these in a valid claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// `employee`.
    Employee,
    /// `selfEmployed`.
    SelfEmployed,
    /// `unemployed`.
    Unemployed,
    /// `student`.
    Student,
    /// `notEmployed`.
    NotEmployed,
}

const ACTIVITIES: [(&str, Activity); 5] = [
    ("employee", Activity::Employee),
    ("selfEmployed", Activity::SelfEmployed),
    ("unemployed", Activity::Unemployed),
    ("student", Activity::Student),
    ("notEmployed", Activity::NotEmployed),
];

/// What a fund reads from a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// eCH-0058 `messageId` (the idempotency key of the fund).
    pub message_id: String,
    /// eCH-0058 `senderId` (empty when absent).
    pub sender_id: String,
    /// eCH-0058 `businessProcessId` (empty when absent).
    pub business_process_id: String,
    /// eCH-0058 `testDeliveryFlag`.
    pub test_delivery: bool,
    /// The claimant, when the `vn` is a valid AHV number.
    pub vn: Option<Vn>,
    /// The claimant's country of residence (`CH` when absent).
    pub country: String,
    /// The claimant's canton of residence, if given.
    pub canton: Option<String>,
    /// First day of service.
    pub start: Option<Date>,
    /// Last day of service.
    pub end: Option<Date>,
    /// The one activity before the service.
    pub activity: Option<Activity>,
    /// Everything wrong with the claim, by element path (never a value).
    pub problems: Vec<String>,
}

impl Claim {
    /// Whether the claim can be decided on (no problems).
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One element of the document: its path of local names below the root, and its text.
struct Element {
    path: String,
    text: String,
}

/// Reads and checks a claim.
pub fn read_claim(body: &[u8]) -> Result<Claim, UnreadableClaim> {
    let elements = elements(body)?;
    let get = |path: &str| {
        elements
            .iter()
            .find(|e| e.path == path)
            .map(|e| e.text.trim())
    };
    let all = |path: &'static str| {
        elements
            .iter()
            .filter(move |e| e.path == path)
            .map(|e| e.text.trim())
    };
    let message_id = get("header/messageId")
        .filter(|m| !m.is_empty())
        .ok_or(UnreadableClaim::NoMessageId)?
        .to_owned();
    let mut problems = Vec::new();
    let mut need = |path: &str| -> Option<String> {
        match get(path) {
            Some(v) if !v.is_empty() => Some(v.to_owned()),
            _ => {
                problems.push(format!("{path}: missing"));
                None
            }
        }
    };
    let sender_id = need("header/senderId").unwrap_or_default();
    let business_process_id = need("header/businessProcessId").unwrap_or_default();
    let vn_text = need("content/claimant/vn");
    let service_type = need("content/servicePeriod/serviceType");
    let start_text = need("content/servicePeriod/startDate");
    let end_text = need("content/servicePeriod/endDate");
    let days_text = need("content/servicePeriod/numberOfDays");
    let iban = need("content/payment/iban");
    let test_delivery = matches!(get("header/testDeliveryFlag"), Some("true" | "1"));
    let vn = vn_text.and_then(|v| match Vn::parse(&v) {
        Ok(vn) => Some(vn),
        Err(_) => {
            problems.push("content/claimant/vn: not an AHV number".to_owned());
            None
        }
    });
    for (i, child) in all("content/child/vn").enumerate() {
        if Vn::parse(child).is_err() {
            problems.push(format!("content/child[{}]/vn: not an AHV number", i + 1));
        }
    }
    if let Some(t) = service_type
        && !service_type_known(&t)
    {
        problems.push("content/servicePeriod/serviceType: not a known service type".into());
    }
    let date = |path: &str, text: Option<String>, problems: &mut Vec<String>| {
        let format = format_description!("[year]-[month]-[day]");
        let parsed = text.map(|t| Date::parse(&t, format));
        match parsed {
            Some(Ok(d)) => Some(d),
            Some(Err(_)) => {
                problems.push(format!("{path}: not a date YYYY-MM-DD"));
                None
            }
            None => None,
        }
    };
    let start = date("content/servicePeriod/startDate", start_text, &mut problems);
    let end = date("content/servicePeriod/endDate", end_text, &mut problems);
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            problems.push("content/servicePeriod/endDate: before startDate".into());
        } else if let Some(d) = days_text {
            let span = (e - s).whole_days() + 1;
            match d.parse::<i64>() {
                Ok(n) if (1..=span).contains(&n) => {}
                _ => problems.push(
                    "content/servicePeriod/numberOfDays: not between 1 and the days of the period"
                        .into(),
                ),
            }
        }
    }
    let present: Vec<Activity> = ACTIVITIES
        .iter()
        .filter(|(name, _)| {
            let path = format!("content/activityBeforeService/{name}");
            elements.iter().any(|e| e.path == path)
        })
        .map(|(_, a)| *a)
        .collect();
    let activity = match present.as_slice() {
        [one] => Some(*one),
        _ => {
            problems.push("content/activityBeforeService: not exactly one activity".into());
            None
        }
    };
    if let Some(uid) = get("content/activityBeforeService/employee/employerUid")
        && !uid_valid(uid)
    {
        problems.push(
            "content/activityBeforeService/employee/employerUid: not a UID CHE-NNN.NNN.NNN".into(),
        );
    }
    if let Some(i) = iban
        && !iban_valid(&i)
    {
        problems.push("content/payment/iban: not a Swiss or Liechtenstein IBAN".into());
    }
    Ok(Claim {
        message_id,
        sender_id,
        business_process_id,
        test_delivery,
        vn,
        country: get("content/claimant/address/country")
            .filter(|c| !c.is_empty())
            .unwrap_or("CH")
            .to_owned(),
        canton: get("content/claimant/address/canton")
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        start,
        end,
        activity,
        problems,
    })
}

/// Every element with its path below the root and its own text.
fn elements(body: &[u8]) -> Result<Vec<Element>, UnreadableClaim> {
    let text = decode(body).map_err(|e| UnreadableClaim::Syntax(e.to_string()))?;
    let mut reader = Reader::from_str(&text);
    let mut stack: Vec<Element> = Vec::new();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let syntax = |e: &dyn std::fmt::Display| UnreadableClaim::Syntax(e.to_string());
    loop {
        match reader.read_event().map_err(|e| syntax(&e))? {
            Event::DocType(_) => return Err(UnreadableClaim::Doctype),
            Event::Start(s) => {
                depth += 1;
                if depth > 1 {
                    stack.push(Element {
                        path: child_path(&stack, s.local_name().into_inner()),
                        text: String::new(),
                    });
                }
            }
            Event::Empty(s) if depth >= 1 => {
                out.push(Element {
                    path: child_path(&stack, s.local_name().into_inner()),
                    text: String::new(),
                });
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml_content().map_err(|e| syntax(&e))?);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::GeneralRef(r) => {
                let c = reference(&r).ok_or_else(|| syntax(&"unknown entity"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push(c);
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth >= 1
                    && let Some(done) = stack.pop()
                {
                    out.push(done);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn child_path(stack: &[Element], local: &[u8]) -> String {
    let name = String::from_utf8_lossy(local);
    match stack.last() {
        Some(parent) => format!("{}/{name}", parent.path),
        None => name.into_owned(),
    }
}

fn reference(r: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Some(c);
    }
    match &**r {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        _ => None,
    }
}

/// 10–16 army, 20–23 civil protection, 30 Youth+Sport, 40–41 civilian service, 50 young
/// marksmen course instructors.
fn service_type_known(t: &str) -> bool {
    matches!(t.parse::<u8>(), Ok(10..=16 | 20..=23 | 30 | 40 | 41 | 50)) && t.len() == 2
}

/// `CH`/`LI`, 21 characters, ISO 7064 mod-97 = 1 (spaces allowed in the printed form).
pub fn iban_valid(iban: &str) -> bool {
    let s: String = iban.chars().filter(|c| *c != ' ').collect();
    if s.len() != 21 || !(s.starts_with("CH") || s.starts_with("LI")) {
        return false;
    }
    if !s[2..4].bytes().all(|b| b.is_ascii_digit()) || !s.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let rotated = s[4..].chars().chain(s[..4].chars());
    let mut rest = 0u32;
    for c in rotated {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rest = if v >= 10 {
            (rest * 100 + v) % 97
        } else {
            (rest * 10 + v) % 97
        };
    }
    rest == 1
}

/// `CHE-NNN.NNN.NNN` (or `CHE` + 9 digits) whose ninth digit is the eCH-0097 mod-11 check.
pub fn uid_valid(uid: &str) -> bool {
    let Some(rest) = uid.strip_prefix("CHE") else {
        return false;
    };
    let digits: Vec<u32> = rest
        .chars()
        .filter(|c| !matches!(c, '-' | '.'))
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()
        .unwrap_or_default();
    if digits.len() != 9 {
        return false;
    }
    let sum: u32 = digits[..8]
        .iter()
        .zip([5, 4, 3, 2, 7, 6, 5, 4])
        .map(|(d, w)| d * w)
        .sum();
    let check = (11 - sum % 11) % 11;
    check != 10 && check == digits[8]
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &[u8] = include_bytes!("../../../tests/fixtures/contract/apg-claim.xml");

    #[test]
    fn reads_the_contract_example_as_valid() {
        let c = read_claim(EXAMPLE).expect("readable");
        assert!(c.is_valid(), "{:?}", c.problems);
        assert_eq!(c.message_id, "4e7d2a90-1c3b-4a5e-8f6d-7b9c0a1e2f04");
        assert_eq!(c.sender_id, "T6-000000-1");
        assert_eq!(c.business_process_id, "sub-01JF3Q8W6Z4K2M9T7R5V1X3B8N");
        assert_eq!(c.vn, Vn::parse("7561234567897").ok());
        assert_eq!(c.activity, Some(Activity::Employee));
        assert_eq!(c.canton.as_deref(), Some("GE"));
        assert!(c.test_delivery);
    }

    #[test]
    fn lists_every_problem_by_path_without_values() {
        let bad = String::from_utf8_lossy(EXAMPLE)
            .replace("7562295883070", "7562295883071")
            .replace(">11<", ">17<")
            .replace(">19<", ">20<")
            .replace("CHE-109.322.551", "CHE-109.322.552")
            .replace("CH9300762011623852957", "CH9300762011623852958")
            .replace("</apg:employee>", "</apg:employee><apg:student/>");
        let c = read_claim(bad.as_bytes()).expect("readable");
        let p = c.problems.join("\n");
        for path in [
            "content/child[1]/vn",
            "serviceType",
            "numberOfDays",
            "employerUid",
            "iban",
            "not exactly one activity",
        ] {
            assert!(p.contains(path), "{path} missing in {p}");
        }
        assert!(!p.contains("756"), "{p}");
    }

    #[test]
    fn refuses_what_cannot_be_acknowledged() {
        assert_eq!(
            read_claim(b"<!DOCTYPE x><x/>"),
            Err(UnreadableClaim::Doctype)
        );
        assert_eq!(
            read_claim(b"<m><header/></m>"),
            Err(UnreadableClaim::NoMessageId)
        );
        assert!(matches!(
            read_claim(b"<m><header>"),
            Err(UnreadableClaim::Syntax(_)) | Err(UnreadableClaim::NoMessageId)
        ));
    }

    #[test]
    fn checks_iban_and_uid() {
        assert!(iban_valid("CH9300762011623852957"));
        assert!(iban_valid("CH93 0076 2011 6238 5295 7"));
        assert!(!iban_valid("CH9300762011623852958"));
        assert!(!iban_valid("DE89370400440532013000"));
        assert!(uid_valid("CHE-109.322.551"));
        assert!(!uid_valid("CHE-109.322.552"));
        assert!(!uid_valid("CHE-109.322"));
    }
}
