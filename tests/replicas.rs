//! Several replicas on one PostgreSQL store (issue #17): three gateways opened as
//! `guichet serve` opens them (`Gateway::open`: migrate, join the cluster) on one fresh
//! schema, in front of the simulated offices. A notification to one replica evicts the
//! person on all of them, and the notice between replicas carries no AHV number; the
//! portal quota is shared by the live replica count and holds across replicas; a replica
//! that stops leaves the count at once. Needs `--features postgres-tests` and
//! `GUICHET_TEST_DATABASE_URL` (fails loudly without them, never passes silently).
#![cfg(feature = "postgres-tests")]

mod common;
#[path = "common/in_process.rs"]
mod in_process;
#[allow(dead_code)] // the replicas' configuration and eviction; not the processes' parts
#[path = "support/replica.rs"]
mod replica;

use std::time::Duration;

use common::PATIENT_MS;
use guichet::model::Vn;
use in_process::{Replica, until};
use replica::query;

/// The portal quota of every replica's configuration: 60 at once, next to no refill.
const BURST: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_evictions_and_the_portal_quota() {
    let (url, schema, fed) = replica::federation(BURST).await;
    let mut replicas = Vec::new();
    for n in 0..3 {
        replicas.push(Replica::open(&fed, &schema, n).await);
    }
    until("every replica counts three live replicas", || {
        replicas
            .iter()
            .all(|r| r.state.protection.replicas_sharing() == 3)
    })
    .await;

    // What the replicas tell each other, as anyone listening on the database sees it.
    let mut listener = sqlx::postgres::PgListener::connect(&url)
        .await
        .expect("listen");
    listener
        .listen(&format!("guichet_{}", schema.name()))
        .await
        .expect("LISTEN");

    // Eviction: cached on replicas 0 and 2, announced to replica 1, gone on all.
    let cached = [replicas[0].addr.as_str(), replicas[2].addr.as_str()];
    let (other, vn, token) = replica::cache_then_notify(&fed, &cached, &replicas[1].addr).await;
    let notice = tokio::time::timeout(Duration::from_millis(PATIENT_MS), listener.recv())
        .await
        .expect("a notice within the bound")
        .expect("notice");
    assert!(
        notice.payload().starts_with("evict:"),
        "{}",
        notice.payload()
    );
    for form in [vn.digits(), vn.dotted()] {
        assert!(!notice.payload().contains(&form), "the AHV number in clear");
    }
    for addr in cached {
        let evicted = replica::evicted(&other, addr, (vn, &token), 10).await;
        assert!(evicted, "replica {addr} still serves the old account");
    }

    // The quota: each replica allows its third of the burst, the three together the whole.
    let portal = fed.portal();
    let vn = Vn::from_serial(27_182_818);
    let token = fed.token(vn);
    let mut accepted = Vec::new();
    for r in &replicas {
        let mut ok = 0;
        for _ in 0..(BURST / 3 + 5) {
            match query(&portal, &r.addr, vn, &token).await.0 {
                200 => ok += 1,
                429 => {}
                other => panic!("status {other}"),
            }
        }
        accepted.push(ok);
    }
    assert_eq!(accepted, vec![BURST / 3; 3], "accepted per replica");
    assert_eq!(
        accepted.iter().sum::<usize>(),
        BURST,
        "the global quota holds"
    );

    // A replica that stops leaves the count at once (no wait for its heartbeat to expire).
    let gone = replicas.pop().expect("three");
    gone.shutdown().await;
    until("the two others count two live replicas", || {
        replicas
            .iter()
            .all(|r| r.state.protection.replicas_sharing() == 2)
    })
    .await;
    for r in replicas {
        r.shutdown().await;
    }
    schema.drop_schema().await.expect("drop schema");
}
