//! `GET /v1/messages/{id}` and `…/attachments/{n}`: the person reads through a portal,
//! with `Purpose: self-service` and the person's own token (`401` without, `404` for an
//! unknown message, `403` for another person's); the first read seals exactly one read
//! receipt. Content is decrypted only for its reader; every read is audited before the
//! answer leaves.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::super::end_user::{self, EndUser, Presented};
use super::super::problem::Problem;
use super::super::{Messages, State};
use super::messages::{SELF_SERVICE, at_ms, configured, event, self_service, store_problem};
use crate::audit::Kind;
use crate::message::{Attachment, Content, MediaType};
use crate::model::{Identity, Vn};
use crate::receipt::{ReadReceipt, ReceiptBody};
use crate::store::{MessageId, NewReceipt, ReceiptKind, StoredMessage};
use crate::view::{AttachmentView, MessageView};

/// The subject and body of a stored message (`None` once deleted).
pub(super) fn open_content(m: &StoredMessage, keys: &Messages) -> Result<Option<Content>, Problem> {
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
