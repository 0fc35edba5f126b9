//! Request templates: the XML an office receives, with `{{placeholder}}` values filled in
//! (XML-escaped). Compiled once; rendering is a handful of string pushes.

use super::error::TemplateError;
use crate::model::{OfficeId, Vn};

/// The values a request may carry. Every placeholder of a template names one of them.
#[derive(Clone, Debug)]
pub struct RequestParams<'a> {
    /// The person asked about.
    pub vn: Vn,
    /// The office asked.
    pub office: OfficeId,
    /// The gateway's sedex participant id (`T6-000000-1`).
    pub sender_id: &'a str,
    /// Participant-id prefix of the environment (`T6` test, `6` production).
    pub participant_prefix: &'a str,
    /// A fresh message id for this request.
    pub message_id: &'a str,
    /// The id shared by every request of one query.
    pub business_process_id: &'a str,
    /// `xs:dateTime` in UTC (`2026-11-26T10:15:00Z`).
    pub message_date: &'a str,
    /// First contribution year asked for.
    pub year_from: u16,
    /// Last contribution year asked for.
    pub year_to: u16,
    /// eCH-0058 testDeliveryFlag.
    pub test_delivery: bool,
    /// Purpose of the query (an eCH-0058 `namedMetaData` entry where the dialect has one).
    pub purpose: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placeholder {
    Vn,
    SenderId,
    RecipientId,
    ParticipantPrefix,
    MessageId,
    BusinessProcessId,
    MessageDate,
    MessageDateLocal,
    YearFrom,
    YearTo,
    TestDeliveryFlag,
    ProductVersion,
    Purpose,
}

const PLACEHOLDERS: &[(&str, Placeholder)] = &[
    ("vn", Placeholder::Vn),
    ("senderId", Placeholder::SenderId),
    ("recipientId", Placeholder::RecipientId),
    ("participantPrefix", Placeholder::ParticipantPrefix),
    ("messageId", Placeholder::MessageId),
    ("businessProcessId", Placeholder::BusinessProcessId),
    ("messageDate", Placeholder::MessageDate),
    ("messageDateLocal", Placeholder::MessageDateLocal),
    ("yearFrom", Placeholder::YearFrom),
    ("yearTo", Placeholder::YearTo),
    ("testDeliveryFlag", Placeholder::TestDeliveryFlag),
    ("productVersion", Placeholder::ProductVersion),
    ("purpose", Placeholder::Purpose),
];

#[derive(Clone, Debug)]
enum Segment {
    Literal(String),
    Value(Placeholder),
}

/// A compiled request template.
#[derive(Clone, Debug)]
pub struct Template {
    segments: Vec<Segment>,
    size_hint: usize,
}

impl Template {
    /// Splits `text` into literals and placeholders; unknown placeholders are refused and
    /// the result, filled with sample values, must be well-formed XML.
    pub fn compile(text: &str) -> Result<Template, TemplateError> {
        let text = text.trim_start();
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            segments.push(Segment::Literal(rest[..start].to_owned()));
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
            let name = after[..end].trim();
            let p = PLACEHOLDERS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, p)| *p)
                .ok_or_else(|| {
                    let known: Vec<&str> = PLACEHOLDERS.iter().map(|(n, _)| *n).collect();
                    TemplateError::UnknownPlaceholder {
                        name: name.to_owned(),
                        known: known.join(", "),
                    }
                })?;
            segments.push(Segment::Value(p));
            rest = &after[end + 2..];
        }
        segments.push(Segment::Literal(rest.to_owned()));
        let template = Template {
            segments,
            size_hint: text.len() + 64,
        };
        let sample = template.render(&sample_params());
        check_well_formed(&sample)?;
        Ok(template)
    }

    /// The request body for `p`.
    pub fn render(&self, p: &RequestParams<'_>) -> String {
        let mut out = String::with_capacity(self.size_hint);
        for s in &self.segments {
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Value(v) => push_value(&mut out, *v, p),
            }
        }
        out
    }
}

/// Appends one placeholder's value, escaped where it is free text.
fn push_value(out: &mut String, v: Placeholder, p: &RequestParams<'_>) {
    use std::fmt::Write;
    let text = match v {
        Placeholder::SenderId => p.sender_id,
        Placeholder::MessageId => p.message_id,
        Placeholder::BusinessProcessId => p.business_process_id,
        Placeholder::MessageDate => p.message_date,
        Placeholder::MessageDateLocal => p.message_date.trim_end_matches('Z'),
        Placeholder::ProductVersion => env!("CARGO_PKG_VERSION"),
        Placeholder::Purpose => p.purpose,
        Placeholder::ParticipantPrefix => p.participant_prefix,
        Placeholder::Vn => {
            out.push_str(&p.vn.digits());
            return;
        }
        Placeholder::RecipientId => {
            let prefix = EscapeXml(p.participant_prefix);
            let _ = write!(
                out,
                "{prefix}-{:03}{:03}-1",
                p.office.number, p.office.agency
            );
            return;
        }
        Placeholder::YearFrom | Placeholder::YearTo => {
            let year = if v == Placeholder::YearFrom {
                p.year_from
            } else {
                p.year_to
            };
            let _ = write!(out, "{year}");
            return;
        }
        Placeholder::TestDeliveryFlag => {
            if p.test_delivery {
                "true"
            } else {
                "false"
            }
        }
    };
    push_escaped(out, text);
}

struct EscapeXml<'a>(&'a str);

impl std::fmt::Display for EscapeXml<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        push_escaped(&mut s, self.0);
        f.write_str(&s)
    }
}

/// Appends `s` with the five XML special characters escaped.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn sample_params() -> RequestParams<'static> {
    RequestParams {
        vn: Vn::from_serial(123_456_789),
        office: OfficeId {
            number: 1,
            agency: 0,
        },
        sender_id: "T6-000000-1",
        participant_prefix: "T6",
        message_id: "00000000-0000-4000-8000-000000000000",
        business_process_id: "00000000-0000-4000-8000-000000000000",
        message_date: "2026-01-01T00:00:00Z",
        year_from: 1948,
        year_to: 2026,
        test_delivery: true,
        purpose: "self-service",
    }
}

pub(crate) fn check_well_formed(xml: &str) -> Result<(), TemplateError> {
    let mut reader = quick_xml::NsReader::from_str(xml);
    let mut depth = 0usize;
    let mut roots = 0usize;
    loop {
        match reader.read_resolved_event() {
            Ok((ns, quick_xml::events::Event::Start(_))) => {
                if let quick_xml::name::ResolveResult::Unknown(p) = ns {
                    return Err(TemplateError::UndeclaredPrefix(
                        String::from_utf8_lossy(&p).into_owned(),
                    ));
                }
                roots += usize::from(depth == 0);
                depth += 1;
            }
            Ok((_, quick_xml::events::Event::Empty(_))) => roots += usize::from(depth == 0),
            Ok((_, quick_xml::events::Event::End(_))) => depth = depth.saturating_sub(1),
            Ok((_, quick_xml::events::Event::DocType(_))) => {
                return Err(TemplateError::Doctype);
            }
            Ok((_, quick_xml::events::Event::Eof)) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(TemplateError::NotWellFormed {
                    message: e.to_string(),
                    at: reader.error_position(),
                });
            }
        }
    }
    if depth != 0 || roots != 1 {
        return Err(TemplateError::NotOneRoot);
    }
    Ok(())
}
