//! One test federation's configuration turned into that of replica `n` of several on one
//! PostgreSQL schema (issue #17): its own `replica_id` (`r{n}`) and audit folder, the
//! shared store, and whatever else the test appends. Used by the in-process replicas
//! (`tests/replicas.rs`, `tests/registry_replicas.rs`) and the `guichet serve` processes
//! (`tests/replicas_process.rs`), all of which have the harness `common` at their root;
//! each uses a part of it (`#[allow(dead_code)]` where it declares the module).

use std::path::{Path, PathBuf};

use guichet::model::Vn;
use guichet::store::scratch::{ScratchSchema, TEST_DATABASE_URL};

use crate::common::{Federation, Options};

/// A fresh schema and a federation whose portal quota is a burst of `burst` with next to
/// no refill (accounts cached 60 s); and the test database's URL. Fails loudly without
/// `GUICHET_TEST_DATABASE_URL` or its server.
pub async fn federation(burst: usize) -> (String, ScratchSchema, Federation) {
    let Ok(url) = std::env::var(TEST_DATABASE_URL) else {
        panic!("{TEST_DATABASE_URL} is not set: the PostgreSQL tests cannot run (see .ci/run)");
    };
    let schema = ScratchSchema::create()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    let protection =
        format!("cache_ttl_ms = 60000\nportal_queries_per_second = 0.001\nportal_burst = {burst}");
    let o = Options {
        protection: &protection,
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    (url, schema, fed)
}

/// One account query to the portal listener at `addr`; the status and the
/// `guichet-cache` header.
pub async fn query(client: &reqwest::Client, addr: &str, vn: Vn, token: &str) -> (u16, String) {
    let answer = client
        .get(format!("https://{addr}/v1/accounts/{}", vn.digits()))
        .bearer_auth(token)
        .send()
        .await
        .expect("query");
    let cache = answer
        .headers()
        .get("guichet-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (answer.status().as_u16(), cache)
}

/// The audit folder of replica `n` beside the federation's own (`DIR/audit-r{n}`).
pub fn audit_dir(dir: &Path, n: usize) -> PathBuf {
    dir.join(format!("audit-r{n}"))
}

/// Writes `DIR/replica-{n}.toml`: the federation's configuration `base` (whose audit
/// folder is `DIR/audit`) with `replica_id = "r{n}"`, the audit folder [`audit_dir`], a
/// `[store]` on `url`/`schema` with the lines `store`, then `extra`. Returns its path.
pub fn write_config(
    base: &Path,
    dir: &Path,
    n: usize,
    (url, schema): (&str, &str),
    store: &str,
    extra: &str,
) -> PathBuf {
    let text = std::fs::read_to_string(base).expect("the federation's configuration");
    let audit = dir.join("audit");
    let text = text
        .replacen(
            "[server]\n",
            &format!("[server]\nreplica_id = \"r{n}\"\n"),
            1,
        )
        .replace(
            &format!("dir = \"{}\"", audit.display()),
            &format!("dir = \"{}\"", audit_dir(dir, n).display()),
        );
    let text =
        format!("{text}\n[store]\nurl = \"{url}\"\nschema = \"{schema}\"\n{store}\n\n{extra}\n");
    let path = dir.join(format!("replica-{n}.toml"));
    std::fs::write(&path, text).expect("replica config");
    path
}

/// Gives replica `n` (its configuration `config`) a copy of the adapters folder `shared`
/// of its own (`adapters-r{n}` beside it), as separate machines have: an adapter change
/// can reach another replica only through the shared store.
pub fn own_adapters_folder(shared: &Path, config: &Path, n: usize) {
    let own = shared.with_file_name(format!("adapters-r{n}"));
    std::fs::create_dir_all(&own).expect("adapters folder");
    for entry in std::fs::read_dir(shared).expect("adapters") {
        let from = entry.expect("entry").path();
        if from.is_file() {
            std::fs::copy(&from, own.join(from.file_name().expect("name"))).expect("copy");
        }
    }
    let text = std::fs::read_to_string(config).expect("config");
    let line = format!("adapters = \"{}\"", shared.display());
    assert!(text.contains(&line), "{line} in {}", config.display());
    let text = text.replace(&line, &format!("adapters = \"{}\"", own.display()));
    std::fs::write(config, text).expect("config");
}

/// The portal whose cache the eviction tests fill, and the person they evict.
const PORTAL: &str = "other-portal";

/// Caches a person's account for a portal on each replica of `cached` (a miss, then a
/// hit), then has office 025.000 post its `account-changed` about that person to the
/// replica at `notified` (`204`). The portal's client, the person and its token, to ask
/// again with [`evicted`].
pub async fn cache_then_notify(
    fed: &Federation,
    cached: &[&str],
    notified: &str,
) -> (reqwest::Client, Vn, String) {
    let client = fed.client_as(guichet::pki::Role::Portal, PORTAL);
    let vn = Vn::from_serial(314_159_265);
    let token = fed.token_as(PORTAL, vn);
    for addr in cached {
        assert_eq!(query(&client, addr, vn, &token).await, (200, "miss".into()));
        assert_eq!(query(&client, addr, vn, &token).await, (200, "hit".into()));
    }
    let pem = &fed.pki.offices["025.000"];
    let office = fed.client_with(Some((&pem.cert, &pem.key)), &fed.pki.ca_cert);
    let answer = office
        .post(format!(
            "https://{notified}/v1/notifications/account-changed"
        ))
        .body(vn.dotted())
        .send()
        .await
        .expect("notify");
    assert_eq!(answer.status(), 204);
    (client, vn, token)
}

/// Asks the replica at `addr` every 100 ms, at most `tries` times, until it answers from
/// the offices again (`guichet-cache: miss`); whether it did.
pub async fn evicted(
    client: &reqwest::Client,
    addr: &str,
    (vn, token): (Vn, &str),
    tries: u64,
) -> bool {
    for _ in 0..tries {
        let (status, cache) = query(client, addr, vn, token).await;
        assert_eq!(status, 200, "replica {addr}");
        if cache == "miss" {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
