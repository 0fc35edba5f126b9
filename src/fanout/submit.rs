//! One outbound document to one office (a claim, later a message): POST over the office's
//! own pooled client — its certificate verified in the handshake before a byte is sent,
//! no redirect followed — and the answer read within a size cap. The delivery worker
//! decides what the answer means; nothing here retries or knows a dialect.

use std::time::Duration;

use super::{CallError, Fanout};
use crate::adapter::Adapter;

/// What the office answered.
#[derive(Debug)]
pub struct Posted {
    /// `200` (the acknowledgement is the body) or `202` (it follows over sedex).
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

    /// POSTs `body` (XML) to `url` on `adapter`'s office within `timeout`; `200` and `202`
    /// are answers, any other status an error ([`CallError::Status`], redirects
    /// [`CallError::Redirect`]: never followed).
    pub async fn post_document(
        &self,
        adapter: &Adapter,
        url: reqwest::Url,
        body: String,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Posted, PostError> {
        let client = self.clients.get(adapter).map_err(|_| CallError::Client)?;
        let exchange = async {
            let mut response = super::call::send_xml(client.post(url), body).await?;
            let status = response.status();
            if status != reqwest::StatusCode::OK && status != reqwest::StatusCode::ACCEPTED {
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
