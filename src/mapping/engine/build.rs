//! One record's converted values → an [`IkEntry`] or an [`IvCase`], with the checks
//! that span fields (months in order, validity in order); records are kept within the
//! per-answer cap without the vector reserving past it.

use super::super::convert::Value;
use super::super::error::RecordError;
use super::super::spec::Slot;
use crate::model::{
    Affiliation, Benefit, CaseStatus, CodeName, Date, IkEntry, IvCase, IvFile, Month, OfficeId,
    RegisterAccount,
};

pub(super) fn build_entry(
    office: OfficeId,
    values: impl Iterator<Item = (Slot, Value)>,
) -> Result<IkEntry, RecordError> {
    let mut e = IkEntry {
        year: 0,
        office,
        account_number: String::new(),
        month_from: Month::Unknown,
        month_to: Month::Unknown,
        income_code: crate::model::IncomeCode::new(0, 0)
            .ok_or(RecordError::Value("income code"))?,
        income: crate::model::Money::ZERO,
        care_credit_fraction: None,
        employer: None,
        booking_date: None,
    };
    for (slot, value) in values {
        match (slot, value) {
            (Slot::AccountNumber, Value::Text(t)) => e.account_number = t,
            (Slot::IncomeCode, Value::Code(c)) => e.income_code = c,
            (Slot::CareCreditFraction, Value::Int(i)) => {
                e.care_credit_fraction = u8::try_from(i).ok()
            }
            (Slot::MonthFrom, Value::Int(i)) => {
                e.month_from = Month::from_code(i).ok_or(RecordError::Value("month"))?
            }
            (Slot::MonthTo, Value::Int(i)) => {
                e.month_to = Month::from_code(i).ok_or(RecordError::Value("month"))?
            }
            (Slot::Year, Value::Int(i)) => {
                e.year = u16::try_from(i).map_err(|_| RecordError::Value("year"))?
            }
            (Slot::Income, Value::Money(m)) => e.income = m,
            (Slot::Employer, Value::Text(t)) => e.employer = Some(t),
            (Slot::BookingDate, Value::Date(d)) => e.booking_date = Some(d),
            (slot, _) => {
                return Err(RecordError::Foreign {
                    field: format!("{slot:?}"),
                    record: "IK entry",
                });
            }
        }
    }
    if let (Month::Known(a), Month::Known(b)) = (e.month_from, e.month_to)
        && a > b
    {
        return Err(RecordError::MonthsOutOfOrder { from: a, to: b });
    }
    Ok(e)
}

pub(super) fn build_case(
    office: OfficeId,
    values: impl Iterator<Item = (Slot, Value)>,
) -> Result<IvCase, RecordError> {
    let mut c = IvCase {
        office,
        decision_number: String::new(),
        benefit: Benefit::Pension,
        status: CaseStatus::Registered,
        degree: None,
        valid_from: None,
        valid_to: None,
    };
    for (slot, value) in values {
        match (slot, value) {
            (Slot::DecisionNumber, Value::Text(t)) => c.decision_number = t,
            (Slot::Benefit, Value::Name(n)) => {
                c.benefit = Benefit::from_name(&n).ok_or(RecordError::Value("benefit"))?
            }
            (Slot::Status, Value::Name(n)) => {
                c.status = CaseStatus::from_name(&n).ok_or(RecordError::Value("status"))?
            }
            (Slot::Degree, Value::Int(i)) => c.degree = u8::try_from(i).ok(),
            (Slot::ValidFrom, Value::Date(d)) => c.valid_from = Some(d),
            (Slot::ValidTo, Value::Date(d)) => c.valid_to = Some(d),
            (slot, _) => {
                return Err(RecordError::Foreign {
                    field: format!("{slot:?}"),
                    record: "IV case",
                });
            }
        }
    }
    if let (Some(from), Some(to)) = (c.valid_from, c.valid_to)
        && from > to
    {
        return Err(RecordError::ValidityOutOfOrder);
    }
    Ok(c)
}

