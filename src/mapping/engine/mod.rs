//! The streaming translator: walks an answer once with quick-xml's namespace-aware pull
//! reader, matching elements by namespace URI + local name against the compiled
//! [`Program`]. Unknown elements are skipped whole; the children of a record may come in
//! any order; nothing is buffered but the values of the current record.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

mod build;
pub(super) mod text;

use build::{build_case, build_entry, build_file, build_holder, push_within};
use text::{plain_text, resolve_reference};

use super::convert::{Value, check_range, convert, decode_document, xs_date};
use super::error::{AnswerError, AnswerErrorKind};
use super::spec::{FieldSpec, Program, RecordKind, Role, Slot};
use crate::model::{
    Answer, AnswerStatus, Date, IkEntry, IvCase, IvFile, OfficeId, RegisterAccount, Vn,
};

/// What one answer translates to: an office's [`Answer`], plus what only a register's
/// answer carries (its date and the accounts and IV files it lists).
#[derive(Debug, Default)]
pub(crate) struct Translated {
    pub answer: Answer,
    pub as_of: Option<Date>,
    pub accounts: Vec<RegisterAccount>,
    pub iv_files: Vec<IvFile>,
}

/// How many IK entries and IV cases together one answer may carry unless configured
/// otherwise (`[protection] max_entries_per_answer`). Real accounts hold at most a few
/// thousand (fifty years of monthly entries at three employers is 1,800).
pub const DEFAULT_MAX_ENTRIES_PER_ANSWER: usize = 20_000;

/// Translates one answer of `office` (already size-checked by the caller). Parsing stops
/// at the record past `max_records` (IK entries and IV cases together): the answer is
/// refused as too large, and no more than `max_records` records are ever held.
pub(crate) fn run(
    prog: &Program,
    office: OfficeId,
    bytes: &[u8],
    max_records: usize,
) -> Result<Translated, AnswerError> {
    let text =
        decode_document(bytes).map_err(|m| AnswerError::new(AnswerErrorKind::Encoding(m)))?;
    let mut walker = Walker::new(prog, office, max_records);
    walker.walk(&text)?;
    walker.finish()
}

/// Why the attributes of an element cannot be read.
enum AttrError {
    /// Not well-formed (the parser's message).
    Syntax(String),
    /// A field's value is refused.
    Answer(AnswerError),
}

struct Walker<'p> {
    prog: &'p Program,
    office: OfficeId,
    /// Matched elements, root first.
    stack: Vec<usize>,
    /// Depth inside an unmatched element (skipped whole).
    skip: usize,
    /// The text of the value element being read.
    buf: String,
    capturing: bool,
    root_closed: bool,
    vn: Option<Vn>,
    as_of: Option<Date>,
    no_account: bool,
    scope_number: Option<String>,
    scope_agency: Option<String>,
    scope_first_entry: usize,
    scope_first_case: usize,
    /// The current record's field values, as ranges of `record_text` (one allocation
    /// per answer rather than one per field).
    record: Vec<Option<(usize, usize)>>,
    record_text: String,
    /// Converted values of the current record (kept to reuse its allocation).
    values: Vec<(Slot, Value)>,
    records_seen: usize,
    /// Records (entries and cases) allowed in one answer.
    max_records: usize,
    entries: Vec<IkEntry>,
    cases: Vec<IvCase>,
    accounts: Vec<RegisterAccount>,
    iv_files: Vec<IvFile>,
}

impl<'p> Walker<'p> {
    fn new(prog: &'p Program, office: OfficeId, max_records: usize) -> Self {
        let width = prog.fields.iter().map(Vec::len).max().unwrap_or(0);
        Walker {
            prog,
            office,
            stack: Vec::with_capacity(8),
            skip: 0,
            buf: String::new(),
            capturing: false,
            root_closed: false,
            vn: None,
            as_of: None,
            no_account: false,
            scope_number: None,
            scope_agency: None,
            scope_first_entry: 0,
            scope_first_case: 0,
            record: vec![None; width],
            record_text: String::new(),
            values: Vec::with_capacity(width),
            records_seen: 0,
            max_records,
            entries: Vec::new(),
            cases: Vec::new(),
            accounts: Vec::new(),
            iv_files: Vec::new(),
        }
    }

