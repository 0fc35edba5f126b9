//! The engine: closed-loop workers or an open-loop timetable, the progress bar, and the
//! recorder that turns answers into a [`Report`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::balance::{Balancer, retryable};
use super::stats::{Outcome, Recorder, classify};
use super::{Load, Plan, Report, client};
use crate::locks;
use crate::model::Vn;

struct Shared {
    client: reqwest::Client,
    targets: Balancer,
    population: Vec<Vn>,
    tokens: Vec<String>,
    next: AtomicUsize,
    sent: AtomicU64,
    /// Attempts sent again to another target after a retryable failure.
    retries: AtomicU64,
    warmup_requests: AtomicU64,
    measure_from: Instant,
    recorder: Mutex<Recorder>,
    /// Set when every request is in: the progress bar clears itself and ends.
    done: AtomicBool,
}

impl Shared {
    /// Sends one request whose latency counts from `origin` (its start in a closed loop,
    /// its scheduled time in an open loop) and records it if `origin` is past warm-up.
    async fn one(&self, origin: Instant) {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let vn = self.population[i % self.population.len()];
        self.sent.fetch_add(1, Ordering::Relaxed);
        let token = self.tokens.get(i % self.population.len());
        let outcome = match self.send(&vn.digits(), token).await {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => classify(status, &body),
                    Err(e) => Outcome::Transport(kind(&e, "body")),
                }
            }
            Err(e) => Outcome::Transport(kind(&e, "request")),
        };
        let latency = origin.elapsed();
        match origin.checked_duration_since(self.measure_from) {
            Some(at) => locks::lock(&self.recorder).record(at, latency, outcome),
            None => {
                self.warmup_requests.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends the query to one target after the other ([`Balancer::pick`]) until one
    /// answers or fails in a way that is not retryable; each target at most once.
    async fn send(
        &self,
        digits: &str,
        token: Option<&String>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut tried = Vec::with_capacity(self.targets.len());
        loop {
            // `tried` is shorter than the number of targets here: there is one left.
            let t = self.targets.pick(&tried).unwrap_or(0);
            tried.push(t);
            let mut request = self.client.get(format!("{}{digits}", self.targets.base(t)));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Err(e) if retryable(&e) && tried.len() < self.targets.len() => {
                    self.targets.failed(t);
                    self.retries.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if retryable(&e) {
                        self.targets.failed(t);
                    }
                    return Err(e);
                }
                Ok(response) => return Ok(response),
            }
        }
    }
}

fn kind(e: &reqwest::Error, otherwise: &'static str) -> &'static str {
    if e.is_connect() && e.is_timeout() {
        "connect timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_timeout() {
        "timeout"
    } else {
        otherwise
    }
}

/// Runs one load test. Every request sent is awaited (answer, error or timeout) before this
/// returns, so `sent = warmup_requests + measured` in the report.
pub async fn run(plan: &Plan, tls: rustls::ClientConfig) -> anyhow::Result<Report> {
    check(plan)?;
    let client = client(tls, plan.http, plan.timeout)?;
    let started = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let t0 = Instant::now();
    let measure_from = t0 + plan.warmup;
    let end = measure_from + plan.duration;
    let shared = Arc::new(Shared {
        client,
        targets: Balancer::new(&plan.targets),
        population: plan.population.clone(),
        tokens: plan.tokens.clone(),
        next: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        warmup_requests: AtomicU64::new(0),
        measure_from,
        recorder: Mutex::new(Recorder::new()),
        done: AtomicBool::new(false),
    });
    let progress = progress_bar(plan, Arc::clone(&shared), t0);
    match plan.load {
        Load::Closed { concurrency } => closed(&shared, concurrency, end).await,
        Load::Open {
            rate,
            max_in_flight,
        } => open(&shared, rate, max_in_flight, t0, end).await,
    }
    shared.done.store(true, Ordering::Relaxed);
    let _ = progress.await;
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| anyhow::anyhow!("internal: a request outlived the run"))?;
    let report = Report {
        started,
        sent: shared.sent.load(Ordering::Relaxed),
        retries: shared.retries.load(Ordering::Relaxed),
        warmup_requests: shared.warmup_requests.load(Ordering::Relaxed),
        ..report_head(plan)
    };
    let recorder = locks::into_inner(shared.recorder);
    Ok(recorder.finish(report, plan.duration))
}

