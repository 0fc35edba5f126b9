//! `[protection]`: each office's breaker and retry budget, hedging, the account cache,
//! the answer-size cap and the ingress limits. Raw numbers in, typed settings out; every
//! value outside its range is refused naming the key, none is clamped.

use std::time::Duration;

use super::FieldError;
use super::raw::RawProtection;
use crate::fanout::{BreakerSettings, RetrySettings};

/// Bounds of `protection.cache_max_bytes`: one account of a few hundred entries at
/// least, at most what a gateway host would spare.
const MIN_CACHE_BYTES: u64 = 64 * 1024;
const MAX_CACHE_BYTES: u64 = 16 * 1024 * 1024 * 1024;

/// Bounds of `protection.portal_queries_per_second`: one query a day to a million a
/// second (the refill period then stays between 1 µs and 24 h).
const MIN_PORTAL_RATE: f64 = 1.0 / 86_400.0;
const MAX_PORTAL_RATE: f64 = 1_000_000.0;

/// Longest breaker opening and cache lifetime: one hour.
const MAX_HOUR_MS: u64 = 3_600_000;

/// How guichet protects the offices and itself.
#[derive(Debug, Clone)]
pub struct ProtectionConfig {
    /// Each office's circuit breaker (failure rate over a sliding window).
    pub breaker: BreakerSettings,
    /// Retries of `503`s and failed connections, within a budget per office.
    pub retry: RetrySettings,
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
    /// Sustained queries per second of one portal identity; fractions allowed (one a
    /// day to a million a second), `0.1` is one query every ten seconds.
    pub portal_queries_per_second: f64,
    /// Burst of one portal identity.
    pub portal_burst: u32,
}

impl RawProtection {
    /// Validates `[protection]`.
    pub(super) fn validate(&self) -> Result<ProtectionConfig, FieldError> {
        let hedge = FieldError::range(
            "protection.hedge_budget_percent",
            self.hedge_budget_percent,
            0,
            100,
        )?;
        let ttl = FieldError::range("protection.cache_ttl_ms", self.cache_ttl_ms, 0, MAX_HOUR_MS)?;
        if self.cache_max_entries.is_some() {
            return Err(FieldError::new(
                "protection.cache_max_entries",
                "replaced by cache_max_bytes (the cache is bounded by the approximate bytes \
                 of its accounts)",
            ));
        }
        let cache_max_bytes = FieldError::range(
            "protection.cache_max_bytes",
            self.cache_max_bytes,
            MIN_CACHE_BYTES,
            MAX_CACHE_BYTES,
        )?;
        let max_entries = FieldError::range(
            "protection.max_entries_per_answer",
            self.max_entries_per_answer,
            1,
            1_000_000,
        )?;
        // A tokio semaphore holds at most `usize::MAX >> 3` permits; a million queries in
        // flight is far beyond what one gateway serves.
        let in_flight = FieldError::range(
            "protection.max_queries_in_flight",
            self.max_queries_in_flight,
            1,
            1_000_000,
        )?;
        // Not `FieldError::range`: a NaN compares false both ways and would pass it.
        let per_second = self.portal_queries_per_second;
        if !(MIN_PORTAL_RATE..=MAX_PORTAL_RATE).contains(&per_second) {
            return Err(FieldError::new(
                "protection.portal_queries_per_second",
                format!(
                    "{per_second} is outside {MIN_PORTAL_RATE}–{MAX_PORTAL_RATE} (one a day to \
                     a million a second)"
                ),
            ));
        }
        let burst = FieldError::range("protection.portal_burst", self.portal_burst, 1, u32::MAX)?;
        Ok(ProtectionConfig {
            breaker: self.breaker()?,
            retry: self.retry()?,
            hedge_budget: (hedge > 0).then(|| f64::from(hedge) / 100.0),
            cache_ttl: (ttl > 0).then(|| Duration::from_millis(ttl)),
            cache_max_bytes,
            max_entries_per_answer: usize::try_from(max_entries)
                .map_err(|_| FieldError::new("protection.max_entries_per_answer", "too large"))?,
            max_queries_in_flight: in_flight,
            portal_queries_per_second: per_second,
            portal_burst: burst,
        })
    }

    /// The breaker keys.
    fn breaker(&self) -> Result<BreakerSettings, FieldError> {
        let key = |k: &str| format!("protection.{k}");
        Ok(BreakerSettings {
            window: Duration::from_millis(FieldError::range(
                key("breaker_window_ms"),
                self.breaker_window_ms,
                100,
                MAX_HOUR_MS,
            )?),
            min_calls: FieldError::range(
                key("breaker_min_calls"),
                self.breaker_min_calls,
                0,
                100_000,
            )?,
            failure_rate_percent: FieldError::range(
                key("breaker_failure_rate_percent"),
                self.breaker_failure_rate_percent,
                1,
                100,
            )?,
            open_for: Duration::from_millis(FieldError::range(
                key("breaker_open_ms"),
                self.breaker_open_ms,
                0,
                MAX_HOUR_MS,
            )?),
            half_open_calls: FieldError::range(
                key("breaker_half_open_calls"),
                self.breaker_half_open_calls,
                1,
                1000,
            )?,
        })
    }

    /// The retry-budget keys; a budget of 0 % with no reserve disables retries.
    fn retry(&self) -> Result<RetrySettings, FieldError> {
        let key = |k: &str| format!("protection.{k}");
        let percent = FieldError::range(
            key("retry_budget_percent"),
            self.retry_budget_percent,
            0,
            100,
        )?;
        let min_per_second = FieldError::range(
            key("retry_min_per_second"),
            self.retry_min_per_second,
            0,
            10_000,
        )?;
        let max_per_call =
            FieldError::range(key("retry_max_per_call"), self.retry_max_per_call, 0, 5)?;
        if percent == 0 && min_per_second == 0 {
            return Ok(RetrySettings::DISABLED);
        }
        Ok(RetrySettings {
            ratio: f64::from(percent) / 100.0,
            min_per_second,
            max_per_call,
        })
    }
}
