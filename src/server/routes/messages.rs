//! `POST /v1/messages` (an office sends), `GET /v1/persons/{vn}/messages`, `GET
//! /v1/messages/{id}` and `…/attachments/{n}` (the person reads through a portal, with
//! `Purpose: self-service` and the person's own token; the first read seals one read
//! receipt), `GET /v1/messages/{id}/receipts` (the sending office only). Content is
//! encrypted before it is stored and decrypted only for its reader; every send, listing
//! and read is audited before the answer leaves. Replies and inboxes: `replies.rs`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::super::end_user::{self, EndUser, Presented};
use super::super::problem::Problem;
use super::super::{Messages, State};
use crate::audit::{Event, Kind};
use crate::message::{Attachment, Content, MediaType, draft};
use crate::model::{Identity, OfficeId, Vn};
use crate::receipt::{DispatchReceipt, ReadReceipt, ReceiptBody};
use crate::store::{
    MessageCreated, MessageId, NewAttachment, NewMessage, NewReceipt, ReceiptKind, StoreError,
    StoredMessage,
};
use crate::view::{
    AttachmentView, MessageListView, MessageReceiptsView, MessageSentView, MessageSummaryView,
    MessageView, ReceiptView,
};

/// The purpose a portal states to read or answer a person's messages.
pub(super) const SELF_SERVICE: &str = "self-service";

/// Largest request body: 10 MiB of attachments in base64, the body and the JSON around.
pub(super) const MAX_REQUEST: usize = crate::message::MAX_ATTACHMENT_BYTES / 3 * 4 + 256 * 1024;

/// Messages per page of a listing unless `limit` says otherwise.
const PAGE: u32 = 20;

/// The keys and settings, or `503` when `[messages]` is absent.
pub(super) fn configured(state: &State) -> Result<&Arc<Messages>, Problem> {
    state
        .messages
        .as_ref()
        .ok_or_else(Problem::messages_unavailable)
}

/// The office an office identity stands for.
pub(super) fn office_of(office: &Identity) -> Result<OfficeId, Problem> {
    office
        .name
        .parse()
        .map_err(|_| Problem::forbidden("the office certificate names no office id NNN.NNN"))
}

/// The stated purpose must be `self-service` (and allowed to the portal).
pub(super) fn self_service(
    headers: &hyper::HeaderMap,
    portal: &Identity,
    state: &State,
) -> Result<(), Problem> {
    let purpose = super::accesses::purpose(headers, portal, state)?;
    if purpose != SELF_SERVICE {
        return Err(Problem::forbidden(format!(
            "messages are read and answered for the purpose {SELF_SERVICE}, not {purpose}"
        )));
    }
    Ok(())
}

/// A store failure: `409` for a reused key, else `503`.
pub(super) fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::Conflict => Problem::idempotency_conflict(),
        other => Problem::store_unavailable(other),
    }
}

/// An audit record of a message route.
pub(super) fn event(
    kind: Kind,
    who: &Identity,
    person: Option<String>,
    result: &str,
    detail: String,
) -> Event {
    Event {
        kind,
        actor: super::actor(who),
        purpose: None,
        person,
        offices: Vec::new(),
        result: result.to_owned(),
        detail: Some(detail),
        binding: None,
    }
}

pub(super) fn at_ms(ms: i64) -> String {
    crate::receipt::rfc3339(ms.div_euclid(1000))
}

