//! The recent calls of one office for the operator's console: a small ring of the last
//! [`Recent::SIZE`] outcomes (time, status, latency), from which the console reads the
//! p50/p99 latency and the answers by status of the last minutes, and a sparkline. It
//! holds no person and no content; the hedging statistics stay in the guard's own ring.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// One finished or refused call.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    status: &'static str,
    latency: Duration,
}

/// The last calls of an office, oldest first.
#[derive(Debug, Default)]
pub(super) struct Recent {
    ring: VecDeque<Sample>,
}

/// What the console shows of an office's recent calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecentStats {
    /// Calls in the window.
    pub calls: u32,
    /// Median latency of the calls in the window that got an answer.
    pub p50: Option<Duration>,
    /// 99th percentile of the same.
    pub p99: Option<Duration>,
    /// Calls in the window by outcome (`ok`, `no_account`, `timeout`, `error`,
    /// `unavailable`).
    pub by_status: BTreeMap<&'static str, u32>,
    /// Latencies of the calls in the window, oldest first (refusals as zero).
    pub series: Vec<Duration>,
}

impl Recent {
    /// Calls kept per office.
    pub(super) const SIZE: usize = 120;

    /// Records a call.
    pub(super) fn push(&mut self, status: &'static str, latency: Duration) {
        if self.ring.len() == Self::SIZE {
            self.ring.pop_front();
        }
        self.ring.push_back(Sample {
            at: Instant::now(),
            status,
            latency,
        });
    }

    /// The calls of the last `window`.
    pub(super) fn stats(&self, window: Duration) -> RecentStats {
        let now = Instant::now();
        let recent: Vec<&Sample> = self
            .ring
            .iter()
            .filter(|s| now.saturating_duration_since(s.at) <= window)
            .collect();
        let mut answered: Vec<Duration> = recent
            .iter()
            .filter(|s| matches!(s.status, "ok" | "no_account"))
            .map(|s| s.latency)
            .collect();
        answered.sort_unstable();
        let mut by_status = BTreeMap::new();
        for s in &recent {
            *by_status.entry(s.status).or_insert(0) += 1;
        }
        RecentStats {
            calls: u32::try_from(recent.len()).unwrap_or(u32::MAX),
            p50: quantile(&answered, 50),
            p99: quantile(&answered, 99),
            by_status,
            series: recent.iter().map(|s| s.latency).collect(),
        }
    }
}

/// The `pct`-th percentile (nearest rank) of sorted values.
fn quantile(sorted: &[Duration], pct: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_statuses_and_the_window() {
        let mut r = Recent::default();
        for ms in 1..=100 {
            r.push("ok", Duration::from_millis(ms));
        }
        r.push("timeout", Duration::from_millis(900));
        let s = r.stats(Duration::from_secs(60));
        assert_eq!(s.calls, 101);
        assert_eq!(s.p50, Some(Duration::from_millis(50)));
        assert_eq!(s.p99, Some(Duration::from_millis(99)));
        assert_eq!(s.by_status.get("ok"), Some(&100));
        assert_eq!(s.by_status.get("timeout"), Some(&1));
        assert_eq!(s.series.len(), 101);
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let mut r = Recent::default();
        for ms in 0..(Recent::SIZE as u64 + 10) {
            r.push("ok", Duration::from_millis(ms));
        }
        let s = r.stats(Duration::from_secs(60));
        assert_eq!(s.series.len(), Recent::SIZE);
        assert_eq!(s.series.first(), Some(&Duration::from_millis(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn old_calls_leave_the_window() {
        let mut r = Recent::default();
        r.push("error", Duration::from_millis(5));
        tokio::time::advance(Duration::from_secs(400)).await;
        r.push("ok", Duration::from_millis(7));
        let s = r.stats(Duration::from_secs(300));
        assert_eq!(s.calls, 1);
        assert_eq!(s.by_status.get("error"), None);
    }
}
