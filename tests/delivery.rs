//! The delivery worker end to end (issue #15, "Delivery, exactly once"): claims stored in
//! the gateway's store are delivered by `Gateway::serve`'s worker to the simulated funds
//! over real mTLS or through real sedex folders, acknowledged, re-routed on transfer, and
//! sealed with a delivery receipt that verifies offline. Then the same with a gateway
//! process killed (`kill -9`) at each crash point and restarted: each fund sees one
//! message id per claim.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Federation, Options, PATIENT_MS};
use guichet::model::{ApgClaim, Identity, OfficeId, Role};
use guichet::receipt::{ReceiptBody, SubmissionOutcome, SubmissionReceipt};
use guichet::store::{
    NewReceipt, NewSubmission, ReceiptKind, Submission, SubmissionId, SubmissionState,
    SubmissionType,
};
use tokio::io::AsyncBufReadExt;

fn office(s: &str) -> OfficeId {
    s.parse().expect("office id")
}

fn claim(reference: &str, start: &str, end: &str, days: u32) -> Vec<u8> {
    let text = std::fs::read_to_string(common::repo().join("tests/fixtures/claims/apg-claim.json"))
        .expect("claim fixture");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["servicePeriod"]["referenceNumber"] = reference.into();
    v["servicePeriod"]["startDate"] = start.into();
    v["servicePeriod"]["endDate"] = end.into();
    v["servicePeriod"]["numberOfDays"] = days.into();
    let parsed = ApgClaim::from_json(v.to_string().as_bytes()).expect("valid claim");
    parsed.canonical_json()
}

