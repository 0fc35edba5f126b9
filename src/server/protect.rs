//! The gateway's own protection: a quota per portal identity (`429`), a cap on queries in
//! flight (`503`), and the short-lived in-memory cache of complete accounts.
//!
//! The cache files an account under who asked and why as well as whom and which years
//! ([`CacheKey`]): a portal never receives an account fetched for another portal or
//! another purpose. It is bounded by the approximate bytes of its accounts, not by their
//! number: one account of 36,000 entries weighs what thousands of ordinary ones do.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::problem::Problem;
use crate::config::ProtectionConfig;
use crate::merge::{ConsolidatedAccount, YearRange};
use crate::model::Vn;

/// What a cached account is filed under: the portal identity and the purpose it stated,
/// the person, the years.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The portal identity (name in its certificate).
    pub portal: String,
    /// The purpose the portal stated.
    pub purpose: String,
    /// The person.
    pub vn: Vn,
    /// The years asked for.
    pub range: YearRange,
}

/// How an account query used the cache (the `guichet-cache` header, the metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheResult {
    /// Served from the cache, no office asked.
    Hit,
    /// Not in the cache: the offices were asked.
    Miss,
    /// The portal asked not to use it (`Cache-Control: no-cache`).
    Bypassed,
    /// The cache is off (`cache_ttl_ms = 0`).
    Off,
}

impl CacheResult {
    /// The wire and metric name: `hit`, `miss`, `bypass`, `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheResult::Hit => "hit",
            CacheResult::Miss => "miss",
            CacheResult::Bypassed => "bypass",
            CacheResult::Off => "off",
        }
    }
}

/// The answer of a cache lookup.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// The cached account.
    Hit(Arc<ConsolidatedAccount>),
    /// The offices must be asked, and why.
    Ask(CacheResult),
}

/// What became of an account offered to the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remembered {
    /// Kept for the cache's lifetime.
    Stored,
    /// Not kept: some office did not answer.
    Incomplete,
    /// Not kept: it alone would take more than [`MAX_SHARE`] of the byte budget.
    TooLarge {
        /// Its approximate size.
        bytes: u64,
    },
    /// Not kept: the cache is off.
    Off,
}

/// One account may take at most this share (1/n) of the cache's byte budget, so that a
/// single huge account cannot flush every other portal's entries.
pub const MAX_SHARE: u64 = 8;

/// The account cache: keys → accounts, weighed in approximate bytes.
#[derive(Debug)]
struct AccountCache {
    entries: moka::sync::Cache<CacheKey, Arc<ConsolidatedAccount>>,
    /// The largest account kept (budget / [`MAX_SHARE`]).
    max_account_bytes: u64,
}

/// Quotas, the in-flight cap and the account cache.
#[derive(Debug)]
pub struct Protection {
    /// The quota limiter of this replica's share (the whole quota with one replica).
    portals: RwLock<Arc<DefaultKeyedRateLimiter<String>>>,
    /// The configured (global) quota: queries per second and burst per portal.
    quota: (f64, u32),
    /// How many replicas share the quota now.
    replicas: AtomicUsize,
    in_flight: Arc<Semaphore>,
    cache: Option<AccountCache>,
}

impl Protection {
    /// Builds the protection from validated settings.
    pub fn new(c: &ProtectionConfig) -> Protection {
        let cache = c.cache_ttl.map(|ttl| AccountCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(c.cache_max_bytes)
                .weigher(|key: &CacheKey, account: &Arc<ConsolidatedAccount>| {
                    u32::try_from(weight(key, account)).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            max_account_bytes: c.cache_max_bytes / MAX_SHARE,
        });
        Protection {
            portals: RwLock::new(Arc::new(limiter(
                c.portal_queries_per_second,
                c.portal_burst,
                1,
            ))),
            quota: (c.portal_queries_per_second, c.portal_burst),
            replicas: AtomicUsize::new(1),
            in_flight: Arc::new(Semaphore::new(c.max_queries_in_flight)),
            cache,
        }
    }

    /// Shares the portal quotas among `live` replicas (at least 1): each replica allows
    /// 1/`live` of the rate and of the burst (rounded up, at least one query). A change
    /// starts this replica's buckets afresh; the same count again changes nothing.
    pub fn share_quotas(&self, live: usize) {
        let live = live.max(1);
        if self.replicas.swap(live, Ordering::SeqCst) == live {
            return;
        }
        let (rate, burst) = self.quota;
        *crate::locks::write(&self.portals) = Arc::new(limiter(rate, burst, live));
        tracing::info!(
            replicas = live,
            "portal quotas shared among the live replicas"
        );
    }

    /// How many replicas the quotas are shared among now.
    pub fn replicas_sharing(&self) -> usize {
        self.replicas.load(Ordering::SeqCst)
    }

    /// Charges one query to a portal identity; `429` with `Retry-After` when over quota.
    pub fn charge(&self, portal: &str) -> Result<(), Problem> {
        let portals = Arc::clone(&crate::locks::read(&self.portals));
        match portals.check_key(&portal.to_owned()) {
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
                Err(Problem::rate_limited(portal, secs))
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
                Problem::overloaded()
            })
    }

