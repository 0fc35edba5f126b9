//! IV cases: roughly one person in ten has one or two, at the IV office of the canton.

use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;

use super::SimOffice;
use crate::model::{Benefit, Canton, CaseStatus, Date, IvCase, OfficeKind};

/// IV offices that serve no canton's residents (Liechtenstein, residents abroad).
const NOT_CANTONAL: [u16; 2] = [326, 327];

const BENEFITS: [Benefit; 5] = [
    Benefit::Pension,
    Benefit::Integration,
    Benefit::DailyAllowance,
    Benefit::HelplessnessAllowance,
    Benefit::AssistiveDevice,
];

/// The IV cases of a person living in `canton` (none without that canton's IV office).
pub(super) fn cases(
    rng: &mut ChaCha8Rng,
    sorted: &[&SimOffice],
    canton: Canton,
    birth_year: u16,
    reference_year: u16,
) -> Vec<IvCase> {
    if !rng.random_bool(0.10) {
        return Vec::new();
    }
    let office = sorted.iter().find(|o| {
        o.kind == OfficeKind::IvOffice
            && o.canton == Some(canton)
            && !NOT_CANTONAL.contains(&o.id.number)
    });
    let first = (birth_year + 18).max(1995);
    let (Some(office), true) = (office, first <= reference_year) else {
        return Vec::new();
    };
    let count = if rng.random_bool(0.3) { 2 } else { 1 };
    let mut serial = rng.random_range(1..=9_000_000u32);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let year = rng.random_range(first..=reference_year);
        serial += rng.random_range(1..=50_000);
        out.push(case(rng, office, year, serial, reference_year));
    }
    out.sort();
    out
}

fn case(
    rng: &mut ChaCha8Rng,
    office: &SimOffice,
    year: u16,
    serial: u32,
    reference_year: u16,
) -> IvCase {
    let benefit = *BENEFITS.choose(rng).unwrap_or(&Benefit::Pension);
    let status = if year + 1 >= reference_year {
        *[CaseStatus::Registered, CaseStatus::InProgress]
            .choose(rng)
            .unwrap_or(&CaseStatus::Registered)
    } else {
        *[
            CaseStatus::Decided,
            CaseStatus::Decided,
            CaseStatus::Decided,
            CaseStatus::Closed,
            CaseStatus::Closed,
            CaseStatus::InProgress,
        ]
        .choose(rng)
        .unwrap_or(&CaseStatus::Decided)
    };
    let degree = (benefit == Benefit::Pension && status != CaseStatus::Registered)
        .then(|| *[40u8, 50, 60, 70, 80, 100].choose(rng).unwrap_or(&50));
    let (valid_from, valid_to) = validity(rng, benefit, status, year);
    IvCase {
        office: office.id,
        decision_number: format!("{:03}{:04}{:07}", office.id.number, year, serial),
        benefit,
        status,
        degree,
        valid_from,
        valid_to,
    }
}

/// Validity of a decided or closed case: from the first of a month, to the last day of a
/// month 6–36 months later (open-ended for a running pension).
fn validity(
    rng: &mut ChaCha8Rng,
    benefit: Benefit,
    status: CaseStatus,
    year: u16,
) -> (Option<Date>, Option<Date>) {
    if !matches!(status, CaseStatus::Decided | CaseStatus::Closed) {
        return (None, None);
    }
    let start = i32::from(year) * 12 + rng.random_range(0..12);
    let from = first_of(start);
    let open = benefit == Benefit::Pension && status == CaseStatus::Decided;
    let to = if open {
        None
    } else {
        first_of(start + rng.random_range(6..=36)).map(|d| d.previous_day().unwrap_or(d))
    };
    (from, to)
}

/// The first day of the month `index = year * 12 + month - 1`.
fn first_of(index: i32) -> Option<Date> {
    let month = time::Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    Date::from_calendar_date(index.div_euclid(12), month, 1).ok()
}
