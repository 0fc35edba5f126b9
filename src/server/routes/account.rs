//! `GET /v1/accounts/{vn}` (role `portal`): the consolidated account of one person.
//! One function per step: parameters → cache or fan-out → audit → response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Response, StatusCode};

use super::super::State;
use super::super::end_user::{self, Presented};
use super::super::problem::Problem;
use super::super::protect::{CacheKey, CacheResult, Lookup};
use super::{actor, json, record};
use crate::audit::{Binding, Event, Kind};
use crate::fanout::{Query, REGISTER_LABEL, RegisterUnavailable};
use crate::merge::{ConsolidatedAccount, YearRange};
use crate::model::{Identity, RegisterStatus, Vn};
use crate::telemetry::{QueryFacts, QuerySpan};
use crate::trace::Trace;
use crate::view::AccountView;

/// First and last year a query may name.
pub const YEARS: std::ops::RangeInclusive<u16> = 1948..=2100;
/// Range of `deadlineMs`.
pub const DEADLINE_MS: std::ops::RangeInclusive<u64> = 1..=600_000;

/// The route template, as the metrics and the query span name it.
const ROUTE: &str = "/v1/accounts/{vn}";

/// The account route: one span (when traces are exported) around the whole query,
/// refusals included.
pub(super) async fn get(
    query: Option<&str>,
    presented: &Presented<'_>,
    portal: &Identity,
    vn: Vn,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let mut trace = trace_of(presented.headers());
    let span = state.telemetry.query(&mut trace, ROUTE);
    let mut seen = Seen::default();
    let answer = serve(query, presented, portal, vn, state, trace, &span, &mut seen).await;
    let status = match &answer {
        Ok(r) => r.status().as_u16(),
        Err(p) => p.status.as_u16(),
    };
    span.finish(&QueryFacts {
        portal: &portal.name,
        purpose: &seen.purpose,
        cache: seen.cache,
        result: if answer.is_ok() {
            seen.result
        } else {
            "refused"
        },
        offices: seen.offices,
        failed: seen.failed,
        status,
    });
    answer
}

/// What the query span is told at its end (the person never).
#[derive(Debug, Default)]
struct Seen {
    purpose: String,
    cache: &'static str,
    result: &'static str,
    offices: usize,
    failed: usize,
}

/// The query itself: parameters → cache or fan-out → audit → response.
#[allow(clippy::too_many_arguments)] // the route's inputs, its trace, its span and what it saw
async fn serve(
    query: Option<&str>,
    presented: &Presented<'_>,
    portal: &Identity,
    vn: Vn,
    state: &State,
    trace: Trace,
    span: &QuerySpan,
    seen: &mut Seen,
) -> Result<Response<Full<Bytes>>, Problem> {
    let headers = presented.headers();
    let purpose = super::accesses::purpose(headers, portal, state)?;
    seen.purpose.clone_from(&purpose);
    let mut ask = Ask::parse(query, headers)?;
    ask.trace = trace;
    // Before the quota, the cache and any office: a refused binding costs nothing.
    let binding = end_user::bind(&purpose, presented, vn, state)?;
    state.protection.charge(&portal.name)?;
    let started = Instant::now();
    let access = Access {
        portal,
        purpose: &purpose,
        vn,
        binding,
    };
    let (account, cache) = match fetch(vn, &ask, portal, &purpose, state, span).await? {
        Fetched::Account(account, cache) => (account, cache),
        Fetched::RegisterFailed(e) => {
            refused(state, &access, &e, ask.trace).await?;
            return Err(Problem::register_unavailable(&e));
        }
    };
    audit(state, &access, &account, cache, ask.trace).await?;
    observe(state, portal, &purpose, vn, &account, cache, &ask, started);
    seen.cache = cache.as_str();
    seen.result = outcome(cache, &account);
    seen.offices = account.sources.len();
    seen.failed = account
        .sources
        .iter()
        .filter(|s| !s.status.is_answer())
        .count();
    respond(&account, cache, ask.trace)
}

/// What the request asks besides the person: years, deadline, trace, cache bypass.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ask {
    /// Years asked for.
    pub range: YearRange,
    /// The shorter of `deadlineMs` and `Request-Timeout`.
    pub deadline: Option<Duration>,
    /// Trace context (a new one when the caller sent none or a malformed one).
    pub trace: Trace,
    /// `Cache-Control: no-cache`.
    pub bypass: bool,
}

