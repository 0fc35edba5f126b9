//! The central account register as a source: asked first (register and verify modes)
//! over its own pooled mTLS client, whose handshake accepts only a federation certificate
//! naming the configured `urn:guichet:register:<name>`; bounded by its own timeout and
//! the query's deadline; guarded by its own breaker and caps like an office; its answers
//! cached per person for a short while. Every path ends in a [`RegisterCall`]: a failure
//! is reported, never silent, and never carries the person.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::breaker::Outcome;
use super::call::{CallEnv, QueryContext, post};
use super::error::CallError;
use super::guard::OfficeGuard;
use super::retry::RetrySettings;
use crate::mapping::Mapping;
use crate::model::{
    Identity, OfficeId, RegisterAnswer, RegisterCall, RegisterStatus, RoutingMode, Vn,
};

/// The metric label and log name of the register.
pub const REGISTER_LABEL: &str = "register";

/// How to reach the register.
#[derive(Debug, Clone)]
pub struct RegisterSettings {
    /// `https://host:port/path` the gateway POSTs to.
    pub endpoint: reqwest::Url,
    /// The identity its server certificate must name.
    pub identity: Identity,
    /// The compiled register dialect.
    pub mapping: Arc<Mapping>,
    /// Per-call timeout (capped by the query's deadline).
    pub timeout: Duration,
    /// Answer size limit.
    pub max_answer_bytes: usize,
    /// Calls per second allowed, if capped.
    pub max_rate_per_second: Option<u32>,
    /// Calls in flight allowed, if capped.
    pub max_concurrency: Option<usize>,
}

/// How queries choose their offices.
#[derive(Debug, Clone, Default)]
pub struct RoutingSettings {
    /// `register`, `broadcast` or `verify`.
    pub mode: RoutingMode,
    /// The register (needed unless the mode is `broadcast`).
    pub register: Option<RegisterSettings>,
    /// When the register fails in `register` mode: `true` answers `503`, `false` asks
    /// every office instead.
    pub fail_without_register: bool,
    /// Lifetime of a cached register answer; `None`: no cache.
    pub cache_ttl: Option<Duration>,
    /// Persons whose answer the cache holds at most.
    pub cache_max_entries: u64,
}

/// The register's part of one query: the report, and its answer when it gave one.
#[derive(Debug, Clone)]
pub(crate) struct Asked {
    pub call: RegisterCall,
    pub answer: Option<Arc<RegisterAnswer>>,
}

/// The register: settings, guard and cache, for the life of the fan-out.
#[derive(Debug)]
pub(crate) struct Register {
    settings: RegisterSettings,
    guard: OfficeGuard,
    cache: Option<moka::sync::Cache<Vn, Arc<RegisterAnswer>>>,
}

impl Register {
    pub(crate) fn new(
        settings: RegisterSettings,
        routing: &RoutingSettings,
        retry: &RetrySettings,
    ) -> Register {
        let guard = OfficeGuard::standalone(
            REGISTER_LABEL.into(),
            settings.max_rate_per_second,
            settings.max_concurrency,
            retry,
        );
        let cache = routing.cache_ttl.map(|ttl| {
            moka::sync::Cache::builder()
                .max_capacity(routing.cache_max_entries)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build()
        });
        Register {
            settings,
            guard,
            cache,
        }
    }

    /// The register's guard (breaker state for the scrape-time gauges and listings).
    pub(crate) fn guard(&self) -> &OfficeGuard {
        &self.guard
    }

    /// Forgets the cached answer about `vn` (an office reported a changed account).
    pub(crate) fn forget(&self, vn: Vn) {
        if let Some(cache) = &self.cache {
            cache.invalidate(&vn);
        }
    }

    /// Forgets the cached answers about every person `matches`.
    pub(crate) fn forget_where(&self, matches: impl Fn(Vn) -> bool + Send + Sync + 'static) {
        if let Some(cache) = &self.cache {
            // Only fails when closures are not enabled, which `new` does.
            let _ = cache.invalidate_entries_if(move |vn, _| matches(*vn));
        }
    }

    /// Forgets every cached answer.
    pub(crate) fn forget_all(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }

