//! The delivery worker: works off the outbox, exactly once per claim.
//!
//! Each turn it leases due outbox rows ([`crate::store::Store::claim_due`]: `FOR UPDATE
//! SKIP LOCKED` on PostgreSQL, so several replicas share the work), renders each claim
//! with its fund's submission mapping under the row's **stable message id**, and hands it
//! to the fund by the fund's transport:
//!
//! - **sync**: POST over the office's own pooled mTLS client (its certificate verified in
//!   the handshake, no redirect followed). `200` carries the acknowledgement; `202` means
//!   "received, the acknowledgement follows over sedex" (the row is closed `delivered`).
//! - **sedex**: data file then envelope into the client's `outbox/` (each atomically);
//!   the row then waits ([`crate::store::Store::defer`], no attempt counted) for the
//!   client's receipt: `100` closes it `delivered`, `2xx`/`3xx`/`330` fail it, anything
//!   else keeps waiting until the delivery expires.
//!
//! Acknowledgements — the sync answer, or pairs picked up from a fund's sedex `inbox/` —
//! are applied in one store transaction with their **delivery receipt** (signed by the
//! seal, its hash appended to the audit log first): `accepted` (case number), `rejected`
//! (reason code), `transferred` (a new outbox row for the named fund; a fund that already
//! had the claim is a loop, and the claim fails with that reason).
//!
//! Exactly once: the message id never changes between attempts of one delivery, funds
//! answer a message id they know with the same acknowledgement, a sedex pair is written
//! only once the previous attempt's files are gone, and every state change presents the
//! row's lease, so a worker whose lease expired (its process died) changes nothing. A
//! process killed at any point leaves a row that is due again when its lease expires.
//!
//! Invariant: no body, AHV number, name or free text of a fund reaches a log line or the
//! history; details are codes, office ids and error kinds.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::watch;

use crate::adapter::Adapter;
use crate::fanout::{Outbound, PostError};
use crate::model::OfficeId;
use crate::server::State;
use crate::store::{Delivery, NewReceipt, Step, Store, StoreError, SubjectKind, SubmissionId};

mod claim;
mod crash;
mod reply;
mod sedex;

pub use crash::CrashPoint;

/// What to do with a leased row after an attempt.
#[derive(Debug)]
enum Next {
    /// Close the row `done` and apply the step.
    Close(Step),
    /// Close the row `failed`; the submission fails with this detail.
    Fail(String),
    /// Hand the row back with one more attempt, due after the backoff.
    Retry(String),
    /// Hand the row back unchanged, due in this long (waiting for a receipt).
    Wait(Duration),
    /// The fund named another as competent: re-route.
    Transfer {
        to: OfficeId,
        detail: String,
        receipt: Option<NewReceipt>,
    },
    /// The submission moved on without this row (an acknowledgement arrived through the
    /// sedex inbox): close the row, leave the submission as it is.
    Superseded,
}

/// The outbox's worker in this process.
#[derive(Debug)]
pub struct Worker {
    state: Arc<State>,
    id: String,
    lease: Duration,
}

impl Worker {
    /// A worker named `id` (unique per process: leases carry it) that holds each row for
    /// `lease` while it delivers.
    pub fn new(state: Arc<State>, id: impl Into<String>, lease: Duration) -> Worker {
        Worker {
            state,
            id: id.into(),
            lease,
        }
    }

    fn db(&self) -> &Store {
        &self.state.db
    }

