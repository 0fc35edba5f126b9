//! Several replicas on one PostgreSQL store (issue #17): three gateways opened as
//! `guichet serve` opens them (`Gateway::open`: migrate, join the cluster) on one fresh
//! schema, in front of the simulated offices. A notification to one replica evicts the
//! person on all of them, and the notice between replicas carries no AHV number; the
//! portal quota is shared by the live replica count and holds across replicas; a replica
//! that stops leaves the count at once. Needs `--features postgres-tests` and
//! `GUICHET_TEST_DATABASE_URL` (fails loudly without them, never passes silently).
#![cfg(feature = "postgres-tests")]

mod common;

use std::time::Duration;

use common::replica::{Replica, until};
use common::{Federation, Options, PATIENT_MS};
use guichet::model::Vn;
use guichet::pki::Role;
use guichet::store::scratch::{ScratchSchema, TEST_DATABASE_URL};

/// The portal quota of every replica's configuration: 60 at once, next to no refill.
const BURST: usize = 60;

/// One account query; the status and the `guichet-cache` header.
async fn query(client: &reqwest::Client, replica: &Replica, vn: Vn, token: &str) -> (u16, String) {
    let r = client
        .get(replica.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(token)
        .send()
        .await
        .expect("query");
    let cache = r
        .headers()
        .get("guichet-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (r.status().as_u16(), cache)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_evictions_and_the_portal_quota() {
    let Ok(url) = std::env::var(TEST_DATABASE_URL) else {
        panic!("{TEST_DATABASE_URL} is not set: the PostgreSQL tests cannot run (see .ci/run)");
    };
    let schema = ScratchSchema::create()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    let protection =
        format!("cache_ttl_ms = 60000\nportal_queries_per_second = 0.001\nportal_burst = {BURST}");
    let o = Options {
        protection: &protection,
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
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
    let other = fed.client_as(Role::Portal, "other-portal");
    let vn = Vn::from_serial(314_159_265);
    let token = fed.token_as("other-portal", vn);
    for r in [&replicas[0], &replicas[2]] {
        assert_eq!(query(&other, r, vn, &token).await, (200, "miss".into()));
        assert_eq!(query(&other, r, vn, &token).await, (200, "hit".into()));
    }
    let office = &fed.pki.offices["025.000"];
    let office = fed.client_with(Some((&office.cert, &office.key)), &fed.pki.ca_cert);
    let r = office
        .post(replicas[1].url("/v1/notifications/account-changed"))
        .body(vn.dotted())
        .send()
        .await
        .expect("notify");
    assert_eq!(r.status(), 204);
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
    for r in [&replicas[0], &replicas[2]] {
        let mut evicted = false;
        for _ in 0..10 {
            if query(&other, r, vn, &token).await == (200, "miss".into()) {
                evicted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(evicted, "replica {} still serves the old account", r.addr);
    }

    // The quota: each replica allows its third of the burst, the three together the whole.
    let portal = fed.portal();
    let vn = Vn::from_serial(27_182_818);
    let token = fed.token(vn);
    let mut accepted = Vec::new();
    for r in &replicas {
        let mut ok = 0;
        for _ in 0..(BURST / 3 + 5) {
            match query(&portal, r, vn, &token).await.0 {
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