    fn walk(&mut self, text: &str) -> Result<(), AnswerError> {
        let mut reader = NsReader::from_str(text);
        reader.config_mut().expand_empty_elements = true;
        loop {
            // Plain events, resolving the namespace of start tags only: `End` needs no
            // resolution (the stack knows what closes), and `read_resolved_event` costs
            // about twice as much per event.
            let event = reader.read_event();
            let syntax = |e: &dyn std::fmt::Display, pos: u64| {
                let mut err = AnswerError::new(AnswerErrorKind::Syntax(e.to_string()));
                err.position = Some(pos);
                err
            };
            match event {
                Err(e) => return Err(syntax(&e, reader.error_position())),
                Ok(Event::Start(start)) => {
                    let (ns, local) = reader.resolver().resolve_element(start.name());
                    let uri: &[u8] = match ns {
                        ResolveResult::Bound(n) => n.into_inner(),
                        ResolveResult::Unbound => b"",
                        ResolveResult::Unknown(p) => {
                            let msg =
                                format!("undeclared prefix {:?}", String::from_utf8_lossy(&p));
                            return Err(syntax(&msg, reader.buffer_position()));
                        }
                    };
                    let matched = self.start(uri, local.into_inner())?;
                    if let Some(node) = matched
                        && !self.prog.nodes[node].attrs.is_empty()
                    {
                        self.read_attributes(node, &start, reader.resolver())
                            .map_err(|e| match e {
                                AttrError::Syntax(m) => syntax(&m, reader.buffer_position()),
                                AttrError::Answer(e) => e,
                            })?;
                    }
                }
                Ok(Event::End(_)) => self.end()?,
                Ok(Event::Text(t)) => {
                    if self.reading() {
                        match plain_text(&t) {
                            // Nothing to decode or normalize: copy as is.
                            Some(s) => self.buf.push_str(s),
                            None => {
                                let s = t
                                    .xml_content()
                                    .map_err(|e| syntax(&e, reader.buffer_position()))?;
                                self.buf.push_str(&s);
                            }
                        }
                    }
                }
                Ok(Event::CData(c)) => {
                    if self.reading() {
                        let s = c
                            .decode()
                            .map_err(|e| syntax(&e, reader.buffer_position()))?;
                        self.buf.push_str(&s);
                    }
                }
                Ok(Event::GeneralRef(r)) => {
                    if self.reading() {
                        let c = resolve_reference(&r)
                            .map_err(|m| syntax(&m, reader.buffer_position()))?;
                        self.buf.push(c);
                    }
                }
                Ok(Event::DocType(_)) => {
                    let mut err = AnswerError::new(AnswerErrorKind::Doctype);
                    err.position = Some(reader.buffer_position());
                    return Err(err);
                }
                Ok(Event::Eof) => break,
                Ok(_) => {} // declaration, comments, processing instructions
            }
        }
        if !self.root_closed {
            return Err(AnswerError::new(AnswerErrorKind::Truncated));
        }
        Ok(())
    }

    fn reading(&self) -> bool {
        self.capturing && self.skip == 0
    }

    /// Reads the attributes of matched element `node` that fill fields of the record.
    fn read_attributes(
        &mut self,
        node: usize,
        start: &quick_xml::events::BytesStart<'_>,
        resolver: &quick_xml::name::NamespaceResolver,
    ) -> Result<(), AttrError> {
        let prog = self.prog;
        for attr in start.attributes() {
            let attr = attr.map_err(|e| AttrError::Syntax(e.to_string()))?;
            let (ns, local) = resolver.resolve_attribute(attr.key);
            let uri: &[u8] = match ns {
                ResolveResult::Bound(n) => n.into_inner(),
                ResolveResult::Unbound => b"",
                ResolveResult::Unknown(p) => {
                    let p = String::from_utf8_lossy(&p);
                    return Err(AttrError::Syntax(format!("undeclared prefix {p:?}")));
                }
            };
            let local = local.into_inner();
            let matcher = prog.nodes[node]
                .attrs
                .iter()
                .find(|a| a.local.as_bytes() == local && a.uri.as_bytes() == uri);
            let Some(Role::Field(_, index)) = matcher.map(|a| a.role) else {
                continue;
            };
            let value = attr
                .unescape_value()
                .map_err(|e| AttrError::Syntax(e.to_string()))?;
            self.store_field(index, &value).map_err(AttrError::Answer)?;
        }
        Ok(())
    }

