//! Replicas of one PostgreSQL store in one test process: each a gateway opened as
//! `guichet serve` opens it (`Gateway::open`: migrate, join the cluster, the shared
//! adapter registry) on the federation's configuration turned into replica `n`'s
//! (`support/replica.rs`), served on 127.0.0.1 port 0. A test root that uses it declares
//! `common`, `replica` (`support/replica.rs`) and this file as `in_process`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use guichet::adapter::{Publish, Registry, Store};
use guichet::gateway::Gateway;
use guichet::server::State;
use guichet::store::scratch::{ScratchSchema, TEST_DATABASE_URL};

use crate::common::{Federation, PATIENT_MS};

pub struct Replica {
    /// `127.0.0.1:PORT` of its portal listener.
    pub addr: String,
    pub state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
}

/// Writes the configuration of replica `n` on the PostgreSQL store `schema`.
pub fn config(fed: &Federation, schema: &ScratchSchema, n: usize) -> PathBuf {
    let url = std::env::var(TEST_DATABASE_URL).expect("checked by the test");
    crate::replica::write_config(
        &fed.config.file,
        fed.dir.path(),
        n,
        (&url, schema.name()),
        "",
        "",
    )
}

impl Replica {
    /// Opens replica `n` on the federation's configuration with the PostgreSQL store.
    pub async fn open(fed: &Federation, schema: &ScratchSchema, n: usize) -> Replica {
        let path = config(fed, schema, n);
        let config = guichet::config::Config::load(&path).expect("replica config loads");
        let gateway = Gateway::open(&config).await.expect("replica opens");
        let state = Arc::clone(gateway.state());
        assert!(
            state.cluster.is_some(),
            "a PostgreSQL store joins the cluster"
        );
        let listener = guichet::net::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(gateway.serve(listener, None, async {
            let _ = stopped.await;
        }));
        Replica {
            addr,
            state,
            stop: Some(stop),
            served,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.served.await.expect("replica task");
    }
}

/// Waits (bounded by `PATIENT_MS`) until `done` holds.
pub async fn until(what: &str, done: impl FnMut() -> bool) {
    within(what, Duration::from_millis(PATIENT_MS), done).await;
}

/// Waits until `done` holds, at most `bound`; panics naming `what` otherwise.
pub async fn within(what: &str, bound: Duration, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    loop {
        if done() {
            return;
        }
        if start.elapsed() > bound {
            panic!("not within {} ms: {what}", bound.as_millis());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh schema of the test database; fails loudly without `GUICHET_TEST_DATABASE_URL`
/// or its server.
pub async fn scratch_schema() -> ScratchSchema {
    let Ok(url) = std::env::var(TEST_DATABASE_URL) else {
        panic!("{TEST_DATABASE_URL} is not set: the PostgreSQL tests cannot run (see .ci/run)");
    };
    ScratchSchema::create()
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"))
}

/// A registry snapshot's target that drops it (a store used without a gateway).
pub struct Nowhere;

impl Publish for Nowhere {
    fn publish(&self, _registry: Registry) {}
}

/// Runs a blocking registry change of `store` (as the API does, off the runtime's threads).
pub async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    change: impl FnOnce(&Store) -> T + Send + 'static,
) -> T {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || change(&store))
        .await
        .expect("change task")
}
