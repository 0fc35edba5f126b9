//! The shapes the operator's console renders (and serves as JSON at
//! `/console/api/federation`): the API's [`AdapterRow`] of each office with its recent
//! calls, and the outbox and audit summaries. No person appears in any of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::AdapterRow;

/// One office (or the register) in the federation grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfficeHealthView {
    /// The row of `GET /v1/adapters` (identity, version, circuit, last call).
    #[serde(flatten)]
    pub row: AdapterRow,
    /// `cantonal`, `federal`, `association`, `iv_office`; `register` for the register;
    /// absent once deregistered.
    pub kind: Option<String>,
    /// Canton abbreviation, when the office belongs to one.
    pub canton: Option<String>,
    /// `green` (answers), `red` (failing or circuit open) or `grey` (no call yet).
    pub health: String,
    /// Calls in the window.
    pub calls: u32,
    /// Median latency of the answered calls in the window.
    pub p50_ms: Option<u64>,
    /// 99th percentile of the same.
    pub p99_ms: Option<u64>,
    /// Calls in the window by outcome.
    pub answers: BTreeMap<String, u32>,
    /// Latencies of the calls in the window, oldest first (the sparkline).
    pub latencies_ms: Vec<u64>,
}

/// The federation grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederationView {
    /// The window of the latency and answer figures.
    pub window_seconds: u64,
    /// Every office, registered or deregistered, by office id.
    pub offices: Vec<OfficeHealthView>,
    /// The account register, when routing asks it.
    pub register: Option<OfficeHealthView>,
}

/// One undelivered outbox row (a claim or a message to a fund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxRowView {
    /// The row's id.
    pub id: String,
    /// `submission`, or another subject kind.
    pub subject_kind: String,
    /// The receiving office.
    pub target_office: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Age since it was queued, in seconds.
    pub age_seconds: u64,
    /// Seconds until the next attempt (0: due now).
    pub next_attempt_in_seconds: u64,
    /// The last attempt's error, if any.
    pub last_error: Option<String>,
}

/// How often a portal read accounts for one purpose (audit log, `account-query`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessCountView {
    /// The portal's certificate name.
    pub portal: String,
    /// The stated purpose.
    pub purpose: String,
    /// Account queries recorded.
    pub queries: u64,
}
