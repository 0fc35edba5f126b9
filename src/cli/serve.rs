//! `guichet serve` and `guichet simulate`: the gateway and the simulated federation as
//! long-running processes, each draining on SIGTERM / Ctrl-C.

use std::path::Path;

use anyhow::Context;
use tokio::net::TcpListener;

use super::runtime;
use crate::config::Config;
use crate::gateway::Gateway;
use crate::merge::YearRange;
use crate::model::Vn;
use crate::net;
use crate::sim::{self, Latency};
use crate::view::AccountView;

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
    let gateway = Gateway::build(&config)?;
    let offices = gateway.store().registry().len();
    gateway.reload_on_sighup();
    let (listener, ops) = bind_listeners(&config).await?;
    tracing::info!(addr = %listener.local_addr()?, offices, "guichet serving (mutual TLS, HTTP/1.1 and HTTP/2)");
    if let Some(ops) = &ops {
        tracing::info!(addr = %ops.local_addr()?, "operations listener: GET /metrics, /healthz (plain HTTP)");
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

/// `guichet simulate --config FILE [--truth VN]`.
pub async fn simulate(
    config_path: &Path,
    truth: Option<Vn>,
    zero_latency: bool,
    faults: Option<&Path>,
) -> anyhow::Result<Option<String>> {
    let config = Config::load(config_path)?;
    let registry = runtime::load_registry(&config)?;
    if let Some(vn) = truth {
        let year = u16::try_from(time::OffsetDateTime::now_utc().year()).unwrap_or(2026);
        let account = sim::truth(
            vn,
            &runtime::sim_offices(&registry),
            year,
            YearRange::default(),
        );
        return Ok(Some(serde_json::to_string_pretty(&AccountView::from(
            &account,
        ))?));
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
        Some(path) => sim::load_faults(path)?,
        None => Default::default(),
    };
    let options = sim::FederationOptions {
        latency,
        faults: &faults,
        ephemeral: false,
    };
    let federation = sim::Federation::start(&registry, &pki, options).await?;
    let sedex = &config.simulator.sedex;
    federation.start_sedex(&sim::SedexOptions::new(&sedex.dir, sedex.delay))?;
    tracing::info!(dir = %sedex.dir.display(), delay_ms = sedex.delay.as_millis() as u64, "simulated sedex clients watching the sedex funds' folders");
    for (office, fault) in &faults {
        tracing::info!(%office, ?fault, "fault injected");
    }
    for (office, url) in federation.endpoints() {
        tracing::debug!(%office, %url, "simulated office listening");
    }
    tracing::info!(
        offices = federation.endpoints().len(),
        "simulated offices listening on their adapters' endpoints"
    );
    shutdown_signal().await;
    federation.stop();
    let requests = federation.simulator().total_requests();
    tracing::info!(requests, "simulator stopped");
    Ok(None)
}
