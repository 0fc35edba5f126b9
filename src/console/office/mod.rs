//! The office page: the adapter definition (as `GET /v1/adapters/{office}` has it), the
//! last call and the last probe run through the console, the version history with diffs,
//! the edit form (the office itself and administrators: the same validation, conformance
//! probe and versioned write as `PUT /v1/adapters`) and, for administrators, rollback and
//! delete (the forms' handlers: `forms.rs`). An office's identity opens only its own page.

mod forms;

use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

use super::diff::{Line, diff};
use super::html::{Outcome, button_form, csrf_field, esc, outcome_section, page, respond};
use super::{ConsoleError, Ctx};
use crate::adapter::AdapterDef;
use crate::model::{OfficeId, Role};
use crate::view::ProbeView;

pub(super) use forms::{admin_action, edit};

/// `GET /console/offices/{office}`, or the page after a form with its `outcome`.
pub(super) async fn page_of(
    ctx: &Ctx<'_>,
    office: OfficeId,
    outcome: Option<Outcome>,
) -> Result<Response<Full<Bytes>>, ConsoleError> {
    may_open(ctx, office)?;
    let state = ctx.state;
    let registry = state.fanout.registry();
    let listed = state.adapters.get(office);
    let deregistered = registry.deregistered().find(|(o, _)| *o == office);
    let row = match (registry.get(office), deregistered) {
        (Some(a), _) => crate::server::adapter_row(state, office, &a.name, listed.as_ref(), false),
        (None, Some((_, name))) => {
            crate::server::adapter_row(state, office, name, listed.as_ref(), true)
        }
        (None, None) => return Err(ConsoleError::NotFound),
    };
    let def = listed.as_ref().and_then(|l| l.def.clone());
    let mut body = String::new();
    let status = outcome_section(&mut body, outcome, "Result");
    let _ = write!(
        body,
        "<p>{} — {} (version {}).</p>",
        esc(&row.name),
        esc(&row.state),
        row.version
            .map_or_else(|| "–".to_owned(), |v| v.to_string())
    );
    body.push_str(&last_calls(ctx, office, &row));
    if let Some(def) = &def {
        body.push_str(&definition(def));
        body.push_str(&edit_form(ctx, office, def, row.version));
    }
    if ctx.who().role == Role::Admin {
        body.push_str("<h2>Administration</h2><p>");
        body.push_str(&button_form(
            &ctx.session,
            &format!("/console/offices/{office}/rollback"),
            "Roll back to the previous version",
            "",
        ));
        if def.is_some() {
            body.push_str(&button_form(
                &ctx.session,
                &format!("/console/offices/{office}/delete"),
                "Delete (deregister) this adapter",
                "danger",
            ));
        }
        body.push_str("</p>");
    }
    body.push_str(&history(ctx, office).await);
    Ok(respond(
        status,
        page(
            Some(&ctx.session),
            &format!("Office {office}"),
            &body,
            false,
        ),
    ))
}

/// Only administrators and the office itself.
pub(super) fn may_open(ctx: &Ctx<'_>, office: OfficeId) -> Result<(), ConsoleError> {
    let who = ctx.who();
    match who.role {
        Role::Admin => Ok(()),
        Role::Office if who.name == office.to_string() => Ok(()),
        _ => Err(ConsoleError::Forbidden(format!(
            "{} may open only its own office's page, not {office}'s",
            who.uri()
        ))),
    }
}

fn last_calls(ctx: &Ctx<'_>, office: OfficeId, row: &crate::view::AdapterRow) -> String {
    let mut out = String::from("<h2>Last call and probe</h2><dl class=\"facts\">");
    let _ = write!(
        out,
        "<dt>Circuit</dt><dd>{}</dd><dt>Last call</dt><dd>{}</dd>",
        esc(row.circuit.as_deref().unwrap_or("–")),
        match (&row.last_status, row.last_latency_ms) {
            (Some(s), Some(ms)) => format!("{} in {ms} ms", esc(s)),
            _ => "none since the start".to_owned(),
        }
    );
    let probe = crate::locks::lock(&ctx.console.probes)
        .get(&office)
        .cloned();
    let _ = write!(
        out,
        "<dt>Last probe</dt><dd>{}</dd></dl>",
        match probe {
            Some((at, p)) => format!("{} (at {})", probe_text(&p), esc(&at)),
            None => "none through the console since the start".to_owned(),
        }
    );
    out
}

pub(super) fn probe_text(p: &ProbeView) -> String {
    format!(
        "{}: {} records in {} ms",
        esc(&p.status),
        p.records,
        p.latency_ms
    )
}

