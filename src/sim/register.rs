//! The central account register as the simulator plays it (dialect `ech-register`).
//!
//! The truth of who holds what is the synthetic population: every fund where a person has
//! IK entries keeps an account, and the IV office where they have cases keeps a file
//! ([`holdings`]). The register's answer ([`register_record`]) is that truth seen through
//! the register's lag ([`RegisterLag`], all knobs 0 by default = a complete register):
//!
//! - `lag_days`: the register is `asOf` = today − `lag_days`; an account opened (or an IV
//!   file started) after `asOf` is missing;
//! - `missing_newest_share`: this share of persons lacks its newest account (the fund has
//!   not reported it yet);
//! - `stale_closed_share`: this share of persons has one more account listed, closed, at a
//!   fund that holds nothing for them any more (that fund answers `no_account`).
//!
//! Which persons are hit is drawn from a stream seeded by the AHV number (not the one the
//! population is drawn from): the same number gives the same register answer in every
//! run, and the population itself does not change with the knobs.
//!
//! [`render_register`] writes the answer in the style of the contract examples
//! `register-response.xml` / `register-response-unknown.xml`; the simulator serves it over
//! mutual TLS with the certificate `urn:guichet:register:zas` (participant `T6-000999-1`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::OffsetDateTime;

use super::population::{Person, SimOffice};
use super::render::{RenderError, SimRequest, raw, text};
use crate::model::{Affiliation, IvFile, RegisterAccount, RegisterAnswer, YearMonth};
use crate::model::{Date, IkEntry, Month, OfficeId, Vn};

/// The register's name in its certificate: `urn:guichet:register:zas`.
pub const REGISTER_NAME: &str = "zas";
/// The register's sedex participant id in the development federation.
pub const REGISTER_PARTICIPANT: &str = "T6-000999-1";
/// The content namespace of the register's messages.
pub const REGISTER_NS: &str = "urn:guichet:xmlns:account-register:1";

/// How far the simulated register lags behind the offices (all 0: complete).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RegisterLag {
    /// `asOf` is this many days before today: accounts opened later are missing.
    pub lag_days: u32,
    /// Share (0–1) of persons whose newest account the register does not list yet.
    pub missing_newest_share: f64,
    /// Share (0–1) of persons for whom the register still lists an account a fund closed.
    pub stale_closed_share: f64,
}

impl RegisterLag {
    /// A complete register: it names exactly the offices that hold data.
    pub const COMPLETE: RegisterLag = RegisterLag {
        lag_days: 0,
        missing_newest_share: 0.0,
        stale_closed_share: 0.0,
    };
}

/// One account as the register lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredAccount {
    /// The fund (and agency) keeping the account.
    pub office: OfficeId,
    /// The first day of the month the account was opened.
    pub opened: Date,
    /// The last contribution year the fund reported.
    pub last_reported_year: Option<u16>,
    /// Whether the person is affiliated there now.
    pub current: bool,
    /// Genre digit of the affiliation: 1 employee, 3 self-employed, 4 not employed.
    pub genre: u8,
    /// First day of the affiliation.
    pub since: Date,
    /// Last day of the affiliation, when it ended.
    pub until: Option<Date>,
}

/// One IV file as the register lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredIvFile {
    /// The IV office (agency 0).
    pub office: OfficeId,
    /// When the file was opened.
    pub since: Date,
}

/// What the register says (or, for [`holdings`], would say if complete) about a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRecord {
    /// The person.
    pub vn: Vn,
    /// The day up to which the offices' reports are in.
    pub as_of: Date,
    /// Accounts, by office id.
    pub accounts: Vec<RegisteredAccount>,
    /// IV files, by office id.
    pub iv_files: Vec<RegisteredIvFile>,
}

impl RegisterRecord {
    /// Every office named (funds and IV offices).
    pub fn offices(&self) -> BTreeSet<OfficeId> {
        self.accounts
            .iter()
            .map(|a| a.office)
            .chain(self.iv_files.iter().map(|f| f.office))
            .collect()
    }

