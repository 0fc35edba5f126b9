//! The administration API (role `admin`): reload the TLS material, list what is loaded.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::State;
use super::problem::Problem;
use super::routes::{actor, json, record};
use crate::pki::Identity;
use crate::view::ReloadView;

/// `POST /admin/v1/reload`: every TLS set now; the outcome is audited.
pub(super) async fn reload(
    who: &Identity,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let reloader = &state.reloader;
    let outcome = reloader.reload_all(&state.fanout, &format!("admin API ({who})"));
    let failed = !outcome.errors.is_empty();
    let event = crate::audit::Event {
        kind: "reload".into(),
        actor: actor(who),
        purpose: None,
        person: None,
        offices: Vec::new(),
        result: if failed { "failed" } else { "reloaded" }.into(),
        detail: failed.then(|| outcome.errors.join("; ")),
    };
    record(state, event).await?;
    if failed {
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
