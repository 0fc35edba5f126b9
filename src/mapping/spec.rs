//! Mapping files: their TOML shape and their compilation into a [`Program`], a tree of
//! element matchers that the streaming engine walks. Everything is checked here, once,
//! at load; the engine trusts the program.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::error::MappingError;
use super::request::Template;
use crate::model::{Benefit, CaseStatus, CodeName};
use crate::toml_error::Position;

/// The raw file, as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    dialect: Spanned<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    namespaces: BTreeMap<String, Spanned<String>>,
    request: RawRequest,
    answer: RawAnswer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    template: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    root: Spanned<String>,
    vn: Option<Spanned<String>>,
    no_account: Option<Spanned<String>>,
    #[serde(default)]
    empty_is_no_account: bool,
    office: RawOffice,
    entries: Option<RawRecord>,
    cases: Option<RawRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffice {
    from: Spanned<String>,
    scope: Option<Spanned<String>>,
    number: Option<Spanned<String>>,
    agency: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    path: Spanned<String>,
    fields: BTreeMap<Spanned<String>, RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    path: Spanned<String>,
    format: Option<Spanned<String>>,
    default: Option<String>,
    table: Option<BTreeMap<String, Spanned<String>>>,
}

/// Which canonical record a matcher builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// An IK entry.
    Entry,
    /// An IV case.
    Case,
}

/// What an element means to the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// On the way to something; no meaning of its own.
    Plain,
    /// Holds the person's AHV number.
    Vn,
    /// Its presence is a negative report.
    NoAccount,
    /// Encloses records whose office is read from within it.
    OfficeScope,
    /// Office number inside the scope.
    OfficeNumber,
    /// Agency inside the scope.
    OfficeAgency,
    /// One record.
    Record(RecordKind),
    /// A field of the enclosing record (index into the kind's field list).
    Field(RecordKind, u8),
}

/// One element matcher.
#[derive(Debug)]
pub(crate) struct Node {
    pub uri: Box<str>,
    pub local: Box<str>,
    /// `prefix:local` in the mapping's own prefixes, for error paths.
    pub display: Box<str>,
    pub children: Vec<usize>,
    pub role: Role,
}

/// A canonical field a record can fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    AccountNumber,
    IncomeCode,
    CareCreditFraction,
    MonthFrom,
    MonthTo,
    Year,
    Income,
    Employer,
    BookingDate,
    DecisionNumber,
    Benefit,
    Status,
    Degree,
    ValidFrom,
    ValidTo,
}

/// How a wire value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Free text, trimmed, at most `max` characters.
    Text(usize),
    /// Two ASCII digits (income code).
    TwoDigits,
    /// A decimal integer.
    Integer,
    /// `xs:gMonth`: `--07`.
    GMonth,
    /// `xs:gYear`: `2020`.
    GYear,
    /// CHF with exactly two decimals → centimes.
    Decimal2,
    /// `xs:date`: `2020-10-12`.
    Date,
    /// Exactly 14 digits.
    Digits14,
    /// A value of a closed code list, through the field's table.
    Code,
}

struct SlotDef {
    name: &'static str,
    slot: Slot,
    kind: RecordKind,
    required: bool,
    formats: &'static [(&'static str, Format)],
}

