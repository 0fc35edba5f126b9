//! Configuration: the raw TOML (`deny_unknown_fields`) becomes typed, validated values in
//! one place. Relative paths resolve against the configuration file's folder. Nothing
//! later re-checks a value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod audit;
mod breaker;
mod listen;

use audit::RawAudit;
pub use audit::{AuditConfig, CHECKPOINT_KEY};
pub use listen::ConnectionLimits;

/// A configuration that cannot be used: which file, which field, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("config {file}: {message}")]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// What is wrong, naming the field.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    server: RawServer,
    offices: RawOffices,
    #[serde(default)]
    simulator: Option<RawSimulator>,
    #[serde(default)]
    protection: RawProtection,
    audit: RawAudit,
    #[serde(default)]
    privacy: RawPrivacy,
    #[serde(default)]
    admin: Option<RawAdmin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: String,
    #[serde(default)]
    allow_remote: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPrivacy {
    purposes: Vec<String>,
    portals: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for RawPrivacy {
    fn default() -> Self {
        RawPrivacy {
            purposes: vec![
                "self-service".into(),
                "pension-calculation".into(),
                "benefit-review".into(),
            ],
            portals: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProtection {
    breaker_window_ms: u64,
    breaker_min_calls: u32,
    breaker_failure_rate_percent: u32,
    breaker_open_ms: u64,
    breaker_half_open_calls: u32,
    retry_budget_percent: u32,
    retry_min_per_second: u32,
    retry_max_per_call: u32,
    hedge_budget_percent: u32,
    cache_ttl_ms: u64,
    cache_max_bytes: u64,
    /// Replaced by `cache_max_bytes`: refused with a message saying so.
    cache_max_entries: Option<u64>,
    max_entries_per_answer: u64,
    max_queries_in_flight: usize,
    portal_queries_per_second: u32,
    portal_burst: u32,
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
            portal_queries_per_second: 50,
            portal_burst: 100,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: String,
    cert: PathBuf,
    key: PathBuf,
    client_ca: PathBuf,
    #[serde(default)]
    crl: Option<PathBuf>,
    #[serde(default = "default_grace")]
    grace_period_ms: u64,
    // Connection limits and the reload poll, validated in `listen.rs`.
    #[serde(default)]
    idle_timeout_ms: Option<u64>,
    #[serde(default)]
    max_connection_age_ms: Option<u64>,
    #[serde(default)]
    max_header_bytes: Option<u64>,
    #[serde(default)]
    max_connections: Option<u64>,
    #[serde(default)]
    handshake_timeout_ms: Option<u64>,
    #[serde(default)]
    watch_interval_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffices {
    adapters: PathBuf,
    mappings: PathBuf,
    ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    #[serde(default)]
    crl: Option<PathBuf>,
    #[serde(default = "default_deadline")]
    deadline_ms: u64,
    #[serde(default = "default_sender")]
    sender_id: String,
    #[serde(default = "default_prefix")]
    participant_prefix: String,
    #[serde(default)]
    test_delivery: bool,
    #[serde(default)]
    endpoint_host_suffixes: Vec<String>,
    #[serde(default)]
    endpoint_networks: Vec<String>,
    #[serde(default)]
    allow_loopback: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimulator {
    certs: PathBuf,
    #[serde(default = "default_median")]
    latency_median_ms: u64,
    #[serde(default = "default_p99")]
    latency_p99_ms: u64,
}

/// Bounds of `protection.cache_max_bytes`: one account of a few hundred entries at
/// least, at most what a gateway host would spare.
const MIN_CACHE_BYTES: u64 = 64 * 1024;
const MAX_CACHE_BYTES: u64 = 16 * 1024 * 1024 * 1024;

fn default_grace() -> u64 {
    10_000
}
fn default_deadline() -> u64 {
    2_000
}
fn default_sender() -> String {
    "T6-000000-1".into()
}
fn default_prefix() -> String {
    "T6".into()
}
fn default_median() -> u64 {
    20
}
fn default_p99() -> u64 {
    250
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// Ingress.
    pub server: ServerConfig,
    /// Offices and fan-out.
    pub offices: OfficesConfig,
    /// The simulator (development only).
    pub simulator: SimulatorConfig,
    /// Breakers, hedging, cache and limits.
    pub protection: ProtectionConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// Purposes and who may state them.
    pub privacy: PrivacyConfig,
    /// The operations listener (`/metrics`), if any.
    pub admin_listen: Option<SocketAddr>,
}

/// Purpose binding.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// Every purpose the federation knows.
    pub purposes: Vec<String>,
    /// Portal name → the purposes it may state.
    pub portals: std::collections::BTreeMap<String, Vec<String>>,
}

impl PrivacyConfig {
    /// Whether portal `name` may query for `purpose`.
    pub fn allows(&self, name: &str, purpose: &str) -> bool {
        self.portals
            .get(name)
            .is_some_and(|p| p.iter().any(|x| x == purpose))
    }
}

/// How guichet protects the offices and itself.
#[derive(Debug, Clone)]
pub struct ProtectionConfig {
    /// Each office's circuit breaker (failure rate over a sliding window).
    pub breaker: crate::fanout::BreakerSettings,
    /// Retries of `503`s and failed connections, within a budget per office.
    pub retry: crate::fanout::RetrySettings,
    /// Extra hedged calls allowed per call (0.1 = 10 %); `None` disables hedging.
    pub hedge_budget: Option<f64>,
    /// Lifetime of cached complete accounts; `None` disables the cache.
    pub cache_ttl: Option<Duration>,
    /// Budget of the account cache: the approximate bytes of all cached accounts.
    pub cache_max_bytes: u64,
    /// IK entries and IV cases together taken from one office's answer (1–1,000,000);
    /// an answer with more is that office's `error` "answer too large".
    pub max_entries_per_answer: usize,
    /// Queries in flight before new ones get a fast `503`.
    pub max_queries_in_flight: usize,
    /// Sustained queries per second of one portal identity.
    pub portal_queries_per_second: u32,
    /// Burst of one portal identity.
    pub portal_burst: u32,
}

/// Ingress settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server key (PEM).
    pub key: PathBuf,
    /// CA that client certificates must chain to.
    pub client_ca: PathBuf,
    /// CRLs checked for client certificates (reloaded when the file changes).
    pub crl: Option<PathBuf>,
    /// Time given to queries in flight at shutdown.
    pub grace_period: Duration,
    /// Limits of each connection and of each listener (also the operations listener's).
    pub limits: ConnectionLimits,
    /// How often the TLS files and the adapters folder are polled for changes.
    pub watch_interval: Duration,
}

/// Fan-out settings.
#[derive(Debug, Clone)]
pub struct OfficesConfig {
    /// Adapters folder.
    pub adapters: PathBuf,
    /// Mappings folder.
    pub mappings: PathBuf,
    /// CA of the offices' server certificates.
    pub ca: PathBuf,
    /// Gateway client certificate.
    pub client_cert: PathBuf,
    /// Gateway client key.
    pub client_key: PathBuf,
    /// CRLs checked for offices' server certificates.
    pub crl: Option<PathBuf>,
    /// Overall deadline of a query.
    pub deadline: Duration,
    /// sedex participant id of the gateway.
    pub sender_id: String,
    /// Participant-id prefix of the environment.
    pub participant_prefix: String,
    /// eCH-0058 testDeliveryFlag on requests.
    pub test_delivery: bool,
    /// Which hosts adapters may name as endpoints.
    pub endpoint_policy: crate::adapter::EndpointPolicy,
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Folder of the simulated offices' certificates.
    pub certs: PathBuf,
    /// Median latency.
    pub latency_median: Duration,
    /// 99th-percentile latency.
    pub latency_p99: Duration,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            file: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        Config::parse(path, &text)
    }

    /// Validates configuration text; `path` locates relative paths and names errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError {
            file: path.to_owned(),
            message,
        };
        let raw: Raw = crate::toml_error::parse(text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new(".")).to_owned();
        let at = |p: &Path| {
            normalize(&if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            })
        };
        let listen: SocketAddr = raw.server.listen.parse().map_err(|_| {
            err(format!(
                "server.listen: {:?} is not an address like 127.0.0.1:8443",
                raw.server.listen
            ))
        })?;
        let o = &raw.offices;
        if !(100..=60_000).contains(&o.deadline_ms) {
            return Err(err(format!(
                "offices.deadline_ms: {} is outside 100–60000",
                o.deadline_ms
            )));
        }
        if raw.server.grace_period_ms > 300_000 {
            return Err(err("server.grace_period_ms: at most 300000".into()));
        }
        let participant_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 40
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !participant_ok(&o.sender_id) || !participant_ok(&o.participant_prefix) {
            return Err(err(
                "offices.sender_id / participant_prefix: letters, digits and '-' only".into(),
            ));
        }
        let simulator = match &raw.simulator {
            Some(s) => {
                if s.latency_median_ms > s.latency_p99_ms || s.latency_p99_ms > 60_000 {
                    return Err(err(
                        "simulator: latency_median_ms ≤ latency_p99_ms ≤ 60000".into()
                    ));
                }
                SimulatorConfig {
                    certs: at(&s.certs),
                    latency_median: Duration::from_millis(s.latency_median_ms),
                    latency_p99: Duration::from_millis(s.latency_p99_ms),
                }
            }
            None => SimulatorConfig {
                certs: base.join("../certs/offices"),
                latency_median: Duration::from_millis(default_median()),
                latency_p99: Duration::from_millis(default_p99()),
            },
        };
        let p = &raw.protection;
        if p.hedge_budget_percent > 100
            || p.breaker_open_ms > 3_600_000
            || p.cache_ttl_ms > 3_600_000
        {
            return Err(err("protection: hedge_budget_percent ≤ 100, breaker_open_ms and cache_ttl_ms ≤ 3600000".into()));
        }
        if p.cache_max_entries.is_some() {
            return Err(err("protection.cache_max_entries: replaced by cache_max_bytes (the cache is bounded by the approximate bytes of its accounts)".into()));
        }
        if !(MIN_CACHE_BYTES..=MAX_CACHE_BYTES).contains(&p.cache_max_bytes) {
            return Err(err(format!(
                "protection.cache_max_bytes: {} is outside {MIN_CACHE_BYTES}–{MAX_CACHE_BYTES} (64 KiB–16 GiB)",
                p.cache_max_bytes
            )));
        }
        let max_entries_per_answer = usize::try_from(p.max_entries_per_answer)
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| {
                err(format!(
                    "protection.max_entries_per_answer: {} is outside 1–1000000",
                    p.max_entries_per_answer
                ))
            })?;
        if p.max_queries_in_flight == 0 || p.portal_queries_per_second == 0 || p.portal_burst == 0 {
            return Err(err("protection: max_queries_in_flight, portal_queries_per_second and portal_burst must be at least 1".into()));
        }
        let (breaker, retry) =
            breaker::breaker_and_retry(p).map_err(|m| err(format!("protection.{m}")))?;
        let protection = ProtectionConfig {
            breaker,
            retry,
            hedge_budget: (p.hedge_budget_percent > 0)
                .then(|| f64::from(p.hedge_budget_percent) / 100.0),
            cache_ttl: (p.cache_ttl_ms > 0).then(|| Duration::from_millis(p.cache_ttl_ms)),
            cache_max_bytes: p.cache_max_bytes,
            max_entries_per_answer,
            max_queries_in_flight: p.max_queries_in_flight,
            portal_queries_per_second: p.portal_queries_per_second,
            portal_burst: p.portal_burst,
        };
        let purpose_ok = |p: &String| {
            !p.is_empty()
                && p.len() <= 64
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if let Some(bad) = raw.privacy.purposes.iter().find(|p| !purpose_ok(p)) {
            return Err(err(format!(
                "privacy.purposes: {bad:?} — lowercase letters, digits and '-'"
            )));
        }
        for (portal, purposes) in &raw.privacy.portals {
            if let Some(bad) = purposes.iter().find(|p| !raw.privacy.purposes.contains(p)) {
                return Err(err(format!(
                    "privacy.portals.{portal}: {bad:?} is not one of privacy.purposes"
                )));
            }
        }
        let audit = raw.audit.validate(at).map_err(err)?;
        let privacy = PrivacyConfig {
            purposes: raw.privacy.purposes.clone(),
            portals: raw.privacy.portals.clone(),
        };
        let admin_listen = listen::admin_listen(raw.admin.as_ref()).map_err(err)?;
        let (limits, watch_interval) = listen::server_limits(&raw.server).map_err(err)?;
        Ok(Config {
            admin_listen,
            audit,
            privacy,
            protection,
            file: path.to_owned(),
            server: ServerConfig {
                listen,
                cert: at(&raw.server.cert),
                key: at(&raw.server.key),
                client_ca: at(&raw.server.client_ca),
                crl: raw.server.crl.as_deref().map(at),
                grace_period: Duration::from_millis(raw.server.grace_period_ms),
                limits,
                watch_interval,
            },
            offices: OfficesConfig {
                adapters: at(&o.adapters),
                mappings: at(&o.mappings),
                ca: at(&o.ca),
                client_cert: at(&o.client_cert),
                client_key: at(&o.client_key),
                crl: o.crl.as_deref().map(at),
                deadline: Duration::from_millis(o.deadline_ms),
                sender_id: o.sender_id.clone(),
                participant_prefix: o.participant_prefix.clone(),
                test_delivery: o.test_delivery,
                endpoint_policy: crate::adapter::EndpointPolicy::new(
                    &o.endpoint_host_suffixes,
                    &o.endpoint_networks,
                    o.allow_loopback,
                )
                .map_err(|e| err(e.to_string()))?,
            },
            simulator,
        })
    }
}

