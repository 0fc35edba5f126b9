//! `[routing]`: how a query chooses the offices it asks. Without the section every office
//! is asked (`broadcast`, as before the register). With `mode = "register"` or `"verify"`
//! the central account register is asked first: its endpoint (checked against
//! `[offices]`' endpoint policy), the identity its certificate must name
//! (`urn:guichet:register:<name>`, verified in the handshake), its own timeout (capped
//! by the query's deadline), its limits, what to do when it fails, and how long its
//! answer is cached per person.

use std::time::Duration;

use serde::Deserialize;

use super::FieldError;
use crate::adapter::EndpointPolicy;
use crate::model::{Identity, Role, RoutingMode};

/// Longest register cache lifetime: one hour.
const MAX_CACHE_TTL_MS: u64 = 3_600_000;

/// `[routing]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRouting {
    #[serde(default = "default_mode")]
    mode: String,
    endpoint: Option<String>,
    identity: Option<String>,
    #[serde(default = "default_dialect")]
    dialect: String,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_mode")]
    on_register_failure: String,
    #[serde(default = "default_cache_ttl_ms")]
    cache_ttl_ms: u64,
    #[serde(default = "default_cache_max_entries")]
    cache_max_entries: u64,
    #[serde(default = "default_max_answer_bytes")]
    max_answer_bytes: usize,
    max_rate_per_second: Option<u32>,
    max_concurrency: Option<usize>,
}

fn default_mode() -> String {
    "broadcast".into()
}
fn default_dialect() -> String {
    "ech-register".into()
}
fn default_timeout_ms() -> u64 {
    300
}
fn default_cache_ttl_ms() -> u64 {
    60_000
}
fn default_cache_max_entries() -> u64 {
    100_000
}
fn default_max_answer_bytes() -> usize {
    256 * 1024
}

/// What a query does when the register fails (timeout, error, bad certificate, open
/// circuit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RegisterFallback {
    /// Ask every office, and say so in `routing.register.status`.
    #[default]
    Broadcast,
    /// Answer `503` naming the register.
    Fail,
}

/// The register as a source: where, who, how long, how much.
#[derive(Debug, Clone)]
pub struct RegisterEndpoint {
    /// `https://host:port/path` the gateway POSTs to.
    pub endpoint: reqwest::Url,
    /// The identity its server certificate must name (`urn:guichet:register:zas`).
    pub identity: Identity,
    /// The mapping dialect of its answers (`ech-register`).
    pub dialect: String,
    /// Per-call timeout (also capped by the query's deadline).
    pub timeout: Duration,
    /// Answer size limit.
    pub max_answer_bytes: usize,
    /// Calls per second allowed, if capped.
    pub max_rate_per_second: Option<u32>,
    /// Calls in flight allowed, if capped.
    pub max_concurrency: Option<usize>,
}

/// Validated `[routing]`.
#[derive(Debug, Clone, Default)]
pub struct RoutingConfig {
    /// `register`, `broadcast` or `verify`.
    pub mode: RoutingMode,
    /// The register (always set unless the mode is `broadcast`).
    pub register: Option<RegisterEndpoint>,
    /// What a query does when the register fails.
    pub on_register_failure: RegisterFallback,
    /// Lifetime of a cached register answer; `None` disables the cache.
    pub cache_ttl: Option<Duration>,
    /// Persons whose register answer the cache holds at most.
    pub cache_max_entries: u64,
}

impl RoutingConfig {
    /// Whether the section was configured at all (an answer then carries `routing`).
    pub fn is_configured(&self) -> bool {
        self.register.is_some() || self.mode != RoutingMode::Broadcast
    }
}

