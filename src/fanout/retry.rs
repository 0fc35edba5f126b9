//! The budgets of extra calls. The retry budget of one office: a call that failed in a way worth repeating (`503`, a
//! connection that could not be made) is tried again only while the office has budget,
//! so retries can add at most `ratio` extra calls per call (plus a small per-second
//! minimum for quiet offices) — never a retry storm against an office that is down.
//! Modelled on Finagle's `RetryBudget`; counted in thousandths of a call.
//!
//! The hedge budget ([`HedgeBudget`]) is the engine-wide share of hedged second requests.
//!
//! Invariant: no clock of its own; callers pass `now`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::locks::lock;

/// How much an office may be retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    /// Extra calls per call the retries may add (0.5 = 50 %); 0 disables retries.
    pub ratio: f64,
    /// Retries allowed per second beyond the ratio (for offices with few calls).
    pub min_per_second: u32,
    /// Retries of one call at most.
    pub max_per_call: u32,
}

impl RetrySettings {
    /// No retries at all.
    pub const DISABLED: RetrySettings = RetrySettings {
        ratio: 0.0,
        min_per_second: 0,
        max_per_call: 0,
    };
}

const ONE: u64 = 1000;

#[derive(Debug)]
struct Tokens {
    earned: u64,
    reserve: u64,
    refilled: Instant,
}

/// The budget of one office.
#[derive(Debug)]
pub struct RetryBudget {
    per_call: u64,
    min_per_second: u64,
    max_earned: u64,
    tokens: Mutex<Tokens>,
}

impl RetryBudget {
    /// An empty budget (the per-second reserve starts full).
    pub fn new(s: &RetrySettings, now: Instant) -> RetryBudget {
        let per_call = (s.ratio.clamp(0.0, 10.0) * ONE as f64).round() as u64;
        let min_per_second = u64::from(s.min_per_second) * ONE;
        RetryBudget {
            per_call,
            min_per_second,
            // Earned retries do not pile up forever: at most those of 100 calls.
            max_earned: per_call * 100,
            tokens: Mutex::new(Tokens {
                earned: 0,
                reserve: min_per_second,
                refilled: now,
            }),
        }
    }

    /// Credits one call (first attempts only; retries earn nothing).
    pub fn deposit(&self) {
        let mut t = lock(&self.tokens);
        t.earned = (t.earned + self.per_call).min(self.max_earned);
    }

    /// Takes one retry if the budget has one.
    pub fn withdraw(&self, now: Instant) -> bool {
        let mut t = lock(&self.tokens);
        let elapsed = now.saturating_duration_since(t.refilled);
        if elapsed > Duration::ZERO {
            let refill = (elapsed.as_millis() as u64).saturating_mul(self.min_per_second) / 1000;
            t.reserve = (t.reserve + refill).min(self.min_per_second);
            t.refilled = now;
        }
        if t.earned >= ONE {
            t.earned -= ONE;
            true
        } else if t.reserve >= ONE {
            t.reserve -= ONE;
            true
        } else {
            false
        }
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

    #[test]
    fn retries_are_a_share_of_calls_plus_a_refilling_minimum() {
        let t0 = Instant::now();
        let s = RetrySettings {
            ratio: 0.2,
            min_per_second: 2,
            max_per_call: 2,
        };
        let b = RetryBudget::new(&s, t0);
        assert!(b.withdraw(t0) && b.withdraw(t0), "the minimum");
        assert!(!b.withdraw(t0), "nothing earned yet");
        for _ in 0..10 {
            b.deposit();
        }
        assert!(b.withdraw(t0) && b.withdraw(t0), "20 % of 10 calls");
        assert!(!b.withdraw(t0));
        assert!(
            b.withdraw(t0 + Duration::from_millis(500)),
            "one per half second"
        );
        assert!(!b.withdraw(t0 + Duration::from_millis(500)));
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
    fn disabled_never_retries() {
        let t0 = Instant::now();
        let b = RetryBudget::new(&RetrySettings::DISABLED, t0);
        b.deposit();
        assert!(!b.withdraw(t0 + Duration::from_secs(5)));
    }
}
