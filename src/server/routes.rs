//! Routes of the public API: who may call what, and the parsing of paths, headers and
//! parameters. Business work is delegated: the fan-out, the protection, the views.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use super::State;
use super::problem::Problem;
use super::protect::{CacheKey, CacheResult, Lookup, request_timeout};
use crate::audit::{Actor, Event, Kind};
use crate::fanout::Query;
use crate::merge::YearRange;
use crate::model::Vn;
use crate::pki::{Identity, Role};
use crate::trace::Trace;
use crate::view::AccountView;

/// Routes one request. `peer` is the identity read from the client certificate (`None`
/// when the certificate is valid but carries no guichet role).
pub(crate) async fn route(
    req: Request<Incoming>,
    peer: Option<Arc<Identity>>,
    state: Arc<State>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let peer = peer.as_deref();
    let result = match (req.method().clone(), path.as_str()) {
        (Method::GET, "/healthz") => Ok(json(
            StatusCode::OK,
            serde_json::json!({"status": "ok"}).to_string(),
        )),
        (_, "/healthz") => Err(Problem::method_not_allowed("GET")),
        (Method::GET, "/v1/openapi.json") => Ok(openapi()),
        (_, "/v1/openapi.json") => Err(Problem::method_not_allowed("GET")),
        (_, p) if p == "/v1/adapters" || p.starts_with("/v1/adapters/") => {
            super::adapters::dispatch(req, peer, &state).await
        }
        (Method::POST, "/v1/notifications/account-changed") => {
            account_changed(req, peer, &state).await
        }
        (_, "/v1/notifications/account-changed") => Err(Problem::method_not_allowed("POST")),
        (method, p) if p.starts_with("/v1/accounts/") && p.ends_with("/accesses") => {
            if method != Method::GET {
                Err(Problem::method_not_allowed("GET"))
            } else {
                let raw = &p["/v1/accounts/".len()..p.len() - "/accesses".len()];
                accesses(raw, req.headers(), peer, &state).await
            }
        }
        (method, p) if p.starts_with("/admin/") => {
            super::admin::route(&method, p, peer, &state).await
        }
        (method, p) if p.starts_with("/v1/accounts/") => {
            if method != Method::GET {
                Err(Problem::method_not_allowed("GET"))
            } else {
                account(
                    &p["/v1/accounts/".len()..],
                    req.uri().query(),
                    req.headers(),
                    peer,
                    &state,
                )
                .await
            }
        }
        _ => Err(Problem::not_found(&path)),
    };
    let response = result.unwrap_or_else(Problem::into_response);
    let labels = crate::metrics::RouteLabels {
        route: route_template(&path),
        status: response.status().as_u16(),
    };
    crate::metrics::METRICS
        .requests
        .get_or_create(&labels)
        .inc();
    response
}

/// Every route served, as (method, OpenAPI path template). The OpenAPI document must
/// describe each (tests check both ways).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/accounts/{vn}"),
    ("GET", "/v1/accounts/{vn}/accesses"),
    ("POST", "/v1/notifications/account-changed"),
    ("GET", "/v1/adapters"),
    ("GET", "/v1/adapters/{office}"),
    ("PUT", "/v1/adapters/{office}"),
    ("DELETE", "/v1/adapters/{office}"),
    ("POST", "/v1/adapters/{office}/rollback"),
    ("POST", "/admin/v1/reload"),
    ("GET", "/admin/v1/certificates"),
    ("GET", "/admin/v1/audit/head"),
];

/// The OpenAPI 3.1 document (any valid client certificate).
fn openapi() -> Response<Full<Bytes>> {
    json(StatusCode::OK, include_str!("openapi.json").to_owned())
}

/// The route a path belongs to, for metrics (never the concrete path: it may hold a person).
fn route_template(path: &str) -> &'static str {
    match path {
        "/healthz" => "/healthz",
        "/v1/openapi.json" => "/v1/openapi.json",
        "/v1/notifications/account-changed" => "/v1/notifications/account-changed",
        p if p.starts_with("/v1/accounts/") && p.ends_with("/accesses") => {
            "/v1/accounts/{vn}/accesses"
        }
        p if p.starts_with("/v1/accounts/") => "/v1/accounts/{vn}",
        p if p.starts_with("/v1/adapters") => "/v1/adapters",
        p if p.starts_with("/admin/") => "/admin/v1",
        _ => "other",
    }
}

