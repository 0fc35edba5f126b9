//! The administration API (role `admin`): reload the TLS material, list what is loaded,
//! show the audit log's head and newest signed checkpoint.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};

use super::State;
use super::problem::Problem;
use super::routes::{json, require};
use crate::pki::{Identity, Role};

/// Routes `/admin/…`; the caller has checked the prefix.
pub(super) async fn route(
    method: &Method,
    path: &str,
    peer: Option<&Identity>,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    match path {
        "/admin/v1/reload" if method == Method::POST => {
            require(peer, &[Role::Admin])?;
            let reloader = &state.reloader;
            let who = peer.map_or_else(String::new, ToString::to_string);
            let trigger = format!("admin API ({who})");
            let actor = crate::audit::Actor::of(peer);
            // Recorded before anything is swapped; an unrecorded reload does not happen.
            let outcome = reloader
                .reload_all(&state.fanout, &state.audit, actor, &trigger)
                .map_err(|_| {
                    Problem::audit_unavailable(
                        "the reload could not be recorded, so it was not applied",
                    )
                })?;
            if outcome.errors.is_empty() {
                let body = serde_json::json!({"status": "reloaded", "reload": outcome});
                Ok(json(StatusCode::OK, body.to_string()))
            } else {
                Err(Problem::reload_failed(outcome.errors.join("; ")))
            }
        }
        "/admin/v1/reload" => Err(Problem::method_not_allowed("POST")),
        "/admin/v1/certificates" if method == Method::GET => {
            require(peer, &[Role::Admin])?;
            let reloader = &state.reloader;
            let body = serde_json::to_string(&reloader.status())
                .map_err(|_| Problem::reload_failed("the status could not be serialized"))?;
            Ok(json(StatusCode::OK, body))
        }
        "/admin/v1/certificates" => Err(Problem::method_not_allowed("GET")),
        "/admin/v1/audit/head" if method == Method::GET => {
            require(peer, &[Role::Admin])?;
            Ok(json(StatusCode::OK, crate::audit::head_json(&state.audit)))
        }
        "/admin/v1/audit/head" => Err(Problem::method_not_allowed("GET")),
        _ => Err(Problem::not_found(path)),
    }
}
