//! Routing by the central account register, end to end: the 101 shipped offices and the
//! register simulated over real mutual TLS (dev PKI made at test time), a gateway built
//! by `Gateway::build` with a `[routing]` section. Register mode asks exactly the holders
//! (the simulator counts requests per office); with lag it misses what the register does
//! not know and verify mode reports each difference; a register that is down, hangs,
//! answers garbage or presents another certificate is reported, then either every office
//! is asked (fallback) or the portal gets a `503` naming the register.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Federation, Options};
use guichet::merge::YearRange;
use guichet::model::{OfficeId, Vn};
use guichet::sim::{Fault, RegisterLag};
use guichet::view::AccountView;
use serde_json::Value;

/// A register timeout long enough for a loaded machine, short enough for a hang.
const REGISTER_TIMEOUT_MS: u64 = 3_000;

fn routing(mode: &str, fallback: &str) -> String {
    format!(
        "mode = \"{mode}\"\ntimeout_ms = {REGISTER_TIMEOUT_MS}\non_register_failure = \"{fallback}\"\n"
    )
}

async fn start(section: &str) -> Federation {
    // Hundreds of queries in a row from one portal: its quota must not be what is tested.
    let o = Options {
        routing: section,
        protection: "portal_queries_per_second = 100000\nportal_burst = 100000",
        ..Options::default()
    };
    Federation::build(o, |_| {}).await
}

/// `n` AHV numbers drawn from a seeded generator.
fn people(n: usize, mut seed: u64) -> Vec<Vn> {
    (0..n)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            Vn::from_serial(((seed >> 33) % 1_000_000_000) as u32)
        })
        .collect()
}

