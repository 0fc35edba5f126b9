//! The small JSON shapes of the API besides the account: health, accesses, adapters,
//! administrative changes, reloads and problem documents.

use serde::{Deserialize, Serialize};

use crate::adapter::AdapterDef;

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthView {
    /// Always `ok` when the gateway answers.
    pub status: String,
}

/// `GET /v1/accounts/{vn}/accesses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessesView {
    /// The person's AHV number, 13 digits (the caller sent it; it is the subject).
    pub vn: String,
    /// Oldest first.
    pub accesses: Vec<AccessView>,
}

/// One recorded access to a person's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessView {
    /// RFC 3339 UTC time of the access.
    pub time: String,
    /// Who asked.
    pub caller: CallerView,
    /// The purpose stated.
    pub purpose: Option<String>,
}

/// The certificate holder behind a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerView {
    /// `portal`, `office`, `admin`.
    pub role: String,
    /// The name in the certificate's `urn:guichet:<role>:<name>`.
    pub name: String,
}

/// `GET /v1/adapters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptersView {
    /// One row per office, by office id.
    pub adapters: Vec<AdapterRow>,
}

/// One office of the registry with its version and live health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterRow {
    /// Office id `NNN.NNN`.
    pub office: String,
    /// The office's name.
    pub name: String,
    /// `registered` or `deregistered`.
    pub state: String,
    /// Mapping dialect (registered offices).
    pub dialect: Option<String>,
    /// HTTPS endpoint (registered offices).
    pub endpoint: Option<String>,
    /// Call timeout (registered offices).
    pub timeout_ms: Option<u64>,
    /// Version of the definition, when the folder is administered.
    pub version: Option<u64>,
    /// RFC 3339 time of the last change.
    pub changed_at: Option<String>,
    /// `role:name` of whoever made the last change, or `file`.
    pub changed_by: Option<String>,
    /// Breaker state: `closed`, `open`, `half_open` (absent when not asked the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit: Option<String>,
    /// Outcome of the last call.
    #[serde(default)]
    pub last_status: Option<String>,
    /// Latency of the last call.
    #[serde(default)]
    pub last_latency_ms: Option<u64>,
}

/// `GET /v1/adapters/{office}`: the row and the definition as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdapterView {
    /// Identity, version, health.
    #[serde(flatten)]
    pub row: AdapterRow,
    /// The adapter file's fields (absent once deregistered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<AdapterDef>,
}

/// An administrative change of an adapter (`PUT`, `DELETE`, rollback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangedView {
    /// Office id.
    pub office: String,
    /// The new version.
    pub version: u64,
    /// RFC 3339 time of the change.
    pub changed_at: String,
    /// `role:name` of the certificate that made it.
    pub changed_by: String,
    /// The conformance probe of a `PUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeView>,
}

/// The conformance probe's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeView {
    /// `ok` or `no_account`.
    pub status: String,
    /// Records translated.
    pub records: usize,
    /// Time to the translated answer.
    pub latency_ms: u64,
}

/// `POST /admin/v1/reload`.
#[derive(Debug, Serialize)]
pub struct ReloadView<'a> {
    /// `reloaded`.
    pub status: &'static str,
    /// What was reloaded, when, by what trigger.
    pub reload: &'a crate::server::reload::ReloadOutcome,
}

/// An `application/problem+json` document (RFC 9457).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemView {
    /// `urn:guichet:problem:<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Human title of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What exactly was wrong (never personal data).
    pub detail: String,
    /// `422` of a submission: every invalid field as a JSON pointer with a message (the
    /// message names the rule, never the value sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldErrorView>,
}

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldErrorView {
    /// RFC 6901 JSON pointer to the field (`""`: the whole body).
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}
