//! Errors of the mapping layer: a bad mapping file (refused at load) and a bad answer
//! (one office's failure, never a panic).

use std::fmt;
use std::path::PathBuf;

use crate::model::OfficeId;

/// A mapping file that cannot be used: which file, which line, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("mapping {file}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct MappingError {
    /// The mapping file.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
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
    Encoding(String),
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
