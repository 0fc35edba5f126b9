//! Errors as `application/problem+json` (RFC 9457): the one place an error becomes HTTP.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

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
}

impl Problem {
    /// `400`: the request itself is wrong.
    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::BAD_REQUEST,
            slug,
            title: "Bad request",
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// `403`: the caller's role does not allow this.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::FORBIDDEN,
            slug: "forbidden",
            title: "Role not allowed",
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// `404`: no such route.
    pub fn not_found(path: &str) -> Problem {
        let shown: String = path
            .chars()
            .take(60)
            .filter(|c| !c.is_ascii_digit())
            .collect();
        Problem {
            status: StatusCode::NOT_FOUND,
            slug: "not-found",
            title: "Unknown route",
            detail: format!("no route {shown}"),
            retry_after: None,
        }
    }

    /// `405`: the route exists, not with this method.
    pub fn method_not_allowed(allowed: &'static str) -> Problem {
        Problem {
            status: StatusCode::METHOD_NOT_ALLOWED,
            slug: "method-not-allowed",
            title: "Method not allowed",
            detail: format!("use {allowed}"),
            retry_after: None,
        }
    }

    /// `500`: a reload failed; the previous material stays in use.
    pub fn reload_failed(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            slug: "reload-failed",
            title: "Reload failed; the previous certificates stay in use",
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// `503`: the audit record could not be written, so nothing was served or changed.
    /// The detail says which; the audit error itself goes to the log only.
    pub fn audit_unavailable(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::SERVICE_UNAVAILABLE,
            slug: "audit-unavailable",
            title: "Audit log unavailable",
            detail: detail.into(),
            retry_after: Some(5),
        }
    }

    /// The response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::json!({
            "type": format!("urn:guichet:problem:{}", self.slug),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", "application/problem+json")
            .header("cache-control", "no-store");
        if let Some(s) = self.retry_after {
            builder = builder.header("retry-after", s.to_string());
        }
        builder
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"{}"))))
    }
}
