//! `guichet serve` and `guichet simulate`: the gateway and the simulated federation as
//! long-running processes, each draining on SIGTERM / Ctrl-C.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use super::runtime;
use crate::config::Config;
use crate::merge::YearRange;
use crate::model::Vn;
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
    let (state, store, _watcher) =
        runtime::build_managed_state(&config, std::time::Duration::from_secs(1))?;
    let offices = store.registry().len();
    // The state built by `runtime` always carries the reloadable TLS material.
    let tls = state
        .reloader
        .as_ref()
        .map(crate::server::Reloader::subscribe)
        .context("no TLS material")?;
    crate::server::reload::spawn_watch(&state, std::time::Duration::from_secs(1));
    crate::server::reload::spawn_sighup(&state);
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, offices, "guichet serving (mutual TLS, HTTP/1.1 and HTTP/2)");
    if let Some(ops) = config.admin_listen {
        let ops_listener = TcpListener::bind(ops)
            .await
            .with_context(|| format!("cannot listen on {ops} (admin.listen)"))?;
        tracing::info!(addr = %ops, "operations listener: GET /metrics, /healthz (plain HTTP)");
        tokio::spawn(crate::server::run_ops(
            ops_listener,
            std::sync::Arc::clone(&state),
            std::future::pending(),
        ));
    }
    let audit = state.audit.clone();
    crate::server::run_watched(
        listener,
        tls,
        state,
        config.server.grace_period,
        shutdown_signal(),
    )
    .await;
    checkpoint_at_shutdown(&audit);
    tracing::info!("guichet stopped");
    Ok(())
}

/// Signs the audit log's head once the listeners are drained, so that even the newest
/// records of a run are covered by a checkpoint.
pub fn checkpoint_at_shutdown(audit: &crate::audit::AuditLog) {
    match audit.checkpoint() {
        Ok(Some(c)) => tracing::info!(seq = c.seq, file = %c.file, "audit checkpoint signed"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "audit checkpoint at shutdown not written"),
    }
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
    let simulator = runtime::simulator(&registry, latency);
    let faults = match faults {
        Some(path) => sim::load_faults(path)?,
        None => Default::default(),
    };
    for (office, fault) in &faults {
        if registry.get(*office).is_none() {
            anyhow::bail!("the faults name office {office}, which has no adapter");
        }
        simulator.set_fault(*office, Some(fault.clone()));
        tracing::info!(%office, ?fault, "fault injected");
    }
    let listeners = runtime::bind_offices(&registry, &pki, false, &faults).await?;
    for l in &listeners {
        if let Ok(addr) = l.listener.local_addr() {
            tracing::debug!(office = %l.office, %addr, "simulated office listening");
        }
    }
    tracing::info!(
        offices = listeners.len(),
        "simulated offices listening on their adapters' endpoints"
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    sim::spawn(Arc::clone(&simulator), listeners, stopped);
    shutdown_signal().await;
    let _ = stop.send(true);
    tracing::info!(requests = simulator.total_requests(), "simulator stopped");
    Ok(None)
}
