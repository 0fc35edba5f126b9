//! Three real `guichet serve` processes on loopback ports, one fresh PostgreSQL schema,
//! the simulated offices of the test (issue #17, "How it is checked"): a notification to
//! replica 2 evicts the person on replicas 1 and 3; the portal quota holds across the
//! three processes; an adapter change through replica 1 is used by replica 3 within 1 s;
//! a claim accepted by replica 1, which is killed (`kill -9`) while it holds the claim's
//! outbox lease, is delivered exactly once by the others once the lease expires; and
//! `guichet audit verify` finds the three replicas' chains intact after it all. Needs
//! `--features postgres-tests` and `GUICHET_TEST_DATABASE_URL` (fails loudly without
//! them, never passes silently) and a debug build (the crash point).
#![cfg(feature = "postgres-tests")]

mod common;
#[path = "support/replica.rs"]
mod replica;
#[path = "support/serve.rs"]
mod serve;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Federation, PATIENT_MS};
use guichet::model::{OfficeId, Vn};
use guichet::pki::Role;
use guichet::store::SubmissionState;
use replica::query;
use serde_json::Value;
use serve::Serve;

/// The portal quota of every replica: 60 at once, next to no refill.
const BURST: usize = 60;
/// How long an awaited event may take on a busy machine (a bound, never a measurement).
const PATIENCE: Duration = Duration::from_millis(PATIENT_MS);
/// The claimant of the fixture claim.
const CLAIMANT: &str = "7561234567897";
/// How soon an adapter change through one replica is used by the others (issue #17).
const LIVE: Duration = Duration::from_secs(1);
/// Where the delivering replica stops: the fund has the claim, its answer is not recorded.
const CRASH_POINT: &str = "after-send";

/// What every replica adds to the federation's configuration: an operations listener,
/// a short outbox lease (a dead replica's rows are due again after 2 s), a brisk worker.
const STORE: &str = "lease_ms = 2000\npool_size = 4";
const EXTRA: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n\n\
                     [delivery]\npoll_interval_ms = 100\nbackoff_initial_ms = 200\nbackoff_max_ms = 1000\n";

