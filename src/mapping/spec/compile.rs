//! Compiles a mapping file: namespaces, dialect name, request template, and the answer's
//! matchers and fields, each refused with the file, line and column of the bad value.

use std::path::Path;

use toml::Spanned;

use super::ctx::Ctx;
use super::raw::{RawAnswer, RawField, RawMapping, RawOffice, RawRecord};
use super::slots::{SLOTS, SlotDef};
use super::tree::Tree;
use super::{Compiled, FieldSpec, Format, Node, Program, RecordKind, Role, Slot};
use crate::mapping::error::MappingError;
use crate::mapping::request::Template;
use crate::model::{Benefit, CaseStatus, CodeName};

/// Parses and checks one mapping file's text.
pub(crate) fn compile(file: &Path, text: &str) -> Result<Compiled, MappingError> {
    let raw: RawMapping = crate::toml_error::parse(text)
        .map_err(|e| MappingError::at(file, e.position, e.message))?;
    let ctx = Ctx::new(file, text, &raw.namespaces)?;
    let dialect = ctx.dialect(&raw.dialect)?;
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
            attrs: Vec::new(),
        }],
    };
    if let Some(vn) = &a.vn {
        tree.insert(ctx, 0, vn, Role::Vn)?;
    }
    if let Some(as_of) = &a.as_of {
        tree.insert(ctx, 0, as_of, Role::AsOf)?;
    }
    if let Some(na) = &a.no_account {
        tree.insert(ctx, 0, na, Role::NoAccount)?;
    }
    let office = compile_office(ctx, &mut tree, &a.office)?;
    let mut fields: [Vec<FieldSpec>; 4] = Default::default();
    let records = [
        (RecordKind::Entry, &a.entries, "entries"),
        (RecordKind::Case, &a.cases, "cases"),
        (RecordKind::Holder, &a.accounts, "accounts"),
        (RecordKind::File, &a.iv_files, "iv_files"),
    ];
    for (kind, record, key) in records {
        let Some(r) = record else { continue };
        if kind.names_office() != (office == OfficeFrom::Record) {
            let message = if kind.names_office() {
                format!("[answer.{key}] name their own office: set office.from = \"record\"")
            } else {
                format!(
                    "[answer.{key}] take their office from the adapter or the answer, \
                     not office.from = \"record\""
                )
            };
            return ctx.err(r.path.span(), message);
        }
        let scope = (office == OfficeFrom::Answer).then_some(&a.office);
        fields[kind.index()] = compile_record(ctx, &mut tree, r, kind, scope)?;
    }
    if records.iter().all(|(_, r, _)| r.is_none()) {
        return ctx.err(
            a.root.span(),
            "the answer maps no records: add [answer.entries], [answer.cases], \
             [answer.accounts] or [answer.iv_files]",
        );
    }
    Ok(Program {
        nodes: tree.nodes,
        fields,
        empty_is_no_account: a.empty_is_no_account,
    })
}

/// Where the office of records comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OfficeFrom {
    /// The adapter's office.
    Adapter,
    /// A scope element of the answer.
    Answer,
    /// Each record names its office (`officeNumber`, `officeAgency`).
    Record,
}

/// Where records' office comes from: the adapter, (`from = "answer"`) a scope element
/// of the answer holding the office number and agency, or (`from = "record"`) each
/// record's own `officeNumber` and `officeAgency` fields.
fn compile_office(
    ctx: &Ctx<'_>,
    tree: &mut Tree,
    office: &RawOffice,
) -> Result<OfficeFrom, MappingError> {
    let from = match office.from.get_ref().as_str() {
        "adapter" => OfficeFrom::Adapter,
        "answer" => OfficeFrom::Answer,
        "record" => OfficeFrom::Record,
        other => {
            return ctx.err(
                office.from.span(),
                format!("office.from is \"adapter\", \"answer\" or \"record\", not {other:?}"),
            );
        }
    };
    if from != OfficeFrom::Answer {
        if let Some(extra) = [&office.scope, &office.number, &office.agency]
            .into_iter()
            .flatten()
            .next()
        {
            return ctx.err(
                extra.span(),
                "office.scope, office.number and office.agency belong to office.from = \"answer\"",
            );
        }
        return Ok(from);
    }
    let (Some(scope), Some(number)) = (&office.scope, &office.number) else {
        return ctx.err(
            office.from.span(),
            "office.from = \"answer\" needs office.scope and office.number",
        );
    };
    let s = tree.insert(ctx, 0, scope, Role::OfficeScope)?;
    tree.insert(ctx, s, number, Role::OfficeNumber)?;
    if let Some(agency) = &office.agency {
        tree.insert(ctx, s, agency, Role::OfficeAgency)?;
    }
    Ok(OfficeFrom::Answer)
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
        let def = slot_def(ctx, name, kind)?;
        let format = field_format(ctx, def, f)?;
        let table = compile_table(ctx, def, f)?;
        let index = u8::try_from(fields.len()).unwrap_or(u8::MAX);
        tree.insert_field(ctx, record, &f.path, Role::Field(kind, index))?;
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

/// The canonical field `name` of a record of `kind`.
fn slot_def(
    ctx: &Ctx<'_>,
    name: &Spanned<String>,
    kind: RecordKind,
) -> Result<&'static SlotDef, MappingError> {
    if let Some(def) = SLOTS
        .iter()
        .find(|d| d.name == name.get_ref() && d.kind == kind)
    {
        return Ok(def);
    }
    let known: Vec<&str> = SLOTS
        .iter()
        .filter(|d| d.kind == kind)
        .map(|d| d.name)
        .collect();
    ctx.err(
        name.span(),
        format!(
            "unknown field {:?}; known: {}",
            name.get_ref(),
            known.join(", ")
        ),
    )
}

/// The wire format of a field: the one named, or the field's default.
fn field_format(ctx: &Ctx<'_>, def: &SlotDef, f: &RawField) -> Result<Format, MappingError> {
    let Some(fmt) = &f.format else {
        return Ok(def.formats[0].1);
    };
    match def.formats.iter().find(|(n, _)| n == fmt.get_ref()) {
        Some((_, format)) => Ok(*format),
        None => {
            let allowed: Vec<&str> = def.formats.iter().map(|(n, _)| *n).collect();
            ctx.err(
                fmt.span(),
                format!("field {} takes format {}", def.name, allowed.join(" or ")),
            )
        }
    }
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
