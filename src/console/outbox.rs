//! The outbox page: claims and messages not yet delivered, by receiving office and age,
//! with the last error, and "retry now" per row (audited as the session's identity).

use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::html::{Outcome, button_form, esc, outcome_section, page, respond, table};
use super::{ConsoleError, Ctx};
use crate::audit::{Actor, Event, Kind};
use crate::view::OutboxRowView;

/// Rows shown at most.
const LIMIT: u32 = 500;

/// `GET /console/outbox`, or the page after a retry with its `outcome`.
pub(super) async fn page_of(
    ctx: &Ctx<'_>,
    outcome: Option<Outcome>,
) -> Result<Response<Full<Bytes>>, ConsoleError> {
    ctx.admin()?;
    let (rows, now) = ctx
        .state
        .db
        .undelivered(LIMIT)
        .await
        .map_err(|e| ConsoleError::Store(e.to_string()))?;
    let secs = |ms: i64| u64::try_from(ms / 1000).unwrap_or(0);
    let views: Vec<OutboxRowView> = rows
        .into_iter()
        .map(|r| OutboxRowView {
            id: r.id,
            subject_kind: r.subject_kind,
            target_office: r.target_office.to_string(),
            attempts: r.attempts,
            age_seconds: secs(now - r.created_at),
            next_attempt_in_seconds: secs(r.next_attempt_at - now),
            last_error: r.last_error,
        })
        .collect();
    let mut body = String::new();
    let code = outcome_section(&mut body, outcome, "Retry");
    let _ = write!(
        body,
        "<p>{} deliveries waiting{}.</p>",
        views.len(),
        if views.len() as u32 == LIMIT {
            " (the first ones shown)"
        } else {
            ""
        }
    );
    let cells: Vec<String> = views.iter().map(|v| row(ctx, v)).collect();
    body.push_str(&table(
        "Undelivered, by office and age",
        &[
            "Office",
            "What",
            "Age",
            "Attempts",
            "Next attempt",
            "Last error",
            "Action",
        ],
        &cells,
        "outbox",
    ));
    Ok(respond(
        code,
        page(Some(&ctx.session), "Outbox", &body, false),
    ))
}

fn row(ctx: &Ctx<'_>, v: &OutboxRowView) -> String {
    format!(
        "<tr><th scope=\"row\"><a href=\"/console/offices/{o}\">{o}</a></th><td>{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>\
         <td>{}</td></tr>",
        esc(&v.subject_kind),
        age(v.age_seconds),
        v.attempts,
        if v.next_attempt_in_seconds == 0 {
            "due".to_owned()
        } else {
            format!("in {}", age(v.next_attempt_in_seconds))
        },
        esc(v.last_error.as_deref().unwrap_or("–")),
        button_form(
            &ctx.session,
            &format!("/console/outbox/{}/retry", v.id),
            "Retry now",
            ""
        ),
        o = esc(&v.target_office),
    )
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// `POST /console/outbox/{id}/retry`: the row is due now (audited first).
pub(super) async fn retry(ctx: &Ctx<'_>, id: &str) -> Result<Response<Full<Bytes>>, ConsoleError> {
    ctx.admin()?;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ConsoleError::NotFound);
    }
    let event = Event {
        kind: Kind::OutboxRetry,
        actor: Actor::of(Some(ctx.who())),
        purpose: None,
        person: None,
        offices: Vec::new(),
        result: "intent".to_owned(),
        detail: Some(format!("outbox row {id}")),
        binding: None,
    };
    ctx.state
        .audit
        .append(event)
        .await
        .map_err(|_| ConsoleError::Audit)?;
    let done = ctx
        .state
        .db
        .retry_now(id)
        .await
        .map_err(|e| ConsoleError::Store(e.to_string()))?;
    let outcome = if done {
        (StatusCode::OK, "<p>The delivery is due now.</p>".to_owned())
    } else {
        (
            StatusCode::CONFLICT,
            "<p>Not changed: the row is delivered already or a worker is delivering it.</p>"
                .to_owned(),
        )
    };
    page_of(ctx, Some(outcome)).await
}