/// The office a register record names: number and agency (0 when not given).
fn named_office(number: Option<u32>, agency: Option<u32>) -> Result<OfficeId, RecordError> {
    let part = |v: u32| u16::try_from(v).ok();
    number
        .and_then(part)
        .zip(part(agency.unwrap_or(0)))
        .and_then(|(n, a)| OfficeId::new(n, a))
        .ok_or(RecordError::Value("office number and agency"))
}

/// An account the register lists; its affiliation when any of its fields is given.
pub(super) fn build_holder(
    values: impl Iterator<Item = (Slot, Value)>,
) -> Result<RegisterAccount, RecordError> {
    let (mut number, mut agency) = (None, None);
    let mut opened = None;
    let mut last_reported_year = None;
    let mut current: Option<bool> = None;
    let mut genre: Option<u8> = None;
    let mut since: Option<Date> = None;
    let mut until: Option<Date> = None;
    for (slot, value) in values {
        match (slot, value) {
            (Slot::OfficeNumber, Value::Int(i)) => number = Some(i),
            (Slot::OfficeAgency, Value::Int(i)) => agency = Some(i),
            (Slot::Opened, Value::YearMonth(ym)) => opened = Some(ym),
            (Slot::LastReportedYear, Value::Int(i)) => {
                last_reported_year = Some(u16::try_from(i).map_err(|_| RecordError::Value("year"))?)
            }
            (Slot::Current, Value::Bool(b)) => current = Some(b),
            (Slot::Genre, Value::Int(i)) => {
                genre = Some(u8::try_from(i).map_err(|_| RecordError::Value("genre"))?)
            }
            (Slot::Since, Value::Date(d)) => since = Some(d),
            (Slot::Until, Value::Date(d)) => until = Some(d),
            (slot, _) => {
                return Err(RecordError::Foreign {
                    field: format!("{slot:?}"),
                    record: "register account",
                });
            }
        }
    }
    let office = named_office(number, agency)?;
    let affiliation = if current.is_none() && genre.is_none() && since.is_none() && until.is_none()
    {
        None
    } else {
        let (Some(genre), Some(since)) = (genre, since) else {
            return Err(RecordError::AffiliationIncomplete);
        };
        if until.is_some_and(|u| u < since) {
            return Err(RecordError::AffiliationOutOfOrder);
        }
        Some(Affiliation {
            // Not said: current while it has no end.
            current: current.unwrap_or(until.is_none()),
            genre,
            since,
            until,
        })
    };
    Ok(RegisterAccount {
        office,
        opened,
        last_reported_year,
        affiliation,
    })
}

/// An IV file the register lists.
pub(super) fn build_file(
    values: impl Iterator<Item = (Slot, Value)>,
) -> Result<IvFile, RecordError> {
    let (mut number, mut agency, mut since) = (None, None, None);
    for (slot, value) in values {
        match (slot, value) {
            (Slot::OfficeNumber, Value::Int(i)) => number = Some(i),
            (Slot::OfficeAgency, Value::Int(i)) => agency = Some(i),
            (Slot::Since, Value::Date(d)) => since = Some(d),
            (slot, _) => {
                return Err(RecordError::Foreign {
                    field: format!("{slot:?}"),
                    record: "IV file",
                });
            }
        }
    }
    Ok(IvFile {
        office: named_office(number, agency)?,
        since,
    })
}

/// Pushes without letting the vector's doubling reserve room past `cap` items (the
/// caller has checked that `v` holds fewer than `cap`).
pub(super) fn push_within<T>(v: &mut Vec<T>, item: T, cap: usize) {
    if v.len() == v.capacity() {
        let room = cap.saturating_sub(v.len()).max(1);
        v.reserve_exact(v.len().max(16).min(room));
    }
    v.push(item);
}
