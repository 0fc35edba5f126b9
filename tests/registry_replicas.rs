//! The adapter registry on PostgreSQL (issue #17): three replicas (`Gateway::open`) on one
//! fresh schema share it. A change through one replica is in the registry of the others
//! within 1 s (the notice sent in the change's transaction) and used by their next query;
//! `If-Match` with the version read before another replica's change is `409`; a deletion
//! (tombstone) and a rollback are seen everywhere. `guichet store import` moves a folder
//! with history and a tombstone into PostgreSQL, and a second run changes nothing.
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
use guichet::adapter::{Publish, Registry, Store};
use guichet::mapping::MappingSet;
use guichet::model::{OfficeId, Vn};
use guichet::pki::Role;
use guichet::store::scratch::{ScratchSchema, TEST_DATABASE_URL};
use in_process::{Replica, within};
use serde_json::Value;

/// How soon a change through one replica is live on the others (issue #17).
const LIVE: Duration = Duration::from_secs(1);
const OFFICE: &str = "001.000";

async fn schema() -> ScratchSchema {
    let Ok(url) = std::env::var(TEST_DATABASE_URL) else {
        panic!("{TEST_DATABASE_URL} is not set: the PostgreSQL tests cannot run (see .ci/run)");
    };
    ScratchSchema::create()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"))
}

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

struct Nowhere;

impl Publish for Nowhere {
    fn publish(&self, _registry: Registry) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_moves_history_and_tombstones_and_a_rerun_changes_nothing() {
    let schema = schema().await;
    let fed = Federation::build(Options::default(), |_| {}).await;
    // A small folder: three of the federation's adapters, one changed twice (history),
    // one deleted (tombstone).
    let folder = fed.dir.path().join("to-import");
    std::fs::create_dir_all(&folder).expect("folder");
    for office in ["001.000", "002.000", "003.000"] {
        std::fs::copy(
            fed.config.offices.adapters.join(format!("{office}.toml")),
            folder.join(format!("{office}.toml")),
        )
        .expect("copy adapter");
    }
    let mappings = MappingSet::load_dir(&fed.config.offices.mappings).expect("mappings");
    let files = Store::open(&folder, mappings.clone()).expect("folder store");
    let ok = |_: &guichet::adapter::Meta| Ok(());
    let office: OfficeId = "001.000".parse().expect("office");
    let mut def = files.get(office).and_then(|l| l.def).expect("definition");
    for timeout in [2000, 3000] {
        def.timeout_ms = timeout;
        let adapter = files.validate(office, &def).expect("valid");
        files
            .put(adapter, def.clone(), None, "admin:ops", &Nowhere, &ok)
            .expect("put");
    }
    let deleted: OfficeId = "003.000".parse().expect("office");
    files
        .delete(deleted, None, "admin:ops", &Nowhere, &ok)
        .expect("delete");

    // Without PostgreSQL there is nothing to import into; a broken history file is named.
    let refused = guichet::cli::store_import(&fed.config.file, &folder, false)
        .await
        .expect_err("a SQLite store");
    assert!(format!("{refused:#}").contains("PostgreSQL"), "{refused:#}");
    let config = in_process::config(&fed, &schema, 0);
    let broken = folder.join(".history/002.000/0.toml");
    std::fs::create_dir_all(folder.join(".history/002.000")).expect("history folder");
    std::fs::write(&broken, "office = [").expect("broken file");
    let refused = guichet::cli::store_import(&config, &folder, false)
        .await
        .expect_err("a broken history file");
    assert!(
        format!("{refused:#}").contains(&broken.display().to_string()),
        "{refused:#}"
    );
    std::fs::remove_file(&broken).expect("remove");
    let first = guichet::cli::store_import(&config, &folder, false)
        .await
        .expect("import");
    assert!(first.contains("imported 3 offices"), "{first}");
    assert!(first.contains("3 added"), "{first}");
    let again = guichet::cli::store_import(&config, &folder, false)
        .await
        .expect("second import");
    assert!(again.contains("nothing changed"), "{again}");

    // `adapters list --offline` on a PostgreSQL configuration reads the database.
    let options = guichet::cli::adapters::ListOptions {
        config: config.clone(),
        gateway: None,
        identity: None,
        offline: true,
    };
    let table = guichet::cli::adapters::list(&options).await.expect("list");
    let lines: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("001.000  registered    3"), "{table}");
    assert!(lines[2].starts_with("003.000  deregistered  2"), "{table}");

    let db = guichet::store::Store::connect(&schema.config())
        .await
        .expect("connect");
    let rows = db.registry_rows().await.expect("rows");
    let versions: Vec<(&str, u64, bool)> = rows
        .iter()
        .map(|r| (r.office.as_str(), r.version, r.definition.is_some()))
        .collect();
    assert_eq!(
        versions,
        vec![
            ("001.000", 3, true),
            ("002.000", 1, true),
            ("003.000", 2, false)
        ]
    );
    let history = db.registry_history("001.000").await.expect("history");
    assert_eq!(
        history.iter().map(|h| h.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let stone = db.registry_history("003.000").await.expect("history");
    assert_eq!(
        stone
            .iter()
            .map(|h| (h.version, h.definition.is_some()))
            .collect::<Vec<_>>(),
        vec![(1, true), (2, false)]
    );

    // The shared registry reads back what the folder had, and rolls back from its history.
    let shared = Store::open_shared(
        &folder,
        mappings,
        fed.config.offices.endpoint_policy.clone(),
        Arc::new(db),
        None,
    )
    .await
    .expect("shared registry");
    let listed = |s: &Store| {
        s.list()
            .into_iter()
            .map(|l| (l.office, l.meta.version, l.def.map(|d| d.timeout_ms)))
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(&shared), listed(&files));
    let shared = Arc::new(shared);
    let back = Arc::clone(&shared);
    let meta = tokio::task::spawn_blocking(move || {
        back.rollback(
            office,
            "admin:ops",
            &Nowhere,
            &|_: &guichet::adapter::Meta| Ok(()),
        )
    })
    .await
    .expect("rollback task")
    .expect("rollback");
    assert_eq!(meta.version, 4);
    assert_eq!(
        shared.get(office).and_then(|l| l.def).map(|d| d.timeout_ms),
        Some(2000)
    );

    // The folder moved on meanwhile: refused naming the office, unless --replace.
    let refused = guichet::cli::store_import(&config, &folder, false)
        .await
        .expect_err("different content");
    assert!(format!("{refused:#}").contains("001.000"), "{refused:#}");
    let replaced = guichet::cli::store_import(&config, &folder, true)
        .await
        .expect("replace");
    assert!(replaced.contains("1 replaced"), "{replaced}");
    schema.drop_schema().await.expect("drop schema");
}
