//! Several `guichet serve` replicas on one PostgreSQL store: each replica's id, the
//! `LISTEN/NOTIFY` channel that carries what one replica changed to the others (adapter
//! registry, cache evictions), heartbeats giving the live replica count (portal quota
//! shares), and a periodic re-read of the shared state as a safety net for notifications
//! lost while a listener reconnects. With a SQLite store there is no cluster: one process,
//! as before ([`Cluster::join`] answers `None`).
//!
//! Must not: write SQL (the store does) or put a person in clear in a notification (an
//! eviction carries a keyed hash, [`Cluster::person_hash`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::model::Vn;
use crate::store::{Store, StoreError};

/// How often a replica says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A replica not heard of for this long is counted dead.
pub const EXPIRY: Duration = Duration::from_secs(5);
/// How often the shared state is re-read whatever the notifications said.
pub const RESYNC: Duration = Duration::from_secs(10);
/// The longest wait between two attempts to reconnect the listener.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// This replica's name: `[server] replica_id`, else `<host name>-<process id>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaId(String);

impl ReplicaId {
    /// The configured id, or one made from the host name and the process id.
    pub fn current(configured: Option<&str>) -> ReplicaId {
        if let Some(id) = configured {
            return ReplicaId(id.to_owned());
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| {
                h.trim()
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                    .take(48)
                    .collect::<String>()
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        ReplicaId(format!("{host}-{}", std::process::id()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one replica tells the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The adapter registry changed: re-read it.
    Adapters,
    /// A person's account changed: evict the person whose [`Cluster::person_hash`] this is.
    Evict(String),
}

impl Notice {
    /// The payload: `adapters` or `evict:<hex>`.
    fn encode(&self) -> String {
        match self {
            Notice::Adapters => "adapters".into(),
            Notice::Evict(hash) => format!("evict:{hash}"),
        }
    }

    /// A payload back; `None` for anything else (a newer replica's notice: ignored).
    fn decode(payload: &str) -> Option<Notice> {
        match payload.split_once(':') {
            None if payload == "adapters" => Some(Notice::Adapters),
            Some(("evict", hash))
                if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Some(Notice::Evict(hash.to_owned()))
            }
            _ => None,
        }
    }
}

/// What a replica does with what the cluster tells it.
pub trait Subscriber: Send + Sync + 'static {
    /// Another replica (or this one) sent `notice`.
    fn notified(&self, notice: Notice) -> impl Future<Output = ()> + Send;
    /// Notifications may have been missed (start, reconnect, the periodic safety net):
    /// re-read the shared state.
    fn resync(&self) -> impl Future<Output = ()> + Send;
    /// `live` replicas were alive at the last heartbeat (this one included).
    fn replicas(&self, live: usize);
}

/// This replica's membership of the cluster on one PostgreSQL store.
#[derive(Debug)]
pub struct Cluster {
    db: Arc<Store>,
    replica: ReplicaId,
    channel: String,
    evict_key: aws_lc_rs::hmac::Key,
}

impl Cluster {
    /// Joins the cluster of a PostgreSQL store (its shared eviction key is made by the
    /// first replica); `None` on SQLite. The store must be migrated.
    pub async fn join(db: Arc<Store>, replica: ReplicaId) -> Result<Option<Cluster>, StoreError> {
        if !db.is_postgres() {
            return Ok(None);
        }
        let key = db.cluster_key("evict").await?;
        let channel = channel_of(db.schema());
        Ok(Some(Cluster {
            db,
            replica,
            channel,
            evict_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key),
        }))
    }

    /// This replica's id.
    pub fn replica(&self) -> &ReplicaId {
        &self.replica
    }

    /// The keyed hash (hex) under which an eviction names a person between replicas: the
    /// same on every replica of the store, and not the AHV number.
    pub fn person_hash(&self, vn: Vn) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.evict_key, vn.digits().as_bytes());
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Tells every replica (this one too) about `notice`.
    pub async fn notify(&self, notice: &Notice) -> Result<(), StoreError> {
        self.db.notify(&self.channel, &notice.encode()).await
    }

    /// Listens, beats and re-reads until `stopped` turns true; then removes this
    /// replica's heartbeat.
    pub fn spawn<S: Subscriber>(
        self: &Arc<Self>,
        subscriber: Arc<S>,
        stopped: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let listen = this.listen(Arc::clone(&subscriber));
            let beat = this.beat(subscriber);
            let mut stop = stopped;
            tokio::select! {
                () = listen => {}
                () = beat => {}
                _ = stop.wait_for(|s| *s) => {}
            }
            if let Err(e) = this.db.leave(this.replica.as_str()).await {
                tracing::warn!(replica = %this.replica, error = %e, "heartbeat not removed; the others count this replica until it expires");
            }
        })
    }

    /// The listener: (re)connects with a growing backoff, re-reads after every
    /// (re)connect, hands each notice over.
    async fn listen<S: Subscriber>(&self, subscriber: Arc<S>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.connect().await {
                Ok(mut listener) => {
                    backoff = Duration::from_millis(100);
                    subscriber.resync().await;
                    self.receive(&mut listener, subscriber.as_ref()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_ms = backoff.as_millis() as u64, "cluster listener cannot connect")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn connect(&self) -> Result<PgListener, StoreError> {
        let pool = self.db.pg_pool("listen")?;
        let failed = |source| StoreError::Database {
            op: "listen",
            source,
        };
        let mut listener = PgListener::connect_with(pool).await.map_err(failed)?;
        listener.listen(&self.channel).await.map_err(failed)?;
        Ok(listener)
    }

    /// Hands notices over until the listener fails; a lost connection (reconnected by the
    /// listener) means notices may be lost: re-read.
    async fn receive<S: Subscriber>(&self, listener: &mut PgListener, subscriber: &S) {
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match Notice::decode(n.payload()) {
                    Some(notice) => subscriber.notified(notice).await,
                    None => tracing::debug!("cluster notice of an unknown kind ignored"),
                },
                Ok(None) => {
                    tracing::warn!("cluster listener lost its connection; reconnected, re-reading");
                    subscriber.resync().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster listener failed; reconnecting");
                    return;
                }
            }
        }
    }

    /// Heartbeats (the live count to the subscriber) and the periodic re-read.
    async fn beat<S: Subscriber>(&self, subscriber: Arc<S>) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let per_resync = (RESYNC.as_millis() / HEARTBEAT.as_millis()).max(1);
        let mut beats: u128 = 0;
        loop {
            tick.tick().await;
            match self.db.heartbeat(self.replica.as_str(), EXPIRY).await {
                Ok(live) => subscriber.replicas(live),
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
            beats += 1;
            if beats.is_multiple_of(per_resync) {
                subscriber.resync().await;
            }
        }
    }
}

