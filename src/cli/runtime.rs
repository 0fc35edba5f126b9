//! Wiring shared by `serve`, `simulate` and `demo`: configuration → registry → TLS
//! material → fan-out engine, simulated offices and ingress. Every failure names the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::adapter::watch::Watcher;
use crate::adapter::{Registry, Store};
use crate::config::Config;
use crate::fanout::{Fanout, FanoutSettings};
use crate::mapping::MappingSet;
use crate::model::OfficeId;
use crate::pki::{DevPki, ensure_dev_pki};
use crate::server::{Reloader, State};
use crate::sim::{Fault, Latency, OfficeListener, SimOffice, Simulator};
use crate::tls;

/// Loads mappings and adapters named by the configuration.
pub fn load_registry(config: &Config) -> anyhow::Result<Registry> {
    let mappings = MappingSet::load_dir(&config.offices.mappings)?;
    Ok(Registry::load_dir(&config.offices.adapters, &mappings)?)
}

/// The fan-out engine with the gateway's client identity.
pub fn build_fanout(config: &Config, registry: Registry) -> anyhow::Result<Fanout> {
    let (client_tls, _) = tls::load_client(&client_paths(config))?;
    let client = crate::fanout::client(client_tls).context("cannot build the HTTP client")?;
    Ok(Fanout::new(client, registry, fanout_settings(config)))
}

/// The ingress TLS configuration (client certificates required, CRL if configured).
pub fn server_tls(config: &Config) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    Ok(tls::load_server(&server_paths(config))?.0)
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

/// Gateway state for the ingress, with reloadable TLS material (see
/// [`crate::server::reload`]); serve it with [`crate::server::run_watched`] on
/// `state.reloader`'s subscription.
pub fn build_state(config: &Config, registry: Registry) -> anyhow::Result<Arc<State>> {
    assemble(config, registry, None)
}

/// The one place a gateway `State` is put together.
fn assemble(
    config: &Config,
    registry: Registry,
    adapters: Option<Arc<Store>>,
) -> anyhow::Result<Arc<State>> {
    let (reloader, client_tls) = Reloader::load(server_paths(config), client_paths(config))?;
    let client = crate::fanout::client(client_tls).context("cannot build the HTTP client")?;
    Ok(Arc::new(State {
        fanout: Fanout::new(client, registry, fanout_settings(config)),
        reloader: Some(reloader),
        protection: crate::server::Protection::new(&config.protection),
        audit: open_audit(config)?,
        privacy: config.privacy.clone(),
        adapters,
    }))
}

fn fanout_settings(config: &Config) -> FanoutSettings {
    let o = &config.offices;
    FanoutSettings {
        sender_id: o.sender_id.clone(),
        participant_prefix: o.participant_prefix.clone(),
        test_delivery: o.test_delivery,
        deadline: o.deadline,
        breaker: crate::fanout::BreakerSettings {
            failures: config.protection.breaker_failures,
            open_for: config.protection.breaker_open,
        },
        hedge: config.protection.hedge_budget,
        max_entries_per_answer: config.protection.max_entries_per_answer,
    }
}

/// Opens the audit log named by the configuration (its HMAC secret must exist).
pub fn open_audit(config: &Config) -> anyhow::Result<crate::audit::AuditLog> {
    let a = &config.audit;
    let secret = std::fs::read(&a.hmac_key_file).with_context(|| {
        format!(
            "cannot read the audit HMAC secret {}",
            a.hmac_key_file.display()
        )
    })?;
    let secret = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
    Ok(crate::audit::AuditLog::open(
        &a.dir,
        &secret,
        a.max_file_bytes,
        a.fsync,
    )?)
}

/// Makes the audit HMAC secret if there is none (development federation only):
/// 64 random hex digits, written `0600` atomically.
pub fn ensure_audit_secret(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness for the audit secret"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    crate::pki::write_secret_file(path, &hex)?;
    Ok(())
}