/// Refuses a plan that cannot run (no AHV number, no worker, no rate, no duration).
fn check(plan: &Plan) -> anyhow::Result<()> {
    anyhow::ensure!(!plan.targets.is_empty(), "--target: at least one is needed");
    anyhow::ensure!(
        !plan.population.is_empty(),
        "--population: at least one AHV number is needed"
    );
    match plan.load {
        Load::Closed { concurrency } => {
            anyhow::ensure!(concurrency >= 1, "--concurrency must be at least 1")
        }
        Load::Open {
            rate,
            max_in_flight,
        } => {
            anyhow::ensure!(
                rate.is_finite() && rate > 0.0,
                "--rate must be a positive number of requests per second"
            );
            anyhow::ensure!(max_in_flight >= 1, "--max-in-flight must be at least 1");
        }
    }
    anyhow::ensure!(!plan.duration.is_zero(), "--duration must be longer than 0");
    anyhow::ensure!(
        plan.tokens.is_empty() || plan.tokens.len() == plan.population.len(),
        "internal: one token per person of the population"
    );
    Ok(())
}

/// What the report says about the plan itself, before any request.
fn report_head(plan: &Plan) -> Report {
    let (concurrency, rate, mode, from) = match plan.load {
        Load::Closed { concurrency } => (
            Some(concurrency),
            None,
            "closed",
            "the request's start (closed loop)",
        ),
        Load::Open { rate, .. } => (
            None,
            Some(rate),
            "open",
            "the request's scheduled time (open loop: queueing delay included)",
        ),
    };
    Report {
        label: plan.label.clone(),
        target: plan
            .targets
            .iter()
            .map(|t| t.as_str().trim_end_matches('/'))
            .collect::<Vec<_>>()
            .join(" "),
        mode: mode.to_owned(),
        concurrency,
        rate,
        http: plan.http.as_str().to_owned(),
        latency_from: from.to_owned(),
        warmup_s: plan.warmup.as_secs_f64(),
        duration_s: plan.duration.as_secs_f64(),
        population: plan.population.len(),
        ..Report::default()
    }
}

async fn closed(shared: &Arc<Shared>, concurrency: usize, end: Instant) {
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let shared = Arc::clone(shared);
        workers.spawn(async move {
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                shared.one(now).await;
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

async fn open(shared: &Arc<Shared>, rate: f64, max_in_flight: usize, t0: Instant, end: Instant) {
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut inflight = JoinSet::new();
    for k in 0u64.. {
        let at = t0 + Duration::from_secs_f64(k as f64 / rate);
        if at >= end {
            break;
        }
        tokio::time::sleep_until(at).await;
        // Waiting for a slot delays the send, not the schedule: the wait counts as latency.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let shared = Arc::clone(shared);
        inflight.spawn(async move {
            shared.one(at).await;
            drop(slot);
        });
        while inflight.try_join_next().is_some() {}
    }
    while inflight.join_next().await.is_some() {}
}

fn progress_bar(plan: &Plan, shared: Arc<Shared>, t0: Instant) -> tokio::task::JoinHandle<()> {
    let total = (plan.warmup + plan.duration).as_secs();
    let bar = if plan.progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} s  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let (warmup, end) = (plan.warmup, plan.warmup + plan.duration);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            if shared.done.load(Ordering::Relaxed) {
                bar.finish_and_clear();
                return;
            }
            let elapsed = t0.elapsed();
            bar.set_position(elapsed.as_secs().min(total));
            if elapsed < warmup {
                bar.set_message(format!(
                    "warming up ({} sent)",
                    shared.sent.load(Ordering::Relaxed)
                ));
                continue;
            }
            let recorder = locks::lock(&shared.recorder);
            let message = if elapsed >= end {
                format!(
                    "draining: {} done, {} errors",
                    recorder.measured(),
                    recorder.error_count()
                )
            } else {
                let second = usize::try_from((elapsed - warmup).as_secs()).unwrap_or(0);
                let (rate, p99) = recorder.recent(second).unwrap_or((0, 0.0));
                format!(
                    "{rate} req/s  p99 {p99:.1} ms  {} done  {} errors",
                    recorder.measured(),
                    recorder.error_count()
                )
            };
            drop(recorder);
            bar.set_message(message);
        }
    })
}
