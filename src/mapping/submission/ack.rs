//! Reading a fund's acknowledgement: the mapping's `[acknowledgement]` paths compiled
//! into a small matcher tree, one streaming pass over the document (namespace URIs and
//! local names, any order, unknown elements skipped whole), then the canonical
//! [`ApgAck`]. Every refusal names the element path.

use std::collections::BTreeMap;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use serde::Deserialize;
use toml::Spanned;

use crate::mapping::convert::decode_document;
use crate::mapping::engine::text::{plain_text, resolve_reference};
use crate::mapping::error::{AnswerError, AnswerErrorKind};
use crate::model::{AckOutcome, ApgAck, OfficeId, RejectReason};

/// `[acknowledgement]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAck {
    pub(super) root: Spanned<String>,
    pub(super) fields: BTreeMap<Spanned<String>, RawAckField>,
}

/// One `[acknowledgement.fields]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAckField {
    pub(super) path: Spanned<String>,
    /// Wire value → canonical name (outcome, reasonCode); without it the wire uses the
    /// canonical names.
    pub(super) table: Option<BTreeMap<String, Spanned<String>>>,
}

/// A canonical field of an acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AckField {
    MessageId,
    ReferenceMessageId,
    BusinessProcessId,
    Outcome,
    CaseNumber,
    ReasonCode,
    Reason,
    TransferredTo,
}

/// (name in mapping files, field, must be mapped, longest value in characters)
pub(super) const ACK_FIELDS: &[(&str, AckField, bool, usize)] = &[
    ("messageId", AckField::MessageId, true, 100),
    (
        "referenceMessageId",
        AckField::ReferenceMessageId,
        true,
        100,
    ),
    ("businessProcessId", AckField::BusinessProcessId, false, 100),
    ("outcome", AckField::Outcome, true, 40),
    ("caseNumber", AckField::CaseNumber, true, 60),
    ("reasonCode", AckField::ReasonCode, true, 40),
    ("reason", AckField::Reason, false, 2000),
    ("transferredTo", AckField::TransferredTo, true, 7),
];

/// One element matcher.
#[derive(Debug)]
pub(super) struct AckNode {
    pub(super) uri: String,
    pub(super) local: String,
    pub(super) display: String,
    pub(super) children: Vec<usize>,
    pub(super) field: Option<AckField>,
}

/// A compiled `[acknowledgement]`.
#[derive(Debug)]
pub(crate) struct AckProgram {
    /// Node 0 is the root.
    pub(super) nodes: Vec<AckNode>,
    /// Wire value → canonical outcome name.
    pub(super) outcomes: Vec<(String, String)>,
    /// Wire value → canonical reason name.
    pub(super) reasons: Vec<(String, String)>,
}

impl AckProgram {
    /// Reads one acknowledgement (already size-checked by the caller).
    pub(crate) fn read(&self, body: &[u8]) -> Result<ApgAck, AnswerError> {
        let text =
            decode_document(body).map_err(|m| AnswerError::new(AnswerErrorKind::Encoding(m)))?;
        let values = self.walk(&text)?;
        self.build(values)
    }

