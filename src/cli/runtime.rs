//! Helpers shared by the commands: configuration → registry, TLS file sets, fan-out
//! settings, the audit log, the development PKI, portal clients. The gateway itself is
//! assembled in [`crate::gateway`] only. Every failure names the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::adapter::Registry;
use crate::config::Config;
use crate::fanout::{Fanout, FanoutSettings};
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
    let (client_tls, _) = tls::load_client(&client_paths(config))?;
    Ok(Fanout::new(client_tls, registry, fanout_settings(config)))
}

/// The ingress's TLS files.
pub fn server_paths(config: &Config) -> tls::ServerPaths {
    let s = &config.server;
    tls::ServerPaths {
        cert: s.cert.clone(),
        key: s.key.clone(),
        client_ca: s.client_ca.clone(),
        crl: s.crl.clone(),
    }
}

/// The gateway's client-side TLS files (towards offices).
pub fn client_paths(config: &Config) -> tls::ClientPaths {
    let o = &config.offices;
    tls::ClientPaths {
        ca: o.ca.clone(),
        cert: o.client_cert.clone(),
        key: o.client_key.clone(),
        crl: o.crl.clone(),
    }
}

/// The fan-out settings of the configuration.
pub fn fanout_settings(config: &Config) -> FanoutSettings {
    let o = &config.offices;
    FanoutSettings {
        sender_id: o.sender_id.clone(),
        participant_prefix: o.participant_prefix.clone(),
        test_delivery: o.test_delivery,
        deadline: o.deadline,
        breaker: config.protection.breaker,
        retry: config.protection.retry,
        hedge: config.protection.hedge_budget,
        max_entries_per_answer: config.protection.max_entries_per_answer,
    }
}

/// Opens the audit log named by the configuration: its HMAC secret and checkpoint key
/// must exist and be `0600`; running without fsync is warned about.
pub fn open_audit(config: &Config) -> anyhow::Result<crate::audit::AuditLog> {
    use crate::audit::keys;
    let a = &config.audit;
    let secret = keys::read_hmac_secret(&a.hmac_key_file)?;
    let signer = keys::read_signer(&a.checkpoint_key_file)?;
    if !a.fsync {
        tracing::warn!(
            dir = %a.dir.display(),
            "audit.unsafe_no_fsync is on: acknowledged audit records can be lost on a crash (benchmarks only)"
        );
    }
    let options = crate::audit::Options {
        max_file_bytes: a.max_file_bytes,
        fsync: a.fsync,
        checkpoint_every: a.checkpoint_every,
        signer: Some(std::sync::Arc::new(signer)),
    };
    Ok(crate::audit::AuditLog::open(&a.dir, &secret, options)?)
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