    /// Nothing known: the register answers "person unknown" (action 8).
    pub fn is_unknown(&self) -> bool {
        self.accounts.is_empty() && self.iv_files.is_empty()
    }

    /// The canonical form the gateway should read from this record's rendered answer
    /// (what `mappings/ech-register.toml` must produce from [`render_register`]).
    pub fn to_answer(&self) -> RegisterAnswer {
        let mut answer = RegisterAnswer {
            as_of: Some(self.as_of),
            accounts: self
                .accounts
                .iter()
                .map(|a| RegisterAccount {
                    office: a.office,
                    opened: YearMonth::new(
                        u16::try_from(a.opened.year()).unwrap_or(0),
                        u8::from(a.opened.month()),
                    ),
                    last_reported_year: a.last_reported_year,
                    affiliation: Some(Affiliation {
                        current: a.current,
                        genre: a.genre,
                        since: a.since,
                        until: a.until,
                    }),
                })
                .collect(),
            iv_files: self
                .iv_files
                .iter()
                .map(|f| IvFile {
                    office: f.office,
                    since: Some(f.since),
                })
                .collect(),
            known: !self.is_unknown(),
        };
        answer.normalize();
        answer
    }
}

/// The day the simulator takes as today for a population of `reference_year`: the real
/// date when it lies in that year, otherwise the year's last day.
pub fn today_for(reference_year: u16) -> Date {
    let now = OffsetDateTime::now_utc().date();
    if now.year() == i32::from(reference_year) {
        return now;
    }
    Date::from_calendar_date(i32::from(reference_year), time::Month::December, 31).unwrap_or(now)
}

/// The truth: every account and IV file `person` has, as a register without lag would
/// list them, `asOf` = `today`. Only offices that hold data for the person appear.
pub fn holdings(person: &Person, reference_year: u16, today: Date) -> RegisterRecord {
    // The current affiliation: the fund of the latest earning entry, for a person still
    // of working age whose last earnings are recent.
    let latest = person
        .accounts
        .iter()
        .flat_map(|(office, entries)| entries.iter().map(move |e| (office, e)))
        .filter(|(_, e)| !e.income_code.is_reversal() && earning_genre(e).is_some())
        .map(|(office, e)| (last_month(e), *office))
        .max();
    let working = person.birth_year + 65 > reference_year.saturating_sub(1);
    let current_fund = latest
        .filter(|((year, _), _)| working && year + 3 >= reference_year)
        .map(|(_, office)| office);
    let accounts = person
        .accounts
        .iter()
        .filter_map(|(office, entries)| {
            let first = entries.iter().min_by_key(|e| first_month(e))?;
            let last = entries.iter().max_by_key(|e| last_month(e))?;
            let (fy, fm) = first_month(first);
            let (ly, lm) = last_month(last);
            let since = first_day(fy, fm)?;
            let current = current_fund == Some(*office);
            let until = if current { None } else { last_day(ly, lm) };
            Some(RegisteredAccount {
                office: *office,
                opened: since,
                last_reported_year: entries.iter().map(|e| e.year).max(),
                current,
                genre: genre_of(entries),
                since,
                until,
            })
        })
        .collect();
    let mut iv: Vec<RegisteredIvFile> = Vec::new();
    for case in &person.iv_cases {
        let since = case
            .decision_number
            .get(3..7)
            .and_then(|y| y.parse::<u16>().ok())
            .and_then(|y| first_day(y, 1))
            .or(case.valid_from)
            .unwrap_or(today);
        match iv.iter_mut().find(|f| f.office == case.office) {
            Some(f) => f.since = f.since.min(since),
            None => iv.push(RegisteredIvFile {
                office: case.office,
                since,
            }),
        }
    }
    iv.sort_by_key(|f| f.office);
    RegisterRecord {
        vn: person.vn,
        as_of: today,
        accounts,
        iv_files: iv,
    }
}

