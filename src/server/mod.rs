//! The ingress: accept loop, mutual TLS, HTTP/1.1 and HTTP/2, graceful drain.
//!
//! The caller binds the listener and hands over the shutdown signal, so tests bind
//! `127.0.0.1:0` and run many gateways in one process.

mod adapters;
mod admin;
mod ops;
mod problem;
mod protect;
pub mod reload;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use ops::run_ops;
pub use problem::Problem;
pub use protect::Protection;
pub use reload::Reloader;
pub use routes::table::{Access, Handler, NoRoute, ROUTES, Route, resolve};
pub use routes::{OPENAPI, inspect};

use crate::fanout::Fanout;

/// Shared by every connection.
#[derive(Debug)]
pub struct State {
    /// The fan-out engine.
    pub fanout: Fanout,
    /// Quotas, in-flight cap, account cache.
    pub protection: Protection,
    /// The tamper-evident record of every access.
    pub audit: crate::audit::AuditLog,
    /// Purposes and who may state them.
    pub privacy: crate::config::PrivacyConfig,
    /// The reloadable TLS material (`None`: fixed material, no admin reload).
    pub reloader: Option<Reloader>,
    /// The adapters folder, when this gateway administers it (`serve`); `None` leaves
    /// `/v1/adapters` read-only (demo, tests on a shared folder).
    pub adapters: Option<Arc<crate::adapter::Store>>,
}

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` resolves, then stops accepting and gives connections in
/// flight `grace` to finish. Handshake failures are logged and never reach HTTP.
pub async fn run(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<State>,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let (_keep, tls) = tokio::sync::watch::channel(tls);
    run_watched(listener, tls, state, grace, shutdown).await;
}

/// Like [`run`], with TLS material that may change: each new connection is handshaken
/// with the config current at its accept; connections in flight keep theirs.
pub async fn run_watched(
    listener: TcpListener,
    tls: tokio::sync::watch::Receiver<Arc<rustls::ServerConfig>>,
    state: Arc<State>,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((tcp, addr)) => {
                        let _ = tcp.set_nodelay(true);
                        let acceptor = TlsAcceptor::from(Arc::clone(&tls.borrow()));
                        serve_connection(tcp, addr, acceptor, &builder, &graceful, &state);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "shutting down: draining connections"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over: closing remaining connections");
    }
}

fn serve_connection(
    tcp: tokio::net::TcpStream,
    addr: SocketAddr,
    acceptor: TlsAcceptor,
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    state: &Arc<State>,
) {
    let builder = builder.clone();
    let state = Arc::clone(state);
    let watcher = graceful.watcher();
    tokio::spawn(async move {
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::info!(peer = %addr, error = %e, "TLS handshake refused");
                return;
            }
            Err(_) => {
                tracing::info!(peer = %addr, "TLS handshake timed out");
                return;
            }
        };
        let identity = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(crate::tls::peer_identity)
            .map(Arc::new);
        let service = service_fn(move |req| {
            let state = Arc::clone(&state);
            let identity = identity.clone();
            async move { Ok::<_, std::convert::Infallible>(routes::route(req, identity, state).await) }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
        if let Err(e) = watcher.watch(conn.into_owned()).await {
            tracing::debug!(peer = %addr, error = %e, "connection ended with an error");
        }
    });
}
