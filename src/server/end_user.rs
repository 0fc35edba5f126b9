//! The end-user binding of a request: the one check every route that serves a person's
//! own data calls before it contacts anyone (`/v1/accounts/{vn}` for the purposes of
//! `privacy.end_user_token`, `/v1/accounts/{vn}/accesses`, and the submission and message
//! routes), and the `Case-Reference` of institutional purposes.
//!
//! ```text
//! // in a handler, before any office, store or cache is touched:
//! let who = end_user::require_end_user(&Presented::of(&req), vn, state)?;
//! // `who.binding()` goes into the audit record of the access.
//! ```

use hyper::{HeaderMap, Request};

use super::State;
use super::problem::Problem;
use crate::audit::Binding;
use crate::config::Requirement;
use crate::identity::CertThumbprint;
use crate::model::Vn;

/// Longest `Case-Reference`.
pub const MAX_CASE_REFERENCE: usize = 64;

/// What a request presents for the end-user check: its `Authorization` header and the
/// thumbprint of the client certificate of its connection (put into the request's
/// extensions by the connection driver, `server/mod.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    headers: &'a HeaderMap,
    presenter: Option<&'a CertThumbprint>,
}

impl<'a> Presented<'a> {
    /// What `req` presents.
    pub fn of<B>(req: &'a Request<B>) -> Presented<'a> {
        Presented {
            headers: req.headers(),
            presenter: req.extensions().get::<CertThumbprint>(),
        }
    }

    /// From parts (tests, routes that have taken the request apart).
    pub fn new(headers: &'a HeaderMap, presenter: Option<&'a CertThumbprint>) -> Presented<'a> {
        Presented { headers, presenter }
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }
}

/// A request bound to the person logged in at the portal. Holds no token, no `sub` and
/// no AHV number in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUser {
    /// The identity provider that vouched for the person (`iss`).
    pub issuer: String,
    /// The keyed hash of the provider's `sub` (`AuditLog::subject`).
    pub sub_hash: String,
    /// The authentication level (`acr`).
    pub acr: String,
}

impl EndUser {
    /// The audit record's binding.
    pub fn binding(&self) -> Binding {
        Binding::EndUser {
            issuer: self.issuer.clone(),
            subject: self.sub_hash.clone(),
        }
    }
}

/// **The** end-user check: the request carries a valid token (see [`crate::identity`])
/// bound to the presenting portal's certificate, and it is the token of the person `vn`.
/// `401` (with `WWW-Authenticate` naming the failed check) when the token is missing or
/// refused, `403` when it is another person's. Call it before any office, store or cache
/// is touched; put [`EndUser::binding`] into the audit record.
pub fn require_end_user(
    presented: &Presented<'_>,
    vn: Vn,
    state: &State,
) -> Result<EndUser, Problem> {
    let authorization = presented
        .headers
        .get(hyper::header::AUTHORIZATION)
        .map(hyper::header::HeaderValue::as_bytes);
    let verified = state.identity.verify(authorization, presented.presenter)?;
    if verified.vn != vn {
        return Err(Problem::not_the_person());
    }
    Ok(EndUser {
        sub_hash: state.audit.subject(&verified.issuer, &verified.subject),
        issuer: verified.issuer,
        acr: verified.acr,
    })
}

/// The first half of the end-user check for a route that finds the person only in the
/// store (a message read by its id): the token is verified as by [`require_end_user`]
/// (`401` otherwise) before the store is touched, and its AHV number is returned; the
/// route then compares its keyed hash with the stored one and answers
/// [`Problem::not_the_person`] (`403`) when they differ.
pub fn require_end_user_any(
    presented: &Presented<'_>,
    state: &State,
) -> Result<(EndUser, Vn), Problem> {
    let authorization = presented
        .headers
        .get(hyper::header::AUTHORIZATION)
        .map(hyper::header::HeaderValue::as_bytes);
    let verified = state.identity.verify(authorization, presented.presenter)?;
    let vn = verified.vn;
    Ok((
        EndUser {
            sub_hash: state.audit.subject(&verified.issuer, &verified.subject),
            issuer: verified.issuer,
            acr: verified.acr,
        },
        vn,
    ))
}

/// The `Case-Reference` header: 1–[`MAX_CASE_REFERENCE`] visible ASCII characters;
/// `403` naming the header otherwise.
pub fn case_reference(headers: &HeaderMap) -> Result<String, Problem> {
    let value = headers.get("case-reference").ok_or_else(|| {
        Problem::forbidden(
            "this purpose needs a Case-Reference header (the institution's file, 1–64 visible characters)",
        )
    })?;
    let bytes = value.as_bytes();
    let ok =
        (1..=MAX_CASE_REFERENCE).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_graphic);
    if !ok {
        return Err(Problem::forbidden(
            "the Case-Reference header must be 1–64 visible ASCII characters",
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// What the stated `purpose` requires of a query about `vn` (`privacy.end_user_token`,
/// `privacy.case_reference`), checked; the binding to record, if any.
pub fn bind(
    purpose: &str,
    presented: &Presented<'_>,
    vn: Vn,
    state: &State,
) -> Result<Option<Binding>, Problem> {
    match state.privacy.requirement(purpose) {
        Requirement::EndUserToken => {
            require_end_user(presented, vn, state).map(|u| Some(u.binding()))
        }
        Requirement::CaseReference => {
            case_reference(presented.headers).map(|r| Some(Binding::CaseReference(r)))
        }
        Requirement::Nothing => Ok(None),
    }
}
