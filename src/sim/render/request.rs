//! Reading the gateway's requests, whatever the dialect: the fields an office needs are
//! found by local name, so prefixes and namespaces do not matter.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::model::{Vn, VnError};

/// A request the simulated office cannot read: what is wrong (never the AHV number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Syntax(String),
    /// A DOCTYPE declaration.
    #[error("a DOCTYPE is refused")]
    Doctype,
    /// Text that does not unescape.
    #[error("bad text: {0}")]
    Text(String),
    /// A character or entity reference that does not resolve.
    #[error("unknown entity &{0};")]
    Entity(String),
    /// No `vn` element.
    #[error("the request has no vn element")]
    NoVn,
    /// A `vn` that is not an AHV number.
    #[error("the vn element is not an AHV number: {0}")]
    Vn(#[from] VnError),
    /// `yearFrom` / `yearTo` outside 1948–2100.
    #[error("{0} is not a year 1948–2100")]
    Year(&'static str),
    /// `testDeliveryFlag` neither true nor false.
    #[error("testDeliveryFlag is not a boolean")]
    Flag,
    /// Declared UTF-8 (or undeclared) but not valid UTF-8.
    #[error("not valid UTF-8 at byte {0}")]
    Utf8(usize),
}

/// What an office reads from a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRequest {
    /// The person asked about.
    pub vn: Vn,
    /// First contribution year asked for, if given.
    pub year_from: Option<u16>,
    /// Last contribution year asked for, if given.
    pub year_to: Option<u16>,
    /// The request's message id (answered as `referenceMessageId`), if given.
    pub message_id: Option<String>,
    /// eCH-0058 testDeliveryFlag (false when the dialect has none).
    pub test_delivery: bool,
}

/// Reads a request of any of the three dialects: the `vn`, `yearFrom`, `yearTo`,
/// `messageId` and `testDeliveryFlag` elements by local name, whatever their namespace.
/// Errors say what is wrong; a DOCTYPE is refused.
pub fn parse_request(body: &[u8]) -> Result<SimRequest, RequestError> {
    let text = decode(body)?;
    let mut reader = Reader::from_str(&text);
    let mut fields: [Option<String>; 5] = Default::default();
    let mut current: Option<usize> = None;
    loop {
        match reader.read_event() {
            Err(e) => return Err(RequestError::Syntax(e.to_string())),
            Ok(Event::DocType(_)) => return Err(RequestError::Doctype),
            Ok(Event::Start(s)) => {
                current = field_index(s.local_name().into_inner());
                if let Some(i) = current {
                    // The first occurrence wins (the header's messageId).
                    if fields[i].is_some() {
                        current = None;
                    } else {
                        fields[i] = Some(String::new());
                    }
                }
            }
            Ok(Event::Text(t)) => {
                if let Some(i) = current {
                    let s = t
                        .xml_content()
                        .map_err(|e| RequestError::Text(e.to_string()))?;
                    push_field(&mut fields[i], &s);
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if let Some(i) = current {
                    let c = reference(&r)?;
                    push_field(&mut fields[i], c.encode_utf8(&mut [0; 4]));
                }
            }
            Ok(Event::End(_)) => current = None,
            Ok(Event::Eof) => break,
            Ok(_) => {}
        }
    }
    request_from(fields)
}

const FIELDS: [&[u8]; 5] = [
    b"vn",
    b"yearFrom",
    b"yearTo",
    b"messageId",
    b"testDeliveryFlag",
];

fn field_index(local: &[u8]) -> Option<usize> {
    FIELDS.iter().position(|f| *f == local)
}

fn push_field(field: &mut Option<String>, s: &str) {
    if let Some(f) = field {
        f.push_str(s);
    }
}

fn reference(r: &quick_xml::events::BytesRef<'_>) -> Result<char, RequestError> {
    let unknown = || RequestError::Entity(String::from_utf8_lossy(r).into_owned());
    if let Some(c) = r.resolve_char_ref().map_err(|_| unknown())? {
        return Ok(c);
    }
    match &**r {
        b"amp" => Ok('&'),
        b"lt" => Ok('<'),
        b"gt" => Ok('>'),
        b"quot" => Ok('"'),
        b"apos" => Ok('\''),
        _ => Err(unknown()),
    }
}

fn request_from(fields: [Option<String>; 5]) -> Result<SimRequest, RequestError> {
    let [vn, from, to, message_id, flag] = fields.map(|f| f.map(|s| s.trim().to_owned()));
    let vn = Vn::parse(&vn.ok_or(RequestError::NoVn)?)?;
    let year = |name: &'static str, v: Option<String>| -> Result<Option<u16>, RequestError> {
        match v.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse::<u16>()
                .ok()
                .filter(|y| (1948..=2100).contains(y))
                .map(Some)
                .ok_or(RequestError::Year(name)),
        }
    };
    let test_delivery = match flag.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => return Err(RequestError::Flag),
    };
    Ok(SimRequest {
        vn,
        year_from: year("yearFrom", from)?,
        year_to: year("yearTo", to)?,
        message_id: message_id.filter(|m| !m.is_empty()),
        test_delivery,
    })
}

/// The document's text per its XML declaration: UTF-8 (default) or ISO-8859-1.
pub(crate) fn decode(body: &[u8]) -> Result<std::borrow::Cow<'_, str>, RequestError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let head = &body[..body.len().min(100)];
    let decl_end = head.windows(2).position(|w| w == b"?>").unwrap_or(0);
    let decl = String::from_utf8_lossy(&head[..decl_end]).to_ascii_lowercase();
    if head.starts_with(b"<?xml") && (decl.contains("iso-8859-1") || decl.contains("latin1")) {
        return Ok(body.iter().map(|&b| char::from(b)).collect());
    }
    std::str::from_utf8(body)
        .map(std::borrow::Cow::Borrowed)
        .map_err(|e| RequestError::Utf8(e.valid_up_to()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_prefix_and_latin1() {
        let body = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<x:m xmlns:x=\"urn:a\" xmlns:y=\"urn:b\"><x:h><y:messageId>m-\xE9&amp;1</y:messageId></x:h><y:vn> 7561234567897 </y:vn><x:yearTo>2020</x:yearTo></x:m>";
        let r = parse_request(body).expect("valid");
        assert_eq!(r.vn, Vn::parse("7561234567897").expect("vn"));
        assert_eq!(r.message_id.as_deref(), Some("m-é&1"));
        assert_eq!((r.year_from, r.year_to), (None, Some(2020)));
        assert!(!r.test_delivery);
    }
}
