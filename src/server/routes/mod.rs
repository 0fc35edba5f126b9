//! The dispatcher of the public and administration API: a request is matched against
//! the route table ([`table::ROUTES`]), the caller's role checked, the typed path
//! parameters parsed, then the handler runs. Business work is delegated: the fan-out,
//! the protection, the views. Every answer is a success or a problem document.

mod accesses;
mod account;
mod message_read;
mod messages;
mod notifications;
mod replies;
mod submissions;
pub mod table;

pub(crate) use replies::reply_view;

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::State;
use super::end_user::Presented;
use super::problem::Problem;
use crate::audit::{Actor, Event};
use crate::model::Identity;
use crate::view::HealthView;
use table::{Handler, Matched, NoRoute};

pub use table::{Access, ROUTES, Route};

/// The metric label of requests that match no route.
const UNMATCHED: &str = "other";

/// Routes one request. `peer` is the identity read from the client certificate (`None`
/// when the certificate is valid but carries no guichet role).
pub(crate) async fn route(
    req: Request<Incoming>,
    peer: Option<Arc<Identity>>,
    state: Arc<State>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let (label, response) = match table::resolve(req.method().as_str(), &path) {
        Ok(m) => {
            let label = m.route.path;
            let answer = serve(&m, req, peer.as_deref(), &state).await;
            (label, answer.unwrap_or_else(Problem::into_response))
        }
        Err(NoRoute::NotFound) => (UNMATCHED, Problem::not_found(&path).into_response()),
        Err(NoRoute::Method { path, allow }) => {
            let mut response = Problem::method_not_allowed(&allow).into_response();
            if let Ok(v) = hyper::header::HeaderValue::from_str(&allow) {
                response.headers_mut().insert(hyper::header::ALLOW, v);
            }
            (path, response)
        }
    };
    let labels = crate::metrics::RouteLabels {
        route: label,
        status: response.status().as_u16(),
    };
    crate::metrics::METRICS
        .requests
        .get_or_create(&labels)
        .inc();
    response
}

/// The matching and parsing layer alone, without state or I/O: the route of `method` and
/// `target` (path and query), its typed path parameters, and the query and headers its
/// handler parses before any work (deadline, years, trace, `If-Match`). Roles and bodies
/// are not looked at. For the fuzz target and property tests: it must never panic, and
/// a refusal is a `4xx` problem.
pub fn inspect(
    method: &str,
    target: &str,
    headers: &[(&[u8], &[u8])],
) -> Result<&'static table::Route, Problem> {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let m = match table::resolve(method, path) {
        Ok(m) => m,
        Err(NoRoute::NotFound) => return Err(Problem::not_found(path)),
        Err(NoRoute::Method { allow, .. }) => return Err(Problem::method_not_allowed(&allow)),
    };
    m.params()?;
    let mut map = hyper::HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(name),
            hyper::header::HeaderValue::from_bytes(value),
        ) {
            map.append(n, v);
        }
    }
    match m.route.handler {
        Handler::Account => account::Ask::parse(query, &map).map(|_| ())?,
        Handler::AdapterPut | Handler::AdapterDelete => {
            super::adapters::if_match(&map).map(|_| ())?
        }
        Handler::SubmissionCreate | Handler::MessageSend => {
            submissions::idempotency_key(&map).map(|_| ())?
        }
        Handler::MessageList | Handler::InboxList => replies::page_query(query, 1).map(|_| ())?,
        _ => {}
    }
    Ok(m.route)
}