/// `POST /v1/messages`.
pub(super) async fn send(
    req: Request<Incoming>,
    office: &Identity,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let checked = configured(state)
        .and_then(|m| Ok((Arc::clone(m), office_of(office)?)))
        .and_then(|(m, sender)| {
            Ok((
                m,
                sender,
                super::submissions::idempotency_key(req.headers())?,
            ))
        });
    let (messages, sender, key) = match checked {
        Ok(c) => c,
        Err(refused) => {
            super::drain(req.into_body()).await;
            return Err(refused);
        }
    };
    let body = super::read_body(req.into_body(), MAX_REQUEST, "a message").await?;
    let draft = draft::parse_message(&body)?;
    let sealer = state.seal()?;
    let id = MessageId::random();
    let person = state.audit.person(draft.vn);
    let sent_at = time::OffsetDateTime::now_utc().unix_timestamp();
    let receipt = ReceiptBody::Dispatch(DispatchReceipt {
        message_id: id.to_string(),
        sender_office: sender.to_string(),
        person: person.clone(),
        message_kind: draft.kind.as_str().to_owned(),
        body_sha256: draft.content.sha256(),
        attachments: draft.attachments.iter().map(Attachment::hash).collect(),
        sent_at: crate::receipt::rfc3339(sent_at),
    });
    let keys = &messages.keyring;
    let mut attachments = Vec::with_capacity(draft.attachments.len());
    for (n, a) in draft.attachments.iter().enumerate() {
        attachments.push(NewAttachment {
            media_type: a.media.as_str().to_owned(),
            size: a.bytes.len() as u64,
            sha256: a.sha256(),
            content: keys.seal(&format!("attachment:{id}:{n}"), &a.to_plain())?,
        });
    }
    let content = keys.seal(&format!("message:{id}"), &draft.content.to_bytes())?;
    let signed = sealer
        .seal_and_audit(&state.audit, super::actor(office), receipt)
        .await?;
    let created = state
        .db
        .create_message(NewMessage {
            id,
            sender,
            idempotency_key: key,
            request_sha256: draft.request_sha256(),
            person: person.clone(),
            kind: draft.kind,
            reference: draft.reference.clone(),
            content,
            body_sha256: draft.content.sha256(),
            attachments,
            receipt: NewReceipt {
                kind: ReceiptKind::Dispatch,
                jws: signed.jws,
            },
            retention: messages.config.retention_of(draft.kind),
        })
        .await
        .map_err(store_problem)?;
    let (status, message) = match &created {
        MessageCreated::New(m) => (StatusCode::CREATED, m),
        MessageCreated::Existing(m) => (StatusCode::OK, m),
    };
    let receipts = state
        .db
        .message_receipts(message.id)
        .await
        .map_err(store_problem)?;
    let dispatch = receipts
        .iter()
        .find(|r| r.kind == ReceiptKind::Dispatch)
        .ok_or_else(|| Problem::internal("a stored message without its dispatch receipt"))?;
    let detail = format!("message {}", message.id);
    super::record(
        state,
        event(
            Kind::MessageSend,
            office,
            Some(person),
            status.as_str(),
            detail,
        ),
    )
    .await?;
    let view = MessageSentView {
        id: message.id.to_string(),
        kind: message.kind.as_str().to_owned(),
        sent_at: at_ms(message.created_at),
        body_sha256: message.body_sha256.clone(),
        dispatch_receipt: ReceiptView::from(dispatch),
    };
    let mut response = super::json(status, &view)?;
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("/v1/messages/{}", message.id)) {
        response.headers_mut().insert(hyper::header::LOCATION, v);
    }
    Ok(response)
}

/// The subject and body of a stored message (`None` once deleted).
fn open_content(m: &StoredMessage, keys: &Messages) -> Result<Option<Content>, Problem> {
    let Some(sealed) = &m.content else {
        return Ok(None);
    };
    let plain = keys.keyring.open(&format!("message:{}", m.id), sealed)?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|_| Problem::internal("stored message content is not of its shape"))
}

/// A portal reading message `id` for the person of its token: the token first (`401`),
/// then the message (`404`), then the person (`403`).
async fn load_for_reader(
    req: &Request<Incoming>,
    portal: &Identity,
    id: MessageId,
    state: &State,
) -> Result<(StoredMessage, EndUser, Vn), Problem> {
    configured(state)?;
    self_service(req.headers(), portal, state)?;
    let (who, vn) = end_user::require_end_user_any(&Presented::of(req), state)?;
    let message = state
        .db
        .get_message(id)
        .await
        .map_err(store_problem)?
        .ok_or_else(Problem::no_message)?;
    if state.audit.person(vn) != message.person {
        return Err(Problem::not_the_person());
    }
    Ok((message, who, vn))
}

