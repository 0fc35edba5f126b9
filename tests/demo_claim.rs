//! `guichet demo`'s claim: the demo's gateway (`DemoRun`, register routing, simulated
//! sedex clients, a seal, an SQLite store in a temporary folder) takes a person's EO/APG
//! claim from the demo portal, the fund accepts it, and the printout shows the final
//! state, the rule and both receipts verified against the seal's root.

use std::path::PathBuf;

use guichet::model::Vn;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_claim_is_accepted_with_two_verified_receipts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let c = dir.path().join("certs");
    let config = dir.path().join("guichet.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ncert = \"{c}/gateway-server.pem\"\nkey = \"{c}/gateway-server.key\"\n\
             client_ca = \"{c}/federation-ca.pem\"\n\n[offices]\nadapters = \"{r}/adapters\"\nmappings = \"{r}/mappings\"\n\
             ca = \"{c}/federation-ca.pem\"\nclient_cert = \"{c}/gateway-client.pem\"\nclient_key = \"{c}/gateway-client.key\"\n\
             test_delivery = true\nallow_loopback = true\n\n[simulator]\ncerts = \"{c}/offices\"\nlatency_median_ms = 0\nlatency_p99_ms = 0\n\n\
             [privacy]\npurposes = [\"self-service\", \"claim\"]\n\n[privacy.portals]\ndemo = [\"self-service\", \"claim\"]\n\n\
             [identity]\naudience = \"urn:guichet:gateway:guichet\"\n\
             [[identity.issuers]]\nissuer = \"https://idp.dev.guichet.invalid\"\njwks = \"{c}/idp-jwks.json\"\n\
             acr = [\"urn:guichet:acr:substantial\"]\n\n[audit]\ndir = \"{a}\"\nhmac_key_file = \"{c}/audit-hmac.key\"\nfsync = false\nunsafe_no_fsync = true\n\n\
             [seal]\ncert = \"{c}/seal-guichet.pem\"\nkey = \"{c}/seal-guichet.key\"\nca = \"{c}/federation-ca.pem\"\n",
            c = c.display(),
            r = repo.display(),
            a = dir.path().join("audit").display(),
        ),
    )
    .expect("config");
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
