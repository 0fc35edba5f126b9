//! Offices administer their own adapters over real mutual TLS: roles, validation and the
//! conformance probe (nothing changes on a refusal), versions and history, rollback,
//! deletion, hand edits, an interrupted write, a restart, and an office moving to a new
//! endpoint and dialect while queries run.

mod managed;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use guichet::adapter::Store;
use guichet::mapping::MappingSet;
use guichet::model::Vn;
use guichet::pki::Role;
use managed::{Managed, PATIENT_MS, id};
use serde_json::{Value, json};

/// Bound for an awaited event; the tests assert what happens, never how fast.
const PATIENCE: Duration = Duration::from_secs(30);

async fn account(m: &Managed, vn: Vn) -> Value {
    let r = m
        .portal()
        .get(m.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(m.token(vn))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
    let mut v: Value = r.json().await.expect("json");
    for s in v["sources"].as_array_mut().expect("sources") {
        if let Some(o) = s.as_object_mut() {
            o.remove("latencyMs");
        }
    }
    v
}

fn source<'a>(account: &'a Value, office: &str) -> &'a Value {
    account["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["office"] == office))
        .expect("source")
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The JSON definition of an office as the gateway has it now.
async fn definition(m: &Managed, office: &str) -> Value {
    let (status, body) = send(m.admin().get(m.url(&format!("/v1/adapters/{office}")))).await;
    assert_eq!(status, 200, "{body}");
    body["definition"].clone()
}

/// Waits until the gateway's row of `office` shows `timeout_ms` (a hand edit picked up by
/// the file watcher); returns the row.
async fn picked_up(m: &Managed, office: &str, timeout_ms: u64) -> Value {
    let url = m.url(&format!("/v1/adapters/{office}"));
    let mut seen = Value::Null;
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            seen = send(m.admin().get(&url)).await.1;
            if seen["timeoutMs"] == timeout_ms {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "{office}: the watcher picked the edit up: {seen}"
    );
    seen
}

fn restarted(m: &Managed) -> String {
    let mappings = MappingSet::load_dir(&managed::repo().join("mappings")).expect("mappings");
    let again = Store::open(&m.adapters, mappings).expect("reopen");
    format!("{:?}", again.list())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_refusals_versions_rollback_delete_and_restart() {
    let m = Managed::start().await;
    let vn = Vn::from_serial(4242);
    let before = account(&m, vn).await;
    let files_before = m.files();
    let office = m.client_as(Role::Office, "001.000");
    let mut def = definition(&m, "001.000").await;
    assert_eq!(def["dialect"], "ech-ik");

    // Another office's adapter: 403; a portal: 403; deleting or rolling back as an office: 403.
    let url = m.url("/v1/adapters/002.000");
    let (s, p) = send(office.put(&url).json(&definition(&m, "002.000").await)).await;
    assert_eq!(s, 403, "{p}");
    assert!(p["detail"].as_str().unwrap_or("").contains("own adapter"));
    assert_eq!(
        send(m.portal().put(m.url("/v1/adapters/001.000")).json(&def))
            .await
            .0,
        403
    );
    assert_eq!(
        send(office.delete(m.url("/v1/adapters/001.000"))).await.0,
        403
    );
    assert_eq!(
        send(office.post(m.url("/v1/adapters/001.000/rollback")))
            .await
            .0,
        403
    );

    // Invalid definitions: 422 naming the step and the field.
    let own = m.url("/v1/adapters/001.000");
    let mut bad = def.clone();
    bad["timeout_ms"] = json!(5);
    let (s, p) = send(office.put(&own).json(&bad)).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (422, Some("urn:guichet:problem:adapter-validation"))
    );
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("validation: field timeout_ms"),
        "{p}"
    );
    let mut bad = def.clone();
    bad["colour"] = json!("blue");
    let (s, p) = send(office.put(&own).json(&bad)).await;
    assert_eq!(s, 422);
    assert!(p["detail"].as_str().unwrap_or("").contains("colour"), "{p}");
    let mut bad = def.clone();
    bad["endpoint"] = json!("http://127.0.0.1:1/plain");
    assert_eq!(send(office.put(&own).json(&bad)).await.0, 422);

    // Failing probes: nothing listens; the answer does not translate with the mapping.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut bad = def.clone();
    bad["endpoint"] = json!(format!("https://127.0.0.1:{port}/ik"));
    let (s, p) = send(office.put(&own).json(&bad)).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (422, Some("urn:guichet:problem:adapter-probe")),
        "{p}"
    );
    assert!(
        p["detail"].as_str().unwrap_or("").starts_with("probe: "),
        "{p}"
    );
    let mut bad = def.clone();
    bad["dialect"] = json!("ech-iv");
    let (s, p) = send(office.put(&own).json(&bad)).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (422, Some("urn:guichet:problem:adapter-probe")),
        "{p}"
    );
    eprintln!("probe refusal: {}", p["detail"]);
    assert_eq!(m.files(), files_before, "a refusal changes no file");
    assert_eq!(account(&m, vn).await, before, "a refusal changes no answer");

    // The office changes its own timeout: version 2, previous version in the history.
    def["timeout_ms"] = json!(2000);
    let r = office.put(&own).json(&def).send().await.expect("put");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        (body["version"].as_u64(), body["changedBy"].as_str()),
        (Some(2), Some("office:001.000"))
    );
    assert!(matches!(
        body["probe"]["status"].as_str(),
        Some("ok" | "no_account")
    ));
    assert!(m.adapters.join(".history/001.000/1.toml").exists());
    let text = std::fs::read_to_string(m.adapters.join("001.000.toml")).expect("file");
    assert!(text.contains("# guichet-version = 2") && text.contains("timeout_ms = 2000"));

    // Stale versions: 409 (If-Match or body); the current one: accepted.
    def["timeout_ms"] = json!(1800);
    let (s, p) = send(office.put(&own).header("if-match", "\"1\"").json(&def)).await;
    assert_eq!(
        (s, p["type"].as_str()),
        (409, Some("urn:guichet:problem:version-conflict"))
    );
    def["version"] = json!(1);
    assert_eq!(send(office.put(&own).json(&def)).await.0, 409);
    def["version"] = json!(2);
    assert_eq!(send(office.put(&own).json(&def)).await.0, 200);

    // Rollback (admin): the previous version (2000 ms) as version 4.
    let (s, body) = send(m.admin().post(m.url("/v1/adapters/001.000/rollback"))).await;
    assert_eq!((s, body["version"].as_u64()), (200, Some(4)), "{body}");
    assert_eq!(definition(&m, "001.000").await["timeout_ms"], 2000);

    // Delete (admin): the office stays in sources, unavailable, deregistered.
    let (s, body) = send(m.admin().delete(m.url("/v1/adapters/003.000"))).await;
    assert_eq!(s, 200, "{body}");
    assert!(!m.adapters.join("003.000.toml").exists());
    let after = account(&m, vn).await;
    let gone = source(&after, "003.000");
    assert_eq!(
        (gone["status"].as_str(), gone["detail"].as_str()),
        (Some("unavailable"), Some("deregistered"))
    );
    assert_eq!(after["sources"].as_array().map(Vec::len), Some(101));
    let (_, list) = send(m.admin().get(m.url("/v1/adapters"))).await;
    let row = list["adapters"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["office"] == "003.000"))
        .cloned();
    assert_eq!(
        row.as_ref().map(|r| r["state"].clone()),
        Some(json!("deregistered"))
    );
    assert_eq!(
        send(m.admin().delete(m.url("/v1/adapters/003.000")))
            .await
            .0,
        404
    );

    // Restart: the registry comes back from the folder exactly as it is live.
    assert_eq!(restarted(&m), format!("{:?}", m.store.list()));

    // Rollback of a deletion registers the office again.
    let (s, _) = send(m.admin().post(m.url("/v1/adapters/003.000/rollback"))).await;
    assert_eq!(s, 200);
    assert_ne!(
        source(&account(&m, vn).await, "003.000")["status"],
        "unavailable"
    );
    assert_eq!(restarted(&m), format!("{:?}", m.store.list()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_write_and_hand_edits_keep_the_last_good_definition() {
    let m = Managed::start().await;
    let vn = Vn::from_serial(777);
    let before = account(&m, vn).await;
    let office = m.client_as(Role::Office, "002.000");
    let own = m.url("/v1/adapters/002.000");
    let path = m.adapters.join("002.000.toml");
    let old = std::fs::read(&path).expect("file");

    // A crash right before the rename: the old file is intact, the registry unchanged.
    m.store.crash_before_rename(Some(id("002.000")));
    let mut def = definition(&m, "002.000").await;
    def["timeout_ms"] = json!(PATIENT_MS - 500);
    let (s, p) = send(office.put(&own).json(&def)).await;
    assert_eq!(s, 500, "{p}");
    assert_eq!(std::fs::read(&path).expect("file"), old);
    assert_eq!(definition(&m, "002.000").await["timeout_ms"], PATIENT_MS);
    let mappings = MappingSet::load_dir(&managed::repo().join("mappings")).expect("mappings");
    let again = Store::open(&m.adapters, mappings).expect("reopen after the crash");
    assert_eq!(
        again
            .get(id("002.000"))
            .and_then(|l| l.def)
            .map(|d| d.timeout_ms),
        Some(PATIENT_MS)
    );
    assert_eq!(account(&m, vn).await, before);

    // A hand edit is picked up as the next version; the file gets the managed header.
    let text = String::from_utf8(old).expect("utf-8").replace(
        &format!("timeout_ms = {PATIENT_MS}"),
        &format!("timeout_ms = {}", PATIENT_MS - 300),
    );
    std::fs::write(&path, text).expect("hand edit");
    let edited = PATIENT_MS - 300;
    let seen = picked_up(&m, "002.000", edited).await;
    assert_eq!(seen["changedBy"].as_str(), Some("file"), "{seen}");
    let version = seen["version"].as_u64().expect("version");
    assert!(
        std::fs::read_to_string(&path)
            .expect("file")
            .contains(&format!("# guichet-version = {version}"))
    );

    // A broken hand edit is logged and ignored: the last good definition stays live. A
    // good edit of another file written after it is the witness that the watcher has
    // read the folder since (each sync reads every file), instead of a guessed sleep.
    std::fs::write(&path, "office = \"002.000\"\ntimeout_ms = \"soon\"\n").expect("bad edit");
    let witness = m.adapters.join("004.000.toml");
    let text = std::fs::read_to_string(&witness).expect("witness").replace(
        &format!("timeout_ms = {PATIENT_MS}"),
        &format!("timeout_ms = {}", PATIENT_MS - 100),
    );
    std::fs::write(&witness, text).expect("witness edit");
    picked_up(&m, "004.000", PATIENT_MS - 100).await;
    let seen = send(m.admin().get(m.url("/v1/adapters/002.000"))).await.1;
    assert_eq!(
        (seen["timeoutMs"].as_u64(), seen["version"].as_u64()),
        (Some(edited), Some(version))
    );
    assert_eq!(account(&m, vn).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_moves_to_a_new_port_and_dialect_while_queries_run() {
    let m = Managed::start().await;
    let office = id("001.000");
    let (moved, endpoint) = m.second_home(office, "vendor-ik").await;
    let vn = Vn::from_serial(31);
    let before = account(&m, vn).await;
    let stop = Arc::new(AtomicBool::new(false));
    // Queries done so far; the runner has one in flight at a time.
    let done = Arc::new(AtomicU32::new(0));
    let runner = {
        let (client, url, stop) = (m.portal(), m.url(""), Arc::clone(&stop));
        let pki = m.pki.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let (mut n, mut failures) = (0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let vn = Vn::from_serial(1000 + n);
                let token = managed::tokens::mint(&pki, vn, &pki.portal.cert);
                n += 1;
                let r = client
                    .get(format!("{url}/v1/accounts/{}", vn.digits()))
                    .bearer_auth(token)
                    .send()
                    .await;
                let Ok(r) = r else {
                    failures.push("transport".to_owned());
                    continue;
                };
                let body: Value = r.json().await.unwrap_or(Value::Null);
                for s in body["sources"].as_array().into_iter().flatten() {
                    if !matches!(s["status"].as_str(), Some("ok" | "no_account")) {
                        failures.push(format!("{} {} {}", s["office"], s["status"], s["detail"]));
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (n, failures)
        })
    };
    // Wait for the runner by what it did, not by the clock.
    let reached = |n: u32| {
        let done = Arc::clone(&done);
        async move {
            let waited = tokio::time::timeout(PATIENCE, async {
                while done.load(Ordering::Relaxed) < n {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            assert!(waited.is_ok(), "the runner completed {n} queries");
        }
    };
    reached(2).await;
    let mut def = definition(&m, "001.000").await;
    def["dialect"] = json!("vendor-ik");
    def["endpoint"] = json!(endpoint);
    let (s, body) = send(
        m.client_as(Role::Office, "001.000")
            .put(m.url("/v1/adapters/001.000"))
            .json(&def),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // The query in flight when the move was answered may still have used the old
    // endpoint; once it is done, every later query starts with the new definition.
    let at_move = done.load(Ordering::Relaxed);
    reached(at_move + 1).await;
    let old_calls = m.sim.requests(office);
    let new_calls = moved.requests(office);
    reached(at_move + 4).await;
    stop.store(true, Ordering::Relaxed);
    let (queries, failures) = runner.await.expect("runner");
    eprintln!("{queries} queries during the move");
    assert!(queries >= 5, "{queries}");
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        m.sim.requests(office),
        old_calls,
        "the old endpoint is no longer called"
    );
    assert!(
        moved.requests(office) > new_calls,
        "the new endpoint answers the queries"
    );
    let after = account(&m, vn).await;
    assert_eq!(
        after["entries"], before["entries"],
        "same account through the new dialect"
    );
    assert_eq!(restarted(&m), format!("{:?}", m.store.list()));

    // The same probe and list from the command line's code, for office IT staff.
    let config = m.dir.path().join("guichet.toml");
    let file = m.adapters.join("001.000.toml");
    let said = guichet::cli::adapters::probe(&file, &config)
        .await
        .expect("probe");
    assert!(said.starts_with("probe ok: office 001.000"), "{said}");
    let opts = guichet::cli::adapters::ListOptions {
        config,
        gateway: Some(m.url("")),
        identity: Some((m.pki.admin.cert.clone(), m.pki.admin.key.clone())),
        offline: false,
    };
    let table = guichet::cli::adapters::list(&opts).await.expect("list");
    let row = table
        .lines()
        .find(|l| l.starts_with("001.000"))
        .unwrap_or_default();
    assert!(
        row.contains("vendor-ik") && row.contains("office:001.000"),
        "{table}"
    );
}
