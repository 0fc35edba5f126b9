//! The synthetic population: one deterministic person per AHV number, with a plausible
//! working life booked at the federation's funds and, for some, IV cases.
//!
//! Everything is drawn from a ChaCha8 stream seeded by the person's 13 digits, after the
//! offices are sorted by id: same number and federation, same person.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::names;
use crate::merge::{ConsolidatedAccount, YearRange, merge};
use crate::model::{
    Canton, Date, IkEntry, IncomeCode, IvCase, Money, Month, OfficeId, OfficeKind, OfficeOutcome,
    SourceStatus, Vn,
};

mod career;
mod iv;

/// What the simulator knows of one office.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOffice {
    /// Fund or IV-office number and agency.
    pub id: OfficeId,
    /// Display name (also the `manufacturer` of its answers).
    pub name: String,
    /// Cantonal, federal, association fund or IV office.
    pub kind: OfficeKind,
    /// Its canton, when it has one (associations have none).
    pub canton: Option<Canton>,
    /// The dialect it speaks: `ech-ik`, `vendor-ik`, `ech-iv`.
    pub dialect: String,
}

/// One synthetic person: deterministic for a given Vn and federation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The AHV number.
    pub vn: Vn,
    /// Family name.
    pub official_name: String,
    /// First name.
    pub first_name: String,
    /// Year of birth, 1955–2003.
    pub birth_year: u16,
    /// Canton of residence (decides the cantonal fund and the IV office).
    pub canton: Canton,
    /// IK entries per fund; only funds holding at least one entry appear.
    pub accounts: BTreeMap<OfficeId, Vec<IkEntry>>,
    /// IV cases, all at the IV office of the canton of residence.
    pub iv_cases: Vec<IvCase>,
}

impl Person {
    /// eCH-0044 sex code: 1 male, 2 female, 3 unknown.
    pub fn sex(&self) -> u8 {
        names::sex_of(&self.first_name)
    }

    /// A date of birth in `birth_year`, derived from the AHV number.
    pub fn date_of_birth(&self) -> Option<Date> {
        let day = u16::try_from(self.vn.serial() % 365 + 1).unwrap_or(1);
        Date::from_ordinal_date(i32::from(self.birth_year), day).ok()
    }
}

/// The dialect that has no booking date: entries of its funds carry none.
const NO_BOOKING_DATE_DIALECT: &str = "vendor-ik";

/// Builds the person of `vn` in the federation `offices` as known in `reference_year`.
pub fn person(vn: Vn, offices: &[SimOffice], reference_year: u16) -> Person {
    let mut rng = rng_for(vn);
    let mut sorted: Vec<&SimOffice> = offices.iter().collect();
    sorted.sort_by_key(|o| o.id);
    let (official_name, first_name) = names::person_name(&mut rng);
    let birth_year = rng.random_range(1955..=2003);
    let canton = names::canton(&mut rng);
    let funds = choose_funds(&mut rng, &sorted, canton);
    let life = career::Life {
        birth_year,
        reference_year,
        surname: &official_name,
        home: home_fund(&funds, canton),
    };
    let entries = life.entries(&mut rng, &funds);
    let mut accounts: BTreeMap<OfficeId, Vec<IkEntry>> = BTreeMap::new();
    for e in entries {
        accounts.entry(e.office).or_default().push(e);
    }
    for list in accounts.values_mut() {
        list.sort_by_key(|e| e.year); // stable: a reversal stays after its entry
    }
    let iv_cases = iv::cases(&mut rng, &sorted, canton, birth_year, reference_year);
    Person {
        vn,
        official_name,
        first_name,
        birth_year,
        canton,
        accounts,
        iv_cases,
    }
}

/// The consolidated account of `vn` computed straight from the population, without XML.
pub fn truth(
    vn: Vn,
    offices: &[SimOffice],
    reference_year: u16,
    range: YearRange,
) -> ConsolidatedAccount {
    truth_among(vn, offices, reference_year, range, |_| true)
}

