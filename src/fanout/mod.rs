//! The fan-out: one consolidated query becomes one request per planned office, all in
//! flight at once over a shared, pooled mTLS client; each call stops at its adapter's
//! timeout or the query's deadline, whichever comes first; the answer is merged from what
//! arrived. Partial results are the normal case: every office yields an outcome.

mod call;
mod guard;
mod plan;
mod translate;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

pub use call::CallError;
pub use guard::{BreakerSettings, BreakerState, LastCall, OfficeGuard};
pub use plan::plan;
pub use translate::{OFFLOAD_ANSWER_BYTES, OFFLOAD_MERGE_RECORDS};

use crate::adapter::{Adapter, Registry};
use crate::locks;
use crate::merge::{ConsolidatedAccount, YearRange};
use crate::model::{AnswerStatus, OfficeOutcome, SourceStatus, Vn};

/// The test person of conformance probes (serial 0 of the synthetic range).
pub fn probe_vn() -> Vn {
    Vn::from_serial(0)
}

/// What a successful conformance probe saw.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// `ok` (data) or `no_account` (the office's negative report).
    pub status: &'static str,
    /// IK entries and IV cases translated.
    pub records: usize,
    /// Time to the translated answer.
    pub latency: Duration,
}

/// First contribution year of the AHV (1948).
pub const FIRST_YEAR: u16 = 1948;

/// How the fan-out talks to offices.
#[derive(Debug, Clone)]
pub struct FanoutSettings {
    /// The gateway's sedex participant id.
    pub sender_id: String,
    /// Participant-id prefix of the environment (`T6`).
    pub participant_prefix: String,
    /// eCH-0058 testDeliveryFlag.
    pub test_delivery: bool,
    /// Default and maximum deadline of a query.
    pub deadline: Duration,
    /// Circuit breaker of each office.
    pub breaker: BreakerSettings,
    /// Hedging budget (extra calls per call, e.g. 0.1), `None` disables hedging.
    pub hedge: Option<f64>,
    /// IK entries and IV cases taken from one answer; beyond, the office is `error`.
    pub max_entries_per_answer: usize,
}

/// One consolidated query.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The person.
    pub vn: Vn,
    /// Years asked for.
    pub range: YearRange,
    /// Time budget of the whole query (capped by the settings' deadline).
    pub deadline: Option<Duration>,
    /// The stated purpose, passed on to offices whose dialect carries it.
    pub purpose: &'a str,
    /// The trace the query belongs to.
    pub trace: crate::trace::Trace,
}

/// The fan-out engine: a client identity, the current registry snapshot, settings.
#[derive(Debug)]
pub struct Fanout {
    client: RwLock<reqwest::Client>,
    registry: RwLock<Arc<Registry>>,
    settings: FanoutSettings,
    verified: call::IdentityCache,
    guards: guard::Guards,
    hedge: Option<guard::HedgeBudget>,
}

impl Fanout {
    /// Builds the engine around a client made by [`client`].
    pub fn new(client: reqwest::Client, registry: Registry, settings: FanoutSettings) -> Fanout {
        Fanout {
            client: RwLock::new(client),
            registry: RwLock::new(Arc::new(registry)),
            hedge: settings.hedge.map(guard::HedgeBudget::new),
            settings,
            verified: call::IdentityCache::default(),
            guards: guard::Guards::default(),
        }
    }

    /// The current registry snapshot.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&locks::read(&self.registry))
    }

    /// Replaces the registry; queries in flight keep the snapshot they started with.
    pub fn set_registry(&self, registry: Registry) {
        let new = Arc::new(registry);
        *locks::write(&self.registry) = new;
    }

    /// The protection state of an office (breaker, last call), if it was ever called.
    pub fn guard(&self, office: crate::model::OfficeId) -> Option<Arc<OfficeGuard>> {
        self.guards.peek(office)
    }

    /// Replaces the client (a rotated client identity or new trust material): new
    /// queries use it, queries in flight keep the client they started with.
    pub fn set_client(&self, client: reqwest::Client) {
        *locks::write(&self.client) = client;
    }

    /// The current client.
    fn client(&self) -> reqwest::Client {
        locks::read(&self.client).clone()
    }

    /// The deadline a query gets: what it asks for, at most the configured one.
    pub fn effective_deadline(&self, asked: Option<Duration>) -> Duration {
        asked.map_or(self.settings.deadline, |d| d.min(self.settings.deadline))
    }

    /// Asks every planned office at once and merges what arrives before the deadline.
    pub async fn query(&self, q: &Query<'_>) -> ConsolidatedAccount {
        let started = Instant::now();
        let deadline_at = started + self.effective_deadline(q.deadline);
        let registry = self.registry();
        let planned = plan(&registry);
        let ctx = call::QueryContext::new(q, &self.settings);
        let client = self.client();
        let env = call::CallEnv {
            client: &client,
            verified: &self.verified,
            guards: &self.guards,
            hedge: self.hedge.as_ref(),
            breaker: self.settings.breaker,
        };
        let calls = planned
            .iter()
            .map(|adapter| call::call(&env, adapter, &ctx, deadline_at));
        let mut outcomes = futures_util::future::join_all(calls).await;
        outcomes.extend(registry.deregistered().map(|(office, name)| {
            let status = SourceStatus::Unavailable("deregistered".into());
            OfficeOutcome::failed(office, name, status, Duration::ZERO)
        }));
        translate::account(q.vn, outcomes, q.range).await
    }

    /// The conformance probe: calls `adapter` once for the test person with
    /// `testDeliveryFlag` true, and requires an answer its mapping translates within the
    /// adapter's timeout. The error says what failed (never personal data).
    pub async fn probe(&self, adapter: &Adapter) -> Result<ProbeReport, String> {
        let settings = FanoutSettings {
            test_delivery: true,
            ..self.settings.clone()
        };
        let q = Query {
            vn: probe_vn(),
            range: YearRange::default(),
            deadline: None,
            purpose: "conformance-probe",
            trace: crate::trace::Trace::new(),
        };
        let ctx = call::QueryContext::new(&q, &settings);
        let client = self.client();
        let started = Instant::now();
        let answer = tokio::time::timeout(adapter.timeout, call::probe(&client, adapter, &ctx))
            .await
            .map_err(|_| {
                format!(
                    "no answer within the adapter's timeout of {} ms",
                    adapter.timeout.as_millis()
                )
            })?
            .map_err(|e| e.to_string())?;
        Ok(ProbeReport {
            status: match answer.status {
                AnswerStatus::Ok => "ok",
                AnswerStatus::NoAccount => "no_account",
            },
            records: answer.entries.len() + answer.iv_cases.len(),
            latency: started.elapsed(),
        })
    }
}

/// The shared HTTP client for one client identity: rustls with the given config (its
/// ALPN must offer `h2` and `http/1.1`), pooled keep-alive connections, no proxy.
pub fn client(tls: rustls::ClientConfig) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .tls_info(true)
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .connect_timeout(Duration::from_secs(5))
        .http2_adaptive_window(true)
        .tcp_nodelay(true)
        .build()
}