const SLOTS: &[SlotDef] = &[
    SlotDef {
        name: "accountNumber",
        slot: Slot::AccountNumber,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("text", Format::Text(14))],
    },
    SlotDef {
        name: "incomeCode",
        slot: Slot::IncomeCode,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("two-digits", Format::TwoDigits)],
    },
    SlotDef {
        name: "careCreditFraction",
        slot: Slot::CareCreditFraction,
        kind: RecordKind::Entry,
        required: false,
        formats: &[("integer", Format::Integer)],
    },
    SlotDef {
        name: "monthFrom",
        slot: Slot::MonthFrom,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("integer", Format::Integer), ("gMonth", Format::GMonth)],
    },
    SlotDef {
        name: "monthTo",
        slot: Slot::MonthTo,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("integer", Format::Integer), ("gMonth", Format::GMonth)],
    },
    SlotDef {
        name: "year",
        slot: Slot::Year,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("integer", Format::Integer), ("gYear", Format::GYear)],
    },
    SlotDef {
        name: "income",
        slot: Slot::Income,
        kind: RecordKind::Entry,
        required: true,
        formats: &[("decimal2", Format::Decimal2)],
    },
    SlotDef {
        name: "employer",
        slot: Slot::Employer,
        kind: RecordKind::Entry,
        required: false,
        formats: &[("text", Format::Text(200))],
    },
    SlotDef {
        name: "bookingDate",
        slot: Slot::BookingDate,
        kind: RecordKind::Entry,
        required: false,
        formats: &[("date", Format::Date)],
    },
    SlotDef {
        name: "decisionNumber",
        slot: Slot::DecisionNumber,
        kind: RecordKind::Case,
        required: true,
        formats: &[("digits14", Format::Digits14)],
    },
    SlotDef {
        name: "benefit",
        slot: Slot::Benefit,
        kind: RecordKind::Case,
        required: true,
        formats: &[("code", Format::Code)],
    },
    SlotDef {
        name: "status",
        slot: Slot::Status,
        kind: RecordKind::Case,
        required: true,
        formats: &[("code", Format::Code)],
    },
    SlotDef {
        name: "degree",
        slot: Slot::Degree,
        kind: RecordKind::Case,
        required: false,
        formats: &[("integer", Format::Integer)],
    },
    SlotDef {
        name: "validFrom",
        slot: Slot::ValidFrom,
        kind: RecordKind::Case,
        required: false,
        formats: &[("date", Format::Date)],
    },
    SlotDef {
        name: "validTo",
        slot: Slot::ValidTo,
        kind: RecordKind::Case,
        required: false,
        formats: &[("date", Format::Date)],
    },
];

/// One compiled field of a record.
#[derive(Debug)]
pub(crate) struct FieldSpec {
    pub slot: Slot,
    pub format: Format,
    pub required: bool,
    pub default: Option<String>,
    /// Wire value → canonical name, for `Format::Code`.
    pub table: Vec<(String, String)>,
    /// The field's path relative to its record, for error messages.
    pub display: String,
}

/// A compiled mapping: the matcher tree and everything the engine needs.
#[derive(Debug)]
pub(crate) struct Program {
    pub nodes: Vec<Node>,
    pub entry_fields: Vec<FieldSpec>,
    pub case_fields: Vec<FieldSpec>,
    pub empty_is_no_account: bool,
}

/// What [`compile`] produces from one file.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub dialect: String,
    pub description: String,
    pub program: Program,
    pub template: Template,
}

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
    namespaces: BTreeMap<String, String>,
}

impl Ctx<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, MappingError> {
        Err(MappingError::at(
            self.file,
            Some(Position::of_span(self.text, &span)),
            message,
        ))
    }

    /// `a:b/c:d` → steps of (uri, local, display).
    fn steps(&self, path: &Spanned<String>) -> Result<Vec<(String, String, String)>, MappingError> {
        let raw = path.get_ref();
        if raw.trim().is_empty() {
            return self.err(path.span(), "empty element path");
        }
        raw.split('/')
            .map(|step| {
                let (uri, local) = match step.split_once(':') {
                    Some((prefix, local)) => match self.namespaces.get(prefix) {
                        Some(uri) => (uri.clone(), local),
                        None => {
                            return self.err(path.span(), format!("prefix {prefix:?} of {raw:?} is not declared in [namespaces]"));
                        }
                    },
                    None => (String::new(), step),
                };
                let ok = !local.is_empty()
                    && local.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
                if !ok {
                    return self.err(path.span(), format!("{step:?} in {raw:?} is not an element name"));
                }
                Ok((uri, local.to_owned(), step.to_owned()))
            })
            .collect()
    }
}

