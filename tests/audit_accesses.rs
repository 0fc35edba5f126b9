//! The accesses listing over real mutual TLS: served from the index (kept next to the files,
//! so a restarted gateway lists the same accesses) and charged to the portal's quota like an
//! account query. The index file's own cases are in `audit_index.rs`.

mod common;

use std::collections::BTreeMap;

use common::Federation;
use guichet::model::Vn;
use guichet::sim::Latency;

/// `GET path` about `vn`, with that person's token.
async fn get(
    client: &reqwest::Client,
    fed: &Federation,
    vn: Vn,
    path: &str,
) -> (u16, serde_json::Value) {
    let r = client
        .get(fed.url(path))
        .header("purpose", "self-service")
        .bearer_auth(fed.token(vn))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_comes_from_the_index_and_survives_a_restart() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let portal = fed.portal();
    let (vn, other) = (Vn::from_serial(31_337), Vn::from_serial(31_338));
    // Enough records to rotate the 4 KiB test files several times.
    for i in 0..6 {
        let who = if i % 2 == 0 { vn } else { other };
        let (status, _) = get(
            &portal,
            &fed,
            who,
            &format!("/v1/accounts/{}", who.digits()),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, list) = get(
        &portal,
        &fed,
        vn,
        &format!("/v1/accounts/{}/accesses", vn.digits()),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    let served = list["accesses"].as_array().expect("list").len();
    assert_eq!(served, 3, "{list}");
    // A restarted gateway (same folder, same key) reads the same index from its file.
    let restarted = guichet::gateway::open_audit(&fed.config).expect("reopen");
    let records = restarted.accesses(vn).expect("accesses");
    assert_eq!(records.len(), 3);
    assert!(
        records.windows(2).all(|w| w[0].seq < w[1].seq),
        "oldest first"
    );
    assert!(
        records
            .iter()
            .all(|r| r.event.person.as_deref() == Some(restarted.person(vn).as_str()))
    );
    let files = std::fs::read_dir(fed.dir.path().join("audit"))
        .expect("dir")
        .count();
    assert!(files >= 3, "the records span several files ({files})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listing_is_charged_to_the_portals_quota() {
    let fed = Federation::launch(
        Latency::ZERO,
        common::PATIENT_MS,
        // Refilled once an hour: exactly the burst passes, whatever the machine's speed.
        "portal_queries_per_second = 0.0002777\nportal_burst = 2",
        &BTreeMap::new(),
        |_| {},
    )
    .await;
    let portal = fed.portal();
    let vn = Vn::from_serial(9);
    let path = format!("/v1/accounts/{}/accesses", vn.digits());
    let answers =
        futures_util::future::join_all((0..4).map(|_| get(&portal, &fed, vn, &path))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        2,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}
