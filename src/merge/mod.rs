//! The merge: a pure function from the per-office outcomes of one query to the
//! consolidated account. No I/O, no clock, no randomness: same outcomes in any order,
//! same account.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::model::{
    Genre, IkEntry, IvCase, Money, Month, OfficeId, OfficeOutcome, SourceStatus, Vn,
};

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;

/// Inclusive bounds on contribution years asked for (`yearFrom`, `yearTo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct YearRange {
    /// First year kept, if bounded.
    pub from: Option<u16>,
    /// Last year kept, if bounded.
    pub to: Option<u16>,
}

impl YearRange {
    /// Whether `year` lies in the range.
    pub fn contains(&self, year: u16) -> bool {
        self.from.is_none_or(|f| year >= f) && self.to.is_none_or(|t| year <= t)
    }
}

/// One consolidated account: every planned office's status and what they reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsolidatedAccount {
    /// The person.
    pub vn: Vn,
    /// True only when every planned office answered (`ok` or `no_account`).
    pub complete: bool,
    /// One line per planned office, sorted by office id.
    pub sources: Vec<Source>,
    /// Every entry, sorted by year, office, account number, month.
    pub entries: Vec<MergedEntry>,
    /// Net income and covered months per year present in `entries`.
    pub years: Vec<YearSummary>,
    /// IV cases, sorted by office and decision number.
    pub iv_cases: Vec<IvCase>,
    /// Years between the first and last with zero net income and no care credit.
    pub gaps: Vec<u16>,
    /// What the merge could not reconcile: kept visible, never dropped.
    pub conflicts: Vec<Conflict>,
    /// How the query was planned, when `[routing]` is configured (set by the fan-out).
    pub routing: Option<crate::model::RoutingReport>,
}

impl ConsolidatedAccount {
    /// About how many bytes the account holds in memory (its vectors and their strings;
    /// allocator slack not counted): what the account cache weighs.
    pub fn approximate_bytes(&self) -> u64 {
        use std::mem::size_of;
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let entries: usize = self
            .entries
            .iter()
            .map(|m| {
                size_of::<MergedEntry>() + m.entry.account_number.len() + text(&m.entry.employer)
            })
            .sum();
        let sources: usize = self
            .sources
            .iter()
            .map(|s| size_of::<Source>() + s.name.len() + s.status.detail().map_or(0, str::len))
            .sum();
        let cases: usize = self
            .iv_cases
            .iter()
            .map(|c| size_of::<IvCase>() + c.decision_number.len())
            .sum();
        let conflicts: usize = self
            .conflicts
            .iter()
            .map(|c| {
                size_of::<Conflict>()
                    + match c {
                        Conflict::UnmatchedReversal { account_number, .. }
                        | Conflict::Duplicate { account_number, .. } => account_number.len(),
                    }
            })
            .sum();
        let fixed = size_of::<ConsolidatedAccount>()
            + self.years.len() * size_of::<YearSummary>()
            + self.gaps.len() * size_of::<u16>();
        (fixed + entries + sources + cases + conflicts) as u64
    }
}

/// The status line of one office.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The office.
    pub office: OfficeId,
    /// Its display name.
    pub name: String,
    /// What happened.
    pub status: SourceStatus,
    /// How many entries it contributed (within the year range).
    pub entries: usize,
    /// How long it took.
    pub latency: Duration,
}

/// An entry of the consolidated account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergedEntry {
    /// The entry as its office reported it.
    pub entry: IkEntry,
    /// True when a reversal of the same office cancels this entry.
    pub cancelled: bool,
}

/// The summary of one contribution year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YearSummary {
    /// The year.
    pub year: u16,
    /// Net income: the sum of all the year's entries, reversals included.
    pub income: Money,
    /// Distinct calendar months covered by entries neither reversed nor reversals.
    pub months: u8,
}