/// The first read seals and stores the read receipt (once: a concurrent first read
/// stores nothing more). Returns whether this was the first read.
async fn first_read(m: &StoredMessage, portal: &Identity, state: &State) -> Result<bool, Problem> {
    if m.read_at.is_some() {
        return Ok(false);
    }
    let receipt = ReceiptBody::Read(ReadReceipt {
        message_id: m.id.to_string(),
        sender_office: m.sender.to_string(),
        person: m.person.clone(),
        portal: portal.name.clone(),
        body_sha256: m.body_sha256.clone(),
        attachments: m
            .attachments
            .iter()
            .map(|a| crate::receipt::AttachmentHash {
                sha256: a.sha256.clone(),
                media_type: a.media_type.clone(),
                size: a.size,
            })
            .collect(),
        read_at: crate::receipt::rfc3339(time::OffsetDateTime::now_utc().unix_timestamp()),
    });
    let signed = state
        .seal()?
        .seal_and_audit(&state.audit, super::actor(portal), receipt)
        .await?;
    let new = NewReceipt {
        kind: ReceiptKind::Read,
        jws: signed.jws,
    };
    state.db.mark_read(m.id, &new).await.map_err(store_problem)
}

async fn record_read(
    state: &State,
    portal: &Identity,
    m: &StoredMessage,
    who: &EndUser,
    first: bool,
    what: String,
) -> Result<(), Problem> {
    let mut e = event(
        Kind::MessageRead,
        portal,
        Some(m.person.clone()),
        if first { "first-read" } else { "read" },
        what,
    );
    e.purpose = Some(SELF_SERVICE.into());
    e.binding = Some(who.binding());
    super::record(state, e).await
}

/// `GET /v1/messages/{id}`.
pub(super) async fn get(
    req: Request<Incoming>,
    portal: &Identity,
    id: MessageId,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let (mut m, who, _) = load_for_reader(&req, portal, id, state).await?;
    let messages = configured(state)?;
    let content = open_content(&m, messages)?;
    let first = first_read(&m, portal, state).await?;
    if first {
        m = state
            .db
            .get_message(id)
            .await
            .map_err(store_problem)?
            .ok_or_else(Problem::no_message)?;
    }
    let mut names = Vec::with_capacity(m.attachments.len());
    for a in &m.attachments {
        names.push(
            match (
                &m.content,
                state
                    .db
                    .message_attachment(id, a.seq)
                    .await
                    .map_err(store_problem)?,
            ) {
                (Some(_), Some(stored)) => match stored.content {
                    Some(sealed) => {
                        let plain = messages
                            .keyring
                            .open(&format!("attachment:{id}:{}", a.seq), &sealed)?;
                        let media = MediaType::parse(&a.media_type).unwrap_or(MediaType::Pdf);
                        Attachment::from_plain(&plain, media).map(|a| a.name)
                    }
                    None => None,
                },
                _ => None,
            },
        );
    }
    record_read(state, portal, &m, &who, first, format!("message {id}")).await?;
    let view = MessageView {
        id: m.id.to_string(),
        sender_office: m.sender.to_string(),
        kind: m.kind.as_str().to_owned(),
        reference: m.reference.clone(),
        subject: content.as_ref().map(|c| c.subject.clone()),
        body: content.map(|c| c.body),
        body_sha256: m.body_sha256.clone(),
        sent_at: at_ms(m.created_at),
        read_at: m.read_at.map(at_ms),
        content_deleted: m.purged_at.is_some(),
        attachments: m
            .attachments
            .iter()
            .zip(names)
            .map(|(a, name)| AttachmentView {
                index: a.seq,
                name,
                media_type: a.media_type.clone(),
                size: a.size,
                sha256: a.sha256.clone(),
                href: format!("/v1/messages/{id}/attachments/{}", a.seq),
            })
            .collect(),
    };
    super::json(StatusCode::OK, &view)
}

