//! What came back from one office for one query: its answer, or why there is none.

use std::time::Duration;

use super::{IkEntry, IvCase, OfficeId, Vn};

/// A translated answer of one office.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// `Ok` with data, or the office's negative report.
    pub status: AnswerStatus,
    /// The person the answer is about, when the dialect names it.
    pub vn: Option<Vn>,
    /// IK entries, each with its office.
    pub entries: Vec<IkEntry>,
    /// IV cases, each with its office.
    pub iv_cases: Vec<IvCase>,
}

/// Whether an office holds anything for the person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AnswerStatus {
    /// The office answered with its data (possibly empty).
    #[default]
    Ok,
    /// Negative report: no account / no case for this person.
    NoAccount,
}

/// The status of one planned office in a consolidated answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceStatus {
    /// Answered with data.
    Ok,
    /// Answered: nothing for this person.
    NoAccount,
    /// No answer before the deadline.
    Timeout(String),
    /// Answered wrongly or not at all (HTTP error, bad XML, TLS failure…).
    Error(String),
    /// Not asked (circuit open, rate limited, deregistered).
    Unavailable(String),
}

impl SourceStatus {
    /// The API name: `ok`, `no_account`, `timeout`, `error`, `unavailable`.
    pub fn name(&self) -> &'static str {
        match self {
            SourceStatus::Ok => "ok",
            SourceStatus::NoAccount => "no_account",
            SourceStatus::Timeout(_) => "timeout",
            SourceStatus::Error(_) => "error",
            SourceStatus::Unavailable(_) => "unavailable",
        }
    }

    /// The human detail of a failure, if any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            SourceStatus::Ok | SourceStatus::NoAccount => None,
            SourceStatus::Timeout(d) | SourceStatus::Error(d) | SourceStatus::Unavailable(d) => {
                Some(d)
            }
        }
    }

    /// True for `ok` and `no_account`: the office's part of the account is known.
    pub fn is_answer(&self) -> bool {
        matches!(self, SourceStatus::Ok | SourceStatus::NoAccount)
    }
}

/// The outcome for one planned office: status, timing and what it reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficeOutcome {
    /// The office asked.
    pub office: OfficeId,
    /// Its display name.
    pub name: String,
    /// What happened.
    pub status: SourceStatus,
    /// Time from sending the request to having the translated answer (or giving up).
    pub latency: Duration,
    /// IK entries reported (empty unless `Ok`).
    pub entries: Vec<IkEntry>,
    /// IV cases reported (empty unless `Ok`).
    pub iv_cases: Vec<IvCase>,
}

impl OfficeOutcome {
    /// An outcome from a translated answer.
    pub fn answered(office: OfficeId, name: &str, answer: Answer, latency: Duration) -> Self {
        let status = match answer.status {
            super::AnswerStatus::Ok => SourceStatus::Ok,
            super::AnswerStatus::NoAccount => SourceStatus::NoAccount,
        };
        OfficeOutcome {
            office,
            name: name.to_owned(),
            status,
            latency,
            entries: answer.entries,
            iv_cases: answer.iv_cases,
        }
    }

    /// An outcome without data (timeout, error, unavailable).
    pub fn failed(office: OfficeId, name: &str, status: SourceStatus, latency: Duration) -> Self {
        OfficeOutcome {
            office,
            name: name.to_owned(),
            status,
            latency,
            entries: Vec::new(),
            iv_cases: Vec::new(),
        }
    }
}

/// Helper for sources that carry a `Vn`: whether an answer is about the asked person.
pub fn same_person(asked: Vn, answer: &Answer) -> bool {
    answer.vn.is_none_or(|v| v == asked)
}
