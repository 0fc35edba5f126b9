//! `POST /v1/messages/{id}/replies` (the person answers through a portal, same binding as
//! reading), `GET /v1/offices/{office}/inbox` (the office's replies not yet acknowledged,
//! oldest first, by cursor) and `POST /v1/offices/{office}/inbox/{id}/ack`. A reply's body
//! and attachments are encrypted together before they are stored. Also the opaque cursor
//! of the message listings.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::super::State;
use super::super::end_user::{self, Presented};
use super::super::problem::Problem;
use super::messages::{
    MAX_REQUEST, SELF_SERVICE, at_ms, configured, event, office_of, self_service, store_problem,
};
use crate::audit::Kind;
use crate::message::draft;
use crate::model::{Identity, OfficeId};
use crate::store::{Cursor, MessageId, NewReply, StoredReply};
use crate::view::{InboxView, ReplyAttachmentView, ReplySentView, ReplyView};

/// The most a page may hold.
const MAX_PAGE: u32 = 100;

/// What a reply's encrypted content holds.
#[derive(Serialize, Deserialize)]
struct ReplyPlain {
    body: String,
    attachments: Vec<ReplyAttachmentView>,
}

/// The opaque cursor after the row at `at` (unix ms) with `id`.
pub(super) fn cursor_text(at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}/{id}"))
}

fn parse_cursor(text: &str) -> Result<Cursor, Problem> {
    let raw = URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| Problem::invalid_cursor())?;
    let raw = String::from_utf8(raw).map_err(|_| Problem::invalid_cursor())?;
    let (at, id) = raw.split_once('/').ok_or_else(Problem::invalid_cursor)?;
    let at = at.parse().map_err(|_| Problem::invalid_cursor())?;
    uuid::Uuid::try_parse(id).map_err(|_| Problem::invalid_cursor())?;
    Ok(Cursor {
        at,
        id: id.to_owned(),
    })
}

/// `cursor` and `limit` (1–100, default `page`) of a listing's query; anything else `400`.
pub(super) fn page_query(query: Option<&str>, page: u32) -> Result<(Option<Cursor>, u32), Problem> {
    let mut cursor = None;
    let mut limit = page;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "cursor" => cursor = Some(parse_cursor(value)?),
            "limit" => {
                limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| {
                        Problem::bad_request("invalid-limit", format!("limit is 1–{MAX_PAGE}"))
                    })?;
            }
            _ => {
                let shown: String = name.chars().take(40).collect();
                return Err(Problem::bad_request(
                    "unknown-parameter",
                    format!("unknown query parameter {shown:?} (cursor, limit)"),
                ));
            }
        }
    }
    Ok((cursor, limit))
}

