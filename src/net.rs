//! Binding listening sockets. Every listener the project opens (gateway, operations,
//! simulated offices) is bound here, with `SO_REUSEADDR`: a port whose last client
//! sockets still sit in `TIME_WAIT` (after a load run) can be bound again at once.
//!
//! Invariant: no `TcpListener::bind` elsewhere in `src/`.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, ToSocketAddrs};

/// Pending connections the kernel queues before `accept`.
const BACKLOG: u32 = 1024;

/// Binds `addr` (an address, or `host:port` resolved first) with `SO_REUSEADDR` and listens.
/// With several resolved addresses, the first that binds wins; the last error is returned.
pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        match bind_one(a) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")))
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
