//! The circuit breaker of one office, by failure rate over a sliding time window with a
//! minimum number of calls (as Envoy's outlier detection and resilience4j do): one slow
//! burst of failures among many good calls does not open it, a mostly failing office does.
//! Open for `open_for`, then half-open: up to `half_open_calls` probe calls pass at once;
//! that many successes close it, one failure opens it again. A probe whose call is
//! dropped (portal gone, query cancelled) gives its slot back through [`Admission`]'s
//! owner, so the breaker can never be left waiting for a probe that will not report.
//!
//! Invariant: pure state, no I/O and no clock of its own; callers pass `now`.

use std::time::Duration;

use tokio::time::Instant;

use crate::model::SourceStatus;

/// When the breaker opens, for how long, and how it tests the office again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Length of the sliding window the failure rate is computed over.
    pub window: Duration,
    /// Calls the window must hold before the rate counts; 0 disables the breaker.
    pub min_calls: u32,
    /// Failure rate (percent of the window's calls, 1–100) that opens the breaker.
    pub failure_rate_percent: u32,
    /// How long it stays open before probe calls are let through.
    pub open_for: Duration,
    /// Probe calls let through at once when half-open; as many successes close it.
    pub half_open_calls: u32,
}

impl BreakerSettings {
    /// A breaker that never opens.
    pub const DISABLED: BreakerSettings = BreakerSettings {
        window: Duration::from_secs(10),
        min_calls: 0,
        failure_rate_percent: 100,
        open_for: Duration::ZERO,
        half_open_calls: 1,
    };

    fn enabled(&self) -> bool {
        self.min_calls > 0
    }
}

/// What one call to an office means for its breaker (typed: a typo must not compile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The office answered (data or its negative report).
    Success,
    /// No usable answer: timeout, transport, HTTP or translation error.
    Failure,
}

impl Outcome {
    /// The breaker's reading of an office outcome; `None` for calls never made.
    pub fn of(status: &SourceStatus) -> Option<Outcome> {
        match status {
            SourceStatus::Ok | SourceStatus::NoAccount => Some(Outcome::Success),
            SourceStatus::Timeout(_) | SourceStatus::Error(_) => Some(Outcome::Failure),
            SourceStatus::Unavailable(_) => None,
        }
    }
}

/// A breaker's state, as shown on `GET /v1/adapters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the open period ends.
    Open,
    /// A limited number of probe calls are let through.
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

/// How a call was let through: its slot must be given back by exactly one of
/// [`Breaker::record`] or [`Breaker::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// An ordinary call of the closed state.
    Normal,
    /// A probe call of the half-open period `generation`.
    Probe {
        /// Which half-open period admitted it (a later period has its own slots).
        generation: u64,
    },
}

/// A state change worth a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Opened (from closed or after a failed probe), with the window's counts.
    Opened {
        /// Calls in the window (0 after a failed probe).
        calls: u32,
        /// Failures among them.
        failures: u32,
    },
    /// Half-open: probes go through.
    HalfOpened,
    /// Closed again after successful probes.
    Closed,
}

const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    epoch: u64,
    calls: u32,
    failures: u32,
}

/// The breaker of one office.
#[derive(Debug)]
pub struct Breaker {
    state: BreakerState,
    origin: Instant,
    buckets: [Bucket; BUCKETS],
    open_until: Instant,
    generation: u64,
    probes_in_flight: u32,
    probe_successes: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(now: Instant) -> Breaker {
        Breaker {
            state: BreakerState::Closed,
            origin: now,
            buckets: [Bucket::default(); BUCKETS],
            open_until: now,
            generation: 0,
            probes_in_flight: 0,
            probe_successes: 0,
        }
    }

