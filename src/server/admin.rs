//! The administration API (role `admin`): reload the TLS material, list what is loaded.

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
            let outcome = reloader.reload_all(&state.fanout, &format!("admin API ({who})"));
            let event = crate::audit::Event {
                kind: "reload".into(),
                actor: super::routes::actor_of(peer),
                purpose: None,
                person: None,
                offices: Vec::new(),
                result: if outcome.errors.is_empty() {
                    "reloaded".into()
                } else {
                    "failed".into()
                },
                detail: (!outcome.errors.is_empty()).then(|| outcome.errors.join("; ")),
            };
            super::routes::record(state, event).await?;
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
        _ => Err(Problem::not_found(path)),
    }
}
