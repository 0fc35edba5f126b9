//! `POST /v1/messages` (an office sends; a repeated `Idempotency-Key` is answered from
//! the store before anything is sealed), `GET /v1/persons/{vn}/messages` (the person's
//! listing through a portal, with `Purpose: self-service` and the person's own token),
//! `GET /v1/messages/{id}/receipts` (the sending office only), and the helpers the message
//! routes share. Content is encrypted before it is stored; every send and listing is
//! audited before the answer leaves. Reading: `message_read.rs`; replies and inboxes:
//! `replies.rs`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::super::end_user::{self, Presented};
use super::super::problem::Problem;
use super::super::{Messages, State};
use crate::audit::{Event, Kind};
use crate::message::{Attachment, draft};
use crate::model::{Identity, OfficeId, Vn};
use crate::receipt::{DispatchReceipt, ReceiptBody};
use crate::store::{
    MessageCreated, MessageId, NewAttachment, NewMessage, NewReceipt, ReceiptKind, StoreError,
    StoredMessage,
};
use crate::view::{
    MessageListView, MessageReceiptsView, MessageSentView, MessageSummaryView, ReceiptView,
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
    // A repeated request is answered from the store before anything is sealed (the rule
    // of submissions, `Store::replay`): the same request gives the stored message (`200`,
    // its one dispatch receipt; nothing sealed, stored or audited again), another `409`.
    // Concurrent first attempts both get past this; the store's unique key decides.
    let request_sha256 = draft.request_sha256();
    if let Some(existing) = state
        .db
        .replay_message(sender, &key, &request_sha256)
        .await
        .map_err(store_problem)?
    {
        return sent(StatusCode::OK, &existing, state).await;
    }
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
            request_sha256,
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
    sent(status, message, state).await
}

/// The answer to a send: the message with its dispatch receipt and its `Location`.
async fn sent(
    status: StatusCode,
    message: &StoredMessage,
    state: &State,
) -> Result<Response<Full<Bytes>>, Problem> {
    let receipts = state
        .db
        .message_receipts(message.id)
        .await
        .map_err(store_problem)?;
    let dispatch = receipts
        .iter()
        .find(|r| r.kind == ReceiptKind::Dispatch)
        .ok_or_else(|| Problem::internal("a stored message without its dispatch receipt"))?;
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
            subject: super::message_read::open_content(m, messages)?.map(|c| c.subject),
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
