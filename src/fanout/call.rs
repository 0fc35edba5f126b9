//! One office call: render the request, POST it, check who answered, read the body up to
//! the adapter's limit, translate it — all within the call's time budget.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use tokio::time::Instant;

use super::guard::{BreakerSettings, Guards, HedgeBudget, OfficeGuard};
use super::{FIRST_YEAR, FanoutSettings, Query};
use crate::adapter::Adapter;
use crate::locks;
use crate::mapping::RequestParams;
use crate::model::{Answer, OfficeId, OfficeOutcome, SourceStatus, Vn, same_person};
use crate::pki::Role;

/// Per-query values shared by all its office calls.
#[derive(Debug)]
pub(crate) struct QueryContext<'a> {
    vn: Vn,
    year_from: u16,
    year_to: u16,
    business_process_id: String,
    message_date: String,
    purpose: &'a str,
    trace: crate::trace::Trace,
    settings: &'a FanoutSettings,
}

impl<'a> QueryContext<'a> {
    pub(crate) fn new(q: &Query<'a>, settings: &'a FanoutSettings) -> QueryContext<'a> {
        let now = time::OffsetDateTime::now_utc();
        let this_year = u16::try_from(now.year()).unwrap_or(u16::MAX);
        let message_date = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        QueryContext {
            vn: q.vn,
            year_from: q.range.from.unwrap_or(FIRST_YEAR).max(FIRST_YEAR),
            year_to: q.range.to.unwrap_or(this_year).min(this_year),
            business_process_id: uuid::Uuid::new_v4().to_string(),
            message_date,
            purpose: q.purpose,
            trace: q.trace,
            settings,
        }
    }
}

/// Why one office call failed. Messages carry no personal data.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Could not connect or complete the TLS handshake (retried once).
    #[error("{0}")]
    Connect(String),
    /// The connection broke after it was made.
    #[error("{0}")]
    Transport(String),
    /// The office answered with another status than 200.
    #[error("HTTP {0}")]
    Status(u16),
    /// The office's certificate does not name it, or not the pinned one.
    #[error("{0}")]
    Identity(String),
    /// The answer exceeds the adapter's size limit.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    /// The answer does not translate (redacted: no values).
    #[error("{0}")]
    Answer(String),
}

/// Server certificates already checked against their office: the check parses X.509, so
/// it runs once per certificate, not once per call. Keyed by office; a new certificate
/// (rotation) is checked again.
#[derive(Debug, Default)]
pub(crate) struct IdentityCache(RwLock<HashMap<OfficeId, Vec<u8>>>);

impl IdentityCache {
    fn is_known(&self, office: OfficeId, der: &[u8]) -> bool {
        locks::read(&self.0)
            .get(&office)
            .is_some_and(|known| known.as_slice() == der)
    }

    fn remember(&self, office: OfficeId, der: &[u8]) {
        locks::write(&self.0).insert(office, der.to_vec());
    }
}

/// What every call of the engine shares.
#[derive(Debug)]
pub(crate) struct CallEnv<'a> {
    pub client: &'a reqwest::Client,
    pub verified: &'a IdentityCache,
    pub guards: &'a Guards,
    pub hedge: Option<&'a HedgeBudget>,
    pub breaker: BreakerSettings,
}

/// Calls one office; never fails: every path ends in an outcome. The office's guard may
/// refuse the call at once (`unavailable`); otherwise it is bounded by the earlier of the
/// adapter's timeout and the query's deadline.
pub(crate) async fn call(
    env: &CallEnv<'_>,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
    deadline_at: Instant,
) -> OfficeOutcome {
    let guard = env.guards.get(adapter);
    let _permit = match guard.admit(&env.breaker) {
        Ok(p) => p,
        Err(refusal) => {
            guard.record_refusal();
            let kind = match refusal {
                super::guard::Refusal::CircuitOpen => "circuit-open",
                _ => "office-rate",
            };
            crate::metrics::METRICS
                .rejections
                .get_or_create(&crate::metrics::KindLabels { kind })
                .inc();
            let status = SourceStatus::Unavailable(refusal.detail().into());
            return OfficeOutcome::failed(adapter.office, &adapter.name, status, Duration::ZERO);
        }
    };
    let started = Instant::now();
    let budget_end = deadline_at.min(started + adapter.timeout);
    let result =
        tokio::time::timeout_at(budget_end, hedged(env, &guard, adapter, ctx, budget_end)).await;
    let latency = started.elapsed();
    let outcome = match result {
        Ok(Ok(answer)) if same_person(ctx.vn, &answer) => {
            OfficeOutcome::answered(adapter.office, &adapter.name, answer, latency)
        }
        Ok(Ok(_)) => {
            let status = SourceStatus::Error("the answer is about another person".into());
            OfficeOutcome::failed(adapter.office, &adapter.name, status, latency)
        }
        Ok(Err(e)) => OfficeOutcome::failed(
            adapter.office,
            &adapter.name,
            SourceStatus::Error(e.to_string()),
            latency,
        ),
        Err(_) => {
            let budget = budget_end.saturating_duration_since(started);
            let ms = budget.as_micros().div_ceil(1000);
            let status = SourceStatus::Timeout(format!("no answer within {ms} ms"));
            OfficeOutcome::failed(adapter.office, &adapter.name, status, latency)
        }
    };
    guard.record(&env.breaker, outcome.status.name(), latency);
    let m = &crate::metrics::METRICS;
    let office = adapter.office.to_string();
    m.office_seconds
        .get_or_create(&crate::metrics::OfficeLabels {
            office: office.clone(),
        })
        .observe(latency.as_secs_f64());
    m.office_outcomes
        .get_or_create(&crate::metrics::OutcomeLabels {
            office,
            status: outcome.status.name(),
        })
        .inc();
    outcome
}

