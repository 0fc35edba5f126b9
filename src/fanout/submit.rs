//! One outbound document to one office (a claim, a person's reply): POST over the office's
//! own pooled client — its certificate verified in the handshake before a byte is sent,
//! no redirect followed — and the answer read within a size cap. The delivery worker
//! decides what the answer means; nothing here retries or knows a dialect.

use std::time::Duration;

use super::{CallError, Fanout};
use crate::adapter::Adapter;

/// A document to POST: its text, its media type, and the key the office de-duplicates a
/// repeated delivery by (sent as `Idempotency-Key`).
#[derive(Debug, Clone)]
pub struct Outbound {
    /// `application/xml` or `application/json`.
    pub content_type: &'static str,
    /// The document.
    pub body: String,
    /// The same for every attempt of one delivery.
    pub idempotency_key: Option<String>,
}

impl Outbound {
    /// An XML document (a claim: its message id inside is the key).
    pub fn xml(body: String) -> Outbound {
        Outbound {
            content_type: "application/xml",
            body,
            idempotency_key: None,
        }
    }

    /// A JSON document with its idempotency key.
    pub fn json(body: String, key: &str) -> Outbound {
        Outbound {
            content_type: "application/json",
            body,
            idempotency_key: Some(key.to_owned()),
        }
    }
}

/// What the office answered.
#[derive(Debug)]
pub struct Posted {
    /// A `2xx`: for a claim `200` (the acknowledgement is the body) or `202` (it follows
    /// over sedex).
    pub status: u16,
    /// The body, at most the cap.
    pub body: Vec<u8>,
}

/// Why a POST got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The exchange failed (connection, handshake, identity, status, size).
    #[error(transparent)]
    Call(#[from] CallError),
    /// No whole answer within the time allowed.
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
}

impl PostError {
    /// Whether another attempt can succeed. Only the office's own refusal of the
    /// document (`4xx` other than `408`/`429`) is final; connection and handshake
    /// problems, a wrong certificate or a redirect (configuration to be fixed), timeouts,
    /// `5xx` and oversized answers are retried until the delivery expires.
    pub fn retryable(&self) -> bool {
        !matches!(self, PostError::Call(CallError::Status(s))
            if (400..500).contains(s) && *s != 408 && *s != 429)
    }
}

impl Fanout {
    /// The settings the fan-out was built with (sender and participant ids, test flag).
    pub fn settings(&self) -> &super::FanoutSettings {
        &self.settings
    }

    /// POSTs `doc` to `url` on `adapter`'s office within `timeout`; a `2xx` is an answer,
    /// any other status an error ([`CallError::Status`], redirects [`CallError::Redirect`]:
    /// never followed).
    pub async fn post_document(
        &self,
        adapter: &Adapter,
        url: reqwest::Url,
        doc: Outbound,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Posted, PostError> {
        let client = self.clients.get(adapter).map_err(|_| CallError::Client)?;
        let exchange = async {
            let mut request = client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, doc.content_type);
            if let Some(key) = &doc.idempotency_key {
                request = request.header("idempotency-key", key);
            }
            let mut response = super::call::send(request.body(doc.body)).await?;
            let status = response.status();
            if !status.is_success() {
                return Err(CallError::Status(status.as_u16()));
            }
            Ok(Posted {
                status: status.as_u16(),
                body: super::call::read_capped(&mut response, max_bytes).await?,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result.map_err(PostError::Call),
            Err(_) => Err(PostError::Timeout(timeout)),
        }
    }
}
