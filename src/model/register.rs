//! What the central account register says about one person: which offices keep an
//! account (with the affiliation), which IV office has a file, and up to which day the
//! offices' reports are in the register (`asOf`). Read by the planner (who to ask) and
//! by the submissions' routing rules (which fund is competent).

use std::collections::BTreeSet;
use std::fmt;

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
