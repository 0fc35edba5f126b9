//! The retention pass: every [`EVERY`] (and once at start) the content of messages and
//! replies past their retention period is deleted from the store; hashes and receipts
//! stay. Runs beside the delivery worker until the gateway stops.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;

/// How often expired content is looked for.
pub const EVERY: Duration = Duration::from_secs(600);

/// Deletes expired content now and every [`EVERY`] until `stopped` turns true.
pub async fn run(store: Arc<Store>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    loop {
        if store.is_migrated().await.unwrap_or(false) {
            match store.purge_expired().await {
                Ok(p) if p.messages + p.replies > 0 => tracing::info!(
                    messages = p.messages,
                    replies = p.replies,
                    "message content past its retention period deleted"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "message retention pass failed; retried later")
                }
            }
        }
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