/// Removes `.` and `name/..` pairs without touching the file system, so messages show
/// `certs/x.pem` rather than `config/../certs/x.pem`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml");
        let c = Config::load(&path).expect("shipped config");
        assert_eq!(c.offices.deadline, Duration::from_secs(2));
        assert!(c.offices.adapters.ends_with("adapters"));
        assert!(!c.offices.adapters.to_string_lossy().contains(".."));
        assert_eq!(
            normalize(Path::new("config/../certs/./a.pem")),
            PathBuf::from("certs/a.pem")
        );
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }

    #[test]
    fn errors_name_the_field() {
        let p = Path::new("/etc/guichet.toml");
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml"),
        )
        .expect("read");
        let e =
            Config::parse(p, &text.replace("127.0.0.1:8443", "localhost")).expect_err("bad listen");
        assert!(e.to_string().contains("server.listen"), "{e}");
        let e = Config::parse(p, &text.replace("deadline_ms = 2000", "deadline_ms = 5"))
            .expect_err("bad deadline");
        assert!(e.to_string().contains("offices.deadline_ms"), "{e}");
        for (from, to, field) in [
            (
                "cache_max_bytes = 67108864",
                "cache_max_bytes = 1024",
                "protection.cache_max_bytes",
            ),
            (
                "cache_max_bytes = 67108864",
                "cache_max_entries = 10",
                "protection.cache_max_entries",
            ),
            (
                "max_entries_per_answer = 20000",
                "max_entries_per_answer = 0",
                "protection.max_entries_per_answer",
            ),
            (
                "max_entries_per_answer = 20000",
                "max_entries_per_answer = 1000001",
                "protection.max_entries_per_answer",
            ),
        ] {
            let e = Config::parse(p, &text.replace(from, to)).expect_err(to);
            let m = e.to_string();
            assert!(m.contains(field) && m.contains("/etc/guichet.toml"), "{m}");
        }
        let e = Config::parse(p, &text.replace("[server]", "[server]\nbogus = 1"))
            .expect_err("unknown field");
        assert!(
            e.to_string().contains("bogus") && e.to_string().contains("line"),
            "{e}"
        );
    }
}
