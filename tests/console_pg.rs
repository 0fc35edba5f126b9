//! The console's office page with the adapter registry on PostgreSQL (issue #17): an
//! adapter changed through the API of one replica is in the version history (with its
//! diff) that another replica's console shows at once — read from the database's
//! `adapter_history`, not from an adapters folder's `.history/` — and the console's
//! rollback restores the version before it. Needs `--features postgres-tests` and
//! `GUICHET_TEST_DATABASE_URL` (fails loudly without them, never passes silently).
#![cfg(feature = "postgres-tests")]

mod common;
#[path = "support/console_http.rs"]
mod http;
#[path = "common/in_process.rs"]
mod in_process;
#[allow(dead_code)] // the replicas' configuration; the eviction helpers are others'
#[path = "support/replica.rs"]
mod replica;

use std::net::SocketAddr;

use common::{Federation, Options};
use guichet::gateway::Gateway;
use guichet::model::Identity;
use guichet::pki::Role;
use in_process::{Replica, scratch_schema as schema};
use serde_json::Value;

const OFFICE: &str = "001.000";
const RENAMED: &str = "Ausgleichskasse (renamed through replica 0)";

/// Replica `n` on the schema with its operations listener (the console); its address.
async fn with_console(
    fed: &Federation,
    schema: &guichet::store::scratch::ScratchSchema,
    n: usize,
) -> (
    SocketAddr,
    guichet::config::Config,
    tokio::sync::oneshot::Sender<()>,
) {
    let path = in_process::config(fed, schema, n);
    let config = guichet::config::Config::load(&path).expect("replica config loads");
    let gateway = Gateway::open(&config).await.expect("replica opens");
    let listener = guichet::net::bind("127.0.0.1:0").await.expect("bind");
    let ops = guichet::net::bind("127.0.0.1:0").await.expect("bind ops");
    let addr = ops.local_addr().expect("ops addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway.serve(listener, Some(ops), async {
        let _ = stopped.await;
    }));
    (addr, config, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_page_shows_the_history_kept_in_postgresql() {
    let schema = schema().await;
    let fed = Federation::build(Options::default(), |_| {}).await;
    let api = Replica::open(&fed, &schema, 0).await;
    let (ops, config, stop) = with_console(&fed, &schema, 1).await;
    let admin = fed.client_as(Role::Admin, "ops");
    let url = api.url(&format!("/v1/adapters/{OFFICE}"));

    let answer = admin.get(&url).send().await.expect("get");
    let read: Value = answer.json().await.expect("the adapter as JSON");
    let version = read["version"].as_u64().expect("version");
    let mut def = read["definition"].clone();
    def["name"] = Value::from(RENAMED);
    let r = admin
        .put(&url)
        .header("If-Match", format!("\"{version}\""))
        .json(&def)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let changed = version + 1;
    // The folder's history does not have it: the page can only read it from PostgreSQL.
    let kept = fed
        .config
        .offices
        .adapters
        .join(format!(".history/{OFFICE}/{version}.toml"));
    assert!(!kept.exists(), "{} was written", kept.display());

    let id = Identity::parse_uri("urn:guichet:admin:ops").expect("identity");
    let link = guichet::console::login_path(&config, &id).expect("login link");
    let signed_in = http::get(ops, &link, None).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let cookie = signed_in.cookie().expect("a session cookie");
    let page = http::get(ops, &format!("/console/offices/{OFFICE}"), Some(&cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let history = &page.body[page.body.find("Version history").expect("history")..];
    assert!(
        history.contains(&format!("<strong>Version {changed}</strong> — changed")),
        "{history}"
    );
    assert!(history.contains("by admin:ops"), "{history}");
    assert!(
        history.contains(&format!("<strong>Version {version}</strong>")),
        "{history}"
    );
    assert!(
        history.contains(&format!(
            "<span class=\"add\">+ name = &quot;{RENAMED}&quot;</span>"
        )),
        "{history}"
    );

    // The console's rollback (replica 1) restores the version before, as a new version.
    let form = format!("csrf={}", page.csrf());
    let r = http::post(
        ops,
        &format!("/console/offices/{OFFICE}/rollback"),
        &cookie,
        &form,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let restored = changed + 1;
    assert!(
        r.body.contains(&format!("Saved as version {restored}")),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains(&format!("<strong>Version {restored}</strong> — changed")),
        "{}",
        r.body
    );
    assert!(
        r.body.contains(&format!(
            "<span class=\"del\">- name = &quot;{RENAMED}&quot;</span>"
        )),
        "{}",
        r.body
    );
    let _ = stop.send(());
    api.shutdown().await;
    schema.drop_schema().await.expect("drop schema");
}
