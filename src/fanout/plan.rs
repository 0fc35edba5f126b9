//! The planner: which offices a query asks. Kept apart from the calls so that the plan
//! can change without touching them. Pure functions of the registry snapshot and, with
//! routing by the central account register, of the register's answer.
//!
//! - `broadcast` ([`plan`]): every IK-holding fund and every IV office of the registry.
//! - `register` ([`by_register`]): only the offices the register names — the funds
//!   keeping an account and the IV offices holding a file. An office it names that has
//!   no adapter is reported `unavailable` (its part of the account is missing); a person
//!   the register does not know is asked of nobody.
//! - `verify`: everyone, then [`discrepancies`] compares the answers with the register.
//!
//! Not done: adding the IV office of the canton of residence when the register names no
//! IV office. The gateway learns no residence from any answer (no dialect carries an
//! address) and keeps no record of persons between queries, so the canton is never
//! known before the offices are asked; inferring it from a cantonal fund would be wrong
//! for anyone working outside their canton. IV files the register knows are asked.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::adapter::{Adapter, Registry};
use crate::model::{
    Discrepancy, DiscrepancyKind, OfficeId, OfficeOutcome, RegisterAnswer, SourceStatus,
};

/// Every IK-holding fund and every IV office of the registry, by office id.
pub fn plan(registry: &Registry) -> Vec<Arc<Adapter>> {
    registry.iter().cloned().collect()
}

/// The offices a register answer names, split by whether the registry can reach them.
#[derive(Debug, Clone, Default)]
pub struct Named {
    /// Named offices with an adapter, by office id.
    pub adapters: Vec<Arc<Adapter>>,
    /// Named offices without one (not in the registry, or deregistered).
    pub missing: Vec<OfficeId>,
}

/// `register` mode: the offices the register names, and only those.
pub fn by_register(registry: &Registry, answer: &RegisterAnswer) -> Named {
    let mut named = Named::default();
    for office in answer.offices() {
        match registry.get(office) {
            Some(adapter) => named.adapters.push(Arc::clone(adapter)),
            None => named.missing.push(office),
        }
    }
    named
}

/// `verify` mode: where the offices' answers and the register disagree — an office that
/// answered with data the register does not name (`not-in-register`: the register lags),
/// and a named office that answered `no_account` (`no-account`: closed, or the register
/// is wrong). Offices that failed say nothing either way. Sorted by office.
pub fn discrepancies(answer: &RegisterAnswer, outcomes: &[OfficeOutcome]) -> Vec<Discrepancy> {
    let named: BTreeSet<OfficeId> = answer.offices();
    let mut found: Vec<Discrepancy> = outcomes
        .iter()
        .filter_map(|o| {
            let kind = match (&o.status, named.contains(&o.office)) {
                (SourceStatus::Ok, false) => DiscrepancyKind::NotInRegister,
                (SourceStatus::NoAccount, true) => DiscrepancyKind::NoAccount,
                _ => return None,
            };
            Some(Discrepancy {
                office: o.office,
                kind,
            })
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{RegisterAccount, SourceStatus};

    fn id(s: &str) -> OfficeId {
        s.parse().expect("office id")
    }

    fn outcome(office: &str, status: SourceStatus) -> OfficeOutcome {
        OfficeOutcome::failed(id(office), office, status, Duration::ZERO)
    }

    #[test]
    fn verify_reports_unnamed_holders_and_named_offices_without_account() {
        let answer = RegisterAnswer {
            accounts: ["025.000", "066.000"]
                .iter()
                .map(|o| RegisterAccount {
                    office: id(o),
                    opened: None,
                    last_reported_year: None,
                    affiliation: None,
                })
                .collect(),
            known: true,
            ..RegisterAnswer::default()
        };
        let outcomes = [
            outcome("025.000", SourceStatus::Ok),
            outcome("066.000", SourceStatus::NoAccount),
            outcome("001.000", SourceStatus::Ok),
            outcome("002.000", SourceStatus::NoAccount),
            outcome("003.000", SourceStatus::Timeout("t".into())),
        ];
        let found = discrepancies(&answer, &outcomes);
        assert_eq!(
            found,
            [
                Discrepancy {
                    office: id("001.000"),
                    kind: DiscrepancyKind::NotInRegister
                },
                Discrepancy {
                    office: id("066.000"),
                    kind: DiscrepancyKind::NoAccount
                },
            ]
        );
    }
}
