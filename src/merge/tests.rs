//! Merge invariants: order independence, sums, reversals, gaps, duplicates.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::model::{IncomeCode, Month};

fn office(n: u16) -> OfficeId {
    OfficeId::new(n, 0).expect("valid office")
}

fn entry(o: u16, year: u16, code: &str, months: (u8, u8), centimes: i64) -> IkEntry {
    IkEntry {
        year,
        office: office(o),
        account_number: format!("{o}.1"),
        month_from: Month::from_code(months.0.into()).expect("month"),
        month_to: Month::from_code(months.1.into()).expect("month"),
        income_code: IncomeCode::parse(code).expect("code"),
        income: Money(centimes),
        care_credit_fraction: None,
        employer: None,
        booking_date: None,
    }
}

fn ok(o: u16, entries: Vec<IkEntry>) -> OfficeOutcome {
    OfficeOutcome {
        office: office(o),
        name: format!("Office {o}"),
        status: SourceStatus::Ok,
        latency: Duration::from_millis(5),
        entries,
        iv_cases: Vec::new(),
    }
}

fn vn() -> Vn {
    Vn::from_serial(123_456_789)
}

#[test]
fn reversal_cancels_its_entry_and_nets_zero() {
    let out = merge(
        vn(),
        vec![ok(
            25,
            vec![
                entry(25, 2020, "01", (1, 6), 4_310_050),
                entry(25, 2020, "11", (1, 6), -4_310_050),
                entry(25, 2020, "01", (1, 6), 4_130_050),
            ],
        )],
        YearRange::default(),
    );
    assert!(out.conflicts.is_empty(), "{:?}", out.conflicts);
    let cancelled: Vec<_> = out.entries.iter().filter(|e| e.cancelled).collect();
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].entry.income, Money(4_310_050));
    assert_eq!(out.years[0].income, Money(4_130_050));
    assert_eq!(out.years[0].months, 6);
}

#[test]
fn unmatched_reversal_is_kept_and_reported() {
    let out = merge(
        vn(),
        vec![ok(25, vec![entry(25, 2020, "11", (1, 6), -100)])],
        YearRange::default(),
    );
    assert_eq!(out.entries.len(), 1);
    assert_eq!(out.years[0].income, Money(-100));
    assert!(matches!(
        out.conflicts.as_slice(),
        [Conflict::UnmatchedReversal {
            year: 2020,
            income: Money(-100),
            ..
        }]
    ));
}

#[test]
fn reversal_of_another_office_does_not_cancel() {
    let out = merge(
        vn(),
        vec![
            ok(25, vec![entry(25, 2020, "01", (1, 6), 100)]),
            ok(66, vec![entry(66, 2020, "11", (1, 6), -100)]),
        ],
        YearRange::default(),
    );
    assert!(out.entries.iter().all(|e| !e.cancelled));
    assert_eq!(out.conflicts.len(), 1);
}

#[test]
fn identical_entries_count_once() {
    let e = entry(25, 2019, "01", (1, 12), 8_450_000);
    let out = merge(
        vn(),
        vec![ok(25, vec![e.clone(), e.clone()])],
        YearRange::default(),
    );
    assert_eq!(out.entries.len(), 1);
    assert_eq!(out.years[0].income, Money(8_450_000));
    assert!(matches!(
        out.conflicts.as_slice(),
        [Conflict::Duplicate { extra: 1, .. }]
    ));
}

#[test]
fn gaps_months_and_care_credits() {
    let out = merge(
        vn(),
        vec![ok(
            25,
            vec![
                entry(25, 2014, "01", (1, 12), 100),
                entry(25, 2016, "00", (66, 66), 0),
                entry(25, 2019, "01", (3, 5), 100),
                entry(25, 2019, "01", (4, 8), 100),
            ],
        )],
        YearRange::default(),
    );
    assert_eq!(out.gaps, vec![2015, 2017, 2018]);
    let y2019 = out.years.iter().find(|y| y.year == 2019).expect("2019");
    assert_eq!(y2019.months, 6);
    let y2016 = out.years.iter().find(|y| y.year == 2016).expect("2016");
    assert_eq!(y2016.months, 0);
}