async fn account(fed: &Federation, portal: &reqwest::Client, vn: Vn) -> (u16, Value) {
    let response = portal
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(fed.token(vn))
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("query");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn sources(v: &Value) -> BTreeSet<OfficeId> {
    v["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["office"].as_str().expect("office").parse().expect("id"))
        .collect()
}

/// Leaves out what differs run to run (latencies) and the routing block (not in the truth).
fn comparable(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("routing");
        o.remove("routingDiscrepancies");
    }
    if let Some(sources) = v.get_mut("sources").and_then(|s| s.as_array_mut()) {
        for s in sources {
            if let Some(o) = s.as_object_mut() {
                o.remove("latencyMs");
            }
        }
    }
    v
}

fn delta(
    after: &BTreeMap<OfficeId, u64>,
    before: &BTreeMap<OfficeId, u64>,
) -> BTreeMap<OfficeId, u64> {
    after
        .iter()
        .map(|(o, n)| (*o, n - before.get(o).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_mode_asks_exactly_the_holders() {
    let fed = start(&routing("register", "fail")).await;
    let portal = fed.portal();
    let offices = guichet::cli::runtime::sim_offices(&fed.registry);
    let before = fed.sim.request_counts();
    let mut expected: BTreeMap<OfficeId, u64> = BTreeMap::new();
    let (mut unknown, mut several) = (0, 0);
    for vn in people(200, 0x0005_eed0_2026) {
        let holders = fed.sim.holdings(vn).offices();
        for o in &holders {
            *expected.entry(*o).or_default() += 1;
        }
        let (status, got) = account(&fed, &portal, vn).await;
        assert_eq!(status, 200, "{got}");
        // Exactly the --truth account, from exactly the holders.
        let truth = guichet::sim::truth_among(
            vn,
            &offices,
            fed.sim.reference_year(),
            YearRange::default(),
            |o| holders.contains(&o),
        );
        let want = serde_json::to_value(AccountView::from(&truth)).expect("json");
        assert_eq!(comparable(got.clone()), comparable(want), "{}", vn.dotted());
        assert_eq!(sources(&got), holders);
        assert_eq!(got["complete"], true);
        let r = &got["routing"];
        assert_eq!(r["mode"], "register");
        let status = if holders.is_empty() {
            "unknown-person"
        } else {
            "ok"
        };
        assert_eq!(r["register"]["status"], status, "{r}");
        assert!(r["register"]["asOf"].is_string(), "{r}");
        assert_eq!(r["asked"], holders.len());
        assert_eq!(r["notAsked"], 101 - holders.len());
        assert_eq!(r["fallback"], false);
        unknown += usize::from(holders.is_empty());
        several += usize::from(holders.len() > 1);
    }
    // Non-holders got no request at all; each holder exactly one per person it holds.
    let asked = delta(&fed.sim.request_counts(), &before);
    assert_eq!(asked, expected);
    let requests: u64 = asked.values().sum();
    eprintln!(
        "register mode: {requests} office requests for 200 persons ({:.2} per query; broadcast: 101)",
        requests as f64 / 200.0
    );
    assert_eq!(fed.sim.register_requests(), 200);
    assert!(several > 0, "some persons have several holders");
    assert!(unknown < 200, "most persons are known");

    // The register's answer is cached per person; an office's account-changed evicts it.
    let vn = people(1, 0x0005_eed0_2026)[0];
    let (status, got) = account(&fed, &portal, vn).await;
    assert_eq!(status, 200);
    assert_eq!(got["routing"]["register"]["cached"], true, "{got}");
    assert_eq!(fed.sim.register_requests(), 200);
    let (_, office) = fed.pki.offices.iter().next().expect("an office");
    let client = fed.client_with(Some((&office.cert, &office.key)), &fed.pki.ca_cert);
    let changed = client
        .post(fed.url("/v1/notifications/account-changed"))
        .body(vn.digits())
        .send()
        .await
        .expect("notify");
    assert_eq!(changed.status(), 204);
    let (_, got) = account(&fed, &portal, vn).await;
    assert_eq!(got["routing"]["register"]["cached"], false, "{got}");
    assert_eq!(fed.sim.register_requests(), 201);

    // The audit record names the register's answer and the offices asked.
    let log = std::fs::read_to_string(
        guichet::audit::log_files(&fed.config.audit.dir)
            .expect("audit files")
            .last()
            .expect("a file")
            .1
            .clone(),
    )
    .expect("audit log");
    let last = log
        .lines()
        .rfind(|l| l.contains("account-query"))
        .expect("a query record");
    assert!(
        last.contains("\"register\",\"ok\"") || last.contains("\"register\",\"unknown-person\""),
        "{last}"
    );
    assert!(
        last.contains("routing register") && last.contains("register asOf"),
        "{last}"
    );
    assert!(
        !last.contains(&vn.digits()),
        "no AHV number in the audit log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_lag_register_mode_misses_and_verify_reports_each_missing_holder() {
    let lag = RegisterLag {
        lag_days: 400,
        missing_newest_share: 0.4,
        stale_closed_share: 0.3,
    };
    let persons = people(60, 0x1a9_2026);
    // Register mode: exactly the offices the register names are asked.
    let mut missed = 0;
    {
        let fed = start(&routing("register", "fail")).await;
        fed.sim.set_register_lag(lag);
        let portal = fed.portal();
        for vn in &persons {
            let named = fed.sim.register_record(*vn).offices();
            let holders = fed.sim.holdings(*vn).offices();
            let (status, got) = account(&fed, &portal, *vn).await;
            assert_eq!(status, 200, "{got}");
            assert_eq!(sources(&got), named, "{}", vn.dotted());
            assert_eq!(got["routing"]["asked"], named.len());
            missed += holders.difference(&named).count();
        }
    }
    assert!(missed > 0, "the lag hides some holders");
    // Verify mode: everyone is asked, and each holder the register misses is reported,
    // as is each named office that has no account.
    let fed = start(&routing("verify", "fail")).await;
    fed.sim.set_register_lag(lag);
    let portal = fed.portal();
    let (mut reported, mut stale) = (0, 0);
    for vn in &persons {
        let named = fed.sim.register_record(*vn).offices();
        let holders = fed.sim.holdings(*vn).offices();
        let (status, got) = account(&fed, &portal, *vn).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["sources"].as_array().map(Vec::len), Some(101));
        assert_eq!(got["routing"]["mode"], "verify");
        let found: BTreeSet<(String, String)> = got["routingDiscrepancies"]
            .as_array()
            .expect("discrepancies in verify mode")
            .iter()
            .map(|d| {
                (
                    d["office"].as_str().expect("office").to_owned(),
                    d["kind"].as_str().expect("kind").to_owned(),
                )
            })
            .collect();
        let mut want = BTreeSet::new();
        for o in holders.difference(&named) {
            want.insert((o.to_string(), "not-in-register".to_owned()));
        }
        for o in named.difference(&holders) {
            want.insert((o.to_string(), "no-account".to_owned()));
        }
        assert_eq!(found, want, "{}", vn.dotted());
        reported += found.iter().filter(|d| d.1 == "not-in-register").count();
        stale += found.iter().filter(|d| d.1 == "no-account").count();
    }
    assert_eq!(reported, missed, "every missing holder is reported");
    assert!(
        stale > 0,
        "closed accounts the register still lists are reported"
    );
    let text = fed
        .portal()
        .get(format!("http://{}/metrics", fed.ops))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("guichet_routing_discrepancies_total{kind=\"not-in-register\"}"),
        "{text}"
    );
}

/// The register faults, each on a fresh connection: (fault, expected status).
fn faults() -> Vec<(Fault, &'static str)> {
    vec![
        (Fault::WrongCertificate, "bad-certificate"),
        (Fault::Refused, "error"),
        (Fault::Garbage, "error"),
        (Fault::Status(500), "error"),
        (Fault::Hang, "timeout"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_failures_fall_back_to_broadcast_and_say_so() {
    let fed = start(&routing("register", "broadcast")).await;
    let portal = fed.portal();
    let offices = guichet::cli::runtime::sim_offices(&fed.registry);
    for (i, (fault, status)) in faults().into_iter().enumerate() {
        fed.sim.set_register_fault(Some(fault.clone()));
        let vn = Vn::from_serial(4_000 + i as u32);
        let (code, got) = account(&fed, &portal, vn).await;
        assert_eq!(code, 200, "{fault:?}: {got}");
        let r = &got["routing"];
        assert_eq!(r["register"]["status"], status, "{fault:?}: {r}");
        assert!(r["register"]["detail"].is_string(), "{r}");
        assert_eq!(r["fallback"], true);
        assert_eq!(r["asked"], 101);
        // Complete: every office answered, and the account is the whole truth.
        assert_eq!(got["complete"], true, "{fault:?}");
        let truth =
            guichet::sim::truth(vn, &offices, fed.sim.reference_year(), YearRange::default());
        let want = serde_json::to_value(AccountView::from(&truth)).expect("json");
        assert_eq!(comparable(got.clone()), comparable(want), "{fault:?}");
        let detail = r["register"]["detail"].as_str().unwrap_or_default();
        assert!(!detail.contains(&vn.digits()), "{detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_failures_with_fail_are_a_503_naming_the_register() {
    let fed = start(&routing("register", "fail")).await;
    let portal = fed.portal();
    let before = fed.sim.total_requests();
    for (i, (fault, status)) in faults().into_iter().enumerate() {
        fed.sim.set_register_fault(Some(fault.clone()));
        let vn = Vn::from_serial(5_000 + i as u32);
        let (code, problem) = account(&fed, &portal, vn).await;
        assert_eq!(code, 503, "{fault:?}: {problem}");
        assert_eq!(problem["type"], "urn:guichet:problem:register-unavailable");
        let detail = problem["detail"].as_str().expect("detail");
        assert!(
            detail.contains("account register") && detail.contains(status),
            "{fault:?}: {detail}"
        );
        assert!(!detail.contains(&vn.digits()) && !detail.contains(&vn.dotted()));
    }
    assert_eq!(fed.sim.total_requests(), before, "no office was asked");
}
