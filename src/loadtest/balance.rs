//! Spreading the load generator's requests over several `--target`s as a load balancer in
//! front of gateway replicas would: round robin over the targets (so each keeps its own
//! pooled connections), a target whose connection failed is skipped for [`QUARANTINE`]
//! (passive health check), and a request that failed before any answer came back is sent
//! again to another target. An account query is a `GET`: sending it twice is harmless.
//!
//! Retryable: the connection could not be made (refused, unreachable) or broke before the
//! answer's head arrived (reset, closed by a replica going away). Not retryable: a timeout
//! (the target may still be working on it; a load balancer does not double a slow query),
//! an error after the answer started, and any HTTP status — those are the target's answer.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::locks;

/// How long a target whose connection failed is left out of the rotation.
pub const QUARANTINE: Duration = Duration::from_secs(1);

/// The targets and their health as this run has seen it.
#[derive(Debug)]
pub(super) struct Balancer {
    /// `https://host:port/v1/accounts/` of each target.
    bases: Vec<String>,
    next: AtomicUsize,
    /// Until when each target is left out, after a failed connection.
    down_until: Vec<Mutex<Option<Instant>>>,
}

impl Balancer {
    /// A balancer over `targets` (at least one), each a base URL.
    pub(super) fn new(targets: &[reqwest::Url]) -> Balancer {
        let bases: Vec<String> = targets
            .iter()
            .map(|t| format!("{}/v1/accounts/", t.as_str().trim_end_matches('/')))
            .collect();
        let down_until = bases.iter().map(|_| Mutex::new(None)).collect();
        Balancer {
            bases,
            next: AtomicUsize::new(0),
            down_until,
        }
    }

    /// How many targets there are: the most attempts one request makes.
    pub(super) fn len(&self) -> usize {
        self.bases.len()
    }

    /// The accounts URL prefix of target `i`.
    pub(super) fn base(&self, i: usize) -> &str {
        &self.bases[i]
    }

    /// The target for a request's next attempt, never one in `tried`: the next healthy one
    /// in round-robin order, else (every untried target in quarantine) the next untried.
    /// `None` when every target was tried.
    pub(super) fn pick(&self, tried: &[usize]) -> Option<usize> {
        let n = self.bases.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let untried = (0..n)
            .map(|k| (start + k) % n)
            .filter(|i| !tried.contains(i));
        let now = Instant::now();
        let mut fallback = None;
        for i in untried {
            let down = locks::lock(&self.down_until[i]).is_some_and(|t| t > now);
            if !down {
                return Some(i);
            }
            fallback.get_or_insert(i);
        }
        fallback
    }

    /// Leaves target `i` out of the rotation for [`QUARANTINE`].
    pub(super) fn failed(&self, i: usize) {
        *locks::lock(&self.down_until[i]) = Some(Instant::now() + QUARANTINE);
    }
}

/// Whether a failed `send` may be retried on another target (see the module comment).
pub(super) fn retryable(e: &reqwest::Error) -> bool {
    !e.is_timeout() && !e.is_builder() && !e.is_redirect() && !e.is_status()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(n: u16) -> Vec<reqwest::Url> {
        (0..n)
            .map(|p| reqwest::Url::parse(&format!("https://127.0.0.1:{}", 1000 + p)).expect("url"))
            .collect()
    }

    #[tokio::test]
    async fn round_robin_skips_a_failed_target_and_never_repeats_one() {
        let b = Balancer::new(&targets(3));
        let picks: Vec<usize> = (0..6).map(|_| b.pick(&[]).expect("pick")).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        b.failed(1);
        let picks: Vec<usize> = (0..4).map(|_| b.pick(&[]).expect("pick")).collect();
        assert!(!picks.contains(&1), "{picks:?}");
        // A retry goes elsewhere; once all were tried there is none.
        assert_eq!(
            b.pick(&[0, 2]),
            Some(1),
            "quarantined, but the only one left"
        );
        assert_eq!(b.pick(&[0, 1, 2]), None);
        assert_eq!(b.base(2), "https://127.0.0.1:1002/v1/accounts/");
    }
}
