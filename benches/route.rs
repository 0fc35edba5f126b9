//! Accepted submissions per second through the whole route: `POST /v1/submissions` over
//! mutual TLS (the claimant's token checked, the claim validated, routed, its receipt
//! sealed and audited, the submission stored durably with its outbox row) until `201`,
//! against a gateway built by `Gateway::build` in front of the 101 simulated offices (the
//! test harness, `tests/common`), with its delivery worker running. On the embedded
//! SQLite file, and on PostgreSQL when `GUICHET_TEST_DATABASE_URL` names one (a scratch
//! schema, dropped afterwards). Plain timing, no criterion: one run of `CLAIMS` claims,
//! `IN_FLIGHT` at once, each a different person (the token minted beforehand).
//!
//! Run: `cargo bench --bench route` (release), or `cargo bench --profile dev --bench route`
//! (debug numbers, say so when quoting them).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::{Federation, Options};
use guichet::model::Vn;
use guichet::store::scratch::{ScratchSchema, TEST_DATABASE_URL};
use serde_json::Value;

/// Claims submitted per run.
const CLAIMS: usize = 400;
/// Submissions in flight at once.
const IN_FLIGHT: usize = 16;

const CLAIM: &str = include_str!("../tests/fixtures/claims/apg-claim.json");

async fn run(name: &str, extra: &str) {
    let o = Options {
        extra,
        ..Options::default()
    };
    let fed = Arc::new(Federation::build(o, |_| {}).await);
    while !fed.state.db.is_migrated().await.unwrap_or(false) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let claims: Arc<Vec<(String, Value)>> = Arc::new(
        (0..CLAIMS)
            .map(|i| {
                let vn = Vn::from_serial(500_000 + i as u32);
                let mut claim: Value = serde_json::from_str(CLAIM).expect("claim");
                claim["claimant"]["vn"] = vn.digits().into();
                (fed.token(vn), claim)
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let portal = fed.portal();
    let started = Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (fed, claims, next, portal) = (
                Arc::clone(&fed),
                Arc::clone(&claims),
                Arc::clone(&next),
                portal.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((token, claim)) = claims.get(i) else {
                        return;
                    };
                    let answer = portal
                        .post(fed.url("/v1/submissions"))
                        .header("purpose", "claim")
                        .header("idempotency-key", format!("bench-{i}"))
                        .bearer_auth(token)
                        .json(claim)
                        .send()
                        .await
                        .expect("submit");
                    assert_eq!(answer.status().as_u16(), 201, "claim {i}");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let stored = fed.state.db.integrity().await.expect("integrity");
    assert_eq!(stored.submissions, CLAIMS as u64);
    println!(
        "route/{name}: {CLAIMS} accepted submissions ({IN_FLIGHT} in flight) in {:.2} s = {:.1}/s",
        elapsed.as_secs_f64(),
        CLAIMS as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (a filter) is not understood here.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        run("sqlite", "").await;
        if std::env::var_os(TEST_DATABASE_URL).is_none() {
            println!("route/postgres: not run ({TEST_DATABASE_URL} is not set)");
            return;
        }
        let schema = ScratchSchema::create()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let url = std::env::var(TEST_DATABASE_URL).expect("url");
        let extra = format!("[store]\nurl = \"{url}\"\nschema = \"{}\"\n", schema.name());
        run("postgres", &extra).await;
        schema.drop_schema().await.expect("drop schema");
    });
}
