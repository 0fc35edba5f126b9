//! What the central account register says about one person: which offices keep an
//! account (with the affiliation), which IV office has a file, and up to which day the
//! offices' reports are in the register (`asOf`). Read by the planner (who to ask) and
//! by the submissions' routing rules (which fund is competent).

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use super::{Date, Genre, IncomeCode, OfficeId};

/// The register's answer for one person.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterAnswer {
    /// The day up to which the offices' reports are in the register, when given. The
    /// register lags: an account opened after it may be missing.
    pub as_of: Option<Date>,
    /// The accounts the register lists (any order on the wire; sorted by office here).
    pub accounts: Vec<RegisterAccount>,
    /// The IV offices holding a file (sorted by office).
    pub iv_files: Vec<IvFile>,
    /// False when the register does not know the person (no account, no IV file).
    pub known: bool,
}

/// One account (individual account at a compensation fund) the register lists.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RegisterAccount {
    /// The office keeping the account (fund number + agency).
    pub office: OfficeId,
    /// When the account was opened, when given.
    pub opened: Option<YearMonth>,
    /// The last contribution year the office reported, when given.
    pub last_reported_year: Option<u16>,
    /// The person's affiliation with that office, when given.
    pub affiliation: Option<Affiliation>,
}

/// A person's affiliation with a fund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Affiliation {
    /// True while the affiliation lasts.
    pub current: bool,
    /// The genre digit of the income code: 1 employee, 3 self-employed, 4 not gainfully
    /// employed (any digit 0–9 is kept as sent).
    pub genre: u8,
    /// First day of the affiliation.
    pub since: Date,
    /// Last day, for a past affiliation.
    pub until: Option<Date>,
}

impl Affiliation {
    /// The genre as the income code's genre.
    pub fn genre(&self) -> Genre {
        IncomeCode::new(0, self.genre.min(9)).map_or(Genre::Undocumented, IncomeCode::genre)
    }
}

/// An IV office's file on the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IvFile {
    /// The IV office (`325` on the wire → `325.000`).
    pub office: OfficeId,
    /// Since when, when given.
    pub since: Option<Date>,
}

/// A calendar month of a year: `2019-01`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    /// The year.
    pub year: u16,
    /// The month, 1–12.
    pub month: u8,
}

impl YearMonth {
    /// Builds a year-month, refusing a month outside 1–12.
    pub fn new(year: u16, month: u8) -> Option<YearMonth> {
        (1..=12)
            .contains(&month)
            .then_some(YearMonth { year, month })
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl RegisterAnswer {
    /// Every office the register names: the account holders and the IV offices.
    pub fn offices(&self) -> BTreeSet<OfficeId> {
        self.accounts
            .iter()
            .map(|a| a.office)
            .chain(self.iv_files.iter().map(|f| f.office))
            .collect()
    }

    /// The accounts whose affiliation is current.
    pub fn current_affiliations(&self) -> impl Iterator<Item = (&RegisterAccount, &Affiliation)> {
        self.accounts
            .iter()
            .filter_map(|a| a.affiliation.as_ref().filter(|f| f.current).map(|f| (a, f)))
    }

    /// Puts accounts and IV files in office order (the wire order is not significant).
    pub fn normalize(&mut self) {
        self.accounts.sort();
        self.iv_files.sort();
    }
}

/// How a query chooses the offices it asks (`[routing] mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RoutingMode {
    /// Only the offices the register names.
    Register,
    /// Every office (no register).
    #[default]
    Broadcast,
    /// Every office, and the differences with what the register says.
    Verify,
}

impl RoutingMode {
    /// The configuration and API name.
    pub fn name(self) -> &'static str {
        match self {
            RoutingMode::Register => "register",
            RoutingMode::Broadcast => "broadcast",
            RoutingMode::Verify => "verify",
        }
    }

    /// Whether the register is asked.
    pub fn asks_register(self) -> bool {
        self != RoutingMode::Broadcast
    }
}

/// What became of the register's part of one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterStatus {
    /// It answered with the person's accounts.
    Ok,
    /// It answered that it does not know the person.
    UnknownPerson,
    /// No answer within its timeout (or the query's deadline).
    Timeout,
    /// It answered wrongly (HTTP status, garbage, another person) or the connection broke.
    Error,
    /// Not asked: its circuit is open or a cap refused the call.
    Unavailable,
    /// Its certificate is not the register's: the handshake was aborted, nothing sent.
    BadCertificate,
    /// Not asked: the mode does not use it.
    Skipped,
}

