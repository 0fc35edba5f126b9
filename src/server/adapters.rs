//! Routes of `/v1/adapters`: the registry with live health, and the offices' own
//! administration of their adapters — validation, conformance probe, versioned writes,
//! deletion and rollback. The work is the adapter store's; this file speaks HTTP.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response, StatusCode};

use super::State;
use super::problem::Problem;
use super::routes::table::{Handler, Matched};
use super::routes::{drain, json, read_body};
use crate::adapter::{AdapterDef, Listed, Meta, Publish, Registry};
use crate::audit::{Actor, AuditError, Event, Kind};
use crate::model::OfficeId;
use crate::model::{Identity, Role};
use crate::view::{AdapterRow, AdapterView, AdaptersView, ChangedView, ProbeView};

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

/// A change of one adapter, from the API or the operator's console.
#[derive(Debug)]
pub(crate) enum Change {
    /// A new definition, made against `expected` (the version read), if given.
    Put {
        /// The definition.
        def: Box<AdapterDef>,
        /// The version the change is made against.
        expected: Option<u64>,
    },
    /// Deregistration.
    Delete {
        /// The version the change is made against.
        expected: Option<u64>,
    },
    /// The previous version, as a new one.
    Rollback,
}

impl Change {
    /// The audit record's action.
    fn action(&self) -> &'static str {
        match self {
            Change::Put { .. } => "PUT definition",
            Change::Delete { .. } => "DELETE definition",
            Change::Rollback => "POST rollback",
        }
    }
}

/// An applied change: its status (`201` for a first version) and what the API answers.
#[derive(Debug)]
pub(crate) struct Changed {
    /// `200` or `201`.
    pub status: StatusCode,
    /// The new version and, for a definition, the probe's result.
    pub view: ChangedView,
}

/// `PUT`, `DELETE` and rollback: typed office, role check, the change, and its audit
/// record (refusals by role included; a malformed office id names no adapter and is not
/// recorded).
pub(super) async fn write(
    m: &Matched<'_>,
    req: Request<Incoming>,
    peer: Option<&Identity>,
    state: &Arc<State>,
) -> Result<Response<Full<Bytes>>, Problem> {
    let (parts, body) = req.into_parts();
    let office = match m.params().and_then(|p| p.office()) {
        Ok(office) => office,
        Err(refused) => {
            drain(body).await;
            return Err(refused);
        }
    };
    let handler = m.route.handler;
    // The body first: a refusal is answered to a client that has finished sending.
    let body = match handler {
        Handler::AdapterPut => read_body(body, MAX_BODY, "an adapter definition").await,
        _ => {
            drain(body).await;
            Ok(Bytes::new())
        }
    };
    let action = match handler {
        Handler::AdapterPut => "PUT definition",
        Handler::AdapterDelete => "DELETE definition",
        _ => "POST rollback",
    };
    let result = async {
        let who = m
            .admit(peer)?
            .ok_or_else(|| Problem::internal("role route without a caller"))?;
        may_change(who, office)?;
        let change = match handler {
            Handler::AdapterPut => {
                let (def, expected) = put_body(&parts.headers, &body?, office)?;
                Change::Put {
                    def: Box::new(def),
                    expected,
                }
            }
            Handler::AdapterDelete => Change::Delete {
                expected: if_match(&parts.headers)?,
            },
            _ => Change::Rollback,
        };
        perform(change, office, who, state).await
    }
    .await
    .and_then(|c| respond(handler != Handler::AdapterDelete, c));
    audited(state, peer, office, action, result).await
}

/// A change made through the operator's console by `who` (its session's identity): the
/// same roles, validation, probe, versioning and audit records as the API's.
pub(crate) async fn change(
    change: Change,
    office: OfficeId,
    who: &Identity,
    state: &Arc<State>,
) -> Result<Changed, Problem> {
    let action = change.action();
    let allowed = match (&change, who.role) {
        (_, Role::Admin) | (Change::Put { .. }, Role::Office) => may_change(who, office),
        _ => Err(Problem::forbidden(format!(
            "{who} may not {action} of an adapter"
        ))),
    };
    let result = match allowed {
        Ok(()) => perform(change, office, who, state).await,
        Err(p) => Err(p),
    };
    let status = match &result {
        Ok(c) => Ok(Response::builder()
            .status(c.status)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default()),
        Err(p) => Err(p.clone()),
    };
    audited(state, Some(who), office, action, status).await?;
    result
}

/// An office's certificate changes only its own adapter.
fn may_change(who: &Identity, office: OfficeId) -> Result<(), Problem> {
    if who.role == Role::Office && who.name != office.to_string() {
        return Err(Problem::forbidden(format!(
            "the certificate of office {} may only write its own adapter, not {office}",
            who.name
        )));
    }
    Ok(())
}

async fn perform(
    change: Change,
    office: OfficeId,
    who: &Identity,
    state: &Arc<State>,
) -> Result<Changed, Problem> {
    match change {
        Change::Put { def, expected } => put(*def, expected, office, who, state).await,
        Change::Delete { expected } => delete(expected, office, who, state).await,
        Change::Rollback => rollback(office, who, state).await,
    }
}

