//! Readiness (`GET /readyz` on the operations listener) and the shutdown it announces:
//! ready once the store is migrated, `503` naming the check when the store cannot be
//! reached or its schema is behind, and, on a real SIGTERM to `guichet serve`, `503` at
//! once while a query already in flight still completes.

mod common;
#[allow(dead_code)] // start, signal and wait; not the kill -9 and crash-point parts
#[path = "support/serve.rs"]
mod serve;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Federation, Options};
use guichet::sim::{Fault, Latency};
use serve::Serve;

/// `GET /readyz`: status and document.
async fn readyz(client: &reqwest::Client, ops: &str) -> (u16, serde_json::Value) {
    let response = client
        .get(format!("http://{ops}/readyz"))
        .send()
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    (status, response.json().await.expect("readiness document"))
}

/// Polls `/readyz` until it answers `want` (30 s at most); returns the last document.
async fn until(client: &reqwest::Client, ops: &str, want: u16) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let (status, body) = readyz(client, ops).await;
        if status == want {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "readyz still {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn failed_checks(body: &serde_json::Value) -> Vec<String> {
    body["notReady"]
        .as_array()
        .expect("notReady")
        .iter()
        .map(|c| c["check"].as_str().expect("check").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_once_the_store_is_migrated_and_liveness_stays_up() {
    let fed = Federation::build(Options::default(), |_| {}).await;
    let client = fed.portal();
    let ops = fed.ops.to_string();
    // The delivery worker migrates the embedded store at start.
    let body = until(&client, &ops, 200).await;
    assert_eq!(body, serde_json::json!({"ready": true, "notReady": []}));
    let health = client
        .get(format!("http://{ops}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_the_schema_is_behind_then_ready_after_migrating() {
    // Nothing migrates at start: the worker is off.
    let fed = ready_only_after_migrating("[delivery]\nenabled = false\n").await;
    let client = fed.portal();
    let ops = fed.ops.to_string();

    // The outbox gauges the alerts use: nothing delivers here, so a claim stays pending.
    let gauge = |text: &str, name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .parse()
            .expect("a number")
    };
    let metrics = || async {
        let r = client.get(format!("http://{ops}/metrics")).send().await;
        r.expect("metrics").text().await.expect("text")
    };
    let text = metrics().await;
    assert_eq!(gauge(&text, "guichet_outbox_pending"), 0.0);
    assert_eq!(gauge(&text, "guichet_outbox_oldest_age_seconds"), 0.0);
    fed.state
        .db
        .create_submission(pending_claim())
        .await
        .expect("a claim");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let text = metrics().await;
    assert_eq!(gauge(&text, "guichet_outbox_pending"), 1.0);
    assert_eq!(gauge(&text, "guichet_outbox_leased"), 0.0);
    assert!(
        gauge(&text, "guichet_outbox_oldest_age_seconds") >= 1.0,
        "{text}"
    );
}

/// The same on PostgreSQL (`postgres-tests`): the schema version is read in the store's
/// own schema, so a replica on a schema not yet migrated is not ready.
#[cfg(feature = "postgres-tests")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_not_ready_until_its_schema_is_migrated() {
    use guichet::store::scratch::{ScratchSchema, TEST_DATABASE_URL};
    let schema = ScratchSchema::create()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = std::env::var(TEST_DATABASE_URL).expect("set, since the schema exists");
    let extra = format!(
        "[store]\nurl = \"{url}\"\nschema = \"{}\"\n[delivery]\nenabled = false\n",
        schema.name()
    );
    drop(ready_only_after_migrating(&extra).await);
    schema.drop_schema().await.expect("drop schema");
}

/// A gateway built with `extra` (its store not migrated at start): `/readyz` answers `503`
/// naming only the migrations (and how to apply them), then `200` once the store is
/// migrated. The gateway, for what the test checks next.
async fn ready_only_after_migrating(extra: &str) -> Federation {
    let o = Options {
        extra,
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    let client = fed.portal();
    let ops = fed.ops.to_string();
    let (status, body) = readyz(&client, &ops).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(failed_checks(&body), ["migrations"], "{body}");
    let reason = body["notReady"][0]["reason"].as_str().expect("reason");
    assert!(reason.contains("guichet migrate"), "{reason}");
    fed.state.db.migrate().await.expect("migrate");
    let (status, body) = readyz(&client, &ops).await;
    assert_eq!(status, 200, "{body}");
    fed
}

/// A claim as the submissions route stores it (the outbox row comes with it).
fn pending_claim() -> guichet::store::NewSubmission {
    use guichet::store::{NewReceipt, ReceiptKind, SubmissionId, SubmissionType};
    let portal = guichet::model::Identity::new(guichet::model::Role::Portal, "demo");
    guichet::store::NewSubmission {
        id: SubmissionId::random(),
        kind: SubmissionType::ApgClaim,
        portal: portal.expect("portal identity"),
        idempotency_key: "readiness-1".to_owned(),
        body: "{\"n\":1}".to_owned(),
        competent_office: "001.000".parse().expect("office"),
        routing_rule: "employer-fund".to_owned(),
        routing_basis: None,
        receipt: NewReceipt {
            kind: ReceiptKind::Submission,
            jws: "eyJhbGciOiJFUzI1NiJ9.readiness.sig".to_owned(),
        },
        delivery_expiry: Duration::from_secs(30 * 24 * 3600),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_while_the_store_cannot_be_reached() {
    // Port 1 on loopback: nothing listens, the connection is refused.
    let o = Options {
        extra: "[store]\nurl = \"postgres://guichet@127.0.0.1:1/guichet\"\n\
                [delivery]\nenabled = false\n",
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    let client = fed.portal();
    let started = Instant::now();
    let (status, body) = readyz(&client, &fed.ops.to_string()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(failed_checks(&body), ["store"], "{body}");
    // Bounded by the store timeout (twice: ping, then version), not by the pool's.
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = body.to_string();
    assert!(!text.contains("7561"), "no person in readiness: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readiness_off_while_the_query_in_flight_completes() {
    let slow = Duration::from_secs(4);
    let fed_offices = guichet::adapter::Registry::load_dir(
        &common::repo().join("adapters"),
        &guichet::mapping::MappingSet::load_dir(&common::repo().join("mappings"))
            .expect("mappings"),
    )
    .expect("registry");
    let office = fed_offices.iter().next().expect("an office").office;
    let faults = BTreeMap::from([(office, Fault::Delay(slow))]);
    let o = Options {
        latency: Latency::ZERO,
        faults: &faults,
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    // The harness's configuration for a process of its own: its own folder (store),
    // its own audit log, an operations listener and a grace period above the slow office.
    let dir = fed.dir.path();
    let child_dir = dir.join("child");
    std::fs::create_dir_all(&child_dir).expect("child dir");
    let text = std::fs::read_to_string(dir.join("guichet.toml")).expect("config");
    let audit = dir.join("audit").display().to_string();
    let child_audit = child_dir.join("audit").display().to_string();
    let text = text
        .replace("grace_period_ms = 2000", "grace_period_ms = 20000")
        .replace(
            &format!("dir = \"{audit}\""),
            &format!("dir = \"{child_audit}\""),
        )
        + "\n[admin]\nlisten = \"127.0.0.1:0\"\n";
    let config = child_dir.join("guichet.toml");
    std::fs::write(&config, text).expect("child config");
    let mut child = Serve::start(&config, &[], Duration::from_secs(60)).await;
    let (portal, ops) = (child.portal.clone(), child.ops.clone());
    let client = fed.portal();
    until(&client, &ops, 200).await;

    let vn: guichet::model::Vn = "7561234567897".parse().expect("vn");
    let token = fed.token(vn);
    let before = fed.sim.requests(office);
    let query = tokio::spawn({
        let portal_client = fed.portal();
        let url = format!("https://{portal}/v1/accounts/{}", vn.dotted());
        async move { portal_client.get(url).bearer_auth(token).send().await }
    });
    // In flight: the slow office has the gateway's request.
    let start = Instant::now();
    while fed.sim.requests(office) == before {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "query never reached the office"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = Instant::now();
    child.signal("TERM");
    let body = until(&client, &ops, 503).await;
    assert!(
        !query.is_finished(),
        "readiness must turn off while the query is still in flight"
    );
    assert!(
        failed_checks(&body).contains(&"draining".to_owned()),
        "{body}"
    );

    let response = query
        .await
        .expect("task")
        .expect("the query in flight is answered");
    assert_eq!(response.status().as_u16(), 200);
    let account: serde_json::Value = response.json().await.expect("account");
    assert!(account["sources"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(sent.elapsed() < Duration::from_secs(20));
    // Then the process ends by itself, successfully, within the grace period.
    let status = child.exited(Duration::from_secs(25)).await;
    assert!(status.success(), "{status}");
}