impl Ask {
    /// Parses the query string and the headers (`400` naming the parameter on error).
    pub fn parse(query: Option<&str>, headers: &HeaderMap) -> Result<Ask, Problem> {
        let mut ask = Ask::default();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|s| !s.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "yearFrom" => ask.range.from = Some(year(key, value)?),
                "yearTo" => ask.range.to = Some(year(key, value)?),
                "deadlineMs" => {
                    let ms = whole(value)
                        .filter(|ms| DEADLINE_MS.contains(ms))
                        .ok_or_else(|| {
                            Problem::bad_request("invalid-deadline", "deadlineMs must be 1–600000")
                        })?;
                    ask.deadline = Some(Duration::from_millis(ms));
                }
                other => {
                    let shown: String = other.chars().take(30).collect();
                    return Err(Problem::bad_request(
                        "unknown-parameter",
                        format!("unknown parameter {shown:?}"),
                    ));
                }
            }
        }
        if let (Some(from), Some(to)) = (ask.range.from, ask.range.to)
            && from > to
        {
            return Err(Problem::bad_request(
                "invalid-year",
                "yearFrom is after yearTo",
            ));
        }
        if let Some(value) = headers.get("request-timeout") {
            let asked = value.to_str().ok().and_then(seconds).ok_or_else(|| {
                Problem::bad_request(
                    "invalid-deadline",
                    "Request-Timeout is a number of seconds over 0 and up to 600 with at most \
                     three decimals, e.g. 1.5",
                )
            })?;
            ask.deadline = Some(ask.deadline.map_or(asked, |d| d.min(asked)));
        }
        ask.trace = trace_of(headers);
        ask.bypass = headers.get_all("cache-control").iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("no-cache"))
        });
        Ok(ask)
    }
}

/// The caller's `traceparent`, or a new trace when it sent none or a malformed one.
fn trace_of(headers: &HeaderMap) -> Trace {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(Trace::parse)
        .unwrap_or_default()
}

fn year(key: &str, value: &str) -> Result<u16, Problem> {
    whole(value)
        .and_then(|y| u16::try_from(y).ok())
        .filter(|y| YEARS.contains(y))
        .ok_or_else(|| {
            Problem::bad_request("invalid-year", format!("{key} must be a year 1948–2100"))
        })
}

/// A whole number written with ASCII digits only (no sign, no space: what the OpenAPI
/// document's `integer` admits in a query string).
fn whole(value: &str) -> Option<u64> {
    let digits =
        !value.is_empty() && value.len() <= 19 && value.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| value.parse().ok()).flatten()
}

/// `Request-Timeout`: seconds over 0 and up to 600, at most three decimals, no leading
/// zero (`1.5`, `0.25`, `600`) — exactly the pattern the OpenAPI document gives.
pub fn seconds(value: &str) -> Option<Duration> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let shape = (1..=3).contains(&int.len())
        && digits(int)
        && (int == "0" || !int.starts_with('0'))
        && (value.len() == int.len() || (1..=3).contains(&frac.len()))
        && digits(frac);
    if !shape {
        return None;
    }
    let mut millis: u64 = int.parse().ok()?;
    for i in 0..3 {
        let d = frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
        millis = millis * 10 + d;
    }
    (1..=600_000)
        .contains(&millis)
        .then(|| Duration::from_millis(millis))
}

/// The result of the query as audited and logged.
fn outcome(cache: CacheResult, account: &ConsolidatedAccount) -> &'static str {
    match (cache, account.complete) {
        (CacheResult::Hit, _) => "cached",
        (_, true) => "complete",
        (_, false) => "incomplete",
    }
}

/// What a fetch gives: the account, or the register's failure (`on_register_failure =
/// "fail"`).
enum Fetched {
    Account(Arc<ConsolidatedAccount>, CacheResult),
    RegisterFailed(RegisterUnavailable),
}

/// From the cache (keyed by portal, purpose, person and years), or a fan-out to the
/// planned offices within the in-flight cap.
async fn fetch(
    vn: Vn,
    ask: &Ask,
    portal: &Identity,
    purpose: &str,
    state: &State,
    span: &QuerySpan,
) -> Result<Fetched, Problem> {
    let key = CacheKey {
        portal: portal.name.clone(),
        purpose: purpose.to_owned(),
        vn,
        range: ask.range,
    };
    let cache = match state.protection.lookup(&key, ask.bypass) {
        Lookup::Hit(account) => return Ok(Fetched::Account(account, CacheResult::Hit)),
        Lookup::Ask(cache) => cache,
    };
    let _slot = state.protection.enter()?;
    let q = Query {
        vn,
        range: ask.range,
        deadline: ask.deadline,
        purpose,
        trace: ask.trace,
        span: Some(span),
    };
    let account = match state.fanout.query(&q).await {
        Ok(account) => Arc::new(account),
        Err(e) => return Ok(Fetched::RegisterFailed(e)),
    };
    state.protection.remember(key, &account);
    Ok(Fetched::Account(account, cache))
}

/// The access that ended in a `503` because the register failed: the register was asked
/// about the person, so the record names it (and no office).
async fn refused(
    state: &State,
    access: &Access<'_>,
    e: &RegisterUnavailable,
    trace: Trace,
) -> Result<(), Problem> {
    let event = Event {
        kind: Kind::AccountQuery,
        actor: actor(access.portal),
        purpose: Some(access.purpose.to_owned()),
        person: Some(state.audit.person(access.vn)),
        offices: vec![(REGISTER_LABEL.to_owned(), e.status.name().to_owned())],
        result: "503".into(),
        detail: Some(format!(
            "trace {}; routing register, register failed, no office asked",
            trace.trace_hex()
        )),
        binding: access.binding.clone(),
    };
    record(state, event).await
}