/// The answer of an applied change, with the new version as `ETag` when `tagged`.
fn respond(tagged: bool, c: Changed) -> Result<Response<Full<Bytes>>, Problem> {
    let mut response = json(c.status, &c.view)?;
    if tagged {
        etag(&mut response, c.view.version);
    }
    Ok(response)
}

/// The `adapter-change` record of a change request (its outcome, or the refusal).
async fn audited(
    state: &State,
    peer: Option<&Identity>,
    office: OfficeId,
    action: &str,
    result: Result<Response<Full<Bytes>>, Problem>,
) -> Result<Response<Full<Bytes>>, Problem> {
    let outcome = match &result {
        Ok(r) => r.status().as_u16().to_string(),
        Err(p) => p.status.as_u16().to_string(),
    };
    let event = Event {
        kind: Kind::AdapterChange,
        actor: Actor::of(peer),
        purpose: None,
        person: None,
        offices: vec![(office.to_string(), action.to_owned())],
        result: outcome,
        detail: result.as_ref().err().map(|p| p.detail.clone()),
        binding: None,
    };
    // A change that was applied has its intent record already; if its outcome cannot
    // be recorded, answering 503 would tell the caller it did not happen.
    if let Err(p) = super::routes::record(state, event).await
        && !result.as_ref().is_ok_and(|r| r.status().is_success())
    {
        return Err(p);
    }
    result
}

/// The `adapter-intent` record of a change, which the store writes under its lock with the
/// version about to be written, before any file changes (an error refuses the change).
fn intent(
    state: &State,
    who: &Identity,
    office: OfficeId,
    action: &'static str,
) -> impl Fn(&Meta) -> Result<(), AuditError> + Send + 'static {
    let audit = state.audit.clone();
    let actor = Actor::of(Some(who));
    move |meta: &Meta| {
        let event = Event {
            kind: Kind::AdapterIntent,
            actor: actor.clone(),
            purpose: None,
            person: None,
            offices: vec![(office.to_string(), action.to_owned())],
            result: "intent".into(),
            binding: None,
            detail: Some(format!("version {}", meta.version)),
        };
        audit.append_blocking(event).map(|_| ())
    }
}

/// `GET /v1/adapters` (roles `admin`, `office`): the registry with versions and health.
pub(super) fn list(state: &State) -> Result<Response<Full<Bytes>>, Problem> {
    let registry = state.fanout.registry();
    let listed = state.adapters.list();
    let meta = |office: OfficeId| listed.iter().find(|l| l.office == office);
    let mut rows: Vec<AdapterRow> = registry
        .iter()
        .map(|a| row(state, a.office, &a.name, meta(a.office), false))
        .collect();
    rows.extend(
        registry
            .deregistered()
            .map(|(office, name)| row(state, office, name, meta(office), true)),
    );
    rows.sort_by(|a, b| a.office.cmp(&b.office));
    json(StatusCode::OK, &AdaptersView { adapters: rows })
}

/// `GET /v1/adapters/{office}` (roles `admin`, `office`): one row and its definition.
pub(super) fn one(office: OfficeId, state: &State) -> Result<Response<Full<Bytes>>, Problem> {
    let registry = state.fanout.registry();
    let listed = state.adapters.get(office);
    let deregistered = registry.deregistered().find(|(o, _)| *o == office);
    let row = match (registry.get(office), deregistered) {
        (Some(a), _) => row(state, office, &a.name, listed.as_ref(), false),
        (None, Some((_, name))) => row(state, office, name, listed.as_ref(), true),
        (None, None) => return Err(Problem::no_adapter(office)),
    };
    let view = AdapterView {
        row,
        definition: listed.as_ref().and_then(|l| l.def.clone()),
    };
    let mut response = json(StatusCode::OK, &view)?;
    if let Some(l) = &listed {
        etag(&mut response, l.meta.version);
    }
    Ok(response)
}

