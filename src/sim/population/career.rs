//! A working life: spells at funds, turned into yearly IK entries with their mid-year
//! changes, daily allowances, reversals with re-postings, care credits and splitting.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{SimOffice, account_number, booking, code, entry};
use crate::model::{IkEntry, Money, Month};
use crate::sim::names;

/// The first contribution year of the AHV.
const FIRST_YEAR: u16 = 1948;
/// Care credits exist since the 10th AHV revision.
const CARE_CREDITS_SINCE: u16 = 1997;
/// Plausible yearly incomes, in centimes.
const MIN_YEAR: i64 = chf(10_000);
const MAX_YEAR: i64 = chf(180_000);

/// Francs → centimes.
const fn chf(francs: i64) -> i64 {
    francs * 100
}

/// The fixed facts a working life is drawn from.
pub(super) struct Life<'a> {
    pub(super) birth_year: u16,
    pub(super) reference_year: u16,
    pub(super) surname: &'a str,
    /// The cantonal fund of the canton of residence, when the person has an account there.
    pub(super) home: Option<&'a SimOffice>,
}

/// An uninterrupted stretch at one fund with one employer (or self-employed).
struct Spell<'a> {
    fund: &'a SimOffice,
    account: String,
    employer: String,
    self_employed: bool,
    /// First month, as `year * 12 + month - 1`.
    start: u32,
    /// Month after the last one, same scale.
    end: u32,
    /// Yearly income at the start, in centimes.
    base: i64,
}

impl Life<'_> {
    /// Every IK entry of the life, at `funds` (which may be empty).
    pub(super) fn entries(&self, rng: &mut ChaCha8Rng, funds: &[&SimOffice]) -> Vec<IkEntry> {
        let mut out = Vec::new();
        let Some((start, end)) = self.working_months(rng) else {
            return out;
        };
        if funds.is_empty() {
            return out;
        }
        let lag = rng.random_range(1..=3u16);
        let spells = self.spells(rng, funds, start, end);
        for (i, s) in spells.iter().enumerate() {
            self.book_spell(rng, s, lag, &mut out);
            if let Some(next) = spells.get(i + 1) {
                book_gap(rng, s, next.start, &mut out);
            }
        }
        self.care_credits(rng, &mut out);
        self.splitting(rng, funds, start, end, &mut out);
        out
    }

    /// First working month and the month after the last booked one, if any.
    fn working_months(&self, rng: &mut ChaCha8Rng) -> Option<(u32, u32)> {
        // Everyone old enough has worked a little before the last booked year.
        let start_year = (self.birth_year + rng.random_range(17..=25))
            .min(self.reference_year.saturating_sub(2))
            .max(self.birth_year + 17)
            .max(FIRST_YEAR);
        let retirement = self.birth_year + 65;
        let last_year = retirement.min(self.reference_year.checked_sub(1)?);
        let start = u32::from(start_year) * 12 + rng.random_range(0..12);
        let end = if retirement <= last_year {
            u32::from(retirement) * 12 + rng.random_range(1..=12)
        } else {
            (u32::from(last_year) + 1) * 12
        };
        (end > start).then_some((start, end))
    }

    fn spells<'f>(
        &self,
        rng: &mut ChaCha8Rng,
        funds: &[&'f SimOffice],
        start: u32,
        end: u32,
    ) -> Vec<Spell<'f>> {
        let wanted = funds.len() + rng.random_range(0..=2);
        let count = wanted.min(((end - start) / 6).max(1) as usize);
        let mut bounds: Vec<u32> = (1..count)
            .map(|_| rng.random_range(start + 1..end))
            .collect();
        bounds.sort_unstable();
        bounds.dedup();
        bounds.insert(0, start);
        bounds.push(end);
        let mut spells = Vec::with_capacity(bounds.len());
        for (i, w) in bounds.windows(2).enumerate() {
            let fund = funds.get(i).copied().unwrap_or_else(|| {
                funds[rng.random_range(0..funds.len())] // funds is not empty
            });
            let gap = if i > 0 && rng.random_bool(0.12) {
                rng.random_range(1..=6)
            } else {
                0
            };
            let first = if w[0] + gap < w[1] { w[0] + gap } else { w[0] };
            let self_employed = i > 0 && rng.random_bool(0.10);
            spells.push(self.spell(rng, fund, self_employed, first, w[1]));
        }
        spells
    }

    fn spell<'f>(
        &self,
        rng: &mut ChaCha8Rng,
        fund: &'f SimOffice,
        self_employed: bool,
        start: u32,
        end: u32,
    ) -> Spell<'f> {
        let age = i64::from((start / 12) as u16 - self.birth_year);
        let francs = if self_employed {
            rng.random_range(20_000..=150_000)
        } else if age < 20 {
            rng.random_range(10_000..=20_000)
        } else {
            let top = (60_000 + (age - 20) * 2_500).min(170_000);
            rng.random_range(35_000..=top)
        };
        let employer = if self_employed {
            names::own_business(rng, self.surname)
        } else {
            names::employer(rng)
        };
        Spell {
            fund,
            account: account_number(rng, fund),
            employer,
            self_employed,
            start,
            end,
            base: chf(francs),
        }
    }

    fn book_spell(&self, rng: &mut ChaCha8Rng, s: &Spell<'_>, lag: u16, out: &mut Vec<IkEntry>) {
        let first_year = s.start / 12;
        for y in first_year..=(s.end - 1) / 12 {
            let year = y as u16;
            if s.self_employed && year + lag >= self.reference_year {
                continue;
            }
            let from = s.start.max(y * 12) % 12 + 1;
            let to = (s.end - 1).min(y * 12 + 11) % 12 + 1;
            let months = if year < 1985 && rng.random_bool(0.03) {
                (Month::Unknown, Month::Unknown)
            } else {
                (Month::Known(from as u8), Month::Known(to as u8))
            };
            let yearly = s.base * (1000 + 15 * i64::from(y - first_year)) / 1000;
            let amount = yearly.clamp(MIN_YEAR, MAX_YEAR) * i64::from(to + 1 - from) / 12;
            let mut e = entry(s.fund, &s.account, year, months);
            let genre = match (s.self_employed, rng.random_bool(0.2)) {
                (true, true) => 9,
                (true, false) => 3,
                _ => 1,
            };
            e.income_code = code(0, genre);
            e.income = Money(amount - rng.random_range(0..100));
            e.employer = Some(s.employer.clone());
            e.booking_date = booking(rng, s.fund, year);
            let p = if s.self_employed { 0.05 } else { 0.01 };
            post(rng, s.fund, e, p, out);
            if !s.self_employed && rng.random_bool(0.015) {
                out.push(allowance(rng, s, year));
            }
        }
    }

    /// A run of care credits (genre 0, half share, months unknown) at the cantonal fund.
    fn care_credits(&self, rng: &mut ChaCha8Rng, out: &mut Vec<IkEntry>) {
        let Some(home) = self.home else { return };
        let first = (self.birth_year + 25).max(CARE_CREDITS_SINCE);
        if first >= self.reference_year || !rng.random_bool(0.15) {
            return;
        }
        let start = rng.random_range(first..self.reference_year);
        let stop = (start + rng.random_range(0..6)).min(self.reference_year - 1);
        for year in start..=stop {
            let mut e = entry(home, "9000.000", year, (Month::Unknown, Month::Unknown));
            e.income_code = code(0, 0);
            e.care_credit_fraction = Some(50);
            e.booking_date = booking(rng, home, year);
            out.push(e);
        }
    }

    /// Divorce splitting: compensating entries (genre 8) for the marriage years.
    fn splitting(
        &self,
        rng: &mut ChaCha8Rng,
        funds: &[&SimOffice],
        start: u32,
        end: u32,
        out: &mut Vec<IkEntry>,
    ) {
        let (first, last) = ((start / 12) as u16, ((end - 1) / 12) as u16);
        if last < first + 8 || !rng.random_bool(0.06) {
            return;
        }
        let Some(office) = self.home.or_else(|| funds.first().copied()) else {
            return;
        };
        let married = rng.random_range(first..=last - 3);
        let divorced = (married + rng.random_range(3..=12)).min(last);
        for year in married..=divorced {
            let mut e = entry(
                office,
                "8000.000",
                year,
                (Month::Known(1), Month::Known(12)),
            );
            e.income_code = code(0, 8);
            e.income = Money(rng.random_range(chf(1_000)..=chf(40_000)));
            e.booking_date = booking(rng, office, divorced);
            out.push(e);
        }
    }
}