/// Parses and checks one mapping file's text.
pub(crate) fn compile(file: &Path, text: &str) -> Result<Compiled, MappingError> {
    let raw: RawMapping = crate::toml_error::parse(text)
        .map_err(|e| MappingError::at(file, e.position, e.message))?;
    let mut ctx = Ctx {
        file,
        text,
        namespaces: BTreeMap::new(),
    };
    for (prefix, uri) in &raw.namespaces {
        if prefix.is_empty() || uri.get_ref().trim().is_empty() {
            return ctx.err(
                uri.span(),
                format!("namespace prefix {prefix:?} needs a non-empty URI"),
            );
        }
        ctx.namespaces.insert(prefix.clone(), uri.get_ref().clone());
    }
    let dialect = raw.dialect.get_ref().clone();
    let dialect_ok = !dialect.is_empty()
        && dialect
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !dialect_ok {
        return ctx.err(
            raw.dialect.span(),
            format!("dialect {dialect:?}: use lowercase letters, digits and '-'"),
        );
    }
    let template = Template::compile(raw.request.template.get_ref()).or_else(|m| {
        ctx.err(
            raw.request.template.span(),
            format!("request template: {m}"),
        )
    })?;
    let program = compile_answer(&ctx, &raw.answer)?;
    Ok(Compiled {
        dialect,
        description: raw.description,
        program,
        template,
    })
}

fn compile_answer(ctx: &Ctx<'_>, a: &RawAnswer) -> Result<Program, MappingError> {
    let root_steps = ctx.steps(&a.root)?;
    let [(uri, local, display)] = root_steps.as_slice() else {
        return ctx.err(a.root.span(), "root is one element name");
    };
    let mut tree = Tree {
        nodes: vec![Node {
            uri: uri.as_str().into(),
            local: local.as_str().into(),
            display: display.as_str().into(),
            children: Vec::new(),
            role: Role::Plain,
        }],
    };
    if let Some(vn) = &a.vn {
        tree.insert(ctx, 0, vn, Role::Vn)?;
    }
    if let Some(na) = &a.no_account {
        tree.insert(ctx, 0, na, Role::NoAccount)?;
    }
    let office_from_answer = match a.office.from.get_ref().as_str() {
        "adapter" => false,
        "answer" => true,
        other => {
            return ctx.err(
                a.office.from.span(),
                format!("office.from is \"adapter\" or \"answer\", not {other:?}"),
            );
        }
    };
    if office_from_answer {
        let (Some(scope), Some(number)) = (&a.office.scope, &a.office.number) else {
            return ctx.err(
                a.office.from.span(),
                "office.from = \"answer\" needs office.scope and office.number",
            );
        };
        let s = tree.insert(ctx, 0, scope, Role::OfficeScope)?;
        tree.insert(ctx, s, number, Role::OfficeNumber)?;
        if let Some(agency) = &a.office.agency {
            tree.insert(ctx, s, agency, Role::OfficeAgency)?;
        }
    }
    let mut entry_fields = Vec::new();
    let mut case_fields = Vec::new();
    if let Some(r) = &a.entries {
        entry_fields = compile_record(
            ctx,
            &mut tree,
            r,
            RecordKind::Entry,
            office_from_answer.then_some(&a.office),
        )?;
    }
    if let Some(r) = &a.cases {
        case_fields = compile_record(
            ctx,
            &mut tree,
            r,
            RecordKind::Case,
            office_from_answer.then_some(&a.office),
        )?;
    }
    if a.entries.is_none() && a.cases.is_none() {
        return ctx.err(
            a.root.span(),
            "the answer maps no records: add [answer.entries] or [answer.cases]",
        );
    }
    Ok(Program {
        nodes: tree.nodes,
        entry_fields,
        case_fields,
        empty_is_no_account: a.empty_is_no_account,
    })
}