    /// Looks `key` up, unless the cache is off or the portal bypasses it.
    pub fn lookup(&self, key: &CacheKey, bypass: bool) -> Lookup {
        match &self.cache {
            None => Lookup::Ask(CacheResult::Off),
            Some(_) if bypass => Lookup::Ask(CacheResult::Bypassed),
            Some(c) => c
                .entries
                .get(key)
                .map_or(Lookup::Ask(CacheResult::Miss), Lookup::Hit),
        }
    }

    /// Offers an account to the cache: only a complete one, small enough, is kept.
    pub fn remember(&self, key: CacheKey, account: &Arc<ConsolidatedAccount>) -> Remembered {
        let Some(cache) = &self.cache else {
            return Remembered::Off;
        };
        if !account.complete {
            return Remembered::Incomplete;
        }
        let bytes = weight(&key, account);
        if bytes > cache.max_account_bytes {
            return Remembered::TooLarge { bytes };
        }
        cache.entries.insert(key, Arc::clone(account));
        Remembered::Stored
    }

    /// Forgets every cached account of a person (all year ranges).
    pub fn evict(&self, vn: Vn) {
        if let Some(cache) = &self.cache {
            // Only fails when closures are not enabled, which `new` does.
            let _ = cache
                .entries
                .invalidate_entries_if(move |key, _| key.vn == vn);
        }
    }

    /// Forgets the cached accounts of every person `matches` (an eviction from another
    /// replica, which names the person by a keyed hash only).
    pub fn evict_where(&self, matches: impl Fn(Vn) -> bool + Send + Sync + 'static) {
        if let Some(cache) = &self.cache {
            // Only fails when closures are not enabled, which `new` does.
            let _ = cache
                .entries
                .invalidate_entries_if(move |key, _| matches(key.vn));
        }
    }

    /// Forgets every cached account (the registry changed).
    pub fn clear(&self) {
        if let Some(cache) = &self.cache {
            cache.entries.invalidate_all();
        }
    }
}

