//! Routes of `/v1/adapters`: the registry with live health, and the offices' own
//! administration of their adapters — validation, conformance probe, versioned writes,
//! deletion and rollback. The work is the adapter store's; this file speaks HTTP.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use super::State;
use super::problem::Problem;
use super::routes::{json, require};
use crate::adapter::{AdapterDef, Listed, Meta, Publish, Registry, Store, StoreError};
use crate::audit::{Actor, AuditError, Event, Kind};
use crate::model::OfficeId;
use crate::pki::{Identity, Role};

/// Largest adapter definition accepted.
const MAX_BODY: usize = 64 * 1024;

impl Publish for State {
    /// A new registry: the fan-out uses it from the next query; cached accounts, made
    /// with the previous one, are dropped.
    fn publish(&self, registry: Registry) {
        self.fanout.set_registry(registry);
        self.protection.clear();
    }
}

/// Every request whose path starts with `/v1/adapters`.
pub(crate) async fn dispatch(
    req: Request<Incoming>,
    peer: Option<&Identity>,
    state: &Arc<State>,
) -> Result<Response<Full<Bytes>>, Problem> {
    let path = req.uri().path().to_owned();
    let rest = path.strip_prefix("/v1/adapters").unwrap_or_default();
    let (raw_office, action) = match rest.trim_start_matches('/').split_once('/') {
        Some((o, a)) => (o, Some(a)),
        None => (rest.trim_start_matches('/'), None),
    };
    if rest.is_empty() {
        return match *req.method() {
            Method::GET => list(peer, state),
            _ => Err(Problem::method_not_allowed("GET")),
        };
    }
    if !rest.starts_with('/') {
        return Err(Problem::not_found(&path));
    }
    let office: OfficeId = raw_office.parse().map_err(|e| {
        Problem::bad_request("invalid-office", format!("office id in the path: {e}"))
    })?;
    let method = req.method().clone();
    let mutating = method == Method::PUT || method == Method::DELETE || action == Some("rollback");
    let result = match (method.clone(), action) {
        (Method::GET, None) => one(office, peer, state),
        (Method::PUT, None) => put(req, office, peer, state).await,
        (Method::DELETE, None) => delete(req.headers(), office, peer, state).await,
        (_, None) => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
        (Method::POST, Some("rollback")) => rollback(office, peer, state).await,
        (_, Some("rollback")) => Err(Problem::method_not_allowed("POST")),
        _ => Err(Problem::not_found(&path)),
    };
    if mutating {
        let outcome = match &result {
            Ok(r) => r.status().as_u16().to_string(),
            Err(p) => p.status.as_u16().to_string(),
        };
        let event = Event {
            kind: Kind::AdapterChange,
            actor: Actor::of(peer),
            purpose: None,
            person: None,
            offices: vec![(
                office.to_string(),
                format!("{method} {}", action.unwrap_or("definition")),
            )],
            result: outcome,
            detail: result.as_ref().err().map(|p| p.detail.clone()),
        };
        // A change that was applied has its intent record already; if its outcome cannot
        // be recorded, answering 503 would tell the caller it did not happen.
        if let Err(p) = super::routes::record(state, event).await
            && !result.as_ref().is_ok_and(|r| r.status().is_success())
        {
            return Err(p);
        }
    }
    result
}

/// The `adapter-intent` record of a change, which the store writes under its lock with the
/// version about to be written, before any file changes (an error refuses the change).
fn intent(
    state: &State,
    peer: Option<&Identity>,
    office: OfficeId,
    action: &'static str,
) -> impl Fn(&Meta) -> Result<(), AuditError> + Send + 'static {
    let audit = state.audit.clone();
    let actor = Actor::of(peer);
    move |meta: &Meta| {
        let event = Event {
            kind: Kind::AdapterIntent,
            actor: actor.clone(),
            purpose: None,
            person: None,
            offices: vec![(office.to_string(), action.to_owned())],
            result: "intent".into(),
            detail: Some(format!("version {}", meta.version)),
        };
        audit.append_blocking(event).map(|_| ())
    }
}

/// `GET /v1/adapters` (roles `admin`, `office`): the registry with versions and health.
fn list(peer: Option<&Identity>, state: &State) -> Result<Response<Full<Bytes>>, Problem> {
    require(peer, &[Role::Admin, Role::Office])?;
    let registry = state.fanout.registry();
    let listed = state
        .adapters
        .as_ref()
        .map(|s| s.list())
        .unwrap_or_default();
    let meta = |office: OfficeId| listed.iter().find(|l| l.office == office);
    let mut rows: Vec<serde_json::Value> = registry
        .iter()
        .map(|a| row(state, a.office, &a.name, meta(a.office), false))
        .collect();
    rows.extend(
        registry
            .deregistered()
            .map(|(office, name)| row(state, office, name, meta(office), true)),
    );
    rows.sort_by(|a, b| a["office"].as_str().cmp(&b["office"].as_str()));
    Ok(json(
        StatusCode::OK,
        serde_json::json!({ "adapters": rows }).to_string(),
    ))
}