    /// Asks the register about the query's person (or takes its cached answer); never
    /// fails: every path ends in a status. Bounded by the earlier of its timeout and the
    /// query's deadline.
    pub(crate) async fn ask(
        &self,
        env: &CallEnv<'_>,
        ctx: &QueryContext<'_>,
        deadline_at: Instant,
    ) -> Asked {
        if let Some(answer) = self.cache.as_ref().and_then(|c| c.get(&ctx.vn)) {
            return Asked {
                call: answered(&answer, Duration::ZERO, true),
                answer: Some(answer),
            };
        }
        let failed = |status, detail: String, latency| Asked {
            call: RegisterCall {
                status,
                detail: Some(detail),
                as_of: None,
                latency,
                cached: false,
            },
            answer: None,
        };
        let Ok(client) = env.clients.peer(&self.settings.identity) else {
            let detail = "cannot build the register client".to_owned();
            return self.observed(failed(RegisterStatus::Error, detail, Duration::ZERO));
        };
        let permit = match self.guard.admit(&env.breaker) {
            Ok(p) => p,
            Err(refusal) => {
                self.guard.record_refusal();
                crate::metrics::METRICS
                    .rejections
                    .get_or_create(&crate::metrics::KindLabels {
                        kind: refusal.kind(),
                    })
                    .inc();
                let detail = refusal.detail().replace("office", "register");
                return self.observed(failed(RegisterStatus::Unavailable, detail, Duration::ZERO));
            }
        };
        let started = Instant::now();
        let budget_end = deadline_at.min(started + self.settings.timeout);
        let result = tokio::time::timeout_at(budget_end, self.exchange(&client, ctx)).await;
        let latency = started.elapsed();
        let asked = match result {
            Ok(Ok(answer)) => {
                let answer = Arc::new(answer);
                if let Some(cache) = &self.cache {
                    cache.insert(ctx.vn, Arc::clone(&answer));
                }
                Asked {
                    call: answered(&answer, latency, false),
                    answer: Some(answer),
                }
            }
            Ok(Err(e @ CallError::Identity(_))) => {
                failed(RegisterStatus::BadCertificate, e.to_string(), latency)
            }
            Ok(Err(e)) => failed(RegisterStatus::Error, e.to_string(), latency),
            Err(_) => {
                let budget = budget_end.saturating_duration_since(started);
                let ms = budget.as_micros().div_ceil(1000);
                let detail = format!("no answer within {ms} ms");
                failed(RegisterStatus::Timeout, detail, latency)
            }
        };
        let verdict = if asked.call.status.answered() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        permit.finish(&env.breaker, verdict, asked.call.status.name(), latency);
        self.observed(asked)
    }

    /// Counts the register's outcome and latency (label `office="register"`).
    fn observed(&self, asked: Asked) -> Asked {
        let m = &crate::metrics::METRICS;
        if !asked.call.cached && asked.call.status != RegisterStatus::Unavailable {
            m.office_seconds
                .get_or_create(&crate::metrics::OfficeLabels {
                    office: REGISTER_LABEL.into(),
                })
                .observe(asked.call.latency.as_secs_f64());
        }
        m.office_outcomes
            .get_or_create(&crate::metrics::OutcomeLabels {
                office: REGISTER_LABEL.into(),
                status: asked.call.status.name(),
            })
            .inc();
        if let Some(detail) = &asked.call.detail {
            tracing::warn!(
                target: "guichet::routing",
                status = asked.call.status.name(),
                %detail,
                "the account register failed"
            );
        }
        asked
    }

    async fn exchange(
        &self,
        client: &reqwest::Client,
        ctx: &QueryContext<'_>,
    ) -> Result<RegisterAnswer, CallError> {
        let message_id = uuid::Uuid::new_v4().to_string();
        // The register's dialect names its own recipient; no office is addressed.
        let nobody = OfficeId {
            number: 999,
            agency: 0,
        };
        let body = self
            .settings
            .mapping
            .request(&ctx.request_params(nobody, &message_id));
        let limit = self.settings.max_answer_bytes;
        let bytes = post(
            client,
            &self.settings.endpoint,
            body,
            &ctx.trace.child(),
            limit,
        )
        .await?;
        self.settings
            .mapping
            .translate_register(ctx.vn, &bytes, limit)
            .map_err(|e| CallError::Answer(e.redacted()))
    }
}

/// The report of an answer: `ok`, or `unknown-person`.
fn answered(answer: &RegisterAnswer, latency: Duration, cached: bool) -> RegisterCall {
    RegisterCall {
        status: if answer.known {
            RegisterStatus::Ok
        } else {
            RegisterStatus::UnknownPerson
        },
        detail: None,
        as_of: answer.as_of,
        latency,
        cached,
    }
}
