//! The sedex side of the delivery worker: a claim handed to a fund's sedex client (data
//! file, then envelope) and its receipt followed, and the acknowledgements picked up from
//! the funds' sedex `inbox/` folders, each applied to its submission before its pair is
//! moved to `processed/`.

use std::sync::Arc;

use super::crash::{self, CrashPoint};
use super::{Next, Worker};
use crate::adapter::{Adapter, Submissions};
use crate::model::OfficeId;
use crate::sedex::{Envelope, SedexFolder, SedexStatus};
use crate::store::{Delivery, Step, Submission, SubmissionId, SubmissionState};

/// The history detail that marks a sedex message as handed to the fund's client.
const HANDED_TO_SEDEX: &str = "sedex: handed to the client";

impl Worker {
    pub(super) async fn send_sedex(
        &self,
        sub: &Submission,
        d: &Delivery,
        subs: &Submissions,
        folder: &std::path::Path,
        participant_id: &str,
        xml: String,
    ) -> Next {
        let poll = self.state.delivery.poll_interval;
        let folder = match SedexFolder::open(folder) {
            Ok(f) => f,
            Err(e) => return Next::Retry(e.to_string()),
        };
        let id = d.message_id.clone();
        let f = folder.clone();
        let receipt = match blocking(move || f.receipt(&id)).await {
            Ok(r) => r,
            Err(e) => return Next::Retry(e),
        };
        if let Some(receipt) = receipt {
            let status = receipt.status;
            let archive = |folder: SedexFolder, id: String| async move {
                if let Err(e) = blocking(move || folder.archive_receipt(&id)).await {
                    tracing::warn!(error = %e, "sedex receipt not archived");
                }
            };
            return match status {
                SedexStatus::Delivered => {
                    archive(folder, d.message_id.clone()).await;
                    Next::Close(
                        Step::to(SubmissionState::Delivered)
                            .detail("sedex 100: in the fund's inbox; its acknowledgement follows"),
                    )
                }
                s if s.is_final() => {
                    archive(folder, d.message_id.clone()).await;
                    Next::Fail(format!("sedex {}: not deliverable", s.code()))
                }
                // 4xx, 5xx, 601, 701: the sedex system is still at it.
                _ => Next::Wait(poll),
            };
        }
        if is_waiting_for_sedex(sub, d) {
            return Next::Wait(poll);
        }
        let settings = self.state.fanout.settings();
        let envelope = Envelope::new(
            &d.message_id,
            subs.mapping.message_type(),
            subs.mapping.message_class(),
            &settings.sender_id,
            participant_id,
            time::OffsetDateTime::now_utc(),
        );
        crash::point(CrashPoint::BeforeSend);
        let f = folder.clone();
        let sent = blocking(move || {
            f.send_with(xml.as_bytes(), &envelope, || {
                crash::point(CrashPoint::BetweenDataAndEnvelope)
            })
        })
        .await;
        crash::point(CrashPoint::AfterSend);
        if let Err(e) = sent {
            return Next::Retry(e);
        }
        let step = Step::to(SubmissionState::Delivering).detail(HANDED_TO_SEDEX);
        match self.db().progress(&d.lease, &step).await {
            Ok(()) => Next::Wait(poll),
            Err(e) => Next::Retry(format!("store: {e}")),
        }
    }

