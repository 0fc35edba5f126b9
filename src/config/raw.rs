//! The configuration file as written: serde shapes with `deny_unknown_fields` and their
//! defaults. No value is checked here; [`super::Config::parse`] turns these into typed,
//! validated values.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::audit::RawAudit;
use super::delivery::RawDelivery;
use super::identity::RawIdentity;
use super::seal::RawSeal;
use super::store::RawStore;
use super::telemetry::RawTelemetry;

/// The whole file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) server: RawServer,
    pub(super) offices: RawOffices,
    #[serde(default)]
    pub(super) simulator: Option<RawSimulator>,
    #[serde(default)]
    pub(super) protection: RawProtection,
    pub(super) audit: RawAudit,
    #[serde(default)]
    pub(super) privacy: RawPrivacy,
    #[serde(default)]
    pub(super) admin: Option<RawAdmin>,
    #[serde(default)]
    pub(super) identity: RawIdentity,
    #[serde(default)]
    pub(super) routing: Option<super::routing::RawRouting>,
    #[serde(default)]
    pub(super) seal: Option<RawSeal>,
    #[serde(default)]
    pub(super) store: RawStore,
    #[serde(default)]
    pub(super) delivery: RawDelivery,
    #[serde(default)]
    pub(super) console: Option<super::console::RawConsole>,
    #[serde(default)]
    pub(super) telemetry: RawTelemetry,
    #[serde(default)]
    pub(super) messages: Option<super::messages::RawMessages>,
}

/// `[admin]`: the operations listener.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    pub(super) listen: String,
    #[serde(default)]
    pub(super) allow_remote: bool,
}

/// `[privacy]`: purposes and the portals that may state them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPrivacy {
    pub(super) purposes: Vec<String>,
    pub(super) portals: BTreeMap<String, Vec<String>>,
    /// Purposes that need the end user's token (default: `self-service`, when listed).
    pub(super) end_user_token: Option<Vec<String>>,
    /// Purposes that need a `Case-Reference` header (default: `pension-calculation` and
    /// `benefit-review`, those listed).
    pub(super) case_reference: Option<Vec<String>>,
}

impl Default for RawPrivacy {
    fn default() -> Self {
        RawPrivacy {
            purposes: vec![
                "self-service".into(),
                "pension-calculation".into(),
                "benefit-review".into(),
            ],
            portals: BTreeMap::new(),
            end_user_token: None,
            case_reference: None,
        }
    }
}

/// `[protection]`: breakers, retries, hedging, cache and limits.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawProtection {
    pub(super) breaker_window_ms: u64,
    pub(super) breaker_min_calls: u32,
    pub(super) breaker_failure_rate_percent: u32,
    pub(super) breaker_open_ms: u64,
    pub(super) breaker_half_open_calls: u32,
    pub(super) retry_budget_percent: u32,
    pub(super) retry_min_per_second: u32,
    pub(super) retry_max_per_call: u32,
    pub(super) hedge_budget_percent: u32,
    pub(super) cache_ttl_ms: u64,
    pub(super) cache_max_bytes: u64,
    /// Replaced by `cache_max_bytes`: refused with a message saying so.
    pub(super) cache_max_entries: Option<u64>,
    pub(super) max_entries_per_answer: u64,
    pub(super) max_queries_in_flight: usize,
    pub(super) portal_queries_per_second: f64,
    pub(super) portal_burst: u32,
}

impl Default for RawProtection {
    fn default() -> Self {
        RawProtection {
            breaker_window_ms: 10_000,
            breaker_min_calls: 20,
            breaker_failure_rate_percent: 50,
            breaker_open_ms: 5_000,
            breaker_half_open_calls: 3,
            retry_budget_percent: 50,
            retry_min_per_second: 10,
            retry_max_per_call: 2,
            hedge_budget_percent: 0,
            cache_ttl_ms: 0,
            cache_max_bytes: 64 * 1024 * 1024,
            cache_max_entries: None,
            max_entries_per_answer: crate::mapping::DEFAULT_MAX_ENTRIES_PER_ANSWER as u64,
            max_queries_in_flight: 512,
            portal_queries_per_second: 50.0,
            portal_burst: 100,
        }
    }
}

/// `[server]`: the ingress.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub(super) listen: String,
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
    pub(super) client_ca: PathBuf,
    #[serde(default)]
    pub(super) crl: Option<PathBuf>,
    #[serde(default = "default_grace")]
    pub(super) grace_period_ms: u64,
    // Connection limits and the reload poll, validated in `listen.rs`.
    #[serde(default)]
    pub(super) idle_timeout_ms: Option<u64>,
    #[serde(default)]
    pub(super) max_connection_age_ms: Option<u64>,
    #[serde(default)]
    pub(super) max_header_bytes: Option<u64>,
    #[serde(default)]
    pub(super) max_connections: Option<u64>,
    #[serde(default)]
    pub(super) handshake_timeout_ms: Option<u64>,
    #[serde(default)]
    pub(super) watch_interval_ms: Option<u64>,
    /// This replica's name (validated in `server.rs`).
    #[serde(default)]
    pub(super) replica_id: Option<String>,
}

/// `[offices]`: the fan-out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOffices {
    pub(super) adapters: PathBuf,
    pub(super) mappings: PathBuf,
    pub(super) ca: PathBuf,
    pub(super) client_cert: PathBuf,
    pub(super) client_key: PathBuf,
    #[serde(default)]
    pub(super) crl: Option<PathBuf>,
    #[serde(default = "default_deadline")]
    pub(super) deadline_ms: u64,
    #[serde(default = "default_sender")]
    pub(super) sender_id: String,
    #[serde(default = "default_prefix")]
    pub(super) participant_prefix: String,
    #[serde(default)]
    pub(super) test_delivery: bool,
    #[serde(default)]
    pub(super) endpoint_host_suffixes: Vec<String>,
    #[serde(default)]
    pub(super) endpoint_networks: Vec<String>,
    #[serde(default)]
    pub(super) allow_loopback: bool,
}

/// `[simulator]`: the simulated offices (development only).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSimulator {
    pub(super) certs: PathBuf,
    #[serde(default = "default_median")]
    pub(super) latency_median_ms: u64,
    #[serde(default = "default_p99")]
    pub(super) latency_p99_ms: u64,
    #[serde(default = "default_register_listen")]
    pub(super) register_listen: String,
    #[serde(default)]
    pub(super) register_lag_days: u32,
    #[serde(default)]
    pub(super) register_missing_newest_share: f64,
    #[serde(default)]
    pub(super) register_stale_closed_share: f64,
    #[serde(default)]
    pub(super) sedex_dir: Option<PathBuf>,
    #[serde(default = "default_sedex_delay")]
    pub(super) sedex_delay_ms: u64,
}

pub(super) fn default_grace() -> u64 {
    10_000
}
pub(super) fn default_deadline() -> u64 {
    2_000
}
pub(super) fn default_sender() -> String {
    "T6-000000-1".into()
}
pub(super) fn default_prefix() -> String {
    "T6".into()
}
pub(super) fn default_register_listen() -> String {
    "127.0.0.1:18202".into()
}
pub(super) fn default_sedex_delay() -> u64 {
    2_000
}
pub(super) fn default_median() -> u64 {
    20
}
pub(super) fn default_p99() -> u64 {
    250
}
