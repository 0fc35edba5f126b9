//! Readiness (`GET /readyz` on the operations listener): whether this replica should be
//! given traffic now. Separate from liveness (`/healthz`, "the process answers"): a
//! replica that is draining, or whose store is unreachable, is alive but not ready, and a
//! load balancer or Kubernetes takes it out of rotation without restarting it.
//!
//! Checked on every request (a probe every few seconds): the TLS material is loaded and
//! not expired, the adapter registry is loaded, the store answers a cheap query within
//! [`STORE_TIMEOUT`], and its schema is at this build's latest migration. The answer names
//! each check that fails and why, never a person, a token or a secret.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::State;

/// How long the store has to answer each readiness query.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(1);

/// This replica's own readiness switch: turned off once at shutdown, never on again.
#[derive(Debug, Default)]
pub struct Readiness {
    draining: AtomicBool,
}

impl Readiness {
    /// A replica that is not draining.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Marks the replica as shutting down: `/readyz` answers `503` from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether the replica is shutting down.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}

/// The readiness document (`application/json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `true` when every check passed.
    pub ready: bool,
    /// The checks that failed, in the order they were made.
    pub not_ready: Vec<NotReady>,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotReady {
    /// `draining`, `tls`, `registry`, `store` or `migrations`.
    pub check: &'static str,
    /// Why, for the operator.
    pub reason: String,
}

/// Runs every check against `state`.
pub async fn check(state: &State, readiness: &Readiness) -> Report {
    let mut not_ready = Vec::new();
    let mut fail = |check: &'static str, reason: String| {
        not_ready.push(NotReady { check, reason });
    };
    if readiness.is_draining() {
        fail(
            "draining",
            "shutting down: finishing the queries in flight".into(),
        );
    }
    if let Some(reason) = tls_problem(state) {
        fail("tls", reason);
    }
    if state.adapters.registry().is_empty() {
        fail("registry", "no office adapter is loaded".into());
    }
    match store_problem(state).await {
        Some(StoreProblem::Unreachable(reason)) => fail("store", reason),
        Some(StoreProblem::Behind(reason)) => fail("migrations", reason),
        None => {}
    }
    Report {
        ready: not_ready.is_empty(),
        not_ready,
    }
}

/// What is wrong with the TLS material in use, if anything: the server and client
/// certificates must be loaded and still valid.
fn tls_problem(state: &State) -> Option<String> {
    let status = state.reloader.status();
    for (set, usage) in [(&status.server, "server"), (&status.client, "client")] {
        let own = set.certificates.iter().find(|c| c.usage == usage);
        match own {
            None => return Some(format!("no {usage} certificate is loaded")),
            Some(c) if c.days_left < 0 => {
                return Some(format!(
                    "the {usage} certificate (serial {}) expired at {}",
                    c.serial, c.not_after
                ));
            }
            Some(_) => {}
        }
    }
    None
}

enum StoreProblem {
    Unreachable(String),
    Behind(String),
}

/// Pings the store, then reads its schema version, each within [`STORE_TIMEOUT`].
async fn store_problem(state: &State) -> Option<StoreProblem> {
    let db = &state.db;
    let kind = if db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    let late = || {
        StoreProblem::Unreachable(format!(
            "{kind} store did not answer within {} ms",
            STORE_TIMEOUT.as_millis()
        ))
    };
    match tokio::time::timeout(STORE_TIMEOUT, db.ping()).await {
        Err(_) => return Some(late()),
        Ok(Err(e)) => return Some(StoreProblem::Unreachable(e.to_string())),
        Ok(Ok(())) => {}
    }
    let version = match tokio::time::timeout(STORE_TIMEOUT, db.schema_version()).await {
        Err(_) => return Some(late()),
        Ok(Err(e)) => return Some(StoreProblem::Unreachable(e.to_string())),
        Ok(Ok(v)) => v,
    };
    let latest = crate::store::latest_version();
    (version < Some(latest)).then(|| {
        let found = version.map_or_else(|| "none".to_owned(), |v| v.to_string());
        StoreProblem::Behind(format!(
            "schema version {found}, this build needs {latest}: run `guichet migrate`"
        ))
    })
}
