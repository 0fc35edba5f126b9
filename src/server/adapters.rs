//! Routes of `/v1/adapters`: the registry with live health, and the offices' own
//! administration of their adapters — validation, conformance probe, versioned writes,
//! deletion and rollback. The work is the adapter store's; this file speaks HTTP.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::State;
use super::problem::Problem;
use super::routes::table::{Handler, Matched};
use super::routes::{drain, json, read_body};
use crate::adapter::{AdapterDef, Meta, Publish, Registry};
use crate::audit::{Actor, AuditError, Event, Kind};
use crate::model::OfficeId;
use crate::model::{Identity, Role};
use crate::view::{ChangedView, ProbeView};

mod body;
mod view;

pub(super) use body::if_match;
use body::put_body;
pub(crate) use view::row;
use view::{changed, etag, millis};
pub(super) use view::{list, one};

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