/// `POST /v1/messages/{id}/replies`.
pub(super) async fn reply(
    req: Request<Incoming>,
    portal: &Identity,
    id: MessageId,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let checked = configured(state)
        .and_then(|_| self_service(req.headers(), portal, state))
        .and_then(|()| end_user::require_end_user_any(&Presented::of(&req), state));
    let (who, vn) = match checked {
        Ok(c) => c,
        Err(refused) => {
            super::drain(req.into_body()).await;
            return Err(refused);
        }
    };
    let person = state.audit.person(vn);
    let found = state
        .db
        .get_message(id)
        .await
        .map_err(store_problem)
        .and_then(|m| m.ok_or_else(Problem::no_message))
        .and_then(|m| {
            if m.person == person {
                Ok(m)
            } else {
                Err(Problem::not_the_person())
            }
        });
    let message = match found {
        Ok(m) => m,
        Err(refused) => {
            super::drain(req.into_body()).await;
            return Err(refused);
        }
    };
    let body = super::read_body(req.into_body(), MAX_REQUEST, "a reply").await?;
    let content = draft::parse_reply(&body)?;
    let plain = ReplyPlain {
        body: content.body,
        attachments: content
            .attachments
            .iter()
            .map(|a| ReplyAttachmentView {
                name: a.name.clone(),
                media_type: a.media.as_str().to_owned(),
                sha256: a.sha256(),
                content_base64: STANDARD.encode(&a.bytes),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&plain)
        .map_err(|_| Problem::internal("the reply could not be serialized"))?;
    let messages = configured(state)?;
    let reply_id = MessageId::random();
    let sealed = messages
        .keyring
        .seal(&format!("reply:{reply_id}"), &bytes)?;
    let pushed = pushed_to(message.sender, state);
    // Recorded before it is stored (and queued for push): a reply the audit log cannot
    // take is refused with nothing stored, as a claim is.
    let mut e = event(
        Kind::MessageReply,
        portal,
        Some(message.person.clone()),
        "201",
        format!(
            "message {id} reply {reply_id} to {}{}",
            message.sender,
            if pushed { " (queued for push)" } else { "" }
        ),
    );
    e.purpose = Some(SELF_SERVICE.into());
    e.binding = Some(who.binding());
    super::record(state, e).await?;
    let stored = state
        .db
        .create_reply(&NewReply {
            id: reply_id,
            message_id: id,
            office: message.sender,
            portal: portal.uri(),
            person: message.person.clone(),
            content: sealed,
            content_sha256: crate::receipt::sha256_hex(&bytes),
            retention: messages.config.reply_retention,
            push_expiry: pushed.then_some(state.delivery.expiry),
        })
        .await
        .map_err(store_problem)?;
    super::json(
        StatusCode::CREATED,
        &ReplySentView {
            id: stored.id.to_string(),
            message_id: id.to_string(),
            office: message.sender.to_string(),
            received_at: at_ms(stored.created_at),
        },
    )
}

/// The office of the path must be the caller's own.
fn own_office(office: &Identity, path: OfficeId) -> Result<OfficeId, Problem> {
    let own = office_of(office)?;
    if own != path {
        return Err(Problem::forbidden(format!(
            "office {own} may read and acknowledge only its own inbox"
        )));
    }
    Ok(own)
}

/// Whether `office` runs a reply endpoint (its adapter names `replies_path`): its replies
/// are pushed through the outbox as well as kept in its inbox until acknowledged.
fn pushed_to(office: OfficeId, state: &State) -> bool {
    state
        .fanout
        .registry()
        .get(office)
        .is_some_and(|a| a.replies_path.is_some())
}

/// A reply as its office receives it, from its inbox or pushed: the content decrypted.
pub(crate) fn reply_view(r: &StoredReply, state: &State) -> Result<ReplyView, Problem> {
    let messages = configured(state)?;
    let plain = match &r.content {
        Some(sealed) => {
            let bytes = messages.keyring.open(&format!("reply:{}", r.id), sealed)?;
            Some(
                serde_json::from_slice::<ReplyPlain>(&bytes)
                    .map_err(|_| Problem::internal("stored reply content is not of its shape"))?,
            )
        }
        None => None,
    };
    let (body, attachments) = plain.map_or((None, Vec::new()), |p| (Some(p.body), p.attachments));
    Ok(ReplyView {
        id: r.id.to_string(),
        message_id: r.message_id.to_string(),
        received_at: at_ms(r.created_at),
        body,
        attachments,
        content_sha256: r.content_sha256.clone(),
    })
}

/// `GET /v1/offices/{office}/inbox?cursor=…&limit=…`.
pub(super) async fn inbox(
    req: Request<Incoming>,
    office: &Identity,
    path: OfficeId,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let page = configured(state)?.config.inbox_page;
    let own = own_office(office, path)?;
    let (cursor, limit) = page_query(req.uri().query(), page.min(MAX_PAGE))?;
    let replies = state
        .db
        .inbox(own, cursor.as_ref(), limit)
        .await
        .map_err(store_problem)?;
    let next = (replies.len() == limit as usize)
        .then(|| {
            replies
                .last()
                .map(|r| cursor_text(r.created_at, &r.id.to_string()))
        })
        .flatten();
    let views = replies
        .iter()
        .map(|r| reply_view(r, state))
        .collect::<Result<Vec<_>, _>>()?;
    let detail = format!("{} repl(ies)", views.len());
    super::record(
        state,
        event(Kind::MessageInbox, office, None, "200", detail),
    )
    .await?;
    super::json(
        StatusCode::OK,
        &InboxView {
            replies: views,
            next,
        },
    )
}

/// `POST /v1/offices/{office}/inbox/{id}/ack`: `204`; a reply of another office `404`.
pub(super) async fn acknowledge(
    office: &Identity,
    path: OfficeId,
    id: MessageId,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    configured(state)?;
    let own = own_office(office, path)?;
    let first = state
        .db
        .acknowledge_reply(own, id)
        .await
        .map_err(store_problem)?
        .ok_or_else(Problem::no_message)?;
    let result = if first {
        "acknowledged"
    } else {
        "already-acknowledged"
    };
    super::record(
        state,
        event(
            Kind::MessageInbox,
            office,
            None,
            result,
            format!("reply {id}"),
        ),
    )
    .await?;
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}
