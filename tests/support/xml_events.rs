//! XML compared by what it says (shared by `golden`, `sedex` and `apg_mapping`): the
//! events of a document with namespace URIs instead of prefixes, trimmed text and no
//! layout.

#![allow(dead_code)]

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// (namespace URI, local name, trimmed text) events: prefixes and layout may differ.
pub fn events(xml: &str) -> Vec<(String, String, String)> {
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut out = Vec::new();
    let mut stack: Vec<(String, String)> = Vec::new();
    loop {
        match reader.read_resolved_event().expect("well-formed") {
            (ns, Event::Start(e)) => stack.push(name(ns, &e)),
            (_, Event::Text(t)) => {
                let text = t.decode().expect("text").trim().to_owned();
                if !text.is_empty()
                    && let Some((uri, local)) = stack.last()
                {
                    out.push((uri.clone(), local.clone(), text));
                }
            }
            (_, Event::End(_)) => {
                if let Some((uri, local)) = stack.pop() {
                    out.push((uri, local, "/".into()));
                }
            }
            (_, Event::Eof) => break,
            _ => {}
        }
    }
    out
}

/// (namespace URI, local name) of a start tag (no URI without a namespace).
pub fn name(ns: ResolveResult<'_>, e: &BytesStart<'_>) -> (String, String) {
    let uri = match ns {
        ResolveResult::Bound(n) => String::from_utf8_lossy(n.into_inner()).into_owned(),
        _ => String::new(),
    };
    let local = String::from_utf8_lossy(e.local_name().into_inner()).into_owned();
    (uri, local)
}
