//! `guichet simulate --truth VN`: what the synthetic population holds for one person,
//! which offices hold it, and what the simulated account register (with its configured
//! lag) would answer: the reference register routing is checked against.

use serde::{Deserialize, Serialize};

use super::AccountView;

/// The truth of one person: the consolidated account asking every office (the fields of
/// [`AccountView`], unchanged), plus `holders` and `register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TruthView {
    /// The account as a broadcast to every office would consolidate it.
    #[serde(flatten)]
    pub account: AccountView,
    /// The offices that hold data for the person, by office id.
    pub holders: Vec<HolderView>,
    /// What the simulated register answers about the person.
    pub register: RegisterTruthView,
}

/// One office holding data for the person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HolderView {
    /// Office id `NNN.NNN`.
    pub office: String,
    /// Its name.
    pub name: String,
    /// `account` (a fund's individual account) or `ivFile` (an IV office's file).
    pub holds: String,
}

/// The simulated register's answer, compared with the holders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterTruthView {
    /// Its `asOf` day (today − `lagDays`).
    pub as_of: String,
    /// The lag it was configured with (`[simulator]` in the configuration).
    pub lag_days: u32,
    /// Share of persons whose newest account it lacks.
    pub missing_newest_share: f64,
    /// Share of persons with a closed account it still lists.
    pub stale_closed_share: f64,
    /// The offices it names, by office id.
    pub named: Vec<String>,
    /// Holders it does not name (register routing misses them; `verify` reports them).
    pub missing: Vec<String>,
    /// Offices it names that hold nothing (they answer `no_account`).
    pub stale: Vec<String>,
    /// Whether it answers "person unknown" (action 8: no account, no IV file).
    pub unknown: bool,
}