#[test]
fn complete_only_when_everyone_answered() {
    let mut failed = ok(66, vec![]);
    failed.status = SourceStatus::Timeout("no answer within 2000 ms".into());
    let out = merge(vn(), vec![ok(25, vec![]), failed], YearRange::default());
    assert!(!out.complete);
    let mut none = ok(66, vec![]);
    none.status = SourceStatus::NoAccount;
    assert!(merge(vn(), vec![ok(25, vec![]), none], YearRange::default()).complete);
}

#[test]
fn year_range_filters_entries() {
    let range = YearRange {
        from: Some(2019),
        to: Some(2020),
    };
    let out = merge(
        vn(),
        vec![ok(
            25,
            vec![
                entry(25, 2018, "01", (1, 12), 1),
                entry(25, 2019, "01", (1, 12), 2),
                entry(25, 2021, "01", (1, 12), 3),
            ],
        )],
        range,
    );
    assert_eq!(out.entries.len(), 1);
    assert_eq!(out.sources[0].entries, 1);
}

fn arb_entry() -> impl Strategy<Value = IkEntry> {
    (
        prop::sample::select(vec![1u16, 25, 66]),
        2015u16..2022,
        prop::sample::select(vec!["01", "11", "00", "03", "08", "13"]),
        (1u8..=12, 0u8..4),
        -5i64..6,
    )
        .prop_map(|(o, y, code, (from, len), amount)| {
            let to = (from + len).min(12);
            let cents = if code.starts_with('1') {
                -amount.abs() * 1000
            } else {
                amount.abs() * 1000
            };
            entry(o, y, code, (from, to), cents)
        })
}

fn arb_outcomes() -> impl Strategy<Value = Vec<OfficeOutcome>> {
    prop::collection::vec(arb_entry(), 0..40).prop_map(|entries| {
        [1u16, 25, 66]
            .iter()
            .map(|&o| {
                ok(
                    o,
                    entries
                        .iter()
                        .filter(|e| e.office.number == o)
                        .cloned()
                        .collect(),
                )
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn result_does_not_depend_on_order(outcomes in arb_outcomes(), seed in any::<u64>()) {
        let mut shuffled = outcomes.clone();
        let n = shuffled.len();
        shuffled.rotate_left((seed as usize) % n.max(1));
        for o in &mut shuffled {
            o.entries.reverse();
        }
        prop_assert_eq!(
            merge(vn(), outcomes, YearRange::default()),
            merge(vn(), shuffled, YearRange::default())
        );
    }

    #[test]
    fn net_income_is_the_sum_of_the_year(outcomes in arb_outcomes()) {
        let out = merge(vn(), outcomes, YearRange::default());
        for y in &out.years {
            let sum: Money = out.entries.iter().filter(|e| e.entry.year == y.year).map(|e| e.entry.income).sum();
            prop_assert_eq!(sum, y.income);
        }
    }

    #[test]
    fn reversal_and_cancelled_entry_contribute_zero(outcomes in arb_outcomes()) {
        let out = merge(vn(), outcomes, YearRange::default());
        for y in &out.years {
            let live: Money = out.entries.iter()
                .filter(|e| e.entry.year == y.year && !e.cancelled && !e.entry.income_code.is_reversal())
                .map(|e| e.entry.income).sum();
            let unmatched: Money = out.conflicts.iter().filter_map(|c| match c {
                Conflict::UnmatchedReversal { year, income, .. } if *year == y.year => Some(*income),
                _ => None,
            }).sum();
            prop_assert_eq!(live.saturating_add(unmatched), y.income);
        }
    }
}
