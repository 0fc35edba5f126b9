//! Administrative changes are recorded before they are applied, over real mutual TLS: when
//! the audit record cannot be written, an adapter PUT, DELETE or rollback and a TLS reload
//! answer `503` and change nothing. The admin API shows the chain's head and checkpoint.

mod managed;

use guichet::audit::{Fault, Kind, Record};
use managed::Managed;
use serde_json::Value;

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Every record of the gateway's audit folder, in order.
fn records(m: &Managed) -> Vec<Record> {
    let mut files: Vec<_> = std::fs::read_dir(m.state.audit.dir())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains("audit-"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            text.lines()
                .map(|l| serde_json::from_str::<Record>(l).expect("record"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_change_that_cannot_be_recorded_does_not_happen() {
    let m = Managed::start().await;
    let url = m.url("/v1/adapters/001.000");
    let (status, before) = send(m.admin().get(&url)).await;
    assert_eq!(status, 200, "{before}");
    let files_before = m.files();
    let mut def = before["definition"].clone();
    def["timeout_ms"] = Value::from(1234);

    m.state.audit.inject(Fault::Refuse);
    let (status, problem) = send(m.admin().put(&url).json(&def)).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["title"], "Audit log unavailable");
    assert_eq!(send(m.admin().delete(&url)).await.0, 503);
    assert_eq!(
        send(m.admin().post(m.url("/v1/adapters/001.000/rollback")))
            .await
            .0,
        503
    );
    assert!(m.files() == files_before, "adapter files untouched");
    let (_, after) = send(m.admin().get(&url)).await;
    assert_eq!(after["version"], before["version"]);
    assert_eq!(after["definition"], before["definition"]);

    m.state.audit.inject(Fault::None);
    let (status, changed) = send(m.admin().put(&url).json(&def)).await;
    assert_eq!(status, 200, "{changed}");
    let version = changed["version"].as_u64().expect("version");
    let log = records(&m);
    let intent = log
        .iter()
        .position(|r| r.event.kind == Kind::AdapterIntent)
        .expect("an intent record");
    assert_eq!(
        log[intent].event.detail.as_deref(),
        Some(format!("version {version}").as_str())
    );
    assert_eq!(
        log[intent + 1].event.kind,
        Kind::AdapterChange,
        "then the outcome"
    );
    assert_eq!(log[intent + 1].event.result, "200");
    assert!(
        log[..intent]
            .iter()
            .all(|r| r.event.kind != Kind::AdapterIntent),
        "no intent was recorded for the refused changes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_reload_that_cannot_be_recorded_swaps_nothing() {
    let m = Managed::start().await;
    let admin = m.admin();
    m.state.audit.inject(Fault::Refuse);
    let (status, problem) = send(admin.post(m.url("/admin/v1/reload"))).await;
    assert_eq!(status, 503, "{problem}");
    let (_, certs) = send(admin.get(m.url("/admin/v1/certificates"))).await;
    assert_eq!(certs["lastReload"], Value::Null, "nothing was reloaded");
    // The file watch: a changed file is not taken while unrecorded, and is retried.
    let reloader = &m.state.reloader;
    let cert = m.config.server.cert.clone();
    let mut text = std::fs::read(&cert).expect("read");
    text.extend_from_slice(b"\n");
    std::fs::write(&cert, text).expect("change");
    assert!(matches!(
        reloader.reload_changed(&m.state.fanout, &m.state.audit),
        Some(Err(_))
    ));
    assert!(
        matches!(
            reloader.reload_changed(&m.state.fanout, &m.state.audit),
            Some(Err(_))
        ),
        "still pending"
    );
    m.state.audit.inject(Fault::None);
    let done = reloader.reload_changed(&m.state.fanout, &m.state.audit);
    assert!(
        matches!(done, Some(Ok(ref o)) if o.reloaded == vec!["server"]),
        "{done:?}"
    );
    assert!(
        reloader
            .reload_changed(&m.state.fanout, &m.state.audit)
            .is_none()
    );
    let (status, _) = send(admin.post(m.url("/admin/v1/reload"))).await;
    assert_eq!(status, 200);
    let reloads: Vec<_> = records(&m)
        .into_iter()
        .filter(|r| r.event.kind == Kind::Reload)
        .collect();
    assert_eq!(reloads.len(), 2, "one record per applied reload");
    assert_eq!(reloads[0].event.actor.name, "file change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_head_is_shown_to_admins_only() {
    let m = Managed::start().await;
    let (status, _) = send(
        m.portal()
            .get(m.url("/v1/accounts/7561234567897"))
            .bearer_auth(m.token_of("7561234567897")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(m.portal().get(m.url("/admin/v1/audit/head"))).await;
    assert_eq!(status, 403);
    let (status, head) = send(m.admin().get(m.url("/admin/v1/audit/head"))).await;
    assert_eq!(status, 200, "{head}");
    assert!(head["head"]["seq"].as_u64().expect("seq") >= 1, "{head}");
    assert_eq!(
        head["checkpoint"],
        Value::Null,
        "none before N records or a shutdown"
    );
    let public = std::fs::read_to_string(guichet::audit::keys::public_key_path(
        &m.config.audit.checkpoint_key_file,
    ))
    .expect("public key");
    assert_eq!(head["publicKey"].as_str(), Some(public.trim()));
    let signed = m.state.audit.checkpoint().expect("sign").expect("signed");
    let (_, head) = send(m.admin().get(m.url("/admin/v1/audit/head"))).await;
    assert_eq!(head["checkpoint"]["seq"], signed.seq);
    assert_eq!(head["checkpoint"]["hash"], head["head"]["hash"]);
}
