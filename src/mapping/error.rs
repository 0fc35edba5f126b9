//! Errors of the mapping layer: a bad mapping file (refused at load) and a bad answer
//! (one office's failure, never a panic).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::OfficeId;
use crate::toml_error::Position;

/// A mapping file that cannot be used: which file, which line and column, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error(
    "mapping {file}{}{}: {message}",
    line.map(|l| format!(", line {l}")).unwrap_or_default(),
    column.map(|c| format!(", column {c}")).unwrap_or_default()
)]
pub struct MappingError {
    /// The mapping file.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The 1-based column (characters), when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl MappingError {
    /// An error in `file` at `position` (when known).
    pub fn at(file: &Path, position: Option<Position>, message: impl Into<String>) -> Self {
        MappingError {
            file: file.to_owned(),
            line: position.map(|p| p.line),
            column: position.map(|p| p.column),
            message: message.into(),
        }
    }

    /// An error about `file` as a whole (unreadable, duplicate dialect, ...).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        MappingError::at(file, None, message)
    }
}

/// A field value that does not convert or lies outside its canonical range: what was
/// expected (never the value itself, which the caller attaches only where allowed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Free text over its length limit.
    #[error("longer than {0} characters")]
    TooLong(usize),
    /// An income code that is not two digits.
    #[error("{0}")]
    IncomeCode(String),
    /// An amount that is not CHF with two decimals.
    #[error("{0}")]
    Money(String),
    /// Not a whole number.
    #[error("not a whole number")]
    NotInteger,
    /// Not `--MM`.
    #[error("not an xs:gMonth like --07")]
    NotGMonth,
    /// Not `YYYY`.
    #[error("not an xs:gYear like 2020")]
    NotGYear,
    /// Not `YYYY-MM`.
    #[error("not an xs:gYearMonth like 2019-01")]
    NotGYearMonth,
    /// Not `true`, `false`, `1` or `0`.
    #[error("not an xs:boolean (true, false, 1, 0)")]
    NotBoolean,
    /// Not `YYYY-MM-DD`.
    #[error("not a date like 2020-10-12")]
    NotDate,
    /// `YYYY-MM-DD` of a day that does not exist.
    #[error("not a calendar date")]
    NotCalendarDate,
    /// Not exactly 14 digits.
    #[error("not 14 digits")]
    NotDigits14,
    /// Not a wire value of the field's code table.
    #[error("not one of {known}")]
    NotInTable {
        /// The wire values the table knows, comma-separated.
        known: String,
    },
    /// A number outside its canonical range (says which).
    #[error("{0}")]
    OutOfRange(&'static str),
}

/// A document that is not in an accepted encoding (UTF-8 or ISO-8859-1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// A UTF-16 byte-order mark.
    #[error("UTF-16 is not accepted; use UTF-8 or ISO-8859-1")]
    Utf16,
    /// Declared (or defaulted to) UTF-8 but not valid UTF-8.
    #[error("not valid UTF-8 at byte {0}")]
    InvalidUtf8(usize),
    /// Another declared encoding.
    #[error("encoding {0:?} is not accepted; use UTF-8 or ISO-8859-1")]
    Unsupported(String),
}

/// A request template that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without `}}`.
    #[error("a '{{{{' is never closed")]
    Unclosed,
    /// A placeholder guichet does not fill.
    #[error("unknown placeholder {{{{{name}}}}}; known: {known}")]
    UnknownPlaceholder {
        /// The placeholder's name.
        name: String,
        /// The known placeholders, comma-separated.
        known: String,
    },
    /// An element prefix without a namespace declaration.
    #[error("undeclared prefix {0:?}")]
    UndeclaredPrefix(String),
    /// A DOCTYPE declaration.
    #[error("DOCTYPE not allowed")]
    Doctype,
    /// Filled with sample values, the template is not well-formed XML.
    #[error("not well-formed XML: {message} at byte {at}")]
    NotWellFormed {
        /// The parser's message.
        message: String,
        /// Byte offset in the sample rendering.
        at: u64,
    },
    /// Not exactly one closed root element.
    #[error("not one closed root element")]
    NotOneRoot,
}

/// A record whose values do not make an IK entry or an IV case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// A converted value is not one the record's field allows (`month`, `year`, …).
    #[error("{0}")]
    Value(&'static str),
    /// A field of the other kind of record (a mapping error the compiler lets through).
    #[error("field {field} does not belong to an {record}")]
    Foreign {
        /// The field's slot, as the mapping names it.
        field: String,
        /// `IK entry`, `IV case`, `register account` or `IV file`.
        record: &'static str,
    },
    /// `monthFrom` is after `monthTo`.
    #[error("monthFrom {from} is after monthTo {to}")]
    MonthsOutOfOrder {
        /// The first month.
        from: u8,
        /// The last month.
        to: u8,
    },
    /// `validFrom` is after `validTo`.
    #[error("validFrom is after validTo")]
    ValidityOutOfOrder,
    /// An affiliation's `since` is after its `until`.
    #[error("an affiliation's since is after its until")]
    AffiliationOutOfOrder,
    /// An affiliation given in part: `genre` and `since` are both needed.
    #[error("an affiliation needs genre and since")]
    AffiliationIncomplete,
}

