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
    let path =
        write_config(dir.path(), &pki, &adapters, &repo.join("mappings"), 20_443).expect("config");
    let config = crate::config::Config::load(&path).expect("the bench config is valid");
    let registry = crate::cli::runtime::load_registry(&config)
        .expect("loopback adapters accepted by the bench's endpoint policy");
    assert_eq!(registry.len(), count);
}
