//! The gateway moved to a two-tier federation made by `guichet certs` without a restart:
//! a new client CA bundle, a server chain (leaf + issuing CA), CRLs of two issuers, and a
//! portal of the new federation revoked with `certs revoke`.

mod common;

use std::time::{Duration, Instant};

use common::{Federation, PATIENT_MS, write_crl};
use guichet::pki::manage::{self, IssueRequest};
use guichet::pki::{Ca, Identity, Role};
use guichet::sim::Latency;

/// Bound for the watcher to pick a change up; the test asserts that it does, not how fast.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_adopts_a_two_tier_federation_and_its_crl_live() {
    let fed = Federation::start_full(Latency::ZERO, PATIENT_MS, true, |_| {}).await;
    let certs = fed.dir.path().join("certs");
    let two = fed.dir.path().join("federation");
    let layout = manage::init(&two).expect("init");
    let issue = |role, name: &str, server| {
        manage::issue(
            &layout,
            &IssueRequest {
                identity: Identity::new(role, name).expect("id"),
                days: 90,
                server,
                dns: Vec::new(),
                ips: Vec::new(),
                force: false,
            },
        )
        .expect("issue")
    };
    let server = issue(Role::Gateway, "guichet", true);
    let portal = issue(Role::Portal, "newportal", false);

    // Trust both federations for clients; both issuers publish a CRL.
    let bundle = format!(
        "{}{}",
        std::fs::read_to_string(&fed.pki.ca_cert).expect("dev ca"),
        std::fs::read_to_string(&layout.root.cert).expect("root")
    );
    let bundle_path = fed.dir.path().join("both-roots.pem");
    std::fs::write(&bundle_path, &bundle).expect("bundle");
    let dev_ca = Ca::load(&fed.pki.ca_cert, &fed.pki.ca_key).expect("dev ca");
    let crls = |fed2_crl: &std::path::Path| {
        let dev_crl = certs.join("dev.crl.pem");
        write_crl(&dev_ca, &[], &dev_crl);
        format!(
            "{}{}",
            std::fs::read_to_string(dev_crl).expect("dev crl"),
            std::fs::read_to_string(fed2_crl).expect("crl")
        )
    };
    let replace = |path: std::path::PathBuf, text: String| {
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(tmp, path).expect("rename");
    };
    replace(certs.join("client-ca.pem"), bundle.clone());
    replace(certs.join("federation.crl.pem"), crls(&layout.crl));
    let read = |p: &std::path::Path| std::fs::read_to_string(p).expect("read");
    replace(
        fed.pki.gateway_server.key.clone(),
        read(&two.join(&server.key_file)),
    );
    replace(
        fed.pki.gateway_server.cert.clone(),
        read(&two.join(&server.cert_file)),
    );

    let new_portal = || {
        fed.client_with(
            Some((&two.join(&portal.cert_file), &two.join(&portal.key_file))),
            &bundle_path,
        )
    };
    let vn = "/v1/accounts/7561234567897";
    let start = Instant::now();
    let mut adopted = false;
    while start.elapsed() < PATIENCE && !adopted {
        let token = common::tokens::mint(
            &fed.pki,
            "7561234567897".parse().expect("vn"),
            &two.join(&portal.cert_file),
        );
        let answer = new_portal()
            .get(fed.url(vn))
            .bearer_auth(token)
            .send()
            .await;
        adopted = matches!(answer, Ok(r) if r.status() == 200);
        if !adopted {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(adopted, "the watcher loaded the new chain, bundle and CRLs");
    // The old portal (trusting both roots for the server's new chain) keeps working.
    let old_portal = fed.client_with(
        Some((&fed.pki.portal.cert, &fed.pki.portal.key)),
        &bundle_path,
    );
    assert_eq!(
        old_portal
            .get(fed.url(vn))
            .bearer_auth(fed.token_of("7561234567897"))
            .send()
            .await
            .expect("q")
            .status(),
        200
    );

    // Revoke the new portal with `certs revoke`; publish both CRLs.
    manage::revoke(&layout, &portal.serial, "cessation-of-operation").expect("revoke");
    replace(certs.join("federation.crl.pem"), crls(&layout.crl));
    let start = Instant::now();
    let mut refused = false;
    while start.elapsed() < PATIENCE && !refused {
        refused = new_portal().get(fed.url("/healthz")).send().await.is_err();
        if !refused {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(refused, "revoked portal refused at the handshake");
    assert_eq!(
        old_portal
            .get(fed.url(vn))
            .bearer_auth(fed.token_of("7561234567897"))
            .send()
            .await
            .expect("q")
            .status(),
        200
    );
}