/// `GET /v1/messages/{id}/attachments/{n}`: the bytes, with the detected media type.
pub(super) async fn attachment(
    req: Request<Incoming>,
    portal: &Identity,
    id: MessageId,
    n: u32,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let (m, who, _) = load_for_reader(&req, portal, id, state).await?;
    let messages = configured(state)?;
    let stored = state
        .db
        .message_attachment(id, n)
        .await
        .map_err(store_problem)?
        .ok_or_else(Problem::no_message)?;
    let sealed = stored.content.ok_or_else(Problem::content_deleted)?;
    let plain = messages
        .keyring
        .open(&format!("attachment:{id}:{n}"), &sealed)?;
    let media = MediaType::parse(&stored.media_type)
        .ok_or_else(|| Problem::internal("a stored attachment of an unknown type"))?;
    let file = Attachment::from_plain(&plain, media)
        .ok_or_else(|| Problem::internal("stored attachment content is not of its shape"))?;
    let first = first_read(&m, portal, state).await?;
    record_read(
        state,
        portal,
        &m,
        &who,
        first,
        format!("message {id} attachment {n}"),
    )
    .await?;
    let name: String = file.name.chars().filter(|c| *c != '"').collect();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", media.as_str())
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .header(
            "content-disposition",
            format!("attachment; filename=\"{}\"", name.escape_default()),
        )
        .body(Full::new(Bytes::from(file.bytes)))
        .map_err(|_| Problem::internal("the attachment answer could not be built"))
}

/// `GET /v1/messages/{id}/receipts` (the sending office; another office gets `404`).
pub(super) async fn receipts(
    office: &Identity,
    id: MessageId,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    configured(state)?;
    let sender = office_of(office)?;
    let m = state
        .db
        .get_message(id)
        .await
        .map_err(store_problem)?
        .filter(|m| m.sender == sender)
        .ok_or_else(Problem::no_message)?;
    let receipts = state
        .db
        .message_receipts(m.id)
        .await
        .map_err(store_problem)?;
    super::json(
        StatusCode::OK,
        &MessageReceiptsView {
            message_id: m.id.to_string(),
            receipts: receipts.iter().map(ReceiptView::from).collect(),
        },
    )
}

/// `GET /v1/persons/{vn}/messages?cursor=…&limit=…`.
pub(super) async fn list(
    req: Request<Incoming>,
    portal: &Identity,
    vn: Vn,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let messages = configured(state)?;
    self_service(req.headers(), portal, state)?;
    let who = end_user::require_end_user(&Presented::of(&req), vn, state)?;
    let (cursor, limit) = super::replies::page_query(req.uri().query(), PAGE)?;
    let person = state.audit.person(vn);
    let page = state
        .db
        .list_messages(&person, cursor.as_ref(), limit)
        .await
        .map_err(store_problem)?;
    let unread = state
        .db
        .unread_count(&person)
        .await
        .map_err(store_problem)?;
    let next = (page.len() == limit as usize)
        .then(|| {
            page.last()
                .map(|m| super::replies::cursor_text(m.created_at, &m.id.to_string()))
        })
        .flatten();
    let mut summaries = Vec::with_capacity(page.len());
    for m in &page {
        summaries.push(MessageSummaryView {
            id: m.id.to_string(),
            sender_office: m.sender.to_string(),
            kind: m.kind.as_str().to_owned(),
            subject: open_content(m, messages)?.map(|c| c.subject),
            sent_at: at_ms(m.created_at),
            read: m.read_at.is_some(),
            attachments: u32::try_from(m.attachments.len()).unwrap_or(u32::MAX),
        });
    }
    let mut e = event(
        Kind::MessageList,
        portal,
        Some(person),
        "200",
        format!("{} message(s)", page.len()),
    );
    e.purpose = Some(SELF_SERVICE.into());
    e.binding = Some(who.binding());
    super::record(state, e).await?;
    super::json(
        StatusCode::OK,
        &MessageListView {
            unread,
            messages: summaries,
            next,
        },
    )
}