/// The limiter of one replica's share of a quota of `rate` queries per second and
/// `burst`, among `replicas`: one query comes back every `replicas`/`rate` seconds (a
/// fraction of one per second is a quota per minute, hour or day).
fn limiter(rate: f64, burst: u32, replicas: usize) -> DefaultKeyedRateLimiter<String> {
    let n = u32::try_from(replicas).unwrap_or(u32::MAX).max(1);
    let refill = Duration::from_secs_f64(f64::from(n) / rate);
    let burst = NonZeroU32::new(burst.div_ceil(n)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(
        Quota::with_period(refill)
            .expect("validated: portal_queries_per_second ≤ 1e6, so the period is ≥ 1 µs")
            .allow_burst(burst),
    )
}

/// The approximate bytes an entry holds: its account, its key and the cache's overhead.
fn weight(key: &CacheKey, account: &ConsolidatedAccount) -> u64 {
    const OVERHEAD: u64 = 128;
    let key_bytes = std::mem::size_of::<CacheKey>() + key.portal.len() + key.purpose.len();
    account.approximate_bytes() + key_bytes as u64 + OVERHEAD
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::merge::merge;
    use crate::model::{Answer, AnswerStatus, OfficeId, OfficeOutcome};

    fn protection(ttl_ms: u64, budget: u64) -> Protection {
        Protection::new(&ProtectionConfig {
            breaker: crate::fanout::BreakerSettings::DISABLED,
            retry: crate::fanout::RetrySettings::DISABLED,
            hedge_budget: None,
            cache_ttl: (ttl_ms > 0).then(|| Duration::from_millis(ttl_ms)),
            cache_max_bytes: budget,
            max_entries_per_answer: 20_000,
            max_queries_in_flight: 8,
            portal_queries_per_second: 10.0,
            portal_burst: 10,
        })
    }

    fn account(entries: usize) -> Arc<ConsolidatedAccount> {
        let office = OfficeId::new(25, 0).expect("office");
        let answer = Answer {
            status: AnswerStatus::Ok,
            entries: crate::sim::heavy_entries(office, entries, 0),
            ..Answer::default()
        };
        let outcome = OfficeOutcome::answered(office, "Caisse 025", answer, Duration::ZERO);
        Arc::new(merge(
            Vn::from_serial(1),
            vec![outcome],
            YearRange::default(),
        ))
    }

    fn key(portal: &str, purpose: &str) -> CacheKey {
        CacheKey {
            portal: portal.into(),
            purpose: purpose.into(),
            vn: Vn::from_serial(1),
            range: YearRange::default(),
        }
    }

    #[test]
    fn accounts_are_filed_by_portal_and_purpose() {
        let p = protection(60_000, 1 << 20);
        let a = account(10);
        assert_eq!(p.remember(key("a", "self-service"), &a), Remembered::Stored);
        assert!(matches!(
            p.lookup(&key("a", "self-service"), false),
            Lookup::Hit(_)
        ));
        for other in [key("b", "self-service"), key("a", "benefit-review")] {
            assert!(matches!(
                p.lookup(&other, false),
                Lookup::Ask(CacheResult::Miss)
            ));
        }
        assert!(matches!(
            p.lookup(&key("a", "self-service"), true),
            Lookup::Ask(CacheResult::Bypassed)
        ));
        p.evict(Vn::from_serial(1));
        assert!(matches!(
            p.lookup(&key("a", "self-service"), false),
            Lookup::Ask(CacheResult::Miss)
        ));
    }

    #[test]
    fn quotas_are_shared_among_the_live_replicas() {
        let p = protection(60_000, 1 << 20);
        let allowed =
            |p: &Protection, portal: &str| (0..20).take_while(|_| p.charge(portal).is_ok()).count();
        assert_eq!(allowed(&p, "a"), 10);
        p.share_quotas(3);
        assert_eq!(allowed(&p, "b"), 4, "ceil(10 / 3)");
        p.share_quotas(1);
        assert_eq!(allowed(&p, "c"), 10);
        let hash_of_one = |vn: Vn| vn == Vn::from_serial(1);
        assert_eq!(p.remember(key("a", "x"), &account(10)), Remembered::Stored);
        p.evict_where(hash_of_one);
        assert!(matches!(
            p.lookup(&key("a", "x"), false),
            Lookup::Ask(CacheResult::Miss)
        ));
    }

    #[test]
    fn weight_is_bytes_and_large_accounts_are_refused() {
        let budget = 1 << 20;
        let p = protection(60_000, budget);
        let (small, large) = (account(10), account(5_000));
        assert!(large.approximate_bytes() > 50 * small.approximate_bytes());
        assert!(large.approximate_bytes() > budget / MAX_SHARE);
        assert!(matches!(
            p.remember(key("a", "x"), &large),
            Remembered::TooLarge { .. }
        ));
        assert!(matches!(
            p.lookup(&key("a", "x"), false),
            Lookup::Ask(CacheResult::Miss)
        ));
        let mut incomplete = (*small).clone();
        incomplete.complete = false;
        assert_eq!(
            p.remember(key("a", "x"), &Arc::new(incomplete)),
            Remembered::Incomplete
        );
        let off = protection(0, budget);
        assert_eq!(off.remember(key("a", "x"), &small), Remembered::Off);
        assert!(matches!(
            off.lookup(&key("a", "x"), false),
            Lookup::Ask(CacheResult::Off)
        ));
        let names: Vec<_> = [
            CacheResult::Hit,
            CacheResult::Miss,
            CacheResult::Bypassed,
            CacheResult::Off,
        ]
        .iter()
        .map(|r| r.as_str())
        .collect();
        assert_eq!(names, ["hit", "miss", "bypass", "off"]);
    }
}
