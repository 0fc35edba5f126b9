//! `guichet demo`'s claim: the demo's gateway (`DemoRun`, register routing, simulated
//! sedex clients, a seal, an SQLite store in a temporary folder) takes a person's EO/APG
//! claim from the demo portal, the fund accepts it, and the printout shows the final
//! state, the rule and both receipts verified against the seal's root.

#[path = "support/demo_config.rs"]
mod demo_config;

use guichet::model::Vn;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_claim_is_accepted_with_two_verified_receipts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = demo_config::write(
        dir.path(),
        "[privacy]\npurposes = [\"self-service\", \"claim\"]\n\n\
         [privacy.portals]\ndemo = [\"self-service\", \"claim\"]\n",
        &format!(
            "[seal]\ncert = \"{c}/seal-guichet.pem\"\nkey = \"{c}/seal-guichet.key\"\n\
             ca = \"{c}/federation-ca.pem\"\n",
            c = dir.path().join("certs").display()
        ),
    );
    let run = guichet::cli::DemoRun::start(&config).await.expect("demo");
    let roots = guichet::tls::load_certs(&run.pki.ca_cert).expect("ca");
    let id = (
        guichet::tls::load_certs(&run.pki.portal.cert).expect("cert"),
        guichet::tls::load_key(&run.pki.portal.key).expect("key"),
    );
    let tls = guichet::tls::client_config(&roots, Some(id)).expect("tls");
    let portal = guichet::cli::runtime::portal_client(tls, "self-service").expect("client");
    let vn = Vn::from_serial(4_242);
    let token = run
        .token(vn, std::time::Duration::from_secs(300))
        .expect("token");
    let printed = guichet::cli::demo_claim(&run, &portal, vn, &token)
        .await
        .expect("the claim goes through");
    run.stop().await;
    assert!(
        printed.contains("(loss of earnings, EO/APG): accepted at fund"),
        "{printed}"
    );
    assert!(printed.contains("routing rule  "), "{printed}");
    for kind in ["submission", "delivery"] {
        assert!(printed.contains(&format!("receipt {kind}")), "{printed}");
    }
    assert_eq!(printed.matches("verified (seal").count(), 2, "{printed}");
    assert!(!printed.contains("NOT verified"), "{printed}");
    assert!(
        !printed.contains(&vn.digits()),
        "the printout names no AHV number"
    );
}
