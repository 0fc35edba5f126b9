//! Errors as `application/problem+json` (RFC 9457): the one place an error becomes HTTP.
//! Every status the server sends with a problem document is chosen here; the OpenAPI
//! document lists each under the routes that can send it.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::adapter::{DefError, StoreError};
use crate::identity::TokenError;
use crate::model::{OfficeId, VnError};
use crate::view::ProblemView;

mod messages;

/// A problem document about to be sent.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Short stable slug, also the end of the `type` URI.
    pub slug: &'static str,
    /// Human title.
    pub title: &'static str,
    /// What exactly was wrong with this request (never personal data).
    pub detail: String,
    /// `Retry-After` seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// `422` of a body: every invalid field (pointer, message).
    pub errors: Box<[(String, String)]>,
    /// `WWW-Authenticate` challenge, for 401.
    pub challenge: Option<String>,
}

impl Problem {
    fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: String) -> Self {
        Problem {
            status,
            slug,
            title,
            detail,
            retry_after: None,
            errors: Box::default(),
            challenge: None,
        }
    }

    /// `401`: the end user's token is missing or refused. The challenge and the detail
    /// name the failed check (RFC 6750 `invalid_token`), never the token.
    pub fn unauthorized(e: &TokenError) -> Problem {
        let description = e.to_string().replace(['"', '\\'], "'");
        Problem {
            challenge: Some(format!(
                "Bearer realm=\"guichet\", error=\"invalid_token\", error_description=\"{description}\""
            )),
            ..Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid-token",
                "End-user token missing or refused",
                format!("end-user token refused: {description}"),
            )
        }
    }

    /// `403`: a valid end-user token, of another person than the one asked about.
    pub fn not_the_person() -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            "other-person",
            "Token of another person",
            "the end-user token was issued for another person than the one in the request".into(),
        )
    }

    /// `400`: the request itself is wrong.
    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, slug, "Bad request", detail.into())
    }

    /// `403`: the caller's role does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Role not allowed",
            detail.into(),
        )
    }

    /// `404`: no such route (digits are dropped from the echoed path: it may hold a person).
    pub fn not_found(path: &str) -> Problem {
        let shown: String = path
            .chars()
            .take(60)
            .filter(|c| !c.is_ascii_digit())
            .collect();
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Unknown route",
            format!("no route {shown}"),
        )
    }

    /// `405`: the route exists, not with this method; `allow` lists the methods it has
    /// (the dispatcher sends it as the `Allow` header too, RFC 9110 §15.5.6).
    pub fn method_not_allowed(allow: &str) -> Problem {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("use {allow}"),
        )
    }

    /// `413`: a request body over its limit.
    pub fn too_large(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Body too large",
            detail.into(),
        )
    }

    /// `500`: a fault of the gateway itself (never the caller's input).
    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            detail.into(),
        )
    }

    /// `500`: a reload failed; the previous material stays in use.
    pub fn reload_failed(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "reload-failed",
            "Reload failed; the previous certificates stay in use",
            detail.into(),
        )
    }

    /// `503`: the audit log cannot be written or read, so the request is not served.
    pub fn audit_unavailable(detail: impl Into<String>) -> Problem {
        Problem {
            retry_after: Some(5),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit-unavailable",
                "Audit log unavailable",
                detail.into(),
            )
        }
    }

    /// `429`: a portal identity used up its quota; it may retry in `secs` (at least 1).
    pub fn rate_limited(portal: &str, secs: u64) -> Problem {
        let secs = secs.max(1);
        Problem {
            retry_after: Some(secs),
            ..Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many queries",
                format!("the quota of portal {portal} is used up; retry in {secs} s"),
            )
        }
    }

    /// `503`: every slot for a query in flight is taken.
    pub fn overloaded() -> Problem {
        Problem {
            retry_after: Some(1),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "Gateway busy",
                "too many queries in flight; retry shortly".into(),
            )
        }
    }

    /// `503`: the account register failed and `[routing] on_register_failure = "fail"`:
    /// no office was asked. Names the register and what it did, never the person.
    pub fn register_unavailable(e: &crate::fanout::RegisterUnavailable) -> Problem {
        Problem {
            retry_after: Some(1),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "register-unavailable",
                "Account register unavailable",
                e.to_string(),
            )
        }
    }

    /// `422`: an adapter definition refused by its validation.
    pub fn adapter_invalid(why: impl std::fmt::Display) -> Problem {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "adapter-validation",
            "Adapter refused: invalid definition",
            format!("validation: {why}"),
        )
    }

    /// `422`: an adapter whose conformance probe failed.
    pub fn adapter_probe_failed(why: impl std::fmt::Display) -> Problem {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "adapter-probe",
            "Adapter refused: conformance probe failed",
            format!("probe: {why}"),
        )
    }

    /// `404`: no adapter for this office.
    pub fn no_adapter(office: OfficeId) -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-adapter",
            "No such adapter",
            format!("office {office} has no adapter"),
        )
    }

    /// `500`: an adapter change could not be written; the previous one stays live.
    pub fn adapter_write_failed(detail: impl std::fmt::Display) -> Problem {
        tracing::error!(error = %detail, "adapter change not written");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "adapter-write-failed",
            "Adapter change not written",
            format!("{detail}; the previous definition is still live"),
        )
    }

    /// `422`: a submission whose fields are invalid; `errors` lists every one as a JSON
    /// pointer with a message (never the value sent).
    pub fn invalid_submission(errors: Vec<(String, String)>) -> Problem {
        let n = errors.len();
        Problem {
            errors: errors.into_boxed_slice(),
            ..Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-submission",
                "Submission refused: invalid fields",
                format!("{n} invalid field(s); see errors"),
            )
        }
    }

    /// `400`: a write without a valid `Idempotency-Key` header.
    pub fn idempotency_key(detail: impl Into<String>) -> Problem {
        Problem::bad_request("idempotency-key", detail)
    }

    /// `409`: the idempotency key was used before with another body.
    pub fn idempotency_conflict() -> Problem {
        Problem::new(
            StatusCode::CONFLICT,
            "idempotency-conflict",
            "Idempotency key reused",
            "this Idempotency-Key was used before with another body".into(),
        )
    }

    /// `404`: no submission with this id for this portal (another portal's is not shown).
    pub fn no_submission() -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-submission",
            "No such submission",
            "no submission with this id for this portal".into(),
        )
    }

    /// `422`: no routing rule decided a competent office for the claim.
    pub fn unroutable(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unroutable",
            "No competent office found",
            detail.into(),
        )
    }

    /// `503`: the submission store or the seal is unavailable; nothing was accepted.
    pub fn store_unavailable(detail: impl std::fmt::Display) -> Problem {
        tracing::error!(error = %detail, "submission store unavailable");
        Problem {
            retry_after: Some(5),
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Submission store unavailable",
                "the submission could not be stored or read; nothing was accepted".into(),
            )
        }
    }

    /// The response (with `Retry-After` when set).
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let view = ProblemView {
            kind: format!("urn:guichet:problem:{}", self.slug),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self
                .errors
                .into_vec()
                .into_iter()
                .map(|(pointer, message)| crate::view::FieldErrorView { pointer, message })
                .collect(),
        };
        let body = serde_json::to_vec(&view).unwrap_or_else(|_| b"{}".to_vec());
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", "application/problem+json")
            .header("cache-control", "no-store");
        if let Some(s) = self.retry_after {
            builder = builder.header("retry-after", s.to_string());
        }
        if let Some(c) = &self.challenge {
            builder = builder.header("www-authenticate", c.as_str());
        }
        builder
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"{}"))))
    }
}