/// `GET /v1/adapters/{office}` (roles `admin`, `office`): one row and its definition.
fn one(
    office: OfficeId,
    peer: Option<&Identity>,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    require(peer, &[Role::Admin, Role::Office])?;
    let registry = state.fanout.registry();
    let listed = state.adapters.as_ref().and_then(|s| s.get(office));
    let deregistered = registry.deregistered().find(|(o, _)| *o == office);
    let mut body = match (registry.get(office), deregistered) {
        (Some(a), _) => row(state, office, &a.name, listed.as_ref(), false),
        (None, Some((_, name))) => row(state, office, name, listed.as_ref(), true),
        (None, None) => return Err(no_adapter(office)),
    };
    if let Some(def) = listed.as_ref().and_then(|l| l.def.as_ref()) {
        body["definition"] = serde_json::to_value(def).unwrap_or_default();
    }
    let mut response = json(StatusCode::OK, body.to_string());
    if let Some(l) = &listed {
        etag(&mut response, l.meta.version);
    }
    Ok(response)
}

/// One row of the list: identity, version, last change, live health.
fn row(
    state: &State,
    office: OfficeId,
    name: &str,
    listed: Option<&Listed>,
    deregistered: bool,
) -> serde_json::Value {
    let registry = state.fanout.registry();
    let adapter = registry.get(office);
    let guard = state.fanout.guard(office);
    let last = guard.as_ref().and_then(|g| g.last_call());
    let meta = listed.map(|l| &l.meta);
    serde_json::json!({
        "office": office.to_string(),
        "name": name,
        "state": if deregistered { "deregistered" } else { "registered" },
        "dialect": adapter.map(|a| a.dialect.as_str()),
        "endpoint": adapter.map(|a| a.endpoint.as_str()),
        "timeoutMs": adapter.map(|a| a.timeout.as_millis() as u64),
        "version": meta.map(|m| m.version),
        "changedAt": meta.map(|m| m.changed_at.as_str()),
        "changedBy": meta.map(|m| m.changed_by.as_str()),
        "circuit": guard.map_or("closed", |g| g.breaker_state().name()),
        "lastStatus": last.as_ref().map(|l| l.status),
        "lastLatencyMs": last.map(|l| l.latency.as_millis() as u64),
    })
}

/// `PUT /v1/adapters/{office}` (`admin`, or the office itself): validation, conformance
/// probe, then the versioned write and the new registry. Nothing changes on a refusal.
async fn put(
    req: Request<Incoming>,
    office: OfficeId,
    peer: Option<&Identity>,
    state: &Arc<State>,
) -> Result<Response<Full<Bytes>>, Problem> {
    let who = require(peer, &[Role::Admin, Role::Office])?;
    if who.role == Role::Office && who.name != office.to_string() {
        return Err(Problem::forbidden(format!(
            "the certificate of office {} may only write its own adapter, not {office}",
            who.name
        )));
    }
    let store = store(state)?;
    let header_version = if_match(req.headers())?;
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| Problem {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            slug: "too-large",
            title: "Body too large",
            detail: format!("an adapter definition is at most {MAX_BODY} bytes"),
            retry_after: None,
        })?
        .to_bytes();
    let (def, body_version) = parse_body(&body, office)?;
    let expected = match (header_version, body_version) {
        (Some(h), Some(b)) if h != b => {
            return Err(Problem::bad_request(
                "version-mismatch",
                format!("If-Match says version {h}, the body says {b}"),
            ));
        }
        (h, b) => h.or(b),
    };
    let adapter = store
        .validate(office, &def)
        .map_err(|e| refused("validation", e))?;
    let lock = store.office_lock(office);
    let _serialized = lock.lock().await;
    store.check_version(office, expected).map_err(problem)?;
    let report = state
        .fanout
        .probe(&adapter)
        .await
        .map_err(|e| refused("probe", e))?;
    let by = who.to_string();
    let intent = intent(state, peer, office, "PUT definition");
    let (st, store) = (Arc::clone(state), Arc::clone(&store));
    let meta = tokio::task::spawn_blocking(move || {
        store.put(adapter, def, expected, &by, st.as_ref(), &intent)
    })
    .await
    .map_err(|e| write_failed(e.to_string()))?
    .map_err(problem)?;
    let status = if meta.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut body = changed(office, &meta);
    body["probe"] = serde_json::json!({
        "status": report.status,
        "records": report.records,
        "latencyMs": report.latency.as_millis() as u64,
    });
    let mut response = json(status, body.to_string());
    etag(&mut response, meta.version);
    Ok(response)
}

