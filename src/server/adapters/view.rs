//! Reading the registry over HTTP: `GET /v1/adapters` and `GET /v1/adapters/{office}`
//! (rows with versions and live health), and the answer shapes of a change.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::adapter::{Listed, Meta};
use crate::model::OfficeId;
use crate::server::State;
use crate::server::problem::Problem;
use crate::server::routes::json;
use crate::view::{AdapterRow, AdapterView, AdaptersView, ChangedView};

/// `GET /v1/adapters` (roles `admin`, `office`): the registry with versions and health.
pub(in crate::server) fn list(state: &State) -> Result<Response<Full<Bytes>>, Problem> {
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
pub(in crate::server) fn one(
    office: OfficeId,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
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

pub(super) fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(super) fn changed(office: OfficeId, meta: &Meta) -> ChangedView {
    ChangedView {
        office: office.to_string(),
        version: meta.version,
        changed_at: meta.changed_at.clone(),
        changed_by: meta.changed_by.clone(),
        probe: None,
    }
}

pub(super) fn etag(response: &mut Response<Full<Bytes>>, version: u64) {
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(hyper::header::ETAG, v);
    }
}