/// One row of the list: identity, version, last change, live health.
pub(crate) fn row(
    state: &State,
    office: OfficeId,
    name: &str,
    listed: Option<&Listed>,
    deregistered: bool,
) -> AdapterRow {
    let registry = state.fanout.registry();
    let adapter = registry.get(office);
    let guard = state.fanout.guard(office);
    let last = guard.as_ref().and_then(|g| g.last_call());
    let meta = listed.map(|l| &l.meta);
    AdapterRow {
        office: office.to_string(),
        name: name.to_owned(),
        state: if deregistered {
            "deregistered"
        } else {
            "registered"
        }
        .to_owned(),
        dialect: adapter.map(|a| a.dialect.as_str().to_owned()),
        endpoint: adapter.map(|a| a.endpoint.as_str().to_owned()),
        timeout_ms: adapter.map(|a| millis(a.timeout)),
        version: meta.map(|m| m.version),
        changed_at: meta.map(|m| m.changed_at.clone()),
        changed_by: meta.map(|m| m.changed_by.clone()),
        circuit: Some(
            guard
                .map_or("closed", |g| g.breaker_state().name())
                .to_owned(),
        ),
        last_status: last.as_ref().map(|l| l.status.to_owned()),
        last_latency_ms: last.map(|l| millis(l.latency)),
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The definition and the version a `PUT` is made against (`If-Match` or the body's).
fn put_body(
    headers: &HeaderMap,
    body: &[u8],
    office: OfficeId,
) -> Result<(AdapterDef, Option<u64>), Problem> {
    let header_version = if_match(headers)?;
    let (def, body_version) = parse_body(body, office)?;
    match (header_version, body_version) {
        (Some(h), Some(b)) if h != b => Err(Problem::bad_request(
            "version-mismatch",
            format!("If-Match says version {h}, the body says {b}"),
        )),
        (h, b) => Ok((def, h.or(b))),
    }
}

/// `PUT /v1/adapters/{office}` (`admin`, or the office itself): validation, conformance
/// probe, then the versioned write and the new registry. Nothing changes on a refusal.
async fn put(
    def: AdapterDef,
    expected: Option<u64>,
    office: OfficeId,
    who: &Identity,
    state: &Arc<State>,
) -> Result<Changed, Problem> {
    let store = Arc::clone(&state.adapters);
    let adapter = store.validate(office, &def).map_err(Problem::from)?;
    let lock = store.office_lock(office);
    let _serialized = lock.lock().await;
    store
        .check_version(office, expected)
        .map_err(Problem::from)?;
    let report = state
        .fanout
        .probe(&adapter)
        .await
        .map_err(Problem::adapter_probe_failed)?;
    let by = who.to_string();
    let intent = intent(state, who, office, "PUT definition");
    let (st, store) = (Arc::clone(state), Arc::clone(&store));
    let meta = tokio::task::spawn_blocking(move || {
        store.put(adapter, def, expected, &by, st.as_ref(), &intent)
    })
    .await
    .map_err(Problem::adapter_write_failed)?
    .map_err(Problem::from)?;
    let status = if meta.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut view = changed(office, &meta);
    view.probe = Some(ProbeView {
        status: report.status.to_owned(),
        records: report.records,
        latency_ms: millis(report.latency),
    });
    Ok(Changed { status, view })
}

/// `DELETE /v1/adapters/{office}` (`admin`): the office is then `unavailable` in answers.
async fn delete(
    expected: Option<u64>,
    office: OfficeId,
    who: &Identity,
    state: &Arc<State>,
) -> Result<Changed, Problem> {
    let store = Arc::clone(&state.adapters);
    let lock = store.office_lock(office);
    let _serialized = lock.lock().await;
    let by = who.to_string();
    let intent = intent(state, who, office, "DELETE definition");
    let (st, store) = (Arc::clone(state), Arc::clone(&store));
    let meta = tokio::task::spawn_blocking(move || {
        store.delete(office, expected, &by, st.as_ref(), &intent)
    })
    .await
    .map_err(Problem::adapter_write_failed)?
    .map_err(Problem::from)?;
    Ok(Changed {
        status: StatusCode::OK,
        view: changed(office, &meta),
    })
}

/// `POST /v1/adapters/{office}/rollback` (`admin`): the previous version, as a new one.
async fn rollback(
    office: OfficeId,
    who: &Identity,
    state: &Arc<State>,
) -> Result<Changed, Problem> {
    let store = Arc::clone(&state.adapters);
    let lock = store.office_lock(office);
    let _serialized = lock.lock().await;
    let by = who.to_string();
    let intent = intent(state, who, office, "POST rollback");
    let (st, store) = (Arc::clone(state), Arc::clone(&store));
    let meta =
        tokio::task::spawn_blocking(move || store.rollback(office, &by, st.as_ref(), &intent))
            .await
            .map_err(Problem::adapter_write_failed)?
            .map_err(Problem::from)?;
    Ok(Changed {
        status: StatusCode::OK,
        view: changed(office, &meta),
    })
}

/// The body: the fields of an adapter file, plus an optional `version` (the one the
/// change is made against); `office` may be left out (the path names it).
fn parse_body(body: &[u8], office: OfficeId) -> Result<(AdapterDef, Option<u64>), Problem> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Problem::adapter_invalid(format!("the body is not JSON: {e}")))?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(Problem::adapter_invalid("the body must be a JSON object"));
    };
    let version = match map.remove("version") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| Problem::adapter_invalid("field version: a whole number"))?,
        ),
    };
    map.entry("office")
        .or_insert_with(|| serde_json::Value::String(office.to_string()));
    let def =
        serde_json::from_value(serde_json::Value::Object(map)).map_err(Problem::adapter_invalid)?;
    Ok((def, version))
}

/// `If-Match: "7"` (also `W/"7"` or `7`): the version the change is made against.
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
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

fn changed(office: OfficeId, meta: &Meta) -> ChangedView {
    ChangedView {
        office: office.to_string(),
        version: meta.version,
        changed_at: meta.changed_at.clone(),
        changed_by: meta.changed_by.clone(),
        probe: None,
    }
}

fn etag(response: &mut Response<Full<Bytes>>, version: u64) {
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(hyper::header::ETAG, v);
    }
}
