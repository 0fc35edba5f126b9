//! One office call: render the request, POST it over a connection whose handshake already
//! proved the office's identity, read the body up to the adapter's limit, translate it —
//! all within the call's time budget. `503`s and failed connections are retried within
//! the office's retry budget; redirects are never followed.

use std::time::Duration;

use tokio::time::Instant;

use super::breaker::{BreakerSettings, Outcome};
use super::clients::OfficeClients;
use super::guard::{Guards, OfficeGuard};
use super::retry::{HedgeBudget, RetrySettings};
use super::{FIRST_YEAR, FanoutSettings, Query};
use crate::adapter::Adapter;
use crate::mapping::RequestParams;
use crate::model::{Answer, OfficeOutcome, SourceStatus, Vn, same_person};
use crate::tls::{OfficeCertError, describe_handshake_error, office_cert_error};

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

/// The step of an office exchange that failed; the conformance probe names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The TCP connection could not be made.
    Connect,
    /// The TLS handshake failed (chain, expiry, revocation, protocol).
    Tls,
    /// The certificate is valid but not the office's (or not the pinned one).
    Identity,
    /// The office answered with another status than `200` (redirects included).
    HttpStatus,
    /// The connection broke during the exchange.
    Transport,
    /// The answer is too large, does not translate or is about another person.
    Translation,
    /// No answer within the time allowed.
    Timeout,
}

impl Step {
    /// `connect`, `tls`, `identity`, `http-status`, `transport`, `translation`, `timeout`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Tls => "tls",
            Step::Identity => "identity",
            Step::HttpStatus => "http-status",
            Step::Transport => "transport",
            Step::Translation => "translation",
            Step::Timeout => "timeout",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why one office call failed. Messages carry no personal data and no OS error text
/// (a probe must not tell a refused port from a filtered one in the OS's words).
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The connection could not be made.
    #[error("could not connect to the office")]
    Connect,
    /// The handshake failed for another reason than the office's identity.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The office presented a federation certificate that is not its own (or not the
    /// pinned one): the handshake was aborted, nothing was sent.
    #[error("{0}; nothing was sent")]
    Identity(OfficeCertError),
    /// The office answered with a redirect, which is never followed.
    #[error("redirect refused (HTTP {0})")]
    Redirect(u16),
    /// The office answered with another status than 200.
    #[error("HTTP {0}")]
    Status(u16),
    /// The connection broke after it was made.
    #[error("the connection broke during the exchange")]
    Transport,
    /// The answer exceeds the adapter's size limit.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    /// The answer holds more IK entries and IV cases than the gateway takes from one.
    #[error("answer too large: more than {0} IK entries and IV cases")]
    TooManyRecords(usize),
    /// The answer does not translate (redacted: no values).
    #[error("{0}")]
    Answer(String),
    /// The office's HTTP client could not be built.
    #[error("cannot build the office client")]
    Client,
}

impl CallError {
    /// Which step failed.
    pub fn step(&self) -> Step {
        match self {
            CallError::Connect | CallError::Client => Step::Connect,
            CallError::Tls(_) => Step::Tls,
            CallError::Identity(_) => Step::Identity,
            CallError::Redirect(_) | CallError::Status(_) => Step::HttpStatus,
            CallError::Transport => Step::Transport,
            CallError::TooLarge(_) | CallError::TooManyRecords(_) | CallError::Answer(_) => {
                Step::Translation
            }
        }
    }

    /// The size cap that refused the answer, as a metric label.
    fn cap(&self) -> Option<&'static str> {
        match self {
            CallError::TooLarge(_) => Some("byte-limit"),
            CallError::TooManyRecords(_) => Some("entry-cap"),
            _ => None,
        }
    }

    /// Worth another try: the office said so (`503`) or was not reached at all.
    fn retryable(&self) -> bool {
        matches!(self, CallError::Connect | CallError::Status(503))
    }

    fn from_reqwest(e: &reqwest::Error) -> CallError {
        // `io::Error::source` skips the error it wraps, so io errors are opened by hand.
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(tls) = err.downcast_ref::<rustls::Error>() {
                return match office_cert_error(tls) {
                    Some(id) => CallError::Identity(id.clone()),
                    None => CallError::Tls(describe_handshake_error(tls)),
                };
            }
            cur = match err.downcast_ref::<std::io::Error>() {
                Some(io) => io
                    .get_ref()
                    .map(|inner| inner as &(dyn std::error::Error + 'static)),
                None => err.source(),
            };
        }
        if e.is_connect() {
            CallError::Connect
        } else {
            CallError::Transport
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
/// adapter's timeout and the query's deadline.
pub(crate) async fn call(
    env: &CallEnv<'_>,
    adapter: &Adapter,
    ctx: &QueryContext<'_>,
    deadline_at: Instant,
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
        match exchange(a.client, a.adapter, a.ctx).await {
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
    let answer = exchange(client, adapter, ctx).await?;
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
        .map_err(|e| CallError::from_reqwest(&e))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(CallError::Redirect(status.as_u16()));
    }
    if status != reqwest::StatusCode::OK {
        return Err(CallError::Status(status.as_u16()));
    }
    let limit = adapter.max_answer_bytes;
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
    super::translate::answer(adapter, bytes, ctx.settings.max_entries_per_answer).await
}
