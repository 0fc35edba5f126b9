//! The ingress: accept loop, mutual TLS, HTTP/1.1 and HTTP/2, connection limits,
//! graceful drain. Assembled and started by [`crate::gateway`].
//!
//! The caller binds the listener and hands over the shutdown signal, so tests bind
//! `127.0.0.1:0` and run many gateways in one process.

mod adapters;
mod admin;
mod cluster;
pub mod conn;
pub mod end_user;
mod listen;
mod ops;
mod problem;
mod protect;
pub mod ready;
pub mod reload;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

pub use conn::Connections;
pub use end_user::{EndUser, Presented, require_end_user};
pub use problem::Problem;
pub use protect::Protection;
pub use ready::Readiness;
pub use reload::Reloader;
pub use routes::table::{Access, Handler, NoRoute, ROUTES, Route, resolve};
pub use routes::{OPENAPI, inspect};

use crate::config::ConnectionLimits;
use crate::fanout::Fanout;
use listen::{Activity, Shared};

/// Shared by every connection.
#[derive(Debug)]
pub struct State {
    /// The fan-out engine.
    pub fanout: Fanout,
    /// Quotas, in-flight cap, account cache.
    pub protection: Protection,
    /// The tamper-evident record of every access.
    pub audit: crate::audit::AuditLog,
    /// Purposes, who may state them, and what each requires.
    pub privacy: crate::config::PrivacyConfig,
    /// Verifies end users' tokens (`server::require_end_user`).
    pub identity: crate::identity::Verifier,
    /// The reloadable TLS material and the ingress's live connections.
    pub reloader: Reloader,
    /// The adapters folder this gateway administers (`/v1/adapters` writes go there).
    pub adapters: Arc<crate::adapter::Store>,
    /// The seal that signs receipts (`[seal]`); `None`: receipts are off, and a route that
    /// needs one answers with [`crate::receipt::ReceiptError::Disabled`]'s problem.
    pub sealer: Option<Arc<crate::receipt::Sealer>>,
    /// Submissions, their receipts and the delivery outbox (`[store]`: SQLite by
    /// default, PostgreSQL for replicas). Migrated by `Gateway::serve` before it accepts.
    pub db: Arc<crate::store::Store>,
    /// The rules that choose a claim's competent fund, loaded at start
    /// ([`crate::routing::RoutingRules::for_config`]).
    pub routing_rules: Arc<crate::routing::RoutingRules>,
    /// How the outbox is delivered (`[delivery]`).
    pub delivery: crate::config::DeliveryConfig,
    /// The operator's console on the operations listener (`[console]`); `None`: off.
    pub console: Option<Arc<crate::console::Console>>,
    /// This replica's membership of the cluster on a PostgreSQL store (notices to the
    /// other replicas); `None` with SQLite or a gateway made by `Gateway::build`.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Trace export (`[telemetry]`; off by default): a span per account query.
    pub telemetry: crate::telemetry::Telemetry,
    /// Message keys and retention (`[messages]`); `None`: the message routes answer `503`.
    pub messages: Option<Arc<Messages>>,
}

/// What the message routes need beyond the store: the keys and the section.
#[derive(Debug)]
pub struct Messages {
    /// Encrypts and decrypts content at rest.
    pub keyring: crate::message::Keyring,
    /// Retention periods and page sizes.
    pub config: crate::config::MessagesConfig,
}

impl State {
    /// The seal, or [`crate::receipt::ReceiptError::Disabled`] (a `503` problem) when the
    /// configuration has no `[seal]`: what a route that issues receipts calls first.
    pub fn seal(&self) -> Result<&Arc<crate::receipt::Sealer>, crate::receipt::ReceiptError> {
        self.sealer
            .as_ref()
            .ok_or(crate::receipt::ReceiptError::Disabled)
    }
}

/// How the portal and operations listeners are run.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    /// Limits of each connection and listener.
    pub limits: ConnectionLimits,
    /// Time given to connections in flight at shutdown.
    pub grace: std::time::Duration,
}

