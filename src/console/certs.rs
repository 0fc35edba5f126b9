//! The certificates page: every certificate and CRL loaded for the ingress, towards the
//! offices and for the seal, as `GET /admin/v1/certificates` reports them, with the days
//! left (below 30 highlighted, expired marked); the reload button reloads every set as
//! `POST /admin/v1/reload` does, audited as the session's identity.

use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::html::{Outcome, button_form, esc, outcome_section, page, respond, table};
use super::{ConsoleError, Ctx};
use crate::audit::Actor;
use crate::tls::{CertInfo, Loaded};

/// Days left below which a certificate is highlighted.
pub const WARN_DAYS: i64 = 30;

/// `GET /console/certificates`, or the page after a reload with its `outcome`.
pub(super) fn page_of(
    ctx: &Ctx<'_>,
    outcome: Option<Outcome>,
) -> Result<Response<Full<Bytes>>, ConsoleError> {
    ctx.admin()?;
    let status = ctx.state.reloader.status();
    let mut body = String::new();
    let code = outcome_section(&mut body, outcome, "Reload");
    let _ = write!(
        body,
        "<p>Certificates with fewer than {WARN_DAYS} days left are highlighted.</p><p>{}</p>",
        button_form(
            &ctx.session,
            "/console/certificates/reload",
            "Reload all TLS material now",
            ""
        )
    );
    body.push_str(&material("Ingress (portals' side)", &status.server));
    body.push_str(&material("Client (towards the offices)", &status.client));
    if let Some(seal) = &ctx.state.sealer {
        let s = seal.status();
        let row = cert_row(&CertInfo {
            file: String::new(),
            usage: "seal",
            subject: String::new(),
            identity: Some(s.identity.clone()),
            serial: s.serial.clone(),
            not_after: s.not_after.clone(),
            days_left: s.days_left,
            not_after_unix: 0,
        });
        body.push_str("<h2>Seal (receipts)</h2>");
        body.push_str(&table("The seal certificate", &HEAD, &[row], "certs"));
    }
    if let Some(last) = &status.last_reload {
        let _ = write!(
            body,
            "<h2>Last reload</h2><p>{} by {}: reloaded {}{}</p>",
            esc(&last.at),
            esc(&last.trigger),
            esc(&last.reloaded.join(", ")),
            if last.errors.is_empty() {
                String::new()
            } else {
                format!("; kept the last good set: {}", esc(&last.errors.join("; ")))
            }
        );
    }
    Ok(respond(
        code,
        page(Some(&ctx.session), "Certificates", &body, false),
    ))
}

const HEAD: [&str; 7] = [
    "Usage",
    "Subject",
    "Identity",
    "Serial",
    "Not after",
    "Days left",
    "File",
];

fn material(title: &str, loaded: &Loaded) -> String {
    let rows: Vec<String> = loaded.certificates.iter().map(cert_row).collect();
    let mut out = format!("<h2>{}</h2>", esc(title));
    out.push_str(&table("Certificates", &HEAD, &rows, "certs"));
    let crls: Vec<String> = loaded
        .crls
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                esc(&c.file),
                esc(&c.issuer),
                esc(c.next_update.as_deref().unwrap_or("–")),
                c.revoked
            )
        })
        .collect();
    if !crls.is_empty() {
        out.push_str(&table(
            "Certificate revocation lists",
            &["File", "Issuer", "Next update", "Revoked"],
            &crls,
            "crls",
        ));
    }
    out
}

fn cert_row(c: &CertInfo) -> String {
    let (class, note) = if c.days_left < 0 {
        ("expired", " (expired)")
    } else if c.days_left < WARN_DAYS {
        ("expiring", " (expires soon)")
    } else {
        ("", "")
    };
    format!(
        "<tr class=\"{class}\" data-serial=\"{serial}\" data-days-left=\"{d}\"><td>{}</td><td>{}</td>\
         <td>{}</td><td>{serial}</td><td>{}</td><td class=\"num\">{d}{note}</td><td>{}</td></tr>",
        esc(c.usage),
        esc(&c.subject),
        esc(c.identity.as_deref().unwrap_or("")),
        esc(&c.not_after),
        esc(&c.file),
        serial = esc(&c.serial),
        d = c.days_left,
    )
}

/// `POST /console/certificates/reload`: every TLS set (and changed JWKS files) now.
pub(super) fn reload(ctx: &Ctx<'_>) -> Result<Response<Full<Bytes>>, ConsoleError> {
    ctx.admin()?;
    let state = ctx.state;
    let who = ctx.who();
    let trigger = format!("console ({who})");
    let outcome = state
        .reloader
        .reload_all(&state.fanout, &state.audit, Actor::of(Some(who)), &trigger)
        .map_err(|_| ConsoleError::Audit)?;
    crate::server::reload::reload_jwks(state, &trigger);
    let result = if outcome.errors.is_empty() {
        (
            StatusCode::OK,
            format!("<p>Reloaded: {}.</p>", esc(&outcome.reloaded.join(", "))),
        )
    } else {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "<p>Kept the last good material: {}</p>",
                esc(&outcome.errors.join("; "))
            ),
        )
    };
    page_of(ctx, Some(result))
}
