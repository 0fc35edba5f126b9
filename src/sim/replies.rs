//! The simulated offices' reply endpoint: persons' replies the gateway pushes (`POST
//! /messages/v1/replies`, JSON, `Idempotency-Key` = the reply's id) are taken and counted
//! per office and reply, so that a test sees each reply arrive exactly once; a repeated
//! push of a known reply is answered `200` again (the office de-duplicates by the key) and
//! counted as a repeat. `fail_next` makes the next pushes fail with `503` (a retried push).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::server::{SimBody, plain};
use crate::locks;
use crate::model::OfficeId;

/// Where the simulated offices take pushed replies (an adapter's `replies_path`).
pub const REPLIES_PATH: &str = "/messages/v1/replies";

/// The largest pushed reply taken (10 MiB of attachments in base64 and the JSON around).
const MAX_REPLY_BYTES: usize = 14 * 1024 * 1024 + 256 * 1024;

/// The replies pushed to the simulated offices.
#[derive(Debug, Default)]
pub struct Replies {
    /// Office → reply id → pushes answered `200`.
    taken: Mutex<BTreeMap<OfficeId, BTreeMap<String, u32>>>,
    fail_next: AtomicU32,
    refused: AtomicU32,
}

impl Replies {
    /// The replies `office` took, by id, with how often each was pushed and answered `200`
    /// (`1` for each reply: exactly once).
    pub fn taken(&self, office: OfficeId) -> BTreeMap<String, u32> {
        locks::lock(&self.taken)
            .get(&office)
            .cloned()
            .unwrap_or_default()
    }

    /// The next `n` pushes (to any office) are answered `503`.
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Pushes answered `503` by [`Replies::fail_next`] so far.
    pub fn refused(&self) -> u32 {
        self.refused.load(Ordering::SeqCst)
    }

    /// Takes one pushed reply for `office`.
    pub(super) async fn take(&self, office: OfficeId, req: Request<Incoming>) -> Response<SimBody> {
        let key = req
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match Limited::new(req.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "reply too large"),
        };
        let id = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned));
        let (Some(key), Some(id)) = (key, id) else {
            return plain(
                StatusCode::BAD_REQUEST,
                "a reply with its id and Idempotency-Key",
            );
        };
        if key != id {
            return plain(
                StatusCode::BAD_REQUEST,
                "Idempotency-Key is not the reply's id",
            );
        }
        let failing = self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return plain(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
        *locks::lock(&self.taken)
            .entry(office)
            .or_default()
            .entry(id)
            .or_default() += 1;
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from_static(b"{\"taken\":true}")).boxed())
            .unwrap_or_else(|_| plain(StatusCode::OK, "taken"))
    }
}