fn compile_record(
    ctx: &Ctx<'_>,
    tree: &mut Tree,
    r: &RawRecord,
    kind: RecordKind,
    scope: Option<&RawOffice>,
) -> Result<Vec<FieldSpec>, MappingError> {
    if let Some(scope) = scope.and_then(|o| o.scope.as_ref()) {
        let inside = r
            .path
            .get_ref()
            .starts_with(&format!("{}/", scope.get_ref()));
        if !inside {
            return ctx.err(
                r.path.span(),
                format!(
                    "records must lie inside the office scope {:?}",
                    scope.get_ref()
                ),
            );
        }
    }
    let record = tree.insert(ctx, 0, &r.path, Role::Record(kind))?;
    let mut fields = Vec::new();
    for (name, f) in &r.fields {
        let Some(def) = SLOTS
            .iter()
            .find(|d| d.name == name.get_ref() && d.kind == kind)
        else {
            let known: Vec<&str> = SLOTS
                .iter()
                .filter(|d| d.kind == kind)
                .map(|d| d.name)
                .collect();
            return ctx.err(
                name.span(),
                format!(
                    "unknown field {:?}; known: {}",
                    name.get_ref(),
                    known.join(", ")
                ),
            );
        };
        let format = match &f.format {
            None => def.formats[0].1,
            Some(fmt) => match def.formats.iter().find(|(n, _)| n == fmt.get_ref()) {
                Some((_, format)) => *format,
                None => {
                    let allowed: Vec<&str> = def.formats.iter().map(|(n, _)| *n).collect();
                    return ctx.err(
                        fmt.span(),
                        format!("field {} takes format {}", def.name, allowed.join(" or ")),
                    );
                }
            },
        };
        let table = compile_table(ctx, def, f)?;
        let index = u8::try_from(fields.len()).unwrap_or(u8::MAX);
        tree.insert(ctx, record, &f.path, Role::Field(kind, index))?;
        fields.push(FieldSpec {
            slot: def.slot,
            format,
            required: def.required && f.default.is_none(),
            default: f.default.clone(),
            table,
            display: f.path.get_ref().clone(),
        });
    }
    for def in SLOTS.iter().filter(|d| d.kind == kind && d.required) {
        if !fields.iter().any(|f| f.slot == def.slot) {
            return ctx.err(
                r.path.span(),
                format!("required field {} is not mapped", def.name),
            );
        }
    }
    Ok(fields)
}

fn compile_table(
    ctx: &Ctx<'_>,
    def: &SlotDef,
    f: &RawField,
) -> Result<Vec<(String, String)>, MappingError> {
    let canonical: Vec<&str> = match def.slot {
        Slot::Benefit => Benefit::ALL.iter().map(|(_, n)| *n).collect(),
        Slot::Status => CaseStatus::ALL.iter().map(|(_, n)| *n).collect(),
        _ => {
            if f.table.is_some() {
                return ctx.err(f.path.span(), format!("field {} takes no table", def.name));
            }
            return Ok(Vec::new());
        }
    };
    match &f.table {
        // Without a table the wire uses the canonical names.
        None => Ok(canonical
            .iter()
            .map(|n| ((*n).to_owned(), (*n).to_owned()))
            .collect()),
        Some(table) => table
            .iter()
            .map(|(wire, name)| {
                if canonical.contains(&name.get_ref().as_str()) {
                    Ok((wire.clone(), name.get_ref().clone()))
                } else {
                    ctx.err(
                        name.span(),
                        format!(
                            "{:?} is not a {}; known: {}",
                            name.get_ref(),
                            def.name,
                            canonical.join(", ")
                        ),
                    )
                }
            })
            .collect(),
    }
}

struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// Adds `path` below node `from`, giving the last element `role`.
    fn insert(
        &mut self,
        ctx: &Ctx<'_>,
        from: usize,
        path: &Spanned<String>,
        role: Role,
    ) -> Result<usize, MappingError> {
        let steps = ctx.steps(path)?;
        let mut at = from;
        for (uri, local, display) in steps {
            if matches!(
                self.nodes[at].role,
                Role::Vn
                    | Role::NoAccount
                    | Role::OfficeNumber
                    | Role::OfficeAgency
                    | Role::Field(..)
            ) {
                return ctx.err(
                    path.span(),
                    format!("{:?} lies inside a value element", path.get_ref()),
                );
            }
            let existing = self.nodes[at]
                .children
                .iter()
                .copied()
                .find(|&c| *self.nodes[c].uri == *uri && *self.nodes[c].local == *local);
            at = match existing {
                Some(c) => c,
                None => {
                    self.nodes.push(Node {
                        uri: uri.into(),
                        local: local.into(),
                        display: display.into(),
                        children: Vec::new(),
                        role: Role::Plain,
                    });
                    let id = self.nodes.len() - 1;
                    self.nodes[at].children.push(id);
                    id
                }
            };
        }
        if at == from || self.nodes[at].role != Role::Plain {
            return ctx.err(
                path.span(),
                format!("{:?} is already mapped to something else", path.get_ref()),
            );
        }
        if !self.nodes[at].children.is_empty()
            && !matches!(role, Role::OfficeScope | Role::Record(_))
        {
            return ctx.err(
                path.span(),
                format!("{:?} holds other mapped elements", path.get_ref()),
            );
        }
        self.nodes[at].role = role;
        Ok(at)
    }
}
