//! The benchmark's own federation is one the gateway accepts.

use super::*;

/// The benchmark's own federation (loopback offices on ports of this run) must be one
/// the gateway accepts: its configuration is a development one, so its loopback
/// endpoints pass the endpoint policy.
#[test]
fn the_bench_federation_config_loads_with_its_loopback_adapters() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = crate::pki::ensure_dev_pki(&dir.path().join("certs"), &["001.000".to_owned()])
        .expect("dev PKI");
    let adapters = dir.path().join("adapters");
    let count = adapter_files(&repo.join("adapters"))
        .expect("adapters")
        .len();
    let ports: Vec<u16> = (0..count).map(|i| 20_000 + i as u16).collect();
    rewrite_adapters(&repo.join("adapters"), &adapters, &ports).expect("rewrite");
    for routing in [false, true] {
        let g = GatewayFile {
            name: if routing {
                "register.toml"
            } else {
                "broadcast.toml"
            },
            port: 20_443,
            audit: "audit",
            routing,
        };
        let mappings = repo.join("mappings");
        let path =
            write_config(dir.path(), &pki, &adapters, &mappings, 20_444, &g).expect("config");
        let config = crate::config::Config::load(&path).expect("the bench config is valid");
        let registry = crate::cli::runtime::load_registry(&config)
            .expect("loopback adapters accepted by the bench's endpoint policy");
        assert_eq!(registry.len(), count);
        assert_eq!(config.simulator.register_listen.port(), 20_444);
        // The second gateway routes by the simulated register; the first broadcasts.
        assert_eq!(config.routing.is_some(), routing);
    }
}
