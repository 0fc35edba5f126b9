//! The central account register's answer as JSON (`guichet translate` of a register
//! answer, the golden tests) and the `routing` block of an account answer.

use serde::{Deserialize, Serialize};

use crate::model::{RegisterAccount, RegisterAnswer};

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