/// Serves portals over mutual TLS until `shutdown` resolves, then stops accepting and
/// drains. Each new connection is handshaken with the TLS config current at its accept.
/// Handshake failures are logged and never reach HTTP.
pub(crate) async fn serve_portals(
    listener: TcpListener,
    state: Arc<State>,
    serving: Serving,
    shutdown: impl Future<Output = ()>,
) {
    let (shared, draining) = Shared::new(Arc::clone(state.reloader.connections()), serving);
    let tls = state.reloader.subscribe();
    let builder = listen::http_builder(&serving.limits);
    listen::accept_loop(listener, &shared, draining, shutdown, |tcp, addr, slot| {
        let config = Arc::clone(&tls.borrow());
        let job = Connection {
            acceptor: TlsAcceptor::from(Arc::clone(&config)),
            config,
            builder: builder.clone(),
            state: Arc::clone(&state),
            shared: shared.clone(),
        };
        tokio::spawn(job.run(tcp, addr, slot));
    })
    .await;
}

/// One portal connection, before its handshake.
struct Connection {
    acceptor: TlsAcceptor,
    /// The config the handshake uses: if a reload replaced it meanwhile, the client is
    /// checked again against the new material.
    config: Arc<rustls::ServerConfig>,
    builder: auto::Builder<TokioExecutor>,
    state: Arc<State>,
    shared: Shared,
}

impl Connection {
    async fn run(self, tcp: TcpStream, addr: SocketAddr, slot: conn::Slot) {
        let _ = tcp.set_nodelay(true);
        let listener = self.shared.conns.listener();
        let handshake = tokio::time::timeout(
            self.shared.limits.handshake_timeout,
            self.acceptor.accept(tcp),
        );
        let tls = tokio::select! {
            done = handshake => match done {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(peer = %addr, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    listen::count(listener, "handshake-timeout");
                    tracing::info!(peer = %addr, "TLS handshake timed out");
                    return;
                }
            },
            () = slot.closed() => return,
        };
        let chain = tls.get_ref().1.peer_certificates().unwrap_or_default();
        slot.set_peer(chain);
        if self.reloaded_against(chain) {
            listen::count(listener, "revoked");
            tracing::info!(peer = %addr, "client no longer accepted by the reloaded material");
            return;
        }
        let identity = chain
            .first()
            .and_then(crate::tls::peer_identity)
            .map(Arc::new);
        let expiry = chain.first().and_then(expires_at);
        // RFC 8705: end-user tokens must be bound to this very certificate.
        let thumbprint = chain
            .first()
            .map(|c| crate::identity::CertThumbprint::of(c.as_ref()));
        let activity = Activity::new();
        let (state, busy) = (self.state, Arc::clone(&activity));
        let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let (state, identity, busy) = (Arc::clone(&state), identity.clone(), busy.begin());
            if let Some(t) = &thumbprint {
                req.extensions_mut().insert(t.clone());
            }
            async move {
                let response = routes::route(req, identity, state).await;
                drop(busy);
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let conn = self.builder.serve_connection(TokioIo::new(tls), service);
        listen::drive(conn, &slot, &activity, &self.shared, expiry).await;
    }

    /// Whether a reload since this connection's accept refuses its client (the reload's
    /// sweep may have run before the chain was registered).
    fn reloaded_against(&self, chain: &[rustls_pki_types::CertificateDer<'_>]) -> bool {
        let current = self.state.reloader.subscribe();
        if Arc::ptr_eq(&current.borrow(), &self.config) {
            return false;
        }
        let Some((leaf, rest)) = chain.split_first() else {
            return false;
        };
        let now = rustls_pki_types::UnixTime::now();
        self.state
            .reloader
            .verifier()
            .verify_client_cert(leaf, rest, now)
            .is_err()
    }
}

/// When a (verified) certificate stops being valid, as a timer instant; `None` if it
/// cannot be read or lies beyond what a timer can hold.
fn expires_at(cert: &rustls_pki_types::CertificateDer<'_>) -> Option<tokio::time::Instant> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let not_after = parsed.validity().not_after.timestamp();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let left = u64::try_from(not_after.saturating_sub(now)).unwrap_or(0);
    tokio::time::Instant::now().checked_add(std::time::Duration::from_secs(left))
}

pub(crate) use adapters::{Change, change as change_adapter, row as adapter_row};
pub(crate) use ops::serve_ops;
