//! Mapping files: their TOML shape and their compilation into a [`Program`], a tree of
//! element matchers that the streaming engine walks. Everything is checked here, once,
//! at load; the engine trusts the program.
//!
//! `raw.rs` is the file as serde reads it, `slots.rs` the canonical fields a record can
//! fill, `compile.rs` the checks and the compilation (`ctx.rs`: the file, its positions and
//! namespace prefixes), `tree.rs` the matcher tree.

mod compile;
mod ctx;
mod raw;
mod slots;
mod tree;

use super::request::Template;

pub(crate) use compile::compile;
pub(in crate::mapping) use ctx::Ctx;

/// Which canonical record a matcher builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// An IK entry.
    Entry,
    /// An IV case.
    Case,
    /// An account the central register lists (office named by the record).
    Holder,
    /// An IV file the central register lists (office named by the record).
    File,
}

impl RecordKind {
    /// Index into [`Program::fields`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether a record of this kind names its own office (`office.from = "record"`).
    pub(crate) fn names_office(self) -> bool {
        matches!(self, RecordKind::Holder | RecordKind::File)
    }
}

/// What an element means to the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// On the way to something; no meaning of its own.
    Plain,
    /// Holds the person's AHV number.
    Vn,
    /// Holds the day up to which the source's data is current (`xs:date`).
    AsOf,
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
    /// Attributes read from this element: (namespace URI, local name, field role).
    pub attrs: Vec<Attr>,
}

/// An attribute matcher: its value fills a field of the enclosing record.
#[derive(Debug)]
pub(crate) struct Attr {
    pub uri: Box<str>,
    pub local: Box<str>,
    /// `Role::Field` of the enclosing record.
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
    OfficeNumber,
    OfficeAgency,
    Opened,
    LastReportedYear,
    Current,
    Genre,
    Since,
    Until,
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
    /// `xs:gYearMonth`: `2019-01`.
    YearMonth,
    /// `xs:boolean`: `true`, `false`, `1`, `0`.
    Boolean,
}

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
    /// The fields of each record kind, indexed by [`RecordKind::index`].
    pub fields: [Vec<FieldSpec>; 4],
    pub empty_is_no_account: bool,
}

impl Program {
    /// The compiled fields of records of `kind`.
    pub(crate) fn fields(&self, kind: RecordKind) -> &[FieldSpec] {
        &self.fields[kind.index()]
    }

    /// Whether the mapping reads the central register's answer (accounts or IV files
    /// named by the record) rather than an office's.
    pub(crate) fn is_register(&self) -> bool {
        !self.fields(RecordKind::Holder).is_empty() || !self.fields(RecordKind::File).is_empty()
    }
}

/// What [`compile`] produces from one file.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub dialect: String,
    pub description: String,
    pub program: Program,
    pub template: Template,
}
