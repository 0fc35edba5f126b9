//! `guichet serve` and `guichet simulate`: the gateway and the simulated federation as
//! long-running processes, each draining on SIGTERM / Ctrl-C.

use std::path::Path;

use anyhow::Context;
use tokio::net::TcpListener;

use super::runtime;
use crate::config::Config;
use crate::gateway::Gateway;
use crate::merge::YearRange;
use crate::model::{OfficeId, Vn};
use crate::net;
use crate::sim::{self, Latency};
use crate::view::{AccountView, HolderView, RegisterTruthView, TruthView};

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// `guichet serve --config FILE`.
pub async fn serve(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let gateway = Gateway::open(&config).await?;
    let offices = gateway.store().registry().len();
    gateway.reload_on_sighup();
    let (listener, ops) = bind_listeners(&config).await?;
    tracing::info!(addr = %listener.local_addr()?, offices, "guichet serving (mutual TLS, HTTP/1.1 and HTTP/2)");
    if let Some(ops) = &ops {
        tracing::info!(addr = %ops.local_addr()?, "operations listener: GET /metrics, /healthz, /readyz (plain HTTP)");
    }
    gateway.serve(listener, ops, shutdown_signal()).await;
    tracing::info!("guichet stopped");
    Ok(())
}

/// Binds `server.listen` and, if configured, `admin.listen`.
pub(super) async fn bind_listeners(
    config: &Config,
) -> anyhow::Result<(TcpListener, Option<TcpListener>)> {
    let listen = config.server.listen;
    let listener = net::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (server.listen)"))?;
    let ops = match config.admin_listen {
        Some(a) => Some(
            net::bind(a)
                .await
                .with_context(|| format!("cannot listen on {a} (admin.listen)"))?,
        ),
        None => None,
    };
    Ok((listener, ops))
}

/// `guichet simulate --config FILE [--truth VN]`: serves every office of the adapters
/// folder and the account register (`[simulator] register_listen`, with the configured
/// lag); with `--truth` prints the person's truth as JSON instead ([`TruthView`]).
pub async fn simulate(
    config_path: &Path,
    truth: Option<Vn>,
    zero_latency: bool,
    faults: Option<&Path>,
    decisions_to: Option<(String, u32)>,
) -> anyhow::Result<Option<String>> {
    let config = Config::load(config_path)?;
    let registry = runtime::load_registry(&config)?;
    if let Some(vn) = truth {
        let simulator = runtime::simulator(&registry, Latency::ZERO);
        simulator.set_register_lag(runtime::register_lag(&config));
        let view = truth_view(&simulator, vn);
        return Ok(Some(serde_json::to_string_pretty(&view)?));
    }
    let pki = runtime::dev_pki(&config, &registry)?;
    let latency = if zero_latency {
        Latency::ZERO
    } else {
        Latency {
            median: config.simulator.latency_median,
            p99: config.simulator.latency_p99,
        }
    };
    let faults = match faults {
        Some(path) => sim::load_fault_set(path)?,
        None => Default::default(),
    };
    let options = sim::FederationOptions {
        latency,
        faults: &faults.offices,
        ephemeral: false,
        register: Some(config.simulator.register_listen),
    };
    let federation = sim::Federation::start(&registry, &pki, options).await?;
    let simulator = federation.simulator();
    simulator.set_register_lag(runtime::register_lag(&config));
    simulator.set_register_fault(faults.register.clone());
    let sedex = &config.simulator.sedex;
    federation.start_sedex(&sim::SedexOptions::new(&sedex.dir, sedex.delay))?;
    tracing::info!(dir = %sedex.dir.display(), delay_ms = sedex.delay.as_millis() as u64, "simulated sedex clients watching the sedex funds' folders");
    for (office, fault) in &faults.offices {
        tracing::info!(%office, ?fault, "fault injected");
    }
    if let Some(fault) = &faults.register {
        tracing::info!(?fault, "fault injected in the account register");
    }
    for (office, url) in federation.endpoints() {
        tracing::debug!(%office, %url, "simulated office listening");
    }
    tracing::info!(
        offices = federation.endpoints().len(),
        "simulated offices listening on their adapters' endpoints"
    );
    if let Some(url) = federation.register_endpoint() {
        let lag = simulator.register_lag();
        tracing::info!(
            %url,
            lag_days = lag.lag_days,
            missing_newest_share = lag.missing_newest_share,
            stale_closed_share = lag.stale_closed_share,
            "simulated account register listening (urn:guichet:register:zas)"
        );
    }
    if let Some((gateway, persons)) = decisions_to {
        tokio::spawn(send_decisions(pki.clone(), gateway, persons));
    }
    shutdown_signal().await;
    federation.stop();
    let requests = federation.simulator().total_requests();
    let register = federation.simulator().register_requests();
    tracing::info!(requests, register, "simulator stopped");
    Ok(None)
}

/// `--decisions-to`: sends the decisions ([`sim::decisions::send_many`]) and logs the
/// counts (never a person or a text).
async fn send_decisions(pki: crate::pki::DevPki, gateway: String, persons: u32) {
    let sent = sim::decisions::send_many(&pki, &gateway, persons).await;
    tracing::info!(
        sent = sent.sent,
        refused = sent.refused,
        "simulated offices sent their decisions"
    );
}

/// The truth of `vn`: the account asking every office, the holders, and what the
/// simulated register (with the simulator's lag) answers.
pub fn truth_view(simulator: &sim::Simulator, vn: Vn) -> TruthView {
    let offices = simulator.offices();
    let account = sim::truth(
        vn,
        offices,
        simulator.reference_year(),
        YearRange::default(),
    );
    let holdings = simulator.holdings(vn);
    let record = simulator.register_record(vn);
    let name = |id: OfficeId| {
        offices
            .iter()
            .find(|o| o.id == id)
            .map_or_else(String::new, |o| o.name.clone())
    };
    let mut holders: Vec<HolderView> = holdings
        .accounts
        .iter()
        .map(|a| (a.office, "account"))
        .chain(holdings.iv_files.iter().map(|f| (f.office, "ivFile")))
        .map(|(office, holds)| HolderView {
            office: office.to_string(),
            name: name(office),
            holds: holds.to_owned(),
        })
        .collect();
    holders.sort_by(|a, b| a.office.cmp(&b.office));
    let (held, named) = (holdings.offices(), record.offices());
    let ids = |set: &mut dyn Iterator<Item = &OfficeId>| set.map(ToString::to_string).collect();
    let lag = simulator.register_lag();
    TruthView {
        account: AccountView::from(&account),
        holders,
        register: RegisterTruthView {
            as_of: record.as_of.to_string(),
            lag_days: lag.lag_days,
            missing_newest_share: lag.missing_newest_share,
            stale_closed_share: lag.stale_closed_share,
            named: ids(&mut named.iter()),
            missing: ids(&mut held.difference(&named)),
            stale: ids(&mut named.difference(&held)),
            unknown: record.is_unknown(),
        },
    }
}
