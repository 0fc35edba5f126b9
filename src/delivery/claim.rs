//! Delivering a claim (an outbox row of kind `submission`): the claim rendered with its
//! fund's submission mapping under the row's stable message id, handed over by the
//! fund's transport (sync POST here, sedex in `sedex.rs`), and the fund's acknowledgement
//! turned into the row's next step with its signed delivery receipt (see the module
//! documentation of `delivery`).

use super::crash::{self, CrashPoint};
use super::sedex::{blocking, is_waiting_for_sedex};
use super::{Next, Worker, not_posted, submission_id};
use crate::adapter::{Adapter, SubmissionTransport, Submissions};
use crate::audit::{Actor, ActorRole};
use crate::fanout::Outbound;
use crate::mapping::SubmissionParams;
use crate::model::{AckOutcome, ApgAck, OfficeId};
use crate::receipt::{DeliveryOutcome, DeliveryReceipt, ReceiptBody};
use crate::sedex::SedexFolder;
use crate::store::{Delivery, NewReceipt, ReceiptKind, Step, Submission, SubmissionState};

impl Worker {
    /// One attempt at delivering the claim of row `d`: what the fund said, as the next
    /// step of the row.
    pub(super) async fn deliver_claim(&self, d: &Delivery) -> Next {
        let Some(id) = submission_id(d) else {
            return Next::Fail(format!("outbox row of unknown kind {}", d.subject.kind));
        };
        let sub = match self.db().load_submission(id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Next::Fail("submission missing".into()),
            Err(e) => return Next::Retry(format!("store: {e}")),
        };
        let registry = self.state.fanout.registry();
        if sub.state.is_final()
            || sub.competent_office != d.target_office
            || (sub.state == SubmissionState::Delivered && !is_waiting_for_sedex(&sub, d))
        {
            // A sedex receipt that came after the acknowledgement is archived with the row.
            if let Some(subs) = registry
                .get(d.target_office)
                .and_then(|a| a.submissions.as_ref())
                && subs.transport == SubmissionTransport::Sedex
                && let Some(folder) = subs.sedex_folder.as_deref()
                && let Ok(folder) = SedexFolder::open(folder)
            {
                let id = d.message_id.clone();
                if let Err(e) = blocking(move || folder.archive_receipt(&id)).await {
                    tracing::warn!(error = %e, "sedex receipt not archived");
                }
            }
            return Next::Superseded;
        }
        let Some(adapter) = registry.get(d.target_office) else {
            return Next::Retry(format!("office {} is not registered", d.target_office));
        };
        let Some(subs) = adapter.submissions.as_ref() else {
            return Next::Retry(format!("office {} takes no submissions", d.target_office));
        };
        let xml = match self.render(&sub, d, adapter, subs) {
            Ok(xml) => xml,
            Err(e) => return Next::Fail(e),
        };
        match &subs.transport {
            SubmissionTransport::Sync { .. } => self.send_sync(&sub, d, adapter, subs, xml).await,
            SubmissionTransport::Sedex => {
                let (Some(folder), Some(participant_id)) =
                    (subs.sedex_folder.as_deref(), subs.participant_id.as_deref())
                else {
                    return Next::Fail("sedex fund without folder or participant id".into());
                };
                self.send_sedex(&sub, d, subs, folder, participant_id, xml)
                    .await
            }
        }
    }

    fn render(
        &self,
        sub: &Submission,
        d: &Delivery,
        adapter: &Adapter,
        subs: &Submissions,
    ) -> Result<String, String> {
        let settings = self.state.fanout.settings();
        let form: serde_json::Value = serde_json::from_str(&sub.body)
            .map_err(|e| format!("stored body is not JSON (line {})", e.line()))?;
        let recipient = subs.recipient_id(adapter.office, &settings.participant_prefix);
        let date = crate::sedex::date_time(time::OffsetDateTime::now_utc());
        let business = sub.id.to_string();
        let params = SubmissionParams {
            sender_id: &settings.sender_id,
            recipient_id: &recipient,
            message_id: &d.message_id,
            business_process_id: &business,
            message_date: &date,
            test_delivery: settings.test_delivery,
            routing_rule: &sub.routing_rule,
            competent_office: d.target_office,
        };
        subs.mapping
            .render(&params, &form)
            .map_err(|e| format!("not renderable: {e}"))
    }

