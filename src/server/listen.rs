//! The accept loop and connection driver shared by the portal listener (mutual TLS) and
//! the operations listener (plain HTTP): a cap on connections, backoff on accept errors,
//! an idle timeout and a maximum age per connection, the request-head size limit, and the
//! drain on shutdown.
//!
//! Over the cap a connection is accepted and closed at once (and counted), rather than
//! left in the kernel's backlog: the client learns at once that it must go elsewhere or
//! retry, and the operator sees the refusals in `guichet_connections_closed_total`.

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use super::conn::{Connections, Slot};
use crate::config::ConnectionLimits;
use crate::locks;
use crate::metrics::{ConnectionLabels, METRICS};

/// First pause after a failed `accept` (e.g. out of file descriptors); doubles up to
/// [`MAX_BACKOFF`], so the loop never spins.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What every connection of one listener shares.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    /// The listener's connections.
    pub conns: Arc<Connections>,
    /// Limits of each connection.
    pub limits: ConnectionLimits,
    /// Time a draining connection has to finish before it is closed.
    pub grace: Duration,
    /// Turns true at shutdown.
    pub draining: watch::Receiver<bool>,
}

impl Shared {
    /// The shared part for `conns` served as `serving`, and the sender that starts the drain.
    pub(super) fn new(
        conns: Arc<Connections>,
        serving: super::Serving,
    ) -> (Shared, watch::Sender<bool>) {
        let (draining, rx) = watch::channel(false);
        let shared = Shared {
            conns,
            limits: serving.limits,
            grace: serving.grace,
            draining: rx,
        };
        (shared, draining)
    }
}

/// The HTTP builder with the limits applied: HTTP/1.1 refuses a request head larger than
/// the limit with `431` (its read buffer is that size), HTTP/2 does the same through
/// `SETTINGS_MAX_HEADER_LIST_SIZE`.
pub(super) fn http_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let max = u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size(limits.max_header_bytes);
    builder.http2().max_header_list_size(max);
    builder
}

/// Accepts until `shutdown`, hands each admitted connection to `serve`, then drains:
/// connections finish within the grace period, the rest are closed.
pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: &Shared,
    draining: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
    mut serve: impl FnMut(TcpStream, SocketAddr, Slot),
) {
    let conns = &shared.conns;
    let mut backoff = MIN_BACKOFF;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => {
                    backoff = MIN_BACKOFF;
                    match conns.admit() {
                        Some(slot) => serve(tcp, addr, slot),
                        None => {
                            count(conns.listener(), "over-cap");
                            tracing::debug!(peer = %addr, listener = conns.listener(), "connection cap reached: closed");
                            drop(tcp);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, listener = conns.listener(), pause_ms = backoff.as_millis() as u64, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    draining.send_replace(true);
    tracing::info!(
        listener = conns.listener(),
        open = conns.len(),
        grace_ms = shared.grace.as_millis() as u64,
        "shutting down: draining connections"
    );
    if tokio::time::timeout(shared.grace, conns.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = conns.listener(),
            "grace period over: closing remaining connections"
        );
        conns.close_all();
        // Each connection task ends at its next poll; do not wait on a stuck peer.
        let _ = tokio::time::timeout(Duration::from_secs(1), conns.drained()).await;
    }
}

/// Counts a connection refused or closed by the ingress.
pub(super) fn count(listener: &'static str, reason: &'static str) {
    METRICS
        .connections_closed
        .get_or_create(&ConnectionLabels { listener, reason })
        .inc();
}

/// Requests in flight on one connection and when the last one ended.
#[derive(Debug)]
pub(super) struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
}

/// One request in flight; dropping it marks the connection active now.
pub(super) struct Busy(Arc<Activity>);

impl Activity {
    pub(super) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        })
    }

    pub(super) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }

    fn last(&self) -> Instant {
        *locks::lock(&self.last)
    }

    /// When the connection becomes idle if nothing happens meanwhile.
    fn idle_at(&self, idle: Duration) -> Instant {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            Instant::now() + idle
        } else {
            self.last() + idle
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *locks::lock(&self.0.last) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one connection until it ends, is told to close (revoked, grace over), or has
/// drained after its idle timeout, its maximum age or the shutdown: draining is hyper's
/// graceful shutdown (HTTP/1.1: close after the response in flight; HTTP/2: GOAWAY, then
/// close when the streams are done), bounded by the grace period.
///
/// `expires` (the client certificate's end of validity) closes the connection at once.
pub(super) async fn drive<C>(
    conn: C,
    slot: &Slot,
    activity: &Activity,
    shared: &Shared,
    expires: Option<Instant>,
) where
    C: GracefulConnection,
    C::Error: Display,
{
    let listener = shared.conns.listener();
    let limits = &shared.limits;
    let mut draining = shared.draining.clone();
    let aged = Instant::now() + limits.max_age;
    let mut hard_stop: Option<Instant> = None;
    tokio::pin!(conn);
    loop {
        let idle_at = activity.idle_at(limits.idle_timeout);
        let reason = tokio::select! {
            // Biased: a close order (revoked client) wins over a request ready to be read.
            biased;
            () = slot.closed() => return,
            () = sleep_until(expires) => {
                count(listener, "expired");
                tracing::info!(listener, "client certificate expired: connection closed");
                return;
            }
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(listener, error = %e, "connection ended with an error");
                }
                return;
            }
            () = sleep_until(hard_stop) => return,
            () = tokio::time::sleep_until(aged), if hard_stop.is_none() => "max-age",
            () = tokio::time::sleep_until(idle_at), if hard_stop.is_none() => {
                if activity.idle_at(limits.idle_timeout) > Instant::now() {
                    continue;
                }
                "idle"
            }
            _ = draining.wait_for(|d| *d), if hard_stop.is_none() => "shutdown",
        };
        if reason != "shutdown" {
            count(listener, reason);
        }
        tracing::debug!(
            listener,
            reason,
            "closing connection after its requests in flight"
        );
        conn.as_mut().graceful_shutdown();
        hard_stop = Some(Instant::now() + shared.grace);
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
