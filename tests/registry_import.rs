//! `guichet store import --from-files` (issue #17): a folder with history and a tombstone
//! moves into PostgreSQL, a second run changes nothing and says so, `adapters list
//! --offline` reads the database, the shared registry reads back what the folder had and
//! rolls back from the imported history; a SQLite configuration, a broken history file
//! and other content for an office are refused (the last unless `--replace`). Needs
//! `--features postgres-tests` and `GUICHET_TEST_DATABASE_URL` (fails loudly without
//! them, never passes silently).
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
use guichet::adapter::Store;
use guichet::mapping::MappingSet;
use guichet::model::OfficeId;
use in_process::{Nowhere, Replica, blocking, scratch_schema as schema, within};

/// How soon running replicas adopt an import (issue #17).
const LIVE: Duration = Duration::from_secs(1);

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
        .map(Arc::new)
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
        Arc::clone(&db),
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
    let meta = blocking(&shared, move |s: &Store| {
        s.rollback(office, "admin:ops", &Nowhere, &ok)
    })
    .await
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
    // With --replace the folder's definition becomes a new version (versions only grow,
    // the history is kept) and a gateway open on the schema adopts it without a restart.
    let running = Replica::open(&fed, &schema, 1).await;
    let live = |state: &guichet::server::State| {
        state
            .adapters
            .get(office)
            .map(|l| (l.meta.version, l.def.map(|d| d.timeout_ms)))
    };
    assert_eq!(live(&running.state), Some((4, Some(2000))));
    let replaced = guichet::cli::store_import(&config, &folder, true)
        .await
        .expect("replace");
    assert!(replaced.contains("1 replaced"), "{replaced}");
    assert!(replaced.contains("2 unchanged"), "{replaced}");
    let state = Arc::clone(&running.state);
    within(
        "the running gateway has the imported definition",
        LIVE,
        || {
            live(&state) == Some((5, Some(3000)))
                && state.fanout.registry().get(office).map(|a| a.timeout)
                    == Some(Duration::from_millis(3000))
        },
    )
    .await;
    let history = db.registry_history("001.000").await.expect("history");
    assert_eq!(
        history
            .iter()
            .map(|h| (h.version, h.changed_by.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (1, history[0].changed_by.as_str()),
            (2, "admin:ops"),
            (3, "admin:ops"),
            (4, "admin:ops"),
            (5, guichet::adapter::store::IMPORTED_BY)
        ]
    );
    // The same folder again: nothing to replace.
    let again = guichet::cli::store_import(&config, &folder, true)
        .await
        .expect("replace again");
    assert!(again.contains("nothing changed"), "{again}");
    running.shutdown().await;
    schema.drop_schema().await.expect("drop schema");
}
