//! `GET /v1/accounts/{vn}/accesses` (role `portal`, purpose `self-service`, the token of
//! that very person whatever `[privacy]` says): who looked at this person's account, when
//! and why — from the audit log. Also the purpose check every portal route shares.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{HeaderMap, Response, StatusCode};

use super::super::State;
use super::super::end_user::{self, Presented};
use super::super::problem::Problem;
use super::{actor, json, record};
use crate::audit::{Event, Kind, Record};
use crate::model::Identity;
use crate::model::Vn;
use crate::view::{AccessView, AccessesView, CallerView};

/// The accesses route.
pub(super) async fn get(
    presented: &Presented<'_>,
    portal: &Identity,
    vn: Vn,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let purpose = purpose(presented.headers(), portal, state)?;
    if purpose != "self-service" {
        return Err(Problem::forbidden(
            "the accesses of a person are shown for the purpose self-service only",
        ));
    }
    let end_user = end_user::require_end_user(presented, vn, state)?;
    state.protection.charge(&portal.name)?;
    let audit = state.audit.clone();
    let records = tokio::task::spawn_blocking(move || audit.accesses(vn))
        .await
        .map_err(|_| Problem::audit_unavailable("the audit log could not be read"))?
        .map_err(|e| {
            tracing::error!(error = %e, "audit log unreadable");
            Problem::audit_unavailable("the audit log could not be read")
        })?;
    let view = AccessesView {
        vn: vn.digits(),
        accesses: records.iter().map(access).collect(),
    };
    let event = Event {
        kind: Kind::AccessesQuery,
        actor: actor(portal),
        purpose: Some(purpose),
        person: Some(state.audit.person(vn)),
        offices: Vec::new(),
        result: format!("{} accesses", view.accesses.len()),
        detail: None,
        binding: Some(end_user.binding()),
    };
    record(state, event).await?;
    json(StatusCode::OK, &view)
}

fn access(r: &Record) -> AccessView {
    AccessView {
        time: r.time.clone(),
        caller: CallerView {
            role: serde_json::to_value(r.event.actor.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            name: r.event.actor.name.clone(),
        },
        purpose: r.event.purpose.clone(),
    }
}

/// The stated purpose: present, known, and allowed for this portal — else `403`.
pub(super) fn purpose(
    headers: &HeaderMap,
    portal: &Identity,
    state: &State,
) -> Result<String, Problem> {
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
