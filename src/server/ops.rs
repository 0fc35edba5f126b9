//! The operations listener: `GET /metrics` (Prometheus / OpenMetrics text), `GET /healthz`
//! (liveness), `GET /readyz` (readiness, [`super::ready`]) and the operator's console under
//! `/console/` ([`crate::console`], with `[console]`), plain HTTP on its own address, meant
//! for loopback or a management network — never the portal-facing port. It serves no
//! personal data. It keeps answering while the portal listener drains, so that `/readyz`
//! says `503` during a shutdown.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::listen::{self, Activity, Shared};
use super::ready::{self, Readiness};
use super::{Connections, Serving, State};
use crate::metrics::METRICS;

/// Serves the operations endpoints until `shutdown` resolves, then drains, with the same
/// limits as the portal listener (HTTP/1.1 only).
pub(crate) async fn serve_ops(
    listener: TcpListener,
    state: Arc<State>,
    readiness: Arc<Readiness>,
    serving: Serving,
    shutdown: impl Future<Output = ()>,
) {
    let conns = Connections::new("ops", serving.limits.max_connections);
    let (shared, draining) = Shared::new(conns, serving);
    let mut builder = listen::http_builder(&serving.limits);
    builder = builder.http1_only();
    listen::accept_loop(listener, &shared, draining, shutdown, |tcp, _, slot| {
        let (state, shared, builder) = (Arc::clone(&state), shared.clone(), builder.clone());
        let readiness = Arc::clone(&readiness);
        tokio::spawn(async move {
            let activity = Activity::new();
            let busy = Arc::clone(&activity);
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let (state, busy) = (Arc::clone(&state), busy.begin());
                let readiness = Arc::clone(&readiness);
                async move {
                    let path = req.uri().path();
                    let response = if path == "/console" || path.starts_with("/console/") {
                        crate::console::handle(req, state).await
                    } else {
                        answer(path, &state, &readiness).await
                    };
                    drop(busy);
                    Ok::<_, Infallible>(response)
                }
            });
            let conn = builder.serve_connection(TokioIo::new(tcp), service);
            listen::drive(conn, &slot, &activity, &shared, None).await;
        });
    })
    .await;
}

async fn answer(path: &str, state: &State, readiness: &Readiness) -> Response<Full<Bytes>> {
    let (status, kind, body) = match path {
        "/metrics" => {
            let mut gauges = live_gauges(state);
            gauges.push_str(&outbox_gauges(state).await);
            (
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                METRICS.render(&gauges),
            )
        }
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" => {
            let report = ready::check(state, readiness).await;
            let status = if report.ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = serde_json::to_string(&report).unwrap_or_default() + "\n";
            (status, "application/json", body)
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", kind)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Gauges read at scrape time: each office's breaker, each loaded certificate's days left.
fn live_gauges(state: &State) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP guichet_circuit_state Breaker of each office: 0 closed, 1 half-open, 2 open.\n",
    );
    out.push_str("# TYPE guichet_circuit_state gauge\n");
    for adapter in state.fanout.registry().iter() {
        let value = match state
            .fanout
            .guard(adapter.office)
            .map(|g| g.breaker_state())
        {
            Some(crate::fanout::BreakerState::Open) => 2,
            Some(crate::fanout::BreakerState::HalfOpen) => 1,
            _ => 0,
        };
        let _ = writeln!(
            out,
            "guichet_circuit_state{{office=\"{}\"}} {value}",
            adapter.office
        );
    }
    if let Some(g) = state.fanout.register_guard() {
        let value = match g.breaker_state() {
            crate::fanout::BreakerState::Open => 2,
            crate::fanout::BreakerState::HalfOpen => 1,
            _ => 0,
        };
        let label = crate::fanout::REGISTER_LABEL;
        let _ = writeln!(out, "guichet_circuit_state{{office=\"{label}\"}} {value}");
    }
    {
        let reloader = &state.reloader;
        let open = reloader.connections().len();
        out.push_str("# HELP guichet_connections_open Connections open on the portal listener.\n");
        out.push_str("# TYPE guichet_connections_open gauge\n");
        let _ = writeln!(
            out,
            "guichet_connections_open{{listener=\"gateway\"}} {open}"
        );
        out.push_str(
            "# HELP guichet_certificate_days_left Whole days until a loaded certificate expires.\n",
        );
        out.push_str("# TYPE guichet_certificate_days_left gauge\n");
        let status = reloader.status();
        for c in status
            .server
            .certificates
            .iter()
            .chain(status.client.certificates.iter())
        {
            let _ = writeln!(
                out,
                "guichet_certificate_days_left{{usage=\"{}\",serial=\"{}\"}} {}",
                c.usage, c.serial, c.days_left
            );
        }
        if let Some(seal) = &state.sealer {
            let s = seal.status();
            let _ = writeln!(
                out,
                "guichet_certificate_days_left{{usage=\"seal\",serial=\"{}\"}} {}",
                s.serial, s.days_left
            );
        }
        out.push_str("# HELP guichet_crl_next_update_seconds Seconds until a loaded CRL's next update (negative: stale).\n");
        out.push_str("# TYPE guichet_crl_next_update_seconds gauge\n");
        for crl in status.server.crls.iter().chain(status.client.crls.iter()) {
            if let Some(s) = crl.seconds_to_next_update() {
                let file = crl.file.replace(['\\', '"'], "_");
                let _ = writeln!(
                    out,
                    "guichet_crl_next_update_seconds{{file=\"{file}\"}} {s}"
                );
            }
        }
    }
    out
}

/// The outbox gauges, read from the store at scrape time (within the readiness timeout):
/// rows to deliver, of those leased now, and the age of the oldest. Empty when the store
/// does not answer (the scrape still succeeds; `/readyz` says why).
async fn outbox_gauges(state: &State) -> String {
    let stats = tokio::time::timeout(ready::STORE_TIMEOUT, state.db.outbox_stats()).await;
    let Ok(Ok(stats)) = stats else {
        return String::new();
    };
    let mut out = String::new();
    out.push_str(
        "# HELP guichet_outbox_pending Outbox rows still to deliver (all replicas of the store).\n",
    );
    out.push_str("# TYPE guichet_outbox_pending gauge\n");
    let _ = writeln!(out, "guichet_outbox_pending {}", stats.depth);
    out.push_str("# HELP guichet_outbox_leased Of those, rows held by a delivery worker now.\n");
    out.push_str("# TYPE guichet_outbox_leased gauge\n");
    let _ = writeln!(out, "guichet_outbox_leased {}", stats.leased);
    out.push_str("# HELP guichet_outbox_oldest_age_seconds Age of the oldest row still to deliver (0: none).\n");
    out.push_str("# TYPE guichet_outbox_oldest_age_seconds gauge\n");
    let age = stats.oldest_age.map_or(0.0, |a| a.as_secs_f64());
    let _ = writeln!(out, "guichet_outbox_oldest_age_seconds {age:.3}");
    out
}