/// Validates `[routing]`; without the section every query is a broadcast, as before.
/// `policy` is `[offices]`' endpoint policy, which the register's endpoint must pass too.
pub(super) fn validate(
    raw: Option<&RawRouting>,
    policy: &EndpointPolicy,
) -> Result<Option<RoutingConfig>, FieldError> {
    let Some(r) = raw else {
        return Ok(None);
    };
    let mode = match r.mode.as_str() {
        "register" => RoutingMode::Register,
        "broadcast" => RoutingMode::Broadcast,
        "verify" => RoutingMode::Verify,
        other => {
            return Err(FieldError::new(
                "routing.mode",
                format!("{other:?} is not register, broadcast or verify"),
            ));
        }
    };
    let on_register_failure = match r.on_register_failure.as_str() {
        "broadcast" => RegisterFallback::Broadcast,
        "fail" => RegisterFallback::Fail,
        other => {
            return Err(FieldError::new(
                "routing.on_register_failure",
                format!("{other:?} is not broadcast or fail"),
            ));
        }
    };
    let ttl = FieldError::range("routing.cache_ttl_ms", r.cache_ttl_ms, 0, MAX_CACHE_TTL_MS)?;
    let cache_max_entries = FieldError::range(
        "routing.cache_max_entries",
        r.cache_max_entries,
        1,
        100_000_000,
    )?;
    let register = match (&r.endpoint, &r.identity) {
        (None, None) if mode == RoutingMode::Broadcast => None,
        (None, _) => {
            return Err(FieldError::new(
                "routing.endpoint",
                format!("mode {:?} needs the register's endpoint", mode.name()),
            ));
        }
        (_, None) => {
            return Err(FieldError::new(
                "routing.identity",
                "the register's certificate identity is needed, e.g. \"urn:guichet:register:zas\"",
            ));
        }
        (Some(endpoint), Some(identity)) => Some(endpoint_of(r, endpoint, identity, policy)?),
    };
    Ok(Some(RoutingConfig {
        mode,
        register,
        on_register_failure,
        cache_ttl: (ttl > 0).then(|| Duration::from_millis(ttl)),
        cache_max_entries,
    }))
}

fn endpoint_of(
    r: &RawRouting,
    endpoint: &str,
    identity: &str,
    policy: &EndpointPolicy,
) -> Result<RegisterEndpoint, FieldError> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| FieldError::new("routing.endpoint", format!("{endpoint:?}: {e}")))?;
    if url.scheme() != "https" || url.host().is_none() {
        return Err(FieldError::new(
            "routing.endpoint",
            format!("{endpoint:?} must be an https:// URL with a host"),
        ));
    }
    policy
        .check(&url)
        .map_err(|e| FieldError::new("routing.endpoint", e.to_string()))?;
    let identity = Identity::parse_uri(identity)
        .map_err(|e| FieldError::new("routing.identity", e.to_string()))?;
    if identity.role != Role::Register {
        return Err(FieldError::new(
            "routing.identity",
            format!(
                "{} is not a register identity (urn:guichet:register:<name>)",
                identity.uri()
            ),
        ));
    }
    let timeout_ms = FieldError::range("routing.timeout_ms", r.timeout_ms, 20, 30_000)?;
    let max_answer_bytes = FieldError::range(
        "routing.max_answer_bytes",
        r.max_answer_bytes,
        1024,
        16 * 1024 * 1024,
    )?;
    if let Some(rate) = r.max_rate_per_second {
        FieldError::range("routing.max_rate_per_second", rate, 1, 1_000_000)?;
    }
    if let Some(n) = r.max_concurrency {
        FieldError::range("routing.max_concurrency", n, 1, 1_000_000)?;
    }
    let dialect_ok = !r.dialect.is_empty()
        && r.dialect
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !dialect_ok {
        return Err(FieldError::new(
            "routing.dialect",
            format!("{:?}: lowercase letters, digits and '-'", r.dialect),
        ));
    }
    Ok(RegisterEndpoint {
        endpoint: url,
        identity,
        dialect: r.dialect.clone(),
        timeout: Duration::from_millis(timeout_ms),
        max_answer_bytes,
        max_rate_per_second: r.max_rate_per_second,
        max_concurrency: r.max_concurrency,
    })
}
