//! IK entries and IV cases: what one office reports about one person.

use std::fmt;

use super::{IncomeCode, Money, OfficeId};

/// A contribution month: 1–12, or unknown (coded 66 on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Month {
    /// A calendar month 1–12.
    Known(u8),
    /// Month not known (`66`).
    Unknown,
}

impl Month {
    /// The wire code: 1–12 or 66.
    pub fn code(self) -> u8 {
        match self {
            Month::Known(m) => m,
            Month::Unknown => 66,
        }
    }

    /// Reads a wire code: 1–12 or 66.
    pub fn from_code(code: u32) -> Option<Month> {
        match code {
            1..=12 => Some(Month::Known(code as u8)),
            66 => Some(Month::Unknown),
            _ => None,
        }
    }
}

/// A calendar date (booking dates, IV validity).
pub type Date = time::Date;

/// One line of an individual account, with the office that keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkEntry {
    /// Contribution year (sorts first).
    pub year: u16,
    /// The office that booked the entry; only it may correct it.
    pub office: OfficeId,
    /// Employer's or payer's account number at that office (≤ 14 characters).
    pub account_number: String,
    /// First month covered.
    pub month_from: Month,
    /// Last month covered.
    pub month_to: Month,
    /// Reversal digit + genre.
    pub income_code: IncomeCode,
    /// Income; a reversal carries the negative amount of the entry it cancels.
    pub income: Money,
    /// Share of a care credit, 1–99, when given.
    pub care_credit_fraction: Option<u8>,
    /// Employer or payer, free text, when given.
    pub employer: Option<String>,
    /// When the office booked the entry, when given.
    pub booking_date: Option<Date>,
}

impl IkEntry {
    /// The calendar months this entry covers (empty when a bound is unknown or reversed).
    pub fn months(&self) -> std::ops::RangeInclusive<u8> {
        match (self.month_from, self.month_to) {
            (Month::Known(a), Month::Known(b)) => a..=b,
            #[allow(clippy::reversed_empty_ranges)]
            _ => 1..=0,
        }
    }
}

/// The benefit an IV case is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Benefit {
    /// Invalidity pension.
    Pension,
    /// Integration / vocational measures.
    Integration,
    /// IV daily allowance.
    DailyAllowance,
    /// Helplessness allowance.
    HelplessnessAllowance,
    /// Assistive device.
    AssistiveDevice,
}

/// Where an IV case stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaseStatus {
    /// Registered, not yet examined.
    Registered,
    /// Being examined.
    InProgress,
    /// Decided.
    Decided,
    /// Closed.
    Closed,
}

/// Canonical names of a closed code list (the JSON and mapping-file spelling).
pub trait CodeName: Sized + Copy + 'static {
    /// Every value with its canonical name.
    const ALL: &'static [(Self, &'static str)];

    /// The canonical name.
    fn name(self) -> &'static str
    where
        Self: PartialEq,
    {
        Self::ALL
            .iter()
            .find(|(v, _)| *v == self)
            .map_or("?", |(_, n)| n)
    }

    /// The value of a canonical name.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
    }
}

impl CodeName for Benefit {
    const ALL: &'static [(Benefit, &'static str)] = &[
        (Benefit::Pension, "pension"),
        (Benefit::Integration, "integration"),
        (Benefit::DailyAllowance, "dailyAllowance"),
        (Benefit::HelplessnessAllowance, "helplessnessAllowance"),
        (Benefit::AssistiveDevice, "assistiveDevice"),
    ];
}

impl CodeName for CaseStatus {
    const ALL: &'static [(CaseStatus, &'static str)] = &[
        (CaseStatus::Registered, "registered"),
        (CaseStatus::InProgress, "inProgress"),
        (CaseStatus::Decided, "decided"),
        (CaseStatus::Closed, "closed"),
    ];
}

impl fmt::Display for Benefit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One IV case at an IV office.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IvCase {
    /// The IV office holding the case.
    pub office: OfficeId,
    /// 14 digits: IV section (3) + year (4) + case (7).
    pub decision_number: String,
    /// The benefit concerned.
    pub benefit: Benefit,
    /// Where the case stands.
    pub status: CaseStatus,
    /// Invalidity degree in percent, when decided.
    pub degree: Option<u8>,
    /// Start of validity, when given.
    pub valid_from: Option<Date>,
    /// End of validity, when given.
    pub valid_to: Option<Date>,
}