/// An XML entity or character reference that is not expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// `&#…;` that names no character.
    #[error("invalid character reference")]
    InvalidCharacter,
    /// The reference's name cannot be decoded.
    #[error("{0}")]
    Undecodable(String),
    /// A named entity other than the five predefined ones.
    #[error("unknown entity &{0}; (no DTD entities are ever expanded)")]
    UnknownEntity(String),
}

/// What is wrong with an office's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerErrorKind {
    /// The body exceeds the size limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// More IK entries and IV cases than the gateway takes from one answer.
    TooManyRecords {
        /// The cap (entries and cases together).
        limit: usize,
    },
    /// Not UTF-8 / ISO-8859-1 as declared, or an unsupported encoding.
    Encoding(EncodingError),
    /// Not well-formed XML (with the parser's message).
    Syntax(String),
    /// A DOCTYPE declaration: refused, no entity is ever expanded.
    Doctype,
    /// The root element is not the dialect's.
    WrongRoot {
        /// What the document's root is.
        found: String,
    },
    /// The document ends before its root element is closed.
    Truncated,
    /// A required field is absent from a record.
    Missing,
    /// A field occurs twice in one record.
    Repeated,
    /// A value does not convert (says what was expected).
    Invalid(String),
    /// The answer contradicts itself or the adapter.
    Inconsistent(String),
}

/// A broken answer: the office, where in the document, and the offending value.
///
/// `Display` shows everything, for office IT staff checking their own exports;
/// [`AnswerError::redacted`] leaves the value out, for logs and API `detail` fields, since
/// a value may be an amount or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerError {
    /// The office whose answer this is, when known.
    pub office: Option<OfficeId>,
    /// The element path (`/ik:message/ik:content/…/ik:entry[2]/ik:income`), when known.
    pub path: Option<String>,
    /// The offending value, when there is one.
    pub value: Option<String>,
    /// Byte offset in the document, for syntax errors.
    pub position: Option<u64>,
    /// What is wrong.
    pub kind: AnswerErrorKind,
}

impl AnswerError {
    pub(crate) fn new(kind: AnswerErrorKind) -> AnswerError {
        AnswerError {
            office: None,
            path: None,
            value: None,
            position: None,
            kind,
        }
    }

    pub(crate) fn at(mut self, path: String) -> AnswerError {
        self.path = Some(path);
        self
    }

    pub(crate) fn with_value(mut self, value: &str) -> AnswerError {
        let mut v: String = value.chars().take(60).collect();
        if value.chars().count() > 60 {
            v.push('…');
        }
        self.value = Some(v);
        self
    }

    /// The message without the offending value (safe for logs and portal answers).
    pub fn redacted(&self) -> String {
        let mut s = String::new();
        self.describe(&mut s, false);
        s
    }

    fn describe(&self, out: &mut String, with_value: bool) {
        use std::fmt::Write;
        let _ = match &self.kind {
            AnswerErrorKind::TooLarge { limit } => write!(out, "answer larger than {limit} bytes"),
            AnswerErrorKind::TooManyRecords { limit } => write!(
                out,
                "answer too large: more than {limit} IK entries and IV cases"
            ),
            AnswerErrorKind::Encoding(m) => write!(out, "encoding: {m}"),
            AnswerErrorKind::Syntax(m) => write!(out, "malformed XML: {m}"),
            AnswerErrorKind::Doctype => write!(out, "DOCTYPE refused (no entity expansion)"),
            AnswerErrorKind::WrongRoot { found } => write!(out, "wrong root element {found}"),
            AnswerErrorKind::Truncated => write!(out, "document ends before its root is closed"),
            AnswerErrorKind::Missing => write!(out, "required element missing"),
            AnswerErrorKind::Repeated => write!(out, "element repeated in one record"),
            AnswerErrorKind::Invalid(m) => write!(out, "{m}"),
            AnswerErrorKind::Inconsistent(m) => write!(out, "{m}"),
        };
        if let Some(p) = &self.path {
            let _ = write!(out, " at {p}");
        }
        if let Some(pos) = self.position {
            let _ = write!(out, " (byte {pos})");
        }
        if with_value && let Some(v) = &self.value {
            let _ = write!(out, ": value {v:?}");
        }
    }
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        if let Some(o) = self.office {
            s.push_str(&format!("office {o}: "));
        }
        self.describe(&mut s, true);
        f.write_str(&s)
    }
}

impl std::error::Error for AnswerError {}
