//! The simulated funds' side of the loss-of-earnings claim (dialect `ech-apg`, issue #15):
//! every compensation fund of the federation takes claims in its transport and answers
//! them by its own rules, independently of the gateway.
//!
//! - **Transport** ([`transport_of`], deterministic per office): most funds answer on
//!   their existing mTLS listener (`200` with the acknowledgement); association funds
//!   numbered 2 mod 16 (`034`, `066`, `098`, `114`) take claims only through sedex, those
//!   numbered 5 mod 16 (`037`, `069`, `117`) answer `202` and send the acknowledgement
//!   through sedex. Until sedex folders are set up ([`crate::sim::Federation::start_sedex`])
//!   every fund answers synchronously.
//! - **Decision** ([`Funds::handle`]): a retried `messageId` gets the very same
//!   acknowledgement (idempotent, counted once); a claim with problems is `rejected`
//!   (`invalid-data`, the problems by element path); a fund that is not competent by the
//!   domain's main rules, computed from the synthetic population ([`competent_fund`]),
//!   `transferred`s it to the competent fund; a second claim of the same person for an
//!   overlapping period is `rejected` (`duplicate-period`); anything else is `accepted`
//!   with a case number.
//! - **Counters** ([`ClaimCounts`]): per fund, the distinct `messageId`s and all
//!   deliveries that reached the fund, for exactly-once checks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

pub mod ack;
pub mod claim;

pub use ack::{Ack, Outcome, Reason};
pub use claim::{Activity, Claim, UnreadableClaim, read_claim};

use super::population::{Person, SimOffice};
use crate::locks;
use crate::model::{Canton, Date, OfficeId, OfficeKind, Vn};

/// How a fund takes claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimTransport {
    /// POST on its mTLS endpoint; the acknowledgement is the answer.
    Sync,
    /// POST on its mTLS endpoint, answered `202`; the acknowledgement follows over sedex.
    SyncThenSedex,
    /// Only through its sedex client's folders.
    Sedex,
}

impl ClaimTransport {
    /// Whether the fund needs a sedex folder.
    pub fn uses_sedex(self) -> bool {
        !matches!(self, ClaimTransport::Sync)
    }
}

/// How `office` takes claims in the development federation (`None`: not a fund).
pub fn transport_of(office: &SimOffice) -> Option<ClaimTransport> {
    match office.kind {
        OfficeKind::IvOffice => None,
        OfficeKind::Association if office.id.number % 16 == 2 => Some(ClaimTransport::Sedex),
        OfficeKind::Association if office.id.number % 16 == 5 => {
            Some(ClaimTransport::SyncThenSedex)
        }
        _ => Some(ClaimTransport::Sync),
    }
}

/// Claims one fund received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimCounts {
    /// Distinct claim `messageId`s.
    pub distinct: u64,
    /// Deliveries that reached the fund, retries included.
    pub deliveries: u64,
}

/// Where the sedex funds' folders are, and how fast their clients deliver.
#[derive(Debug, Clone)]
pub(crate) struct SedexSetup {
    pub(crate) folders: HashMap<OfficeId, PathBuf>,
    pub(crate) transports: HashMap<OfficeId, ClaimTransport>,
    pub(crate) delay: Duration,
}

/// What one fund has registered.
#[derive(Debug, Default)]
struct Ledger {
    acks: HashMap<String, Arc<Ack>>,
    /// Accepted periods: person, first and last day, case number.
    periods: Vec<(Vn, Date, Date, String)>,
    deliveries: u64,
    cases: u32,
}

/// The claim state of every simulated fund.
#[derive(Debug, Default)]
pub struct Funds {
    ledgers: Mutex<HashMap<OfficeId, Ledger>>,
    sedex: RwLock<Option<Arc<SedexSetup>>>,
    receipts: Mutex<HashMap<(OfficeId, String), Vec<u16>>>,
}

impl Funds {
    /// Counters of one fund.
    pub fn counts(&self, office: OfficeId) -> ClaimCounts {
        locks::lock(&self.ledgers)
            .get(&office)
            .map_or_else(ClaimCounts::default, |l| ClaimCounts {
                distinct: l.acks.len() as u64,
                deliveries: l.deliveries,
            })
    }

