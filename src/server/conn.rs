//! Live connections of one listener: the cap, a close signal per connection, and the
//! check of established clients against freshly loaded TLS material.
//!
//! A reload that revokes a client certificate (new CRL), lets it expire or stops trusting
//! its CA ends that client's connections at once, not at their next handshake. The
//! registry keeps each connection's verified peer chain (a few KiB) and a [`Notify`]; it
//! never holds the connection itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::sync::Notify;

/// The connections of one listener.
#[derive(Debug)]
pub struct Connections {
    /// `gateway` or `ops`: the metric label.
    listener: &'static str,
    /// Most connections at once.
    cap: usize,
    next: AtomicU64,
    live: Mutex<HashMap<u64, Live>>,
    /// Signalled when the last connection goes.
    emptied: Notify,
}

#[derive(Debug)]
struct Live {
    /// The client's chain as verified at its handshake (end entity first).
    peer: Option<Arc<[CertificateDer<'static>]>>,
    close: Arc<Notify>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    owner: Arc<Connections>,
    close: Arc<Notify>,
}

impl Connections {
    /// An empty registry for `listener` holding at most `cap` connections.
    pub fn new(listener: &'static str, cap: usize) -> Arc<Connections> {
        Arc::new(Connections {
            listener,
            cap,
            next: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
            emptied: Notify::new(),
        })
    }

    /// The metric label of the listener.
    pub fn listener(&self) -> &'static str {
        self.listener
    }

    /// A place for a new connection, or `None` at the cap.
    pub fn admit(self: &Arc<Self>) -> Option<Slot> {
        let mut live = self.lock();
        if live.len() >= self.cap {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let close = Arc::new(Notify::new());
        live.insert(
            id,
            Live {
                peer: None,
                close: Arc::clone(&close),
            },
        );
        Some(Slot {
            id,
            owner: Arc::clone(self),
            close,
        })
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tells every connection to close now (end of the grace period).
    pub fn close_all(&self) {
        for l in self.lock().values() {
            l.close.notify_one();
        }
    }

    /// Closes every connection whose client chain `verifier` no longer accepts (revoked,
    /// expired, untrusted CA); returns how many.
    pub fn close_rejected(&self, verifier: &dyn ClientCertVerifier) -> usize {
        let now = UnixTime::now();
        let mut closed = 0;
        for l in self.lock().values() {
            let Some((leaf, rest)) = l.peer.as_deref().and_then(<[_]>::split_first) else {
                continue;
            };
            if verifier.verify_client_cert(leaf, rest, now).is_err() {
                l.close.notify_one();
                closed += 1;
            }
        }
        closed
    }

    /// Resolves once no connection is open.
    pub async fn drained(&self) {
        loop {
            let emptied = self.emptied.notified();
            tokio::pin!(emptied);
            emptied.as_mut().enable();
            if self.is_empty() {
                return;
            }
            emptied.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Live>> {
        crate::locks::lock(&self.live)
    }
}

impl Slot {
    /// Records the verified client chain, so that reloads can check it again.
    pub fn set_peer(&self, chain: &[CertificateDer<'_>]) {
        let chain: Arc<[CertificateDer<'static>]> =
            chain.iter().map(|c| c.clone().into_owned()).collect();
        if let Some(l) = self.owner.lock().get_mut(&self.id) {
            l.peer = Some(chain);
        }
    }

    /// Resolves when the connection must close now (revoked, end of grace period).
    pub async fn closed(&self) {
        self.close.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut live = self.owner.lock();
        live.remove(&self.id);
        if live.is_empty() {
            self.owner.emptied.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Connections;

    #[test]
    fn the_cap_holds_and_dropping_frees_a_place() {
        let c = Connections::new("test", 2);
        let a = c.admit().expect("first");
        let _b = c.admit().expect("second");
        assert!(c.admit().is_none(), "third is over the cap");
        drop(a);
        assert!(c.admit().is_some(), "a place was freed");
    }
}
