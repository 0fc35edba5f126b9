//! The breaker and retry keys of `[protection]`: raw numbers become the fan-out's typed
//! settings, or an error naming the key.

use std::time::Duration;

use super::RawProtection;

/// The breaker and retry keys of `[protection]`; the error names the key.
pub(super) fn breaker_and_retry(
    p: &RawProtection,
) -> Result<(crate::fanout::BreakerSettings, crate::fanout::RetrySettings), String> {
    if !(100..=3_600_000).contains(&p.breaker_window_ms) {
        return Err(format!(
            "breaker_window_ms: {} is outside 100–3600000",
            p.breaker_window_ms
        ));
    }
    if !(1..=100).contains(&p.breaker_failure_rate_percent) {
        return Err(format!(
            "breaker_failure_rate_percent: {} is outside 1–100",
            p.breaker_failure_rate_percent
        ));
    }
    if !(1..=1000).contains(&p.breaker_half_open_calls) {
        return Err(format!(
            "breaker_half_open_calls: {} is outside 1–1000",
            p.breaker_half_open_calls
        ));
    }
    if p.breaker_min_calls > 100_000 {
        return Err(format!(
            "breaker_min_calls: {} is above 100000",
            p.breaker_min_calls
        ));
    }
    if p.retry_budget_percent > 100 {
        return Err(format!(
            "retry_budget_percent: {} is above 100",
            p.retry_budget_percent
        ));
    }
    if p.retry_min_per_second > 10_000 || p.retry_max_per_call > 5 {
        return Err("retry_min_per_second ≤ 10000 and retry_max_per_call ≤ 5".into());
    }
    let breaker = crate::fanout::BreakerSettings {
        window: Duration::from_millis(p.breaker_window_ms),
        min_calls: p.breaker_min_calls,
        failure_rate_percent: p.breaker_failure_rate_percent,
        open_for: Duration::from_millis(p.breaker_open_ms),
        half_open_calls: p.breaker_half_open_calls,
    };
    let retry = if p.retry_budget_percent == 0 && p.retry_min_per_second == 0 {
        crate::fanout::RetrySettings::DISABLED
    } else {
        crate::fanout::RetrySettings {
            ratio: f64::from(p.retry_budget_percent) / 100.0,
            min_per_second: p.retry_min_per_second,
            max_per_call: p.retry_max_per_call,
        }
    };
    Ok((breaker, retry))
}
