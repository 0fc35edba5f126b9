//! Pushing a person's reply to its office when the office runs a reply endpoint (its
//! adapter's `replies_path`): the reply as one JSON object — the shape of an item of `GET
//! /v1/offices/{office}/inbox` — POSTed over the office's own pooled mTLS client (its
//! certificate verified in the handshake, no redirect followed) with the reply's id as
//! `Idempotency-Key`, the same for every attempt. Any `2xx` is the office's
//! acknowledgement: the row is done and the reply leaves the inbox in the same
//! transaction. `5xx`, `408`, `429`, timeouts and connection or identity failures are
//! retried with the worker's backoff until the delivery expires; another `4xx` gives up.
//! A reply given up (or not yet pushed) stays in the inbox; one acknowledged there first
//! is not pushed any more.
//!
//! Invariant: the reply's text goes only into the body of the POST, never into a log
//! line, the row's error or the audit log.

use super::{Next, Worker};
use crate::audit::{Actor, ActorRole, Event, Kind};
use crate::fanout::Outbound;
use crate::store::{Delivery, MessageId, Step, SubmissionState};

impl Worker {
    /// One attempt at pushing the reply of row `d`.
    pub(super) async fn push_reply(&self, d: &Delivery) -> Next {
        let Ok(id) = d.subject.id.parse::<MessageId>() else {
            return Next::Fail("outbox row names no reply id".into());
        };
        let reply = match self.db().get_reply(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Next::Fail("reply missing".into()),
            Err(e) => return Next::Retry(format!("store: {e}")),
        };
        if reply.acknowledged_at.is_some() {
            // Taken from the inbox (and acknowledged) before the push got through.
            return Next::Superseded;
        }
        if reply.content.is_none() {
            return Next::Fail("content deleted by the retention period before the push".into());
        }
        let registry = self.state.fanout.registry();
        let Some(adapter) = registry.get(d.target_office) else {
            return Next::Retry(format!("office {} is not registered", d.target_office));
        };
        let Some(url) = adapter.replies_url() else {
            return Next::Fail("the office runs no reply endpoint any more; inbox only".into());
        };
        let body = match crate::server::routes::reply_view(&reply, &self.state)
            .ok()
            .and_then(|view| serde_json::to_string(&view).ok())
        {
            Some(b) => b,
            None => return Next::Fail("stored reply content not readable".into()),
        };
        // The content leaves the gateway: recorded first, like every access.
        let event = Event {
            kind: Kind::MessageInbox,
            actor: Actor {
                role: ActorRole::Gateway,
                name: "delivery".into(),
            },
            purpose: None,
            person: None,
            offices: Vec::new(),
            result: "push".into(),
            detail: Some(format!(
                "reply {id} to {} attempt {}",
                d.target_office,
                d.attempts + 1
            )),
            binding: None,
        };
        if let Err(e) = self.state.audit.append(event).await {
            return Next::Retry(format!("audit log unavailable: {e}"));
        }
        let answer = self
            .post(adapter, url, Outbound::json(body, &d.message_id))
            .await;
        match answer {
            Ok(posted) => Next::Close(
                Step::to(SubmissionState::Delivered)
                    .detail(format!("reply pushed ({})", posted.status)),
            ),
            Err(e) => super::not_posted(&e, "office"),
        }
    }
}
