//! One pooled HTTP client per office, each verifying THAT office's certificate in the
//! handshake ([`crate::tls::OfficeTls::for_office`]). Offices can share a host, so a
//! shared client could not tell them apart; per-office clients also keep one office's
//! pooled connections from ever serving another. Clients are built on first use, kept
//! while the office's pin stays the same, and all replaced when the client identity is.
//!
//! Invariant: no client follows redirects, uses a proxy or skips the office verifier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::adapter::{Adapter, Registry};
use crate::locks::{lock, read, write};
use crate::model::{Identity, OfficeId};
use crate::tls::OfficeTls;

/// A client with its key: built for this pin.
type Entry = (Option<[u8; 32]>, reqwest::Client);

/// The clients of one client identity.
#[derive(Debug)]
struct ClientSet {
    tls: OfficeTls,
    by_office: Mutex<HashMap<OfficeId, Entry>>,
    /// Clients of peers that are not offices (the account register), by identity URI.
    by_peer: Mutex<HashMap<String, reqwest::Client>>,
}

/// Per-office clients, replaced whole when the identity changes.
#[derive(Debug)]
pub(crate) struct OfficeClients(RwLock<Arc<ClientSet>>);

impl OfficeClients {
    pub(crate) fn new(tls: OfficeTls) -> OfficeClients {
        OfficeClients(RwLock::new(Arc::new(ClientSet {
            tls,
            by_office: Mutex::default(),
            by_peer: Mutex::default(),
        })))
    }

    /// A rotated identity or new trust: every office gets a new client (new handshakes);
    /// calls in flight finish on the client they hold.
    pub(crate) fn set_tls(&self, tls: OfficeTls) {
        let set = Arc::new(ClientSet {
            tls,
            by_office: Mutex::default(),
            by_peer: Mutex::default(),
        });
        *write(&self.0) = set;
    }

    fn current(&self) -> Arc<ClientSet> {
        Arc::clone(&read(&self.0))
    }

    /// The pooled client for `adapter`'s office (built on first use).
    pub(crate) fn get(&self, adapter: &Adapter) -> Result<reqwest::Client, reqwest::Error> {
        let set = self.current();
        let mut map = lock(&set.by_office);
        if let Some((pin, client)) = map.get(&adapter.office)
            && *pin == adapter.server_cert_sha256
        {
            return Ok(client.clone());
        }
        let client = build(&set.tls, adapter)?;
        map.insert(adapter.office, (adapter.server_cert_sha256, client.clone()));
        Ok(client)
    }

    /// The pooled client for a peer that is not an office (the account register): its
    /// handshake accepts only a federation certificate naming `identity`.
    pub(crate) fn peer(&self, identity: &Identity) -> Result<reqwest::Client, reqwest::Error> {
        let set = self.current();
        let uri = identity.uri();
        let mut map = lock(&set.by_peer);
        if let Some(client) = map.get(&uri) {
            return Ok(client.clone());
        }
        let config = set.tls.for_peer(identity.clone(), None);
        let client = super::client_builder(config).build()?;
        map.insert(uri, client.clone());
        Ok(client)
    }

    /// A client of its own for a conformance probe: nothing pooled is reused.
    pub(crate) fn fresh(&self, adapter: &Adapter) -> Result<reqwest::Client, reqwest::Error> {
        build(&self.current().tls, adapter)
    }

    /// Drops the clients (and pooled connections) of offices no longer in `registry` or
    /// whose pin changed.
    pub(crate) fn retain(&self, registry: &Registry) {
        let set = self.current();
        lock(&set.by_office).retain(|office, (pin, _)| {
            registry
                .get(*office)
                .is_some_and(|a| a.server_cert_sha256 == *pin)
        });
    }
}

fn build(tls: &OfficeTls, adapter: &Adapter) -> Result<reqwest::Client, reqwest::Error> {
    let config = tls.for_office(adapter.office, adapter.server_cert_sha256);
    super::client_builder(config).build()
}