async fn account(
    raw_vn: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    peer: Option<&Identity>,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let portal = require(peer, &[Role::Portal])?;
    let purpose = purpose(headers, portal, state)?;
    let vn = Vn::parse(raw_vn).map_err(|e| Problem::bad_request("invalid-vn", e.to_string()))?;
    let mut params = Params::parse(query)?;
    if let Some(value) = headers.get("request-timeout") {
        let asked = value
            .to_str()
            .ok()
            .and_then(request_timeout)
            .ok_or_else(|| {
                Problem::bad_request(
                    "invalid-deadline",
                    "Request-Timeout is a number of seconds, e.g. 1.5",
                )
            })?;
        params.deadline = Some(params.deadline.map_or(asked, |d| d.min(asked)));
    }
    let trace = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(Trace::parse)
        .unwrap_or_default();
    state.protection.charge(&portal.name)?;
    let started = std::time::Instant::now();
    let bypass = headers.get_all("cache-control").iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("no-cache"))
    });
    let key = CacheKey {
        portal: portal.name.clone(),
        purpose: purpose.clone(),
        vn,
        range: params.range,
    };
    let (account, cache) = match state.protection.lookup(&key, bypass) {
        Lookup::Hit(account) => (account, CacheResult::Hit),
        Lookup::Ask(cache) => {
            let _slot = state.protection.enter()?;
            let q = Query {
                vn,
                range: params.range,
                deadline: params.deadline,
                purpose: &purpose,
                trace,
            };
            let account = Arc::new(state.fanout.query(&q).await);
            state.protection.remember(key, &account);
            (account, cache)
        }
    };
    let result = match (cache, account.complete) {
        (CacheResult::Hit, _) => "cached",
        (_, true) => "complete",
        (_, false) => "incomplete",
    };
    let offices = if cache == CacheResult::Hit {
        Vec::new()
    } else {
        account
            .sources
            .iter()
            .map(|s| (s.office.to_string(), s.status.name().to_owned()))
            .collect()
    };
    let event = Event {
        kind: Kind::AccountQuery,
        actor: actor(portal),
        purpose: Some(purpose.clone()),
        person: Some(state.audit.person(vn)),
        offices,
        result: result.into(),
        detail: Some(format!("trace {}", trace.trace_hex())),
    };
    record(state, event).await?;
    let m = &crate::metrics::METRICS;
    m.query_seconds.observe(started.elapsed().as_secs_f64());
    if cache != CacheResult::Off {
        m.cache
            .get_or_create(&crate::metrics::KindLabels {
                kind: cache.as_str(),
            })
            .inc();
    }
    let failed = account
        .sources
        .iter()
        .filter(|s| !s.status.is_answer())
        .count();
    tracing::info!(
        target: "guichet::access",
        person = %state.audit.pseudonym(vn),
        portal = %portal.name,
        %purpose,
        result,
        offices = account.sources.len(),
        failed,
        ms = started.elapsed().as_millis() as u64,
        trace = %trace.trace_hex(),
        "account query"
    );
    let mut response = account_response(&account, cache.as_str())?;
    let h = response.headers_mut();
    if let Ok(v) = hyper::header::HeaderValue::from_str(&trace.header()) {
        h.insert("traceparent", v);
    }
    if let Ok(v) = hyper::header::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        h.insert("x-request-id", v);
    }
    Ok(response)
}

/// The stated purpose: present, known, and allowed for this portal — else `403`.
fn purpose(headers: &HeaderMap, portal: &Identity, state: &State) -> Result<String, Problem> {
    let known = || state.privacy.purposes.join(", ");
    let stated = headers
        .get("purpose")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Problem::forbidden(format!(
                "state the purpose of the query in a Purpose header (one of {})",
                known()
            ))
        })?;
    if !state.privacy.purposes.iter().any(|p| p == stated) {
        let shown: String = stated.chars().take(40).collect();
        return Err(Problem::forbidden(format!(
            "unknown purpose {shown:?} (one of {})",
            known()
        )));
    }
    if !state.privacy.allows(&portal.name, stated) {
        return Err(Problem::forbidden(format!(
            "portal {} may not query for the purpose {stated}",
            portal.name
        )));
    }
    Ok(stated.to_owned())
}

fn actor(id: &Identity) -> Actor {
    Actor::of(Some(id))
}

/// Appends to the audit log; an access that cannot be recorded is not served (`503`).
pub(super) async fn record(state: &State, event: Event) -> Result<(), Problem> {
    state.audit.append(event).await.map(|_| ()).map_err(|e| {
        tracing::error!(error = %e, "audit log unavailable: refusing the request");
        Problem::audit_unavailable("the access could not be recorded, so it is not served")
    })
}

