//! A fund's acknowledgement of a submission: accepted with its case number, rejected
//! with a reason code, or transferred to another fund. The canonical form of what every
//! submission dialect's acknowledgement says; no XML here.

use std::fmt;

use super::OfficeId;

/// One acknowledgement, as read from a fund's answer or from a sedex inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApgAck {
    /// The fund's own message id of the acknowledgement.
    pub message_id: String,
    /// The `messageId` of the claim it answers (stable per submission).
    pub reference_message_id: String,
    /// The gateway's submission id, when the fund echoes it.
    pub business_process_id: Option<String>,
    /// What the fund decided.
    pub outcome: AckOutcome,
}

/// What a fund decided about a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckOutcome {
    /// The fund took the claim; its case number.
    Accepted {
        /// The fund's case number (`APG-025-2026-018842`).
        case_number: String,
    },
    /// The fund refused the claim.
    Rejected {
        /// Why, as a code.
        reason: RejectReason,
        /// The fund's explanation (required for [`RejectReason::Other`]). Free text of
        /// the fund: never logged.
        text: Option<String>,
    },
    /// The fund is not competent and names the one that is.
    Transferred {
        /// The competent fund.
        to: OfficeId,
        /// The fund's explanation. Free text of the fund: never logged.
        text: Option<String>,
    },
}

impl AckOutcome {
    /// `accepted`, `rejected` or `transferred`.
    pub fn name(&self) -> &'static str {
        match self {
            AckOutcome::Accepted { .. } => "accepted",
            AckOutcome::Rejected { .. } => "rejected",
            AckOutcome::Transferred { .. } => "transferred",
        }
    }

    /// The canonical outcome names, for mapping tables.
    pub const NAMES: &'static [&'static str] = &["accepted", "rejected", "transferred"];
}

/// The reason code of a rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// A claim for this service period is already registered.
    DuplicatePeriod,
    /// The claimant is not affiliated with this fund.
    NotAffiliated,
    /// The claim's data is invalid.
    InvalidData,
    /// Another reason, explained in the text.
    Other,
}

impl RejectReason {
    /// Every reason with its canonical name.
    pub const ALL: &'static [(RejectReason, &'static str)] = &[
        (RejectReason::DuplicatePeriod, "duplicate-period"),
        (RejectReason::NotAffiliated, "not-affiliated"),
        (RejectReason::InvalidData, "invalid-data"),
        (RejectReason::Other, "other"),
    ];

    /// The canonical name (`duplicate-period`).
    pub fn name(self) -> &'static str {
        RejectReason::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("other", |(_, n)| n)
    }

    /// The reason of a canonical name.
    pub fn from_name(name: &str) -> Option<RejectReason> {
        RejectReason::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(r, _)| *r)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_round_trip() {
        for (reason, name) in RejectReason::ALL {
            assert_eq!(RejectReason::from_name(name), Some(*reason));
            assert_eq!(reason.name(), *name);
        }
        assert_eq!(RejectReason::from_name("duplicate"), None);
    }
}
