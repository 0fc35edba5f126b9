//! Transfers between funds: a fund that finds it is not competent answers `transferred`
//! with the fund it names; the claim is re-routed there and the office joins the history.
//! A transfer to an office the claim already visited is a loop: stop and report it.

use std::fmt;

use crate::model::OfficeId;

/// Most offices one claim may visit (the first one included) before routing gives up.
pub const MAX_OFFICES: usize = 8;

/// Why a transfer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The named office already had the claim: following it would go round forever.
    #[error("transfer loop: {} → {to} (already visited)", path(.visited))]
    Loop {
        /// The offices so far, in order.
        visited: Vec<OfficeId>,
        /// The office the transfer named.
        to: OfficeId,
    },
    /// Too many transfers without a loop.
    #[error("too many transfers: {} → {to} (at most {MAX_OFFICES} offices)", path(.visited))]
    TooMany {
        /// The offices so far, in order.
        visited: Vec<OfficeId>,
        /// The office the transfer named.
        to: OfficeId,
    },
}

fn path(offices: &[OfficeId]) -> String {
    offices
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" → ")
}

/// Checks a transfer to `to` after the claim visited `visited` (in order, the current
/// office last). `Ok` means: send it to `to` and append `to` to the history.
pub fn check_transfer(visited: &[OfficeId], to: OfficeId) -> Result<(), TransferError> {
    if visited.contains(&to) {
        return Err(TransferError::Loop {
            visited: visited.to_vec(),
            to,
        });
    }
    if visited.len() >= MAX_OFFICES {
        return Err(TransferError::TooMany {
            visited: visited.to_vec(),
            to,
        });
    }
    Ok(())
}

/// The offices a claim has been routed to, the first one decided by the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficeHistory(Vec<OfficeId>);

impl OfficeHistory {
    /// Starts at the office the rules chose.
    pub fn new(first: OfficeId) -> OfficeHistory {
        OfficeHistory(vec![first])
    }

    /// Follows a transfer, or refuses it (and the history stays as it was).
    pub fn transfer(&mut self, to: OfficeId) -> Result<(), TransferError> {
        check_transfer(&self.0, to)?;
        self.0.push(to);
        Ok(())
    }

    /// The office that has the claim now.
    pub fn current(&self) -> OfficeId {
        // Invariant: never empty (built with a first office, only ever pushed to).
        self.0[self.0.len() - 1]
    }

    /// Every office, in order.
    pub fn offices(&self) -> &[OfficeId] {
        &self.0
    }
}

impl fmt::Display for OfficeHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&path(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fund(n: u16) -> OfficeId {
        OfficeId::new(n, 0).expect("office")
    }

    #[test]
    fn a_transfer_back_to_a_visited_office_is_a_loop() {
        let mut h = OfficeHistory::new(fund(25));
        assert_eq!(h.transfer(fund(66)), Ok(()));
        assert_eq!(h.transfer(fund(1)), Ok(()));
        assert_eq!(h.current(), fund(1));
        let err = h.transfer(fund(66)).expect_err("loop");
        assert_eq!(
            err.to_string(),
            "transfer loop: 025.000 → 066.000 → 001.000 → 066.000 (already visited)"
        );
        assert_eq!(h.offices(), &[fund(25), fund(66), fund(1)]);
        assert!(matches!(
            h.transfer(fund(1)),
            Err(TransferError::Loop { .. })
        ));
        assert_eq!(h.to_string(), "025.000 → 066.000 → 001.000");
    }

    #[test]
    fn transfers_are_bounded() {
        let mut h = OfficeHistory::new(fund(1));
        for n in 2..=MAX_OFFICES as u16 {
            assert_eq!(h.transfer(fund(n)), Ok(()));
        }
        assert!(matches!(
            h.transfer(fund(99)),
            Err(TransferError::TooMany { .. })
        ));
        assert_eq!(h.offices().len(), MAX_OFFICES);
    }
}
