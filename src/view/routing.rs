//! The JSON of `guichet route --json`: which rule chose which fund for a claim, and why
//! the rules before it did not apply. Names offices and rules, never the person.

use serde::{Deserialize, Serialize};

use crate::routing::Decision;

/// A routing decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingDecisionView {
    /// The rule that fired.
    pub rule: String,
    /// The fund the claim goes to (`NNN.NNN`).
    pub competent_office: String,
    /// Why that rule chose that office.
    pub explanation: String,
    /// The rules tried before, with why each did not apply.
    pub skipped: Vec<SkippedRuleView>,
    /// SHA-256 of the claim's canonical JSON (what receipts sign).
    pub claim_sha256: String,
}

/// A rule that did not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRuleView {
    /// The rule's id.
    pub rule: String,
    /// Why not.
    pub reason: String,
}

impl RoutingDecisionView {
    /// The view of `decision` for a claim whose canonical JSON hashes to `claim_sha256`.
    pub fn new(decision: &Decision, claim_sha256: String) -> RoutingDecisionView {
        RoutingDecisionView {
            rule: decision.rule_id.clone(),
            competent_office: decision.office.to_string(),
            explanation: decision.explanation.clone(),
            skipped: decision
                .skipped
                .iter()
                .map(|(rule, reason)| SkippedRuleView {
                    rule: rule.clone(),
                    reason: reason.clone(),
                })
                .collect(),
            claim_sha256,
        }
    }
}
