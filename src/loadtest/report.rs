//! The result of one load test: the `report.json` shape and the end-of-run summary text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Latency percentiles of the measured phase, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Fastest answer.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Slowest answer.
    pub max_ms: f64,
}

/// One second of the measured phase (by the requests' start or scheduled time).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the measured phase began.
    pub second: u64,
    /// Requests of that second.
    pub requests: u64,
    /// Of which errors (non-200, transport).
    pub errors: u64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// One bar of the latency histogram: answers with `from_ms <= latency < to_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bucket {
    /// Lower bound.
    pub from_ms: f64,
    /// Upper bound.
    pub to_ms: f64,
    /// Answers in the bucket.
    pub count: u64,
}

/// How often one office answered with one status other than `ok`/`no_account`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusCount {
    /// Office id.
    pub office: String,
    /// `timeout`, `error`, `unavailable`, ...
    pub status: String,
    /// Number of answers.
    pub count: u64,
}

/// Everything a load test measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// Name of the run.
    pub label: String,
    /// Base URL of the target (several: separated by spaces).
    pub target: String,
    /// `closed` or `open`.
    pub mode: String,
    /// Workers (closed loop).
    pub concurrency: Option<usize>,
    /// Requests per second asked for (open loop).
    pub rate: Option<f64>,
    /// HTTP version asked for.
    pub http: String,
    /// Where latency is measured from.
    pub latency_from: String,
    /// Start of the run (UTC, RFC 3339).
    pub started: String,
    /// Planned warm-up, seconds.
    pub warmup_s: f64,
    /// Planned measured phase, seconds.
    pub duration_s: f64,
    /// Measured phase until the last answer, seconds (≥ `duration_s`).
    pub wall_s: f64,
    /// Size of the AHV number population.
    pub population: usize,
    /// Requests sent in all, warm-up included (each one ended in an answer or an error).
    pub sent: u64,
    /// Attempts sent again to another target after a retryable failure (connection
    /// refused or broken before an answer); such a request counts once, with its retry.
    #[serde(default)]
    pub retries: u64,
    /// Of which during warm-up (not recorded).
    pub warmup_requests: u64,
    /// Recorded requests.
    pub measured: u64,
    /// Recorded HTTP 200 accounts.
    pub answers: u64,
    /// Recorded requests per second of `wall_s`.
    pub throughput: f64,
    /// Latency of all recorded requests (errors included).
    pub latency: LatencySummary,
    /// Errors by kind (`HTTP 500`, `transport: timeout`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Accounts with `complete: false`.
    pub incomplete: u64,
    /// End-user tokens sent: the cost of verifying one (ES256, measured here with the
    /// gateway's verifier), microseconds; `None` when no tokens were sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_verify_us: Option<f64>,
    /// `incomplete / answers`.
    pub incomplete_share: f64,
    /// Most frequent non-ok office statuses (at most 10).
    pub top_non_ok: Vec<StatusCount>,
    /// Status counts per office.
    pub office_statuses: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per-second latency and volume.
    pub timeline: Vec<Second>,
    /// Latency histogram (log-spaced buckets).
    pub histogram: Vec<Bucket>,
}

impl Report {
    /// Recorded errors in all.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The end-of-run summary, as printed by `guichet loadtest`.
    pub fn summary(&self) -> String {
        let mut o = String::new();
        let load = match (self.concurrency, self.rate) {
            (Some(c), _) => format!("closed loop, concurrency {c}"),
            (_, Some(r)) => format!("open loop, {r} requests/s scheduled"),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "{} — {} — {load}, {}",
            self.label, self.target, self.http
        );
        let _ = writeln!(
            o,
            "  requests   {} sent ({} in warm-up), {} measured over {:.1} s",
            self.sent, self.warmup_requests, self.measured, self.wall_s
        );
        if self.retries > 0 {
            let _ = writeln!(
                o,
                "  retries    {} sent again to another target (connection failed before an answer)",
                self.retries
            );
        }
        let _ = writeln!(o, "  throughput {:.1} requests/s", self.throughput);
        let l = &self.latency;
        let _ = writeln!(
            o,
            "  latency    p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
            l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
        let _ = writeln!(o, "             (measured from {})", self.latency_from);
        if let Some(us) = self.token_verify_us {
            let _ = writeln!(
                o,
                "  tokens     one end-user token per person; verifying one costs {us:.1} µs (ES256, this machine)"
            );
        }
        if self.errors.is_empty() {
            let _ = writeln!(o, "  errors     none");
        } else {
            let _ = writeln!(o, "  errors     {} in all", self.error_count());
            for (kind, n) in &self.errors {
                let _ = writeln!(o, "    {n:>8}  {kind}");
            }
        }
        let _ = writeln!(
            o,
            "  incomplete {} of {} accounts ({:.2} %)",
            self.incomplete,
            self.answers,
            self.incomplete_share * 100.0
        );
        if !self.top_non_ok.is_empty() {
            let _ = writeln!(
                o,
                "  most frequent office statuses other than ok/no_account:"
            );
            for s in &self.top_non_ok {
                let _ = writeln!(o, "    {:>8}  {} {}", s.count, s.office, s.status);
            }
        }
        o
    }
}
