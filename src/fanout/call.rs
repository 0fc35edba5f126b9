//! One office call: render the request, POST it over a connection whose handshake already
//! proved the office's identity, read the body up to the adapter's limit, translate it —
//! all within the call's time budget. `503`s and failed connections are retried within
//! the office's retry budget; redirects are never followed. What a failure is and how it
//! is classified lives in `error.rs`.

use std::time::Duration;

use tokio::time::Instant;

use super::breaker::{BreakerSettings, Outcome};
use super::clients::OfficeClients;
use super::error::CallError;
use super::guard::{Guards, OfficeGuard};
use super::retry::{HedgeBudget, RetrySettings};
use super::{FIRST_YEAR, FanoutSettings, Query};
use crate::adapter::Adapter;
use crate::mapping::RequestParams;
use crate::model::{Answer, OfficeOutcome, SourceStatus, Vn, same_person};

/// Per-query values shared by all its office calls.
#[derive(Debug)]
pub(crate) struct QueryContext<'a> {
    pub(super) vn: Vn,
    pub(super) year_from: u16,
    pub(super) year_to: u16,
    pub(super) business_process_id: String,
    pub(super) message_date: String,
    pub(super) purpose: &'a str,
    pub(super) trace: crate::trace::Trace,
    /// The query's exported span, the parent of each office call's.
    pub(super) span: Option<&'a crate::telemetry::QuerySpan>,
    pub(super) settings: &'a FanoutSettings,
}

impl<'a> QueryContext<'a> {
    /// The request parameters of this query for `office`, under a fresh `message_id`.
    pub(super) fn request_params(
        &'a self,
        office: crate::model::OfficeId,
        message_id: &'a str,
    ) -> RequestParams<'a> {
        RequestParams {
            vn: self.vn,
            office,
            sender_id: &self.settings.sender_id,
            participant_prefix: &self.settings.participant_prefix,
            message_id,
            business_process_id: &self.business_process_id,
            message_date: &self.message_date,
            year_from: self.year_from,
            year_to: self.year_to,
            test_delivery: self.settings.test_delivery,
            purpose: self.purpose,
        }
    }

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
            span: q.span,
            settings,
        }
    }
}

/// What every call of the engine shares.
#[derive(Debug)]
pub(crate) struct CallEnv<'a> {
    pub clients: &'a OfficeClients,
    pub guards: &'a Guards,
    pub hedge: Option<&'a HedgeBudget>,
    pub breaker: BreakerSettings,
    pub retry: RetrySettings,
}

/// Calls one office; never fails: every path ends in an outcome. The office's guard may
/// refuse the call at once (`unavailable`); otherwise it is bounded by the earlier of the
/// adapter's timeout and the query's deadline. The call is one span (a child of the
/// query's), whose id every request of the call carries in its `traceparent`.
pub(crate) async fn call(
    env: &CallEnv<'_>,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
    deadline_at: Instant,
) -> OfficeOutcome {
    let span = crate::telemetry::CallSpan::start(
        ctx.span,
        &ctx.trace,
        &adapter.office.to_string(),
        &adapter.name,
    );
    let outcome = guarded(env, adapter, ctx, deadline_at, span.traceparent()).await;
    span.end(&outcome.status);
    outcome
}

/// [`call`] under the office's guard, its requests carrying `traceparent`.
async fn guarded(
    env: &CallEnv<'_>,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
    deadline_at: Instant,
    traceparent: &str,
) -> OfficeOutcome {
    let failed =
        |status, latency| OfficeOutcome::failed(adapter.office, &adapter.name, status, latency);
    let Ok(client) = env.clients.get(adapter) else {
        return failed(
            SourceStatus::Error(CallError::Client.to_string()),
            Duration::ZERO,
        );
    };
    let guard = env.guards.get(adapter);
    let permit = match guard.admit(&env.breaker) {
        Ok(p) => p,
        Err(refusal) => {
            guard.record_refusal();
            crate::metrics::METRICS
                .rejections
                .get_or_create(&crate::metrics::KindLabels {
                    kind: refusal.kind(),
                })
                .inc();
            return failed(
                SourceStatus::Unavailable(refusal.detail().into()),
                Duration::ZERO,
            );
        }
    };
    guard.earn_retry();
    let started = Instant::now();
    let budget_end = deadline_at.min(started + adapter.timeout);
    let one = Attempt {
        env,
        guard: &guard,
        client: &client,
        adapter,
        ctx,
        budget_end,
        traceparent,
    };
    let result = tokio::time::timeout_at(budget_end, hedged(&one)).await;
    let latency = started.elapsed();
    let outcome = match result {
        Ok(Ok(answer)) if same_person(ctx.vn, &answer) => {
            OfficeOutcome::answered(adapter.office, &adapter.name, answer, latency)
        }
        Ok(Ok(_)) => failed(
            SourceStatus::Error("the answer is about another person".into()),
            latency,
        ),
        Ok(Err(e)) => {
            if let Some(cap) = e.cap() {
                crate::metrics::METRICS.answer_refused(adapter.office, cap);
            }
            failed(SourceStatus::Error(e.to_string()), latency)
        }
        Err(_) => {
            let budget = budget_end.saturating_duration_since(started);
            let ms = budget.as_micros().div_ceil(1000);
            failed(
                SourceStatus::Timeout(format!("no answer within {ms} ms")),
                latency,
            )
        }
    };
    let verdict = Outcome::of(&outcome.status).unwrap_or(Outcome::Failure);
    permit.finish(&env.breaker, verdict, outcome.status.name(), latency);
    observe(adapter, &outcome, latency);
    outcome
}

