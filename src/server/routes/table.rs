//! The route table: every route of the public and administration API declared once
//! (method, path template with typed parameters, roles, handler, OpenAPI operation id).
//! The dispatcher, the metric label and the OpenAPI consistency test all read [`ROUTES`].
//! Paths are matched segment by segment; nothing here slices by byte offsets, and no
//! input reaches a panic (a cargo-fuzz target and a proptest feed it arbitrary requests).

use crate::model::{Identity, Role};
use crate::model::{OfficeId, Vn};
use crate::store::{MessageId, SubmissionId};

use super::super::problem::Problem;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any client with a certificate of the federation, even one without a guichet role.
    Any,
    /// Only these roles (`403` otherwise).
    Roles(&'static [Role]),
}

/// What serves a route (the dispatcher maps each to its function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `GET /healthz`.
    Health,
    /// `GET /v1/openapi.json`.
    OpenApi,
    /// `GET /v1/accounts/{vn}`.
    Account,
    /// `GET /v1/accounts/{vn}/accesses`.
    Accesses,
    /// `POST /v1/notifications/account-changed`.
    AccountChanged,
    /// `GET /v1/adapters`.
    AdapterList,
    /// `GET /v1/adapters/{office}`.
    AdapterGet,
    /// `PUT /v1/adapters/{office}`.
    AdapterPut,
    /// `DELETE /v1/adapters/{office}`.
    AdapterDelete,
    /// `POST /v1/adapters/{office}/rollback`.
    AdapterRollback,
    /// `POST /admin/v1/reload`.
    AdminReload,
    /// `GET /admin/v1/certificates`.
    AdminCertificates,
    /// `GET /admin/v1/audit/head`.
    AdminAuditHead,
    /// `POST /v1/submissions`.
    SubmissionCreate,
    /// `GET /v1/submissions/{id}`.
    SubmissionGet,
    /// `GET /v1/submissions/{id}/receipts`.
    SubmissionReceipts,
    /// `POST /v1/messages`.
    MessageSend,
    /// `GET /v1/persons/{vn}/messages`.
    MessageList,
    /// `GET /v1/messages/{id}`.
    MessageGet,
    /// `GET /v1/messages/{id}/attachments/{n}`.
    MessageAttachment,
    /// `GET /v1/messages/{id}/receipts`.
    MessageReceipts,
    /// `POST /v1/messages/{id}/replies`.
    MessageReply,
    /// `GET /v1/offices/{office}/inbox`.
    InboxList,
    /// `POST /v1/offices/{office}/inbox/{id}/ack`.
    InboxAck,
}

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// HTTP method (upper case, as on the wire).
    pub method: &'static str,
    /// Path template as in the OpenAPI document; `{vn}` and `{office}` are typed
    /// parameters ([`Param`]). Also the `route` label of the request metric.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What serves it.
    pub handler: Handler,
    /// The `operationId` of the route in the OpenAPI document.
    pub operation_id: &'static str,
}

const PORTAL: Access = Access::Roles(&[Role::Portal]);
const OFFICE: Access = Access::Roles(&[Role::Office]);
const ADMIN: Access = Access::Roles(&[Role::Admin]);
const ADMIN_OR_OFFICE: Access = Access::Roles(&[Role::Admin, Role::Office]);

const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: Handler,
    operation_id: &'static str,
) -> Route {
    Route {
        method,
        path,
        access,
        handler,
        operation_id,
    }
}

