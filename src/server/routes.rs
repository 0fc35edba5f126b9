//! Routes of the public API: who may call what, and the parsing of paths and parameters.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};

use super::State;
use super::problem::Problem;
use crate::fanout::Query;
use crate::merge::YearRange;
use crate::model::Vn;
use crate::pki::{Identity, Role};
use crate::view::AccountView;

/// Routes one request. `peer` is the identity read from the client certificate (`None`
/// when the certificate is valid but carries no guichet role).
pub(crate) async fn route<B>(
    req: Request<B>,
    peer: Option<Arc<Identity>>,
    state: Arc<State>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let result = match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => Ok(json(
            StatusCode::OK,
            serde_json::json!({"status": "ok"}).to_string(),
        )),
        (_, "/healthz") => Err(Problem::method_not_allowed("GET")),
        (method, p) if p.starts_with("/admin/") => {
            super::admin::route(method, p, peer.as_deref(), &state)
        }
        (method, p) if p.starts_with("/v1/accounts/") => {
            if method != Method::GET {
                Err(Problem::method_not_allowed("GET"))
            } else {
                account(
                    &p["/v1/accounts/".len()..],
                    req.uri().query(),
                    peer.as_deref(),
                    &state,
                )
                .await
            }
        }
        _ => Err(Problem::not_found(&path)),
    };
    result.unwrap_or_else(Problem::into_response)
}

async fn account(
    raw_vn: &str,
    query: Option<&str>,
    peer: Option<&Identity>,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    require(peer, Role::Portal)?;
    let vn = Vn::parse(raw_vn).map_err(|e| Problem::bad_request("invalid-vn", e.to_string()))?;
    let params = Params::parse(query)?;
    let q = Query {
        vn,
        range: params.range,
        deadline: params.deadline,
    };
    let account = state.fanout.query(&q).await;
    let body = serde_json::to_string(&AccountView::from(&account)).map_err(|_| {
        Problem::bad_request("serialization", "the account could not be serialized")
    })?;
    Ok(json(StatusCode::OK, body))
}

pub(super) fn require(peer: Option<&Identity>, role: Role) -> Result<(), Problem> {
    match peer {
        Some(id) if id.role == role => Ok(()),
        Some(id) => Err(Problem::forbidden(format!(
            "role {} may not call this route (needs {role})",
            id.role
        ))),
        None => Err(Problem::forbidden(format!(
            "the client certificate carries no guichet role (needs {role})"
        ))),
    }
}

struct Params {
    range: YearRange,
    deadline: Option<Duration>,
}

impl Params {
    fn parse(query: Option<&str>) -> Result<Params, Problem> {
        let mut p = Params {
            range: YearRange::default(),
            deadline: None,
        };
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|s| !s.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let year = |v: &str| {
                v.parse::<u16>()
                    .ok()
                    .filter(|y| (1948..=2100).contains(y))
                    .ok_or_else(|| {
                        Problem::bad_request(
                            "invalid-year",
                            format!("{key} must be a year 1948–2100"),
                        )
                    })
            };
            match key {
                "yearFrom" => p.range.from = Some(year(value)?),
                "yearTo" => p.range.to = Some(year(value)?),
                "deadlineMs" => {
                    let ms = value
                        .parse::<u64>()
                        .ok()
                        .filter(|ms| (1..=600_000).contains(ms))
                        .ok_or_else(|| {
                            Problem::bad_request("invalid-deadline", "deadlineMs must be 1–600000")
                        })?;
                    p.deadline = Some(Duration::from_millis(ms));
                }
                other => {
                    let shown: String = other.chars().take(30).collect();
                    return Err(Problem::bad_request(
                        "unknown-parameter",
                        format!("unknown parameter {shown:?}"),
                    ));
                }
            }
        }
        if let (Some(from), Some(to)) = (p.range.from, p.range.to)
            && from > to
        {
            return Err(Problem::bad_request(
                "invalid-year",
                "yearFrom is after yearTo",
            ));
        }
        Ok(p)
    }
}

pub(super) fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
