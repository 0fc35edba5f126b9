//! The `[server]` connection limits and the `[admin]` listener: raw values become typed,
//! range-checked ones here. Errors name the field; the caller adds the file.

use std::net::SocketAddr;
use std::time::Duration;

use super::FieldError;
use super::raw::{RawAdmin, RawServer};

/// Limits of the ingress's connections, applied to every listener the gateway serves
/// (the portal listener and the operations listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A connection with no request in flight for this long is closed
    /// (HTTP/2: GOAWAY first).
    pub idle_timeout: Duration,
    /// A connection older than this is closed after its requests in flight
    /// (HTTP/1.1: after the current response; HTTP/2: GOAWAY, then close).
    pub max_age: Duration,
    /// Largest request head (request line and headers); beyond it `431`.
    pub max_header_bytes: usize,
    /// Connections per listener; beyond it a new connection is accepted and closed at once.
    pub max_connections: usize,
    /// Time a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            idle_timeout: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            max_header_bytes: 16 * 1024,
            max_connections: 2048,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// One numeric field: its default, its allowed range, its name.
fn field(
    value: Option<u64>,
    default: u64,
    range: (u64, u64),
    name: &str,
) -> Result<u64, FieldError> {
    FieldError::range(
        format!("server.{name}"),
        value.unwrap_or(default),
        range.0,
        range.1,
    )
}

/// The connection limits and the poll interval of `[server]`.
pub(super) fn server_limits(raw: &RawServer) -> Result<(ConnectionLimits, Duration), FieldError> {
    let d = ConnectionLimits::default();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let limits = ConnectionLimits {
        idle_timeout: Duration::from_millis(field(
            raw.idle_timeout_ms,
            ms(d.idle_timeout),
            (100, 3_600_000),
            "idle_timeout_ms",
        )?),
        max_age: Duration::from_millis(field(
            raw.max_connection_age_ms,
            ms(d.max_age),
            (1_000, 7 * 24 * 3_600_000),
            "max_connection_age_ms",
        )?),
        // hyper's HTTP/1.1 read buffer cannot be smaller than 8 KiB.
        max_header_bytes: usize::try_from(field(
            raw.max_header_bytes,
            d.max_header_bytes as u64,
            (8 * 1024, 1024 * 1024),
            "max_header_bytes",
        )?)
        .map_err(|_| FieldError::new("server.max_header_bytes", "too large"))?,
        max_connections: usize::try_from(field(
            raw.max_connections,
            d.max_connections as u64,
            (1, 1_000_000),
            "max_connections",
        )?)
        .map_err(|_| FieldError::new("server.max_connections", "too large"))?,
        handshake_timeout: Duration::from_millis(field(
            raw.handshake_timeout_ms,
            ms(d.handshake_timeout),
            (100, 60_000),
            "handshake_timeout_ms",
        )?),
    };
    let watch = Duration::from_millis(field(
        raw.watch_interval_ms,
        1_000,
        (100, 60_000),
        "watch_interval_ms",
    )?);
    Ok((limits, watch))
}

/// The operations listener's address: loopback only, unless `allow_remote = true`.
pub(super) fn admin_listen(raw: Option<&RawAdmin>) -> Result<Option<SocketAddr>, FieldError> {
    let Some(a) = raw else { return Ok(None) };
    let addr: SocketAddr = a.listen.parse().map_err(|_| {
        FieldError::new(
            "admin.listen",
            format!("{:?} is not an address like 127.0.0.1:9464", a.listen),
        )
    })?;
    if !addr.ip().is_loopback() && !a.allow_remote {
        return Err(FieldError::new(
            "admin.listen",
            format!(
                "{addr} is not a loopback address; the operations listener is plain \
                 HTTP — set admin.allow_remote = true to serve it on a management network"
            ),
        ));
    }
    Ok(Some(addr))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;

    fn shipped() -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml"))
            .expect("read")
    }

    #[test]
    fn a_remote_operations_listener_needs_allow_remote() {
        let p = Path::new("/etc/guichet.toml");
        let remote = shipped().replace("listen = \"127.0.0.1:9464\"", "listen = \"0.0.0.0:9464\"");
        let e = Config::parse(p, &remote).expect_err("non-loopback admin.listen");
        let text = e.to_string();
        assert!(text.contains("/etc/guichet.toml"), "{text}");
        assert!(
            text.contains("admin.listen") && text.contains("admin.allow_remote"),
            "{text}"
        );
        let allowed = remote.replace("[admin]", "[admin]\nallow_remote = true");
        let c = Config::parse(p, &allowed).expect("allowed");
        assert_eq!(c.admin_listen.map(|a| a.port()), Some(9464));
    }

    #[test]
    fn limits_have_defaults_and_ranges() {
        let p = Path::new("/etc/guichet.toml");
        let c = Config::parse(p, &shipped()).expect("shipped");
        assert_eq!(c.server.limits.max_header_bytes, 16 * 1024);
        let bad = shipped().replace("max_header_bytes = 16384", "max_header_bytes = 100");
        let e = Config::parse(p, &bad).expect_err("too small");
        assert!(e.to_string().contains("server.max_header_bytes"), "{e}");
        let bad = shipped().replace("max_connections = 2048", "max_connections = 0");
        let e = Config::parse(p, &bad).expect_err("zero");
        assert!(e.to_string().contains("server.max_connections"), "{e}");
    }
}