impl RegisterStatus {
    /// The API and metric name.
    pub fn name(self) -> &'static str {
        match self {
            RegisterStatus::Ok => "ok",
            RegisterStatus::UnknownPerson => "unknown-person",
            RegisterStatus::Timeout => "timeout",
            RegisterStatus::Error => "error",
            RegisterStatus::Unavailable => "unavailable",
            RegisterStatus::BadCertificate => "bad-certificate",
            RegisterStatus::Skipped => "skipped",
        }
    }

    /// Whether the register answered (its answer can route the query).
    pub fn answered(self) -> bool {
        matches!(self, RegisterStatus::Ok | RegisterStatus::UnknownPerson)
    }
}

/// The register's part of one query, as the answer and the audit record report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterCall {
    /// What happened.
    pub status: RegisterStatus,
    /// Why it failed, in words without personal data.
    pub detail: Option<String>,
    /// The register's `asOf`, when it answered.
    pub as_of: Option<Date>,
    /// Time spent asking it (zero when cached or skipped).
    pub latency: Duration,
    /// Served from the gateway's register cache.
    pub cached: bool,
}

/// A difference between the register and the offices' answers (`verify` mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiscrepancyKind {
    /// The office holds data for the person, the register does not name it.
    NotInRegister,
    /// The register names the office, which answered `no_account`.
    NoAccount,
}

impl DiscrepancyKind {
    /// The API and metric name.
    pub fn name(self) -> &'static str {
        match self {
            DiscrepancyKind::NotInRegister => "not-in-register",
            DiscrepancyKind::NoAccount => "no-account",
        }
    }
}

/// One office on which the register and the office disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Discrepancy {
    /// The office.
    pub office: OfficeId,
    /// How they disagree.
    pub kind: DiscrepancyKind,
}

/// How one query was planned: the mode, the register's part, who was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingReport {
    /// The configured mode.
    pub mode: RoutingMode,
    /// The register's part.
    pub register: RegisterCall,
    /// The register failed and every office was asked instead (`on_register_failure =
    /// "broadcast"`).
    pub fallback: bool,
    /// Offices asked.
    pub asked: usize,
    /// Offices of the registry not asked (they never learn of the query).
    pub not_asked: usize,
    /// `verify` mode: where the register and the offices disagree (sorted by office).
    pub discrepancies: Option<Vec<Discrepancy>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, time::Month::try_from(m).expect("month"), d).expect("date")
    }

    #[test]
    fn offices_and_current_affiliations() {
        let fund = |n| OfficeId::new(n, 0).expect("office");
        let mut a = RegisterAnswer {
            as_of: Some(date(2026, 11, 20)),
            accounts: vec![
                RegisterAccount {
                    office: fund(66),
                    opened: YearMonth::new(2015, 3),
                    last_reported_year: Some(2018),
                    affiliation: Some(Affiliation {
                        current: false,
                        genre: 1,
                        since: date(2015, 3, 1),
                        until: Some(date(2018, 12, 31)),
                    }),
                },
                RegisterAccount {
                    office: fund(25),
                    opened: YearMonth::new(2019, 1),
                    last_reported_year: None,
                    affiliation: Some(Affiliation {
                        current: true,
                        genre: 3,
                        since: date(2019, 1, 1),
                        until: None,
                    }),
                },
            ],
            iv_files: vec![IvFile {
                office: fund(325),
                since: None,
            }],
            known: true,
        };
        a.normalize();
        assert_eq!(a.accounts[0].office, fund(25));
        let offices: Vec<String> = a.offices().iter().map(ToString::to_string).collect();
        assert_eq!(offices, ["025.000", "066.000", "325.000"]);
        let current: Vec<_> = a.current_affiliations().collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0].0.office, fund(25));
        assert_eq!(current[0].1.genre(), Genre::SelfEmployed);
        assert_eq!(YearMonth::new(2019, 1).expect("ym").to_string(), "2019-01");
        assert!(YearMonth::new(2019, 13).is_none());
    }
}