/// The consolidated account of `vn` as a gateway asking only the offices `asked` accepts
/// would see it (register routing): the person is drawn from the whole federation
/// `offices`, `sources` lists only the offices asked.
pub fn truth_among(
    vn: Vn,
    offices: &[SimOffice],
    reference_year: u16,
    range: YearRange,
    asked: impl Fn(OfficeId) -> bool,
) -> ConsolidatedAccount {
    let p = person(vn, offices, reference_year);
    let outcomes = offices
        .iter()
        .filter(|o| asked(o.id))
        .map(|o| {
            let entries = p.accounts.get(&o.id).cloned().unwrap_or_default();
            let cases: Vec<IvCase> = p
                .iv_cases
                .iter()
                .filter(|c| c.office == o.id)
                .cloned()
                .collect();
            let status = if entries.is_empty() && cases.is_empty() {
                SourceStatus::NoAccount
            } else {
                SourceStatus::Ok
            };
            let mut out = OfficeOutcome::failed(o.id, &o.name, status, Duration::ZERO);
            out.entries = entries;
            out.iv_cases = cases;
            out
        })
        .collect();
    merge(vn, outcomes, range)
}

fn rng_for(vn: Vn) -> ChaCha8Rng {
    let number = vn
        .digits()
        .bytes()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    ChaCha8Rng::seed_from_u64(number ^ 0x6775_6963_6865_7421)
}

/// 1–6 IK-holding funds: the cantonal fund of the canton (usually), then mostly
/// association funds, sometimes another cantonal or a federal fund.
fn choose_funds<'a>(
    rng: &mut ChaCha8Rng,
    sorted: &[&'a SimOffice],
    canton: Canton,
) -> Vec<&'a SimOffice> {
    let wanted = *[1usize, 1, 1, 2, 2, 2, 3, 3, 4, 5, 6]
        .choose(rng)
        .unwrap_or(&1);
    let ik: Vec<&SimOffice> = sorted
        .iter()
        .copied()
        .filter(|o| o.kind.holds_ik())
        .collect();
    let is_home = |o: &SimOffice| o.kind == OfficeKind::Cantonal && o.canton == Some(canton);
    let mut chosen: Vec<&SimOffice> = Vec::new();
    if let Some(home) = ik.iter().find(|o| is_home(o))
        && rng.random_bool(0.85)
    {
        chosen.push(home);
    }
    let (assoc, other): (Vec<&SimOffice>, Vec<&SimOffice>) = ik
        .iter()
        .copied()
        .partition(|o| o.kind == OfficeKind::Association);
    while chosen.len() < wanted {
        let pool = if rng.random_bool(0.7) { &assoc } else { &other };
        let free: Vec<&SimOffice> = pool
            .iter()
            .chain(ik.iter())
            .copied()
            .filter(|o| !chosen.iter().any(|c| c.id == o.id))
            .collect();
        // Prefer the drawn pool; fall back to any IK fund left.
        let from_pool: Vec<&SimOffice> = free
            .iter()
            .copied()
            .filter(|o| pool.iter().any(|p| p.id == o.id))
            .collect();
        let pick = from_pool.choose(rng).or_else(|| free.choose(rng)).copied();
        match pick {
            Some(o) => chosen.push(o),
            None => break,
        }
    }
    chosen.shuffle(rng);
    chosen
}

fn home_fund<'a>(funds: &[&'a SimOffice], canton: Canton) -> Option<&'a SimOffice> {
    funds
        .iter()
        .copied()
        .find(|o| o.kind == OfficeKind::Cantonal && o.canton == Some(canton))
}

/// A normal entry (reversal digit 0) of `genre` over `months` of `year`.
fn entry(office: &SimOffice, account: &str, year: u16, months: (Month, Month)) -> IkEntry {
    IkEntry {
        year,
        office: office.id,
        account_number: account.to_owned(),
        month_from: months.0,
        month_to: months.1,
        income_code: code(0, 1),
        income: Money::ZERO,
        care_credit_fraction: None,
        employer: None,
        booking_date: None,
    }
}

