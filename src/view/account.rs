//! The consolidated account and one office's answer as JSON: how money, months and
//! dates are spelt on the way out. `Deserialize` lets the CLI read them back typed.

use serde::{Deserialize, Serialize};

use crate::merge::{Conflict, ConsolidatedAccount, MergedEntry};
use crate::model::{Answer, AnswerStatus, CodeName, IkEntry, IvCase, Month};

/// `GET /v1/accounts/{vn}` and `guichet consolidate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub vn: String,
    pub complete: bool,
    pub sources: Vec<SourceView>,
    pub entries: Vec<EntryView>,
    pub years: Vec<YearView>,
    pub iv_cases: Vec<IvCaseView>,
    pub gaps: Vec<u16>,
    pub conflicts: Vec<ConflictView>,
    /// How the offices were chosen, when `[routing]` is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<super::RoutingView>,
    /// `verify` mode: where the register and the offices' answers disagree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_discrepancies: Option<Vec<super::DiscrepancyView>>,
}

/// One office's status line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    pub office: String,
    pub name: String,
    pub status: String,
    pub entries: usize,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One IK entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryView {
    pub office: String,
    pub account_number: String,
    pub income_code: String,
    pub reversal: bool,
    pub genre: u8,
    pub year: u16,
    pub month_from: u8,
    pub month_to: u8,
    pub income: String,
    pub care_credit_fraction: Option<u8>,
    pub employer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_date: Option<String>,
    /// Cancelled by a reversal of the same office (only in consolidated accounts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<bool>,
}

/// One year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YearView {
    pub year: u16,
    pub income: String,
    pub months: u8,
}

/// One IV case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IvCaseView {
    pub office: String,
    pub decision_number: String,
    pub benefit: String,
    pub status: String,
    pub degree: Option<u8>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
}

/// Something the merge reports rather than hides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ConflictView {
    /// A reversal with no entry to cancel.
    #[serde(rename_all = "camelCase")]
    UnmatchedReversal {
        office: String,
        account_number: String,
        year: u16,
        income: String,
    },
    /// Identical entries reported more than once, counted once.
    #[serde(rename_all = "camelCase")]
    Duplicate {
        office: String,
        account_number: String,
        year: u16,
        extra: usize,
    },
}

/// `guichet translate`: one office's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerView {
    pub status: String,
    pub entries: Vec<EntryView>,
    pub iv_cases: Vec<IvCaseView>,
}

fn date(d: Option<crate::model::Date>) -> Option<String> {
    d.map(|d| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
}

impl EntryView {
    fn new(e: &IkEntry, cancelled: Option<bool>) -> EntryView {
        EntryView {
            office: e.office.to_string(),
            account_number: e.account_number.clone(),
            income_code: e.income_code.to_string(),
            reversal: e.income_code.is_reversal(),
            genre: e.income_code.genre_digit(),
            year: e.year,
            month_from: Month::code(e.month_from),
            month_to: Month::code(e.month_to),
            income: e.income.to_string(),
            care_credit_fraction: e.care_credit_fraction,
            employer: e.employer.clone(),
            booking_date: date(e.booking_date),
            cancelled,
        }
    }
}

impl From<&MergedEntry> for EntryView {
    fn from(m: &MergedEntry) -> EntryView {
        EntryView::new(&m.entry, Some(m.cancelled))
    }
}

impl From<&IvCase> for IvCaseView {
    fn from(c: &IvCase) -> IvCaseView {
        IvCaseView {
            office: c.office.to_string(),
            decision_number: c.decision_number.clone(),
            benefit: c.benefit.name().to_owned(),
            status: c.status.name().to_owned(),
            degree: c.degree,
            valid_from: date(c.valid_from),
            valid_to: date(c.valid_to),
        }
    }
}

impl From<&Answer> for AnswerView {
    fn from(a: &Answer) -> AnswerView {
        AnswerView {
            status: match a.status {
                AnswerStatus::Ok => "ok",
                AnswerStatus::NoAccount => "no_account",
            }
            .to_owned(),
            entries: a.entries.iter().map(|e| EntryView::new(e, None)).collect(),
            iv_cases: a.iv_cases.iter().map(IvCaseView::from).collect(),
        }
    }
}

impl From<&ConsolidatedAccount> for AccountView {
    fn from(a: &ConsolidatedAccount) -> AccountView {
        AccountView {
            vn: a.vn.digits(),
            complete: a.complete,
            sources: a
                .sources
                .iter()
                .map(|s| SourceView {
                    office: s.office.to_string(),
                    name: s.name.clone(),
                    status: s.status.name().to_owned(),
                    entries: s.entries,
                    latency_ms: u64::try_from(s.latency.as_millis()).unwrap_or(u64::MAX),
                    detail: s.status.detail().map(str::to_owned),
                })
                .collect(),
            entries: a.entries.iter().map(EntryView::from).collect(),
            years: a
                .years
                .iter()
                .map(|y| YearView {
                    year: y.year,
                    income: y.income.to_string(),
                    months: y.months,
                })
                .collect(),
            iv_cases: a.iv_cases.iter().map(IvCaseView::from).collect(),
            gaps: a.gaps.clone(),
            conflicts: a
                .conflicts
                .iter()
                .map(|c| match c {
                    Conflict::UnmatchedReversal {
                        office,
                        account_number,
                        year,
                        income,
                    } => ConflictView::UnmatchedReversal {
                        office: office.to_string(),
                        account_number: account_number.clone(),
                        year: *year,
                        income: income.to_string(),
                    },
                    Conflict::Duplicate {
                        office,
                        account_number,
                        year,
                        extra,
                    } => ConflictView::Duplicate {
                        office: office.to_string(),
                        account_number: account_number.clone(),
                        year: *year,
                        extra: *extra,
                    },
                })
                .collect(),
            routing: a.routing.as_ref().map(super::RoutingView::from),
            routing_discrepancies: a.routing.as_ref().and_then(super::DiscrepancyView::of),
        }
    }
}