/// What the register with `lag` answers about `person` on `today`. `offices` is the
/// federation (a stale account is listed at one of its funds the person does not hold).
pub fn register_record(
    person: &Person,
    offices: &[SimOffice],
    reference_year: u16,
    today: Date,
    lag: &RegisterLag,
) -> RegisterRecord {
    let mut record = holdings(person, reference_year, today);
    if *lag == RegisterLag::COMPLETE {
        return record;
    }
    let as_of = today
        .checked_sub(time::Duration::days(i64::from(lag.lag_days)))
        .unwrap_or(today);
    record.as_of = as_of;
    record.accounts.retain(|a| a.opened <= as_of);
    record.iv_files.retain(|f| f.since <= as_of);
    let mut rng = lag_rng(person.vn);
    // Both draws are made for everyone, so each share decides independently of the other.
    let missing = rng.random::<f64>() < lag.missing_newest_share;
    let stale = rng.random::<f64>() < lag.stale_closed_share;
    if missing {
        let newest = record
            .accounts
            .iter()
            .enumerate()
            .max_by_key(|(_, a)| (a.opened, a.office))
            .map(|(i, _)| i);
        if let Some(i) = newest {
            record.accounts.remove(i);
        }
    }
    if stale && let Some(account) = stale_account(&mut rng, person, offices, reference_year, as_of)
    {
        record.accounts.push(account);
        record.accounts.sort_by_key(|a| a.office);
    }
    record
}

/// A closed account at a fund of the federation where `person` holds nothing.
fn stale_account(
    rng: &mut ChaCha8Rng,
    person: &Person,
    offices: &[SimOffice],
    reference_year: u16,
    as_of: Date,
) -> Option<RegisteredAccount> {
    let mut free: Vec<&SimOffice> = offices
        .iter()
        .filter(|o| o.kind.holds_ik() && !person.accounts.contains_key(&o.id))
        .collect();
    free.sort_by_key(|o| o.id);
    let office = free.choose(rng)?.id;
    let first = (person.birth_year + 18).max(1948);
    let last = reference_year.saturating_sub(2).max(first);
    let year = rng.random_range(first..=last);
    let since = first_day(year, rng.random_range(1..=12))?.min(as_of);
    let until_year = (year + rng.random_range(0..=3)).min(last);
    let until = last_day(until_year, 12)?;
    Some(RegisteredAccount {
        office,
        opened: since,
        last_reported_year: Some(until_year),
        current: false,
        genre: 1,
        since,
        until: Some(until.max(since)),
    })
}

fn lag_rng(vn: Vn) -> ChaCha8Rng {
    let number = vn
        .digits()
        .bytes()
        .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    ChaCha8Rng::seed_from_u64(number ^ 0x7265_6769_7374_6572) // "register"
}

/// (year, month) an entry starts in; an unknown month counts as January.
fn first_month(e: &IkEntry) -> (u16, u8) {
    match e.month_from {
        Month::Known(m) => (e.year, m),
        Month::Unknown => (e.year, 1),
    }
}

/// (year, month) an entry ends in; an unknown month counts as December.
fn last_month(e: &IkEntry) -> (u16, u8) {
    match e.month_to {
        Month::Known(m) => (e.year, m),
        Month::Unknown => (e.year, 12),
    }
}

fn first_day(year: u16, month: u8) -> Option<Date> {
    let month = time::Month::try_from(month).ok()?;
    Date::from_calendar_date(i32::from(year), month, 1).ok()
}

fn last_day(year: u16, month: u8) -> Option<Date> {
    let month = time::Month::try_from(month).ok()?;
    let days = time::util::days_in_month(month, i32::from(year));
    Date::from_calendar_date(i32::from(year), month, days).ok()
}

/// The affiliation's genre from the account's normal entries: employee (1) if the latest
/// earning entry is employed work, self-employed (3) for genres 3 and 9, otherwise not
/// gainfully employed (4: only care credits, allowances or splitting).
fn genre_of(entries: &[IkEntry]) -> u8 {
    entries
        .iter()
        .filter(|e| !e.income_code.is_reversal())
        .filter_map(|e| Some((last_month(e), earning_genre(e)?)))
        .max()
        .map_or(4, |(_, g)| g)
}

/// The affiliation genre of an earning entry: 1 employed, 3 self-employed (3 and 9).
fn earning_genre(e: &IkEntry) -> Option<u8> {
    match e.income_code.genre_digit() {
        1 => Some(1),
        3 | 9 => Some(3),
        _ => None,
    }
}

