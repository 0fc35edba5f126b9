//! No office can stall the gateway, and the account cache keeps portals and purposes
//! apart (issue #12 items 4 and 10), over real TLS against simulated offices.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Federation;
use guichet::adapter::Registry;
use guichet::model::{OfficeId, Vn};
use guichet::pki::Role;
use guichet::sim::{Fault, Latency};

fn id(s: &str) -> OfficeId {
    s.parse().expect("office id")
}

/// Lets `office` send tens of megabytes, and every office take its time: these tests
/// need complete accounts from a debug build on shared cores.
fn allow_huge_answers(fed: &Federation, office: OfficeId) {
    let registry = fed.state.fanout.registry();
    let adapters = registry.iter().map(|a| {
        let mut a = (**a).clone();
        a.timeout = Duration::from_secs(60);
        if a.office == office {
            a.max_answer_bytes = 64 * 1024 * 1024;
        }
        a
    });
    fed.state
        .fanout
        .set_registry(Registry::from_adapters(adapters));
}

/// A self-service query with the person's token bound to the `demo` portal's certificate.
async fn query(client: &reqwest::Client, fed: &Federation, vn: Vn) -> reqwest::Response {
    query_as(client, fed, vn, fed.token(vn)).await
}

/// A self-service query with `token`.
async fn query_as(
    client: &reqwest::Client,
    fed: &Federation,
    vn: Vn,
    token: String,
) -> reqwest::Response {
    client
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(token)
        .send()
        .await
        .expect("query")
}

fn source<'a>(account: &'a serde_json::Value, office: &str) -> &'a serde_json::Value {
    account["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["office"] == office))
        .expect("source")
}

/// Four queries in flight (two per reactor thread) each receive an answer of 36,000
/// entries with 12,000 unmatched reversals. Once every one of those answers is on its
/// way, `/healthz` on the same gateway keeps answering before the first of the slow
/// queries completes: translation and merge run off the reactor threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_heavy_answers_are_translated_and_merged() {
    let heavy = id("025.000");
    let faults = BTreeMap::from([(
        heavy,
        Fault::Heavy {
            entries: 36_000,
            unmatched_reversals: 12_000,
        },
    )]);
    let fed = Federation::launch(
        Latency::ZERO,
        60_000,
        "max_entries_per_answer = 50000",
        &faults,
        |_| {},
    )
    .await;
    allow_huge_answers(&fed, heavy);
    let portal = fed.portal();
    // A warm connection: /healthz needs no new handshake while the gateway is busy.
    let r = portal
        .get(fed.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);

    const SLOW: usize = 4;
    let completed = Arc::new(AtomicUsize::new(0));
    let mut slow = Vec::new();
    for n in 0..SLOW {
        let vn = Vn::from_serial(700 + n as u32);
        let (portal, url, completed, token) = (
            portal.clone(),
            fed.url(&format!("/v1/accounts/{}", vn.digits())),
            Arc::clone(&completed),
            fed.token(vn),
        );
        slow.push(tokio::spawn(async move {
            let r = portal
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("slow query");
            // Completed for this test when the gateway's answer begins to arrive.
            completed.fetch_add(1, Ordering::SeqCst);
            let status = r.status();
            let body: serde_json::Value = r.json().await.expect("account");
            (status, body)
        }));
    }
    while fed.sim.heavy_answers() < SLOW as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The offices have handed over the last byte of every heavy answer: from here on the
    // gateway translates and merges 144,000 entries. Health checks meanwhile:
    let mut answered_meanwhile = 0;
    while completed.load(Ordering::SeqCst) == 0 {
        let r = portal
            .get(fed.url("/healthz"))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status(), 200);
        if completed.load(Ordering::SeqCst) == 0 {
            answered_meanwhile += 1;
        }
    }
    eprintln!("/healthz answered {answered_meanwhile} times before the first slow query completed");
    assert!(
        answered_meanwhile >= 3,
        "/healthz answered only {answered_meanwhile} times before the first heavy query completed"
    );
    for handle in slow {
        let (status, account) = handle.await.expect("slow task");
        assert_eq!(status, 200);
        let office = source(&account, "025.000");
        assert_eq!(office["status"], "ok", "{office}");
        assert_eq!(office["entries"], 36_000);
        let unmatched = account["conflicts"]
            .as_array()
            .expect("conflicts")
            .iter()
            .filter(|c| c["kind"] == "unmatchedReversal")
            .count();
        assert_eq!(unmatched, 12_000);
    }
}

/// An answer with more entries than `max_entries_per_answer` is that office's `error`
/// "answer too large"; every other office is answered as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_entry_cap_is_an_error_of_that_office() {
    let heavy = id("025.000");
    let faults = BTreeMap::from([(
        heavy,
        Fault::Heavy {
            entries: 5_000,
            unmatched_reversals: 0,
        },
    )]);
    let fed = Federation::launch(
        Latency::ZERO,
        10_000,
        "max_entries_per_answer = 1000",
        &faults,
        |_| {},
    )
    .await;
    allow_huge_answers(&fed, heavy);
    let r = query(&fed.portal(), &fed, Vn::from_serial(42)).await;
    assert_eq!(r.status(), 200);
    let account: serde_json::Value = r.json().await.expect("account");
    let office = source(&account, "025.000");
    assert_eq!(office["status"], "error", "{office}");
    let detail = office["detail"].as_str().expect("detail");
    assert!(
        detail.contains("answer too large") && detail.contains("1000"),
        "{detail}"
    );
    assert_eq!(account["complete"], false);
    let answered = account["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .filter(|s| s["status"] == "ok" || s["status"] == "no_account")
        .count();
    assert_eq!(answered, 100);
}

