//! The adapter registry on PostgreSQL (issue #17): three replicas (`Gateway::open`) on one
//! fresh schema share it. A change through one replica is in the registry of the others
//! within 1 s (the notice sent in the change's transaction) and used by their next query;
//! `If-Match` with the version read before another replica's change is `409`; a deletion
//! (tombstone) and a rollback are seen everywhere; a replica that has not heard of a
//! change yet is corrected by the database's version guard.
//! Needs `--features postgres-tests` and `GUICHET_TEST_DATABASE_URL` (fails loudly
//! without them, never passes silently).
#![cfg(feature = "postgres-tests")]

mod common;
#[path = "common/in_process.rs"]
mod in_process;
#[allow(dead_code)] // the replicas' configuration; the eviction helpers are others'
#[path = "support/replica.rs"]
mod replica;

use std::sync::Arc;
use std::time::Duration;

use common::{Federation, Options};
use guichet::adapter::{Registry, Store};
use guichet::mapping::MappingSet;
use guichet::model::{OfficeId, Vn};
use guichet::pki::Role;
use in_process::{Nowhere, Replica, blocking, scratch_schema as schema, within};
use serde_json::Value;

/// How soon a change through one replica is live on the others (issue #17).
const LIVE: Duration = Duration::from_secs(1);
const OFFICE: &str = "001.000";

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The source of `office` in a real account query through `replica`.
async fn source(fed: &Federation, replica: &Replica, vn: Vn, office: &str) -> Value {
    let (status, account) = send(
        fed.portal()
            .get(replica.url(&format!("/v1/accounts/{}", vn.digits())))
            .bearer_auth(fed.token(vn)),
    )
    .await;
    assert_eq!(status, 200, "{account}");
    account["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["office"] == office))
        .cloned()
        .expect("the office is among the sources")
}

/// The office answered (with records or without an account for the person).
fn answered(source: &Value) -> bool {
    matches!(source["status"].as_str(), Some("ok" | "no_account"))
}

fn name_in(registry: &Registry, office: OfficeId) -> Option<String> {
    registry.get(office).map(|a| a.name.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_is_live_on_the_others() {
    let schema = schema().await;
    let fed = Federation::build(Options::default(), |_| {}).await;
    let mut replicas = Vec::new();
    for n in 0..3 {
        replicas.push(Replica::open(&fed, &schema, n).await);
    }
    let office: OfficeId = OFFICE.parse().expect("office id");
    let admin = fed.client_as(Role::Admin, "ops");
    let vn = Vn::from_serial(4242);
    let url = |r: &Replica| r.url(&format!("/v1/adapters/{OFFICE}"));
    let file = fed.config.offices.adapters.join(format!("{OFFICE}.toml"));
    let file_before = std::fs::read_to_string(&file).expect("adapter file");

    // What replica 0 reads; the registry was seeded once from the folder.
    let (status, read) = send(admin.get(url(&replicas[0]))).await;
    assert_eq!(status, 200, "{read}");
    let version = read["version"].as_u64().expect("version");
    let mut def = read["definition"].clone();
    def["name"] = Value::from("Ausgleichskasse (renamed through replica 0)");

    // A change through replica 0, made against the version read.
    let (status, body) = send(
        admin
            .put(url(&replicas[0]))
            .header("If-Match", format!("\"{version}\""))
            .json(&def),
    )
    .await;
    assert_eq!(
        (status, body["version"].as_u64()),
        (200, Some(version + 1)),
        "{body}"
    );
    let renamed = Some("Ausgleichskasse (renamed through replica 0)".to_owned());
    let changed = std::time::Instant::now();
    let state = Arc::clone(&replicas[2].state);
    within("replica 2 has the new definition", LIVE, || {
        name_in(&state.fanout.registry(), office) == renamed
    })
    .await;
    eprintln!(
        "change through replica 0 in replica 2's registry {} ms after the answer",
        changed.elapsed().as_millis()
    );
    // ... and uses it for a real query.
    let used = source(&fed, &replicas[2], vn, OFFICE).await;
    assert_eq!(used["name"], "Ausgleichskasse (renamed through replica 0)");
    assert!(answered(&used), "{used}");

    // Replica 1 with the version read before the change: 409, nothing changed.
    def["name"] = Value::from("a stale change");
    let (status, problem) = send(
        admin
            .put(url(&replicas[1]))
            .header("If-Match", format!("\"{version}\""))
            .json(&def),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    let (status, problem) = send(
        admin
            .delete(url(&replicas[1]))
            .header("If-Match", format!("\"{version}\"")),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    let (_, now) = send(admin.get(url(&replicas[1]))).await;
    assert_eq!(now["version"].as_u64(), Some(version + 1), "{now}");

    // Deletion through replica 1: a tombstone, deregistered on the others.
    let (status, body) = send(
        admin
            .delete(url(&replicas[1]))
            .header("If-Match", format!("\"{}\"", version + 1)),
    )
    .await;
    assert_eq!(
        (status, body["version"].as_u64()),
        (200, Some(version + 2)),
        "{body}"
    );
    let state = Arc::clone(&replicas[0].state);
    within("replica 0 sees the deletion", LIVE, || {
        state.fanout.registry().get(office).is_none()
    })
    .await;
    let gone = source(&fed, &replicas[0], vn, OFFICE).await;
    assert_eq!(
        (gone["status"].as_str(), gone["detail"].as_str()),
        (Some("unavailable"), Some("deregistered"))
    );
    let (_, row) = send(admin.get(url(&replicas[2]))).await;
    assert_eq!(
        (row["state"].as_str(), row["version"].as_u64()),
        (Some("deregistered"), Some(version + 2)),
        "{row}"
    );

    // Rollback through replica 2: the renamed version comes back everywhere.
    let (status, body) =
        send(admin.post(replicas[2].url(&format!("/v1/adapters/{OFFICE}/rollback")))).await;
    assert_eq!(
        (status, body["version"].as_u64()),
        (200, Some(version + 3)),
        "{body}"
    );
    for r in &replicas[..2] {
        let state = Arc::clone(&r.state);
        within("the rollback is live", LIVE, || {
            name_in(&state.fanout.registry(), office) == renamed
        })
        .await;
    }
    let back = source(&fed, &replicas[1], vn, OFFICE).await;
    assert_eq!(back["name"].as_str(), renamed.as_deref(), "{back}");
    assert!(answered(&back), "{back}");
    let (status, row) = send(admin.get(url(&replicas[0]))).await;
    assert_eq!(
        (status, row["version"].as_u64(), row["state"].as_str()),
        (200, Some(version + 3), Some("registered")),
        "{row}"
    );

    // The registry is PostgreSQL's: the folder was only read to seed it.
    assert_eq!(
        std::fs::read_to_string(&file).expect("adapter file"),
        file_before
    );
    // A replica started now reads the registry, not its folder.
    let late = Replica::open(&fed, &schema, 3).await;
    assert_eq!(name_in(&late.state.fanout.registry(), office), renamed);
    replicas.push(late);
    for r in replicas {
        r.shutdown().await;
    }
    schema.drop_schema().await.expect("drop schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_guards_a_replica_that_has_not_heard_of_a_change_yet() {
    let schema = schema().await;
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let folder = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        repo.join(format!("adapters/{OFFICE}.toml")),
        folder.path().join(format!("{OFFICE}.toml")),
    )
    .expect("copy adapter");
    let mappings = MappingSet::load_dir(&repo.join("mappings")).expect("mappings");
    let open = || async {
        let db = guichet::store::Store::open(&schema.config())
            .await
            .expect("store");
        let policy = guichet::adapter::EndpointPolicy::permissive();
        let store = Store::open_shared(folder.path(), mappings.clone(), policy, Arc::new(db), None)
            .await
            .expect("shared registry");
        Arc::new(store)
    };
    // Two replicas' registries without notices: `b` hears of nothing `a` does.
    let (a, b) = (open().await, open().await);
    let office: OfficeId = OFFICE.parse().expect("office");
    let def = a.get(office).and_then(|l| l.def).expect("seeded");
    let ok = |_: &guichet::adapter::Meta| Ok(());
    let put = |expected: Option<u64>, timeout: u64| {
        let mut def = def.clone();
        def.timeout_ms = timeout;
        move |s: &Store| {
            let adapter = s.validate(office, &def).expect("valid");
            s.put(adapter, def, expected, "admin:ops", &Nowhere, &ok)
        }
    };
    let meta = blocking(&a, put(Some(1), 2000)).await.expect("put on a");
    assert_eq!(meta.version, 2);

    // `b` still knows version 1: a newer If-Match is for the database to judge, and the
    // database refuses the old one and numbers a change without one after its own row.
    assert!(b.check_version(office, Some(2)).is_ok());
    let stale = blocking(&b, put(Some(1), 3000)).await;
    assert!(
        matches!(
            stale,
            Err(guichet::adapter::StoreError::Conflict {
                current: 2,
                expected: 1,
                ..
            })
        ),
        "{stale:?}"
    );
    let meta = blocking(&b, put(None, 3000)).await.expect("put on b");
    assert_eq!(meta.version, 3);
    assert!(a.reload(&Nowhere).await, "a re-reads version 3");
    assert_eq!(
        a.get(office)
            .map(|l| (l.meta.version, l.def.map(|d| d.timeout_ms))),
        Some((3, Some(3000)))
    );

    // A deletion through `a`, then a rollback through `b` that had not heard of it.
    let meta = blocking(&a, move |s: &Store| {
        s.delete(office, Some(3), "admin:ops", &Nowhere, &ok)
    })
    .await
    .expect("delete");
    assert_eq!(meta.version, 4);
    let meta = blocking(&b, move |s: &Store| {
        s.rollback(office, "admin:ops", &Nowhere, &ok)
    })
    .await
    .expect("rollback");
    assert_eq!(meta.version, 5);
    assert!(a.reload(&Nowhere).await);
    assert_eq!(
        a.get(office).and_then(|l| l.def).map(|d| d.timeout_ms),
        Some(3000),
        "the version before the deletion"
    );
    schema.drop_schema().await.expect("drop schema");
}