    /// The acknowledgement a fund gave to a claim `messageId`, if it has it.
    pub fn ack(&self, office: OfficeId, claim_message_id: &str) -> Option<Arc<Ack>> {
        locks::lock(&self.ledgers)
            .get(&office)?
            .acks
            .get(claim_message_id)
            .cloned()
    }

    /// Every receipt status the sedex client of `office` wrote for `message_id`, in order.
    pub fn receipts(&self, office: OfficeId, message_id: &str) -> Vec<u16> {
        locks::lock(&self.receipts)
            .get(&(office, message_id.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn record_receipt(&self, office: OfficeId, message_id: &str, status: u16) {
        locks::lock(&self.receipts)
            .entry((office, message_id.to_owned()))
            .or_default()
            .push(status);
    }

    /// The sedex folder of `office` once the sedex clients run, when it uses sedex
    /// (sedex-only funds and funds answering `202`).
    pub fn sedex_folder(&self, office: OfficeId) -> Option<PathBuf> {
        self.sedex()?.folders.get(&office).cloned()
    }

    pub(crate) fn set_sedex(&self, setup: SedexSetup) {
        *locks::write(&self.sedex) = Some(Arc::new(setup));
    }

    pub(crate) fn sedex(&self) -> Option<Arc<SedexSetup>> {
        locks::read(&self.sedex).clone()
    }

    /// How `office` takes claims right now: its transport once sedex is set up, else sync.
    pub fn transport(&self, office: OfficeId) -> ClaimTransport {
        self.sedex()
            .and_then(|s| s.transports.get(&office).copied())
            .unwrap_or(ClaimTransport::Sync)
    }

    /// Decides on one delivered claim (or repeats the decision for a known `messageId`).
    pub fn handle(
        &self,
        fund: &SimOffice,
        offices: &[SimOffice],
        reference_year: u16,
        person_of: impl FnOnce(Vn) -> Arc<Person>,
        body: &[u8],
    ) -> Result<Arc<Ack>, UnreadableClaim> {
        let claim = read_claim(body)?;
        let mut ledgers = locks::lock(&self.ledgers);
        let ledger = ledgers.entry(fund.id).or_default();
        ledger.deliveries += 1;
        if let Some(known) = ledger.acks.get(&claim.message_id) {
            return Ok(Arc::clone(known));
        }
        let outcome = decide(fund, offices, reference_year, person_of, &claim, ledger);
        let ack = Arc::new(ack::render_ack(fund, &claim, outcome));
        ledger
            .acks
            .insert(claim.message_id.clone(), Arc::clone(&ack));
        Ok(ack)
    }
}

fn decide(
    fund: &SimOffice,
    offices: &[SimOffice],
    reference_year: u16,
    person_of: impl FnOnce(Vn) -> Arc<Person>,
    claim: &Claim,
    ledger: &mut Ledger,
) -> Outcome {
    let (Some(vn), Some(start), Some(end), Some(activity), true) = (
        claim.vn,
        claim.start,
        claim.end,
        claim.activity,
        claim.is_valid(),
    ) else {
        return Outcome::Rejected {
            reason: Reason::InvalidData,
            text: format!("Invalid claim: {}.", claim.problems.join("; ")),
        };
    };
    let person = person_of(vn);
    if let Some(to) = competent_fund(&person, claim, activity, offices, reference_year)
        && to != fund.id
    {
        return Outcome::Transferred {
            to,
            text: format!("Not competent: the claim belongs to fund {to}."),
        };
    }
    if let Some((.., case)) = ledger
        .periods
        .iter()
        .find(|(v, s, e, _)| *v == vn && *s <= end && start <= *e)
    {
        return Outcome::Rejected {
            reason: Reason::DuplicatePeriod,
            text: format!("A claim for this service period is already registered ({case})."),
        };
    }
    ledger.cases += 1;
    let case_number = format!(
        "APG-{:03}-{}-{:06}",
        fund.id.number,
        end.year(),
        ledger.cases
    );
    ledger.periods.push((vn, start, end, case_number.clone()));
    Outcome::Accepted { case_number }
}

/// The fund competent for `claim` by the domain's main rules, as a fund sees them from
/// the synthetic population: residence abroad → `027.000`; an employee → the fund of the
/// current affiliation as employee; self-employed → as self-employed; otherwise → as not
/// gainfully employed; else the cantonal fund of the canton of residence (the claim's
/// canton, or the person's). `None` when the federation has no such fund (then the fund
/// keeps the claim). The current affiliation is the one the simulated central register
/// lists ([`current_affiliation`]), so a gateway routing by a complete register sends
/// the claim where the fund agrees.
pub fn competent_fund(
    person: &Person,
    claim: &Claim,
    activity: Activity,
    offices: &[SimOffice],
    reference_year: u16,
) -> Option<OfficeId> {
    let known = |id: OfficeId| offices.iter().any(|o| o.id == id && o.kind.holds_ik());
    if !claim.country.eq_ignore_ascii_case("CH") {
        return OfficeId::new(27, 0).filter(|id| known(*id));
    }
    let genre = match activity {
        Activity::Employee => 1,
        Activity::SelfEmployed => 3,
        _ => 4,
    };
    if let Some((fund, g)) = current_affiliation(person, reference_year)
        && g == genre
        && known(fund)
    {
        return Some(fund);
    }
    let canton = claim
        .canton
        .as_deref()
        .and_then(|c| c.parse::<Canton>().ok())
        .unwrap_or(person.canton);
    offices
        .iter()
        .filter(|o| o.kind == OfficeKind::Cantonal && o.canton == Some(canton))
        .map(|o| o.id)
        .min()
}

/// The person's current affiliation and its genre digit (1 employee, 3 self-employed,
/// 4 not gainfully employed) as the simulated central register lists it
/// ([`super::register::holdings`]: the fund of the newest earnings, for a person of
/// working age whose newest earnings are recent).
pub fn current_affiliation(person: &Person, reference_year: u16) -> Option<(OfficeId, u8)> {
    let today = super::register::today_for(reference_year);
    super::register::holdings(person, reference_year, today)
        .accounts
        .iter()
        .find(|a| a.current)
        .map(|a| (a.office, a.genre))
}

/// Whether `body` is a document of the claim's namespace (its root element's).
pub fn is_claim(body: &[u8]) -> bool {
    let Ok(text) = super::render::decode(body) else {
        return false;
    };
    let mut reader = NsReader::from_str(&text);
    loop {
        match reader.read_resolved_event() {
            Ok((ns, Event::Start(_) | Event::Empty(_))) => {
                return ns == ResolveResult::Bound(Namespace(claim::APG_NS.as_bytes()));
            }
            Ok((_, Event::Eof)) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// A claim POSTed to `office`'s listener: the acknowledgement (`200`), or `202` when the
/// fund sends it over sedex; `404` from an IV office or a sedex-only fund; `400` for a
/// claim that cannot be acknowledged (not XML, no `messageId`).
pub(super) fn answer(
    sim: &super::Simulator,
    office: OfficeId,
    body: &[u8],
) -> hyper::Response<super::server::SimBody> {
    use super::server::{empty, plain, xml};
    use hyper::StatusCode;
    let Some(fund) = sim.offices().iter().find(|o| o.id == office) else {
        return plain(StatusCode::NOT_FOUND, "unknown office");
    };
    if transport_of(fund).is_none() {
        return plain(StatusCode::NOT_FOUND, "an IV office takes no APG claims");
    }
    let funds = sim.funds();
    let transport = funds.transport(office);
    if transport == ClaimTransport::Sedex {
        return plain(
            StatusCode::NOT_FOUND,
            "this fund takes APG claims over sedex only",
        );
    }
    let ack = match funds.handle(
        fund,
        sim.offices(),
        sim.reference_year(),
        |vn| sim.person(vn),
        body,
    ) {
        Ok(ack) => ack,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match (transport, funds.sedex()) {
        (ClaimTransport::SyncThenSedex, Some(setup)) => {
            super::sedex_client::send_ack_later(&setup, fund.clone(), ack);
            let mut response = hyper::Response::new(empty());
            *response.status_mut() = StatusCode::ACCEPTED;
            response
        }
        _ => xml(bytes::Bytes::from(ack.xml.clone())),
    }
}
