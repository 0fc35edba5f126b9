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
        self.protection.share_quotas(live);
    }
}

impl State {
    /// Re-reads the adapter registry from the shared store and publishes it if it changed.
    async fn reread_adapters(&self) {
        let store = std::sync::Arc::clone(&self.adapters);
        store.reload(self).await;
    }

    /// Evicts the person whose cluster hash this is from this replica's caches (the
    /// account cache, and the register's answers).
    fn evict_hashed(&self, hash: &str) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        let (c1, h1) = (std::sync::Arc::clone(&cluster), hash.to_owned());
        self.protection
            .evict_where(move |vn| c1.person_hash(vn) == h1);
        let h2 = hash.to_owned();
        self.fanout
            .forget_register_where(move |vn| cluster.person_hash(vn) == h2);
    }
}
