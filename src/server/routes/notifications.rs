//! `POST /v1/notifications/account-changed` (role `office`): the body is the AHV number
//! (plain text, or JSON `{"vn": "…"}`); every cached account of that person is dropped,
//! on every replica of a PostgreSQL store (the notice carries the cluster's keyed hash of
//! the person, never the number).

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;

use super::super::State;
use super::super::problem::Problem;
use super::{actor, read_body, record};
use crate::audit::{Event, Kind};
use crate::model::Identity;
use crate::model::Vn;

/// Largest notification body.
pub const MAX_BODY: usize = 1024;

/// The JSON form of the body.
#[derive(Debug, Deserialize)]
struct Notification {
    vn: String,
}

/// The notification route.
pub(super) async fn account_changed(
    req: Request<Incoming>,
    office: &Identity,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let body = read_body(req.into_body(), MAX_BODY, "a notification").await?;
    let vn = parse(&body)?;
    state.protection.evict(vn);
    state.fanout.forget_register(vn);
    if let Some(cluster) = &state.cluster {
        let notice = crate::cluster::Notice::Evict(cluster.person_hash(vn));
        // Not told, the other replicas would serve the old account until their cache
        // expires: the office is asked to send the notification again.
        cluster
            .notify(&notice)
            .await
            .map_err(Problem::store_unavailable)?;
    }
    let event = Event {
        kind: Kind::AccountChanged,
        actor: actor(office),
        purpose: None,
        person: Some(state.audit.person(vn)),
        offices: Vec::new(),
        result: "evicted".into(),
        detail: None,
        binding: None,
    };
    record(state, event).await?;
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

/// The AHV number of a body: plain text, or a JSON object with a string `vn`.
fn parse(body: &[u8]) -> Result<Vn, Problem> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Problem::bad_request("invalid-body", "the body is not UTF-8"))?;
    let raw = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Notification>(text)
            .map(|n| n.vn)
            .unwrap_or_default()
    } else {
        text.trim().to_owned()
    };
    Vn::parse(&raw).map_err(Problem::from)
}