fn observe(adapter: &Adapter, outcome: &OfficeOutcome, latency: Duration) {
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
}

/// Everything one attempt at an office needs.
struct Attempt<'a> {
    env: &'a CallEnv<'a>,
    guard: &'a OfficeGuard,
    client: &'a reqwest::Client,
    adapter: &'a Adapter,
    ctx: &'a QueryContext<'a>,
    budget_end: Instant,
    traceparent: &'a str,
}

/// One attempt, and a hedged second one when the first is later than the office's usual
/// 95th percentile and the budget allows.
async fn hedged(a: &Attempt<'_>) -> Result<Answer, CallError> {
    // The p95 sorts the office's recent latencies: only worth it when hedging is on.
    let Some((budget, p95)) = a.env.hedge.and_then(|b| a.guard.p95().map(|p| (b, p))) else {
        return retried(a).await;
    };
    budget.earn();
    let first = retried(a);
    tokio::pin!(first);
    tokio::select! {
        r = &mut first => r,
        () = tokio::time::sleep(p95) => {
            if !budget.spend() {
                return first.await;
            }
            tracing::debug!(office = %a.adapter.office, p95_ms = p95.as_millis() as u64, "hedging a slow call");
            let second = retried(a);
            tokio::pin!(second);
            tokio::select! {
                r = &mut first => r,
                r = &mut second => r,
            }
        }
    }
}

/// Time a retry needs at least to be worth starting.
const MIN_RETRY_TIME: Duration = Duration::from_millis(50);

/// One exchange, retried after a `503` or a failed connection while the call has time
/// left, has not used its retries and the office's retry budget allows.
async fn retried(a: &Attempt<'_>) -> Result<Answer, CallError> {
    let mut retries = 0;
    loop {
        match exchange(a.client, a.adapter, a.ctx, a.traceparent).await {
            Err(e)
                if e.retryable()
                    && retries < a.env.retry.max_per_call
                    && a.budget_end.saturating_duration_since(Instant::now()) > MIN_RETRY_TIME =>
            {
                let spent = a.guard.spend_retry();
                crate::metrics::METRICS.retry(a.adapter.office, spent);
                if !spent {
                    return Err(e);
                }
                retries += 1;
                tracing::debug!(office = %a.adapter.office, error = %e, retries, "retrying");
            }
            other => return other,
        }
    }
}

/// One exchange for a conformance probe: a client of its own, no guard, no retry.
pub(crate) async fn probe(
    client: &reqwest::Client,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
) -> Result<Answer, CallError> {
    let answer = exchange(client, adapter, ctx, &ctx.trace.child()).await?;
    if !same_person(ctx.vn, &answer) {
        return Err(CallError::Answer(
            "the answer is about another person".into(),
        ));
    }
    Ok(answer)
}

async fn exchange(
    client: &reqwest::Client,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
    traceparent: &str,
) -> Result<Answer, CallError> {
    let message_id = uuid::Uuid::new_v4().to_string();
    let body = adapter
        .mapping
        .request(&ctx.request_params(adapter.office, &message_id));
    let bytes = post(
        client,
        &adapter.endpoint,
        body,
        traceparent,
        adapter.max_answer_bytes,
    )
    .await?;
    super::translate::answer(adapter, bytes, ctx.settings.max_entries_per_answer).await
}

/// POSTs `body` to `endpoint` over `client` (whose handshake verifies the peer) with
/// `traceparent`, and reads a `200` answer of at most `limit` bytes. A redirect is
/// refused, never followed.
pub(super) async fn post(
    client: &reqwest::Client,
    endpoint: &reqwest::Url,
    body: String,
    traceparent: &str,
    limit: usize,
) -> Result<Vec<u8>, CallError> {
    let request = client
        .post(endpoint.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/xml")
        .header("traceparent", traceparent)
        .body(body);
    let mut response = send(request).await?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(CallError::Status(status.as_u16()));
    }
    read_capped(&mut response, limit).await
}

/// Sends `request`; a redirect is refused ([`CallError::Redirect`]), never followed.
pub(super) async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, CallError> {
    let response = request
        .send()
        .await
        .map_err(|e| CallError::from_reqwest(&e))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(CallError::Redirect(status.as_u16()));
    }
    Ok(response)
}

/// Reads the body of `response`, refused as [`CallError::TooLarge`] as soon as it says or
/// turns out to be longer than `limit` bytes.
pub(super) async fn read_capped(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, CallError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(CallError::TooLarge(limit));
    }
    let hint = response.content_length().map_or(16 * 1024, |n| n as usize);
    let mut bytes = Vec::with_capacity(hint.min(limit));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| CallError::from_reqwest(&e))?
    {
        if bytes.len() + chunk.len() > limit {
            return Err(CallError::TooLarge(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}
