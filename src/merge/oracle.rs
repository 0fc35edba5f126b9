//! The reversal matching as it was before it was indexed (quadratic: one scan of the
//! account per reversal), kept verbatim as the test oracle of the indexed one.

use super::{Conflict, MergedEntry};
use crate::model::IkEntry;

pub(super) fn match_reversals(
    entries: Vec<IkEntry>,
    conflicts: &mut Vec<Conflict>,
) -> Vec<MergedEntry> {
    let mut merged: Vec<MergedEntry> = entries
        .into_iter()
        .map(|entry| MergedEntry {
            entry,
            cancelled: false,
        })
        .collect();
    let reversals: Vec<usize> = (0..merged.len())
        .filter(|&i| merged[i].entry.income_code.is_reversal())
        .collect();
    let mut unmatched = Vec::new();
    for &r in &reversals {
        let strict = find_cancelled(&merged, r, true);
        match strict.or_else(|| find_cancelled(&merged, r, false)) {
            Some(c) => merged[c].cancelled = true,
            None => unmatched.push(r),
        }
    }
    for r in unmatched {
        let e = &merged[r].entry;
        conflicts.push(Conflict::UnmatchedReversal {
            office: e.office,
            account_number: e.account_number.clone(),
            year: e.year,
            income: e.income,
        });
    }
    merged
}

/// The first (in sorted order) entry that reversal `r` can cancel.
fn find_cancelled(merged: &[MergedEntry], r: usize, same_months: bool) -> Option<usize> {
    let rev = &merged[r].entry;
    merged.iter().position(|m| {
        let e = &m.entry;
        !m.cancelled
            && !e.income_code.is_reversal()
            && e.office == rev.office
            && e.year == rev.year
            && e.account_number == rev.account_number
            && e.income_code.genre_digit() == rev.income_code.genre_digit()
            && e.income == -rev.income
            && (!same_months || (e.month_from == rev.month_from && e.month_to == rev.month_to))
    })
}
