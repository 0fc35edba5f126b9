//! The central account register's answer as JSON (`guichet translate` of a register
//! answer, the golden tests) and the `routing` block of an account answer.

use serde::{Deserialize, Serialize};

use crate::model::{RegisterAccount, RegisterAnswer, RoutingReport};

/// What the register said about one person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterAnswerView {
    pub known: bool,
    pub as_of: Option<String>,
    pub accounts: Vec<RegisterAccountView>,
    pub iv_files: Vec<IvFileView>,
}

/// One account the register lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterAccountView {
    pub office: String,
    pub opened: Option<String>,
    pub last_reported_year: Option<u16>,
    pub affiliation: Option<AffiliationView>,
}

/// The person's affiliation with a fund.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AffiliationView {
    pub current: bool,
    pub genre: u8,
    pub since: String,
    pub until: Option<String>,
}

/// One IV file the register lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IvFileView {
    pub office: String,
    pub since: Option<String>,
}

fn date(d: crate::model::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl From<&RegisterAccount> for RegisterAccountView {
    fn from(a: &RegisterAccount) -> Self {
        RegisterAccountView {
            office: a.office.to_string(),
            opened: a.opened.map(|ym| ym.to_string()),
            last_reported_year: a.last_reported_year,
            affiliation: a.affiliation.map(|f| AffiliationView {
                current: f.current,
                genre: f.genre,
                since: date(f.since),
                until: f.until.map(date),
            }),
        }
    }
}

impl From<&RegisterAnswer> for RegisterAnswerView {
    fn from(r: &RegisterAnswer) -> Self {
        RegisterAnswerView {
            known: r.known,
            as_of: r.as_of.map(date),
            accounts: r.accounts.iter().map(RegisterAccountView::from).collect(),
            iv_files: r
                .iv_files
                .iter()
                .map(|f| IvFileView {
                    office: f.office.to_string(),
                    since: f.since.map(date),
                })
                .collect(),
        }
    }
}

/// The `routing` block of an account answer: how the offices were chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingView {
    /// `register`, `broadcast` or `verify`.
    pub mode: String,
    pub register: RegisterCallView,
    /// The register failed and every office was asked instead.
    #[serde(default)]
    pub fallback: bool,
    pub asked: usize,
    pub not_asked: usize,
}

/// What the register did for this query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCallView {
    /// `ok`, `unknown-person`, `timeout`, `error`, `unavailable`, `bad-certificate`,
    /// `skipped`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    pub latency_ms: u64,
    #[serde(default)]
    pub cached: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `verify` mode: an office where the register and the answers disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscrepancyView {
    pub office: String,
    /// `not-in-register` (holds data the register does not name) or `no-account` (named,
    /// answered `no_account`).
    pub kind: String,
}

impl From<&RoutingReport> for RoutingView {
    fn from(r: &RoutingReport) -> Self {
        RoutingView {
            mode: r.mode.name().to_owned(),
            register: RegisterCallView {
                status: r.register.status.name().to_owned(),
                as_of: r.register.as_of.map(date),
                latency_ms: u64::try_from(r.register.latency.as_millis()).unwrap_or(u64::MAX),
                cached: r.register.cached,
                detail: r.register.detail.clone(),
            },
            fallback: r.fallback,
            asked: r.asked,
            not_asked: r.not_asked,
        }
    }
}

impl DiscrepancyView {
    /// The discrepancies of a report (`None` unless `verify` mode with an answer).
    pub fn of(r: &RoutingReport) -> Option<Vec<DiscrepancyView>> {
        r.discrepancies.as_ref().map(|found| {
            found
                .iter()
                .map(|d| DiscrepancyView {
                    office: d.office.to_string(),
                    kind: d.kind.name().to_owned(),
                })
                .collect()
        })
    }
}
