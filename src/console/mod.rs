//! The operator's console: server-rendered HTML under `/console/` on the operations
//! listener — the federation grid, one office's adapter and history, the certificates,
//! the outbox and the audit chain. Administrators see everything, an office's staff only
//! their own office. Sign-in is a one-time link from `guichet console-login` (signed with
//! the `[console]` key) that opens a session cookie bound to the identity it names; every
//! change goes through the same code as the API (`server::adapters::change`, the
//! reloader, the store) and is audited as that identity. Pages are rendered from the
//! API's view types (`src/view/`); this module owns the HTML, not the data.
//!
//! Must not: serve a person's data (no AHV number, no name), run inline script, change
//! anything on a `GET`, accept a form without the session's CSRF token.

mod audit;
mod certs;
mod diff;
mod federation;
mod html;
mod office;
mod outbox;
mod session;
pub mod token;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::config::{Config, ConsoleConfig};
use crate::model::{Identity, OfficeId, Role};
use crate::server::State;
use session::{Session, Sessions};

pub use html::CSP;

/// The session cookie's name.
pub const COOKIE: &str = "guichet_console";

/// Largest form accepted.
const MAX_FORM: usize = 16 * 1024;

/// Why a console request or `console-login` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The key file (`[console] key_file`).
    #[error("console key {}: {message}", path.display())]
    Key {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `console-login` needs an address to print.
    #[error("{0}")]
    Setup(String),
    /// No randomness for a nonce or a session.
    #[error("the system's random generator failed")]
    Randomness,
    /// A role the console does not serve.
    #[error("{0}")]
    Identity(String),
    /// A login link that is forged, expired or used.
    #[error("{0}")]
    Token(&'static str),
    /// No (live) session cookie.
    #[error("not signed in, or the session has ended: ask guichet console-login for a link")]
    NoSession,
    /// A form without this session's CSRF token.
    #[error("the form's token is missing or not this session's: reload the page and try again")]
    Csrf,
    /// The identity may not open or change this.
    #[error("{0}")]
    Forbidden(String),
    /// No such page or office.
    #[error("no such page")]
    NotFound,
    /// A form field is refused.
    #[error("{0}")]
    Form(String),
    /// The store (outbox) failed.
    #[error("the store failed: {0}")]
    Store(String),
    /// The audit log could not record a change, which was therefore not made.
    #[error("the change could not be recorded in the audit log, so it was not made")]
    Audit,
}

impl ConsoleError {
    /// The HTTP status of the error page.
    fn status(&self) -> StatusCode {
        match self {
            ConsoleError::Token(_) | ConsoleError::NoSession => StatusCode::UNAUTHORIZED,
            ConsoleError::Csrf | ConsoleError::Forbidden(_) | ConsoleError::Identity(_) => {
                StatusCode::FORBIDDEN
            }
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Form(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Store(_) | ConsoleError::Audit => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Key { .. } | ConsoleError::Setup(_) | ConsoleError::Randomness => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

/// The console of one gateway: its key, settings and sessions.
#[derive(Debug)]
pub struct Console {
    key: Vec<u8>,
    config: ConsoleConfig,
    sessions: Sessions,
    /// The last conformance probe run through the console, per office.
    probes: std::sync::Mutex<std::collections::HashMap<OfficeId, (String, crate::view::ProbeView)>>,
}

impl Console {
    /// Reads the key file (at least 32 bytes, mode `0600`).
    pub fn load(config: &ConsoleConfig) -> Result<Console, ConsoleError> {
        Ok(Console {
            key: read_key(&config.key_file)?,
            config: config.clone(),
            sessions: Sessions::default(),
            probes: std::sync::Mutex::default(),
        })
    }
}

/// Reads the console's HMAC key (the audit secret's rules: `0600`, ≥ 32 bytes).
fn read_key(path: &Path) -> Result<Vec<u8>, ConsoleError> {
    crate::audit::keys::read_hmac_secret(path).map_err(|e| ConsoleError::Key {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Makes the console key (64 random hex digits, `0600`) if it does not exist:
/// development federation only.
pub fn ensure_key(path: &Path) -> Result<(), ConsoleError> {
    if path.exists() {
        return Ok(());
    }
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ConsoleError::Randomness)?;
    crate::pki::write_secret_file(path, &token::hex(&bytes)).map_err(|e| ConsoleError::Key {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// `guichet console-login`: a one-time login link for `identity` (admin or office),
/// valid for `[console] login_ttl_ms`, at `console.public_url` or `http://` + `[admin] listen`.
pub fn login_url(config: &Config, identity: &Identity) -> Result<String, ConsoleError> {
    let c = console_config(config)?;
    let base = match (&c.public_url, config.admin_listen) {
        (Some(url), _) => url.clone(),
        (None, Some(addr)) => format!("http://{addr}"),
        (None, None) => {
            return Err(ConsoleError::Setup(format!(
                "{}: neither console.public_url nor [admin] listen says where the console is",
                config.file.display()
            )));
        }
    };
    Ok(format!("{base}{}", login_path(config, identity)?))
}

/// The path and query of a one-time login link (`/console/login?token=…`).
pub fn login_path(config: &Config, identity: &Identity) -> Result<String, ConsoleError> {
    let c = console_config(config)?;
    let key = read_key(&c.key_file)?;
    let expires = now_unix() + i64::try_from(c.login_ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let token = token::mint(&key, identity, expires)?;
    Ok(format!("/console/login?token={token}"))
}

fn console_config(config: &Config) -> Result<&ConsoleConfig, ConsoleError> {
    config.console.as_ref().ok_or_else(|| {
        ConsoleError::Setup(format!(
            "{}: no [console] section (key_file), so there is no console",
            config.file.display()
        ))
    })
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// One request of a signed-in operator.
struct Ctx<'a> {
    state: &'a Arc<State>,
    console: &'a Console,
    session: Session,
}

impl Ctx<'_> {
    fn who(&self) -> &Identity {
        &self.session.identity
    }

    fn admin(&self) -> Result<(), ConsoleError> {
        if self.who().role == Role::Admin {
            return Ok(());
        }
        Err(ConsoleError::Forbidden(format!(
            "this page is for administrators; {} may open only its own office's page",
            self.who().uri()
        )))
    }

    fn html(&self, title: &str, body: &str, live: bool) -> Response<Full<Bytes>> {
        html::respond(
            StatusCode::OK,
            html::page(Some(&self.session), title, body, live),
        )
    }
}

/// Answers a request under `/console` (operations listener).
pub(crate) async fn handle(req: Request<Incoming>, state: Arc<State>) -> Response<Full<Bytes>> {
    let Some(console) = state.console.clone() else {
        return html::respond(
            StatusCode::NOT_FOUND,
            html::page(
                None,
                "No console",
                "<p>This gateway has no [console] section.</p>",
                false,
            ),
        );
    };
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let segs: Vec<&str> = path
        .trim_start_matches("/console")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let result = match (&parts.method, segs.as_slice()) {
        (&Method::GET, ["assets", name]) => html::asset(name).ok_or(ConsoleError::NotFound),
        (&Method::GET, ["login"]) => login(&console, parts.uri.query()),
        _ => match session_of(&console, &parts.headers) {
            Some(session) => {
                let ctx = Ctx {
                    state: &state,
                    console: &console,
                    session,
                };
                signed_in(&ctx, &parts, body, &segs).await
            }
            None => Err(ConsoleError::NoSession),
        },
    };
    result.unwrap_or_else(|e| {
        let body = format!("<p role=\"alert\">{}</p>", html::esc(&e.to_string()));
        html::respond(e.status(), html::page(None, "Refused", &body, false))
    })
}

/// The pages of a signed-in operator; a `POST` checks the form's CSRF token first.
async fn signed_in(
    ctx: &Ctx<'_>,
    parts: &hyper::http::request::Parts,
    body: Incoming,
    segs: &[&str],
) -> Result<Response<Full<Bytes>>, ConsoleError> {
    if parts.method == Method::POST {
        let form = read_form(body).await?;
        if !form
            .get("csrf")
            .is_some_and(|t| session::same(t, &ctx.session.csrf))
        {
            return Err(ConsoleError::Csrf);
        }
        return post(ctx, segs, &form).await;
    }
    if parts.method != Method::GET {
        return Err(ConsoleError::NotFound);
    }
    match segs {
        [] if ctx.who().role == Role::Office => Ok(html::see_other(
            &format!("/console/offices/{}", ctx.who().name),
            None,
        )),
        [] => federation::page(ctx),
        ["federation", "grid"] => federation::fragment(ctx),
        ["api", "federation"] => federation::json(ctx),
        ["offices", office] => office::page_of(ctx, parse_office(office)?, None).await,
        ["certificates"] => certs::page_of(ctx, None),
        ["outbox"] => outbox::page_of(ctx, None).await,
        ["audit"] => audit::page(ctx).await,
        _ => Err(ConsoleError::NotFound),
    }
}

/// The forms.
async fn post(
    ctx: &Ctx<'_>,
    segs: &[&str],
    form: &Form,
) -> Result<Response<Full<Bytes>>, ConsoleError> {
    match segs {
        ["logout"] => {
            ctx.console.sessions.end(&ctx.session.id);
            Ok(html::see_other("/console/", Some(clear_cookie())))
        }
        ["offices", office] => office::edit(ctx, parse_office(office)?, form).await,
        ["offices", office, action @ ("rollback" | "delete")] => {
            office::admin_action(ctx, parse_office(office)?, action, form).await
        }
        ["certificates", "reload"] => certs::reload(ctx),
        ["outbox", id, "retry"] => outbox::retry(ctx, id).await,
        _ => Err(ConsoleError::NotFound),
    }
}

/// `GET /console/login?token=…`: redeems the link once, sets the session cookie.
fn login(console: &Console, query: Option<&str>) -> Result<Response<Full<Bytes>>, ConsoleError> {
    let token = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .ok_or(ConsoleError::Token("the login link has no token"))?;
    let now = now_unix();
    let login = token::verify(&console.key, &token, now)?;
    let (id, session) = console
        .sessions
        .redeem(login, now, console.config.session_ttl)?;
    tracing::info!(identity = %session.identity, "console session opened");
    let cookie = format!(
        "{COOKIE}={id}; Path=/console/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        console.config.session_ttl.as_secs()
    );
    let home = match session.identity.role {
        Role::Office => format!("/console/offices/{}", session.identity.name),
        _ => "/console/".to_owned(),
    };
    Ok(html::see_other(&home, Some(cookie)))
}

fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/console/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The live session named by the request's cookie.
fn session_of(console: &Console, headers: &hyper::HeaderMap) -> Option<Session> {
    let id = headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())?;
    console.sessions.get(&id)
}

fn parse_office(text: &str) -> Result<OfficeId, ConsoleError> {
    text.parse().map_err(|_| ConsoleError::NotFound)
}

/// A posted form's fields (the last of a repeated name wins).
type Form = std::collections::HashMap<String, String>;

async fn read_form(body: Incoming) -> Result<Form, ConsoleError> {
    let bytes = Limited::new(body, MAX_FORM)
        .collect()
        .await
        .map_err(|_| ConsoleError::Form(format!("the form is larger than {MAX_FORM} bytes")))?
        .to_bytes();
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}
