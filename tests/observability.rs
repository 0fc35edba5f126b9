//! Observability end to end: the OpenAPI document covers every served route, metrics
//! carry the federation's behaviour without personal data, and a trace runs from the
//! portal through every office call and back.

mod common;

use std::collections::BTreeMap;

use common::Federation;
use guichet::model::{OfficeId, Vn};
use guichet::sim::{Fault, Latency};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_every_route_and_every_route_is_served() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let doc: serde_json::Value = fed
        .portal()
        .get(fed.url("/v1/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    let paths = doc["paths"].as_object().expect("paths");
    for guichet::server::Route { method, path, .. } in guichet::server::ROUTES {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} missing from the document"))[method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} missing from the document");
        assert!(op["x-roles"].is_array(), "{method} {path} names its roles");
    }
    let documented: usize = paths
        .values()
        .map(|p| {
            p.as_object()
                .map_or(0, |o| o.keys().filter(|k| *k != "parameters").count())
        })
        .sum();
    assert_eq!(
        documented,
        guichet::server::ROUTES.len(),
        "the document describes no route that is not served"
    );
    // Every route is served: with an admin certificate nothing answers 404 or 405.
    let admin = fed.client_with(
        Some((&fed.pki.admin.cert, &fed.pki.admin.key)),
        &fed.pki.ca_cert,
    );
    for guichet::server::Route { method, path, .. } in guichet::server::ROUTES {
        let concrete = path
            .replace("{vn}", "7561234567897")
            .replace("{office}", "025.000");
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let status = admin
            .request(m, fed.url(&concrete))
            .send()
            .await
            .expect("request")
            .status()
            .as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {path} answered {status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_describe_the_federation_without_personal_data() {
    let faults = BTreeMap::from([(
        "003.000".parse::<OfficeId>().expect("id"),
        Fault::Status(500),
    )]);
    // A burst of 3 refilled once an hour: the fourth query is over the quota however
    // long the first three take. Offices are given all the time they need, so that the
    // second query is complete (and cached) on a busy machine too.
    let fed = Federation::launch(
        Latency::ZERO,
        common::PATIENT_MS,
        "cache_ttl_ms = 60000\nportal_queries_per_second = 0.0002777\nportal_burst = 3",
        &faults,
        |_| {},
    )
    .await;
    let ops_addr = fed.ops;
    let portal = fed.portal();
    let vn = Vn::from_serial(424_242);
    let ask = |vn: Vn| {
        portal
            .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
            .bearer_auth(fed.token(vn))
            .send()
    };
    assert_eq!(
        ask(Vn::from_serial(1)).await.expect("query").status(),
        200,
        "003.000 fails: incomplete"
    );
    fed.sim.set_fault("003.000".parse().expect("id"), None);
    assert_eq!(
        ask(vn).await.expect("query").headers()["guichet-cache"],
        "miss"
    );
    assert_eq!(
        ask(vn).await.expect("query").headers()["guichet-cache"],
        "hit"
    );
    assert_eq!(
        ask(vn).await.expect("query").status(),
        429,
        "burst of 3 used up (refilled once an hour)"
    );
    let text = portal
        .get(format!("http://{ops_addr}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    for needle in [
        "guichet_requests_total{route=\"/v1/accounts/{vn}\",status=\"200\"}",
        "guichet_requests_total{route=\"/v1/accounts/{vn}\",status=\"429\"}",
        "guichet_query_duration_seconds_bucket",
        "guichet_office_call_duration_seconds_count{office=\"025.000\"}",
        "guichet_office_calls_total{office=\"003.000\",status=\"error\"}",
        "guichet_cache_lookups_total{kind=\"hit\"}",
        "guichet_rejections_total{kind=\"portal-quota\"}",
        "guichet_circuit_state{office=\"001.000\"} 0",
        "guichet_certificate_days_left{usage=\"server\"",
        "guichet_certificate_days_left{usage=\"seal\"",
        "# EOF",
    ] {
        assert!(
            text.contains(needle),
            "missing {needle} in\n{}",
            &text[..text.len().min(3000)]
        );
    }
    assert!(
        !text.contains(&vn.digits()) && !text.contains("756."),
        "no AHV number in metrics"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_runs_from_the_portal_through_the_offices_and_back() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = fed
        .portal()
        .get(fed.url("/v1/accounts/7561234567897"))
        .bearer_auth(fed.token_of("7561234567897"))
        .header("traceparent", parent)
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["traceparent"], parent);
    assert!(r.headers().contains_key("x-request-id"));
    let seen = fed
        .sim
        .last_traceparent()
        .expect("offices received a traceparent");
    assert!(
        seen.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{seen}"
    );
    assert!(
        !seen.contains("00f067aa0ba902b7"),
        "each office call is its own span"
    );
    // Without one, the gateway starts a trace and still passes it on.
    let r = fed
        .portal()
        .get(fed.url("/v1/accounts/7561234567897"))
        .bearer_auth(fed.token_of("7561234567897"))
        .send()
        .await
        .expect("query");
    let own = r.headers()["traceparent"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let trace_id = &own[3..35];
    assert!(fed.sim.last_traceparent().expect("seen").contains(trace_id));
}

/// The value of the sample line starting with `series` (`0` when absent).
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_refused_retries_and_capped_answers_are_counted_per_office() {
    let faults = BTreeMap::from([
        (
            "003.000".parse::<OfficeId>().expect("id"),
            Fault::Status(503),
        ),
        (
            "025.000".parse::<OfficeId>().expect("id"),
            Fault::Heavy {
                entries: 1_000,
                unmatched_reversals: 0,
            },
        ),
    ]);
    // No earned budget, a reserve of one retry: the first 503 is retried, the second
    // retry is refused by the budget (the reserve refills at one per second).
    let fed = Federation::launch(
        Latency::ZERO,
        2000,
        "max_entries_per_answer = 200\nretry_budget_percent = 0\nretry_min_per_second = 1\nretry_max_per_call = 3",
        &faults,
        |_| {},
    )
    .await;
    let vn = Vn::from_serial(515_151);
    let r = fed
        .portal()
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(fed.token(vn))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
    let account: serde_json::Value = r.json().await.expect("account");
    let status_of = |office: &str| {
        account["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .find(|s| s["office"] == office)
            .map(|s| s["status"].clone())
    };
    assert_eq!(status_of("003.000"), Some("error".into()), "{account}");
    assert_eq!(status_of("025.000"), Some("error".into()), "{account}");
    let text = fed
        .portal()
        .get(format!("http://{}/metrics", fed.ops))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    let retries = sample(&text, "guichet_office_retries_total{office=\"003.000\"}");
    let refused = sample(
        &text,
        "guichet_office_retries_refused_total{office=\"003.000\"}",
    );
    let capped = sample(
        &text,
        "guichet_office_answers_refused_total{office=\"025.000\",reason=\"entry-cap\"}",
    );
    assert!(retries >= 1 && refused >= 1 && capped >= 1, "{text}");
    assert_eq!(
        sample(&text, "guichet_office_retries_total{office=\"001.000\"}"),
        0,
        "an office that answers is not retried"
    );
    assert!(
        !text.contains(&vn.digits()) && !text.contains("756."),
        "no AHV number in metrics"
    );
}