/// Something in the offices' data that the merge reports rather than hides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// A reversal with no matching entry to cancel; it stays in `entries` and the sums.
    UnmatchedReversal {
        /// Office that booked the reversal.
        office: OfficeId,
        /// Account number of the reversal.
        account_number: String,
        /// Year of the reversal.
        year: u16,
        /// Its (negative) amount.
        income: Money,
    },
    /// The same entry was reported more than once; it is counted once.
    Duplicate {
        /// Office of the entry.
        office: OfficeId,
        /// Account number of the entry.
        account_number: String,
        /// Year of the entry.
        year: u16,
        /// How many extra copies were dropped.
        extra: usize,
    },
}

/// Merges the outcomes of one query into the consolidated account.
///
/// Entries outside `range` are left out. Identical entries count once (reported as a
/// [`Conflict::Duplicate`]); each reversal cancels at most one entry of the same office,
/// account, year, genre and opposite amount (same months preferred); an unmatched reversal
/// is kept and reported.
pub fn merge(vn: Vn, outcomes: Vec<OfficeOutcome>, range: YearRange) -> ConsolidatedAccount {
    let mut sources = Vec::with_capacity(outcomes.len());
    let mut all_entries = Vec::new();
    let mut iv_cases = Vec::new();
    for outcome in outcomes {
        let kept: Vec<IkEntry> = outcome
            .entries
            .into_iter()
            .filter(|e| range.contains(e.year))
            .collect();
        sources.push(Source {
            office: outcome.office,
            name: outcome.name,
            status: outcome.status,
            entries: kept.len(),
            latency: outcome.latency,
        });
        all_entries.extend(kept);
        iv_cases.extend(outcome.iv_cases);
    }
    sources.sort_by(|a, b| a.office.cmp(&b.office).then_with(|| a.name.cmp(&b.name)));
    iv_cases.sort();
    iv_cases.dedup();

    let mut conflicts = Vec::new();
    let entries = dedup_entries(all_entries, &mut conflicts);
    let entries = match_reversals(entries, &mut conflicts);
    let (years, gaps) = summarize(&entries);
    ConsolidatedAccount {
        vn,
        complete: sources.iter().all(|s| s.status.is_answer()),
        sources,
        entries,
        years,
        iv_cases,
        gaps,
        conflicts,
        routing: None,
    }
}

fn dedup_entries(mut entries: Vec<IkEntry>, conflicts: &mut Vec<Conflict>) -> Vec<IkEntry> {
    entries.sort();
    let mut out: Vec<IkEntry> = Vec::with_capacity(entries.len());
    for e in entries {
        match out.last() {
            Some(last) if *last == e => match conflicts.last_mut() {
                Some(Conflict::Duplicate {
                    office,
                    account_number,
                    year,
                    extra,
                }) if *office == e.office
                    && *account_number == e.account_number
                    && *year == e.year =>
                {
                    *extra += 1;
                }
                _ => conflicts.push(Conflict::Duplicate {
                    office: e.office,
                    account_number: e.account_number.clone(),
                    year: e.year,
                    extra: 1,
                }),
            },
            _ => out.push(e),
        }
    }
    out
}

/// Marks the entry each reversal cancels. Entries come sorted and deduplicated; reversals
/// are taken in that order and each cancels the first (in that order) live entry of the
/// same office, account, year, genre and opposite amount, preferring one over the same
/// months. Entries are indexed by that key, so this is O(n) expected (after the sort),
/// not one scan of the account per reversal: an office sending 12,000 reversals that
/// cancel nothing must not cost the gateway seconds of CPU (issue #12).
fn match_reversals(entries: Vec<IkEntry>, conflicts: &mut Vec<Conflict>) -> Vec<MergedEntry> {
    let mut cancelled = vec![false; entries.len()];
    if !entries.iter().any(|e| e.income_code.is_reversal()) {
        return merged_entries(entries, cancelled);
    }
    let mut groups: HashMap<ReversalKey<'_>, Candidates> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if !e.income_code.is_reversal() {
            let key = ReversalKey::of(e, e.income);
            groups.entry(key).or_default().push(i, months(e));
        }
    }
    let mut unmatched = Vec::new();
    for (r, rev) in entries.iter().enumerate() {
        if !rev.income_code.is_reversal() {
            continue;
        }
        let found = groups
            .get_mut(&ReversalKey::of(rev, -rev.income))
            .and_then(|g| g.first_live(&cancelled, months(rev)));
        match found {
            Some(c) => cancelled[c] = true,
            None => unmatched.push(r),
        }
    }
    drop(groups);
    for r in unmatched {
        let e = &entries[r];
        conflicts.push(Conflict::UnmatchedReversal {
            office: e.office,
            account_number: e.account_number.clone(),
            year: e.year,
            income: e.income,
        });
    }
    merged_entries(entries, cancelled)
}

