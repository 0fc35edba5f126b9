//! `guichet translate` and `guichet consolidate`: office IT staff check their own exports
//! offline, with the same mappings and merge the gateway uses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::mapping::{DEFAULT_MAX_ANSWER_BYTES, MappingSet};
use crate::merge::{YearRange, merge};
use crate::model::{OfficeId, OfficeIdError, OfficeOutcome, Vn};
use crate::view::{AccountView, AckView, AnswerView, RegisterAnswerView};

/// One `OFFICE=DIALECT:FILE` argument of `guichet consolidate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerArg {
    /// The office that sent the answer.
    pub office: OfficeId,
    /// Its dialect.
    pub dialect: String,
    /// The answer file.
    pub file: PathBuf,
}

/// An `OFFICE=DIALECT:FILE` argument that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerArgError {
    /// Not of the shape `OFFICE=DIALECT:FILE`.
    #[error("{0:?}: expected OFFICE=DIALECT:FILE, e.g. 025.000=ech-ik:answer.xml")]
    Shape(String),
    /// The office is not an office id.
    #[error("{arg:?}: {source}")]
    Office {
        /// The whole argument.
        arg: String,
        /// Why the office is refused.
        source: OfficeIdError,
    },
}

impl std::str::FromStr for AnswerArg {
    type Err = AnswerArgError;
    fn from_str(s: &str) -> Result<AnswerArg, AnswerArgError> {
        let usage = || AnswerArgError::Shape(s.to_owned());
        let (office, rest) = s.split_once('=').ok_or_else(usage)?;
        let (dialect, file) = rest.split_once(':').ok_or_else(usage)?;
        if dialect.is_empty() || file.is_empty() {
            return Err(usage());
        }
        Ok(AnswerArg {
            office: office.parse().map_err(|source| AnswerArgError::Office {
                arg: s.to_owned(),
                source,
            })?,
            dialect: dialect.to_owned(),
            file: PathBuf::from(file),
        })
    }
}

fn read_answer(
    mappings: &MappingSet,
    office: OfficeId,
    dialect: &str,
    file: &Path,
) -> anyhow::Result<crate::model::Answer> {
    let mapping = mappings.get(dialect).with_context(|| {
        let known: Vec<&str> = mappings.dialects().collect();
        format!("unknown dialect {dialect:?} (known: {})", known.join(", "))
    })?;
    if mapping.is_register() {
        bail!("{dialect} is the account register's dialect, not an office's answer");
    }
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    mapping
        .translate(office, &body, DEFAULT_MAX_ANSWER_BYTES)
        .with_context(|| format!("{} is not a valid {dialect} answer", file.display()))
}

/// Translates one answer file and returns its canonical JSON.
pub fn translate(
    mappings_dir: &Path,
    dialect: &str,
    office: OfficeId,
    file: &Path,
) -> anyhow::Result<String> {
    let mappings = MappingSet::load_dir(mappings_dir)?;
    // A fund's acknowledgement of a submission (office ignored).
    if let Some(mapping) = mappings.submission(dialect) {
        let body =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let ack = mapping
            .read_ack(&body, DEFAULT_MAX_ANSWER_BYTES)
            .with_context(|| {
                format!(
                    "{} is not a valid {dialect} acknowledgement",
                    file.display()
                )
            })?;
        return Ok(serde_json::to_string_pretty(&AckView::from(&ack))?);
    }
    // The register's answer (office ignored): what it lists for the person.
    if let Some(mapping) = mappings.get(dialect).filter(|m| m.is_register()) {
        let body =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let (_, answer) = mapping
            .read_register(&body, DEFAULT_MAX_ANSWER_BYTES)
            .with_context(|| format!("{} is not a valid {dialect} answer", file.display()))?;
        return Ok(serde_json::to_string_pretty(&RegisterAnswerView::from(
            &answer,
        ))?);
    }
    let answer = read_answer(&mappings, office, dialect, file)?;
    Ok(serde_json::to_string_pretty(&AnswerView::from(&answer))?)
}

/// Merges several answer files into the consolidated account JSON.
pub fn consolidate(
    mappings_dir: &Path,
    args: &[AnswerArg],
    range: YearRange,
) -> anyhow::Result<String> {
    if args.is_empty() {
        bail!("give at least one OFFICE=DIALECT:FILE answer");
    }
    let mappings = MappingSet::load_dir(mappings_dir)?;
    let mut vn: Option<Vn> = None;
    let mut outcomes = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        if args[..i].iter().any(|a| a.office == arg.office) {
            bail!("office {} is given twice", arg.office);
        }
        let answer = read_answer(&mappings, arg.office, &arg.dialect, &arg.file)?;
        match (vn, answer.vn) {
            (Some(a), Some(b)) if a != b => {
                bail!(
                    "{} is about another person than the answers before it",
                    arg.file.display()
                )
            }
            (None, Some(b)) => vn = Some(b),
            _ => {}
        }
        outcomes.push(OfficeOutcome::answered(
            arg.office,
            &arg.office.to_string(),
            answer,
            Duration::ZERO,
        ));
    }
    let vn = vn.context("no answer names the person (no AHV number in any of them)")?;
    let account = merge(vn, outcomes, range);
    Ok(serde_json::to_string_pretty(&AccountView::from(&account))?)
}