/// One attempt, and a hedged second one when the first is later than the office's usual
/// 95th percentile and the budget allows.
async fn hedged(
    env: &CallEnv<'_>,
    guard: &OfficeGuard,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
    budget_end: Instant,
) -> Result<Answer, CallError> {
    // The p95 sorts the office's recent latencies: only worth it when hedging is on.
    let Some((budget, p95)) = env.hedge.and_then(|b| guard.p95().map(|p| (b, p))) else {
        return attempt(env, adapter, ctx, budget_end).await;
    };
    budget.earn();
    let first = attempt(env, adapter, ctx, budget_end);
    tokio::pin!(first);
    tokio::select! {
        r = &mut first => r,
        () = tokio::time::sleep(p95) => {
            if !budget.spend() {
                return first.await;
            }
            tracing::debug!(office = %adapter.office, p95_ms = p95.as_millis() as u64, "hedging a slow call");
            let second = attempt(env, adapter, ctx, budget_end);
            tokio::pin!(second);
            tokio::select! {
                r = &mut first => r,
                r = &mut second => r,
            }
        }
    }
}

/// One exchange, retried once on a connection error if at least 50 ms remain.
async fn attempt(
    env: &CallEnv<'_>,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
    budget_end: Instant,
) -> Result<Answer, CallError> {
    match exchange(env.client, env.verified, adapter, ctx).await {
        Err(CallError::Connect(reason))
            if budget_end.saturating_duration_since(Instant::now()) > Duration::from_millis(50) =>
        {
            tracing::debug!(office = %adapter.office, %reason, "retrying once after a connection error");
            exchange(env.client, env.verified, adapter, ctx).await
        }
        other => other,
    }
}

/// One exchange for a conformance probe: no guard, no retry, no hedging, and an identity
/// check that trusts nothing remembered from earlier calls.
pub(crate) async fn probe(
    client: &reqwest::Client,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
) -> Result<Answer, CallError> {
    let answer = exchange(client, &IdentityCache::default(), adapter, ctx).await?;
    if !same_person(ctx.vn, &answer) {
        return Err(CallError::Answer(
            "the answer is about another person".into(),
        ));
    }
    Ok(answer)
}

async fn exchange(
    client: &reqwest::Client,
    verified: &IdentityCache,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
) -> Result<Answer, CallError> {
    let message_id = uuid::Uuid::new_v4().to_string();
    let body = adapter.mapping.request(&RequestParams {
        vn: ctx.vn,
        office: adapter.office,
        sender_id: &ctx.settings.sender_id,
        participant_prefix: &ctx.settings.participant_prefix,
        message_id: &message_id,
        business_process_id: &ctx.business_process_id,
        message_date: &ctx.message_date,
        year_from: ctx.year_from,
        year_to: ctx.year_to,
        test_delivery: ctx.settings.test_delivery,
        purpose: ctx.purpose,
    });
    let mut response = client
        .post(adapter.endpoint.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/xml")
        .header("traceparent", ctx.trace.child())
        .body(body)
        .send()
        .await
        .map_err(transport)?;
    check_identity(verified, adapter, &response)?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(CallError::Status(response.status().as_u16()));
    }
    let limit = adapter.max_answer_bytes;
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(CallError::TooLarge(limit));
    }
    let hint = response.content_length().map_or(16 * 1024, |n| n as usize);
    let mut bytes = Vec::with_capacity(hint.min(limit));
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if bytes.len() + chunk.len() > limit {
            return Err(CallError::TooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    super::translate::answer(adapter, bytes, ctx.settings.max_entries_per_answer).await
}

/// The office must present a certificate naming it (`urn:guichet:office:<id>`), and the
/// pinned one when its adapter pins one. The chain itself was verified in the handshake.
fn check_identity(
    verified: &IdentityCache,
    adapter: &Adapter,
    response: &reqwest::Response,
) -> Result<(), CallError> {
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .ok_or_else(|| CallError::Identity("the office presented no certificate".into()))?;
    // The pin first: an adapter change may add one after the certificate was remembered.
    if let Some(pin) = &adapter.server_cert_sha256 {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        if digest.as_ref() != pin {
            return Err(CallError::Identity(
                "server certificate is not the pinned one".into(),
            ));
        }
    }
    if verified.is_known(adapter.office, der) {
        return Ok(());
    }
    let identity = crate::tls::peer_identity(&rustls_pki_types::CertificateDer::from(der));
    match identity {
        Some(id) if id.role == Role::Office && id.name == adapter.office.to_string() => {
            verified.remember(adapter.office, der);
            Ok(())
        }
        Some(id) => Err(CallError::Identity(format!(
            "server certificate belongs to {id}, not office {}",
            adapter.office
        ))),
        None => Err(CallError::Identity(
            "server certificate names no guichet office".into(),
        )),
    }
}

fn transport(e: reqwest::Error) -> CallError {
    let mut root: &dyn std::error::Error = &e;
    while let Some(source) = root.source() {
        root = source;
    }
    if e.is_connect() {
        CallError::Connect(format!("connection failed: {root}"))
    } else {
        CallError::Transport(format!("transport error: {root}"))
    }
}
