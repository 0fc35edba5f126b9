//! Protection of the offices and the gateway, proven under injected faults over real TLS:
//! deadlines, circuit breakers, quotas, the account cache, every fault kind.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Federation, Options, PATIENT_MS};
use guichet::merge::YearRange;
use guichet::model::{OfficeId, Vn};
use guichet::pki::Role;
use guichet::sim::{Fault, Latency};
use guichet::view::AccountView;

/// Bound for an awaited answer; the tests assert what happens, never how fast.
const PATIENT: Duration = Duration::from_millis(PATIENT_MS * 2);

/// The budget `N` of a timed-out source ("no answer within N ms"): the time the office
/// had, from the start of its call to the end of its budget.
fn budget_ms(source: &serde_json::Value) -> u64 {
    source["detail"]
        .as_str()
        .and_then(|d| d.strip_prefix("no answer within "))
        .and_then(|d| d.strip_suffix(" ms"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a timeout with its budget: {source}"))
}

/// Every failure reaches the answer as it happened: no breaker, no retry.
const NO_BREAKER_NO_RETRY: &str =
    "breaker_min_calls = 0\nretry_budget_percent = 0\nretry_min_per_second = 0";

fn id(s: &str) -> OfficeId {
    s.parse().expect("office id")
}

async fn get(
    client: &reqwest::Client,
    fed: &Federation,
    vn: Vn,
) -> (
    reqwest::StatusCode,
    reqwest::header::HeaderMap,
    serde_json::Value,
) {
    let r = client
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(fed.token(vn))
        .send()
        .await
        .expect("query");
    let (status, headers) = (r.status(), r.headers().clone());
    (
        status,
        headers,
        r.json().await.unwrap_or(serde_json::Value::Null),
    )
}

fn source<'a>(account: &'a serde_json::Value, office: &str) -> &'a serde_json::Value {
    account["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["office"] == office))
        .expect("source")
}

/// The row of `office` in `GET /v1/adapters`, as `client` (an administrator) reads it.
async fn adapter_row(
    client: &reqwest::Client,
    fed: &Federation,
    office: &str,
) -> serde_json::Value {
    let list: serde_json::Value = client
        .get(fed.url("/v1/adapters"))
        .send()
        .await
        .expect("adapters")
        .json()
        .await
        .expect("json");
    list["adapters"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["office"] == office))
        .expect("row")
        .clone()
}