impl From<VnError> for Problem {
    /// An AHV number in the request that is not one: `400 invalid-vn` (the error never
    /// carries the input).
    fn from(e: VnError) -> Problem {
        Problem::bad_request("invalid-vn", e.to_string())
    }
}

impl From<TokenError> for Problem {
    /// A missing or refused end-user token: `401` with the challenge.
    fn from(e: TokenError) -> Problem {
        Problem::unauthorized(&e)
    }
}

impl From<DefError> for Problem {
    /// An adapter definition refused by its validation: `422`.
    fn from(e: DefError) -> Problem {
        Problem::adapter_invalid(e)
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        match e {
            StoreError::Conflict { .. } => Problem::new(
                StatusCode::CONFLICT,
                "version-conflict",
                "Stale adapter version",
                e.to_string(),
            ),
            StoreError::NoHistory(_) => Problem::new(
                StatusCode::CONFLICT,
                "no-history",
                "Nothing to roll back to",
                e.to_string(),
            ),
            StoreError::NotFound(office) => Problem::no_adapter(office),
            StoreError::Invalid(why) => Problem::adapter_invalid(why),
            StoreError::Io(why) | StoreError::Database(why) => Problem::adapter_write_failed(why),
            StoreError::NotRecorded(e) => {
                tracing::error!(error = %e, "adapter change refused: its audit record cannot be written");
                Problem::audit_unavailable(
                    "the change could not be recorded, so it was not applied",
                )
            }
        }
    }
}

impl From<crate::receipt::ReceiptError> for Problem {
    /// The seal could not sign (or record) a receipt: `503`, nothing was handed out. The
    /// detail names no file (operators find the reason in the log).
    fn from(e: crate::receipt::ReceiptError) -> Problem {
        use crate::receipt::ReceiptError;
        match e {
            ReceiptError::Audit(e) => {
                tracing::error!(error = %e, "receipt not handed out: its audit record cannot be written");
                Problem::audit_unavailable(
                    "the receipt could not be recorded, so it was not issued",
                )
            }
            ReceiptError::Disabled => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "receipts-unavailable",
                "Receipts unavailable",
                "this gateway has no seal configured, so it issues no receipts".into(),
            ),
            other => {
                tracing::error!(error = %other, "receipt not signed");
                Problem {
                    retry_after: Some(30),
                    ..Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "receipts-unavailable",
                        "Receipts unavailable",
                        "the gateway's seal cannot sign now; operators are told in its log".into(),
                    )
                }
            }
        }
    }
}