    /// The state now (an expired open period reads as half-open).
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.state {
            BreakerState::Open if now >= self.open_until => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// Lets a call through, or not (`None`: circuit open).
    pub fn admit(
        &mut self,
        s: &BreakerSettings,
        now: Instant,
    ) -> Option<(Admission, Option<Transition>)> {
        if !s.enabled() {
            return Some((Admission::Normal, None));
        }
        let mut transition = None;
        if self.state == BreakerState::Open {
            if now < self.open_until {
                return None;
            }
            self.state = BreakerState::HalfOpen;
            self.generation += 1;
            self.probes_in_flight = 0;
            self.probe_successes = 0;
            transition = Some(Transition::HalfOpened);
        }
        match self.state {
            BreakerState::Closed => Some((Admission::Normal, transition)),
            _ if self.probes_in_flight < s.half_open_calls.max(1) => {
                self.probes_in_flight += 1;
                let generation = self.generation;
                Some((Admission::Probe { generation }, transition))
            }
            _ => None,
        }
    }

    /// Gives back the slot of a call that ended without a verdict (dropped).
    pub fn release(&mut self, admission: Admission) {
        if let Admission::Probe { generation } = admission
            && generation == self.generation
            && self.state == BreakerState::HalfOpen
        {
            self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
        }
    }

    /// Records the verdict of an admitted call.
    pub fn record(
        &mut self,
        s: &BreakerSettings,
        admission: Admission,
        outcome: Outcome,
        now: Instant,
    ) -> Option<Transition> {
        if !s.enabled() {
            return None;
        }
        match admission {
            Admission::Probe { generation }
                if generation == self.generation && self.state == BreakerState::HalfOpen =>
            {
                self.probes_in_flight = self.probes_in_flight.saturating_sub(1);
                match outcome {
                    Outcome::Failure => Some(self.open(s, now, 0, 0)),
                    Outcome::Success => {
                        self.probe_successes += 1;
                        (self.probe_successes >= s.half_open_calls.max(1)).then(|| {
                            self.state = BreakerState::Closed;
                            self.buckets = [Bucket::default(); BUCKETS];
                            Transition::Closed
                        })
                    }
                }
            }
            Admission::Normal if self.state == BreakerState::Closed => {
                let (calls, failures) = self.count(s, now, outcome);
                let over = u64::from(failures) * 100
                    >= u64::from(s.failure_rate_percent) * u64::from(calls);
                (calls >= s.min_calls && over).then(|| self.open(s, now, calls, failures))
            }
            // A call admitted before the state changed says nothing about the new state.
            _ => None,
        }
    }

    fn open(&mut self, s: &BreakerSettings, now: Instant, calls: u32, failures: u32) -> Transition {
        self.state = BreakerState::Open;
        self.open_until = now + s.open_for;
        self.generation += 1;
        self.probes_in_flight = 0;
        Transition::Opened { calls, failures }
    }

    /// Adds the call to its bucket; returns the window's calls and failures.
    fn count(&mut self, s: &BreakerSettings, now: Instant, outcome: Outcome) -> (u32, u32) {
        let width = (s.window.as_nanos() / BUCKETS as u128).max(1);
        let epoch = u64::try_from(now.saturating_duration_since(self.origin).as_nanos() / width)
            .unwrap_or(u64::MAX);
        let slot = &mut self.buckets[(epoch % BUCKETS as u64) as usize];
        if slot.epoch != epoch {
            *slot = Bucket {
                epoch,
                calls: 0,
                failures: 0,
            };
        }
        slot.calls = slot.calls.saturating_add(1);
        if outcome == Outcome::Failure {
            slot.failures = slot.failures.saturating_add(1);
        }
        let oldest = epoch.saturating_sub(BUCKETS as u64 - 1);
        self.buckets
            .iter()
            .filter(|b| b.epoch >= oldest && b.epoch <= epoch)
            .fold((0, 0), |(c, f), b| {
                (c.saturating_add(b.calls), f.saturating_add(b.failures))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            window: Duration::from_secs(10),
            min_calls: 10,
            failure_rate_percent: 50,
            open_for: Duration::from_secs(5),
            half_open_calls: 2,
        }
    }

    fn call(b: &mut Breaker, s: &BreakerSettings, o: Outcome, now: Instant) -> Option<Transition> {
        let (a, _) = b.admit(s, now).expect("admitted");
        b.record(s, a, o, now)
    }

    #[test]
    fn opens_on_rate_only_after_the_minimum_of_calls() {
        let (s, t0) = (settings(), Instant::now());
        let mut b = Breaker::new(t0);
        for _ in 0..9 {
            assert_eq!(
                call(&mut b, &s, Outcome::Failure, t0),
                None,
                "below min_calls"
            );
        }
        assert_eq!(
            call(&mut b, &s, Outcome::Failure, t0),
            Some(Transition::Opened {
                calls: 10,
                failures: 10
            })
        );
        assert_eq!(b.admit(&s, t0), None);
    }

    #[test]
    fn a_rate_below_the_threshold_keeps_it_closed() {
        let (s, t0) = (settings(), Instant::now());
        let mut b = Breaker::new(t0);
        for i in 0..200 {
            let o = if i % 5 >= 3 {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            assert_eq!(call(&mut b, &s, o, t0), None, "40 % < 50 %");
        }
        assert_eq!(b.state(t0), BreakerState::Closed);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let (s, t0) = (settings(), Instant::now());
        let mut b = Breaker::new(t0);
        for _ in 0..9 {
            call(&mut b, &s, Outcome::Failure, t0);
        }
        let later = t0 + Duration::from_secs(11);
        for _ in 0..9 {
            assert_eq!(call(&mut b, &s, Outcome::Success, later), None);
        }
        assert_eq!(
            call(&mut b, &s, Outcome::Failure, later),
            None,
            "1 of 10 in the window"
        );
    }

    #[test]
    fn half_open_probes_close_or_reopen_and_dropped_probes_free_their_slot() {
        let (s, t0) = (settings(), Instant::now());
        let mut b = Breaker::new(t0);
        for _ in 0..10 {
            call(&mut b, &s, Outcome::Failure, t0);
        }
        let t1 = t0 + Duration::from_secs(6);
        let (p1, tr) = b.admit(&s, t1).expect("probe 1");
        assert_eq!(tr, Some(Transition::HalfOpened));
        let (p2, _) = b.admit(&s, t1).expect("probe 2");
        assert_eq!(b.admit(&s, t1), None, "only two probes at once");
        b.release(p1);
        b.release(p2);
        let (p3, _) = b
            .admit(&s, t1)
            .expect("a released slot lets the next probe in");
        assert_eq!(
            b.record(&s, p3, Outcome::Failure, t1),
            Some(Transition::Opened {
                calls: 0,
                failures: 0
            })
        );
        assert_eq!(b.admit(&s, t1), None, "open again");
        let t2 = t1 + Duration::from_secs(6);
        let (p4, _) = b.admit(&s, t2).expect("probe");
        let (p5, _) = b.admit(&s, t2).expect("probe");
        assert_eq!(b.record(&s, p4, Outcome::Success, t2), None);
        assert_eq!(
            b.record(&s, p5, Outcome::Success, t2),
            Some(Transition::Closed)
        );
        assert_eq!(b.state(t2), BreakerState::Closed);
        b.release(p1);
        assert!(b.admit(&s, t2).is_some(), "a stale release changes nothing");
    }

    #[test]
    fn disabled_never_opens() {
        let (s, t0) = (BreakerSettings::DISABLED, Instant::now());
        let mut b = Breaker::new(t0);
        for _ in 0..100 {
            assert_eq!(call(&mut b, &s, Outcome::Failure, t0), None);
        }
    }
}
