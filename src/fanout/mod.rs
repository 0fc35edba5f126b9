//! The fan-out: one consolidated query becomes one request per planned office, all in
//! flight at once, each over that office's pooled mTLS client (its handshake verifies the
//! office's identity); each call stops at its adapter's timeout or the query's deadline,
//! whichever comes first; the answer is merged from what arrived. Partial results are the
//! normal case: every office yields an outcome.

mod affiliations;
mod breaker;
mod call;
mod clients;
mod error;
mod guard;
mod plan;
mod recent;
mod register;
mod retry;
mod submit;
mod translate;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

pub use affiliations::Affiliations;
pub use breaker::{BreakerSettings, BreakerState, Outcome};
pub use error::{CallError, Step};
pub use guard::{LastCall, OfficeGuard};
pub use plan::{Named, by_register, discrepancies, plan};
pub use recent::RecentStats;
pub use register::{REGISTER_LABEL, RegisterSettings, RoutingSettings};
pub use retry::RetrySettings;
pub use submit::{Outbound, PostError, Posted};
pub use translate::{OFFLOAD_ANSWER_BYTES, OFFLOAD_MERGE_RECORDS};

use crate::adapter::{Adapter, Registry};
use crate::locks;
use crate::merge::{ConsolidatedAccount, YearRange};
use crate::model::{
    AnswerStatus, OfficeOutcome, RegisterCall, RegisterStatus, RoutingMode, RoutingReport,
    SourceStatus, Vn,
};
use crate::tls::OfficeTls;

/// The test person of conformance probes (serial 0 of the synthetic range).
pub fn probe_vn() -> Vn {
    Vn::from_serial(0)
}

/// Why a conformance probe failed: the step, and what went wrong there (no personal
/// data, no OS error text).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{step}: {detail}")]
pub struct ProbeError {
    /// The step that failed.
    pub step: Step,
    /// What failed in it.
    pub detail: String,
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
    /// Retries of `503`s and failed connections.
    pub retry: RetrySettings,
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
    /// The query's exported span (`None`: export off, or not a portal's query).
    pub span: Option<&'a crate::telemetry::QuerySpan>,
}

/// The fan-out engine: a client identity, the current registry snapshot, settings.
#[derive(Debug)]
pub struct Fanout {
    clients: clients::OfficeClients,
    registry: RwLock<Arc<Registry>>,
    settings: FanoutSettings,
    guards: guard::Guards,
    hedge: Option<retry::HedgeBudget>,
    /// `[routing]`, when configured (else every query asks every office, without a
    /// `routing` report).
    routing: Option<RoutingSettings>,
    register: Option<register::Register>,
}

/// A query refused because the account register failed and `on_register_failure` is
/// `fail`: the answer is a `503` naming the register (never the person).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the account register is unavailable ({}): {detail}", status.name())]
pub struct RegisterUnavailable {
    /// What the register did.
    pub status: RegisterStatus,
    /// Why, without personal data.
    pub detail: String,
}

impl Fanout {
    /// Builds the engine around the gateway's client identity and federation trust.
    pub fn new(tls: OfficeTls, registry: Registry, settings: FanoutSettings) -> Fanout {
        Fanout {
            clients: clients::OfficeClients::new(tls),
            registry: RwLock::new(Arc::new(registry)),
            hedge: settings.hedge.map(retry::HedgeBudget::new),
            guards: guard::Guards::new(settings.retry),
            settings,
            routing: None,
            register: None,
        }
    }

    /// Plans queries by `routing`: the central account register first (its own client,
    /// breaker, caps and cache), then only the offices it names (`register`), or
    /// everyone and a comparison (`verify`). Answers then carry a `routing` report.
    pub fn with_routing(mut self, routing: RoutingSettings) -> Fanout {
        self.register = routing
            .register
            .clone()
            .map(|r| register::Register::new(r, &routing, &self.settings.retry));
        self.routing = Some(routing);
        self
    }

    /// The protection state of the account register, when routing uses it.
    pub fn register_guard(&self) -> Option<&OfficeGuard> {
        self.register.as_ref().map(register::Register::guard)
    }