/// Pushes `e`; with probability `p` also its reversal and a corrected re-posting.
fn post(rng: &mut ChaCha8Rng, office: &SimOffice, e: IkEntry, p: f64, out: &mut Vec<IkEntry>) {
    if !rng.random_bool(p) {
        out.push(e);
        return;
    }
    let genre = e.income_code.genre_digit();
    let mut reversal = e.clone();
    reversal.income_code = code(1, genre);
    reversal.income = -e.income;
    reversal.booking_date = booking(rng, office, e.year + 1);
    let mut corrected = e.clone();
    let delta = rng.random_range(chf(1)..=chf(5_000));
    let up = (rng.random_bool(0.5) || e.income.0 <= delta) && e.income.0 + delta <= MAX_YEAR;
    corrected.income = Money(if up {
        e.income.0 + delta
    } else {
        e.income.0 - delta
    });
    corrected.booking_date = reversal.booking_date;
    out.extend([e, reversal, corrected]);
}

/// A daily allowance (genre 2: EO/APG) of one or two months during employment.
fn allowance(rng: &mut ChaCha8Rng, s: &Spell<'_>, year: u16) -> IkEntry {
    let m = rng.random_range(1..=11u8);
    let mut e = entry(
        s.fund,
        &s.account,
        year,
        (Month::Known(m), Month::Known(m + 1)),
    );
    e.income_code = code(0, 2);
    e.income = Money(rng.random_range(chf(2_000)..=chf(16_500)));
    e.employer = Some(names::allowance_payer(rng, false));
    e.booking_date = booking(rng, s.fund, year);
    e
}

/// Unemployment between two spells: ALV daily allowances (genre 2) per year of the gap.
fn book_gap(rng: &mut ChaCha8Rng, s: &Spell<'_>, next_start: u32, out: &mut Vec<IkEntry>) {
    if s.self_employed || next_start <= s.end {
        return;
    }
    let account = account_number(rng, s.fund);
    let payer = names::allowance_payer(rng, true);
    for y in s.end / 12..=(next_start - 1) / 12 {
        let from = s.end.max(y * 12) % 12 + 1;
        let to = (next_start - 1).min(y * 12 + 11) % 12 + 1;
        let months = (Month::Known(from as u8), Month::Known(to as u8));
        let mut e = entry(s.fund, &account, y as u16, months);
        e.income_code = code(0, 2);
        let amount = s.base.clamp(MIN_YEAR, MAX_YEAR) * 7 / 10 * i64::from(to + 1 - from) / 12;
        e.income = Money(amount);
        e.employer = Some(payer.clone());
        e.booking_date = booking(rng, s.fund, y as u16);
        out.push(e);
    }
}
