//! One record's converted values → an [`IkEntry`] or an [`IvCase`], with the checks
//! that span fields (months in order, validity in order); records are kept within the
//! per-answer cap without the vector reserving past it.

use super::super::convert::Value;
use super::super::error::RecordError;
use super::super::spec::Slot;
use crate::model::{Benefit, CaseStatus, CodeName, IkEntry, IvCase, Month, OfficeId};

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

/// Pushes without letting the vector's doubling reserve room past `cap` items (the
/// caller has checked that `v` holds fewer than `cap`).
pub(super) fn push_within<T>(v: &mut Vec<T>, item: T, cap: usize) {
    if v.len() == v.capacity() {
        let room = cap.saturating_sub(v.len()).max(1);
        v.reserve_exact(v.len().max(16).min(room));
    }
    v.push(item);
}
