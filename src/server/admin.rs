//! The administration API (role `admin`): reload the TLS material (and the identity
//! providers' JWKS files that changed), list what is loaded,
//! show the audit log's head and newest signed checkpoint.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::State;
use super::problem::Problem;
use super::routes::{actor, json};
use crate::model::Identity;
use crate::view::{AuditHeadView, ReloadView};

/// `POST /admin/v1/reload`: every TLS set now; the outcome is audited.
pub(super) async fn reload(
    who: &Identity,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let trigger = format!("admin API ({who})");
    // Recorded before anything is swapped; an unrecorded reload does not happen.
    let outcome = state
        .reloader
        .reload_all(&state.fanout, &state.audit, actor(who), &trigger)
        .map_err(|_| {
            Problem::audit_unavailable("the reload could not be recorded, so it was not applied")
        })?;
    super::reload::reload_jwks(state, &trigger);
    if !outcome.errors.is_empty() {
        return Err(Problem::reload_failed(outcome.errors.join("; ")));
    }
    let view = ReloadView {
        status: "reloaded",
        reload: &outcome,
    };
    json(StatusCode::OK, &view)
}

/// `GET /admin/v1/certificates`: the loaded material with days left, CRLs, last reload.
pub(super) fn certificates(state: &State) -> Result<Response<Full<Bytes>>, Problem> {
    let reloader = &state.reloader;
    json(StatusCode::OK, &reloader.status())
}

/// `GET /admin/v1/audit/head`: the chain's head, the newest signed checkpoint and the
/// checkpoint public key ([`AuditHeadView`]).
pub(super) fn audit_head(state: &State) -> Result<Response<Full<Bytes>>, Problem> {
    let (head, checkpoint) = state.audit.head();
    let view = AuditHeadView::new(head, checkpoint, state.audit.public_key());
    json(StatusCode::OK, &view)
}