/// Polls `probe` every 50 ms until it gives a value, for at most [`PATIENT_MS`].
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    mut probe: impl FnMut() -> F,
) -> Option<T> {
    for _ in 0..(PATIENT_MS / 50) {
        if let Some(v) = probe().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Waits until the worker has migrated the store (it does so before anything else).
async fn migrated(fed: &Federation) {
    let done = eventually(|| async { fed.state.db.is_migrated().await.ok()?.then_some(()) }).await;
    assert!(
        done.is_some(),
        "the store was not migrated by the delivery worker"
    );
}

/// A federation whose sedex funds have running (simulated) sedex clients.
async fn with_sedex() -> Federation {
    let o = Options {
        sedex: true,
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    migrated(&fed).await;
    fed
}

/// Stores a claim for `to` as the submissions route does (receipt sealed first).
async fn store_claim(fed: &Federation, to: OfficeId, key: &str, body: Vec<u8>) -> SubmissionId {
    let id = SubmissionId::random();
    let body = String::from_utf8(body).expect("utf-8");
    let sealer = fed.state.seal().expect("seal configured");
    let signed = sealer
        .seal(ReceiptBody::Submission(SubmissionReceipt {
            submission_id: id.to_string(),
            submission_type: "apg-claim".into(),
            sha256: guichet::store::sha256_hex(body.as_bytes()),
            competent_office: to.to_string(),
            routing_rule: Some("test".into()),
            received_at: guichet::receipt::rfc3339(
                time::OffsetDateTime::now_utc().unix_timestamp(),
            ),
            outcome: SubmissionOutcome::Received,
        }))
        .expect("sealed");
    let new = NewSubmission {
        id,
        kind: SubmissionType::ApgClaim,
        portal: Identity::new(Role::Portal, "demo").expect("identity"),
        idempotency_key: key.into(),
        body,
        competent_office: to,
        routing_rule: "test".into(),
        routing_basis: None,
        receipt: NewReceipt {
            kind: ReceiptKind::Submission,
            jws: signed.jws,
        },
        delivery_expiry: Duration::from_secs(30 * 86_400),
    };
    fed.state.db.create_submission(new).await.expect("stored");
    id
}

async fn final_state(fed: &Federation, id: SubmissionId) -> Submission {
    let load = || async {
        let sub = fed.state.db.load_submission(id).await.expect("store");
        sub.expect("submission")
    };
    match eventually(|| async { Some(load().await).filter(|s| s.state.is_final()) }).await {
        Some(sub) => sub,
        None => panic!(
            "submission never reached a final state: {:#?}",
            load().await
        ),
    }
}

/// Stores `body` for `fund` under `key` and waits for the fund's acceptance.
async fn accepted(fed: &Federation, fund: OfficeId, key: &str, body: Vec<u8>) -> Submission {
    let id = store_claim(fed, fund, key, body).await;
    let sub = final_state(fed, id).await;
    assert_eq!(sub.state, SubmissionState::Accepted, "{:#?}", details(&sub));
    sub
}

fn details(sub: &Submission) -> Vec<String> {
    sub.history
        .iter()
        .map(|h| {
            format!(
                "{} {} {}",
                h.state,
                h.office.map(|o| o.to_string()).unwrap_or_default(),
                h.detail.clone().unwrap_or_default()
            )
        })
        .collect()
}

/// The offices a submission went to, in order: the first routed one and every transfer.
fn chain(sub: &Submission) -> Vec<OfficeId> {
    sub.history
        .iter()
        .filter(|h| {
            matches!(
                h.state,
                SubmissionState::Routed | SubmissionState::Transferred
            )
        })
        .filter_map(|h| h.office)
        .fold(Vec::new(), |mut v, o| {
            if v.last() != Some(&o) {
                v.push(o);
            }
            v
        })
}

fn roots(fed: &Federation) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    let ca = &fed.config.seal.as_ref().expect("seal").paths().ca;
    guichet::tls::load_certs(ca).expect("roots")
}

fn assert_delivery_receipt(fed: &Federation, sub: &Submission, outcome: &str) {
    let receipt = sub
        .receipts_of(ReceiptKind::Delivery)
        .last()
        .expect("a delivery receipt");
    let verified =
        guichet::receipt::verify(&receipt.jws, &roots(fed), rustls_pki_types::UnixTime::now())
            .expect("the delivery receipt verifies offline");
    assert_eq!(verified.payload["kind"], "delivery");
    assert_eq!(verified.payload["submissionId"], sub.id.to_string());
    assert_eq!(verified.payload["sha256"], sub.body_sha256);
    assert_eq!(verified.payload["outcome"], outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_fund_acknowledges_and_every_fund_sees_one_message_id() {
    let fed = Federation::build(Options::default(), |_| {}).await;
    migrated(&fed).await;
    // 001.000 is a cantonal fund taking claims synchronously; the simulated funds decide
    // by the synthetic population, so it either accepts or transfers to the competent one.
    let first = office("001.000");
    let body = claim("SEO-1", "2026-10-05", "2026-10-23", 19);
    let sub = accepted(&fed, first, "k-1", body).await;
    assert!(
        sub.case_number
            .as_deref()
            .is_some_and(|c| c.starts_with("APG-"))
    );
    let visited = chain(&sub);
    assert_eq!(visited.first(), Some(&first));
    for o in &visited {
        assert_eq!(fed.claims(*o).distinct, 1, "fund {o}: one message id");
    }
    assert_eq!(sub.competent_office, *visited.last().expect("one office"));
    assert_delivery_receipt(&fed, &sub, "accepted");
    if visited.len() > 1 {
        let transfers = sub.receipts_of(ReceiptKind::Delivery).count();
        assert_eq!(
            transfers,
            visited.len(),
            "one delivery receipt per acknowledgement"
        );
    }

    // The same person and period again (another submission): the fund refuses it.
    let again = store_claim(
        &fed,
        first,
        "k-2",
        claim("SEO-2", "2026-10-10", "2026-10-12", 3),
    )
    .await;
    let dup = final_state(&fed, again).await;
    assert_eq!(dup.state, SubmissionState::Rejected, "{:#?}", details(&dup));
    assert!(
        details(&dup).iter().any(|d| d.contains("duplicate-period")),
        "{:#?}",
        details(&dup)
    );
    assert_delivery_receipt(&fed, &dup, "rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sedex_fund_gets_data_then_envelope_and_its_receipts_are_followed() {
    let fed = with_sedex().await;
    // 066.000 takes claims only through its sedex client.
    let fund = office("066.000");
    let body = claim("SEO-S", "2026-09-01", "2026-09-10", 10);
    let sub = accepted(&fed, fund, "k-s", body).await;
    let d = details(&sub);
    assert!(
        d.iter()
            .any(|l| l.contains("066.000 sedex: handed to the client")),
        "{d:#?}"
    );
    // The fund's sedex receipt 100 or its acknowledgement (which may overtake the receipt).
    assert!(
        d.iter()
            .any(|l| l.contains("sedex 100") || l.contains("by 066.000")),
        "{d:#?}"
    );
    assert_eq!(fed.claims(fund).distinct, 1);
    // Every outbox row ends (the one of 066.000 too, once its receipt is seen).
    let subject = guichet::store::Subject::submission(sub.id);
    let rows = || async { fed.state.db.outbox_of(&subject).await.expect("outbox") };
    let pending = guichet::store::OutboxState::Pending;
    let ended =
        eventually(|| async { (!rows().await.iter().any(|r| r.state == pending)).then_some(()) })
            .await;
    assert!(
        ended.is_some(),
        "outbox rows left pending: {:#?}",
        rows().await
    );
    let folder = fed.sedex_folder(fund).expect("sedex folder");
    let outbox = std::fs::read_dir(folder.join("outbox"))
        .expect("outbox")
        .count();
    assert_eq!(outbox, 0, "the client took the pair");
    let processed: Vec<String> = std::fs::read_dir(folder.join("processed"))
        .expect("processed")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert!(
        processed.iter().any(|n| n.starts_with("receipt_")),
        "the final receipt is archived: {processed:?}"
    );
    assert_delivery_receipt(&fed, &sub, "accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fund_answering_202_acknowledges_through_its_sedex_inbox() {
    let fed = with_sedex().await;
    // 037.000 answers 202 on its listener and sends the acknowledgement over sedex.
    let fund = office("037.000");
    let body = claim("SEO-A", "2026-08-03", "2026-08-07", 5);
    let sub = accepted(&fed, fund, "k-202", body).await;
    assert!(
        details(&sub).iter().any(|l| l.contains("(202)")),
        "{:#?}",
        details(&sub)
    );
    assert_eq!(fed.claims(fund).distinct, 1);
    assert_delivery_receipt(&fed, &sub, "accepted");
}

/// A `guichet serve` child on the test's configuration (its own audit folder), optionally
/// told to stop at a crash point.
struct Child {
    process: tokio::process::Child,
}

impl Child {
    async fn start(config: &Path, crash_at: Option<&str>) -> Child {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_guichet"));
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match crash_at {
            Some(point) => cmd.env("GUICHET_CRASH_AT", point),
            None => cmd.env_remove("GUICHET_CRASH_AT"),
        };
        Child {
            process: cmd.spawn().expect("guichet serve"),
        }
    }

    /// Waits until the child says it stopped at its crash point.
    async fn reached(&mut self, point: &str) {
        let stderr = self.process.stderr.take().expect("stderr");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let wanted = format!("crash point {point} reached");
        let found = tokio::time::timeout(Duration::from_millis(PATIENT_MS * 2), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains(&wanted) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(found, Ok(true), "the child never reached {point}");
    }

    /// `kill -9`.
    async fn kill(mut self) {
        self.process.start_kill().expect("SIGKILL");
        let _ = self.process.wait().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_at_any_point_of_a_delivery_delivers_each_claim_once() {
    // The in-process gateway only stores; the children deliver. Short leases, so that a
    // killed child's rows are due again soon.
    let o = Options {
        sedex: true,
        extra: "[delivery]\nenabled = false\npoll_interval_ms = 50\n\n[store]\nlease_ms = 1000\n",
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    // The in-process gateway does not migrate (its worker is off): the children do; wait
    // for the first one before storing.
    let text = std::fs::read_to_string(&fed.config.file).expect("config");
    let child_config = fed.dir.path().join("child.toml");
    let child_audit = fed.dir.path().join("child-audit");
    let text = text.replace("enabled = false", "enabled = true").replace(
        &format!("dir = \"{}\"", fed.dir.path().join("audit").display()),
        &format!("dir = \"{}\"", child_audit.display()),
    );
    std::fs::write(&child_config, text).expect("child config");

    let cases = [
        ("before-send", "001.000"),
        ("after-send", "002.000"),
        ("before-record", "003.000"),
        ("between-data-and-envelope", "066.000"),
        ("after-send", "098.000"),
    ];
    for (n, (point, fund)) in cases.iter().enumerate() {
        let fund = office(fund);
        let mut child = Child::start(&child_config, Some(point)).await;
        if n == 0 {
            migrated(&fed).await;
        }
        let start = format!("2025-0{}-01", n + 1);
        let end = format!("2025-0{}-05", n + 1);
        let before: Vec<(OfficeId, u64)> = fed
            .registry
            .iter()
            .map(|a| (a.office, fed.claims(a.office).distinct))
            .collect();
        let body = claim(&format!("SEO-C{n}"), &start, &end, 5);
        let id = store_claim(&fed, fund, &format!("crash-{n}"), body).await;
        child.reached(point).await;
        child.kill().await;
        let sub = fed
            .state
            .db
            .load_submission(id)
            .await
            .expect("store")
            .expect("sub");
        assert!(
            !sub.state.is_final(),
            "{point}: killed before the outcome was stored"
        );

        let child = Child::start(&child_config, None).await;
        let sub = final_state(&fed, id).await;
        child.kill().await;
        assert_eq!(
            sub.state,
            SubmissionState::Accepted,
            "{point}: {:#?}",
            details(&sub)
        );
        // Exactly once: each fund of the claim's chain saw one new message id, no other
        // fund saw any, however often the claim was sent.
        let visited = chain(&sub);
        for (o, was) in &before {
            let new = fed.claims(*o).distinct - was;
            let expected = u64::from(visited.contains(o));
            assert_eq!(new, expected, "{point}: fund {o} saw {new} new message ids");
        }
        let rows = fed
            .state
            .db
            .outbox_of(&guichet::store::Subject::submission(id))
            .await
            .expect("outbox");
        let first = rows.first().expect("a row");
        assert_eq!(first.target_office, fund);
        // The fund saw exactly one message id for this claim, however often it was sent.
        let ids: std::collections::BTreeSet<&str> =
            rows.iter().map(|r| r.message_id.as_str()).collect();
        assert_eq!(
            ids.len(),
            rows.len(),
            "{point}: one message id per delivery target"
        );
        assert_delivery_receipt(&fed, &sub, "accepted");
    }
}