/// The income code of two digits 0–9 (callers pass constants).
fn code(reversal: u8, genre: u8) -> IncomeCode {
    IncomeCode::new(reversal % 10, genre % 10).expect("both digits are 0–9")
}

/// A booking date in the year after `year`, unless the office's dialect has none.
fn booking(rng: &mut ChaCha8Rng, office: &SimOffice, year: u16) -> Option<Date> {
    if office.dialect == NO_BOOKING_DATE_DIALECT || rng.random_bool(0.2) {
        return None;
    }
    let month = time::Month::try_from(rng.random_range(1..=10u8)).ok()?;
    Date::from_calendar_date(i32::from(year) + 1, month, rng.random_range(1..=28)).ok()
}

/// An employer account number in the office's style (≤ 14 characters).
fn account_number(rng: &mut ChaCha8Rng, office: &SimOffice) -> String {
    if office.dialect == NO_BOOKING_DATE_DIALECT {
        format!(
            "{:02}.{}.{:05}",
            office.id.number % 100,
            rng.random_range(1..=9),
            rng.random_range(0..100_000)
        )
    } else {
        format!(
            "{:04}.{:03}",
            rng.random_range(1000..=8999),
            rng.random_range(0..1000)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office(number: u16, kind: OfficeKind, canton: &str, dialect: &str) -> SimOffice {
        SimOffice {
            id: OfficeId::new(number, 0).expect("id"),
            name: format!("Office {number}"),
            kind,
            canton: canton.parse().ok(),
            dialect: dialect.into(),
        }
    }

    fn offices() -> Vec<SimOffice> {
        vec![
            office(1, OfficeKind::Cantonal, "ZH", "ech-ik"),
            office(25, OfficeKind::Cantonal, "GE", "vendor-ik"),
            office(66, OfficeKind::Association, "", "vendor-ik"),
            office(28, OfficeKind::Association, "", "ech-ik"),
            office(301, OfficeKind::IvOffice, "ZH", "ech-iv"),
            office(325, OfficeKind::IvOffice, "GE", "ech-iv"),
        ]
    }

    #[test]
    fn deterministic_and_order_independent() {
        let list = offices();
        let mut shuffled = list.clone();
        shuffled.rotate_left(2);
        for serial in 0..50 {
            let vn = Vn::from_serial(serial * 1_000_003);
            let a = person(vn, &list, 2026);
            assert_eq!(a, person(vn, &list, 2026));
            assert_eq!(a, person(vn, &shuffled, 2026));
        }
    }

    #[test]
    fn only_offices_of_the_federation_and_no_booking_date_for_the_vendor() {
        let list = offices();
        for serial in 0..200 {
            let p = person(Vn::from_serial(serial * 7_777), &list, 2026);
            for (id, entries) in &p.accounts {
                let o = list.iter().find(|o| o.id == *id).expect("known office");
                assert!(o.kind.holds_ik());
                if o.dialect == NO_BOOKING_DATE_DIALECT {
                    assert!(entries.iter().all(|e| e.booking_date.is_none()));
                }
            }
        }
        let p = person(Vn::from_serial(5), &[], 2026);
        assert!(p.accounts.is_empty() && p.iv_cases.is_empty());
    }

    #[test]
    fn truth_lists_every_office() {
        let list = offices();
        let vn = Vn::from_serial(31_337);
        let t = truth(vn, &list, 2026, YearRange::default());
        assert_eq!(t.sources.len(), list.len());
        assert!(t.complete);
        let p = person(vn, &list, 2026);
        let ok = t.sources.iter().filter(|s| s.status == SourceStatus::Ok);
        assert_eq!(
            ok.count(),
            p.accounts.len() + usize::from(!p.iv_cases.is_empty())
        );
    }
}
