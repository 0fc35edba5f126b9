//! HTML of the console: escaping, the page frame (headings, navigation, skip link, the
//! session's sign-out form) and the HTTP answers with their security headers — a strict
//! Content-Security-Policy (no inline script or style: the stylesheet and the one small
//! script are files of the binary under `/console/assets/`), no caching, no referrer
//! (a login link carries its token in the address), no framing.

use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::session::Session;
use crate::model::Role;

/// The policy of every console answer.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The console's stylesheet.
const CSS: &str = include_str!("assets/console.css");
/// The short poll of the federation grid (the page works without it).
const LIVE_JS: &str = include_str!("assets/live.js");

/// Escapes text for an HTML text node or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page of the console for `session`: title (also the `h1`), body, and whether it
/// loads the live-refresh script.
pub fn page(session: Option<&Session>, title: &str, body: &str, live: bool) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · guichet console</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">{script}</head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a><header>\
         <p class=\"brand\">guichet console</p>",
        t = esc(title),
        script = if live {
            "<script src=\"/console/assets/live.js\" defer></script>"
        } else {
            ""
        },
    );
    if let Some(s) = session {
        out.push_str(&nav(s));
    }
    let _ = writeln!(
        out,
        "</header><main id=\"main\" tabindex=\"-1\"><h1>{}</h1>{body}</main></body></html>",
        esc(title)
    );
    out
}

/// The navigation (administrators) and the sign-out form.
fn nav(s: &Session) -> String {
    let mut out = String::from("<nav aria-label=\"Console\"><ul>");
    let links: &[(&str, &str)] = if s.identity.role == Role::Admin {
        &[
            ("/console/", "Federation"),
            ("/console/certificates", "Certificates"),
            ("/console/outbox", "Outbox"),
            ("/console/audit", "Audit"),
        ]
    } else {
        &[]
    };
    for (href, label) in links {
        let _ = write!(out, "<li><a href=\"{href}\">{label}</a></li>");
    }
    if s.identity.role == Role::Office {
        let _ = write!(
            out,
            "<li><a href=\"/console/offices/{0}\">Office {0}</a></li>",
            esc(&s.identity.name)
        );
    }
    let _ = write!(
        out,
        "</ul></nav><form class=\"who\" method=\"post\" action=\"/console/logout\">\
         <span>Signed in as <strong>{}</strong></span>{}\
         <button type=\"submit\">Sign out</button></form>",
        esc(&s.identity.uri()),
        csrf_field(s)
    );
    out
}

/// The hidden CSRF field of every form.
pub fn csrf_field(s: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(&s.csrf)
    )
}

/// A form posting to `action` with one submit button (rollback, delete, reload, retry).
pub fn button_form(s: &Session, action: &str, label: &str, class: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"inline\">{}\
         <button type=\"submit\" class=\"{class}\">{}</button></form>",
        esc(action),
        csrf_field(s),
        esc(label)
    )
}

/// What a form did, shown above the page: its status and HTML.
pub type Outcome = (StatusCode, String);

/// Writes what a form did (`outcome`) into `body` as a status section under `heading`,
/// marked `ok` or `refused`; the status the page answers with (`200` without one).
pub fn outcome_section(body: &mut String, outcome: Option<Outcome>, heading: &str) -> StatusCode {
    let Some((status, html)) = outcome else {
        return StatusCode::OK;
    };
    let class = if status.is_success() { "ok" } else { "refused" };
    let _ = write!(
        body,
        "<section class=\"result {class}\" role=\"status\" aria-labelledby=\"result-h\">\
         <h2 id=\"result-h\">{}</h2>{html}</section>",
        esc(heading)
    );
    status
}

/// An HTML answer with the console's headers.
pub fn respond(status: StatusCode, html: String) -> Response<Full<Bytes>> {
    with_headers(
        Response::builder().status(status),
        "text/html; charset=utf-8",
    )
    .body(Full::new(Bytes::from(html)))
    .unwrap_or_default()
}

/// A `303 See Other` to `location`, optionally setting a cookie.
pub fn see_other(location: &str, cookie: Option<String>) -> Response<Full<Bytes>> {
    let mut b = with_headers(
        Response::builder().status(StatusCode::SEE_OTHER),
        "text/plain; charset=utf-8",
    )
    .header(hyper::header::LOCATION, location);
    if let Some(c) = cookie {
        b = b.header(hyper::header::SET_COOKIE, c);
    }
    b.body(Full::new(Bytes::from_static(b"see other\n")))
        .unwrap_or_default()
}

/// The stylesheet or the script, by file name.
pub fn asset(name: &str) -> Option<Response<Full<Bytes>>> {
    let (body, kind) = match name {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "live.js" => (LIVE_JS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    with_headers(Response::builder(), kind)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .ok()
}

fn with_headers(b: hyper::http::response::Builder, kind: &str) -> hyper::http::response::Builder {
    b.header(hyper::header::CONTENT_TYPE, kind)
        .header(hyper::header::CONTENT_SECURITY_POLICY, CSP)
        .header(hyper::header::CACHE_CONTROL, "no-store")
        .header(hyper::header::REFERRER_POLICY, "no-referrer")
        .header(hyper::header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(hyper::header::X_FRAME_OPTIONS, "DENY")
}

/// A table of `rows` under `caption` with `head` cells (already escaped HTML).
pub fn table(caption: &str, head: &[&str], rows: &[String], class: &str) -> String {
    let mut out = format!(
        "<table class=\"{class}\"><caption>{}</caption><thead><tr>",
        esc(caption)
    );
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str(r);
    }
    out.push_str("</tbody></table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn every_answer_carries_the_policy() {
        let r = respond(StatusCode::OK, page(None, "T<", "<p>x</p>", false));
        let csp = r.headers().get("content-security-policy").expect("csp");
        assert!(csp.to_str().expect("ascii").contains("script-src 'self'"));
        assert!(asset("live.js").is_some() && asset("../x").is_none());
    }
}
