//! Submission dialects: a mapping file with `[submission]` (the outbound message, a
//! [`DocumentTemplate`] filled from the header and the canonical JSON form) and
//! `[acknowledgement]` (how the fund's answer reads into an [`ApgAck`]) instead of a
//! query's `[request]` and `[answer]`. Compiled once at load; every refusal names the
//! file, line and column.

mod ack;
mod template;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};
use toml::Spanned;

use self::ack::{ACK_FIELDS, AckNode, AckProgram, RawAck};
pub use self::template::{DocumentTemplate, RenderError, RenderProblem, TemplateSyntaxError};
use super::error::{AnswerError, AnswerErrorKind, MappingError, TemplateError};
use super::request::check_well_formed;
use super::spec::Ctx;
use crate::model::{AckOutcome, ApgAck, OfficeId, RejectReason};

/// A submission mapping file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubmissionMapping {
    dialect: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    namespaces: BTreeMap<String, Spanned<String>>,
    submission: RawSubmission,
    acknowledgement: RawAck,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubmission {
    /// The canonical form rendered (its JSON `type`, e.g. `apg-claim`).
    form: Spanned<String>,
    /// eCH-0058 / eCH-0090 message type (`2014`).
    message_type: Spanned<u32>,
    /// eCH-0090 message class (0 = initial message).
    #[serde(default)]
    message_class: u8,
    template: Spanned<String>,
}

/// The header values of one outbound message.
#[derive(Clone, Debug)]
pub struct SubmissionParams<'a> {
    /// The gateway's participant id (`T6-000000-1`).
    pub sender_id: &'a str,
    /// The fund's participant id (`T6-025000-1`).
    pub recipient_id: &'a str,
    /// Stable per submission: a retry re-sends the same id.
    pub message_id: &'a str,
    /// The gateway's submission id.
    pub business_process_id: &'a str,
    /// `xs:dateTime` in UTC (`2026-11-26T14:02:11Z`).
    pub message_date: &'a str,
    /// eCH-0058 testDeliveryFlag.
    pub test_delivery: bool,
    /// The routing rule that chose the fund.
    pub routing_rule: &'a str,
    /// The fund the claim goes to.
    pub competent_office: OfficeId,
}

/// Why a form cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    /// The form's `type` is not the one this dialect renders.
    #[error("dialect {dialect} renders {expected:?} forms, not {found:?}")]
    WrongForm {
        /// The dialect.
        dialect: String,
        /// The form it renders.
        expected: String,
        /// The form's `type` (empty when absent).
        found: String,
    },
    /// A value the template needs is missing or not text.
    #[error("dialect {dialect}: {error}")]
    Render {
        /// The dialect.
        dialect: String,
        /// Which placeholder and why.
        error: RenderError,
    },
}

/// One compiled submission dialect.
#[derive(Debug)]
pub struct SubmissionMapping {
    dialect: String,
    description: String,
    form: String,
    message_type: u32,
    message_class: u8,
    template: DocumentTemplate,
    ack: AckProgram,
}

impl SubmissionMapping {
    /// Compiles a submission mapping from its text; `origin` names it in errors.
    pub fn from_toml(origin: &Path, text: &str) -> Result<SubmissionMapping, MappingError> {
        let raw: RawSubmissionMapping = crate::toml_error::parse(text)
            .map_err(|e| MappingError::at(origin, e.position, e.message))?;
        let ctx = Ctx::new(origin, text, &raw.namespaces)?;
        let dialect = ctx.dialect(&raw.dialect)?;
        let s = &raw.submission;
        let form = s.form.get_ref().trim().to_owned();
        if form.is_empty() {
            return ctx.err(
                s.form.span(),
                "form names the canonical form, e.g. \"apg-claim\"",
            );
        }
        if !(1..=999_999).contains(s.message_type.get_ref()) {
            return ctx.err(s.message_type.span(), "message_type is 1–999999");
        }
        let template = compile_template(&ctx, &s.template)?;
        let ack = compile_ack(&ctx, &raw.acknowledgement)?;
        Ok(SubmissionMapping {
            dialect,
            description: raw.description,
            form,
            message_type: *s.message_type.get_ref(),
            message_class: s.message_class,
            template,
            ack,
        })
    }

    /// Reads and compiles one submission mapping file.
    pub fn load(path: &Path) -> Result<SubmissionMapping, MappingError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MappingError::file(path, format!("cannot read: {e}")))?;
        SubmissionMapping::from_toml(path, &text)
    }

    /// The dialect's name (`ech-apg`).
    pub fn dialect(&self) -> &str {
        &self.dialect
    }

    /// One line saying what the dialect is.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The canonical form this dialect renders (`apg-claim`).
    pub fn form(&self) -> &str {
        &self.form
    }

    /// The message type of its messages (eCH-0058 header, sedex envelope).
    pub fn message_type(&self) -> u32 {
        self.message_type
    }

    /// The eCH-0090 message class of its messages.
    pub fn message_class(&self) -> u8 {
        self.message_class
    }

    /// The message for one delivery of `form` (the canonical JSON, whose `type` must be
    /// this dialect's form).
    pub fn render(
        &self,
        p: &SubmissionParams<'_>,
        form: &Value,
    ) -> Result<String, SubmissionError> {
        let found = form.get("type").and_then(Value::as_str).unwrap_or_default();
        if found != self.form {
            return Err(SubmissionError::WrongForm {
                dialect: self.dialect.clone(),
                expected: self.form.clone(),
                found: found.chars().take(40).collect(),
            });
        }
        let header = json!({
            "senderId": p.sender_id,
            "recipientId": p.recipient_id,
            "messageId": p.message_id,
            "businessProcessId": p.business_process_id,
            "messageDate": p.message_date,
            "messageType": self.message_type,
            "testDeliveryFlag": p.test_delivery,
            "productVersion": env!("CARGO_PKG_VERSION"),
            "routing": {"rule": p.routing_rule, "office": p.competent_office.to_string()},
        });
        self.template
            .render(&header, form)
            .map_err(|error| SubmissionError::Render {
                dialect: self.dialect.clone(),
                error,
            })
    }

    /// Reads one acknowledgement of a fund (the synchronous answer or a sedex inbox
    /// message). Bodies over `max_bytes` are refused unread.
    pub fn read_ack(&self, body: &[u8], max_bytes: usize) -> Result<ApgAck, AnswerError> {
        if body.len() > max_bytes {
            return Err(AnswerError::new(AnswerErrorKind::TooLarge {
                limit: max_bytes,
            }));
        }
        self.ack.read(body)
    }
}