/// Every route served. The OpenAPI document describes exactly these (tests check both
/// ways); the metric label of a request is its route's `path`.
pub const ROUTES: &[Route] = &[
    route("GET", "/healthz", Access::Any, Handler::Health, "health"),
    route(
        "GET",
        "/v1/openapi.json",
        Access::Any,
        Handler::OpenApi,
        "openapi",
    ),
    route(
        "GET",
        "/v1/accounts/{vn}",
        PORTAL,
        Handler::Account,
        "getAccount",
    ),
    route(
        "GET",
        "/v1/accounts/{vn}/accesses",
        PORTAL,
        Handler::Accesses,
        "getAccesses",
    ),
    route(
        "POST",
        "/v1/notifications/account-changed",
        OFFICE,
        Handler::AccountChanged,
        "notifyAccountChanged",
    ),
    route(
        "GET",
        "/v1/adapters",
        ADMIN_OR_OFFICE,
        Handler::AdapterList,
        "listAdapters",
    ),
    route(
        "GET",
        "/v1/adapters/{office}",
        ADMIN_OR_OFFICE,
        Handler::AdapterGet,
        "getAdapter",
    ),
    route(
        "PUT",
        "/v1/adapters/{office}",
        ADMIN_OR_OFFICE,
        Handler::AdapterPut,
        "putAdapter",
    ),
    route(
        "DELETE",
        "/v1/adapters/{office}",
        ADMIN,
        Handler::AdapterDelete,
        "deleteAdapter",
    ),
    route(
        "POST",
        "/v1/adapters/{office}/rollback",
        ADMIN,
        Handler::AdapterRollback,
        "rollbackAdapter",
    ),
    route(
        "POST",
        "/admin/v1/reload",
        ADMIN,
        Handler::AdminReload,
        "reload",
    ),
    route(
        "GET",
        "/admin/v1/certificates",
        ADMIN,
        Handler::AdminCertificates,
        "certificates",
    ),
    route(
        "GET",
        "/admin/v1/audit/head",
        ADMIN,
        Handler::AdminAuditHead,
        "auditHead",
    ),
    route(
        "POST",
        "/v1/submissions",
        PORTAL,
        Handler::SubmissionCreate,
        "createSubmission",
    ),
    route(
        "GET",
        "/v1/submissions/{id}",
        PORTAL,
        Handler::SubmissionGet,
        "getSubmission",
    ),
    route(
        "GET",
        "/v1/submissions/{id}/receipts",
        PORTAL,
        Handler::SubmissionReceipts,
        "getSubmissionReceipts",
    ),
    route(
        "POST",
        "/v1/messages",
        OFFICE,
        Handler::MessageSend,
        "sendMessage",
    ),
    route(
        "GET",
        "/v1/persons/{vn}/messages",
        PORTAL,
        Handler::MessageList,
        "listMessages",
    ),
    route(
        "GET",
        "/v1/messages/{id}",
        PORTAL,
        Handler::MessageGet,
        "getMessage",
    ),
    route(
        "GET",
        "/v1/messages/{id}/attachments/{n}",
        PORTAL,
        Handler::MessageAttachment,
        "getMessageAttachment",
    ),
    route(
        "GET",
        "/v1/messages/{id}/receipts",
        OFFICE,
        Handler::MessageReceipts,
        "getMessageReceipts",
    ),
    route(
        "POST",
        "/v1/messages/{id}/replies",
        PORTAL,
        Handler::MessageReply,
        "replyToMessage",
    ),
    route(
        "GET",
        "/v1/offices/{office}/inbox",
        OFFICE,
        Handler::InboxList,
        "getInbox",
    ),
    route(
        "POST",
        "/v1/offices/{office}/inbox/{id}/ack",
        OFFICE,
        Handler::InboxAck,
        "acknowledgeReply",
    ),
];

/// A typed path parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// `{vn}`: an AHV number ([`Vn::parse`]: 13 digits or dotted, prefix 756, check digit).
    Vn,
    /// `{office}`: an office id `NNN.NNN` ([`OfficeId`]).
    Office,
    /// `{id}`: a submission, message or reply id (a UUID).
    Id,
    /// `{n}`: a position from 0 (an attachment).
    Index,
}

impl Param {
    /// The parameter a template segment declares (`{vn}` → `Vn`); `None` for a literal.
    pub fn of_segment(segment: &str) -> Option<Param> {
        match segment {
            "{vn}" => Some(Param::Vn),
            "{office}" => Some(Param::Office),
            "{id}" => Some(Param::Id),
            "{n}" => Some(Param::Index),
            _ => None,
        }
    }
}

/// The typed parameters of a matched path.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathParams {
    vn: Option<Vn>,
    office: Option<OfficeId>,
    id: Option<uuid::Uuid>,
    index: Option<u32>,
}

impl PathParams {
    /// The AHV number of a `{vn}` route.
    pub fn vn(&self) -> Result<Vn, Problem> {
        self.vn
            .ok_or_else(|| Problem::internal("route without {vn}"))
    }

    /// The office id of an `{office}` route.
    pub fn office(&self) -> Result<OfficeId, Problem> {
        self.office
            .ok_or_else(|| Problem::internal("route without {office}"))
    }

    /// The submission id of an `{id}` route.
    pub fn submission(&self) -> Result<SubmissionId, Problem> {
        self.id
            .map(SubmissionId)
            .ok_or_else(|| Problem::internal("route without {id}"))
    }

