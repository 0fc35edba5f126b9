//! Helpers shared by the commands: configuration → registry, the offline fan-out of the
//! probe, the development PKI and audit keys, portal clients. The gateway itself, and the
//! configuration → parts mapping it uses, live in [`crate::gateway`] only. Every failure names the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::adapter::Registry;
use crate::config::Config;
use crate::fanout::Fanout;
use crate::gateway;
use crate::mapping::MappingSet;
use crate::pki::{DevPki, ensure_dev_pki};
use crate::sim::{Latency, Simulator};
use crate::tls;

/// What the simulator needs to know of each office.
pub use crate::sim::offices_of as sim_offices;

/// Loads mappings and adapters named by the configuration.
pub fn load_registry(config: &Config) -> anyhow::Result<Registry> {
    let mappings = MappingSet::load_dir(&config.offices.mappings)?;
    let registry = Registry::load_dir(&config.offices.adapters, &mappings)?;
    let o = &config.offices;
    o.endpoint_policy
        .check_loaded(&o.adapters, registry.iter().map(AsRef::as_ref))?;
    Ok(registry)
}

/// The fan-out engine with the gateway's client identity.
pub fn build_fanout(config: &Config, registry: Registry) -> anyhow::Result<Fanout> {
    let (client_tls, _) = tls::load_client(&gateway::client_paths(config))?;
    Ok(Fanout::new(
        client_tls,
        registry,
        gateway::fanout_settings(config),
    ))
}

/// Makes the audit HMAC secret (64 random hex digits) and the checkpoint signing key
/// (`audit-checkpoint.p8` next to it, public key `.pub`) if there are none — development
/// federation and benchmarks only; each written `0600` atomically.
pub fn ensure_audit_secret(path: &Path) -> anyhow::Result<()> {
    let checkpoint = path.with_file_name(crate::config::CHECKPOINT_KEY);
    Ok(crate::audit::keys::ensure(path, &checkpoint)?)
}

/// [`ensure_audit_secret`] for the files a configuration names.
pub fn ensure_audit_keys(audit: &crate::config::AuditConfig) -> anyhow::Result<()> {
    Ok(crate::audit::keys::ensure(
        &audit.hmac_key_file,
        &audit.checkpoint_key_file,
    )?)
}

/// The development PKI lives in the folder of the offices' CA (`certs/` by default).
pub fn dev_pki(config: &Config, registry: &Registry) -> anyhow::Result<DevPki> {
    let dir: PathBuf = config
        .offices
        .ca
        .parent()
        .map_or_else(|| PathBuf::from("certs"), Path::to_owned);
    let offices: Vec<String> = registry.iter().map(|a| a.office.to_string()).collect();
    ensure_audit_keys(&config.audit)?;
    if let Some(console) = &config.console {
        crate::console::ensure_key(&console.key_file)?;
    }
    if let Some(messages) = &config.messages {
        for path in messages.keys.values() {
            crate::message::keys::ensure_key_file(path)?;
        }
    }
    Ok(ensure_dev_pki(&dir, &offices)?)
}

/// The simulator for a registry.
pub fn simulator(registry: &Registry, latency: Latency) -> Arc<Simulator> {
    let year = u16::try_from(time::OffsetDateTime::now_utc().year()).unwrap_or(2026);
    Arc::new(Simulator::new(
        crate::sim::offices_of(registry),
        latency,
        year,
    ))
}

/// The simulated register's lag from `[simulator]`.
pub fn register_lag(config: &Config) -> crate::sim::RegisterLag {
    let s = &config.simulator;
    crate::sim::RegisterLag {
        lag_days: s.register_lag_days,
        missing_newest_share: s.register_missing_newest_share,
        stale_closed_share: s.register_stale_closed_share,
    }
}

/// A portal's HTTP client: its TLS identity (`tls`), and the purpose it states on every
/// account query (`Purpose` header). Used by the demo, the benchmarks and the tests.
pub fn portal_client(tls: rustls::ClientConfig, purpose: &str) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "purpose",
        reqwest::header::HeaderValue::from_str(purpose).context("purpose is not a header value")?,
    );
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .tls_info(true)
        .default_headers(headers)
        .no_proxy()
        .build()?)
}