/// `a:b/c:d` → (uri, local, display) steps.
fn steps(
    ctx: &Ctx<'_>,
    path: &Spanned<String>,
) -> Result<Vec<(String, String, String)>, MappingError> {
    path.get_ref()
        .split('/')
        .map(|step| {
            let (uri, local) = ctx.qualified(step, path, "an element name")?;
            Ok((uri, local.to_owned(), step.to_owned()))
        })
        .collect()
}

fn compile_template(ctx: &Ctx<'_>, t: &Spanned<String>) -> Result<DocumentTemplate, MappingError> {
    let template = DocumentTemplate::compile(t.get_ref())
        .or_else(|e| ctx.err(t.span(), format!("submission template: {e}")))?;
    for taken in [true, false] {
        let sample = template.sample(taken);
        check_well_formed(&sample).or_else(|e: TemplateError| {
            let which = if taken { "with" } else { "without" };
            ctx.err(
                t.span(),
                format!("submission template ({which} its optional parts): {e}"),
            )
        })?;
    }
    Ok(template)
}

fn compile_ack(ctx: &Ctx<'_>, raw: &RawAck) -> Result<AckProgram, MappingError> {
    let root = steps(ctx, &raw.root)?;
    let [(uri, local, display)] = root.as_slice() else {
        return ctx.err(raw.root.span(), "root is one element name");
    };
    let mut nodes = vec![AckNode {
        uri: uri.clone(),
        local: local.clone(),
        display: display.clone(),
        children: Vec::new(),
        field: None,
    }];
    let mut outcomes = canonical_table(AckOutcome::NAMES);
    let reason_names: Vec<&str> = RejectReason::ALL.iter().map(|(_, n)| *n).collect();
    let mut reasons = canonical_table(&reason_names);
    for (name, f) in &raw.fields {
        let Some(&(_, field, _, _)) = ACK_FIELDS.iter().find(|d| d.0 == name.get_ref()) else {
            let known: Vec<&str> = ACK_FIELDS.iter().map(|d| d.0).collect();
            let m = format!(
                "unknown field {:?}; known: {}",
                name.get_ref(),
                known.join(", ")
            );
            return ctx.err(name.span(), m);
        };
        insert(ctx, &mut nodes, &f.path, field)?;
        let Some(table) = &f.table else { continue };
        let (target, canonical) = match field {
            ack::AckField::Outcome => (&mut outcomes, AckOutcome::NAMES),
            ack::AckField::ReasonCode => (&mut reasons, reason_names.as_slice()),
            _ => {
                return ctx.err(
                    f.path.span(),
                    format!("field {} takes no table", name.get_ref()),
                );
            }
        };
        *target = Vec::new();
        for (wire, c) in table {
            if !canonical.contains(&c.get_ref().as_str()) {
                let m = format!("{:?} is not one of {}", c.get_ref(), canonical.join(", "));
                return ctx.err(c.span(), m);
            }
            target.push((wire.clone(), c.get_ref().clone()));
        }
    }
    for (name, field, required, _) in ACK_FIELDS {
        if *required && !nodes.iter().any(|n| n.field == Some(*field)) {
            return ctx.err(
                raw.root.span(),
                format!("required field {name} is not mapped"),
            );
        }
    }
    Ok(AckProgram {
        nodes,
        outcomes,
        reasons,
    })
}

fn canonical_table(names: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .map(|n| ((*n).to_owned(), (*n).to_owned()))
        .collect()
}

/// Adds `path` below the root, its last element holding `field`.
fn insert(
    ctx: &Ctx<'_>,
    nodes: &mut Vec<AckNode>,
    path: &Spanned<String>,
    field: ack::AckField,
) -> Result<(), MappingError> {
    let mut at = 0;
    for (uri, local, display) in steps(ctx, path)? {
        if nodes[at].field.is_some() {
            return ctx.err(
                path.span(),
                format!("{:?} lies inside a value element", path.get_ref()),
            );
        }
        let existing = nodes[at]
            .children
            .iter()
            .copied()
            .find(|&c| nodes[c].uri == uri && nodes[c].local == local);
        at = match existing {
            Some(c) => c,
            None => {
                nodes.push(AckNode {
                    uri,
                    local,
                    display,
                    children: Vec::new(),
                    field: None,
                });
                let id = nodes.len() - 1;
                nodes[at].children.push(id);
                id
            }
        };
    }
    if at == 0 || nodes[at].field.is_some() || !nodes[at].children.is_empty() {
        let m = format!(
            "{:?} is already mapped or holds mapped elements",
            path.get_ref()
        );
        return ctx.err(path.span(), m);
    }
    nodes[at].field = Some(field);
    Ok(())
}
