//! `[delivery]`: how the outbox is worked off — how often due rows are looked for, how
//! many at once, the backoff between attempts, and when a delivery is given up (30 days,
//! as sedex). Raw TOML in, a validated [`DeliveryConfig`] out; every refusal names the key.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;

use super::FieldError;

/// `[delivery]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDelivery {
    enabled: bool,
    poll_interval_ms: u64,
    batch: u32,
    backoff_initial_ms: u64,
    backoff_max_ms: u64,
    expiry_days: u64,
    timeout_ms: u64,
    max_ack_bytes: u64,
}

impl Default for RawDelivery {
    fn default() -> Self {
        RawDelivery {
            enabled: true,
            poll_interval_ms: 250,
            batch: 16,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 300_000,
            expiry_days: 30,
            timeout_ms: 10_000,
            max_ack_bytes: 1 << 20,
        }
    }
}

/// How the delivery worker runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Whether this process works off the outbox (a replica may leave it to others).
    pub enabled: bool,
    /// How often due rows and sedex folders are looked at.
    pub poll_interval: Duration,
    /// Rows leased at once.
    pub batch: NonZeroU32,
    /// Wait before the second attempt; doubled per attempt (with jitter) up to `backoff_max`.
    pub backoff_initial: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
    /// A delivery not acknowledged this long after it was queued is given up.
    pub expiry: Duration,
    /// One synchronous delivery (POST and acknowledgement) at most this long.
    pub timeout: Duration,
    /// Acknowledgements larger than this are refused unread.
    pub max_ack_bytes: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            enabled: true,
            poll_interval: Duration::from_millis(250),
            batch: NonZeroU32::MIN.saturating_add(15),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            expiry: Duration::from_secs(30 * 86_400),
            timeout: Duration::from_secs(10),
            max_ack_bytes: 1 << 20,
        }
    }
}

impl RawDelivery {
    pub(super) fn validate(&self) -> Result<DeliveryConfig, FieldError> {
        let ms = |key: &str, v: u64, min: u64, max: u64| {
            if (min..=max).contains(&v) {
                Ok(Duration::from_millis(v))
            } else {
                Err(FieldError::new(
                    format!("delivery.{key}"),
                    format!("{v} is out of range {min}..={max}"),
                ))
            }
        };
        let poll_interval = ms("poll_interval_ms", self.poll_interval_ms, 10, 60_000)?;
        let backoff_initial = ms("backoff_initial_ms", self.backoff_initial_ms, 10, 3_600_000)?;
        let backoff_max = ms("backoff_max_ms", self.backoff_max_ms, 10, 86_400_000)?;
        if backoff_max < backoff_initial {
            return Err(FieldError::new(
                "delivery.backoff_max_ms",
                "must not be below delivery.backoff_initial_ms",
            ));
        }
        let timeout = ms("timeout_ms", self.timeout_ms, 100, 600_000)?;
        let batch = NonZeroU32::new(self.batch)
            .filter(|b| b.get() <= 1_000)
            .ok_or_else(|| FieldError::new("delivery.batch", "must be 1..=1000"))?;
        if !(1..=365).contains(&self.expiry_days) {
            return Err(FieldError::new("delivery.expiry_days", "must be 1..=365"));
        }
        if !(1_024..=64 << 20).contains(&self.max_ack_bytes) {
            return Err(FieldError::new(
                "delivery.max_ack_bytes",
                "must be 1024..=67108864",
            ));
        }
        Ok(DeliveryConfig {
            enabled: self.enabled,
            poll_interval,
            batch,
            backoff_initial,
            backoff_max,
            expiry: Duration::from_secs(self.expiry_days * 86_400),
            timeout,
            max_ack_bytes: usize::try_from(self.max_ack_bytes).unwrap_or(usize::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_out_of_range_values_name_the_key() {
        let d = DeliveryConfig::default();
        assert_eq!(RawDelivery::default().validate(), Ok(d));
        assert_eq!(d.expiry, Duration::from_secs(30 * 86_400));
        let raw = RawDelivery {
            backoff_max_ms: 5,
            ..RawDelivery::default()
        };
        let e = raw.validate().expect_err("refused");
        assert_eq!(e.field, "delivery.backoff_max_ms");
        let raw = RawDelivery {
            batch: 0,
            ..RawDelivery::default()
        };
        assert_eq!(raw.validate().expect_err("refused").field, "delivery.batch");
    }
}