    /// Forgets the register's cached answer about `vn` (an office's `account-changed`).
    pub fn forget_register(&self, vn: Vn) {
        if let Some(r) = &self.register {
            r.forget(vn);
        }
    }

    /// Forgets the register's cached answers about every person `matches` (an eviction
    /// from another replica names the person by a keyed hash only).
    pub fn forget_register_where(&self, matches: impl Fn(Vn) -> bool + Send + Sync + 'static) {
        if let Some(r) = &self.register {
            r.forget_where(matches);
        }
    }

    /// Forgets every cached register answer.
    pub fn forget_register_all(&self) {
        if let Some(r) = &self.register {
            r.forget_all();
        }
    }

    /// The current registry snapshot.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&locks::read(&self.registry))
    }

    /// Replaces the registry; queries in flight keep the snapshot they started with.
    pub fn set_registry(&self, registry: Registry) {
        self.clients.retain(&registry);
        let new = Arc::new(registry);
        *locks::write(&self.registry) = new;
    }

    /// The protection state of an office (breaker, last call), if it was ever called.
    pub fn guard(&self, office: crate::model::OfficeId) -> Option<Arc<OfficeGuard>> {
        self.guards.peek(office)
    }

    /// Replaces the client identity or trust (a rotation, a new CRL): new calls make
    /// new handshakes with it, calls in flight finish on the connection they hold.
    pub fn set_tls(&self, tls: OfficeTls) {
        self.clients.set_tls(tls);
    }

    /// The deadline a query gets: what it asks for, at most the configured one.
    pub fn effective_deadline(&self, asked: Option<Duration>) -> Duration {
        asked.map_or(self.settings.deadline, |d| d.min(self.settings.deadline))
    }

    /// Plans the query (every office, or by the account register), asks the planned
    /// offices at once and merges what arrives before the deadline. Fails only when the
    /// register fails in `register` mode with `on_register_failure = "fail"`.
    pub async fn query(&self, q: &Query<'_>) -> Result<ConsolidatedAccount, RegisterUnavailable> {
        let started = Instant::now();
        let deadline_at = started + self.effective_deadline(q.deadline);
        let registry = self.registry();
        let ctx = call::QueryContext::new(q, &self.settings);
        let env = call::CallEnv {
            clients: &self.clients,
            guards: &self.guards,
            hedge: self.hedge.as_ref(),
            breaker: self.settings.breaker,
            retry: self.settings.retry,
        };
        let Some(routing) = &self.routing else {
            let planned = plan(&registry);
            let mut outcomes = ask(&env, &planned, &ctx, deadline_at).await;
            outcomes.extend(deregistered(&registry));
            return Ok(translate::account(q.vn, outcomes, q.range).await);
        };
        let asked = match &self.register {
            Some(r) if routing.mode.asks_register() => r.ask(&env, &ctx, deadline_at).await,
            _ => register::Asked {
                call: RegisterCall {
                    status: RegisterStatus::Skipped,
                    detail: None,
                    as_of: None,
                    latency: std::time::Duration::ZERO,
                    cached: false,
                },
                answer: None,
            },
        };
        let (planned, missing, fallback) = match (routing.mode, &asked.answer) {
            (RoutingMode::Register, Some(answer)) => {
                let named = by_register(&registry, answer);
                (named.adapters, named.missing, false)
            }
            (RoutingMode::Register, None) if routing.fail_without_register => {
                return Err(RegisterUnavailable {
                    status: asked.call.status,
                    detail: asked.call.detail.clone().unwrap_or_default(),
                });
            }
            (RoutingMode::Register, None) => (plan(&registry), Vec::new(), true),
            _ => (plan(&registry), Vec::new(), false),
        };
        let mut outcomes = ask(&env, &planned, &ctx, deadline_at).await;
        let found = match (routing.mode, &asked.answer) {
            (RoutingMode::Verify, Some(answer)) => {
                let found = discrepancies(answer, &outcomes);
                report_discrepancies(&found);
                Some(found)
            }
            _ => None,
        };
        if routing.mode == RoutingMode::Register && !fallback {
            // Named offices the registry cannot reach: their part is missing, and says so.
            let names: std::collections::BTreeMap<_, _> = registry.deregistered().collect();
            outcomes.extend(missing.into_iter().map(|office| {
                let (name, why) = match names.get(&office) {
                    Some(name) => (name.to_string(), "deregistered"),
                    None => (office.to_string(), "named by the register, but no adapter"),
                };
                let status = SourceStatus::Unavailable(why.into());
                OfficeOutcome::failed(office, &name, status, std::time::Duration::ZERO)
            }));
        } else {
            outcomes.extend(deregistered(&registry));
        }
        let asked_count = planned.len();
        crate::metrics::METRICS
            .routing_offices_asked
            .get_or_create(&crate::metrics::RoutingLabels {
                mode: routing.mode.name(),
                register: asked.call.status.name(),
            })
            .observe(asked_count as f64);
        let mut account = translate::account(q.vn, outcomes, q.range).await;
        account.routing = Some(RoutingReport {
            mode: routing.mode,
            register: asked.call,
            fallback,
            asked: asked_count,
            not_asked: registry.len().saturating_sub(asked_count),
            discrepancies: found,
        });
        Ok(account)
    }

    /// The conformance probe: calls `adapter` once for the test person with
    /// `testDeliveryFlag` true, over a client of its own that verifies the office in the
    /// handshake and follows no redirect, and requires an answer its mapping translates
    /// within the adapter's timeout. The error names the step that failed.
    pub async fn probe(&self, adapter: &Adapter) -> Result<ProbeReport, ProbeError> {
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
            span: None,
        };
        let ctx = call::QueryContext::new(&q, &settings);
        let failed = |e: CallError| ProbeError {
            step: e.step(),
            detail: e.to_string(),
        };
        let client = self
            .clients
            .fresh(adapter)
            .map_err(|_| failed(CallError::Client))?;
        let started = Instant::now();
        let answer = tokio::time::timeout(adapter.timeout, call::probe(&client, adapter, &ctx))
            .await
            .map_err(|_| ProbeError {
                step: Step::Timeout,
                detail: format!(
                    "no answer within the adapter's timeout of {} ms",
                    adapter.timeout.as_millis()
                ),
            })?
            .map_err(failed)?;
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

