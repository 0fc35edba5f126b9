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

/// Entries crowded onto few keys: one office and account, two years, one genre, three
/// amounts, varied months, so that several reversals compete for the same entries.
fn arb_crowded_entry() -> impl Strategy<Value = IkEntry> {
    (
        2019u16..2021,
        prop::sample::select(vec!["01", "11", "21"]),
        (1u8..=3, 0u8..2),
        1i64..4,
    )
        .prop_map(|(y, code, (from, len), amount)| {
            let cents = if code.starts_with('0') {
                amount * 1000
            } else {
                -amount * 1000
            };
            entry(25, y, code, (from, from + len), cents)
        })
}

/// Both matchers on the same sorted, deduplicated input (as `merge` hands it over).
fn both_matchers(
    mut entries: Vec<IkEntry>,
) -> (
    Vec<MergedEntry>,
    Vec<Conflict>,
    Vec<MergedEntry>,
    Vec<Conflict>,
) {
    entries.sort();
    entries.dedup();
    let (mut new_c, mut old_c) = (Vec::new(), Vec::new());
    let new = match_reversals(entries.clone(), &mut new_c);
    let old = super::oracle::match_reversals(entries, &mut old_c);
    (new, new_c, old, old_c)
}

proptest! {
    #[test]
    fn indexed_matching_equals_the_quadratic_oracle(entries in prop::collection::vec(arb_entry(), 0..80)) {
        let (new, new_c, old, old_c) = both_matchers(entries);
        prop_assert_eq!(new, old);
        prop_assert_eq!(new_c, old_c);
    }

    #[test]
    fn indexed_matching_equals_the_oracle_on_crowded_keys(entries in prop::collection::vec(arb_crowded_entry(), 0..60)) {
        let (new, new_c, old, old_c) = both_matchers(entries);
        prop_assert_eq!(new, old);
        prop_assert_eq!(new_c, old_c);
    }
}

#[test]
fn same_months_are_preferred_over_an_earlier_entry() {
    // (1, 3) sorts before (2, 2): without the preference the first would be cancelled.
    let out = merge(
        vn(),
        vec![ok(
            25,
            vec![
                entry(25, 2020, "01", (1, 3), 500),
                entry(25, 2020, "01", (2, 2), 500),
                entry(25, 2020, "11", (2, 2), -500),
            ],
        )],
        YearRange::default(),
    );
    let cancelled: Vec<_> = out
        .entries
        .iter()
        .filter(|e| e.cancelled)
        .map(|e| (e.entry.month_from, e.entry.month_to))
        .collect();
    assert_eq!(cancelled, vec![(Month::Known(2), Month::Known(2))]);
    assert!(out.conflicts.is_empty());
}

/// Issue #12: 36,000 entries of which 12,000 reversals cancel nothing. Quadratic matching
/// took ~0.9 s of release-build CPU for this; the indexed one is measured by
/// `cargo bench --bench mapping -- merge/36k`. Here: the result is the expected one.
#[test]
fn thirty_six_thousand_entries_with_twelve_thousand_unmatched_reversals() {
    let office = office(25);
    let mut entries = crate::sim::heavy_entries(office, 36_000, 12_000);
    entries.reverse(); // order must not matter
    let out = merge(vn(), vec![ok(25, entries)], YearRange::default());
    assert_eq!(out.entries.len(), 36_000);
    assert_eq!(out.sources[0].entries, 36_000);
    let unmatched = out
        .conflicts
        .iter()
        .filter(|c| matches!(c, Conflict::UnmatchedReversal { .. }))
        .count();
    assert_eq!(unmatched, 12_000);
    assert_eq!(out.conflicts.len(), 12_000, "no duplicates");
    assert_eq!(out.entries.iter().filter(|e| e.cancelled).count(), 6_000);
    // Net income: the 18,000 live entries plus the unmatched reversals.
    let live: i64 = out
        .entries
        .iter()
        .filter(|e| !e.cancelled && !e.entry.income_code.is_reversal())
        .map(|e| e.entry.income.0)
        .sum();
    let unmatched_sum: i64 = (0..12_000i64).map(|j| -(100 * (j + 1) + 1)).sum();
    let total: i64 = out.years.iter().map(|y| y.income.0).sum();
    assert_eq!(total, live + unmatched_sum);
    assert_eq!(out.years.len(), 34);
}
