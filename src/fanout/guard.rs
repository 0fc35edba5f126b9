//! Protection of each office: a circuit breaker, a rate and a concurrency cap from its
//! adapter, and the latency statistics that decide when to hedge. State lives per office
//! id, so it survives registry changes.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::adapter::Adapter;
use crate::locks::{lock, read, write};
use crate::model::OfficeId;

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker (0 disables it).
    pub failures: u32,
    /// How long it stays open before one probe is let through.
    pub open_for: Duration,
}

/// A breaker's state, as shown on `GET /v1/adapters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the instant passes.
    Open,
    /// One probe call is in flight.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open`, `half_open`.
    pub fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Breaker {
    state: BreakerState,
    consecutive_failures: u32,
    open_until: Option<Instant>,
}

/// The last outcome of an office, for health listings.
#[derive(Debug, Clone)]
pub struct LastCall {
    /// `ok`, `no_account`, `timeout`, `error`, `unavailable`.
    pub status: &'static str,
    /// Its latency.
    pub latency: Duration,
}

/// Everything guichet tracks about one office between queries.
#[derive(Debug)]
pub struct OfficeGuard {
    office: OfficeId,
    breaker: Mutex<Breaker>,
    limiter: Option<DefaultDirectRateLimiter>,
    max_concurrency: Option<usize>,
    in_flight: AtomicUsize,
    latencies: Mutex<Latencies>,
    last: Mutex<Option<LastCall>>,
}

/// Why a call was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The breaker is open.
    CircuitOpen,
    /// Over the office's rate.
    RateLimited,
    /// Over the office's concurrency cap.
    ConcurrencyLimited,
}

impl Refusal {
    /// The `detail` of the `unavailable` source line.
    pub fn detail(&self) -> &'static str {
        match self {
            Refusal::CircuitOpen => "circuit open after repeated failures",
            Refusal::RateLimited => "rate limited",
            Refusal::ConcurrencyLimited => "rate limited (concurrency cap)",
        }
    }
}

/// A granted call: releases the concurrency slot when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    guard: &'a OfficeGuard,
    counted: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.guard.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl OfficeGuard {
    fn new(adapter: &Adapter) -> OfficeGuard {
        let limiter = adapter
            .max_rate_per_second
            .and_then(NonZeroU32::new)
            .map(|r| RateLimiter::direct(Quota::per_second(r)));
        OfficeGuard {
            office: adapter.office,
            breaker: Mutex::new(Breaker {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                open_until: None,
            }),
            limiter,
            max_concurrency: adapter.max_concurrency,
            in_flight: AtomicUsize::new(0),
            latencies: Mutex::new(Latencies::default()),
            last: Mutex::new(None),
        }
    }

    /// Asks to call the office now; never waits.
    pub fn admit(&self, settings: &BreakerSettings) -> Result<Permit<'_>, Refusal> {
        self.admit_breaker(settings)?;
        if let Some(limiter) = &self.limiter
            && limiter.check().is_err()
        {
            return Err(Refusal::RateLimited);
        }
        let counted = match self.max_concurrency {
            Some(max) => {
                let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
                if before >= max {
                    self.in_flight.fetch_sub(1, Ordering::AcqRel);
                    return Err(Refusal::ConcurrencyLimited);
                }
                true
            }
            None => false,
        };
        Ok(Permit {
            guard: self,
            counted,
        })
    }

    fn admit_breaker(&self, settings: &BreakerSettings) -> Result<(), Refusal> {
        if settings.failures == 0 {
            return Ok(());
        }
        let mut b = lock(&self.breaker);
        match b.state {
            BreakerState::Closed => Ok(()),
            BreakerState::HalfOpen => Err(Refusal::CircuitOpen),
            BreakerState::Open => {
                if b.open_until.is_some_and(|t| Instant::now() >= t) {
                    b.state = BreakerState::HalfOpen;
                    tracing::info!(office = %self.office, "circuit half-open: one probe call");
                    Ok(())
                } else {
                    Err(Refusal::CircuitOpen)
                }
            }
        }
    }

    /// Records the result of an admitted call.
    pub fn record(&self, settings: &BreakerSettings, status: &'static str, latency: Duration) {
        let failed = matches!(status, "timeout" | "error");
        *lock(&self.last) = Some(LastCall { status, latency });
        if !failed {
            lock(&self.latencies).push(latency);
        }
        if settings.failures == 0 {
            return;
        }
        let mut b = lock(&self.breaker);
        if !failed {
            if b.state != BreakerState::Closed {
                tracing::info!(office = %self.office, "circuit closed: the office answers again");
            }
            *b = Breaker {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                open_until: None,
            };
            return;
        }
        b.consecutive_failures = b.consecutive_failures.saturating_add(1);
        let trip = b.state == BreakerState::HalfOpen || b.consecutive_failures >= settings.failures;
        if trip {
            if b.state != BreakerState::Open {
                tracing::warn!(office = %self.office, failures = b.consecutive_failures, open_ms = settings.open_for.as_millis() as u64, "circuit open");
            }
            b.state = BreakerState::Open;
            b.open_until = Some(Instant::now() + settings.open_for);
        }
    }

    /// Records a call that was refused (for the health listing only).
    pub fn record_refusal(&self) {
        *lock(&self.last) = Some(LastCall {
            status: "unavailable",
            latency: Duration::ZERO,
        });
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        lock(&self.breaker).state
    }

    /// The last call's status and latency.
    pub fn last_call(&self) -> Option<LastCall> {
        lock(&self.last).clone()
    }

    /// The office's recent 95th-percentile latency, once enough calls were seen.
    pub fn p95(&self) -> Option<Duration> {
        lock(&self.latencies).p95()
    }
}