/// GET on a replica's portal listener; status and JSON body (`Null` if none).
async fn get(client: &reqwest::Client, r: &Serve, path: &str) -> (u16, Value) {
    let answer = client
        .get(format!("https://{}{path}", r.portal))
        .send()
        .await
        .expect("request");
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// The live replica count a replica exports (`guichet_replicas_live`).
async fn live(client: &reqwest::Client, r: &Serve) -> u64 {
    let text = client
        .get(format!("http://{}/metrics", r.ops))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix("guichet_replicas_live "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits (bounded) until every replica counts `n` live replicas.
async fn until_live(client: &reqwest::Client, replicas: &[&Serve], n: u64) {
    for _ in 0..(PATIENT_MS / 100) {
        let mut counts = Vec::new();
        for r in replicas {
            counts.push(live(client, r).await);
        }
        if counts.iter().all(|c| *c == n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replicas never all counted {n} live replicas");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_serve_processes_share_evictions_quota_and_deliveries() {
    let (url, schema, fed) = replica::federation(BURST).await;
    let configs: Vec<_> = (1..=3)
        .map(|n| {
            let schema = (url.as_str(), schema.name());
            let path =
                replica::write_config(&fed.config.file, fed.dir.path(), n, schema, STORE, EXTRA);
            replica::own_adapters_folder(&fed.config.offices.adapters, &path, n);
            path
        })
        .collect();
    // Replica 1 stops for good at the crash point of any delivery it makes (debug builds);
    // nothing is delivered before the claim of step 3.
    let crash = [("GUICHET_CRASH_AT", CRASH_POINT)];
    let r1 = Serve::start(&configs[0], &crash, PATIENCE).await;
    let r2 = Serve::start(&configs[1], &[], PATIENCE).await;
    let r3 = Serve::start(&configs[2], &[], PATIENCE).await;
    // Any client will do for the plain-HTTP operations listeners.
    let ops = fed.portal();
    for r in [&r1, &r2, &r3] {
        r.ready(&ops, PATIENCE).await;
    }
    until_live(&ops, &[&r1, &r2, &r3], 3).await;

    a_notification_to_replica_2_evicts_on_all(&fed, [&r1, &r2, &r3]).await;
    the_portal_quota_holds_across_replicas(&fed, &ops, [&r1, &r2, &r3]).await;
    an_adapter_change_via_replica_1_is_used_by_replica_3(&fed, &r1, &r3).await;
    a_claim_of_a_killed_replica_is_delivered_once(&fed, r1, [&r2, &r3]).await;

    // Replica 1 comes back (its audit log recovers the killed process's tail); then all
    // three stop as on a node drain, and their three chains verify.
    let r1 = Serve::start(&configs[0], &[], PATIENCE).await;
    r1.ready(&ops, PATIENCE).await;
    for r in [r1, r2, r3] {
        let status = r.terminate(PATIENCE).await;
        assert!(status.success(), "{status}");
    }
    the_three_audit_chains_verify(&fed);
    drop(fed);
    schema.drop_schema().await.expect("drop schema");
}

/// Cached on replicas 1 and 3, an office's `account-changed` to replica 2, and both ask
/// the offices again.
async fn a_notification_to_replica_2_evicts_on_all(fed: &Federation, [r1, r2, r3]: [&Serve; 3]) {
    let cached = [r1.portal.as_str(), r3.portal.as_str()];
    let (other, vn, token) = replica::cache_then_notify(fed, &cached, &r2.portal).await;
    let notifier: OfficeId = "025.000".parse().expect("office");
    let asked = fed.sim.requests(notifier);
    for addr in cached {
        let evicted = replica::evicted(&other, addr, (vn, &token), PATIENT_MS / 100).await;
        assert!(evicted, "replica {addr} still serves the old account");
    }
    assert!(
        fed.sim.requests(notifier) >= asked + 2,
        "replicas 1 and 3 asked the office again"
    );
}

/// A burst spread round robin over the three processes is cut at the global quota: each
/// replica allows ceil(60 / 3) = 20 while it counts three live replicas, so the
/// documented accuracy (plus at most n − 1 of rounding) is exact here.
async fn the_portal_quota_holds_across_replicas(
    fed: &Federation,
    ops: &reqwest::Client,
    replicas: [&Serve; 3],
) {
    let portal = fed.client_as(Role::Portal, "newportal");
    let vn = Vn::from_serial(27_182_818);
    let token = fed.token_as("newportal", vn);
    let mut accepted = [0usize; 3];
    for i in 0..(BURST + 30) {
        let n = i % 3;
        match query(&portal, &replicas[n].portal, vn, &token).await.0 {
            200 => accepted[n] += 1,
            429 => {}
            other => panic!("status {other}"),
        }
    }
    let mut counts = Vec::new();
    for r in replicas {
        counts.push(live(ops, r).await);
    }
    assert_eq!(counts, [3; 3], "the live count stayed three");
    assert_eq!(accepted, [BURST / 3; 3], "accepted per replica");
    assert_eq!(accepted.iter().sum::<usize>(), BURST, "the global quota");
}

/// An office renamed through replica 1's adapter API (`PUT /v1/adapters/{office}` with
/// `If-Match`) is used by replica 3 for real account queries within [`LIVE`]: queries are
/// sent to replica 3 every 100 ms from the change's answer on (each for another person,
/// so no cached account hides the change), and one sent within [`LIVE`] of it must name
/// the office by its new name. The bound is the issue's; the wait itself is bounded too.
async fn an_adapter_change_via_replica_1_is_used_by_replica_3(
    fed: &Federation,
    r1: &Serve,
    r3: &Serve,
) {
    const OFFICE: &str = "001.000";
    const RENAMED: &str = "Ausgleichskasse (renamed through replica 1)";
    let admin = fed.client_as(Role::Admin, "ops");
    let url = format!("https://{}/v1/adapters/{OFFICE}", r1.portal);
    let read: Value = admin
        .get(&url)
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    let version = read["version"].as_u64().unwrap_or_else(|| panic!("{read}"));
    let mut definition = read["definition"].clone();
    definition["name"] = Value::from(RENAMED);
    let changed = admin
        .put(&url)
        .header("If-Match", format!("\"{version}\""))
        .json(&definition)
        .send()
        .await
        .expect("change");
    assert_eq!(changed.status().as_u16(), 200);
    let at = Instant::now();
    let mut queries = tokio::task::JoinSet::new();
    for i in 0u32.. {
        let (portal, addr) = (fed.portal(), r3.portal.clone());
        let vn = Vn::from_serial(900_000 + i);
        let token = fed.token(vn);
        let sent = at.elapsed();
        queries.spawn(async move {
            let account: Value = portal
                .get(format!("https://{addr}/v1/accounts/{}", vn.digits()))
                .bearer_auth(token)
                .send()
                .await
                .expect("query")
                .json()
                .await
                .expect("account");
            let name = account["sources"]
                .as_array()
                .and_then(|s| s.iter().find(|x| x["office"] == OFFICE))
                .map(|s| s["name"].clone());
            (sent, name)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        if sent > LIVE {
            break;
        }
    }
    let mut seen: Vec<(Duration, Option<Value>)> = queries.join_all().await;
    seen.sort_by_key(|(sent, _)| *sent);
    let first = seen
        .iter()
        .find(|(_, name)| name.as_ref().is_some_and(|n| n == RENAMED));
    let Some((sent, _)) = first else {
        panic!("replica 3 never used the change: {seen:?}");
    };
    eprintln!("replica 3 used the change in a query sent {sent:?} after the change's answer");
    assert!(
        *sent <= LIVE,
        "first used by a query sent {sent:?} after the change: {seen:?}"
    );
    // Every query sent after that one uses it too.
    for (later, name) in seen.iter().filter(|(t, _)| t > sent) {
        assert_eq!(
            name.as_ref().and_then(Value::as_str),
            Some(RENAMED),
            "sent at {later:?}"
        );
    }
}

/// Replicas 2 and 3 are held (SIGSTOP) while replica 1 accepts the claim, so that its
/// worker is the one that leases the row; it sends the claim to the fund and stops at the
/// crash point, the lease held, and is killed (`kill -9`). Replicas 2 and 3 continue; once
/// the lease expires one of them delivers the claim, read back through them.
async fn a_claim_of_a_killed_replica_is_delivered_once(
    fed: &Federation,
    mut r1: Serve,
    [r2, r3]: [&Serve; 2],
) {
    r2.signal("STOP");
    r3.signal("STOP");
    let claims = fed.portal();
    let claim: Value =
        serde_json::from_str(include_str!("fixtures/claims/apg-claim.json")).expect("claim");
    let created = claims
        .post(format!("https://{}/v1/submissions", r1.portal))
        .header("purpose", "claim")
        .header("idempotency-key", "replicas-kill-9")
        .bearer_auth(fed.token_of(CLAIMANT))
        .json(&claim)
        .send()
        .await
        .expect("submit");
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.expect("submission");
    let id = created["id"].as_str().expect("id").to_owned();
    let fund: OfficeId = created["competentOffice"]
        .as_str()
        .expect("competent office")
        .parse()
        .expect("office id");
    let reached = format!("crash point {CRASH_POINT} reached");
    r1.wait_for_line(&reached, PATIENCE * 2).await;
    let sent = fed.claims(fund);
    assert_eq!((sent.distinct, sent.deliveries), (1, 1), "the fund has it");
    r1.kill9();
    r2.signal("CONT");
    r3.signal("CONT");
    let path = format!("/v1/submissions/{id}");
    let mut state = SubmissionState::Routed;
    for _ in 0..(PATIENT_MS * 2 / 100) {
        let (status, body) = get(&claims, r2, &path).await;
        assert_eq!(status, 200, "{body}");
        state = body["state"]
            .as_str()
            .expect("state")
            .parse()
            .expect("a state");
        if state.is_final() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        state,
        SubmissionState::Accepted,
        "after replica 1 was killed"
    );

    // Exactly once: one delivery receipt, verifiable offline, per fund of the claim's
    // chain (the fund may transfer the claim to another), each of those funds saw one
    // message id however often it was sent, and no other fund saw any.
    let (status, receipts) = get(&claims, r3, &format!("{path}/receipts")).await;
    assert_eq!(status, 200, "{receipts}");
    let roots = guichet::tls::load_certs(&fed.pki.ca_cert).expect("federation root");
    let now = rustls_pki_types::UnixTime::now();
    let mut kinds = Vec::new();
    let mut chain = Vec::new();
    for r in receipts["receipts"].as_array().expect("receipts") {
        let jws = r["jws"].as_str().expect("jws");
        let verified = guichet::receipt::verify(jws, &roots, now).expect("a receipt verifies");
        assert_eq!(verified.payload["submissionId"], id.as_str());
        kinds.push(r["kind"].as_str().expect("kind").to_owned());
        if r["kind"] == "delivery" {
            let office = verified.payload["competentOffice"]
                .as_str()
                .expect("office");
            chain.push(office.parse::<OfficeId>().expect("office id"));
        }
    }
    assert_eq!(kinds.iter().filter(|k| *k == "submission").count(), 1);
    assert_eq!(chain.first(), Some(&fund), "{chain:?}");
    let funds: BTreeSet<_> = chain.iter().collect();
    assert_eq!(
        funds.len(),
        chain.len(),
        "one delivery receipt per fund: {chain:?}"
    );
    for adapter in fed.registry.iter() {
        let seen = fed.claims(adapter.office).distinct;
        let expected = u64::from(funds.contains(&adapter.office));
        assert_eq!(
            seen, expected,
            "fund {} saw {seen} message ids",
            adapter.office
        );
    }
    let sent = fed.claims(fund).deliveries;
    assert!(
        sent >= 2,
        "sent again by another replica under the same message id: {sent}"
    );
}

/// `guichet audit verify` over the three replicas' folders: each its own intact chain.
fn the_three_audit_chains_verify(fed: &Federation) {
    let dirs: Vec<_> = (1..=3)
        .map(|n| replica::audit_dir(fed.dir.path(), n))
        .collect();
    let public = fed.dir.path().join("certs/audit-checkpoint.pub");
    let verified = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["audit", "verify"])
        .args(&dirs)
        .arg("--public-key")
        .arg(&public)
        .output()
        .expect("guichet audit verify");
    let out = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{out}");
    for n in 1..=3 {
        assert!(out.contains(&format!("(replica r{n}): intact")), "{out}");
    }
}