    /// Keeps the text of field `index` of the current record.
    fn store_field(&mut self, index: u8, text: &str) -> Result<(), AnswerError> {
        let Some(slot) = self.record.get_mut(usize::from(index)) else {
            return Ok(());
        };
        if slot.is_some() {
            return Err(AnswerError::new(AnswerErrorKind::Repeated).at(self.path()));
        }
        let start = self.record_text.len();
        self.record_text.push_str(text.trim());
        *slot = Some((start, self.record_text.len()));
        Ok(())
    }

    /// Enters an element; returns the matcher node when it is a mapped one.
    fn start(&mut self, uri: &[u8], local: &[u8]) -> Result<Option<usize>, AnswerError> {
        if self.skip > 0 {
            self.skip += 1;
            return Ok(None);
        }
        let Some(&top) = self.stack.last() else {
            if self.root_closed {
                return Err(AnswerError::new(AnswerErrorKind::Syntax(
                    "content after the root element".into(),
                )));
            }
            let root = &self.prog.nodes[0];
            if root.uri.as_bytes() != uri || root.local.as_bytes() != local {
                let found = format!(
                    "{{{}}}{}",
                    String::from_utf8_lossy(uri),
                    String::from_utf8_lossy(local)
                );
                return Err(AnswerError::new(AnswerErrorKind::WrongRoot { found }));
            }
            self.stack.push(0);
            return Ok(Some(0));
        };
        let nodes = &self.prog.nodes;
        let child = nodes[top]
            .children
            .iter()
            .copied()
            .find(|&c| nodes[c].local.as_bytes() == local && nodes[c].uri.as_bytes() == uri);
        let Some(child) = child else {
            self.skip = 1;
            return Ok(None);
        };
        self.stack.push(child);
        match nodes[child].role {
            Role::Vn | Role::AsOf | Role::OfficeNumber | Role::OfficeAgency | Role::Field(..) => {
                self.capturing = true;
                self.buf.clear();
            }
            Role::NoAccount => self.no_account = true,
            Role::OfficeScope => {
                self.scope_number = None;
                self.scope_agency = None;
                self.scope_first_entry = self.entries.len();
                self.scope_first_case = self.cases.len();
            }
            Role::Record(_) => {
                if self.records_seen >= self.max_records {
                    let limit = self.max_records;
                    return Err(AnswerError::new(AnswerErrorKind::TooManyRecords { limit }));
                }
                self.records_seen += 1;
                self.record.iter_mut().for_each(|slot| *slot = None);
                self.record_text.clear();
            }
            Role::Plain => {}
        }
        Ok(Some(child))
    }

    fn end(&mut self) -> Result<(), AnswerError> {
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        let role = match self.stack.last() {
            Some(&node) => self.prog.nodes[node].role,
            None => return Ok(()),
        };
        match role {
            Role::Vn => {
                let vn = Vn::parse(self.buf.trim()).map_err(|e| {
                    AnswerError::new(AnswerErrorKind::Invalid(e.to_string())).at(self.path())
                })?;
                self.vn = Some(vn);
            }
            Role::AsOf => {
                let raw = self.buf.trim();
                let date = xs_date(raw).map_err(|m| {
                    AnswerError::new(AnswerErrorKind::Invalid(m.to_string()))
                        .at(self.path())
                        .with_value(raw)
                })?;
                if self.as_of.replace(date).is_some() {
                    return Err(AnswerError::new(AnswerErrorKind::Repeated).at(self.path()));
                }
            }
            Role::OfficeNumber => self.scope_number = Some(self.buf.trim().to_owned()),
            Role::OfficeAgency => self.scope_agency = Some(self.buf.trim().to_owned()),
            Role::Field(_, index) => {
                let text = std::mem::take(&mut self.buf);
                let stored = self.store_field(index, &text);
                self.buf = text;
                stored?;
            }
            Role::Record(kind) => self.finish_record(kind)?,
            Role::OfficeScope => self.finish_scope()?,
            Role::NoAccount | Role::Plain => {}
        }
        self.capturing = false;
        self.stack.pop();
        if self.stack.is_empty() {
            self.root_closed = true;
        }
        Ok(())
    }

    /// `/ik:message/ik:content/ik:account/ik:entry[3]/ik:income` for the current element.
    fn path(&self) -> String {
        let mut p = String::new();
        for &n in &self.stack {
            p.push('/');
            p.push_str(&self.prog.nodes[n].display);
            if matches!(self.prog.nodes[n].role, Role::Record(_)) {
                p.push_str(&format!("[{}]", self.records_seen));
            }
        }
        p
    }

