//! What the load generator records per answer: HDR histograms (whole run and per second),
//! errors by kind, incomplete answers and office statuses. Turned into a [`Report`] at the end.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Deserialize;

use super::report::{Bucket, LatencySummary, Report, Second, StatusCount};

/// Highest latency recorded (µs); longer ones are clamped (a 10 min answer is "≥ 10 min").
const MAX_US: u64 = 600_000_000;

/// How one request ended.
#[derive(Debug)]
pub enum Outcome {
    /// HTTP 200 with a consolidated account.
    Answer {
        /// `complete` of the account.
        complete: bool,
        /// `(office, status)` of each source.
        sources: Vec<(String, String)>,
    },
    /// Any other HTTP status.
    Status(u16),
    /// HTTP 200 whose body is not an account.
    BadBody,
    /// No HTTP answer: `timeout`, `connect`, `request`, `body`.
    Transport(&'static str),
}

#[derive(Deserialize)]
struct AccountShape {
    complete: bool,
    #[serde(default)]
    sources: Vec<SourceShape>,
}

#[derive(Deserialize)]
struct SourceShape {
    office: String,
    status: String,
}

/// Classifies an HTTP answer: only the fields the report needs are read.
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    if status != 200 {
        return Outcome::Status(status);
    }
    match serde_json::from_slice::<AccountShape>(body) {
        Ok(a) => Outcome::Answer {
            complete: a.complete,
            sources: a
                .sources
                .into_iter()
                .map(|s| (s.office, s.status))
                .collect(),
        },
        Err(_) => Outcome::BadBody,
    }
}

fn histogram(sigfig: u8) -> Histogram<u64> {
    // Bounds and precision are constants in range (not input): construction cannot fail.
    Histogram::new_with_bounds(1, MAX_US, sigfig).expect("constant histogram bounds are valid")
}

/// Per-second window of the measured phase (by scheduled/start time).
#[derive(Debug)]
struct Window {
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
}

/// Accumulates outcomes of the measured phase.
#[derive(Debug)]
pub struct Recorder {
    latency: Histogram<u64>,
    windows: Vec<Window>,
    measured: u64,
    answers: u64,
    incomplete: u64,
    errors: BTreeMap<String, u64>,
    offices: HashMap<String, BTreeMap<String, u64>>,
    /// Latest completion, from the start of the measured phase.
    last_done: Duration,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder {
            latency: histogram(3),
            windows: Vec::new(),
            measured: 0,
            answers: 0,
            incomplete: 0,
            errors: BTreeMap::new(),
            offices: HashMap::new(),
            last_done: Duration::ZERO,
        }
    }

    /// Records one request started (or scheduled) at `at` after the measured phase began,
    /// answered after `latency`.
    pub fn record(&mut self, at: Duration, latency: Duration, outcome: Outcome) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_US)
            .clamp(1, MAX_US);
        self.latency.saturating_record(us);
        self.measured += 1;
        self.last_done = self.last_done.max(at + latency);
        let second = usize::try_from(at.as_secs()).unwrap_or(usize::MAX);
        if second < 86_400 {
            while self.windows.len() <= second {
                self.windows.push(Window {
                    requests: 0,
                    errors: 0,
                    latency: histogram(2),
                });
            }
        }
        let window = self.windows.get_mut(second);
        let error = match outcome {
            Outcome::Answer { complete, sources } => {
                self.answers += 1;
                if !complete {
                    self.incomplete += 1;
                }
                for (office, status) in sources {
                    *self
                        .offices
                        .entry(office)
                        .or_default()
                        .entry(status)
                        .or_default() += 1;
                }
                None
            }
            Outcome::Status(code) => Some(format!("HTTP {code}")),
            Outcome::BadBody => Some("HTTP 200, not an account".to_owned()),
            Outcome::Transport(kind) => Some(format!("transport: {kind}")),
        };
        if let Some(w) = window {
            w.requests += 1;
            w.latency.saturating_record(us);
            w.errors += u64::from(error.is_some());
        }
        if let Some(e) = error {
            *self.errors.entry(e).or_default() += 1;
        }
    }

    /// Requests recorded so far.
    pub fn measured(&self) -> u64 {
        self.measured
    }

    /// Errors recorded so far.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// `(requests, p99 in ms)` of the last complete second before `now_second`.
    pub fn recent(&self, now_second: usize) -> Option<(u64, f64)> {
        let w = self.windows.get(now_second.checked_sub(1)?)?;
        Some((w.requests, ms(w.latency.value_at_quantile(0.99))))
    }

    /// The report; `duration` is the planned measured phase.
    pub fn finish(self, mut report: Report, duration: Duration) -> Report {
        let wall = duration.max(self.last_done).as_secs_f64().max(1e-9);
        let h = &self.latency;
        report.measured = self.measured;
        report.answers = self.answers;
        report.throughput = self.measured as f64 / wall;
        report.wall_s = wall;
        report.latency = LatencySummary {
            min_ms: ms(h.min()),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        };
        report.incomplete = self.incomplete;
        report.incomplete_share = if self.answers == 0 {
            0.0
        } else {
            self.incomplete as f64 / self.answers as f64
        };
        report.errors = self.errors;
        let mut non_ok: Vec<StatusCount> = self
            .offices
            .iter()
            .flat_map(|(office, statuses)| {
                statuses
                    .iter()
                    .filter(|(s, _)| !matches!(s.as_str(), "ok" | "no_account"))
                    .map(|(status, count)| StatusCount {
                        office: office.clone(),
                        status: status.clone(),
                        count: *count,
                    })
            })
            .collect();
        non_ok.sort_by(|a, b| b.count.cmp(&a.count).then(a.office.cmp(&b.office)));
        non_ok.truncate(10);
        report.top_non_ok = non_ok;
        report.office_statuses = self.offices.into_iter().collect();
        report.timeline = self
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| Second {
                second: i as u64,
                requests: w.requests,
                errors: w.errors,
                p50_ms: ms(w.latency.value_at_quantile(0.5)),
                p99_ms: ms(w.latency.value_at_quantile(0.99)),
                max_ms: ms(w.latency.max()),
            })
            .collect();
        report.histogram = buckets(h);
        report
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Log-spaced buckets (×1.25) from the smallest to the largest recorded latency.
fn buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let step = 1.25_f64;
    let index = |us: u64| ((us.max(1) as f64).ln() / step.ln()).floor() as i64;
    let first = index(h.min());
    let last = index(h.max());
    let mut counts = vec![0u64; usize::try_from(last - first + 1).unwrap_or(1)];
    for v in h.iter_recorded() {
        let i = usize::try_from(index(v.value_iterated_to()) - first).unwrap_or(0);
        if let Some(c) = counts.get_mut(i) {
            *c += v.count_at_value();
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| {
            let k = first + i as i64;
            Bucket {
                from_ms: step.powf(k as f64) / 1000.0,
                to_ms: step.powf((k + 1) as f64) / 1000.0,
                count,
            }
        })
        .collect()
}