/// Gateway state that administers its adapters folder: the registry comes from the
/// [`Store`], API changes are written there, and a watcher polling the folder every
/// `poll` picks up hand edits — all three through [`Store::publish`]. The watcher stops
/// when the returned handle is dropped.
pub fn build_managed_state(
    config: &Config,
    poll: std::time::Duration,
) -> anyhow::Result<(Arc<State>, Arc<Store>, Watcher)> {
    let mappings = MappingSet::load_dir(&config.offices.mappings)?;
    let store = Arc::new(Store::open(&config.offices.adapters, mappings)?);
    let state = assemble(config, store.registry(), Some(Arc::clone(&store)))?;
    let watcher = crate::adapter::watch::spawn(
        Arc::clone(&store),
        Arc::clone(&state) as Arc<dyn crate::adapter::Publish>,
        poll,
    );
    Ok((state, store, watcher))
}

/// The development PKI lives in the folder of the offices' CA (`certs/` by default).
pub fn dev_pki(config: &Config, registry: &Registry) -> anyhow::Result<DevPki> {
    let dir: PathBuf = config
        .offices
        .ca
        .parent()
        .map_or_else(|| PathBuf::from("certs"), Path::to_owned);
    let offices: Vec<String> = registry.iter().map(|a| a.office.to_string()).collect();
    ensure_audit_secret(&config.audit.hmac_key_file)?;
    Ok(ensure_dev_pki(&dir, &offices)?)
}

/// What the simulator needs to know of each office.
pub fn sim_offices(registry: &Registry) -> Vec<SimOffice> {
    registry
        .iter()
        .map(|a| SimOffice {
            id: a.office,
            name: a.name.clone(),
            kind: a.kind,
            canton: a.canton,
            dialect: a.dialect.clone(),
        })
        .collect()
}

/// Binds one listener per office: on the adapter's own port, or on port 0 when
/// `ephemeral` (demo, tests), each with the office's certificate from the dev PKI. The
/// faults that act at bind time apply here: `wrong-certificate` serves another office's
/// certificate, `refused` closes the listener.
pub async fn bind_offices(
    registry: &Registry,
    pki: &DevPki,
    ephemeral: bool,
    faults: &BTreeMap<OfficeId, Fault>,
) -> anyhow::Result<Vec<OfficeListener>> {
    let roots = tls::load_certs(&pki.ca_cert)?;
    let ids: Vec<OfficeId> = registry.iter().map(|a| a.office).collect();
    let mut listeners = Vec::with_capacity(registry.len());
    for adapter in registry.iter() {
        let fault = faults.get(&adapter.office);
        let cert_of = match fault {
            Some(Fault::WrongCertificate) => ids
                .iter()
                .copied()
                .find(|o| *o != adapter.office)
                .unwrap_or(adapter.office),
            _ => adapter.office,
        };
        let paths = pki
            .offices
            .get(&cert_of.to_string())
            .with_context(|| format!("no certificate for office {cert_of}"))?;
        let config = tls::server_config(
            tls::load_certs(&paths.cert)?,
            tls::load_key(&paths.key)?,
            &roots,
            Vec::new(),
        )?;
        let addr = if ephemeral {
            "127.0.0.1:0".to_owned()
        } else {
            let host = adapter.endpoint.host_str().unwrap_or("127.0.0.1");
            let port = adapter.endpoint.port_or_known_default().unwrap_or(443);
            format!("{host}:{port}")
        };
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("office {}: cannot listen on {addr}", adapter.office))?;
        let refuse = matches!(fault, Some(Fault::Refused));
        listeners.push(OfficeListener {
            office: adapter.office,
            listener,
            tls: config,
            refuse,
        });
    }
    Ok(listeners)
}

/// The simulator for a registry.
pub fn simulator(registry: &Registry, latency: Latency) -> Arc<Simulator> {
    let year = u16::try_from(time::OffsetDateTime::now_utc().year()).unwrap_or(2026);
    Arc::new(Simulator::new(sim_offices(registry), latency, year))
}

/// The adapters' endpoint paths, to keep them when serving on other ports.
pub fn endpoint_paths(registry: &Registry) -> BTreeMap<OfficeId, String> {
    registry
        .iter()
        .map(|a| (a.office, a.endpoint.path().to_owned()))
        .collect()
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
