//! Declarative mappings: one file per office dialect (`mappings/*.toml`) says, as data,
//! how to build the request for an office and how to read its answer into the canonical
//! model. Files are compiled once at load; translation streams the XML.
//!
//! This module owns office XML. Nothing outside it reads or writes office XML, except the
//! simulator, which plays the offices.

mod convert;
mod engine;
mod error;
mod request;
mod spec;
mod submission;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub use engine::DEFAULT_MAX_ENTRIES_PER_ANSWER;
pub use error::{
    AnswerError, AnswerErrorKind, EncodingError, MappingError, TemplateError, ValueError,
};
pub use request::{RequestParams, Template};
pub use submission::{
    DocumentTemplate, RenderError, RenderProblem, SubmissionError, SubmissionMapping,
    SubmissionParams, TemplateSyntaxError,
};

use crate::model::{Answer, AnswerStatus, OfficeId, RegisterAnswer, Vn};

/// Default answer size limit (the contract's 4 MiB).
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// One compiled dialect.
#[derive(Debug)]
pub struct Mapping {
    dialect: String,
    description: String,
    program: spec::Program,
    template: Template,
}

impl Mapping {
    /// Compiles a mapping from its text; `origin` names it in errors.
    pub fn from_toml(origin: &Path, text: &str) -> Result<Mapping, MappingError> {
        let c = spec::compile(origin, text)?;
        Ok(Mapping {
            dialect: c.dialect,
            description: c.description,
            program: c.program,
            template: c.template,
        })
    }

    /// Reads and compiles one mapping file.
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MappingError::file(path, format!("cannot read: {e}")))?;
        Mapping::from_toml(path, &text)
    }

    /// The dialect's name (`ech-ik`).
    pub fn dialect(&self) -> &str {
        &self.dialect
    }

    /// One line saying what the dialect is.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The request body for one office.
    pub fn request(&self, params: &RequestParams<'_>) -> String {
        self.template.render(params)
    }

    /// Translates one answer of `office`. Bodies over `max_bytes` are refused unread;
    /// at most [`DEFAULT_MAX_ENTRIES_PER_ANSWER`] records are taken.
    pub fn translate(
        &self,
        office: OfficeId,
        body: &[u8],
        max_bytes: usize,
    ) -> Result<Answer, AnswerError> {
        self.translate_capped(office, body, max_bytes, DEFAULT_MAX_ENTRIES_PER_ANSWER)
    }

    /// [`Mapping::translate`] with a cap on IK entries and IV cases together: an answer
    /// with more is refused as too large as soon as the record past the cap starts.
    pub fn translate_capped(
        &self,
        office: OfficeId,
        body: &[u8],
        max_bytes: usize,
        max_records: usize,
    ) -> Result<Answer, AnswerError> {
        let result = if body.len() > max_bytes {
            Err(AnswerError::new(AnswerErrorKind::TooLarge {
                limit: max_bytes,
            }))
        } else {
            engine::run(&self.program, office, body, max_records)
        };
        result.map(|t| t.answer).map_err(|mut e| {
            e.office = Some(office);
            e
        })
    }

    /// Whether this dialect reads the central account register's answer (records that
    /// name their own office: `office.from = "record"`) rather than an office's.
    pub fn is_register(&self) -> bool {
        self.program.is_register()
    }

    /// Translates the central register's answer about `asked`. Bodies over `max_bytes`
    /// are refused unread; an answer about another person is refused; no account and no
    /// IV file (with `empty_is_no_account`, or the dialect's negative report) means the
    /// register does not know the person.
    pub fn translate_register(
        &self,
        asked: Vn,
        body: &[u8],
        max_bytes: usize,
    ) -> Result<RegisterAnswer, AnswerError> {
        let (vn, answer) = self.read_register(body, max_bytes)?;
        if vn.is_some_and(|vn| vn != asked) {
            let m = "the answer is about another person".to_owned();
            return Err(AnswerError::new(AnswerErrorKind::Inconsistent(m)));
        }
        Ok(answer)
    }

    /// Reads a register's answer without knowing whom it should be about: the person it
    /// names (when the dialect maps one) and what it says (`guichet translate`).
    pub fn read_register(
        &self,
        body: &[u8],
        max_bytes: usize,
    ) -> Result<(Option<Vn>, RegisterAnswer), AnswerError> {
        if !self.is_register() {
            let m = format!("dialect {} does not read a register's answer", self.dialect);
            return Err(AnswerError::new(AnswerErrorKind::Inconsistent(m)));
        }
        if body.len() > max_bytes {
            return Err(AnswerError::new(AnswerErrorKind::TooLarge {
                limit: max_bytes,
            }));
        }
        // The register's records name their offices: the walker's office is never used.
        let unused = OfficeId {
            number: 999,
            agency: 0,
        };
        let t = engine::run(&self.program, unused, body, DEFAULT_MAX_ENTRIES_PER_ANSWER)?;
        let mut answer = RegisterAnswer {
            as_of: t.as_of,
            accounts: t.accounts,
            iv_files: t.iv_files,
            known: t.answer.status == AnswerStatus::Ok,
        };
        answer.normalize();
        Ok((t.answer.vn, answer))
    }
}

/// Every dialect the gateway speaks, by name: query dialects (`[request]` +
/// `[answer]`) and submission dialects (`[submission]` + `[acknowledgement]`).
#[derive(Debug, Clone, Default)]
pub struct MappingSet {
    by_dialect: BTreeMap<String, Arc<Mapping>>,
    submissions: BTreeMap<String, Arc<SubmissionMapping>>,
}

/// True when a mapping file's text declares a submission dialect.
fn is_submission_file(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("submission"))
}

impl MappingSet {
    /// Loads every `*.toml` of `dir`. A file's `dialect` must equal its file name.
    pub fn load_dir(dir: &Path) -> Result<MappingSet, MappingError> {
        let read_err = |e: std::io::Error| {
            MappingError::file(dir, format!("cannot read the mappings folder: {e}"))
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut set = MappingSet::default();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| MappingError::file(&path, format!("cannot read: {e}")))?;
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let dialect = if is_submission_file(&text) {
                let mapping = SubmissionMapping::from_toml(&path, &text)?;
                let dialect = mapping.dialect().to_owned();
                set.submissions.insert(dialect.clone(), Arc::new(mapping));
                dialect
            } else {
                let mapping = Mapping::from_toml(&path, &text)?;
                let dialect = mapping.dialect.clone();
                set.by_dialect.insert(dialect.clone(), Arc::new(mapping));
                dialect
            };
            if stem != dialect {
                return Err(MappingError::file(
                    &path,
                    format!("dialect {dialect:?} must be named {dialect}.toml"),
                ));
            }
        }
        if set.by_dialect.is_empty() && set.submissions.is_empty() {
            return Err(MappingError::file(
                dir,
                "no mapping (*.toml) in this folder",
            ));
        }
        Ok(set)
    }

    /// The mapping of a dialect.
    pub fn get(&self, dialect: &str) -> Option<&Arc<Mapping>> {
        self.by_dialect.get(dialect)
    }

    /// Query dialect names, sorted.
    pub fn dialects(&self) -> impl Iterator<Item = &str> {
        self.by_dialect.keys().map(String::as_str)
    }

    /// The mapping of a submission dialect.
    pub fn submission(&self, dialect: &str) -> Option<&Arc<SubmissionMapping>> {
        self.submissions.get(dialect)
    }

    /// Submission dialect names, sorted.
    pub fn submission_dialects(&self) -> impl Iterator<Item = &str> {
        self.submissions.keys().map(String::as_str)
    }
}
