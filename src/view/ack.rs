//! The JSON shape of a fund's acknowledgement of a submission (`guichet translate` of an
//! acknowledgement; a submission's history detail).

use serde::{Deserialize, Serialize};

use crate::model::{AckOutcome, ApgAck, OfficeId};

/// One acknowledgement: who answered which claim, and the outcome with its details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckView {
    /// The fund's message id.
    pub message_id: String,
    /// The claim's message id.
    pub reference_message_id: String,
    /// The submission id the fund echoes, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_process_id: Option<String>,
    /// `accepted`, `rejected` or `transferred`.
    pub outcome: String,
    /// The fund's case number (accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    /// `duplicate-period`, `not-affiliated`, `invalid-data` or `other` (rejected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// The fund's explanation (rejected, transferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The competent fund (transferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transferred_to: Option<OfficeId>,
}

impl From<&ApgAck> for AckView {
    fn from(a: &ApgAck) -> AckView {
        let mut v = AckView {
            message_id: a.message_id.clone(),
            reference_message_id: a.reference_message_id.clone(),
            business_process_id: a.business_process_id.clone(),
            outcome: a.outcome.name().to_owned(),
            case_number: None,
            reason_code: None,
            reason: None,
            transferred_to: None,
        };
        match &a.outcome {
            AckOutcome::Accepted { case_number } => v.case_number = Some(case_number.clone()),
            AckOutcome::Rejected { reason, text } => {
                v.reason_code = Some(reason.name().to_owned());
                v.reason = text.clone();
            }
            AckOutcome::Transferred { to, text } => {
                v.transferred_to = Some(*to);
                v.reason = text.clone();
            }
        }
        v
    }
}
