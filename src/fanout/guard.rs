//! Protection of each office: its circuit breaker ([`super::breaker`]) and retry budget
//! ([`super::retry`]), a rate and a concurrency cap from its adapter, and the latency
//! statistics that decide when to hedge. A call holds a [`Permit`] whose drop gives back
//! every slot it took. State lives per office id, so it survives registry changes.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use super::breaker::{Admission, Breaker, BreakerSettings, BreakerState, Outcome, Transition};
use super::recent::{Recent, RecentStats};
use super::retry::{RetryBudget, RetrySettings};
use crate::adapter::Adapter;
use crate::locks::{lock, read, write};
use crate::model::OfficeId;

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
    /// The office id, or `register`: what log lines name.
    office: String,
    breaker: Mutex<Breaker>,
    retry: RetryBudget,
    limiter: Option<DefaultDirectRateLimiter>,
    max_rate_per_second: Option<u32>,
    max_concurrency: Option<usize>,
    in_flight: AtomicUsize,
    latencies: Mutex<Latencies>,
    last: Mutex<Option<LastCall>>,
    /// The last calls, for the console ([`super::recent`]).
    recent: Mutex<Recent>,
}

/// Why a call was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub fn detail(self) -> &'static str {
        match self {
            Refusal::CircuitOpen => "circuit open: the office failed too many recent calls",
            Refusal::RateLimited => "rate limited",
            Refusal::ConcurrencyLimited => "rate limited (concurrency cap)",
        }
    }

    /// The metric label of the refusal.
    pub fn kind(self) -> &'static str {
        match self {
            Refusal::CircuitOpen => "circuit-open",
            Refusal::RateLimited | Refusal::ConcurrencyLimited => "office-rate",
        }
    }
}

/// A granted call. Dropped without [`Permit::finish`] (the query was cancelled), it
/// gives back its concurrency slot and, in half-open state, its probe slot.
#[derive(Debug)]
pub struct Permit<'a> {
    guard: &'a OfficeGuard,
    admission: Admission,
    counted: bool,
    finished: bool,
}

impl Permit<'_> {
    /// Records the call's result: breaker verdict, last call, latency statistics.
    pub fn finish(
        mut self,
        s: &BreakerSettings,
        outcome: Outcome,
        status: &'static str,
        latency: Duration,
    ) {
        self.finished = true;
        let g = self.guard;
        *lock(&g.last) = Some(LastCall { status, latency });
        lock(&g.recent).push(status, latency);
        if outcome == Outcome::Success {
            lock(&g.latencies).push(latency);
        }
        let transition = lock(&g.breaker).record(s, self.admission, outcome, Instant::now());
        g.log(transition, s);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.guard.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        if !self.finished {
            lock(&self.guard.breaker).release(self.admission);
        }
    }
}

impl OfficeGuard {
    fn new(adapter: &Adapter, retry: &RetrySettings) -> OfficeGuard {
        OfficeGuard::standalone(
            adapter.office.to_string(),
            adapter.max_rate_per_second,
            adapter.max_concurrency,
            retry,
        )
    }

    /// A guard for a peer that is not an adapter (the account register), named `label`
    /// in log lines, with its own caps.
    pub(crate) fn standalone(
        label: String,
        max_rate_per_second: Option<u32>,
        max_concurrency: Option<usize>,
        retry: &RetrySettings,
    ) -> OfficeGuard {
        let limiter = max_rate_per_second
            .and_then(NonZeroU32::new)
            .map(|r| RateLimiter::direct(Quota::per_second(r)));
        let now = Instant::now();
        OfficeGuard {
            office: label,
            breaker: Mutex::new(Breaker::new(now)),
            retry: RetryBudget::new(retry, now),
            limiter,
            max_rate_per_second,
            max_concurrency,
            in_flight: AtomicUsize::new(0),
            latencies: Mutex::new(Latencies::default()),
            last: Mutex::new(None),
            recent: Mutex::default(),
        }
    }

    /// Asks to call the office now; never waits.
    pub fn admit(&self, s: &BreakerSettings) -> Result<Permit<'_>, Refusal> {
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
        let release = |r: Refusal| {
            if counted {
                self.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
            r
        };
        let (admission, transition) = lock(&self.breaker)
            .admit(s, Instant::now())
            .ok_or_else(|| release(Refusal::CircuitOpen))?;
        self.log(transition, s);
        // The rate last, so an open circuit spends no token; a refused call gives its
        // probe slot back.
        if let Some(limiter) = &self.limiter
            && limiter.check().is_err()
        {
            lock(&self.breaker).release(admission);
            return Err(release(Refusal::RateLimited));
        }
        Ok(Permit {
            guard: self,
            admission,
            counted,
            finished: false,
        })
    }

