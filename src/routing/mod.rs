//! Routing as data: which fund is competent for a claim. The ordered rules of
//! `config/routing/apg.toml` are compiled once into [`RoutingRules`]; [`RoutingRules::decide`]
//! is a pure function of the claim and the central register's answer, and says which
//! rule fired and why. Transfers between funds and their loops: `transfer.rs`.
//! Imports only `model` and `toml_error`; it never asks the register itself.

mod expr;
mod rules;
mod transfer;

use std::collections::BTreeMap;
use std::path::Path;

pub use expr::{OfficeExpr, Selector};
pub use rules::{Condition, Rule, RulesError};
pub use transfer::{MAX_OFFICES, OfficeHistory, TransferError, check_transfer};

use crate::model::RegisterAnswer;
use crate::model::claim::{ApgClaim, ClaimRouting};
use crate::model::{Canton, OfficeId};

/// The rules file shipped with guichet, relative to the repository / working directory.
pub const DEFAULT_RULES: &str = "config/routing/apg.toml";

/// The compiled rules: in order, the first that applies decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingRules {
    file: String,
    rules: Vec<Rule>,
    cantonal: BTreeMap<Canton, OfficeId>,
}

/// The competent office and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The rule that fired.
    pub rule_id: String,
    /// The office the claim goes to.
    pub office: OfficeId,
    /// Why, in words: the rule's conditions and how the office was found. Names offices,
    /// cantons, activities and genres, never the person.
    pub explanation: String,
    /// The rules tried before it, each with why it did not apply.
    pub skipped: Vec<(String, String)>,
}

impl Decision {
    /// The `routing` element of the claim sent to the fund.
    pub fn routing(&self) -> ClaimRouting {
        ClaimRouting {
            rule: self.rule_id.clone(),
            competent_office: self.office,
        }
    }
}

/// No rule applied (a rules file without a catch-all rule): every rule and why not.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no routing rule of {file} applies ({} tried)", .skipped.len())]
pub struct NoDecision {
    /// The rules file.
    pub file: String,
    /// Every rule with why it did not apply.
    pub skipped: Vec<(String, String)>,
}

/// Why the rules could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{file}: cannot read the routing rules: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error(transparent)]
    Rules(#[from] RulesError),
}

impl RoutingRules {
    /// Reads and compiles a rules file.
    pub fn load(path: &Path) -> Result<RoutingRules, LoadError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            file: file.clone(),
            source,
        })?;
        Ok(RoutingRules::parse(&text, &file)?)
    }

    /// The rules a gateway configured by `config_file` routes claims with: `routing/apg.toml`
    /// beside the configuration file when there is one (the shipped layout:
    /// `config/guichet.toml` and `config/routing/apg.toml`), else the rules compiled into
    /// the binary (the same file as shipped).
    pub fn for_config(config_file: &Path) -> Result<RoutingRules, LoadError> {
        const SHIPPED: &str = include_str!("../../config/routing/apg.toml");
        let beside = config_file
            .parent()
            .unwrap_or(Path::new("."))
            .join("routing/apg.toml");
        if beside.is_file() {
            RoutingRules::load(&beside)
        } else {
            Ok(RoutingRules::parse(SHIPPED, DEFAULT_RULES)?)
        }
    }

    /// Compiles the text of a rules file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<RoutingRules, RulesError> {
        let compiled = rules::compile(text, file)?;
        Ok(RoutingRules {
            file: file.to_owned(),
            rules: compiled.rules,
            cantonal: compiled.cantonal,
        })
    }

    /// The rules in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The cantonal fund of every canton.
    pub fn cantonal_funds(&self) -> &BTreeMap<Canton, OfficeId> {
        &self.cantonal
    }

    /// The first rule whose conditions all hold and one of whose office expressions
    /// yields an office decides. `register` is the central register's answer for the
    /// claimant (`RegisterAnswer::default()` when the person is unknown to it).
    pub fn decide(
        &self,
        claim: &ApgClaim,
        register: &RegisterAnswer,
    ) -> Result<Decision, NoDecision> {
        let mut skipped = Vec::new();
        for rule in &self.rules {
            match self.apply(rule, claim, register) {
                Ok((office, explanation)) => {
                    return Ok(Decision {
                        rule_id: rule.id.clone(),
                        office,
                        explanation,
                        skipped,
                    });
                }
                Err(why) => skipped.push((rule.id.clone(), why)),
            }
        }
        Err(NoDecision {
            file: self.file.clone(),
            skipped,
        })
    }

    /// One rule: the office and why, or why it does not apply.
    fn apply(
        &self,
        rule: &Rule,
        claim: &ApgClaim,
        register: &RegisterAnswer,
    ) -> Result<(OfficeId, String), String> {
        let mut held = Vec::new();
        for condition in &rule.conditions {
            let (ok, what) = condition.check(claim, register);
            if !ok {
                return Err(format!("condition not met: {what}"));
            }
            held.push(what);
        }
        let mut misses = Vec::new();
        for expr in &rule.offices {
            match expr.evaluate(claim, register, &self.cantonal) {
                Ok((office, how)) => {
                    let mut why = held.join(", ");
                    if !why.is_empty() {
                        why.push_str(" → ");
                    }
                    why.push_str(&how);
                    if !misses.is_empty() {
                        why.push_str(&format!(" ({})", misses.join("; ")));
                    }
                    return Ok((office, why));
                }
                Err(miss) => misses.push(miss),
            }
        }
        Err(misses.join("; "))
    }
}

#[cfg(test)]
mod tests;
