//! The gateway end to end over real mutual TLS: 101 simulated offices, a portal client,
//! certificates generated at test time.

mod common;

use std::time::Duration;

use common::{Federation, Options, PATIENT_MS};
use guichet::merge::YearRange;
use guichet::model::{OfficeId, Vn};
use guichet::pki::{Ca, Identity, LeafSpec, Role};
use guichet::sim::{Fault, Latency};
use guichet::view::AccountView;

/// The parts of an account that do not depend on timing.
fn comparable(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(sources) = v.get_mut("sources").and_then(|s| s.as_array_mut()) {
        for s in sources {
            if let Some(o) = s.as_object_mut() {
                o.remove("latencyMs");
            }
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_random_people_match_the_truth_through_101_offices() {
    let fed = Federation::start(Latency::ZERO, PATIENT_MS).await;
    assert_eq!(fed.registry.len(), 101);
    let portal = fed.portal();
    let offices = guichet::cli::runtime::sim_offices(&fed.registry);
    let mut seed: u64 = 0x5eed_1234;
    let mut with_iv = 0;
    for _ in 0..50 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let vn = Vn::from_serial(((seed >> 33) % 1_000_000_000) as u32);
        let response = portal
            .get(fed.url(&format!("/v1/accounts/{}", vn.dotted())))
            .bearer_auth(fed.token(vn))
            .send()
            .await
            .expect("query");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let got: serde_json::Value = response.json().await.expect("json");
        let truth =
            guichet::sim::truth(vn, &offices, fed.sim.reference_year(), YearRange::default());
        let want = serde_json::to_value(AccountView::from(&truth)).expect("truth json");
        assert_eq!(comparable(got.clone()), comparable(want), "{}", vn.dotted());
        assert_eq!(got["complete"], true);
        assert_eq!(got["sources"].as_array().map(Vec::len), Some(101));
        with_iv += usize::from(!got["ivCases"].as_array().is_none_or(Vec::is_empty));
    }
    assert_eq!(fed.sim.total_requests(), 50 * 101);
    assert!(with_iv > 0, "some of 50 people have IV cases");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn year_range_is_applied() {
    let fed = Federation::start(Latency::ZERO, PATIENT_MS).await;
    let vn = Vn::from_serial(987_654_321);
    let got: serde_json::Value = fed
        .portal()
        .get(fed.url(&format!(
            "/v1/accounts/{}?yearFrom=2000&yearTo=2010",
            vn.digits()
        )))
        .bearer_auth(fed.token(vn))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    for e in got["entries"].as_array().expect("entries") {
        let y = e["year"].as_u64().expect("year");
        assert!((2000..=2010).contains(&y), "{y}");
    }
    let truth = guichet::sim::truth(
        vn,
        &guichet::cli::runtime::sim_offices(&fed.registry),
        fed.sim.reference_year(),
        YearRange {
            from: Some(2000),
            to: Some(2010),
        },
    );
    assert_eq!(
        comparable(got),
        comparable(serde_json::to_value(AccountView::from(&truth)).expect("json"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_refuses_missing_foreign_and_expired_certificates() {
    let fed = Federation::start(Latency::ZERO, PATIENT_MS).await;
    let ca = &fed.pki.ca_cert;
    // No client certificate.
    let anonymous = fed.client_with(None, ca);
    assert!(anonymous.get(fed.url("/healthz")).send().await.is_err());
    // A certificate from another CA.
    let other = Ca::create("another federation", 30).expect("ca");
    let foreign = other
        .issue(&LeafSpec::new(
            Identity::new(Role::Portal, "intruder").expect("id"),
            30,
        ))
        .expect("leaf");
    let dir = fed.dir.path().join("foreign");
    foreign
        .write(&dir.join("p.pem"), &dir.join("p.key"))
        .expect("write");
    let client = fed.client_with(Some((&dir.join("p.pem"), &dir.join("p.key"))), ca);
    assert!(client.get(fed.url("/healthz")).send().await.is_err());
    // An expired certificate from the right CA.
    let ours = Ca::load(&fed.pki.ca_cert, &fed.pki.ca_key).expect("load ca");
    let mut spec = LeafSpec::new(Identity::new(Role::Portal, "expired").expect("id"), 30);
    spec.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(60);
    spec.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let expired = ours.issue(&spec).expect("leaf");
    expired
        .write(&dir.join("e.pem"), &dir.join("e.key"))
        .expect("write");
    let client = fed.client_with(Some((&dir.join("e.pem"), &dir.join("e.key"))), ca);
    assert!(client.get(fed.url("/healthz")).send().await.is_err());
    // The right one works.
    assert_eq!(
        fed.portal()
            .get(fed.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );
    assert_eq!(fed.sim.total_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_bad_input_get_problems_and_contact_no_office() {
    let fed = Federation::start(Latency::ZERO, PATIENT_MS).await;
    let office_cert = &fed.pki.offices["025.000"];
    let office = fed.client_with(
        Some((&office_cert.cert, &office_cert.key)),
        &fed.pki.ca_cert,
    );
    let r = office
        .get(fed.url("/v1/accounts/7561234567897"))
        .bearer_auth(fed.token_of("7561234567897"))
        .send()
        .await
        .expect("office query");
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(
        office
            .get(fed.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );
    let portal = fed.portal();
    for bad in [
        "7561234567890",
        "756123456789",
        "7571234567896",
        "756.1234.5678.9x",
        "abc",
    ] {
        let r = portal
            .get(fed.url(&format!("/v1/accounts/{bad}")))
            .send()
            .await
            .expect("query");
        assert_eq!(r.status(), 400, "{bad}");
        let p: serde_json::Value = r.json().await.expect("problem");
        for field in ["type", "title", "status", "detail"] {
            assert!(p.get(field).is_some(), "{field} in {p}");
        }
        assert!(
            !p.to_string().contains("1234"),
            "a problem never echoes the number: {p}"
        );
    }
    let r = portal
        .get(fed.url("/v1/accounts/7561234567897?yearFrom=2020&yearTo=2010"))
        .bearer_auth(fed.token_of("7561234567897"))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 400);
    assert_eq!(
        portal
            .get(fed.url("/v2/nothing"))
            .send()
            .await
            .expect("404")
            .status(),
        404
    );
    assert_eq!(fed.sim.total_requests(), 0, "no office was contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_offices_are_reported_and_the_rest_is_complete() {
    // 001.000 hangs for sure and has a budget of its own; every other office has all the
    // time it needs, so "one timeout, 97 answers" holds however busy the machine is.
    let o = Options {
        office_timeouts: &[("001.000", 500)],
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    let id = |s: &str| s.parse::<OfficeId>().expect("office");
    fed.sim.set_fault(id("001.000"), Some(Fault::Hang));
    fed.sim.set_fault(id("002.000"), Some(Fault::Garbage));
    fed.sim.set_fault(id("003.000"), Some(Fault::Status(500)));
    fed.sim
        .set_fault(id("066.000"), Some(Fault::Oversized(5 * 1024 * 1024)));
    let vn = Vn::from_serial(42);
    // 001.000 never answers: that an answer comes at all shows its budget ended the call.
    let query = fed
        .portal()
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(fed.token(vn))
        .send();
    let got: serde_json::Value =
        tokio::time::timeout(Duration::from_secs(PATIENT_MS / 1000), query)
            .await
            .expect("the hanging office does not hold the answer back")
            .expect("query")
            .json()
            .await
            .expect("json");
    assert_eq!(got["complete"], false);
    let status_of = |office: &str| {
        got["sources"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["office"] == office))
            .map(|x| {
                (
                    x["status"].as_str().unwrap_or("").to_owned(),
                    x["detail"].as_str().unwrap_or("").to_owned(),
                )
            })
            .expect("source")
    };
    assert_eq!(
        status_of("001.000"),
        ("timeout".to_owned(), "no answer within 500 ms".to_owned())
    );
    assert_eq!(status_of("002.000").0, "error");
    assert!(
        status_of("002.000").1.contains("malformed XML"),
        "{:?}",
        status_of("002.000")
    );
    assert_eq!(
        status_of("003.000"),
        ("error".to_owned(), "HTTP 500".to_owned())
    );
    assert_eq!(status_of("066.000").0, "error");
    assert!(status_of("066.000").1.contains("larger than"));
    // Every other office answered, and their part equals the truth's.
    let failed = ["001.000", "002.000", "003.000", "066.000"];
    let offices = guichet::cli::runtime::sim_offices(&fed.registry);
    let truth = guichet::sim::truth(vn, &offices, fed.sim.reference_year(), YearRange::default());
    let want = serde_json::to_value(AccountView::from(&truth)).expect("json");
    let others = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| !failed.contains(&e["office"].as_str().unwrap_or("")))
            .cloned()
            .collect()
    };
    assert_eq!(others(&got), others(&want));
    let answered = got["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .filter(|s| matches!(s["status"].as_str(), Some("ok" | "no_account")))
        .count();
    assert_eq!(answered, 97);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_presenting_another_offices_certificate_is_not_believed() {
    let fed = Federation::start_with(Latency::ZERO, PATIENT_MS, |pki| {
        let other = pki.offices["026.001"].clone();
        pki.offices.insert("025.000".into(), other);
    })
    .await;
    let got: serde_json::Value = fed
        .portal()
        .get(fed.url("/v1/accounts/7561234567897"))
        .bearer_auth(fed.token_of("7561234567897"))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    let geneva = got["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["office"] == "025.000"))
        .expect("source");
    assert_eq!(geneva["status"], "error");
    assert!(
        geneva["detail"]
            .as_str()
            .unwrap_or("")
            .contains("office:026.001"),
        "{geneva}"
    );
    assert_eq!(got["complete"], false);
}
