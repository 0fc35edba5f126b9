//! The gateway's own protection: a quota per portal identity (`429`), a cap on queries in
//! flight (`503`), and the short-lived in-memory cache of complete accounts.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::problem::Problem;
use crate::config::ProtectionConfig;
use crate::merge::{ConsolidatedAccount, YearRange};
use crate::model::Vn;

/// Quotas, the in-flight cap and the account cache.
#[derive(Debug)]
pub struct Protection {
    portals: DefaultKeyedRateLimiter<String>,
    in_flight: Arc<Semaphore>,
    cache: Option<moka::sync::Cache<(Vn, YearRange), Arc<ConsolidatedAccount>>>,
}

impl Protection {
    /// Builds the protection from validated settings.
    pub fn new(c: &ProtectionConfig) -> Protection {
        // One query comes back every 1/rate seconds; a fraction of one per second is a
        // quota per minute, hour or day.
        let refill = Duration::from_secs_f64(1.0 / c.portal_queries_per_second);
        let burst = NonZeroU32::new(c.portal_burst).unwrap_or(NonZeroU32::MIN);
        let cache = c.cache_ttl.map(|ttl| {
            moka::sync::Cache::builder()
                .max_capacity(c.cache_max_entries)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build()
        });
        Protection {
            portals: RateLimiter::keyed(
                Quota::with_period(refill)
                    .expect("validated: portal_queries_per_second ≤ 1e6, so the period is ≥ 1 µs")
                    .allow_burst(burst),
            ),
            in_flight: Arc::new(Semaphore::new(c.max_queries_in_flight)),
            cache,
        }
    }

    /// Charges one query to a portal identity; `429` with `Retry-After` when over quota.
    pub fn charge(&self, portal: &str) -> Result<(), Problem> {
        match self.portals.check_key(&portal.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let rejected = crate::metrics::KindLabels {
                    kind: "portal-quota",
                };
                crate::metrics::METRICS
                    .rejections
                    .get_or_create(&rejected)
                    .inc();
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(Problem {
                    status: hyper::StatusCode::TOO_MANY_REQUESTS,
                    slug: "rate-limited",
                    title: "Too many queries",
                    detail: format!(
                        "the quota of portal {portal} is used up; retry in {} s",
                        secs.max(1)
                    ),
                    retry_after: Some(secs.max(1)),
                })
            }
        }
    }

    /// A slot for one query in flight; `503` at once when all are taken.
    pub fn enter(&self) -> Result<OwnedSemaphorePermit, Problem> {
        Arc::clone(&self.in_flight)
            .try_acquire_owned()
            .map_err(|_| {
                let rejected = crate::metrics::KindLabels { kind: "in-flight" };
                crate::metrics::METRICS
                    .rejections
                    .get_or_create(&rejected)
                    .inc();
                Problem {
                    status: hyper::StatusCode::SERVICE_UNAVAILABLE,
                    slug: "overloaded",
                    title: "Gateway busy",
                    detail: "too many queries in flight; retry shortly".into(),
                    retry_after: Some(1),
                }
            })
    }

    /// A cached complete account, if any.
    pub fn cached(&self, vn: Vn, range: YearRange) -> Option<Arc<ConsolidatedAccount>> {
        self.cache.as_ref()?.get(&(vn, range))
    }

    /// Keeps a complete account for the cache's lifetime; incomplete ones are not kept.
    pub fn remember(&self, account: &Arc<ConsolidatedAccount>, range: YearRange) {
        if let Some(cache) = &self.cache
            && account.complete
        {
            cache.insert((account.vn, range), Arc::clone(account));
        }
    }

    /// Forgets every cached account of a person (all year ranges).
    pub fn evict(&self, vn: Vn) {
        if let Some(cache) = &self.cache {
            // Only fails when closures are not enabled, which `new` does.
            let _ = cache.invalidate_entries_if(move |key, _| key.0 == vn);
        }
    }

    /// Forgets every cached account (the registry changed).
    pub fn clear(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }

    /// Whether the cache is on.
    pub fn caching(&self) -> bool {
        self.cache.is_some()
    }
}

/// Parses a `Request-Timeout` header: seconds, decimals allowed (`1.5`).
pub fn request_timeout(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs <= 600.0).then(|| Duration::from_secs_f64(secs))
}