/// Role check, typed parameters, then the route's handler.
async fn serve(
    m: &Matched<'_>,
    req: Request<Incoming>,
    peer: Option<&Identity>,
    state: &Arc<State>,
) -> Result<Response<Full<Bytes>>, Problem> {
    if matches!(
        m.route.handler,
        Handler::AdapterPut | Handler::AdapterDelete | Handler::AdapterRollback
    ) {
        // Administrative writes are audited even when the role is refused.
        return super::adapters::write(m, req, peer, state).await;
    }
    let (caller, p) = match m.admit(peer).and_then(|c| Ok((c, m.params()?))) {
        Ok(checked) => checked,
        Err(refused) => {
            drain(req.into_body()).await;
            return Err(refused);
        }
    };
    let who = || caller.ok_or_else(|| Problem::internal("role route without a caller"));
    match m.route.handler {
        Handler::Health => health(),
        Handler::OpenApi => Ok(openapi()),
        Handler::Account => {
            let presented = Presented::of(&req);
            account::get(req.uri().query(), &presented, who()?, p.vn()?, state).await
        }
        Handler::Accesses => accesses::get(&Presented::of(&req), who()?, p.vn()?, state).await,
        Handler::AccountChanged => notifications::account_changed(req, who()?, state).await,
        Handler::AdapterList => super::adapters::list(state),
        Handler::AdapterGet => super::adapters::one(p.office()?, state),
        Handler::AdapterPut | Handler::AdapterDelete | Handler::AdapterRollback => {
            Err(Problem::internal("adapter write outside its audit"))
        }
        Handler::AdminReload => super::admin::reload(who()?, state).await,
        Handler::AdminCertificates => super::admin::certificates(state),
        Handler::AdminAuditHead => super::admin::audit_head(state),
        Handler::SubmissionCreate => submissions::create(req, who()?, state).await,
        Handler::SubmissionGet => submissions::get(who()?, p.submission()?, state).await,
        Handler::SubmissionReceipts => submissions::receipts(who()?, p.submission()?, state).await,
        Handler::MessageSend => messages::send(req, who()?, state).await,
        Handler::MessageList => messages::list(req, who()?, p.vn()?, state).await,
        Handler::MessageGet => message_read::get(req, who()?, p.message()?, state).await,
        Handler::MessageAttachment => {
            message_read::attachment(req, who()?, p.message()?, p.index()?, state).await
        }
        Handler::MessageReceipts => messages::receipts(who()?, p.message()?, state).await,
        Handler::MessageReply => replies::reply(req, who()?, p.message()?, state).await,
        Handler::InboxList => replies::inbox(req, who()?, p.office()?, state).await,
        Handler::InboxAck => replies::acknowledge(who()?, p.office()?, p.message()?, state).await,
    }
}

/// The most of a refused request's body read (and dropped) before the answer, so that a
/// client still sending gets the answer rather than a reset connection.
const DRAIN_CAP: usize = 256 * 1024;

/// Reads and drops what the client sends, up to [`DRAIN_CAP`] and for at most a second.
pub(super) async fn drain(mut body: Incoming) {
    let read = async {
        let mut seen = 0usize;
        while seen <= DRAIN_CAP {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, Bytes::len),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), read).await;
}

/// The request body, at most `limit` bytes; beyond it the rest is drained (up to
/// [`DRAIN_CAP`]) and the answer is `413` naming `what`.
pub(super) async fn read_body(
    mut body: Incoming,
    limit: usize,
    what: &str,
) -> Result<Bytes, Problem> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| Problem::bad_request("invalid-body", "the body was cut off"))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            drain(body).await;
            return Err(Problem::too_large(format!(
                "{what} is at most {limit} bytes"
            )));
        }
        buf.extend_from_slice(data);
    }
    Ok(buf.freeze())
}

/// `GET /healthz` (any certificate of the federation).
fn health() -> Result<Response<Full<Bytes>>, Problem> {
    json(
        StatusCode::OK,
        &HealthView {
            status: "ok".into(),
        },
    )
}

/// `GET /v1/openapi.json`: the OpenAPI 3.1 document (any certificate of the federation).
fn openapi() -> Response<Full<Bytes>> {
    raw_json(StatusCode::OK, Bytes::from_static(OPENAPI.as_bytes()))
}

/// The OpenAPI document the server publishes (tests check it against [`ROUTES`]).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The audit actor of an identity.
pub(super) fn actor(id: &Identity) -> Actor {
    Actor::of(Some(id))
}

/// Appends to the audit log; an access that cannot be recorded is not served (`503`).
pub(super) async fn record(state: &State, event: Event) -> Result<(), Problem> {
    state.audit.append(event).await.map(|_| ()).map_err(|e| {
        tracing::error!(error = %e, "audit log unavailable: refusing the request");
        Problem::audit_unavailable("the access could not be recorded, so it is not served")
    })
}

/// A JSON answer of a view type (`500` if it cannot be serialized: never the caller's fault).
pub(super) fn json<T: serde::Serialize>(
    status: StatusCode,
    view: &T,
) -> Result<Response<Full<Bytes>>, Problem> {
    let body = serde_json::to_vec(view)
        .map_err(|_| Problem::internal("the answer could not be serialized"))?;
    Ok(raw_json(status, Bytes::from(body)))
}

pub(super) fn raw_json(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