fn entries_except(v: &serde_json::Value, skip: &[&str]) -> Vec<serde_json::Value> {
    v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| !skip.contains(&e["office"].as_str().unwrap_or("")))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_hanging_offices_cost_only_the_deadline() {
    let hanging = [
        "001.000", "002.000", "010.000", "025.000", "030.000", "066.000", "106.000", "301.000",
        "325.000", "350.000",
    ];
    let faults: BTreeMap<OfficeId, Fault> = hanging.iter().map(|o| (id(o), Fault::Hang)).collect();
    // The deadline is what this test is about, so it is the query's, not an adapter's. It
    // leaves the 91 healthy offices ample time on a busy machine; the ten hang for sure.
    let deadline = Duration::from_secs(5);
    let fed = Federation::launch(
        Latency::ZERO,
        deadline.as_millis() as u64,
        "",
        &faults,
        |_| {},
    )
    .await;
    // Warm up: connections to the offices exist, as they do in a running gateway.
    let _ = get(&fed.portal(), &fed, Vn::from_serial(1)).await;
    let vn = Vn::from_serial(31_415_926);
    let started = Instant::now();
    let portal = fed.portal();
    // The ten never answer: an answer at all shows that the deadline, not they, ended it.
    let (status, _, got) = tokio::time::timeout(PATIENT, get(&portal, &fed, vn))
        .await
        .expect("ten hanging offices do not hold the answer back");
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    eprintln!("answer after {elapsed:?} with a {deadline:?} deadline");
    assert!(elapsed >= deadline, "the gateway waited for the deadline");
    for o in hanging {
        assert_eq!(source(&got, o)["status"], "timeout", "{o}");
        let ms = budget_ms(source(&got, o));
        assert!(ms <= 5000, "{o}: the deadline bounds every call ({ms} ms)");
    }
    let truth = guichet::sim::truth(
        vn,
        &guichet::cli::runtime::sim_offices(&fed.registry),
        fed.sim.reference_year(),
        YearRange::default(),
    );
    let want = serde_json::to_value(AccountView::from(&truth)).expect("json");
    assert_eq!(
        entries_except(&got, &hanging),
        entries_except(&want, &hanging)
    );
    let answered = got["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .filter(|s| matches!(s["status"].as_str(), Some("ok" | "no_account")))
        .count();
    assert_eq!(answered, 91);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_may_ask_for_a_shorter_deadline() {
    // 001.000 hangs for sure; the configured deadline and every adapter timeout are 30 s,
    // so a budget under a second can only come from what the portal asked for.
    let faults = BTreeMap::from([(id("001.000"), Fault::Hang)]);
    let fed = Federation::launch(Latency::ZERO, PATIENT_MS, "", &faults, |_| {}).await;
    // The budget reported is the time the office had from the start of its call, which on
    // a busy machine begins a few milliseconds after the query: at most what was asked.
    let hanging_budget = |got: &serde_json::Value| {
        let s = source(got, "001.000");
        assert_eq!(s["status"], "timeout", "{s}");
        budget_ms(s)
    };
    let r = fed
        .portal()
        .get(fed.url("/v1/accounts/7561234567897"))
        .bearer_auth(fed.token_of("7561234567897"))
        .header("request-timeout", "0.3")
        .send()
        .await
        .expect("query");
    let got: serde_json::Value = r.json().await.expect("json");
    let ms = hanging_budget(&got);
    assert!(ms <= 300, "Request-Timeout 0.3: {ms} ms");
    let r = fed
        .portal()
        .get(fed.url("/v1/accounts/7561234567897?deadlineMs=200"))
        .bearer_auth(fed.token_of("7561234567897"))
        .send()
        .await
        .expect("query");
    let got: serde_json::Value = r.json().await.expect("json");
    let ms = hanging_budget(&got);
    assert!(ms <= 200, "deadlineMs=200: {ms} ms");
    let r = fed
        .portal()
        .get(fed.url("/v1/accounts/7561234567897?deadlineMs=60000"))
        .bearer_auth(fed.token_of("7561234567897"))
        .header("request-timeout", "0.25")
        .send()
        .await
        .expect("query");
    let got: serde_json::Value = r.json().await.expect("json");
    let ms = hanging_budget(&got);
    assert!(
        ms <= 250,
        "the shorter of both wins, capped by config: {ms} ms"
    );
    let r = fed
        .portal()
        .get(fed.url("/v1/accounts/7561234567897"))
        .bearer_auth(fed.token_of("7561234567897"))
        .header("request-timeout", "soon")
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_skips_the_office_and_lets_it_back() {
    let office = id("001.000");
    // 001.000 will hang with a 2 s budget of its own (time enough for its request to
    // arrive, which the counts below rely on); the others have all the time they need.
    // The circuit stays open 6 s: three queries skipping the office fit in it on a busy
    // machine, and the test then sleeps past it (a sleep is never shorter than asked).
    let o = Options {
        protection: "breaker_min_calls = 3\nbreaker_failure_rate_percent = 75\nbreaker_open_ms = 6000\nbreaker_half_open_calls = 1",
        office_timeouts: &[("001.000", 2000)],
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    let portal = fed.portal();
    let _ = get(&portal, &fed, Vn::from_serial(99)).await;
    assert_eq!(fed.sim.requests(office), 1);
    fed.sim.set_fault(office, Some(Fault::Hang));
    for i in 0..3 {
        let (_, _, got) = get(&portal, &fed, Vn::from_serial(i)).await;
        assert_eq!(source(&got, "001.000")["status"], "timeout");
    }
    assert_eq!(fed.sim.requests(office), 4);
    let admin = fed.client_with(
        Some((&fed.pki.admin.cert, &fed.pki.admin.key)),
        &fed.pki.ca_cert,
    );
    let row = adapter_row(&admin, &fed, "001.000").await;
    assert_eq!(row["circuit"], "open");
    assert_eq!(row["lastStatus"], "timeout");
    // While open: unavailable at once, the office is not called.
    for i in 3..6 {
        let (_, _, got) = get(&portal, &fed, Vn::from_serial(i)).await;
        let s = source(&got, "001.000");
        assert_eq!(s["status"], "unavailable");
        assert_eq!(s["latencyMs"], 0);
        assert!(s["detail"].as_str().unwrap_or("").contains("circuit open"));
    }
    assert_eq!(
        fed.sim.requests(office),
        4,
        "no call while the circuit is open"
    );
    // The office recovers; after the open period one probe lets it back in.
    fed.sim.set_fault(office, None);
    tokio::time::sleep(Duration::from_millis(6100)).await;
    let (_, _, got) = get(&portal, &fed, Vn::from_serial(7)).await;
    assert!(matches!(
        source(&got, "001.000")["status"].as_str(),
        Some("ok" | "no_account")
    ));
    let (_, _, got) = get(&portal, &fed, Vn::from_serial(8)).await;
    assert!(matches!(
        source(&got, "001.000")["status"].as_str(),
        Some("ok" | "no_account")
    ));
    assert_eq!(fed.sim.requests(office), 6);
    let row = adapter_row(&admin, &fed, "001.000").await;
    assert_eq!(row["circuit"], "closed");
    // A portal may not read the adapter list.
    assert_eq!(
        portal
            .get(fed.url("/v1/adapters"))
            .send()
            .await
            .expect("list")
            .status(),
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_over_its_quota_gets_429_and_others_do_not() {
    let fed = Federation::launch(
        Latency::ZERO,
        PATIENT_MS,
        // Refilled once an hour: exactly the burst passes, whatever the machine's speed.
        "portal_queries_per_second = 0.0002777\nportal_burst = 2",
        &BTreeMap::new(),
        |_| {},
    )
    .await;
    let portal = fed.portal();
    // Four at once: the burst of two passes, the rest is over the quota.
    let answers =
        futures_util::future::join_all((0..4).map(|i| get(&portal, &fed, Vn::from_serial(i))))
            .await;
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(
        ok,
        2,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let (status, headers, problem) = answers.into_iter().find(|a| a.0 == 429).expect("a 429");
    assert_eq!(status, 429);
    let retry: u64 = headers["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    // The next query is allowed when the quota has refilled one: about an hour after the
    // burst (less the few seconds the queries took), never more.
    assert!((1800..=3601).contains(&retry), "{retry}");
    assert_eq!(problem["status"], 429);
    let other = fed.client_as(Role::Portal, "other-portal");
    let vn = Vn::from_serial(4);
    let r = other
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(fed.token_as("other-portal", vn))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_accounts_skip_the_offices_until_an_office_announces_a_change() {
    let fed = Federation::launch(
        Latency::ZERO,
        PATIENT_MS,
        "cache_ttl_ms = 60000",
        &BTreeMap::new(),
        |_| {},
    )
    .await;
    let portal = fed.portal();
    let vn = Vn::from_serial(271_828_182);
    let (_, h, first) = get(&portal, &fed, vn).await;
    assert_eq!(h["guichet-cache"], "miss");
    assert_eq!(fed.sim.total_requests(), 101);
    let (_, h, second) = get(&portal, &fed, vn).await;
    assert_eq!(h["guichet-cache"], "hit");
    assert_eq!(second, first);
    assert_eq!(
        fed.sim.total_requests(),
        101,
        "served without any office call"
    );
    // Another year range is another entry.
    let r = portal
        .get(fed.url(&format!("/v1/accounts/{}?yearFrom=2000", vn.digits())))
        .bearer_auth(fed.token(vn))
        .send()
        .await
        .expect("query");
    assert_eq!(r.headers()["guichet-cache"], "miss");
    assert_eq!(fed.sim.total_requests(), 202);
    // The portal can bypass the cache.
    let r = portal
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(fed.token(vn))
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("query");
    assert_eq!(r.headers()["guichet-cache"], "bypass");
    assert_eq!(fed.sim.total_requests(), 303);
    // An office announces a change: only offices may, and the next query asks them again.
    let r = portal
        .post(fed.url("/v1/notifications/account-changed"))
        .body(vn.digits())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    let office = &fed.pki.offices["025.000"];
    let office = fed.client_with(Some((&office.cert, &office.key)), &fed.pki.ca_cert);
    let r = office
        .post(fed.url("/v1/notifications/account-changed"))
        .body(vn.dotted())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 204);
    let r = office
        .post(fed.url("/v1/notifications/account-changed"))
        .body("7561234567890")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let (_, h, _) = get(&portal, &fed, vn).await;
    assert_eq!(h["guichet-cache"], "miss");
    assert_eq!(fed.sim.total_requests(), 404);
    let r = portal
        .get(fed.url(&format!("/v1/accounts/{}?yearFrom=2000", vn.digits())))
        .bearer_auth(fed.token(vn))
        .send()
        .await
        .expect("query");
    assert_eq!(
        r.headers()["guichet-cache"],
        "miss",
        "every year range of the person was evicted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_accounts_are_not_cached() {
    let faults = BTreeMap::from([(id("001.000"), Fault::Status(503))]);
    let fed = Federation::launch(
        Latency::ZERO,
        PATIENT_MS,
        "cache_ttl_ms = 60000",
        &faults,
        |_| {},
    )
    .await;
    let portal = fed.portal();
    let vn = Vn::from_serial(5);
    for _ in 0..2 {
        let (_, h, got) = get(&portal, &fed, vn).await;
        assert_eq!(got["complete"], false);
        assert_eq!(h["guichet-cache"], "miss");
    }
    // Each query asks all 101 offices; the 503 office is retried twice within its budget.
    assert_eq!(fed.sim.total_requests(), 2 * (101 + 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_kind_is_reported_and_the_gateway_stays_healthy() {
    let faults = BTreeMap::from([
        (id("001.000"), Fault::Status(503)),
        (
            id("002.000"),
            Fault::ErrorRate {
                rate: 1.0,
                status: 500,
            },
        ),
        (id("003.000"), Fault::Hang),
        (
            id("004.000"),
            Fault::SlowDrip {
                bytes_per_second: 8,
            },
        ),
        (id("005.000"), Fault::Garbage),
        (id("006.000"), Fault::Oversized(5 * 1024 * 1024)),
        (id("007.000"), Fault::WrongCertificate),
        (id("008.000"), Fault::Refused),
        (id("009.000"), Fault::Delay(Duration::from_secs(5))),
        (
            id("010.000"),
            Fault::Latency(Latency {
                median: Duration::from_millis(5),
                p99: Duration::from_millis(20),
            }),
        ),
    ]);
    // The three offices that never answer in time get a budget of 1 s (the delayed one
    // answers after 5 s, the dripping one after minutes); every other office has all the
    // time it needs, so exactly the ten faults show, however busy the machine is.
    let o = Options {
        protection: NO_BREAKER_NO_RETRY,
        faults: &faults,
        office_timeouts: &[("003.000", 1000), ("004.000", 1000), ("009.000", 1000)],
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    let portal = fed.portal();
    let expect: [(&str, &str, &str); 10] = [
        ("001.000", "error", "HTTP 503"),
        ("002.000", "error", "HTTP 500"),
        ("003.000", "timeout", "no answer within 1000 ms"),
        ("004.000", "timeout", "no answer within 1000 ms"),
        ("005.000", "error", "malformed XML"),
        ("006.000", "error", "larger than"),
        (
            "007.000",
            "error",
            "not to office 007.000; nothing was sent",
        ),
        ("008.000", "error", "could not connect"),
        ("009.000", "timeout", "no answer within 1000 ms"),
        ("010.000", "", ""),
    ];
    let mut tasks_after_first = 0;
    for round in 0..3 {
        let (status, _, got) = get(&portal, &fed, Vn::from_serial(round)).await;
        assert_eq!(status, 200);
        for (office, want, detail) in expect {
            let s = source(&got, office);
            if want.is_empty() {
                assert!(
                    matches!(s["status"].as_str(), Some("ok" | "no_account")),
                    "{office}: {s}"
                );
            } else {
                assert_eq!(s["status"], want, "{office}: {s}");
                assert!(
                    s["detail"].as_str().unwrap_or("").contains(detail),
                    "{office}: {s}"
                );
            }
        }
        let answered = got["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .filter(|s| matches!(s["status"].as_str(), Some("ok" | "no_account")))
            .count();
        let failing: Vec<String> = got["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .filter(|s| !matches!(s["status"].as_str(), Some("ok" | "no_account")))
            .map(|s| format!("{} {} {}", s["office"], s["status"], s["detail"]))
            .collect();
        assert_eq!(answered, 92, "{failing:#?}");
        if round == 0 {
            tasks_after_first = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert!(
        tasks <= tasks_after_first + 20,
        "tasks grew from {tasks_after_first} to {tasks}"
    );
    let connections = fed.sim.open_connections();
    assert!(
        connections <= 110,
        "{connections} connections open to the simulated offices"
    );
    assert_eq!(
        portal
            .get(fed.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );
}
