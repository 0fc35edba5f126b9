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
use crate::server::State;
use crate::sim::{Fault, Latency, OfficeListener, SimOffice, Simulator};
use crate::tls;

/// Loads mappings and adapters named by the configuration.
pub fn load_registry(config: &Config) -> anyhow::Result<Registry> {
    let mappings = MappingSet::load_dir(&config.offices.mappings)?;
    Ok(Registry::load_dir(&config.offices.adapters, &mappings)?)
}

/// The fan-out engine with the gateway's client identity.
pub fn build_fanout(config: &Config, registry: Registry) -> anyhow::Result<Fanout> {
    let o = &config.offices;
    let roots = tls::load_certs(&o.ca)?;
    let chain = tls::load_certs(&o.client_cert)?;
    let key = tls::load_key(&o.client_key)?;
    let client_tls = tls::client_config(&roots, Some((chain, key)))?;
    let client = crate::fanout::client(client_tls).context("cannot build the HTTP client")?;
    let settings = FanoutSettings {
        sender_id: o.sender_id.clone(),
        participant_prefix: o.participant_prefix.clone(),
        test_delivery: o.test_delivery,
        deadline: o.deadline,
        breaker: crate::fanout::BreakerSettings {
            failures: config.protection.breaker_failures,
            open_for: config.protection.breaker_open,
        },
        hedge: config.protection.hedge_budget,
    };
    Ok(Fanout::new(client, registry, settings))
}

/// The ingress TLS configuration (client certificates required).
pub fn server_tls(config: &Config) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let s = &config.server;
    let chain = tls::load_certs(&s.cert)?;
    let key = tls::load_key(&s.key)?;
    let roots = tls::load_certs(&s.client_ca)?;
    Ok(tls::server_config(chain, key, &roots, Vec::new())?)
}

/// Gateway state for the ingress.
pub fn build_state(config: &Config, registry: Registry) -> anyhow::Result<Arc<State>> {
    Ok(Arc::new(State {
        fanout: build_fanout(config, registry)?,
        protection: crate::server::Protection::new(&config.protection),
        adapters: None,
    }))
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
    let state = Arc::new(State {
        fanout: build_fanout(config, store.registry())?,
        protection: crate::server::Protection::new(&config.protection),
        adapters: Some(Arc::clone(&store)),
    });
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