    async fn send_sync(
        &self,
        sub: &Submission,
        d: &Delivery,
        adapter: &Adapter,
        subs: &Submissions,
        xml: String,
    ) -> Next {
        let Some(url) = subs.sync_url(&adapter.endpoint) else {
            return Next::Fail("no endpoint for submissions".into());
        };
        let cfg = &self.state.delivery;
        crash::point(CrashPoint::BeforeSend);
        let answer = self.post(adapter, url, Outbound::xml(xml)).await;
        crash::point(CrashPoint::AfterSend);
        match answer {
            Ok(posted) if posted.status == 202 => Next::Close(
                Step::to(SubmissionState::Delivered)
                    .detail("received by the fund (202); its acknowledgement follows over sedex"),
            ),
            Ok(posted) => match subs.mapping.read_ack(&posted.body, cfg.max_ack_bytes) {
                Ok(ack) if ack.reference_message_id == d.message_id => {
                    self.apply_ack(sub, d.target_office, &d.message_id, &ack)
                        .await
                }
                Ok(_) => Next::Retry("acknowledgement names another message".into()),
                Err(e) => Next::Retry(format!("acknowledgement unreadable: {}", e.redacted())),
            },
            Err(e) => not_posted(&e, "fund"),
        }
    }

    /// The next step of a submission for `ack` from `office` (which had the claim under
    /// `message_id`): signs the delivery receipt (hash audited first) and returns what to
    /// store.
    pub(super) async fn apply_ack(
        &self,
        sub: &Submission,
        office: OfficeId,
        message_id: &str,
        ack: &ApgAck,
    ) -> Next {
        let (outcome, step_state, detail, case_number, transferred_to) = match &ack.outcome {
            AckOutcome::Accepted { case_number } => (
                DeliveryOutcome::Accepted,
                SubmissionState::Accepted,
                format!("accepted by {office}"),
                Some(case_number.clone()),
                None,
            ),
            AckOutcome::Rejected { reason, .. } => (
                DeliveryOutcome::Rejected,
                SubmissionState::Rejected,
                format!("rejected by {office}: {reason}"),
                None,
                None,
            ),
            AckOutcome::Transferred { to, .. } => {
                // The routing's own loop and length check over the offices that had it.
                let routed = sub
                    .history
                    .iter()
                    .find(|h| h.state == SubmissionState::Routed);
                let mut visited: Vec<OfficeId> =
                    routed.and_then(|h| h.office).into_iter().collect();
                visited.extend(sub.transferred_to());
                if !visited.contains(&office) {
                    visited.push(office);
                }
                if let Err(e) = crate::routing::check_transfer(&visited, *to) {
                    return Next::Fail(format!("transfer by {office} refused: {e}"));
                }
                (
                    DeliveryOutcome::Transferred,
                    SubmissionState::Transferred,
                    format!("transferred by {office} to {to}"),
                    None,
                    Some(*to),
                )
            }
        };
        let receipt = match self
            .delivery_receipt(
                sub,
                office,
                message_id,
                outcome,
                case_number.clone(),
                transferred_to,
            )
            .await
        {
            Ok(r) => r,
            Err(e) => return Next::Retry(e),
        };
        if let Some(to) = transferred_to {
            return Next::Transfer {
                to,
                detail,
                receipt: Some(receipt),
            };
        }
        Next::Close(Step {
            state: step_state,
            detail: Some(detail),
            case_number,
            receipt: Some(receipt),
        })
    }

    async fn delivery_receipt(
        &self,
        sub: &Submission,
        office: OfficeId,
        message_id: &str,
        outcome: DeliveryOutcome,
        case_number: Option<String>,
        transferred_to: Option<OfficeId>,
    ) -> Result<NewReceipt, String> {
        let sealer = self.state.seal().map_err(|e| e.to_string())?;
        let body = ReceiptBody::Delivery(DeliveryReceipt {
            submission_id: sub.id.to_string(),
            submission_type: sub.kind.as_str().to_owned(),
            sha256: sub.body_sha256.clone(),
            competent_office: office.to_string(),
            message_id: Some(message_id.to_owned()),
            acknowledged_at: crate::receipt::rfc3339(
                time::OffsetDateTime::now_utc().unix_timestamp(),
            ),
            outcome,
            case_number,
            transferred_to: transferred_to.map(|o| o.to_string()),
        });
        let actor = Actor {
            role: ActorRole::Gateway,
            name: "delivery".into(),
        };
        let signed = sealer
            .seal_and_audit(&self.state.audit, actor, body)
            .await
            .map_err(|e| format!("receipt not sealed: {e}"))?;
        Ok(NewReceipt {
            kind: ReceiptKind::Delivery,
            jws: signed.jws,
        })
    }
}