fn merged_entries(entries: Vec<IkEntry>, cancelled: Vec<bool>) -> Vec<MergedEntry> {
    entries
        .into_iter()
        .zip(cancelled)
        .map(|(entry, cancelled)| MergedEntry { entry, cancelled })
        .collect()
}

fn months(e: &IkEntry) -> (Month, Month) {
    (e.month_from, e.month_to)
}

/// What a reversal and the entry it cancels share; `amount` is the entry's (the
/// reversal looks itself up with its negated amount).
#[derive(Debug, Hash, PartialEq, Eq)]
struct ReversalKey<'a> {
    office: OfficeId,
    account: &'a str,
    year: u16,
    genre: u8,
    amount: Money,
}

impl<'a> ReversalKey<'a> {
    fn of(e: &'a IkEntry, amount: Money) -> ReversalKey<'a> {
        ReversalKey {
            office: e.office,
            account: &e.account_number,
            year: e.year,
            genre: e.income_code.genre_digit(),
            amount,
        }
    }
}

/// The entries one key can cancel, in sorted order: all of them, and by months. A key
/// has few distinct month spans (at most 13 × 13), so they are searched linearly.
#[derive(Debug, Default)]
struct Candidates {
    all: Queue,
    by_months: Vec<((Month, Month), Queue)>,
}

impl Candidates {
    fn push(&mut self, i: usize, months: (Month, Month)) {
        self.all.0.push(i);
        match self.by_months.iter_mut().find(|(m, _)| *m == months) {
            Some((_, q)) => q.0.push(i),
            None => self.by_months.push((months, Queue(vec![i], 0))),
        }
    }

    /// The first live candidate over `months`, else the first live one at all.
    fn first_live(&mut self, cancelled: &[bool], months: (Month, Month)) -> Option<usize> {
        let same = self
            .by_months
            .iter_mut()
            .find(|(m, _)| *m == months)
            .and_then(|(_, q)| q.first_live(cancelled));
        same.or_else(|| self.all.first_live(cancelled))
    }
}

/// Ascending entry indices and a cursor before which every index is cancelled. Entries
/// are only ever cancelled, never revived, so the cursor only moves forward.
#[derive(Debug, Default)]
struct Queue(Vec<usize>, usize);

impl Queue {
    fn first_live(&mut self, cancelled: &[bool]) -> Option<usize> {
        while self.0.get(self.1).is_some_and(|&i| cancelled[i]) {
            self.1 += 1;
        }
        self.0.get(self.1).copied()
    }
}

#[derive(Default)]
struct YearAcc {
    income: Money,
    months: u16,
    care_credit: bool,
}

fn summarize(entries: &[MergedEntry]) -> (Vec<YearSummary>, Vec<u16>) {
    let mut years: BTreeMap<u16, YearAcc> = BTreeMap::new();
    for m in entries {
        let e = &m.entry;
        let acc = years.entry(e.year).or_default();
        acc.income = acc.income.saturating_add(e.income);
        if e.income_code.is_reversal() || m.cancelled {
            continue;
        }
        for month in e.months() {
            acc.months |= 1 << month;
        }
        if e.income_code.genre() == Genre::CareCreditOrVoluntary {
            acc.care_credit = true;
        }
    }
    let summaries = years
        .iter()
        .map(|(&year, acc)| YearSummary {
            year,
            income: acc.income,
            months: acc.months.count_ones() as u8,
        })
        .collect();
    let mut gaps = Vec::new();
    if let (Some(&first), Some(&last)) = (years.keys().next(), years.keys().next_back()) {
        for year in first..=last {
            let empty = years
                .get(&year)
                .is_none_or(|acc| acc.income == Money::ZERO && !acc.care_credit);
            if empty {
                gaps.push(year);
            }
        }
    }
    (summaries, gaps)
}
