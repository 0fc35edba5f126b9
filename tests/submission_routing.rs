//! `POST /v1/submissions` routed through the central account register, end to end over
//! mutual TLS: the 101 simulated offices and the simulated register, a gateway with a
//! `[routing]` section. One claim per rule of `config/routing/apg.toml` reaches the fund
//! the rule names (the rule id in `GET /v1/submissions/{id}` and in the submission
//! receipt) and that fund accepts it; a second claim for the same period is rejected
//! (`duplicate-period`); with `mode = "broadcast"` or a failing register the claim's own
//! content decides, the history says so, and the fund's transfer brings the claim to the
//! competent fund.

mod common;

use common::{Federation, Options};
use guichet::model::{OfficeId, RegisterAnswer, Vn};
use guichet::sim::Fault;
use guichet::store::{SubmissionId, SubmissionState};
use rustls_pki_types::UnixTime;
use serde_json::Value;

const CLAIM: &str = include_str!("fixtures/claims/apg-claim.json");

/// The cantonal fund of Geneva, the fixture claim's canton.
const GENEVA: &str = "025.000";

async fn start(mode: &str) -> Federation {
    let routing = format!(
        "mode = \"{mode}\"\ntimeout_ms = 3000\non_register_failure = \"broadcast\"\ncache_ttl_ms = 0\n"
    );
    let o = Options {
        routing: &routing,
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    // The delivery worker migrates the store when the gateway starts serving.
    for _ in 0..(common::PATIENT_MS / 50) {
        if fed.state.db.is_migrated().await.unwrap_or(false) {
            return fed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the store was not migrated");
}

/// The fixture claim of `vn` with `activity` (`employee`, `selfEmployed`, …), living in
/// Geneva or, with `abroad`, in France.
fn claim_of(vn: Vn, activity: &str, abroad: bool) -> Value {
    let mut claim: Value = serde_json::from_str(CLAIM).expect("fixture claim");
    claim["claimant"]["vn"] = vn.digits().into();
    if activity != "employee" {
        claim["activityBeforeService"] = serde_json::json!({ activity: {} });
    }
    if abroad {
        let address = &mut claim["claimant"]["address"];
        address["country"] = "FR".into();
        address["postalCode"] = "74100".into();
        address["town"] = "Annemasse".into();
        if let Some(a) = address.as_object_mut() {
            a.remove("canton");
        }
    }
    claim
}

/// The current affiliation (office, genre) the simulated register lists for `vn`.
fn current(answer: &RegisterAnswer) -> Option<(OfficeId, u8)> {
    answer
        .current_affiliations()
        .map(|(account, affiliation)| (account.office, affiliation.genre))
        .next()
}

/// The first person from `from` on whose register answer satisfies `pick`.
fn find(fed: &Federation, from: u32, pick: impl Fn(&RegisterAnswer) -> bool) -> Vn {
    (from..from + 20_000)
        .map(Vn::from_serial)
        .find(|vn| pick(&fed.sim.holdings(*vn).to_answer()))
        .expect("such a person in the synthetic population")
}

/// Submits `claim` under `key` with the claimant's token: the submission id.
async fn submit(fed: &Federation, key: &str, claim: &Value) -> SubmissionId {
    let vn: Vn = claim["claimant"]["vn"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("vn");
    let answer = fed
        .portal()
        .post(fed.url("/v1/submissions"))
        .header("purpose", "claim")
        .header("idempotency-key", key)
        .bearer_auth(fed.token(vn))
        .json(claim)
        .send()
        .await
        .expect("submit");
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.expect("json");
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").parse().expect("uuid")
}

/// The submission once final, as the portal sees it.
async fn finished(fed: &Federation, id: SubmissionId) -> Value {
    for _ in 0..(common::PATIENT_MS / 50) {
        let s = fed.state.db.load_submission(id).await.expect("store");
        if s.is_some_and(|s| s.state.is_final()) {
            let got = fed.portal().get(fed.url(&format!("/v1/submissions/{id}")));
            return got.send().await.expect("get").json().await.expect("json");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("submission {id} never reached a final state");
}

/// The payload of the submission receipt, verified against the federation's root.
fn submission_receipt(fed: &Federation, got: &Value) -> Value {
    let roots = guichet::tls::load_certs(&fed.dir.path().join("certs/federation-ca.pem"))
        .expect("federation root");
    let jws = got["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .find(|r| r["kind"] == "submission")
        .and_then(|r| r["jws"].as_str())
        .expect("a submission receipt");
    guichet::receipt::verify(jws, &roots, UnixTime::now())
        .expect("verifies")
        .payload
}

/// The detail of the `routed` history entry.
fn routed_detail(got: &Value) -> String {
    got["history"]
        .as_array()
        .expect("history")
        .iter()
        .find(|h| h["state"] == "routed")
        .and_then(|h| h["detail"].as_str())
        .expect("a routed entry with a detail")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_routes_to_the_fund_that_accepts() {
    let fed = start("register").await;
    let cantonal: OfficeId = GENEVA.parse().expect("id");
    let employed = find(&fed, 1_000, |a| {
        current(a).is_some_and(|(o, g)| g == 1 && o != cantonal)
    });
    let self_employed = find(&fed, 30_000, |a| current(a).is_some_and(|(_, g)| g == 3));
    // The simulated register's current affiliations are all as employee or
    // self-employed, so this rule decides by its second expression: the cantonal fund.
    let not_employed = find(&fed, 60_000, |a| a.known);
    let loose = find(&fed, 90_000, |a| {
        !a.current_affiliations().any(|(_, f)| f.genre == 1)
    });
    let abroad = Vn::from_serial(120_000);
    let office_of = |vn: Vn| {
        current(&fed.sim.holdings(vn).to_answer())
            .expect("current")
            .0
    };
    let cases = [
        (
            "residence-abroad",
            claim_of(abroad, "employee", true),
            "027.000".parse().expect("id"),
        ),
        (
            "employee-current-affiliation",
            claim_of(employed, "employee", false),
            office_of(employed),
        ),
        (
            "self-employed-affiliation",
            claim_of(self_employed, "selfEmployed", false),
            office_of(self_employed),
        ),
        (
            "not-employed-affiliation-or-canton",
            claim_of(not_employed, "student", false),
            cantonal,
        ),
        (
            "cantonal-fund-of-residence",
            claim_of(loose, "employee", false),
            cantonal,
        ),
    ];
    for (i, (rule, claim, office)) in cases.iter().enumerate() {
        let before = fed.claims(*office).distinct;
        let id = submit(&fed, &format!("rule-{i}"), claim).await;
        let got = finished(&fed, id).await;
        assert_eq!(got["routingRule"], *rule, "{got}");
        assert_eq!(got["competentOffice"], office.to_string(), "{rule}: {got}");
        assert_eq!(got["state"], "accepted", "{rule}: {got}");
        assert!(got["caseNumber"].is_string(), "{rule}: {got}");
        let receipt = submission_receipt(&fed, &got);
        assert_eq!(receipt["routingRule"], *rule);
        assert_eq!(receipt["competentOffice"], office.to_string());
        let detail = routed_detail(&got);
        assert!(detail.starts_with(&format!("rule {rule}; ")), "{detail}");
        assert!(!detail.contains("claim's content"), "{detail}");
        assert_eq!(fed.claims(*office).distinct, before + 1, "{rule}");
    }

    // The same person and period again under another key: the fund rejects it.
    let again = submit(&fed, "rule-1-again", &cases[1].1).await;
    let got = finished(&fed, again).await;
    assert_eq!(got["state"], "rejected", "{got}");
    let text = got.to_string();
    assert!(text.contains("duplicate-period"), "{text}");

    // A failing register: the claim's own content decides (Geneva's fund), the history
    // says why, and the fund's transfer brings the claim to the employer's fund.
    fed.sim.set_register_fault(Some(Fault::Status(500)));
    let other = find(&fed, 150_000, |a| {
        current(a).is_some_and(|(o, g)| g == 1 && o != cantonal)
    });
    let id = submit(&fed, "register-down", &claim_of(other, "employee", false)).await;
    let got = finished(&fed, id).await;
    assert_transferred(&got, office_of(other));
    let detail = routed_detail(&got);
    assert!(
        detail.contains("account register failed (error): routed by the claim's content"),
        "{detail}"
    );
    assert!(!detail.contains(&other.digits()), "{detail}");
}

/// Routed to Geneva's fund by the last rule, transferred by it, accepted by `to`.
fn assert_transferred(got: &Value, to: OfficeId) {
    assert_eq!(got["routingRule"], "cantonal-fund-of-residence", "{got}");
    assert_eq!(got["state"], "accepted", "{got}");
    assert_eq!(got["competentOffice"], to.to_string(), "{got}");
    let transferred = got["history"].as_array().expect("history").iter().any(|h| {
        h["state"] == SubmissionState::Transferred.as_str() && h["office"] == to.to_string()
    });
    assert!(transferred, "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_routes_by_the_claim_and_the_fund_transfers_it() {
    let fed = start("broadcast").await;
    let cantonal: OfficeId = GENEVA.parse().expect("id");
    let employed = find(&fed, 5_000, |a| {
        current(a).is_some_and(|(o, g)| g == 1 && o != cantonal)
    });
    let to = current(&fed.sim.holdings(employed).to_answer())
        .expect("current")
        .0;
    let register_before = fed.sim.register_requests();
    let id = submit(&fed, "broadcast-1", &claim_of(employed, "employee", false)).await;
    let got = finished(&fed, id).await;
    assert_transferred(&got, to);
    let detail = routed_detail(&got);
    assert!(
        detail.contains("account register not asked (routing mode broadcast)"),
        "{detail}"
    );
    assert_eq!(submission_receipt(&fed, &got)["competentOffice"], GENEVA);
    assert_eq!(fed.claims(to).distinct, 1);
    assert_eq!(fed.claims(cantonal).distinct, 1);
    assert_eq!(fed.sim.register_requests(), register_before, "never asked");
}