/// `GET /v1/accounts/{vn}/accesses` (role `portal`, purpose `self-service`): who looked
/// at this person's account, when and why — from the audit log.
async fn accesses(
    raw_vn: &str,
    headers: &HeaderMap,
    peer: Option<&Identity>,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let portal = require(peer, &[Role::Portal])?;
    let purpose = purpose(headers, portal, state)?;
    if purpose != "self-service" {
        return Err(Problem::forbidden(
            "the accesses of a person are shown for the purpose self-service only",
        ));
    }
    let vn = Vn::parse(raw_vn).map_err(|e| Problem::bad_request("invalid-vn", e.to_string()))?;
    state.protection.charge(&portal.name)?;
    let audit = state.audit.clone();
    let records = tokio::task::spawn_blocking(move || audit.accesses(vn))
        .await
        .map_err(|_| Problem::audit_unavailable("the audit log could not be read"))?
        .map_err(|e| {
            tracing::error!(error = %e, "audit log unreadable");
            Problem::audit_unavailable("the audit log could not be read")
        })?;
    let list: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            serde_json::json!({
                "time": r.time,
                "caller": {"role": r.event.actor.role, "name": r.event.actor.name},
                "purpose": r.event.purpose,
            })
        })
        .collect();
    let event = Event {
        kind: Kind::AccessesQuery,
        actor: actor(portal),
        purpose: Some(purpose),
        person: Some(state.audit.person(vn)),
        offices: Vec::new(),
        result: format!("{} accesses", list.len()),
        detail: None,
    };
    record(state, event).await?;
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "vn": vn.digits(), "accesses": list }).to_string(),
    ))
}

fn account_response(
    account: &crate::merge::ConsolidatedAccount,
    cache: &'static str,
) -> Result<Response<Full<Bytes>>, Problem> {
    let body = serde_json::to_string(&AccountView::from(account)).map_err(|_| {
        Problem::bad_request("serialization", "the account could not be serialized")
    })?;
    let mut response = json(StatusCode::OK, body);
    response.headers_mut().insert(
        "guichet-cache",
        hyper::header::HeaderValue::from_static(cache),
    );
    Ok(response)
}

/// `POST /v1/notifications/account-changed` (role `office`): the body is the AHV number
/// (plain text, or JSON `{"vn": "…"}`); every cached account of that person is dropped.
async fn account_changed(
    req: Request<Incoming>,
    peer: Option<&Identity>,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    require(peer, &[Role::Office])?;
    let body = Limited::new(req.into_body(), 1024)
        .collect()
        .await
        .map_err(|_| Problem {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            slug: "too-large",
            title: "Body too large",
            detail: "the notification body is at most 1 KiB".into(),
            retry_after: None,
        })?;
    let bytes = body.to_bytes();
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Problem::bad_request("invalid-body", "the body is not UTF-8"))?;
    let raw = if text.trim_start().starts_with('{') {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("vn").and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap_or_default()
    } else {
        text.trim().to_owned()
    };
    let vn = Vn::parse(&raw).map_err(|e| Problem::bad_request("invalid-vn", e.to_string()))?;
    state.protection.evict(vn);
    let event = Event {
        kind: Kind::AccountChanged,
        actor: actor(require(peer, &[Role::Office])?),
        purpose: None,
        person: Some(state.audit.person(vn)),
        offices: Vec::new(),
        result: "evicted".into(),
        detail: None,
    };
    record(state, event).await?;
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

pub(super) fn require<'a>(
    peer: Option<&'a Identity>,
    roles: &[Role],
) -> Result<&'a Identity, Problem> {
    let needs = roles
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    match peer {
        Some(id) if roles.contains(&id.role) => Ok(id),
        Some(id) => Err(Problem::forbidden(format!(
            "role {} may not call this route (needs {needs})",
            id.role
        ))),
        None => Err(Problem::forbidden(format!(
            "the client certificate carries no guichet role (needs {needs})"
        ))),
    }
}

struct Params {
    range: YearRange,
    deadline: Option<Duration>,
}

impl Params {
    fn parse(query: Option<&str>) -> Result<Params, Problem> {
        let mut p = Params {
            range: YearRange::default(),
            deadline: None,
        };
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|s| !s.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let year = |v: &str| {
                v.parse::<u16>()
                    .ok()
                    .filter(|y| (1948..=2100).contains(y))
                    .ok_or_else(|| {
                        Problem::bad_request(
                            "invalid-year",
                            format!("{key} must be a year 1948–2100"),
                        )
                    })
            };
            match key {
                "yearFrom" => p.range.from = Some(year(value)?),
                "yearTo" => p.range.to = Some(year(value)?),
                "deadlineMs" => {
                    let ms = value
                        .parse::<u64>()
                        .ok()
                        .filter(|ms| (1..=600_000).contains(ms))
                        .ok_or_else(|| {
                            Problem::bad_request("invalid-deadline", "deadlineMs must be 1–600000")
                        })?;
                    p.deadline = Some(Duration::from_millis(ms));
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
        if let (Some(from), Some(to)) = (p.range.from, p.range.to)
            && from > to
        {
            return Err(Problem::bad_request(
                "invalid-year",
                "yearFrom is after yearTo",
            ));
        }
        Ok(p)
    }
}

pub(super) fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
