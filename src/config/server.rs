//! `[server]`: the ingress's address, its TLS files, the shutdown grace period, the
//! connection limits and the reload poll. Raw values in, a typed [`ServerConfig`] out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::listen::{self, ConnectionLimits};
use super::raw::RawServer;
use super::{FieldError, Resolve};

/// Ingress settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server key (PEM).
    pub key: PathBuf,
    /// CA that client certificates must chain to.
    pub client_ca: PathBuf,
    /// CRLs checked for client certificates (reloaded when the file changes).
    pub crl: Option<PathBuf>,
    /// Time given to queries in flight at shutdown.
    pub grace_period: Duration,
    /// Limits of each connection and of each listener (also the operations listener's).
    pub limits: ConnectionLimits,
    /// How often the TLS files and the adapters folder are polled for changes.
    pub watch_interval: Duration,
    /// `replica_id`: this replica's name among several on one PostgreSQL store (1–63 of
    /// `A-Z a-z 0-9 . _ -`); `None`: `cluster::ReplicaId::current` makes one from the
    /// host name and the process id.
    pub replica_id: Option<String>,
}

impl RawServer {
    /// Validates `[server]`; `at` resolves paths against the configuration's folder.
    pub(super) fn validate(&self, at: &Resolve<'_>) -> Result<ServerConfig, FieldError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            FieldError::new(
                "server.listen",
                format!("{:?} is not an address like 127.0.0.1:8443", self.listen),
            )
        })?;
        let grace = FieldError::range("server.grace_period_ms", self.grace_period_ms, 0, 300_000)?;
        let (limits, watch_interval) = listen::server_limits(self)?;
        Ok(ServerConfig {
            listen,
            cert: at(&self.cert),
            key: at(&self.key),
            client_ca: at(&self.client_ca),
            crl: self.crl.as_deref().map(at),
            grace_period: Duration::from_millis(grace),
            limits,
            watch_interval,
            replica_id: match &self.replica_id {
                Some(id) => Some(check_replica_id(id)?),
                None => None,
            },
        })
    }
}

/// A replica id as configured: 1–63 characters of `A-Z a-z 0-9 . _ -` (it appears in
/// metrics, logs and the database, so nothing else is allowed).
fn check_replica_id(id: &str) -> Result<String, FieldError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > 63 || !id.chars().all(allowed) {
        return Err(FieldError::new(
            "server.replica_id",
            format!("{id:?}: 1 to 63 characters of A-Z a-z 0-9 . _ -"),
        ));
    }
    Ok(id.to_owned())
}