    fn finish_record(&mut self, kind: RecordKind) -> Result<(), AnswerError> {
        let fields = self.prog.fields(kind);
        let mut values = std::mem::take(&mut self.values);
        values.clear();
        for (i, spec) in fields.iter().enumerate() {
            let raw = self.record[i]
                .take()
                .map(|(start, end)| &self.record_text[start..end])
                .filter(|s| !s.is_empty())
                .or(spec.default.as_deref());
            let Some(raw) = raw else {
                if spec.required {
                    return Err(
                        AnswerError::new(AnswerErrorKind::Missing).at(self.field_path(spec))
                    );
                }
                continue;
            };
            let value = convert(spec, raw)
                .and_then(|v| check_range(spec.slot, &v).map(|()| v))
                .map_err(|m| {
                    AnswerError::new(AnswerErrorKind::Invalid(m.to_string()))
                        .at(self.field_path(spec))
                        .with_value(raw)
                })?;
            values.push((spec.slot, value));
        }
        match kind {
            RecordKind::Entry => {
                let entry = build_entry(self.office, values.drain(..)).map_err(|e| {
                    AnswerError::new(AnswerErrorKind::Invalid(e.to_string())).at(self.path())
                })?;
                push_within(&mut self.entries, entry, self.max_records);
            }
            RecordKind::Case => {
                let case = build_case(self.office, values.drain(..)).map_err(|e| {
                    AnswerError::new(AnswerErrorKind::Invalid(e.to_string())).at(self.path())
                })?;
                push_within(&mut self.cases, case, self.max_records);
            }
            RecordKind::Holder => {
                let account = build_holder(values.drain(..)).map_err(|e| {
                    AnswerError::new(AnswerErrorKind::Invalid(e.to_string())).at(self.path())
                })?;
                push_within(&mut self.accounts, account, self.max_records);
            }
            RecordKind::File => {
                let file = build_file(values.drain(..)).map_err(|e| {
                    AnswerError::new(AnswerErrorKind::Invalid(e.to_string())).at(self.path())
                })?;
                push_within(&mut self.iv_files, file, self.max_records);
            }
        }
        self.values = values;
        Ok(())
    }

    fn field_path(&self, spec: &FieldSpec) -> String {
        format!("{}/{}", self.path(), spec.display)
    }

    /// The office named by the scope applies to the records read inside it; it must be
    /// the adapter's fund (any agency of it).
    fn finish_scope(&mut self) -> Result<(), AnswerError> {
        let path = self.path();
        let bad = |m: String| AnswerError::new(AnswerErrorKind::Inconsistent(m)).at(path.clone());
        let number = self
            .scope_number
            .as_deref()
            .ok_or_else(|| bad("the account does not name its office".into()))?;
        let agency = self.scope_agency.as_deref().unwrap_or("0");
        let parse = |s: &str| {
            s.parse::<u16>()
                .ok()
                .filter(|_| !s.is_empty() && s.len() <= 3)
        };
        let id = parse(number)
            .zip(parse(agency))
            .and_then(|(n, a)| OfficeId::new(n, a))
            .ok_or_else(|| {
                bad(format!(
                    "office number {number:?} / agency {agency:?} is not an office id"
                ))
            })?;
        if id.number != self.office.number {
            return Err(bad(format!(
                "the answer names office {id}, the adapter is for {}",
                self.office
            )));
        }
        self.entries[self.scope_first_entry..]
            .iter_mut()
            .for_each(|e| e.office = id);
        self.cases[self.scope_first_case..]
            .iter_mut()
            .for_each(|c| c.office = id);
        Ok(())
    }

    fn finish(self) -> Result<Translated, AnswerError> {
        let empty = self.entries.is_empty()
            && self.cases.is_empty()
            && self.accounts.is_empty()
            && self.iv_files.is_empty();
        if self.no_account && !empty {
            let m = "a negative report that also carries records".to_string();
            return Err(AnswerError::new(AnswerErrorKind::Inconsistent(m)));
        }
        let status = if self.no_account || (self.prog.empty_is_no_account && empty) {
            AnswerStatus::NoAccount
        } else {
            AnswerStatus::Ok
        };
        Ok(Translated {
            answer: Answer {
                status,
                vn: self.vn,
                entries: self.entries,
                iv_cases: self.cases,
            },
            as_of: self.as_of,
            accounts: self.accounts,
            iv_files: self.iv_files,
        })
    }
}