/// Asks every planned office at once.
async fn ask(
    env: &call::CallEnv<'_>,
    planned: &[Arc<Adapter>],
    ctx: &call::QueryContext<'_>,
    deadline_at: Instant,
) -> Vec<OfficeOutcome> {
    let calls = planned
        .iter()
        .map(|adapter| call::call(env, adapter, ctx, deadline_at));
    futures_util::future::join_all(calls).await
}

/// The deregistered offices, each `unavailable`.
fn deregistered(registry: &Registry) -> impl Iterator<Item = OfficeOutcome> + '_ {
    registry.deregistered().map(|(office, name)| {
        let status = SourceStatus::Unavailable("deregistered".into());
        OfficeOutcome::failed(office, name, status, Duration::ZERO)
    })
}

/// Counts and logs each discrepancy: the office and the kind, never the person.
fn report_discrepancies(found: &[crate::model::Discrepancy]) {
    for d in found {
        crate::metrics::METRICS
            .routing_discrepancies
            .get_or_create(&crate::metrics::KindLabels {
                kind: d.kind.name(),
            })
            .inc();
        tracing::warn!(
            target: "guichet::routing",
            office = %d.office,
            kind = d.kind.name(),
            "routing discrepancy: the register and the office disagree"
        );
    }
}

/// A plain HTTP client with the given rustls config (its ALPN must offer `h2` and
/// `http/1.1`): pooled keep-alive connections, no proxy, no redirects. For talking to
/// the gateway itself (CLI, tests); offices get per-office clients that verify them.
pub fn client(tls: rustls::ClientConfig) -> Result<reqwest::Client, reqwest::Error> {
    client_builder(tls).tls_info(true).build()
}

/// What every outgoing client of the gateway shares: the given rustls config, redirects
/// never followed (a 3xx is an answer, not a hop), no proxy, pooled keep-alive, a 5 s
/// connect time-out.
pub(crate) fn client_builder(tls: rustls::ClientConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(64)
        .connect_timeout(Duration::from_secs(5))
        .http2_adaptive_window(true)
        .tcp_nodelay(true)
}