    fn log(&self, transition: Option<Transition>, s: &BreakerSettings) {
        match transition {
            Some(Transition::Opened { calls, failures }) => tracing::warn!(
                office = %self.office, calls, failures,
                open_ms = s.open_for.as_millis() as u64, "circuit open"
            ),
            Some(Transition::HalfOpened) => tracing::info!(
                office = %self.office, probes = s.half_open_calls, "circuit half-open: probe calls"
            ),
            Some(Transition::Closed) => {
                tracing::info!(office = %self.office, "circuit closed: the office answers again");
            }
            None => {}
        }
    }

    /// Credits the retry budget with one call.
    pub fn earn_retry(&self) {
        self.retry.deposit();
    }

    /// Takes one retry from the office's budget, if it has one.
    pub fn spend_retry(&self) -> bool {
        self.retry.withdraw(Instant::now())
    }

    /// Records a call that was refused (for the health listing only).
    pub fn record_refusal(&self) {
        *lock(&self.last) = Some(LastCall {
            status: "unavailable",
            latency: Duration::ZERO,
        });
        lock(&self.recent).push("unavailable", Duration::ZERO);
    }

    /// The calls of the last `window` (console): latency quantiles, statuses, series.
    pub fn recent(&self, window: Duration) -> RecentStats {
        lock(&self.recent).stats(window)
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        lock(&self.breaker).state(Instant::now())
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
#[derive(Debug)]
pub struct Guards {
    map: RwLock<HashMap<OfficeId, Arc<OfficeGuard>>>,
    retry: RetrySettings,
}

impl Guards {
    /// No guard yet; each office's retry budget follows `retry`.
    pub fn new(retry: RetrySettings) -> Guards {
        Guards {
            map: RwLock::default(),
            retry,
        }
    }

    /// The guard of an adapter's office; a changed limit in the adapter makes a new one.
    pub fn get(&self, adapter: &Adapter) -> Arc<OfficeGuard> {
        let fits = |g: &OfficeGuard| {
            g.max_concurrency == adapter.max_concurrency
                && g.max_rate_per_second == adapter.max_rate_per_second
        };
        if let Some(g) = read(&self.map).get(&adapter.office)
            && fits(g)
        {
            return Arc::clone(g);
        }
        let mut map = write(&self.map);
        let g = map
            .entry(adapter.office)
            .or_insert_with(|| Arc::new(OfficeGuard::new(adapter, &self.retry)));
        if !fits(g) {
            *g = Arc::new(OfficeGuard::new(adapter, &self.retry));
        }
        Arc::clone(g)
    }

    /// The guard of an office, if it was ever called.
    pub fn peek(&self, office: OfficeId) -> Option<Arc<OfficeGuard>> {
        read(&self.map).get(&office).cloned()
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
            submissions: None,
            replies_path: None,
        };
        Adapter::from_def(&def, &mappings).expect("adapter")
    }

    fn breaker() -> BreakerSettings {
        BreakerSettings {
            window: Duration::from_secs(10),
            min_calls: 2,
            failure_rate_percent: 50,
            open_for: Duration::from_secs(5),
            half_open_calls: 1,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_does_not_leave_the_office_open() {
        let s = breaker();
        let g = OfficeGuard::new(&adapter(None, None), &RetrySettings::DISABLED);
        for _ in 0..2 {
            let p = g.admit(&s).expect("closed");
            p.finish(&s, Outcome::Failure, "timeout", Duration::from_millis(10));
        }
        assert_eq!(g.breaker_state(), BreakerState::Open);
        assert_eq!(g.admit(&s).err(), Some(Refusal::CircuitOpen));
        tokio::time::advance(Duration::from_secs(6)).await;
        let probe = g.admit(&s).expect("one probe");
        assert_eq!(
            g.admit(&s).err(),
            Some(Refusal::CircuitOpen),
            "one probe at a time"
        );
        drop(probe); // the query was cancelled: no verdict
        let probe = g.admit(&s).expect("the slot came back");
        probe.finish(&s, Outcome::Success, "ok", Duration::from_millis(10));
        assert_eq!(g.breaker_state(), BreakerState::Closed);
        assert!(g.admit(&s).is_ok());
    }

    #[test]
    fn rate_and_concurrency_caps_refuse_without_waiting() {
        let off = BreakerSettings::DISABLED;
        let g = OfficeGuard::new(&adapter(Some(2), None), &RetrySettings::DISABLED);
        assert!(g.admit(&off).is_ok());
        assert!(g.admit(&off).is_ok());
        assert_eq!(g.admit(&off).err(), Some(Refusal::RateLimited));
        let g = OfficeGuard::new(&adapter(None, Some(1)), &RetrySettings::DISABLED);
        let first = g.admit(&off).expect("first");
        assert_eq!(g.admit(&off).err(), Some(Refusal::ConcurrencyLimited));
        drop(first);
        assert!(g.admit(&off).is_ok(), "the slot is released");
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