/// The register's answer to `request`, in the style of the contract examples: action 6
/// with `account` and `ivFile` elements, or action 8 (person unknown) with neither.
pub fn render_register(
    record: &RegisterRecord,
    request: &SimRequest,
) -> Result<Vec<u8>, RenderError> {
    let date = OffsetDateTime::now_utc()
        .format(super::render::UTC_MILLIS)
        .map_err(|e| RenderError::Clock(e.to_string()))?;
    let mut out = String::with_capacity(1200 + 400 * record.accounts.len());
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<reg:message xmlns:reg=\"{REGISTER_NS}\"\n             \
         xmlns:eCH-0058=\"http://www.ech.ch/xmlns/eCH-0058/5\"\n             \
         xmlns:eCH-0044=\"http://www.ech.ch/xmlns/eCH-0044/4\"\n             \
         minorVersion=\"0\">\n  <reg:header>\n"
    );
    let i = "    ";
    raw(&mut out, i, "eCH-0058:senderId", REGISTER_PARTICIPANT);
    raw(&mut out, i, "eCH-0058:recipientId", super::render::GATEWAY);
    raw(&mut out, i, "eCH-0058:messageId", uuid::Uuid::new_v4());
    if let Some(m) = &request.message_id {
        text(&mut out, i, "eCH-0058:referenceMessageId", m);
    }
    raw(&mut out, i, "eCH-0058:messageType", 2061);
    raw(&mut out, i, "eCH-0058:subMessageType", "000102");
    out.push_str("    <eCH-0058:sendingApplication>\n");
    raw(
        &mut out,
        "      ",
        "eCH-0058:manufacturer",
        "Zentrale Ausgleichsstelle",
    );
    raw(&mut out, "      ", "eCH-0058:product", "guichet-sim");
    raw(
        &mut out,
        "      ",
        "eCH-0058:productVersion",
        env!("CARGO_PKG_VERSION"),
    );
    out.push_str("    </eCH-0058:sendingApplication>\n");
    raw(&mut out, i, "eCH-0058:messageDate", date);
    raw(
        &mut out,
        i,
        "eCH-0058:action",
        if record.is_unknown() { 8 } else { 6 },
    );
    raw(
        &mut out,
        i,
        "eCH-0058:testDeliveryFlag",
        request.test_delivery,
    );
    out.push_str("  </reg:header>\n  <reg:content>\n    <reg:person>\n");
    raw(&mut out, "      ", "eCH-0044:vn", request.vn.digits());
    out.push_str("    </reg:person>\n");
    raw(&mut out, i, "reg:asOf", record.as_of);
    for a in &record.accounts {
        let i = "      ";
        out.push_str("    <reg:account>\n");
        raw(&mut out, i, "reg:compensationOffice", a.office.number);
        raw(&mut out, i, "reg:agency", a.office.agency);
        let _ = writeln!(
            out,
            "{i}<reg:opened>{:04}-{:02}</reg:opened>",
            a.opened.year(),
            u8::from(a.opened.month())
        );
        if let Some(y) = a.last_reported_year {
            raw(&mut out, i, "reg:lastReportedYear", y);
        }
        let _ = writeln!(out, "{i}<reg:affiliation current=\"{}\">", a.current);
        raw(&mut out, "        ", "reg:genre", a.genre);
        raw(&mut out, "        ", "reg:since", a.since);
        if let Some(u) = a.until {
            raw(&mut out, "        ", "reg:until", u);
        }
        out.push_str("      </reg:affiliation>\n    </reg:account>\n");
    }
    for f in &record.iv_files {
        out.push_str("    <reg:ivFile>\n");
        let _ = writeln!(
            out,
            "      <reg:ivOffice>{:03}</reg:ivOffice>",
            f.office.number
        );
        raw(&mut out, "      ", "reg:since", f.since);
        out.push_str("    </reg:ivFile>\n");
    }
    out.push_str("  </reg:content>\n</reg:message>\n");
    Ok(out.into_bytes())
}
