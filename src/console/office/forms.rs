//! The office page's forms: the edit form (as `PUT /v1/adapters/{office}`), rollback and
//! delete, each applied through `server::adapters::change` as the session's identity and
//! answered with the page and the form's outcome above it.

use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::{may_open, page_of, probe_text};
use crate::adapter::AdapterDef;
use crate::console::html::{Outcome, esc};
use crate::console::{ConsoleError, Ctx, Form};
use crate::model::OfficeId;
use crate::server::{Change, Problem, change_adapter};

/// `POST /console/offices/{office}`: the edit form, as `PUT /v1/adapters/{office}`.
pub(in crate::console) async fn edit(
    ctx: &Ctx<'_>,
    office: OfficeId,
    form: &Form,
) -> Result<Response<Full<Bytes>>, ConsoleError> {
    may_open(ctx, office)?;
    let def = ctx
        .state
        .adapters
        .get(office)
        .and_then(|l| l.def)
        .ok_or(ConsoleError::NotFound)?;
    let outcome = match edited(def, form) {
        Err(message) => (
            StatusCode::BAD_REQUEST,
            format!("<p>Refused: {}</p>", esc(&message)),
        ),
        Ok((def, expected)) => {
            let change = Change::Put {
                def: Box::new(def),
                expected,
            };
            changed(ctx, office, change).await
        }
    };
    page_of(ctx, office, Some(outcome)).await
}

/// `POST /console/offices/{office}/rollback|delete` (administrators; the change itself
/// checks the role again and audits a refusal).
pub(in crate::console) async fn admin_action(
    ctx: &Ctx<'_>,
    office: OfficeId,
    action: &str,
    form: &Form,
) -> Result<Response<Full<Bytes>>, ConsoleError> {
    let change = if action == "delete" {
        Change::Delete {
            expected: version(form).map_err(ConsoleError::Form)?,
        }
    } else {
        Change::Rollback
    };
    let outcome = changed(ctx, office, change).await;
    page_of(ctx, office, Some(outcome)).await
}

/// Applies a change as the session's identity; the outcome for the page.
async fn changed(ctx: &Ctx<'_>, office: OfficeId, change: Change) -> Outcome {
    match change_adapter(change, office, ctx.who(), ctx.state).await {
        Ok(c) => {
            let mut html = format!("<p>Saved as version {}.</p>", c.view.version);
            if let Some(p) = &c.view.probe {
                let _ = write!(html, "<p>Conformance probe: {}.</p>", probe_text(p));
                crate::locks::lock(&ctx.console.probes)
                    .insert(office, (c.view.changed_at.clone(), p.clone()));
            }
            (c.status, html)
        }
        Err(p) => refused(&p),
    }
}

fn refused(p: &Problem) -> Outcome {
    (
        p.status,
        format!(
            "<p>Refused ({} {}): {}</p>",
            p.status.as_u16(),
            esc(p.title),
            esc(&p.detail)
        ),
    )
}

/// The current definition with the form's fields, and the version it was read at.
fn edited(mut def: AdapterDef, form: &Form) -> Result<(AdapterDef, Option<u64>), String> {
    let text = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or("");
    let number = |name: &str| -> Result<Option<u64>, String> {
        match text(name) {
            "" => Ok(None),
            v => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}: {v:?} is not a whole number")),
        }
    };
    let required = |name: &str| number(name)?.ok_or_else(|| format!("{name}: is empty"));
    if !text("endpoint").is_empty() {
        def.endpoint = text("endpoint").to_owned();
    }
    def.timeout_ms = required("timeout_ms")?;
    def.max_answer_bytes = usize::try_from(required("max_answer_bytes")?)
        .map_err(|_| "max_answer_bytes: too large".to_owned())?;
    def.max_rate_per_second = number("max_rate_per_second")?
        .map(u32::try_from)
        .transpose()
        .map_err(|_| "max_rate_per_second: too large".to_owned())?;
    def.max_concurrency = number("max_concurrency")?
        .map(usize::try_from)
        .transpose()
        .map_err(|_| "max_concurrency: too large".to_owned())?;
    Ok((def, version(form)?))
}

fn version(form: &Form) -> Result<Option<u64>, String> {
    match form.get("version").map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("version: {v:?} is not a whole number")),
    }
}