/// `DELETE /v1/adapters/{office}` (`admin`): the office is then `unavailable` in answers.
async fn delete(
    headers: &HeaderMap,
    office: OfficeId,
    peer: Option<&Identity>,
    state: &Arc<State>,
) -> Result<Response<Full<Bytes>>, Problem> {
    let who = require(peer, &[Role::Admin])?;
    let store = store(state)?;
    let expected = if_match(headers)?;
    let lock = store.office_lock(office);
    let _serialized = lock.lock().await;
    let by = who.to_string();
    let intent = intent(state, peer, office, "DELETE definition");
    let (st, store) = (Arc::clone(state), Arc::clone(&store));
    let meta = tokio::task::spawn_blocking(move || {
        store.delete(office, expected, &by, st.as_ref(), &intent)
    })
    .await
    .map_err(|e| write_failed(e.to_string()))?
    .map_err(problem)?;
    Ok(json(StatusCode::OK, changed(office, &meta).to_string()))
}

/// `POST /v1/adapters/{office}/rollback` (`admin`): the previous version, as a new one.
async fn rollback(
    office: OfficeId,
    peer: Option<&Identity>,
    state: &Arc<State>,
) -> Result<Response<Full<Bytes>>, Problem> {
    let who = require(peer, &[Role::Admin])?;
    let store = store(state)?;
    let lock = store.office_lock(office);
    let _serialized = lock.lock().await;
    let by = who.to_string();
    let intent = intent(state, peer, office, "POST rollback");
    let (st, store) = (Arc::clone(state), Arc::clone(&store));
    let meta =
        tokio::task::spawn_blocking(move || store.rollback(office, &by, st.as_ref(), &intent))
            .await
            .map_err(|e| write_failed(e.to_string()))?
            .map_err(problem)?;
    let mut response = json(StatusCode::OK, changed(office, &meta).to_string());
    etag(&mut response, meta.version);
    Ok(response)
}

/// The body: the fields of an adapter file, plus an optional `version` (the one the
/// change is made against); `office` may be left out (the path names it).
fn parse_body(body: &[u8], office: OfficeId) -> Result<(AdapterDef, Option<u64>), Problem> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| refused("validation", format!("the body is not JSON: {e}")))?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(refused("validation", "the body must be a JSON object"));
    };
    let version = match map.remove("version") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| refused("validation", "field version: a whole number"))?,
        ),
    };
    map.entry("office")
        .or_insert_with(|| serde_json::Value::String(office.to_string()));
    let def = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| refused("validation", format!("{e}")))?;
    Ok((def, version))
}

/// `If-Match: "7"` (also `W/"7"` or `7`): the version the change is made against.
fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(hyper::header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-if-match",
                "If-Match carries the adapter's version, e.g. \"3\"",
            )
        })
}

fn store(state: &State) -> Result<Arc<Store>, Problem> {
    state.adapters.clone().ok_or_else(|| Problem {
        status: StatusCode::SERVICE_UNAVAILABLE,
        slug: "adapters-read-only",
        title: "Adapter administration is off",
        detail: "this gateway does not administer its adapters folder (demo or test set-up)".into(),
        retry_after: None,
    })
}

fn changed(office: OfficeId, meta: &Meta) -> serde_json::Value {
    serde_json::json!({
        "office": office.to_string(),
        "version": meta.version,
        "changedAt": meta.changed_at,
        "changedBy": meta.changed_by,
    })
}

fn etag(response: &mut Response<Full<Bytes>>, version: u64) {
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(hyper::header::ETAG, v);
    }
}

/// `422`: which step refused the definition, and why.
fn refused(step: &'static str, why: impl std::fmt::Display) -> Problem {
    let (slug, title) = match step {
        "probe" => ("adapter-probe", "Adapter refused: conformance probe failed"),
        _ => ("adapter-validation", "Adapter refused: invalid definition"),
    };
    Problem {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        slug,
        title,
        detail: format!("{step}: {why}"),
        retry_after: None,
    }
}

fn no_adapter(office: OfficeId) -> Problem {
    Problem {
        status: StatusCode::NOT_FOUND,
        slug: "no-adapter",
        title: "No such adapter",
        detail: format!("office {office} has no adapter"),
        retry_after: None,
    }
}

fn write_failed(detail: String) -> Problem {
    tracing::error!(error = %detail, "adapter change not written");
    Problem {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        slug: "adapter-write-failed",
        title: "Adapter change not written",
        detail: format!("{detail}; the previous definition is still live"),
        retry_after: None,
    }
}

fn problem(e: StoreError) -> Problem {
    match e {
        StoreError::Conflict { .. } => Problem {
            status: StatusCode::CONFLICT,
            slug: "version-conflict",
            title: "Stale adapter version",
            detail: e.to_string(),
            retry_after: None,
        },
        StoreError::NoHistory(_) => Problem {
            status: StatusCode::CONFLICT,
            slug: "no-history",
            title: "Nothing to roll back to",
            detail: e.to_string(),
            retry_after: None,
        },
        StoreError::NotFound(office) => no_adapter(office),
        StoreError::Invalid(why) => refused("validation", why),
        StoreError::Io(why) => write_failed(why),
        StoreError::NotRecorded(e) => {
            tracing::error!(error = %e, "adapter change refused: its audit record cannot be written");
            Problem::audit_unavailable("the change could not be recorded, so it was not applied")
        }
    }
}
