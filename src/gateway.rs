//! The composition root: the one place the gateway is assembled from its configuration
//! and run. `guichet serve`, `guichet demo`, `guichet bench` (through `serve`) and every
//! test harness call [`Gateway::build`] and [`Gateway::serve`]; nothing else wires a
//! `State`, a reloader or a listener by hand.
//!
//! Build order: mappings → adapter store (the administered folder) → TLS material
//! (reloader, with the registry of live connections) → fan-out (per-office clients) → seal
//! (receipts, if configured) → audit log → state; then the watchers (adapters folder, TLS
//! and seal files) that live as long as the state.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::adapter::watch::Watcher;
use crate::adapter::{AdapterError, Publish, Store};
use crate::cluster::{Cluster, ReplicaId};
use crate::config::Config;
use crate::mapping::{MappingError, MappingSet};
use crate::server::{Connections, Reloader, Serving, State};
use crate::tls;

mod settings;
pub use settings::{fanout_settings, routing_settings};

/// Why the gateway could not be built; each names the file or the part.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A mapping file.
    #[error(transparent)]
    Mappings(#[from] MappingError),
    /// The adapters folder.
    #[error(transparent)]
    Adapters(#[from] AdapterError),
    /// TLS material of the ingress or of the office client.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The routing rules of claims (`routing/apg.toml` beside the configuration).
    #[error(transparent)]
    RoutingRules(#[from] crate::routing::LoadError),
    /// The store of submissions and the outbox (`[store]`).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The audit log (its folder or its HMAC secret).
    #[error("audit log: {0:#}")]
    Audit(anyhow::Error),
    /// An identity provider's JWKS file (`[[identity.issuers]]`).
    #[error("end-user tokens: {0}")]
    Identity(#[from] crate::identity::JwksError),
    /// `[routing]` names a register dialect that is not among the mappings.
    #[error("{file}: routing.dialect: {problem}")]
    Routing {
        /// The configuration file.
        file: std::path::PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The seal's files (`[seal]`).
    #[error(transparent)]
    Seal(#[from] crate::receipt::ReceiptError),
    /// The console's key file (`[console]`).
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    /// The trace exporter (`[telemetry]`).
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    /// A message key file (`[messages] keys`).
    #[error(transparent)]
    Messages(#[from] crate::message::MessageError),
}

/// An assembled gateway, ready to serve.
#[derive(Debug)]
pub struct Gateway {
    state: Arc<State>,
    store: Arc<Store>,
    serving: Serving,
    /// How long the delivery worker holds an outbox row (`[store] lease_ms`).
    lease: std::time::Duration,
    /// Turned off at shutdown: `/readyz` answers `503` while the listeners drain.
    readiness: Arc<crate::server::Readiness>,
    /// Polls the adapters folder (not with a registry shared in PostgreSQL); stops when
    /// the gateway is dropped.
    _watcher: Option<Watcher>,
}

impl Gateway {
    /// Builds the gateway of `config`: it administers `offices.adapters` (API writes and
    /// hand edits both reach the live registry) and polls its TLS files every
    /// `server.watch_interval_ms`. Must run inside a Tokio runtime.
    pub fn build(config: &Config) -> Result<Gateway, BuildError> {
        let db = Arc::new(crate::store::Store::open_lazy(&config.store)?);
        let mappings = MappingSet::load_dir(&config.offices.mappings)?;
        let store = Store::open_with_policy(
            &config.offices.adapters,
            mappings.clone(),
            config.offices.endpoint_policy.clone(),
        )?;
        Gateway::assemble(config, db, None, mappings, store)
    }

    /// Builds the gateway as `guichet serve` runs it: like [`Gateway::build`], and with a
    /// PostgreSQL store it migrates the store first, joins the replicas' cluster
    /// (`crate::cluster`: notices, heartbeats, re-reads, started by [`Gateway::serve`]) and
    /// keeps the adapter registry in PostgreSQL (seeded from the adapters folder when
    /// empty, see [`Store::open_shared`]).
    pub async fn open(config: &Config) -> Result<Gateway, BuildError> {
        if config.store.location.backend() != "postgres" {
            return Gateway::build(config);
        }
        let db = Arc::new(crate::store::Store::open(&config.store).await?);
        let replica = ReplicaId::current(config.server.replica_id.as_deref());
        let cluster = Cluster::join(Arc::clone(&db), replica).await?;
        if let Some(c) = &cluster {
            tracing::info!(replica = %c.replica(), store = db.location(), "replica of a shared PostgreSQL store");
        }
        let mappings = MappingSet::load_dir(&config.offices.mappings)?;
        let store = Store::open_shared(
            &config.offices.adapters,
            mappings.clone(),
            config.offices.endpoint_policy.clone(),
            Arc::clone(&db),
            Some(crate::cluster::adapters_notice(db.schema())),
        )
        .await?;
        Gateway::assemble(config, db, cluster.map(Arc::new), mappings, store)
    }

    /// The one assembly of the parts around the store `db` and the cluster, if any.
    fn assemble(
        config: &Config,
        db: Arc<crate::store::Store>,
        cluster: Option<Arc<Cluster>>,
        mappings: MappingSet,
        store: Store,
    ) -> Result<Gateway, BuildError> {
        let routing = routing_settings(config, &mappings)?;
        let store = Arc::new(store);
        let limits = config.server.limits;
        let connections = Connections::new("gateway", limits.max_connections);
        let (reloader, client_tls) =
            Reloader::load(server_paths(config), client_paths(config), connections)?;
        let mut fanout =
            crate::fanout::Fanout::new(client_tls, store.registry(), fanout_settings(config));
        if let Some(routing) = routing {
            fanout = fanout.with_routing(routing);
        }
        let sealer = match &config.seal {
            Some(seal) => Some(Arc::new(crate::receipt::Sealer::load(seal.paths())?)),
            None => None,
        };
        let routing_rules = Arc::new(crate::routing::RoutingRules::for_config(&config.file)?);
        let console = match &config.console {
            Some(c) => Some(Arc::new(crate::console::Console::load(c)?)),
            None => None,
        };
        let telemetry = match &config.telemetry.otlp {
            Some(otlp) => crate::telemetry::Telemetry::start(
                otlp,
                ReplicaId::current(config.server.replica_id.as_deref()).as_str(),
            )?,
            None => crate::telemetry::Telemetry::off(),
        };
        let messages = match &config.messages {
            Some(m) => Some(Arc::new(crate::server::Messages {
                keyring: crate::message::Keyring::load(&m.active_key, &m.keys)?,
                config: m.clone(),
            })),
            None => None,
        };
        let state = Arc::new(State {
            messages,
            telemetry,
            db,
            routing_rules,
            delivery: config.delivery,
            fanout,
            reloader,
            protection: crate::server::Protection::new(&config.protection),
            audit: open_audit(config).map_err(BuildError::Audit)?,
            privacy: config.privacy.clone(),
            identity: crate::identity::Verifier::new(&config.identity)?,
            adapters: Arc::clone(&store),
            sealer,
            console,
            cluster,
        });
        let every = config.server.watch_interval;
        // A registry shared in PostgreSQL changes by the API and notices, not the folder.
        let watcher = (!store.is_shared()).then(|| {
            crate::adapter::watch::spawn(
                Arc::clone(&store),
                Arc::clone(&state) as Arc<dyn Publish>,
                every,
            )
        });
        crate::server::reload::spawn_watch(&state, every);
        Ok(Gateway {
            state,
            store,
            serving: Serving {
                limits,
                grace: config.server.grace_period,
            },
            lease: config.store.lease,
            readiness: Arc::new(crate::server::Readiness::new()),
            _watcher: watcher,
        })
    }

    /// The shared state (fan-out, protection, audit, TLS material).
    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// The administered adapters folder.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// This replica's readiness switch (`/readyz`), turned off when `serve`'s shutdown
    /// signal resolves.
    pub fn readiness(&self) -> &Arc<crate::server::Readiness> {
        &self.readiness
    }

    /// Reloads the TLS material on SIGHUP for as long as the gateway lives (unix only).
    pub fn reload_on_sighup(&self) {
        crate::server::reload::spawn_sighup(&self.state);
    }

    /// Serves portals on `listener` and, if given, `/metrics`, `/healthz` and `/readyz` on
    /// `ops_listener` until `shutdown` resolves. Then, in this order: `/readyz` turns `503`
    /// at once; the portal listener stops accepting and its queries in flight finish within
    /// the grace period; the delivery worker stops claiming rows, finishes the deliveries
    /// in flight and hands back its outbox leases; last, the operations listener drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        ops_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let delivery = self.state.delivery.enabled.then(|| {
            let worker = crate::delivery::Worker::new(
                Arc::clone(&self.state),
                format!("guichet-{}", uuid::Uuid::new_v4()),
                self.lease,
            );
            tokio::spawn(worker.run(stopped.clone()))
        });
        let retention = self.state.messages.as_ref().map(|_| {
            tokio::spawn(crate::message::retention::run(
                Arc::clone(&self.state.db),
                stopped.clone(),
            ))
        });
        let cluster = self
            .state
            .cluster
            .as_ref()
            .map(|c| c.spawn(Arc::clone(&self.state), stopped.clone()));
        let (stop_ops, ops_stopped) = tokio::sync::oneshot::channel::<()>();
        let ops = ops_listener.map(|l| {
            tokio::spawn(crate::server::serve_ops(
                l,
                Arc::clone(&self.state),
                Arc::clone(&self.readiness),
                self.serving,
                async move {
                    let _ = ops_stopped.await;
                },
            ))
        });
        let readiness = Arc::clone(&self.readiness);
        crate::server::serve_portals(listener, Arc::clone(&self.state), self.serving, async {
            shutdown.await;
            readiness.start_draining();
            tracing::info!("shutting down: /readyz answers 503");
            let _ = stop.send(true);
        })
        .await;
        if let Some(retention) = retention {
            let _ = retention.await;
        }
        // The worker finishes the deliveries in flight and hands back its leases.
        if let Some(delivery) = delivery {
            let _ = delivery.await;
        }
        // Heartbeat removed: the others count one replica fewer at once.
        if let Some(cluster) = cluster {
            let _ = cluster.await;
        }
        let _ = stop_ops.send(());
        if let Some(ops) = ops {
            let _ = ops.await;
        }
        // Drained: sign the audit log's head, so the newest records of the run are covered
        // by a checkpoint too (see `audit::checkpoint`).
        match self.state.audit.checkpoint() {
            Ok(Some(c)) => tracing::info!(seq = c.seq, file = %c.file, "audit checkpoint signed"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "audit checkpoint at shutdown not written"),
        }
        // The last batch of spans (queries of the drain included).
        self.state.telemetry.shutdown().await;
    }
}

/// The ingress's TLS files.
pub fn server_paths(config: &Config) -> tls::ServerPaths {
    let s = &config.server;
    tls::ServerPaths {
        cert: s.cert.clone(),
        key: s.key.clone(),
        client_ca: s.client_ca.clone(),
        crl: s.crl.clone(),
    }
}

/// The gateway's client-side TLS files (towards offices).
pub fn client_paths(config: &Config) -> tls::ClientPaths {
    let o = &config.offices;
    tls::ClientPaths {
        ca: o.ca.clone(),
        cert: o.client_cert.clone(),
        key: o.client_key.clone(),
        crl: o.crl.clone(),
    }
}

/// Opens the audit log named by the configuration: its HMAC secret and checkpoint key
/// must exist and be `0600`; running without fsync is warned about.
pub fn open_audit(config: &Config) -> anyhow::Result<crate::audit::AuditLog> {
    use crate::audit::keys;
    let a = &config.audit;
    let secret = keys::read_hmac_secret(&a.hmac_key_file)?;
    let signer = keys::read_signer(&a.checkpoint_key_file)?;
    if !a.fsync {
        tracing::warn!(
            dir = %a.dir.display(),
            "audit.unsafe_no_fsync is on: acknowledged audit records can be lost on a crash (benchmarks only)"
        );
    }
    let options = crate::audit::Options {
        max_file_bytes: a.max_file_bytes,
        fsync: a.fsync,
        checkpoint_every: a.checkpoint_every,
        signer: Some(std::sync::Arc::new(signer)),
        replica: config.server.replica_id.clone(),
        replica_dirs: a.replica_dirs.clone(),
    };
    Ok(crate::audit::AuditLog::open(&a.dir, &secret, options)?)
}
