//! Live reload of the gateway's certificates over real mutual TLS: rotation under load,
//! revocation of a portal and of an office, corrupt files, the admin routes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Federation, PATIENT_MS, write_crl};
use guichet::pki::{Ca, Identity, LeafSpec, Role, write_pem_files};
use guichet::sim::Latency;

const VN: &str = "/v1/accounts/7561234567897";

/// The person of [`VN`].
fn vn() -> guichet::model::Vn {
    "7561234567897".parse().expect("vn")
}

/// Bound for an awaited event; the tests assert what happens, never how fast.
const PATIENCE: Duration = Duration::from_secs(30);

fn dev_ca(fed: &Federation) -> Ca {
    Ca::load(&fed.pki.ca_cert, &fed.pki.ca_key).expect("dev ca")
}

fn admin(fed: &Federation) -> reqwest::Client {
    fed.client_with(
        Some((&fed.pki.admin.cert, &fed.pki.admin.key)),
        &fed.pki.ca_cert,
    )
}

/// The serial (hex) of the server certificate a fresh connection is shown.
async fn served_serial(fed: &Federation) -> String {
    let response = fed
        .portal()
        .get(fed.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("peer certificate")
        .to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
    cert.raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Polls `check` every 100 ms for up to `limit`.
async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_drops_no_query() {
    let fed = Arc::new(Federation::start(Latency::ZERO, PATIENT_MS).await);
    let old_serial = served_serial(&fed).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for fresh in [false, true] {
        let (fed, stop, ok, failed) = (fed.clone(), stop.clone(), ok.clone(), failed.clone());
        load.push(tokio::spawn(async move {
            let pooled = fed.portal();
            while !stop.load(Ordering::Relaxed) {
                // One task keeps its connections, the other handshakes every time.
                let client = if fresh { fed.portal() } else { pooled.clone() };
                let result = client
                    .get(fed.url(VN))
                    .bearer_auth(fed.token(vn()))
                    .send()
                    .await;
                // Failed: no answer, not 200, or any office not answering. Offices have
                // all the time they need (the harness's patient budgets), so the first
                // queries after the client swap may open 101 new connections slowly but
                // must not lose one.
                let good = match result {
                    Ok(r) if r.status() == 200 => match r.json::<serde_json::Value>().await {
                        Ok(v) => {
                            let bad: Vec<_> = v["sources"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter(|s| {
                                    !matches!(s["status"].as_str(), Some("ok" | "no_account"))
                                })
                                .collect();
                            if !bad.is_empty() {
                                eprintln!("not complete: {bad:?}");
                            }
                            bad.is_empty()
                        }
                        Err(e) => {
                            eprintln!("bad body: {e}");
                            false
                        }
                    },
                    other => {
                        eprintln!("query failed: {other:?}");
                        false
                    }
                };
                let counter = if good { &ok } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Queries run before the swap…
    let done = || ok.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed);
    let running = eventually(PATIENCE, async || done() >= 2).await;
    assert!(running, "queries ran before the rotation");

    // Renew the server and the gateway's client certificates; replace the files.
    let ca = dev_ca(&fed);
    let gateway = Identity::new(Role::Gateway, "guichet").expect("id");
    let mut server_spec = LeafSpec::server(gateway.clone(), 90);
    server_spec.client_auth = false;
    let server = ca.issue(&server_spec).expect("server");
    server
        .write(&fed.pki.gateway_server.cert, &fed.pki.gateway_server.key)
        .expect("write server");
    let client = ca.issue(&LeafSpec::new(gateway, 90)).expect("client");
    client
        .write(&fed.pki.gateway_client.cert, &fed.pki.gateway_client.key)
        .expect("write client");

    let rotated = eventually(PATIENCE, async || {
        served_serial(&fed).await == server.serial_hex
    })
    .await;
    assert!(rotated, "new handshakes present the new serial");
    assert_ne!(old_serial, server.serial_hex);
    // …and after it: of four more queries done, at most two (one per task) started before.
    let swapped_at = done();
    let after_swap = eventually(PATIENCE, async || done() >= swapped_at + 4).await;
    assert!(after_swap, "queries ran after the rotation");
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no query failed");
    assert!(
        ok.load(Ordering::Relaxed) >= 6,
        "queries ran during the rotation"
    );

    // The gateway now uses the renewed client identity towards the offices.
    let status: serde_json::Value = admin(&fed)
        .get(fed.url("/admin/v1/certificates"))
        .send()
        .await
        .expect("certificates")
        .json()
        .await
        .expect("json");
    let serial_of = |set: &str, usage: &str| {
        status[set]["certificates"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["usage"] == usage))
            .map(|c| c["serial"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(
        serial_of("server", "server"),
        Some(server.serial_hex.clone())
    );
    assert_eq!(
        serial_of("client", "client"),
        Some(client.serial_hex.clone())
    );
    let days = status["server"]["certificates"][0]["daysLeft"].as_i64();
    assert!(matches!(days, Some(88..=90)), "{days:?}");
    let after: serde_json::Value = fed
        .portal()
        .get(fed.url(VN))
        .bearer_auth(fed.token(vn()))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(after["complete"], true, "offices accept the renewed client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_portal_is_refused_after_the_crl_reload_others_keep_working() {
    let fed = Federation::start_full(Latency::ZERO, PATIENT_MS, true, |_| {}).await;
    let ca = dev_ca(&fed);
    let dir = fed.dir.path().join("portals");
    let leaked = ca
        .issue(&LeafSpec::new(
            Identity::new(Role::Portal, "leaky").expect("id"),
            30,
        ))
        .expect("leaf");
    let (cert, key) = (dir.join("leaky.pem"), dir.join("leaky.key"));
    leaked.write(&cert, &key).expect("write");
    let leaky = || fed.client_with(Some((&cert, &key)), &fed.pki.ca_cert);
    assert_eq!(
        leaky()
            .get(fed.url(VN))
            .bearer_auth(common::tokens::mint(&fed.pki, vn(), &cert))
            .send()
            .await
            .expect("q")
            .status(),
        200
    );

    write_crl(
        &ca,
        &[&leaked.serial_hex],
        &fed.dir.path().join("certs/federation.crl.pem"),
    );
    let r = admin(&fed)
        .post(fed.url("/admin/v1/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    // New connections of the revoked portal are refused at the handshake…
    // (the very next handshake after the reload answered: no wait for the watcher).
    assert!(leaky().get(fed.url("/healthz")).send().await.is_err());
    // …while another portal keeps working.
    let ok = fed
        .portal()
        .get(fed.url(VN))
        .bearer_auth(fed.token(vn()))
        .send()
        .await
        .expect("q");
    assert_eq!(ok.status(), 200);
    // The file watcher alone also picks a CRL up: revoke the admin certificate.
    let admin_serial = {
        let der = guichet::tls::load_certs(&fed.pki.admin.cert).expect("admin cert");
        let (_, c) = x509_parser::parse_x509_certificate(&der[0]).expect("x509");
        c.raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    write_crl(
        &ca,
        &[&leaked.serial_hex, &admin_serial],
        &fed.dir.path().join("certs/federation.crl.pem"),
    );
    let refused = eventually(PATIENCE, async || {
        admin(&fed).get(fed.url("/healthz")).send().await.is_err()
    })
    .await;
    assert!(refused, "the watcher reloaded the CRL");
    assert_eq!(
        fed.portal()
            .get(fed.url("/healthz"))
            .send()
            .await
            .expect("h")
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_or_expired_office_is_an_error_with_the_reason() {
    let mut revoked_serial = String::new();
    let fed = Federation::start_full(Latency::ZERO, PATIENT_MS, true, |pki| {
        let ca = Ca::load(&pki.ca_cert, &pki.ca_key).expect("ca");
        let dir = pki.dir.join("tweaked");
        let revoked = ca
            .issue(&LeafSpec::server(
                Identity::new(Role::Office, "025.000").expect("id"),
                30,
            ))
            .expect("leaf");
        let paths = guichet::pki::CertPaths::in_dir(&dir, "025.000");
        revoked.write(&paths.cert, &paths.key).expect("write");
        write_crl(
            &ca,
            &[&revoked.serial_hex],
            &pki.dir.join("federation.crl.pem"),
        );
        revoked_serial = revoked.serial_hex.clone();
        pki.offices.insert("025.000".into(), paths);

        let mut spec = LeafSpec::server(Identity::new(Role::Office, "002.000").expect("id"), 30);
        spec.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(40);
        spec.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        let expired = ca.issue(&spec).expect("leaf");
        let paths = guichet::pki::CertPaths::in_dir(&dir, "002.000");
        expired.write(&paths.cert, &paths.key).expect("write");
        pki.offices.insert("002.000".into(), paths);
    })
    .await;
    assert!(!revoked_serial.is_empty());
    let got: serde_json::Value = fed
        .portal()
        .get(fed.url(VN))
        .bearer_auth(fed.token(vn()))
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    let source = |office: &str| {
        got["sources"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["office"] == office))
            .cloned()
            .unwrap_or_default()
    };
    let revoked = source("025.000");
    assert_eq!(revoked["status"], "error", "{revoked}");
    assert!(
        revoked["detail"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains("revoked"),
        "{revoked}"
    );
    let expired = source("002.000");
    assert_eq!(expired["status"], "error", "{expired}");
    assert!(
        expired["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{expired}"
    );
    let healthy = source("001.000");
    assert!(
        matches!(healthy["status"].as_str(), Some("ok" | "no_account")),
        "{healthy}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_or_mismatched_files_keep_the_old_material_and_are_reported() {
    let fed = Federation::start(Latency::ZERO, PATIENT_MS).await;
    let serial = served_serial(&fed).await;
    let cert = &fed.pki.gateway_server.cert;
    std::fs::write(
        cert,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("corrupt");
    let r = admin(&fed)
        .post(fed.url("/admin/v1/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = r.json().await.expect("json");
    assert_eq!(problem["type"], "urn:guichet:problem:reload-failed");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("gateway-server.pem"), "{detail}");
    assert_eq!(
        served_serial(&fed).await,
        serial,
        "old certificate still served"
    );
    assert_eq!(
        fed.portal()
            .get(fed.url(VN))
            .bearer_auth(fed.token(vn()))
            .send()
            .await
            .expect("q")
            .status(),
        200
    );

    // A certificate without its key: refused as not matching, naming the key file.
    let other = dev_ca(&fed)
        .issue(&LeafSpec::server(
            Identity::new(Role::Gateway, "guichet").expect("id"),
            30,
        ))
        .expect("leaf");
    write_pem_files(
        cert,
        &other.cert_pem,
        &fed.dir.path().join("stray.key"),
        &other.key_pem,
    )
    .expect("write");
    let r = admin(&fed)
        .post(fed.url("/admin/v1/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 500);
    let problem: serde_json::Value = r.json().await.expect("json");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("gateway-server.key") && detail.contains("match"),
        "{detail}"
    );
    assert_eq!(served_serial(&fed).await, serial);

    // Roles: a portal may not reload.
    let r = fed
        .portal()
        .post(fed.url("/admin/v1/reload"))
        .send()
        .await
        .expect("reload");
    assert_eq!(r.status(), 403);
}