fn definition(def: &AdapterDef) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "–".to_owned());
    let facts = [
        ("Name", def.name.clone()),
        ("Kind", def.kind.clone()),
        ("Canton", opt(def.canton.clone())),
        ("Language", opt(def.language.clone())),
        ("Dialect", def.dialect.clone()),
        ("Endpoint", def.endpoint.clone()),
        ("Timeout", format!("{} ms", def.timeout_ms)),
        ("Answer limit", format!("{} bytes", def.max_answer_bytes)),
        (
            "Rate cap",
            opt(def.max_rate_per_second.map(|v| format!("{v}/s"))),
        ),
        (
            "Concurrency cap",
            opt(def.max_concurrency.map(|v| v.to_string())),
        ),
        ("Pinned certificate", opt(def.server_cert_sha256.clone())),
        (
            "Submissions",
            if def.submissions.is_some() {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
        ),
    ];
    let mut out = String::from("<h2>Adapter definition</h2><dl class=\"facts\">");
    for (k, v) in facts {
        let _ = write!(out, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
    }
    out.push_str("</dl>");
    out
}

/// The edit form: the fields an office tunes; the others are kept as they are.
fn edit_form(ctx: &Ctx<'_>, office: OfficeId, def: &AdapterDef, version: Option<u64>) -> String {
    let field = |id: &str, label: &str, value: String, hint: &str| {
        format!(
            "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{id}\" value=\"{}\" \
             aria-describedby=\"{id}-hint\"><span id=\"{id}-hint\" class=\"note\"> {hint}</span>",
            esc(&value)
        )
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    format!(
        "<h2>Edit</h2><form class=\"edit\" method=\"post\" action=\"/console/offices/{office}\">{csrf}\
         <input type=\"hidden\" name=\"version\" value=\"{v}\">{}{}{}{}{}\
         <p><button type=\"submit\">Validate, probe and save</button></p></form>",
        field(
            "endpoint",
            "Endpoint",
            def.endpoint.clone(),
            "https://host:port/path"
        ),
        field(
            "timeout_ms",
            "Timeout (ms)",
            def.timeout_ms.to_string(),
            "50–30000"
        ),
        field(
            "max_answer_bytes",
            "Answer limit (bytes)",
            def.max_answer_bytes.to_string(),
            "1 KiB–64 MiB"
        ),
        field(
            "max_rate_per_second",
            "Rate cap (calls per second)",
            opt(def.max_rate_per_second.map(|v| v.to_string())),
            "empty: none"
        ),
        field(
            "max_concurrency",
            "Concurrency cap",
            opt(def.max_concurrency.map(|v| v.to_string())),
            "empty: none"
        ),
        csrf = csrf_field(&ctx.session),
        v = version.map(|v| v.to_string()).unwrap_or_default(),
    )
}

/// Every kept version with its diff against the one before, newest first, from the
/// registry's backend (the folder's history or PostgreSQL's), so every replica shows the
/// same history.
async fn history(ctx: &Ctx<'_>, office: OfficeId) -> String {
    let mut out = String::from("<h2>Version history</h2>");
    let versions = match ctx.state.adapters.history(office).await {
        Ok(v) => v,
        Err(e) => {
            let _ = write!(
                out,
                "<p>The history cannot be read: {}</p>",
                esc(&e.to_string())
            );
            return out;
        }
    };
    if versions.is_empty() {
        out.push_str("<p>No version kept.</p>");
        return out;
    }
    out.push_str("<ol reversed class=\"history\">");
    for (i, v) in versions.iter().enumerate().rev() {
        let _ = write!(
            out,
            "<li><strong>Version {}</strong> — {} {} by {}",
            v.version,
            if v.definition.is_some() {
                "changed"
            } else {
                "deleted"
            },
            esc(&v.changed_at),
            esc(&v.changed_by)
        );
        let older = versions[..i]
            .iter()
            .rev()
            .find_map(|o| o.definition.as_deref());
        if let (Some(older), Some(text)) = (older, v.definition.as_deref()) {
            let _ = write!(
                out,
                "<details><summary>Changes from the version before</summary><pre class=\"diff\">{}</pre></details>",
                diff_html(older, text)
            );
        }
        out.push_str("</li>");
    }
    out.push_str("</ol>");
    out
}

fn diff_html(old: &str, new: &str) -> String {
    let mut out = String::new();
    for line in diff(old, new) {
        match line {
            Line::Same(l) => {
                let _ = writeln!(out, "  {}", esc(l));
            }
            Line::Removed(l) => {
                let _ = writeln!(out, "<span class=\"del\">- {}</span>", esc(l));
            }
            Line::Added(l) => {
                let _ = writeln!(out, "<span class=\"add\">+ {}</span>", esc(l));
            }
        }
    }
    out
}