    /// Takes the acknowledgements waiting in the funds' sedex inboxes: each is applied to
    /// its submission (found by the business process id, checked against the message
    /// ids the submission was delivered under, and against the folder's fund) before its
    /// pair is moved to `processed/`.
    pub async fn pick_up_inboxes(&self) {
        let registry = self.state.fanout.registry();
        let funds: Vec<(OfficeId, Arc<Adapter>)> = registry
            .iter()
            .filter(|a| {
                a.submissions
                    .as_ref()
                    .is_some_and(|s| s.sedex_folder.is_some())
            })
            .map(|a| (a.office, Arc::clone(a)))
            .collect();
        for (office, adapter) in funds {
            let Some(subs) = adapter.submissions.as_ref() else {
                continue;
            };
            let Some(path) = subs.sedex_folder.as_deref() else {
                continue;
            };
            // No folder (its sedex client is not set up here): nothing can have arrived.
            // Deliveries to it retry and say why; the inbox stays quiet.
            if !path.is_dir() {
                continue;
            }
            let folder = match SedexFolder::open(path) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(%office, error = %e, "sedex folder not usable");
                    continue;
                }
            };
            let f = folder.clone();
            let pairs = match blocking(move || f.inbox()).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(%office, error = %e, "sedex inbox not readable");
                    continue;
                }
            };
            for pair in pairs {
                let message = match pair {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(%office, error = %e, "sedex inbox pair refused");
                        continue;
                    }
                };
                if let Err(e) = self.take_ack(office, subs, &message).await {
                    tracing::warn!(%office, error = %e, "sedex acknowledgement not taken yet");
                    continue;
                }
                // Taken (stored): only now the pair leaves the inbox.
                let f = folder.clone();
                let id = message.envelope.message_id.clone();
                if let Err(e) = blocking(move || f.mark_processed(&id)).await {
                    tracing::warn!(%office, error = %e, "sedex pair not moved to processed/");
                }
            }
        }
    }

    async fn take_ack(
        &self,
        office: OfficeId,
        subs: &Submissions,
        message: &crate::sedex::InboxMessage,
    ) -> Result<(), String> {
        let prefix = &self.state.fanout.settings().participant_prefix;
        if message.envelope.sender_id != subs.recipient_id(office, prefix) {
            return Err("acknowledgement from another sender than the fund".into());
        }
        let max = self.state.delivery.max_ack_bytes;
        let ack = subs
            .mapping
            .read_ack(&message.data, max)
            .map_err(|e| format!("acknowledgement unreadable: {}", e.redacted()))?;
        let id: SubmissionId = ack
            .business_process_id
            .as_deref()
            .and_then(|b| b.parse().ok())
            .ok_or("acknowledgement names no submission")?;
        let sub = match self.db().load_submission(id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err("acknowledgement of an unknown submission".into()),
            Err(e) => return Err(format!("store: {e}")),
        };
        let rows = self
            .db()
            .outbox_of(&crate::store::Subject::submission(id))
            .await
            .map_err(|e| format!("store: {e}"))?;
        let delivered_here = rows
            .iter()
            .any(|r| r.message_id == ack.reference_message_id && r.target_office == office);
        if !delivered_here {
            return Err("acknowledgement of a message this fund was not sent".into());
        }
        if sub.state.is_final() || sub.competent_office != office {
            // Already applied (a crash between the store and the move): take it again.
            return Ok(());
        }
        match self
            .apply_ack(&sub, office, &ack.reference_message_id, &ack)
            .await
        {
            Next::Close(step) => self
                .db()
                .acknowledge(id, office, &step)
                .await
                .map(drop)
                .map_err(|e| format!("store: {e}")),
            Next::Transfer {
                to,
                detail,
                receipt,
            } => self
                .db()
                .transfer(id, None, to, &detail, receipt, self.state.delivery.expiry)
                .await
                .map_err(|e| format!("store: {e}")),
            Next::Fail(detail) => self
                .db()
                .acknowledge(
                    id,
                    office,
                    &Step::to(SubmissionState::Failed).detail(detail),
                )
                .await
                .map(drop)
                .map_err(|e| format!("store: {e}")),
            Next::Retry(e) => Err(e),
            Next::Wait(_) | Next::Superseded => Ok(()),
        }
    }
}

/// Whether the submission's newest step says this row's message was handed to sedex.
pub(super) fn is_waiting_for_sedex(sub: &Submission, d: &Delivery) -> bool {
    sub.history
        .iter()
        .rev()
        .take_while(|h| h.state != SubmissionState::Transferred)
        .any(|h| h.office == Some(d.target_office) && h.detail.as_deref() == Some(HANDED_TO_SEDEX))
}

/// Sedex file work on the blocking pool ([`crate::sedex`]'s own helper), its error as text.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::sedex::SedexError> + Send + 'static,
) -> Result<T, String> {
    crate::sedex::blocking(f).await.map_err(|e| e.to_string())
}