/// The notice (channel, payload) that tells every replica of the store with `schema` to
/// re-read the adapter registry; the registry sends it in the transaction of a change.
pub fn adapters_notice(schema: Option<&str>) -> (String, String) {
    (channel_of(schema), Notice::Adapters.encode())
}

/// The notification channel of a store: per schema, since channels are per database and
/// several stores (tests, environments) may share one.
fn channel_of(schema: Option<&str>) -> String {
    match schema {
        Some(s) => format!("guichet_{}", &s[..s.len().min(50)]),
        None => "guichet".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_back_and_strangers_are_ignored() {
        let hash = "ab".repeat(32);
        for notice in [Notice::Adapters, Notice::Evict(hash.clone())] {
            assert_eq!(Notice::decode(&notice.encode()), Some(notice));
        }
        for other in [
            "",
            "evict:",
            "evict:zz",
            "adapters:x",
            "quota",
            &format!("evict:{hash}0"),
        ] {
            assert_eq!(Notice::decode(other), None, "{other}");
        }
    }

    #[test]
    fn replica_ids_are_configured_or_host_and_pid() {
        assert_eq!(ReplicaId::current(Some("gw-1")).as_str(), "gw-1");
        let made = ReplicaId::current(None);
        assert!(
            made.as_str().ends_with(&format!("-{}", std::process::id())),
            "{made}"
        );
        assert_eq!(channel_of(Some("t_1")), "guichet_t_1");
        assert_eq!(channel_of(None), "guichet");
    }
}
