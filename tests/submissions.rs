//! `POST /v1/submissions`, `GET /v1/submissions/{id}` and `/receipts` end to end over
//! mutual TLS against a gateway with a seal and an SQLite store in a tempdir: a valid claim
//! is stored with a receipt that verifies offline against the federation's root; the same
//! key and body give the same submission, another body `409`; an invalid claim gives `422`
//! listing every invalid field (never its value) and stores nothing; another portal sees
//! `404`.

mod common;

use common::Federation;
use guichet::model::Role;
use guichet::sim::Latency;
use guichet::store::SubmissionId;
use guichet::view::ProblemView;
use rustls_pki_types::UnixTime;
use serde_json::Value;

/// The claimant of the fixture claim (its token is what the portal presents).
const CLAIMANT: &str = "7561234567897";

const CLAIM: &str = include_str!("fixtures/claims/apg-claim.json");

fn claim() -> Value {
    serde_json::from_str(CLAIM).expect("fixture claim")
}

async fn submit(
    client: &reqwest::Client,
    fed: &Federation,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut req = client
        .post(fed.url("/v1/submissions"))
        .header("purpose", "claim")
        .bearer_auth(fed.token_of(CLAIMANT))
        .json(body);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    req.send().await.expect("submit")
}

/// The delivery worker migrates the store when the gateway starts serving.
async fn migrated(fed: &Federation) {
    for _ in 0..(common::PATIENT_MS / 50) {
        if fed.state.db.is_migrated().await.unwrap_or(false) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the store was not migrated");
}

async fn stored(fed: &Federation) -> u64 {
    let integrity = fed.state.db.integrity().await.expect("integrity");
    assert!(integrity.is_sound(), "nothing half-written: {integrity:?}");
    integrity.submissions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_stored_routed_and_receipted_once_per_key() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    migrated(&fed).await;
    let portal = fed.portal();

    let created = submit(&portal, &fed, Some("claim-1"), &claim()).await;
    assert_eq!(created.status().as_u16(), 201);
    let location = created
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_owned();
    let body: Value = created.json().await.expect("submission");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/v1/submissions/{id}"));
    assert_eq!(body["type"], "apg-claim");
    assert_eq!(body["state"], "routed");
    assert!(body["competentOffice"].is_string());
    assert!(!body["routingRule"].as_str().unwrap_or("").is_empty());
    let states: Vec<&str> = body["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["state"].as_str())
        .collect();
    assert_eq!(states, ["received", "routed"]);

    // The submission receipt verifies offline with the federation's root and attests
    // this submission, its office and the hash of the stored canonical body.
    let receipts: Value = portal
        .get(fed.url(&format!("{location}/receipts")))
        .send()
        .await
        .expect("receipts")
        .json()
        .await
        .expect("receipts json");
    assert_eq!(receipts["submissionId"], id.as_str());
    let list = receipts["receipts"].as_array().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["kind"], "submission");
    let roots = guichet::tls::load_certs(&fed.dir.path().join("certs/federation-ca.pem"))
        .expect("federation root");
    let jws = list[0]["jws"].as_str().expect("jws");
    let verified = guichet::receipt::verify(jws, &roots, UnixTime::now()).expect("verifies");
    let payload = &verified.payload;
    assert_eq!(payload["submissionId"], id.as_str());
    assert_eq!(payload["type"], "apg-claim");
    assert_eq!(payload["outcome"], "received");
    assert_eq!(payload["competentOffice"], body["competentOffice"]);
    let row = fed
        .state
        .db
        .load_submission(id.parse().expect("uuid"))
        .await
        .expect("load")
        .expect("stored");
    assert_eq!(payload["sha256"], row.body_sha256.as_str());

    // A flipped byte of the receipt is refused.
    let mut forged = jws.to_owned().into_bytes();
    let at = forged.len() / 2;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("ascii");
    assert!(guichet::receipt::verify(&forged, &roots, UnixTime::now()).is_err());

    // The same key and body: the same submission, 200, nothing new stored.
    let again = submit(&portal, &fed, Some("claim-1"), &claim()).await;
    assert_eq!(again.status().as_u16(), 200);
    let again: Value = again.json().await.expect("again");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(stored(&fed).await, 1);

    // The same key, another body: 409, nothing stored.
    let mut other = claim();
    other["servicePeriod"]["referenceNumber"] = "SEO-2026-0048214".into();
    let conflict = submit(&portal, &fed, Some("claim-1"), &other).await;
    assert_eq!(conflict.status().as_u16(), 409);
    let problem: ProblemView = conflict.json().await.expect("problem");
    assert_eq!(problem.kind, "urn:guichet:problem:idempotency-conflict");
    assert_eq!(stored(&fed).await, 1);

    // The GET gives the same submission to its portal ...
    let got = portal.get(fed.url(&location)).send().await.expect("get");
    assert_eq!(got.status().as_u16(), 200);
    let got: Value = got.json().await.expect("got");
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["receipts"].as_array().map(Vec::len), Some(1));

    // ... and 404 to another portal, on both routes.
    let other_portal = fed.client_as(Role::Portal, "other-portal");
    for path in [location.clone(), format!("{location}/receipts")] {
        let answer = other_portal.get(fed.url(&path)).send().await.expect("get");
        assert_eq!(answer.status().as_u16(), 404, "{path}");
        let problem: ProblemView = answer.json().await.expect("problem");
        assert_eq!(problem.kind, "urn:guichet:problem:no-submission");
    }
    // A malformed id is a 400, an unknown one a 404.
    let bad = portal
        .get(fed.url("/v1/submissions/not-a-uuid"))
        .send()
        .await
        .expect("get");
    assert_eq!(bad.status().as_u16(), 400);
    let unknown = portal
        .get(fed.url("/v1/submissions/00000000-0000-4000-8000-000000000000"))
        .send()
        .await
        .expect("get");
    assert_eq!(unknown.status().as_u16(), 404);

    // The delivery worker takes it from the outbox to a final state, and the fund's
    // acknowledgement adds a delivery receipt the portal sees.
    let id: SubmissionId = id.parse().expect("uuid");
    let mut last = None;
    let mut done = None;
    for _ in 0..(common::PATIENT_MS / 50) {
        let sub = fed
            .state
            .db
            .load_submission(id)
            .await
            .expect("store")
            .expect("submission");
        if sub.state.is_final() {
            done = Some(sub);
            break;
        }
        last = Some(sub.state);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let done = done.unwrap_or_else(|| panic!("never final, last {last:?}"));
    let got: Value = portal
        .get(fed.url(&location))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["state"], done.state.as_str());
    let kinds: Vec<&str> = got["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"delivery"),
        "{kinds:?} in state {}",
        done.state
    );

    // Replays are answered from the store before anything is sealed: no receipt, no
    // audit record, for the same body (200) or another one (409).
    let (head, _) = fed.state.audit.head();
    let again = submit(&portal, &fed, Some("claim-1"), &claim()).await;
    assert_eq!(again.status().as_u16(), 200);
    let again: Value = again.json().await.expect("again");
    assert_eq!(again["id"], id.to_string());
    assert_eq!(
        again["receipts"].as_array().map(Vec::len),
        Some(kinds.len())
    );
    let conflict = submit(&portal, &fed, Some("claim-1"), &other).await;
    assert_eq!(conflict.status().as_u16(), 409);
    assert_eq!(fed.state.audit.head().0.seq, head.seq, "nothing audited");
    assert_eq!(stored(&fed).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_claim_lists_every_field_and_stores_nothing() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    migrated(&fed).await;
    let portal = fed.portal();
    let mut bad = claim();
    bad["claimant"]["vn"] = "7561234567890".into();
    bad["payment"]["iban"] = "CH9300762011623852950".into();
    bad["servicePeriod"]["endDate"] = "2026-02-30".into();
    let answer = submit(&portal, &fed, Some("bad-1"), &bad).await;
    assert_eq!(answer.status().as_u16(), 422);
    let text = answer.text().await.expect("body");
    for value in ["7561234567890", "CH9300762011623852950", "2026-02-30"] {
        assert!(!text.contains(value), "the problem echoes no value");
    }
    let problem: ProblemView = serde_json::from_str(&text).expect("problem");
    assert_eq!(problem.kind, "urn:guichet:problem:invalid-submission");
    let pointers: Vec<&str> = problem.errors.iter().map(|e| e.pointer.as_str()).collect();
    for want in ["/claimant/vn", "/payment/iban", "/servicePeriod/endDate"] {
        assert!(pointers.contains(&want), "{want} in {pointers:?}");
    }
    assert_eq!(stored(&fed).await, 0);

    // No Idempotency-Key, or an oversized one: 400, nothing stored.
    let none = submit(&portal, &fed, None, &claim()).await;
    assert_eq!(none.status().as_u16(), 400);
    let long = "k".repeat(65);
    let long = submit(&portal, &fed, Some(&long), &claim()).await;
    assert_eq!(long.status().as_u16(), 400);
    assert_eq!(stored(&fed).await, 0);

    // Without the claimant's token: 401; with another person's: 403; nothing stored.
    let anonymous = portal
        .post(fed.url("/v1/submissions"))
        .header("purpose", "claim")
        .header("idempotency-key", "t-1")
        .json(&claim())
        .send()
        .await
        .expect("post");
    assert_eq!(anonymous.status().as_u16(), 401);
    let someone_else = portal
        .post(fed.url("/v1/submissions"))
        .header("purpose", "claim")
        .header("idempotency-key", "t-2")
        .bearer_auth(fed.token_of("7562295883070"))
        .json(&claim())
        .send()
        .await
        .expect("post");
    assert_eq!(someone_else.status().as_u16(), 403);
    assert_eq!(stored(&fed).await, 0);

    // A portal stating another purpose may not submit.
    let wrong = portal
        .post(fed.url("/v1/submissions"))
        .header("idempotency-key", "p-1")
        .json(&claim())
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status().as_u16(), 403);
    assert_eq!(stored(&fed).await, 0);
}
