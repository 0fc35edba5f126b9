//! `POST /v1/submissions`, `GET /v1/submissions/{id}` and `/receipts`: the APG claim is
//! validated (every invalid field in one `422`), routed by the rules, its submission
//! receipt sealed and audited, then stored with its outbox row in one transaction — `201`
//! only after all of that. The delivery worker takes it from the outbox.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::super::State;
use super::super::end_user::{self, Presented};
use super::super::problem::Problem;
use crate::model::{ApgClaim, Identity};
use crate::receipt::{ReceiptBody, SubmissionOutcome, SubmissionReceipt};
use crate::routing::Decision;
use crate::store::{
    Created, NewReceipt, NewSubmission, ReceiptKind, StoreError, SubmissionId, SubmissionType,
};
use crate::view::{ReceiptsView, SubmissionView};

/// The purpose a portal states for a submission (`Purpose: claim`).
const CLAIM_PURPOSE: &str = "claim";

/// The largest claim body accepted.
const MAX_BODY: usize = 64 * 1024;

/// Delivery gives up this long after the submission (as sedex: 30 days).
const DELIVERY_EXPIRY: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// The `Idempotency-Key` header: 1–64 visible ASCII characters.
pub(super) fn idempotency_key(headers: &hyper::HeaderMap) -> Result<String, Problem> {
    let value = headers.get("idempotency-key").ok_or_else(|| {
        Problem::idempotency_key("an Idempotency-Key header (1-64 visible characters) is required")
    })?;
    let key = value.to_str().unwrap_or_default();
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Problem::idempotency_key(
            "the Idempotency-Key header must be 1-64 visible ASCII characters",
        ));
    }
    Ok(key.to_owned())
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::Conflict => Problem::idempotency_conflict(),
        other => Problem::store_unavailable(other),
    }
}

/// `POST /v1/submissions`.
pub(super) async fn create(
    req: Request<Incoming>,
    portal: &Identity,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let headers = req.headers().clone();
    let presenter = req
        .extensions()
        .get::<crate::identity::CertThumbprint>()
        .cloned();
    let checked = super::accesses::purpose(&headers, portal, state)
        .and_then(|purpose| {
            if purpose == CLAIM_PURPOSE {
                Ok(())
            } else {
                Err(Problem::forbidden(format!(
                    "a submission is made for the purpose {CLAIM_PURPOSE}, not {purpose}"
                )))
            }
        })
        .and_then(|()| idempotency_key(&headers));
    let key = match checked {
        Ok(c) => c,
        Err(refused) => {
            super::drain(req.into_body()).await;
            return Err(refused);
        }
    };
    let body = super::read_body(req.into_body(), MAX_BODY, "a submission").await?;
    let claim = ApgClaim::from_json(&body).map_err(|errors| {
        Problem::invalid_submission(
            errors
                .0
                .into_iter()
                .map(|e| (e.pointer, e.message))
                .collect(),
        )
    })?;
    // The claimant's own token, bound to this portal's certificate, before anything is
    // routed, signed or stored.
    let presented = Presented::new(&headers, presenter.as_ref());
    end_user::require_end_user(&presented, claim.claimant.vn, state)?;
    // A repeated request is answered from the store before anything is asked or sealed:
    // the same body gives the stored submission (`200`), another body `409`. Concurrent
    // first attempts both get past this; the store's unique key decides between them.
    let canonical = String::from_utf8(claim.canonical_json())
        .map_err(|_| Problem::internal("the canonical claim is not UTF-8"))?;
    let body_sha256 = claim.sha256_hex();
    if let Some(existing) = state
        .db
        .replay(portal, &key, &body_sha256)
        .await
        .map_err(store_problem)?
    {
        return respond(StatusCode::OK, &existing);
    }
    let (decision, basis) = route(&claim, &headers, state).await?;
    let id = SubmissionId::random();
    let jws = seal(state, portal, id, &decision, body_sha256).await?;
    let created = state
        .db
        .create_submission(NewSubmission {
            id,
            kind: SubmissionType::ApgClaim,
            portal: portal.clone(),
            idempotency_key: key,
            body: canonical,
            competent_office: decision.office,
            routing_rule: decision.rule_id,
            routing_basis: Some(basis),
            receipt: NewReceipt {
                kind: ReceiptKind::Submission,
                jws,
            },
            delivery_expiry: DELIVERY_EXPIRY,
        })
        .await
        .map_err(store_problem)?;
    match &created {
        Created::New(s) => respond(StatusCode::CREATED, s),
        Created::Existing(s) => respond(StatusCode::OK, s),
    }
}

/// The competent fund, and what the decision rested on: the claimant's affiliations
/// from the central account register (its client, cache and breaker), or, without them
/// (no register asked, or it failed), the claim's own content — the basis says which.
async fn route(
    claim: &ApgClaim,
    headers: &hyper::HeaderMap,
    state: &State,
) -> Result<(Decision, String), Problem> {
    let trace = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::trace::Trace::parse)
        .unwrap_or_default();
    let affiliations = state.fanout.affiliations(claim.claimant.vn, trace).await;
    let decision = state
        .routing_rules
        .decide(claim, &affiliations.answer_or_empty())
        .map_err(|e| Problem::unroutable(e.to_string()))?;
    Ok((decision, affiliations.basis()))
}

/// Seals the submission receipt and records its hash in the audit log: the JWS.
async fn seal(
    state: &State,
    portal: &Identity,
    id: SubmissionId,
    decision: &Decision,
    body_sha256: String,
) -> Result<String, Problem> {
    let received_at = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed = state
        .seal()?
        .seal_and_audit(
            &state.audit,
            super::actor(portal),
            ReceiptBody::Submission(SubmissionReceipt {
                submission_id: id.to_string(),
                submission_type: SubmissionType::ApgClaim.as_str().to_owned(),
                sha256: body_sha256,
                competent_office: decision.office.to_string(),
                routing_rule: Some(decision.rule_id.clone()),
                received_at: crate::receipt::rfc3339(received_at),
                outcome: SubmissionOutcome::Received,
            }),
        )
        .await?;
    Ok(signed.jws)
}

/// The submission as JSON with its `Location`.
fn respond(
    status: StatusCode,
    submission: &crate::store::Submission,
) -> Result<Response<Full<Bytes>>, Problem> {
    let mut response = super::json(status, &SubmissionView::from(submission))?;
    if let Ok(v) =
        hyper::header::HeaderValue::from_str(&format!("/v1/submissions/{}", submission.id))
    {
        response.headers_mut().insert(hyper::header::LOCATION, v);
    }
    Ok(response)
}

async fn load(
    portal: &Identity,
    id: SubmissionId,
    state: &State,
) -> Result<crate::store::Submission, Problem> {
    state
        .db
        .get_submission(portal, id)
        .await
        .map_err(store_problem)?
        .ok_or_else(Problem::no_submission)
}

/// `GET /v1/submissions/{id}` (the submitting portal only; another gets `404`).
pub(super) async fn get(
    portal: &Identity,
    id: SubmissionId,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let s = load(portal, id, state).await?;
    super::json(StatusCode::OK, &SubmissionView::from(&s))
}

/// `GET /v1/submissions/{id}/receipts`.
pub(super) async fn receipts(
    portal: &Identity,
    id: SubmissionId,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let s = load(portal, id, state).await?;
    super::json(StatusCode::OK, &ReceiptsView::from(&s))
}