/// Who asked about whom, why, and what bound the request.
struct Access<'a> {
    portal: &'a Identity,
    purpose: &'a str,
    vn: Vn,
    binding: Option<Binding>,
}

/// The access in the audit log; an access that cannot be recorded is not served.
async fn audit(
    state: &State,
    access: &Access<'_>,
    account: &ConsolidatedAccount,
    cache: CacheResult,
    trace: Trace,
) -> Result<(), Problem> {
    let result = outcome(cache, account);
    let mut offices: Vec<(String, String)> = if cache == CacheResult::Hit {
        Vec::new()
    } else {
        account
            .sources
            .iter()
            .map(|s| (s.office.to_string(), s.status.name().to_owned()))
            .collect()
    };
    let mut detail = format!("trace {}", trace.trace_hex());
    // The register's answer (status, asOf) and how the offices were chosen.
    if let Some(r) = account
        .routing
        .as_ref()
        .filter(|_| cache != CacheResult::Hit)
    {
        if r.register.status != RegisterStatus::Skipped {
            offices.push((
                REGISTER_LABEL.to_owned(),
                r.register.status.name().to_owned(),
            ));
        }
        detail.push_str(&format!("; routing {}", r.mode.name()));
        if let Some(as_of) = r.register.as_of {
            detail.push_str(&format!(", register asOf {as_of}"));
        }
        if r.register.cached {
            detail.push_str(", register answer cached");
        }
        if r.fallback {
            detail.push_str(", register failed: every office asked");
        }
        detail.push_str(&format!(", asked {}, not asked {}", r.asked, r.not_asked));
    }
    let event = Event {
        kind: Kind::AccountQuery,
        actor: actor(access.portal),
        purpose: Some(access.purpose.to_owned()),
        person: Some(state.audit.person(access.vn)),
        offices,
        result: result.into(),
        detail: Some(detail),
        binding: access.binding.clone(),
    };
    record(state, event).await
}

/// Metrics and the access log line (a pseudonym, never the AHV number).
#[allow(clippy::too_many_arguments)] // one line of facts about one query
fn observe(
    state: &State,
    portal: &Identity,
    purpose: &str,
    vn: Vn,
    account: &ConsolidatedAccount,
    cache: CacheResult,
    ask: &Ask,
    started: Instant,
) {
    let m = &crate::metrics::METRICS;
    m.query_seconds.observe(started.elapsed().as_secs_f64());
    if cache != CacheResult::Off {
        let kind = crate::metrics::KindLabels {
            kind: cache.as_str(),
        };
        m.cache.get_or_create(&kind).inc();
    }
    let failed = account
        .sources
        .iter()
        .filter(|s| !s.status.is_answer())
        .count();
    let result = outcome(cache, account);
    tracing::info!(
        target: "guichet::access",
        person = %state.audit.pseudonym(vn),
        portal = %portal.name,
        %purpose,
        result,
        offices = account.sources.len(),
        failed,
        ms = started.elapsed().as_millis() as u64,
        trace = %ask.trace.trace_hex(),
        "account query"
    );
}

/// The account view with `guichet-cache`, `traceparent` and `x-request-id`.
fn respond(
    account: &ConsolidatedAccount,
    cache: CacheResult,
    trace: Trace,
) -> Result<Response<Full<Bytes>>, Problem> {
    let mut response = json(StatusCode::OK, &AccountView::from(account))?;
    let h = response.headers_mut();
    h.insert("guichet-cache", HeaderValue::from_static(cache.as_str()));
    if let Ok(v) = HeaderValue::from_str(&trace.header()) {
        h.insert("traceparent", v);
    }
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-request-id", v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_timeout_is_exactly_the_documented_grammar() {
        for (v, ms) in [
            ("1.5", 1500),
            ("0.25", 250),
            ("600", 600_000),
            ("0.001", 1),
            ("12.3", 12_300),
        ] {
            assert_eq!(seconds(v), Some(Duration::from_millis(ms)), "{v}");
        }
        for v in [
            "0", "0.000", "600.001", "601", "01", "1.", ".5", "1.2345", "+1", "1e2", "inf", " 1",
            "", "é",
        ] {
            assert_eq!(seconds(v), None, "{v:?}");
        }
    }

    #[test]
    fn query_numbers_are_digits_only() {
        assert_eq!(whole("2020"), Some(2020));
        for v in ["+5", "-1", " 5", "5 ", "", "1e3", "99999999999999999999"] {
            assert_eq!(whole(v), None, "{v:?}");
        }
        let h = HeaderMap::new();
        assert!(Ask::parse(Some("yearFrom=2000&yearTo=1999"), &h).is_err());
        assert!(Ask::parse(Some("yearFrom=+2000"), &h).is_err());
        assert!(Ask::parse(Some("deadlineMs=600001"), &h).is_err());
        let ask = Ask::parse(Some("yearFrom=1948&yearTo=2100&deadlineMs=5"), &h).expect("valid");
        assert_eq!(ask.deadline, Some(Duration::from_millis(5)));
    }
}
