//! How a simulated office behaves: its latency distribution and the faults a test or a
//! fault file injects into it. Data only; the office server (`server.rs`) acts on it.

use std::time::Duration;

/// A misbehaviour injected into one simulated office.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Accepts the request and never answers.
    Hang,
    /// Answers with this HTTP status and no XML.
    Status(u16),
    /// Answers 200 with a body that is not XML.
    Garbage,
    /// Answers 200 with a well-formed answer padded past this many bytes.
    Oversized(usize),
    /// Answers after exactly this delay instead of the latency distribution.
    Delay(Duration),
    /// Answers with `status` for this share of requests (0–1), normally otherwise.
    ErrorRate {
        /// Share of failing requests.
        rate: f64,
        /// HTTP status of the failures.
        status: u16,
    },
    /// Sends its answer a few bytes a second.
    SlowDrip {
        /// Bytes sent per second.
        bytes_per_second: u32,
    },
    /// Its own latency distribution.
    Latency(Latency),
    /// Presents another office's certificate (takes effect when the listener is bound).
    WrongCertificate,
    /// Nothing listens on its endpoint (takes effect when the listener is bound).
    Refused,
    /// Answers a valid account of this many IK entries, `unmatched_reversals` of them
    /// reversals that cancel nothing (IK dialects; see [`super::heavy_entries`]).
    Heavy {
        /// IK entries in the answer.
        entries: usize,
        /// Reversals among them that match no entry.
        unmatched_reversals: usize,
    },
    /// Sedex fund: the final receipt (`100`) of each claim is lost; the claim is still
    /// delivered and acknowledged (see [`super::sedex_client`]).
    SedexLostReceipt,
    /// Sedex fund: each claim first gets a not-final receipt with this status (4xx/5xx),
    /// then is delivered with its `100`.
    SedexTransient(u16),
    /// Sedex fund: no claim is delivered; each gets `701` and then the final `204`
    /// (expired).
    SedexExpire,
}

/// Latency of every simulated office: log-normal by median and 99th percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median.
    pub median: Duration,
    /// 99th percentile (≥ median).
    pub p99: Duration,
}

impl Latency {
    /// No simulated latency (benchmarks, most tests).
    pub const ZERO: Latency = Latency {
        median: Duration::ZERO,
        p99: Duration::ZERO,
    };

    /// One latency drawn from the distribution (at most 60 s).
    pub(super) fn sample(&self) -> Duration {
        if self.median.is_zero() {
            return Duration::ZERO;
        }
        let median = self.median.as_secs_f64();
        let sigma = (self.p99.as_secs_f64().max(median) / median).ln() / 2.326;
        // Box–Muller: one standard normal draw.
        let u1: f64 = rand::random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rand::random();
        let z = (-2.0_f64 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        Duration::from_secs_f64((median * (sigma * z).exp()).min(60.0))
    }
}