    fn walk(&self, text: &str) -> Result<BTreeMap<usize, String>, AnswerError> {
        let mut reader = NsReader::from_str(text);
        reader.config_mut().expand_empty_elements = true;
        let mut stack: Vec<usize> = Vec::new();
        let mut skip = 0usize;
        let mut closed = false;
        let mut buf = String::new();
        let mut values: BTreeMap<usize, String> = BTreeMap::new();
        let syntax = |m: String, pos: u64| {
            let mut e = AnswerError::new(AnswerErrorKind::Syntax(m));
            e.position = Some(pos);
            e
        };
        loop {
            let capturing =
                skip == 0 && stack.last().is_some_and(|&n| self.nodes[n].field.is_some());
            match reader.read_event() {
                Err(e) => return Err(syntax(e.to_string(), reader.error_position())),
                Ok(Event::Start(start)) => {
                    if skip > 0 {
                        skip += 1;
                        continue;
                    }
                    let (ns, local) = reader.resolver().resolve_element(start.name());
                    let uri: &[u8] = match ns {
                        ResolveResult::Bound(n) => n.into_inner(),
                        ResolveResult::Unbound => b"",
                        ResolveResult::Unknown(p) => {
                            let m = format!("undeclared prefix {:?}", String::from_utf8_lossy(&p));
                            return Err(syntax(m, reader.buffer_position()));
                        }
                    };
                    let local = local.into_inner();
                    match stack.last() {
                        None if closed => {
                            let m = "content after the root element".to_owned();
                            return Err(syntax(m, reader.buffer_position()));
                        }
                        None => {
                            let root = &self.nodes[0];
                            if root.uri.as_bytes() != uri || root.local.as_bytes() != local {
                                let found = format!(
                                    "{{{}}}{}",
                                    String::from_utf8_lossy(uri),
                                    String::from_utf8_lossy(local)
                                );
                                return Err(AnswerError::new(AnswerErrorKind::WrongRoot { found }));
                            }
                            stack.push(0);
                        }
                        Some(&top) => {
                            let child = self.nodes[top].children.iter().copied().find(|&c| {
                                self.nodes[c].local.as_bytes() == local
                                    && self.nodes[c].uri.as_bytes() == uri
                            });
                            match child {
                                Some(c) if self.nodes[top].field.is_none() => {
                                    stack.push(c);
                                    buf.clear();
                                }
                                _ => skip = 1,
                            }
                        }
                    }
                }
                Ok(Event::End(_)) => {
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    let Some(node) = stack.pop() else {
                        continue;
                    };
                    if self.nodes[node].field.is_some() {
                        if values.contains_key(&node) {
                            stack.push(node);
                            let e = AnswerError::new(AnswerErrorKind::Repeated);
                            return Err(e.at(self.path_of(&stack)));
                        }
                        values.insert(node, buf.trim().to_owned());
                    }
                    closed = stack.is_empty();
                }
                Ok(Event::Text(t)) if capturing => match plain_text(&t) {
                    Some(s) => buf.push_str(s),
                    None => {
                        let s = t
                            .xml_content()
                            .map_err(|e| syntax(e.to_string(), reader.buffer_position()))?;
                        buf.push_str(&s);
                    }
                },
                Ok(Event::CData(c)) if capturing => {
                    let s = c
                        .decode()
                        .map_err(|e| syntax(e.to_string(), reader.buffer_position()))?;
                    buf.push_str(&s);
                }
                Ok(Event::GeneralRef(r)) if capturing => {
                    let c = resolve_reference(&r)
                        .map_err(|m| syntax(m.to_string(), reader.buffer_position()))?;
                    buf.push(c);
                }
                Ok(Event::DocType(_)) => {
                    let mut e = AnswerError::new(AnswerErrorKind::Doctype);
                    e.position = Some(reader.buffer_position());
                    return Err(e);
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
            }
        }
        if !closed {
            return Err(AnswerError::new(AnswerErrorKind::Truncated));
        }
        Ok(values)
    }

    /// `/apg:message/apg:content/…` for a chain of nodes.
    fn path_of(&self, chain: &[usize]) -> String {
        chain
            .iter()
            .map(|&n| format!("/{}", self.nodes[n].display))
            .collect()
    }

    /// The chain of nodes from the root to `target`.
    fn chain_to(&self, target: usize) -> Vec<usize> {
        let mut chain = vec![target];
        while let Some(&first) = chain.first() {
            let parent = self.nodes.iter().position(|n| n.children.contains(&first));
            match parent {
                Some(p) => chain.insert(0, p),
                None => break,
            }
        }
        chain
    }

    fn node_of(&self, field: AckField) -> Option<usize> {
        self.nodes.iter().position(|n| n.field == Some(field))
    }

    fn build(&self, values: BTreeMap<usize, String>) -> Result<ApgAck, AnswerError> {
        let get = |field: AckField| -> Result<Option<(&str, String)>, AnswerError> {
            let Some(node) = self.node_of(field) else {
                return Ok(None);
            };
            let path = self.path_of(&self.chain_to(node));
            let Some(value) = values.get(&node).filter(|v| !v.is_empty()) else {
                return Ok(None);
            };
            let max = ACK_FIELDS
                .iter()
                .find(|(_, f, _, _)| *f == field)
                .map_or(100, |(_, _, _, m)| *m);
            if value.chars().count() > max {
                let e = AnswerError::new(AnswerErrorKind::Invalid(format!(
                    "longer than {max} characters"
                )));
                return Err(e.at(path));
            }
            Ok(Some((value.as_str(), path)))
        };
        let required = |field: AckField| -> Result<(&str, String), AnswerError> {
            get(field)?.ok_or_else(|| {
                let path = self
                    .node_of(field)
                    .map(|n| self.path_of(&self.chain_to(n)))
                    .unwrap_or_default();
                AnswerError::new(AnswerErrorKind::Missing).at(path)
            })
        };
        let invalid = |m: String, path: String, value: &str| {
            AnswerError::new(AnswerErrorKind::Invalid(m))
                .at(path)
                .with_value(value)
        };
        let (outcome_wire, outcome_path) = required(AckField::Outcome)?;
        let outcome_name = lookup(&self.outcomes, outcome_wire)
            .map_err(|known| invalid(format!("not one of {known}"), outcome_path, outcome_wire))?;
        let outcome = match outcome_name {
            "accepted" => AckOutcome::Accepted {
                case_number: required(AckField::CaseNumber)?.0.to_owned(),
            },
            "rejected" => {
                let (wire, path) = required(AckField::ReasonCode)?;
                let name = lookup(&self.reasons, wire)
                    .map_err(|known| invalid(format!("not one of {known}"), path, wire))?;
                let reason = RejectReason::from_name(name).unwrap_or(RejectReason::Other);
                let text = if reason == RejectReason::Other {
                    Some(required(AckField::Reason)?.0.to_owned())
                } else {
                    get(AckField::Reason)?.map(|(t, _)| t.to_owned())
                };
                AckOutcome::Rejected { reason, text }
            }
            _ => {
                let (wire, path) = required(AckField::TransferredTo)?;
                let to: OfficeId = wire
                    .parse()
                    .map_err(|_| invalid("not an office id NNN.NNN".into(), path, wire))?;
                let text = get(AckField::Reason)?.map(|(t, _)| t.to_owned());
                AckOutcome::Transferred { to, text }
            }
        };
        Ok(ApgAck {
            message_id: required(AckField::MessageId)?.0.to_owned(),
            reference_message_id: required(AckField::ReferenceMessageId)?.0.to_owned(),
            business_process_id: get(AckField::BusinessProcessId)?.map(|(v, _)| v.to_owned()),
            outcome,
        })
    }
}

/// The canonical name of a wire value, or the known wire values.
fn lookup<'t>(table: &'t [(String, String)], wire: &str) -> Result<&'t str, String> {
    table
        .iter()
        .find(|(w, _)| w == wire)
        .map(|(_, c)| c.as_str())
        .ok_or_else(|| {
            let known: Vec<&str> = table.iter().map(|(w, _)| w.as_str()).collect();
            known.join(", ")
        })
}