    /// The message or reply id of an `{id}` route.
    pub fn message(&self) -> Result<MessageId, Problem> {
        self.id
            .map(MessageId)
            .ok_or_else(|| Problem::internal("route without {id}"))
    }

    /// The position of an `{n}` route.
    pub fn index(&self) -> Result<u32, Problem> {
        self.index
            .ok_or_else(|| Problem::internal("route without {n}"))
    }
}

/// A path and method matched to a route; its parameters are still raw text.
#[derive(Debug, Clone)]
pub struct Matched<'a> {
    /// The route.
    pub route: &'static Route,
    raw: Vec<(Param, &'a str)>,
}

impl Matched<'_> {
    /// The parameters, parsed (`400` naming the parameter when one is malformed).
    pub fn params(&self) -> Result<PathParams, Problem> {
        let mut p = PathParams::default();
        for (param, raw) in &self.raw {
            match param {
                Param::Vn => {
                    let vn = Vn::parse(raw).map_err(Problem::from)?;
                    p.vn = Some(vn);
                }
                Param::Office => {
                    let office = raw.parse().map_err(|e| {
                        Problem::bad_request(
                            "invalid-office",
                            format!("office id in the path: {e}"),
                        )
                    })?;
                    p.office = Some(office);
                }
                Param::Id => {
                    let id = uuid::Uuid::try_parse(raw).map_err(|_| {
                        Problem::bad_request("invalid-id", "id in the path: not a UUID")
                    })?;
                    p.id = Some(id);
                }
                Param::Index => {
                    let n = raw
                        .parse::<u32>()
                        .ok()
                        .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| {
                            Problem::bad_request(
                                "invalid-index",
                                "attachment position in the path: not a number from 0",
                            )
                        })?;
                    p.index = Some(n);
                }
            }
        }
        Ok(p)
    }

    /// The caller's identity when the route admits it; `403` naming the roles otherwise.
    pub fn admit<'i>(&self, peer: Option<&'i Identity>) -> Result<Option<&'i Identity>, Problem> {
        match self.route.access {
            Access::Any => Ok(peer),
            Access::Roles(roles) => require(peer, roles).map(Some),
        }
    }
}

/// Why no route serves a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// No route has this path (`404`).
    NotFound,
    /// The path exists with other methods (`405` with `Allow`).
    Method {
        /// The route template, for the metric label.
        path: &'static str,
        /// The `Allow` header value: the path's methods, comma-separated.
        allow: String,
    },
}

/// The route serving `method` on `path` (the path without its query).
pub fn resolve<'a>(method: &str, path: &'a str) -> Result<Matched<'a>, NoRoute> {
    let mut allow: Vec<&'static str> = Vec::new();
    let mut template = None;
    for route in ROUTES {
        let Some(raw) = match_path(route.path, path) else {
            continue;
        };
        if route.method == method {
            return Ok(Matched { route, raw });
        }
        template.get_or_insert(route.path);
        if !allow.contains(&route.method) {
            allow.push(route.method);
        }
    }
    match template {
        Some(path) => Err(NoRoute::Method {
            path,
            allow: allow.join(", "),
        }),
        None => Err(NoRoute::NotFound),
    }
}

/// The raw parameters when `path` has the shape of `template`: the same number of
/// segments, literal segments equal, parameter segments non-empty.
fn match_path<'a>(template: &'static str, path: &'a str) -> Option<Vec<(Param, &'a str)>> {
    let mut want = template.split('/');
    let mut got = path.split('/');
    let mut raw = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(raw),
            (Some(w), Some(g)) => match Param::of_segment(w) {
                Some(param) if !g.is_empty() => raw.push((param, g)),
                Some(_) => return None,
                None if w == g => {}
                None => return None,
            },
            _ => return None,
        }
    }
}

/// The identity when it carries one of `roles`; `403` naming the roles otherwise.
pub fn require<'a>(peer: Option<&'a Identity>, roles: &[Role]) -> Result<&'a Identity, Problem> {
    let needs = roles
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    match peer {
        Some(id) if roles.contains(&id.role) => Ok(id),
        Some(id) => Err(Problem::forbidden(format!(
            "role {} may not call this route (needs {needs})",
            id.role
        ))),
        None => Err(Problem::forbidden(format!(
            "the client certificate carries no guichet role (needs {needs})"
        ))),
    }
}

#[cfg(test)]
mod tests;
