//! The configuration `guichet demo` runs on, written for a test into a temporary folder:
//! the development PKI under `DIR/certs` (made by the demo on first start), the shipped
//! adapters and mappings, zero-latency simulated offices, the development identity
//! provider, an audit log under `DIR/audit` without fsync. Used by the tests that start
//! a `DemoRun` (`demo_claim.rs`, `ingress_limits.rs`).

use std::path::{Path, PathBuf};

/// Writes `DIR/guichet.toml` with `privacy` (the `[privacy…]` sections) and `extra`
/// (further sections, appended) and returns its path.
pub fn write(dir: &Path, privacy: &str, extra: &str) -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let c = dir.join("certs");
    let config = dir.join("guichet.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ncert = \"{c}/gateway-server.pem\"\nkey = \"{c}/gateway-server.key\"\n\
             client_ca = \"{c}/federation-ca.pem\"\n\n[offices]\nadapters = \"{r}/adapters\"\nmappings = \"{r}/mappings\"\n\
             ca = \"{c}/federation-ca.pem\"\nclient_cert = \"{c}/gateway-client.pem\"\nclient_key = \"{c}/gateway-client.key\"\n\
             test_delivery = true\nallow_loopback = true\n\n[simulator]\ncerts = \"{c}/offices\"\nlatency_median_ms = 0\nlatency_p99_ms = 0\n\n\
             {privacy}\n[identity]\naudience = \"urn:guichet:gateway:guichet\"\n\
             [[identity.issuers]]\nissuer = \"https://idp.dev.guichet.invalid\"\njwks = \"{c}/idp-jwks.json\"\n\
             acr = [\"urn:guichet:acr:substantial\"]\n\n[audit]\ndir = \"{a}\"\nhmac_key_file = \"{c}/audit-hmac.key\"\nfsync = false\nunsafe_no_fsync = true\n\n\
             {extra}",
            c = c.display(),
            r = repo.display(),
            a = dir.join("audit").display(),
        ),
    )
    .expect("config");
    config
}