/// A cached account is filed under portal and purpose: another portal, or the same
/// portal with another purpose, makes the offices be asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_kept_per_portal_and_purpose() {
    let fed = Federation::launch(
        Latency::ZERO,
        10_000,
        "cache_ttl_ms = 60000",
        &BTreeMap::new(),
        |_| {},
    )
    .await;
    allow_huge_answers(&fed, id("025.000"));
    let vn = Vn::from_serial(271_828);
    let demo = fed.portal();
    let r = query(&demo, &fed, vn).await;
    assert_eq!(r.headers()["guichet-cache"], "miss");
    assert_eq!(fed.sim.total_requests(), 101);
    let r = query(&demo, &fed, vn).await;
    assert_eq!(r.headers()["guichet-cache"], "hit");
    assert_eq!(fed.sim.total_requests(), 101);

    let other = fed.client_as(Role::Portal, "other-portal");
    let r = query_as(&other, &fed, vn, fed.token_as("other-portal", vn)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["guichet-cache"], "miss", "portal A's account");
    assert_eq!(fed.sim.total_requests(), 202);

    let r = demo
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(fed.token(vn))
        .header("purpose", "pension-calculation")
        .header("case-reference", "HEAVY-1")
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["guichet-cache"], "miss", "another purpose");
    assert_eq!(fed.sim.total_requests(), 303);
    // Each key is now cached on its own.
    assert_eq!(
        query_as(&other, &fed, vn, fed.token_as("other-portal", vn))
            .await
            .headers()["guichet-cache"],
        "hit"
    );
    assert_eq!(fed.sim.total_requests(), 303);
}

/// The cache is bounded by bytes: an account too large for its share of the budget is
/// not kept (asked again each time), an ordinary one under the same budget is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_too_large_for_the_cache_budget_is_not_cached() {
    let heavy = id("025.000");
    let faults = BTreeMap::from([(
        heavy,
        Fault::Heavy {
            entries: 3_000,
            unmatched_reversals: 0,
        },
    )]);
    let fed = Federation::launch(
        Latency::ZERO,
        10_000,
        "cache_ttl_ms = 60000\ncache_max_bytes = 1048576",
        &faults,
        |_| {},
    )
    .await;
    allow_huge_answers(&fed, heavy);
    let portal = fed.portal();
    let big = Vn::from_serial(8);
    for round in 1..=2u64 {
        let r = query(&portal, &fed, big).await;
        assert_eq!(r.headers()["guichet-cache"], "miss");
        let account: serde_json::Value = r.json().await.expect("account");
        let failed: Vec<_> = account["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .filter(|s| s["status"] != "ok" && s["status"] != "no_account")
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(source(&account, "025.000")["entries"], 3_000);
        assert_eq!(fed.sim.requests(heavy), round, "asked again: not cached");
    }
    // Without the heavy office, the same budget keeps an ordinary account.
    fed.sim.set_fault(heavy, None);
    let small = Vn::from_serial(9);
    assert_eq!(
        query(&portal, &fed, small).await.headers()["guichet-cache"],
        "miss"
    );
    assert_eq!(
        query(&portal, &fed, small).await.headers()["guichet-cache"],
        "hit"
    );
    assert_eq!(fed.sim.requests(heavy), 3);
}

/// The cap counts IK entries and IV cases; the answer at the cap passes, one more record
/// is refused with the cap in the error (no network: the contract examples).
#[test]
fn the_entry_cap_is_exact() {
    use guichet::mapping::{AnswerErrorKind, DEFAULT_MAX_ANSWER_BYTES, MappingSet};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let set = MappingSet::load_dir(&root.join("mappings")).expect("mappings");
    let cases = [
        ("ech-ik", "ik-response-ech.xml", id("025.000")),
        ("ech-iv", "iv-response.xml", id("325.000")),
    ];
    for (dialect, file, office) in cases {
        let body = std::fs::read(root.join("tests/fixtures/contract").join(file)).expect("fixture");
        let m = set.get(dialect).expect("dialect");
        let all = m
            .translate(office, &body, DEFAULT_MAX_ANSWER_BYTES)
            .expect("valid answer");
        let n = all.entries.len() + all.iv_cases.len();
        assert!(n >= 2, "{file}");
        let at_cap = m
            .translate_capped(office, &body, DEFAULT_MAX_ANSWER_BYTES, n)
            .expect("at the cap");
        assert_eq!(at_cap, all);
        let e = m
            .translate_capped(office, &body, DEFAULT_MAX_ANSWER_BYTES, n - 1)
            .expect_err("over the cap");
        assert_eq!(e.kind, AnswerErrorKind::TooManyRecords { limit: n - 1 });
        assert!(
            e.redacted().starts_with("answer too large"),
            "{}",
            e.redacted()
        );
    }
}