/// The last 128 successful latencies of an office.
#[derive(Debug, Default)]
struct Latencies {
    ring: Vec<Duration>,
    next: usize,
}

impl Latencies {
    const SIZE: usize = 128;

    fn push(&mut self, d: Duration) {
        if self.ring.len() < Self::SIZE {
            self.ring.push(d);
        } else {
            self.ring[self.next] = d;
        }
        self.next = (self.next + 1) % Self::SIZE;
    }

    fn p95(&self) -> Option<Duration> {
        if self.ring.len() < 20 {
            return None;
        }
        let mut sorted = self.ring.clone();
        sorted.sort_unstable();
        sorted.get(sorted.len() * 95 / 100).copied()
    }
}

/// Guards of every office, created on first use.
#[derive(Debug, Default)]
pub struct Guards(RwLock<HashMap<OfficeId, Arc<OfficeGuard>>>);

impl Guards {
    /// The guard of an adapter's office; a changed limit in the adapter makes a new one.
    pub fn get(&self, adapter: &Adapter) -> Arc<OfficeGuard> {
        let fits = |g: &OfficeGuard| {
            g.max_concurrency == adapter.max_concurrency
                && g.limiter.is_some() == adapter.max_rate_per_second.is_some()
        };
        if let Some(g) = read(&self.0).get(&adapter.office)
            && fits(g)
        {
            return Arc::clone(g);
        }
        let mut map = write(&self.0);
        let g = map
            .entry(adapter.office)
            .or_insert_with(|| Arc::new(OfficeGuard::new(adapter)));
        if !fits(g) {
            *g = Arc::new(OfficeGuard::new(adapter));
        }
        Arc::clone(g)
    }

    /// The guard of an office, if it was ever called.
    pub fn peek(&self, office: OfficeId) -> Option<Arc<OfficeGuard>> {
        read(&self.0).get(&office).cloned()
    }
}

/// Budget of hedged requests: each call earns `ratio` of a token, a hedge spends one.
/// Counted in thousandths of a call, so ten calls at 10 % earn exactly one hedge.
#[derive(Debug)]
pub struct HedgeBudget {
    per_call: u64,
    tokens: Mutex<u64>,
}