    /// Runs until `stop` turns true: migrates the store (retrying while it is
    /// unreachable), then works off due rows and the funds' sedex inboxes every poll
    /// interval. At the end it hands back every row it still holds.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let every = self.state.delivery.poll_interval;
        while let Err(e) = self.db().migrate().await {
            tracing::error!(error = %e, "store not ready; delivery waits");
            if sleep_or_stop(&mut stop, every.max(Duration::from_secs(1))).await {
                return;
            }
        }
        loop {
            if *stop.borrow() {
                break;
            }
            let full = self.turn().await;
            self.pick_up_inboxes().await;
            if !full && sleep_or_stop(&mut stop, every).await {
                break;
            }
        }
        match self.db().release_leases(&self.id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "outbox leases handed back at shutdown"),
            Err(e) => tracing::warn!(error = %e, "outbox leases not handed back; they expire"),
        }
    }

    /// One batch of due rows, delivered concurrently. Whether the batch was full (more may
    /// be due at once).
    pub async fn turn(&self) -> bool {
        let batch = self.state.delivery.batch;
        let due = match self.db().claim_due(&self.id, batch.get(), self.lease).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "outbox not readable");
                return false;
            }
        };
        let full = due.len() >= batch.get() as usize;
        futures_util::future::join_all(due.into_iter().map(|d| self.deliver(d))).await;
        full
    }

    async fn deliver(&self, d: Delivery) {
        let next = self.attempt(&d).await;
        let outcome = outcome_name(&next);
        crash::point(CrashPoint::BeforeRecord);
        // The store's clock: expiry and due times were computed by it.
        let now = self.db().clock.now_ms();
        let result = match next {
            Next::Close(step) => self.db().complete(&d.lease, &step).await,
            Next::Fail(detail) => self.db().fail(&d.lease, &detail).await,
            Next::Retry(error) if now >= d.expires_at => {
                let detail = format!("expired after {} attempts; last: {error}", d.attempts + 1);
                self.db().fail(&d.lease, &detail).await
            }
            Next::Retry(error) => {
                let wait = backoff(&self.state.delivery, d.attempts);
                let at = now.saturating_add(crate::store::duration_ms(wait));
                self.db().retry_later(&d.lease, at, &error).await
            }
            Next::Wait(_) if now >= d.expires_at => {
                self.db()
                    .fail(&d.lease, "expired: no final sedex receipt")
                    .await
            }
            Next::Wait(wait) => {
                let at = now
                    .saturating_add(crate::store::duration_ms(wait))
                    .min(d.expires_at);
                self.db().defer(&d.lease, at).await
            }
            Next::Transfer {
                to,
                detail,
                receipt,
            } => match submission_id(&d) {
                Some(id) => {
                    self.db()
                        .transfer(
                            id,
                            Some(&d.lease),
                            to,
                            &detail,
                            receipt,
                            self.state.delivery.expiry,
                        )
                        .await
                }
                None => self.db().fail(&d.lease, "not a submission").await,
            },
            Next::Superseded => self.db().close_superseded(&d.lease).await,
        };
        match result {
            Ok(()) => {
                crate::metrics::METRICS
                    .deliveries
                    .get_or_create(&crate::metrics::DeliveryLabels {
                        office: d.target_office.to_string(),
                        outcome,
                    })
                    .inc();
            }
            // Another worker took the row over (our lease expired): it decides now.
            Err(StoreError::LeaseLost { .. }) => {
                tracing::warn!(office = %d.target_office, "outbox lease lost during delivery");
            }
            Err(e) => {
                tracing::error!(office = %d.target_office, error = %e, "delivery not recorded; the row is due again when its lease expires")
            }
        }
    }

    /// One attempt at one row: what the office said, as the next step of the row.
    async fn attempt(&self, d: &Delivery) -> Next {
        match d.subject.kind {
            SubjectKind::Reply => self.push_reply(d).await,
            SubjectKind::Submission => self.deliver_claim(d).await,
        }
    }

    /// POSTs `doc` to `url` on `adapter`'s office with the delivery's timeout and answer cap.
    async fn post(
        &self,
        adapter: &Adapter,
        url: reqwest::Url,
        doc: Outbound,
    ) -> Result<crate::fanout::Posted, PostError> {
        let cfg = &self.state.delivery;
        self.state
            .fanout
            .post_document(adapter, url, doc, cfg.timeout, cfg.max_ack_bytes)
            .await
    }
}

fn submission_id(d: &Delivery) -> Option<SubmissionId> {
    match d.subject.kind {
        SubjectKind::Submission => d.subject.id.parse().ok(),
        SubjectKind::Reply => None,
    }
}

/// A POST without a usable answer: retried unless the office (`who`) refused it.
fn not_posted(e: &PostError, who: &str) -> Next {
    if e.retryable() {
        Next::Retry(e.to_string())
    } else {
        Next::Fail(format!("refused by the {who}: {e}"))
    }
}

fn outcome_name(next: &Next) -> &'static str {
    match next {
        Next::Close(step) => step.state.as_str(),
        Next::Fail(_) => "failed",
        Next::Retry(_) => "retry",
        Next::Wait(_) => "waiting",
        Next::Transfer { .. } => "transferred",
        Next::Superseded => "superseded",
    }
}

/// The wait before attempt `attempts + 1`: the initial backoff doubled per attempt, at
/// most the maximum, with full jitter on the upper half (so replicas retrying the same
/// fund spread out).
pub fn backoff(cfg: &crate::config::DeliveryConfig, attempts: u32) -> Duration {
    let base = cfg
        .backoff_initial
        .saturating_mul(1u32 << attempts.min(20))
        .min(cfg.backoff_max);
    let half = base / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
    half + Duration::from_millis(jitter)
}

async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    let stopped = tokio::select! {
        _ = tokio::time::sleep(d) => None,
        _ = stop.wait_for(|s| *s) => Some(true),
    };
    stopped.unwrap_or_else(|| *stop.borrow())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter() {
        let cfg = crate::config::DeliveryConfig::default();
        for attempts in 0..40 {
            let b = backoff(&cfg, attempts);
            let base = cfg
                .backoff_initial
                .saturating_mul(1u32 << attempts.min(20))
                .min(cfg.backoff_max);
            assert!(b >= base / 2 && b <= base, "{attempts}: {b:?} vs {base:?}");
        }
        assert!(backoff(&cfg, 30) <= cfg.backoff_max);
    }
}
