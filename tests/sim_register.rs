//! The simulated central account register (dialect `ech-register`), over real mutual TLS
//! with a development PKI made at test time: it names exactly the offices that hold data
//! when complete; with lag it misses what opened after `asOf`, a seeded share of newest
//! accounts, and lists closed accounts at funds that answer `no_account`; the simulator
//! counts requests per office and for the register; and the register's faults (down,
//! slow, hanging, failing, garbage, another certificate) behave as the gateway will see
//! them.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use quick_xml::Reader;
use quick_xml::events::Event;

use guichet::adapter::Registry;
use guichet::mapping::MappingSet;
use guichet::model::{Identity, OfficeId, Role, Vn};
use guichet::pki::{DevPki, ensure_dev_pki};
use guichet::sim::{
    Fault, Federation, FederationOptions, Latency, REGISTER_EPHEMERAL, RegisterLag, Simulator,
    offices_of, person,
};

/// Budget of a request that is expected to be answered (a loaded 2-core machine).
const PATIENT: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn registry() -> Registry {
    let mappings = MappingSet::load_dir(&repo().join("mappings")).expect("mappings");
    Registry::load_dir(&repo().join("adapters"), &mappings).expect("adapters")
}

/// The 101 shipped offices and the register, on loopback port 0.
struct Setup {
    _dir: tempfile::TempDir,
    pki: DevPki,
    fed: Federation,
}

impl Setup {
    async fn start() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = registry();
        let names: Vec<String> = registry.iter().map(|a| a.office.to_string()).collect();
        let pki = ensure_dev_pki(dir.path(), &names).expect("dev pki");
        let no_faults = std::collections::BTreeMap::new();
        let options = FederationOptions {
            latency: Latency::ZERO,
            faults: &no_faults,
            ephemeral: true,
            register: Some(REGISTER_EPHEMERAL),
        };
        let fed = Federation::start(&registry, &pki, options)
            .await
            .expect("federation");
        Setup {
            _dir: dir,
            pki,
            fed,
        }
    }

    fn sim(&self) -> &Arc<Simulator> {
        self.fed.simulator()
    }

    fn url(&self) -> reqwest::Url {
        self.fed
            .register_endpoint()
            .expect("register served")
            .clone()
    }

    /// A fresh client (own connections) with the gateway's client identity.
    fn client(&self, timeout: Duration) -> reqwest::Client {
        let roots = guichet::tls::load_certs(&self.pki.ca_cert).expect("ca");
        let chain = guichet::tls::load_certs(&self.pki.gateway_client.cert).expect("cert");
        let key = guichet::tls::load_key(&self.pki.gateway_client.key).expect("key");
        let tls = guichet::tls::client_config(&roots, Some((chain, key))).expect("tls");
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .tls_info(true)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// POSTs the contract's register request for `vn`; the status, the body and the
    /// identity in the register's certificate.
    async fn ask(&self, client: &reqwest::Client, vn: Vn) -> reqwest::Result<Asked> {
        let response = client
            .post(self.url())
            .header("content-type", "application/xml")
            .body(request_for(vn))
            .send()
            .await?;
        let identity = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .and_then(|der| {
                guichet::tls::peer_identity(&rustls_pki_types::CertificateDer::from(der))
            });
        let status = response.status().as_u16();
        let body = response.bytes().await?.to_vec();
        Ok(Asked {
            status,
            body,
            identity,
        })
    }
}

struct Asked {
    status: u16,
    body: Vec<u8>,
    identity: Option<Identity>,
}

const REQUEST_MESSAGE_ID: &str = "0b6f1d0e-8f1c-4c59-9a7e-3c1e2d4f5a01";

/// The contract's `register-request.xml` asking about `vn`.
fn request_for(vn: Vn) -> String {
    let example =
        std::fs::read_to_string(repo().join("tests/fixtures/contract/register-request.xml"))
            .expect("register-request.xml");
    assert!(example.contains("7561234567897") && example.contains(REQUEST_MESSAGE_ID));
    example.replace("7561234567897", &vn.digits())
}

/// What a test reads from a register answer, by local names (any prefix).
#[derive(Debug, Default)]
struct Answer {
    sender: String,
    reference: String,
    action: String,
    vn: String,
    as_of: String,
    offices: BTreeSet<OfficeId>,
    current: usize,
}