impl HedgeBudget {
    const ONE: u64 = 1000;

    /// A budget of `ratio` extra calls per call (0.1 = 10 %).
    pub fn new(ratio: f64) -> HedgeBudget {
        let per_call = (ratio.clamp(0.0, 1.0) * Self::ONE as f64).round() as u64;
        HedgeBudget {
            per_call,
            tokens: Mutex::new(0),
        }
    }

    /// Credits one ordinary call.
    pub fn earn(&self) {
        let mut t = lock(&self.tokens);
        *t = (*t + self.per_call).min(100 * Self::ONE);
    }

    /// Takes one token if there is one.
    pub fn spend(&self) -> bool {
        let mut t = lock(&self.tokens);
        if *t >= Self::ONE {
            *t -= Self::ONE;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(rate: Option<u32>, concurrency: Option<usize>) -> Adapter {
        let mappings = crate::mapping::MappingSet::load_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"),
        )
        .expect("mappings");
        let def = crate::adapter::AdapterDef {
            office: "001.000".into(),
            name: "Test".into(),
            kind: "cantonal".into(),
            canton: Some("ZH".into()),
            language: None,
            dialect: "ech-ik".into(),
            endpoint: "https://127.0.0.1:1/".into(),
            timeout_ms: 1000,
            max_answer_bytes: 4096,
            max_rate_per_second: rate,
            max_concurrency: concurrency,
            server_cert_sha256: None,
        };
        Adapter::from_def(&def, &mappings).expect("adapter")
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_half_opens_and_closes() {
        let s = BreakerSettings {
            failures: 2,
            open_for: Duration::from_secs(5),
        };
        let g = OfficeGuard::new(&adapter(None, None));
        for _ in 0..2 {
            drop(g.admit(&s).expect("closed"));
            g.record(&s, "timeout", Duration::from_millis(10));
        }
        assert_eq!(g.breaker_state(), BreakerState::Open);
        assert_eq!(g.admit(&s).err(), Some(Refusal::CircuitOpen));
        tokio::time::advance(Duration::from_secs(6)).await;
        drop(g.admit(&s).expect("one probe"));
        assert_eq!(g.breaker_state(), BreakerState::HalfOpen);
        assert_eq!(
            g.admit(&s).err(),
            Some(Refusal::CircuitOpen),
            "only one probe at a time"
        );
        g.record(&s, "error", Duration::from_millis(10));
        assert_eq!(
            g.breaker_state(),
            BreakerState::Open,
            "a failed probe opens again"
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        drop(g.admit(&s).expect("probe"));
        g.record(&s, "no_account", Duration::from_millis(10));
        assert_eq!(g.breaker_state(), BreakerState::Closed);
        assert!(g.admit(&s).is_ok());
    }

    #[test]
    fn rate_and_concurrency_caps_refuse_without_waiting() {
        let off = BreakerSettings {
            failures: 0,
            open_for: Duration::ZERO,
        };
        let g = OfficeGuard::new(&adapter(Some(2), None));
        assert!(g.admit(&off).is_ok());
        assert!(g.admit(&off).is_ok());
        assert_eq!(g.admit(&off).err(), Some(Refusal::RateLimited));
        let g = OfficeGuard::new(&adapter(None, Some(1)));
        let first = g.admit(&off).expect("first");
        assert_eq!(g.admit(&off).err(), Some(Refusal::ConcurrencyLimited));
        drop(first);
        assert!(g.admit(&off).is_ok(), "the slot is released");
    }

    #[test]
    fn hedge_budget_is_a_share_of_calls() {
        let b = HedgeBudget::new(0.1);
        assert!(!b.spend());
        for _ in 0..10 {
            b.earn();
        }
        assert!(b.spend());
        assert!(!b.spend());
    }

    #[test]
    fn p95_needs_enough_calls() {
        let mut l = Latencies::default();
        for ms in 1..=19 {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.p95(), None);
        for ms in 20..=100 {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.p95(), Some(Duration::from_millis(96)));
    }
}