fn read_answer(xml: &[u8]) -> Result<Answer, String> {
    let mut reader = Reader::from_reader(xml);
    let mut out = Answer::default();
    let (mut path, mut fund, mut agency): (Vec<String>, Option<u16>, Option<u16>) =
        (Vec::new(), None, None);
    let mut buf = Vec::new();
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| e.to_string())?
        {
            Event::Start(s) => {
                let local = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                if local == "affiliation" {
                    let current = s
                        .try_get_attribute("current")
                        .map_err(|e| e.to_string())?
                        .is_some_and(|a| a.value.as_ref() == b"true");
                    out.current += usize::from(current);
                }
                path.push(local);
            }
            Event::End(_) => {
                if path.last().is_some_and(|l| l == "account") {
                    let id = OfficeId::new(
                        fund.take().ok_or("no office")?,
                        agency.take().ok_or("no agency")?,
                    )
                    .ok_or("office id out of range")?;
                    assert!(out.offices.insert(id), "office {id} listed twice");
                }
                path.pop();
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| e.to_string())?.trim().to_owned();
                let parent = path.get(path.len().saturating_sub(2)).map(String::as_str);
                match (parent, path.last().map(String::as_str)) {
                    (Some("header"), Some("senderId")) => out.sender = text,
                    (Some("header"), Some("referenceMessageId")) => out.reference = text,
                    (Some("header"), Some("action")) => out.action = text,
                    (Some("person"), Some("vn")) => out.vn = text,
                    (Some("content"), Some("asOf")) => out.as_of = text,
                    (Some("account"), Some("compensationOffice")) => {
                        fund = Some(text.parse().map_err(|_| "compensationOffice")?);
                    }
                    (Some("account"), Some("agency")) => {
                        agency = Some(text.parse().map_err(|_| "agency")?);
                    }
                    (Some("ivFile"), Some("ivOffice")) => {
                        let n: u16 = text.parse().map_err(|_| "ivOffice")?;
                        out.offices
                            .insert(OfficeId::new(n, 0).ok_or("ivOffice out of range")?);
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// The offices holding data for `vn` straight from the population: funds with entries,
/// IV offices with cases.
fn holders_of(sim: &Simulator, vn: Vn) -> BTreeSet<OfficeId> {
    let p = sim.person(vn);
    p.accounts
        .keys()
        .copied()
        .chain(p.iv_cases.iter().map(|c| c.office))
        .collect()
}

fn vns(n: u32, seed: u32) -> impl Iterator<Item = Vn> {
    (0..n).map(move |i| Vn::from_serial(seed.wrapping_add(i.wrapping_mul(7_919_993))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complete_register_names_exactly_the_holders_over_mutual_tls() {
    let s = Setup::start().await;
    let client = s.client(PATIENT);
    let (mut unknown, mut several) = (0, 0);
    for vn in vns(120, 17) {
        let asked = s.ask(&client, vn).await.expect("register answers");
        assert_eq!(asked.status, 200);
        assert_eq!(
            asked.identity,
            Some(Identity::new(Role::Register, "zas").expect("identity")),
            "the register presents urn:guichet:register:zas"
        );
        let a = read_answer(&asked.body).expect("well-formed answer");
        let holders = holders_of(s.sim(), vn);
        assert_eq!(a.offices, holders, "register names exactly the holders");
        assert_eq!(a.offices, s.sim().holdings(vn).offices());
        assert_eq!(a.sender, "T6-000999-1");
        assert_eq!(a.reference, REQUEST_MESSAGE_ID);
        assert_eq!(a.vn, vn.digits());
        assert_eq!(a.as_of, s.sim().today().to_string());
        assert!(a.current <= 1, "at most one current affiliation");
        assert_eq!(a.action, if holders.is_empty() { "8" } else { "6" });
        unknown += usize::from(holders.is_empty());
        several += usize::from(holders.len() >= 3);
    }
    assert!(several > 10, "the sample has people with several funds");
    assert!(unknown < 120);
    // Asking the register reaches no office, and every request was counted.
    assert_eq!(s.sim().register_requests(), 120);
    assert_eq!(s.sim().total_requests(), 0);
    assert!(s.sim().request_counts().values().all(|n| *n == 0));
    // The person unknown to the register: an office with no data anywhere is never named.
    let unknown_vn = vns(5_000, 3).find(|vn| holders_of(s.sim(), *vn).is_empty());
    if let Some(vn) = unknown_vn {
        let a = read_answer(&s.ask(&client, vn).await.expect("answer").body).expect("xml");
        assert_eq!((a.action.as_str(), a.offices.len()), ("8", 0));
    }
}

#[test]
fn lag_misses_late_and_newest_accounts_and_lists_closed_ones_deterministically() {
    let offices = offices_of(&registry());
    let sim = Simulator::new(offices.clone(), Latency::ZERO, 2026);
    let lag = RegisterLag {
        lag_days: 500,
        missing_newest_share: 0.3,
        stale_closed_share: 0.2,
    };
    sim.set_register_lag(lag);
    let again = Simulator::new(offices.clone(), Latency::ZERO, 2026);
    again.set_register_lag(lag);
    let (mut late, mut newest, mut stale, n) = (0usize, 0usize, 0usize, 1000u32);
    for vn in vns(n, 99) {
        let truth = sim.holdings(vn);
        let record = sim.register_record(vn);
        assert_eq!(record, again.register_record(vn), "seeded per person");
        let as_of = record.as_of;
        assert_eq!(
            as_of,
            sim.today() - time::Duration::days(500),
            "asOf is today − lag_days"
        );
        let (held, named) = (truth.offices(), record.offices());
        // Every account the register lists was opened by asOf.
        assert!(record.accounts.iter().all(|a| a.opened <= as_of));
        // Named offices that hold nothing are closed accounts at funds (no_account).
        for office in named.difference(&held) {
            let o = offices
                .iter()
                .find(|o| o.id == *office)
                .expect("known office");
            assert!(o.kind.holds_ik(), "a stale entry is a fund's account");
            let a = record
                .accounts
                .iter()
                .find(|a| a.office == *office)
                .expect("account");
            assert!(!a.current && a.until.is_some(), "a stale account is closed");
            stale += 1;
        }
        // Holders it misses: opened after asOf, or the newest one not reported yet.
        let missing: Vec<OfficeId> = held.difference(&named).copied().collect();
        let opened_late: BTreeSet<OfficeId> = truth
            .accounts
            .iter()
            .filter(|a| a.opened > as_of)
            .map(|a| a.office)
            .chain(
                truth
                    .iv_files
                    .iter()
                    .filter(|f| f.since > as_of)
                    .map(|f| f.office),
            )
            .collect();
        late += opened_late.len();
        let unreported: Vec<&OfficeId> = missing
            .iter()
            .filter(|o| !opened_late.contains(o))
            .collect();
        assert!(
            unreported.len() <= 1,
            "at most the newest account is unreported"
        );
        if let Some(o) = unreported.first() {
            let known = truth.accounts.iter().filter(|a| a.opened <= as_of);
            let newest = known
                .max_by_key(|a| (a.opened, a.office))
                .expect("an account");
            assert_eq!(newest.office, **o, "the unreported one is the newest");
        }
        newest += unreported.len();
        assert!(opened_late.iter().all(|o| missing.contains(o)));
    }
    let share = |k: usize| k as f64 / f64::from(n);
    assert!(late > 0, "a 500-day lag hides recently opened accounts");
    assert!(
        (0.2..0.4).contains(&share(newest)),
        "newest missing: {newest} of {n}"
    );
    assert!(
        (0.12..0.28).contains(&share(stale)),
        "stale: {stale} of {n}"
    );
    // The knobs never change the population itself.
    let vn = Vn::from_serial(4242);
    assert_eq!(*sim.person(vn), person(vn, &offices, 2026));
    // A complete register again: exactly the holders.
    sim.set_register_lag(RegisterLag::COMPLETE);
    for vn in vns(200, 5) {
        assert_eq!(sim.register_record(vn).offices(), holders_of(&sim, vn));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_register_answers_over_the_wire_what_its_record_says() {
    let s = Setup::start().await;
    s.sim().set_register_lag(RegisterLag {
        lag_days: 30,
        missing_newest_share: 0.5,
        stale_closed_share: 0.5,
    });
    let client = s.client(PATIENT);
    let mut differs = 0;
    for vn in vns(40, 1234) {
        let a = read_answer(&s.ask(&client, vn).await.expect("answer").body).expect("xml");
        let record = s.sim().register_record(vn);
        assert_eq!(a.offices, record.offices());
        assert_eq!(a.as_of, record.as_of.to_string());
        differs += usize::from(a.offices != holders_of(s.sim(), vn));
    }
    assert!(
        differs > 5,
        "the lag shows in the answers ({differs} of 40)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_per_office() {
    let s = Setup::start().await;
    let office: OfficeId = "025.000".parse().expect("id");
    let url = s.fed.endpoints()[&office].clone();
    let body = std::fs::read_to_string(repo().join("tests/fixtures/contract/ik-request.xml"))
        .expect("ik-request.xml");
    let client = s.client(PATIENT);
    for _ in 0..3 {
        let r = client
            .post(url.clone())
            .body(body.clone())
            .send()
            .await
            .expect("office");
        assert_eq!(r.status(), 200);
    }
    s.ask(&client, Vn::from_serial(1)).await.expect("register");
    let counts = s.sim().request_counts();
    assert_eq!(counts.len(), 101);
    assert_eq!(counts[&office], 3);
    assert_eq!(counts.values().sum::<u64>(), 3, "no other office was asked");
    assert_eq!(s.sim().total_requests(), 3);
    assert_eq!(s.sim().register_requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_faults_down_slow_hanging_failing_garbage_and_wrong_certificate() {
    let s = Setup::start().await;
    let vn = Vn::from_serial(77);
    let sim = s.sim();
    // Down: connections are closed unanswered.
    sim.set_register_fault(Some(Fault::Refused));
    let e = s.ask(&s.client(PATIENT), vn).await.err().expect("down");
    assert!(!e.is_status(), "no HTTP answer: {e}");
    assert_eq!(sim.register_requests(), 0);
    // Slow past the caller's timeout, and hanging: the caller gives up, nothing arrives.
    for fault in [Fault::Delay(Duration::from_secs(600)), Fault::Hang] {
        sim.set_register_fault(Some(fault));
        let e = s
            .ask(&s.client(Duration::from_millis(300)), vn)
            .await
            .err()
            .expect("slow");
        assert!(e.is_timeout(), "{e}");
    }
    // Failing with a status, and answering garbage.
    sim.set_register_fault(Some(Fault::Status(503)));
    assert_eq!(
        s.ask(&s.client(PATIENT), vn).await.expect("503").status,
        503
    );
    sim.set_register_fault(Some(Fault::Garbage));
    let garbage = s.ask(&s.client(PATIENT), vn).await.expect("garbage");
    assert_eq!(garbage.status, 200);
    assert!(read_answer(&garbage.body).is_err(), "not XML");
    // Another certificate of the federation: an office's, not the register's.
    sim.set_register_fault(Some(Fault::WrongCertificate));
    let wrong = s
        .ask(&s.client(PATIENT), vn)
        .await
        .expect("handshake with the CA's office cert");
    let identity = wrong.identity.expect("an identity");
    assert_eq!(identity.role, Role::Office, "{identity:?}");
    // Healthy again, on a new connection.
    sim.set_register_fault(None);
    let ok = s.ask(&s.client(PATIENT), vn).await.expect("healthy");
    assert_eq!(ok.identity.map(|i| i.role), Some(Role::Register));
    let a = read_answer(&ok.body).expect("xml");
    assert_eq!(a.offices, holders_of(sim, vn));
}

#[test]
fn truth_view_lists_holders_and_what_the_register_says() {
    let offices = offices_of(&registry());
    let sim = Simulator::new(offices, Latency::ZERO, 2026);
    sim.set_register_lag(RegisterLag {
        lag_days: 0,
        missing_newest_share: 1.0,
        stale_closed_share: 1.0,
    });
    let vn = vns(50, 8)
        .find(|vn| sim.holdings(*vn).accounts.len() >= 2)
        .expect("a person with two funds");
    let view = guichet::cli::truth_view(&sim, vn);
    let holders: BTreeSet<String> = view.holders.iter().map(|h| h.office.clone()).collect();
    let want: BTreeSet<String> = holders_of(&sim, vn)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(holders, want);
    assert_eq!(
        view.register.missing.len(),
        1,
        "the newest account is missing"
    );
    assert_eq!(view.register.stale.len(), 1, "one closed account is listed");
    assert!(view.register.stale.iter().all(|o| !holders.contains(o)));
    // The account part is the broadcast truth: holders answer ok, everyone else no_account.
    let ok: BTreeSet<String> = view
        .account
        .sources
        .iter()
        .filter(|s| s.status == "ok")
        .map(|s| s.office.clone())
        .collect();
    assert_eq!(ok, want);
    let json = serde_json::to_value(&view).expect("json");
    assert!(
        json["vn"].is_string()
            && json["holders"].is_array()
            && json["register"]["asOf"].is_string()
    );
}

/// Every element path (by local names) of an XML document, attributes as `@name`.
fn paths(xml: &[u8]) -> BTreeSet<String> {
    let mut reader = Reader::from_reader(xml);
    let (mut stack, mut out, mut buf) = (Vec::<String>::new(), BTreeSet::new(), Vec::new());
    loop {
        match reader.read_event_into(&mut buf).expect("well-formed") {
            Event::Start(s) => {
                stack.push(String::from_utf8_lossy(s.local_name().as_ref()).into_owned());
                out.insert(stack.join("/"));
                for a in s.attributes() {
                    let a = a.expect("attribute");
                    let name = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
                    if !a.key.as_ref().starts_with(b"xmlns") {
                        out.insert(format!("{}/@{name}", stack.join("/")));
                    }
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

#[test]
fn rendered_answers_have_the_shape_of_the_contract_examples() {
    let offices = offices_of(&registry());
    let sim = Simulator::new(offices, Latency::ZERO, 2026);
    let fixture = |name: &str| {
        std::fs::read(repo().join("tests/fixtures/contract").join(name)).expect("fixture")
    };
    // A person with a current and a closed account and an IV file, as in the example.
    let vn = vns(20_000, 11)
        .find(|vn| {
            let h = sim.holdings(*vn);
            !h.iv_files.is_empty()
                && h.accounts.iter().any(|a| a.current)
                && h.accounts.iter().any(|a| a.until.is_some())
        })
        .expect("such a person");
    let request = guichet::sim::parse_request(request_for(vn).as_bytes()).expect("request");
    let rendered =
        guichet::sim::register::render_register(&sim.holdings(vn), &request).expect("render");
    let mut want = paths(&fixture("register-response.xml"));
    // The example carries the business process id, which the simulator does not echo.
    want.remove("message/header/businessProcessId");
    assert_eq!(paths(&rendered), want);
    // Unknown person: the shape of register-response-unknown.xml.
    let nobody = guichet::sim::register::RegisterRecord {
        vn,
        as_of: sim.today(),
        accounts: Vec::new(),
        iv_files: Vec::new(),
    };
    let rendered = guichet::sim::register::render_register(&nobody, &request).expect("render");
    assert_eq!(
        paths(&rendered),
        paths(&fixture("register-response-unknown.xml"))
    );
    assert_eq!(read_answer(&rendered).expect("xml").action, "8");
}

/// The gateway's own mapping (`mappings/ech-register.toml`) reads what the simulated
/// register says, field for field, with and without lag, known and unknown persons.
#[test]
fn the_gateway_mapping_reads_the_simulated_register_exactly() {
    use guichet::mapping::DEFAULT_MAX_ANSWER_BYTES;
    let set = MappingSet::load_dir(&repo().join("mappings")).expect("mappings");
    let mapping = set.get("ech-register").expect("ech-register");
    let offices = offices_of(&registry());
    let sim = Simulator::new(offices, Latency::ZERO, 2026);
    let mut known = 0;
    for lag in [
        RegisterLag::COMPLETE,
        RegisterLag {
            lag_days: 400,
            missing_newest_share: 0.4,
            stale_closed_share: 0.4,
        },
    ] {
        sim.set_register_lag(lag);
        for vn in vns(300, 21) {
            let record = sim.register_record(vn);
            let request = guichet::sim::parse_request(request_for(vn).as_bytes()).expect("req");
            let body = guichet::sim::register::render_register(&record, &request).expect("xml");
            let read = mapping
                .translate_register(vn, &body, DEFAULT_MAX_ANSWER_BYTES)
                .expect("the mapping reads the simulator's answer");
            assert_eq!(
                read,
                record.to_answer(),
                "{}",
                String::from_utf8_lossy(&body)
            );
            known += usize::from(read.known);
        }
    }
    assert!(known > 0);
}
