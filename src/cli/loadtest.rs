//! `guichet loadtest` and `guichet bench`: argument shapes (clap) and their translation into
//! a [`crate::loadtest::Plan`] / [`crate::loadtest::bench::BenchOptions`]. Every mistake
//! names the argument.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::loadtest::bench::{BenchOptions, bench as run_bench};
use crate::loadtest::{
    HttpVersion, Load, Plan, client_tls, parse_target, population_from_file, random_population,
    run, write_report,
};

/// A value of a `loadtest` / `bench` argument that is refused; clap shows it with the
/// argument's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// Not a number followed by an optional unit.
    #[error("{0:?} is not a duration (e.g. 10s, 500ms, 2m)")]
    Duration(String),
    /// A unit other than ms, s, m.
    #[error("{text:?}: unknown unit {unit:?} (use ms, s or m)")]
    Unit {
        /// The whole value.
        text: String,
        /// The unit given.
        unit: String,
    },
    /// A duration too large (or negative) to represent.
    #[error("{0:?} is out of range")]
    Range(String),
    /// A rate that is not a positive finite number.
    #[error("{0:?} is not a positive number of requests per second")]
    Rate(String),
}

/// `10s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, ArgError> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| ArgError::Duration(text.to_owned()))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => {
            return Err(ArgError::Unit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            });
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| ArgError::Range(text.to_owned()))
}

fn positive_rate(text: &str) -> Result<f64, ArgError> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(ArgError::Rate(text.to_owned())),
    }
}

/// Arguments of `guichet loadtest`.
#[derive(Args, Debug)]
pub struct LoadtestArgs {
    /// The gateway (or any server of the API): https://HOST:PORT. Repeat it (or separate
    /// with commas) for several replicas: requests are spread over them, and one whose
    /// connection fails is sent again to another. Nothing else is contacted.
    #[arg(long, required = true, value_delimiter = ',')]
    pub target: Vec<String>,
    /// Client certificate (PEM), e.g. a `portal` certificate of the federation.
    #[arg(long)]
    pub cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// CA that signed the target's server certificate (PEM).
    #[arg(long)]
    pub ca: PathBuf,
    /// Closed loop: this many workers, each waits for its answer before the next request.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), required_unless_present = "rate", conflicts_with = "rate")]
    pub concurrency: Option<u32>,
    /// Open loop: requests per second on a fixed timetable; latency counts from the
    /// scheduled time, so queueing shows.
    #[arg(long, value_parser = positive_rate)]
    pub rate: Option<f64>,
    /// Open loop: at most this many requests in flight (a wait for a slot counts as latency).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// Measured phase (e.g. 30s, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up before the measured phase (sent, not recorded).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Number of random valid AHV numbers to ask for (round-robin).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub population: u32,
    /// Seed of the random population.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// AHV numbers from a file instead, one per line (`#` comments allowed).
    #[arg(long, conflicts_with_all = ["population", "seed"])]
    pub population_file: Option<PathBuf>,
    /// HTTP/1.1 only (a connection per worker).
    #[arg(long, conflicts_with = "http2")]
    pub http1: bool,
    /// HTTP/2 only (requests multiplexed).
    #[arg(long)]
    pub http2: bool,
    /// Write report.json and report.html into this folder.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Name of the run in the summary and reports.
    #[arg(long)]
    pub label: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Send each person's end-user token (`Authorization: Bearer`), minted before the run
    /// with this identity provider's ES256 key (PKCS#8 PEM; `certs/idp-signing.key` of the
    /// development PKI) and bound to --cert, as a portal would. The summary gives the cost
    /// of verifying one.
    #[arg(long)]
    pub token_key: Option<PathBuf>,
    /// `iss` of the tokens (the gateway's `[[identity.issuers]] issuer`).
    #[arg(long, default_value = crate::pki::idp::DEV_ISSUER, requires = "token_key")]
    pub token_issuer: String,
    /// `aud` of the tokens (the gateway's `identity.audience`).
    #[arg(long, default_value = crate::pki::idp::DEV_AUDIENCE, requires = "token_key")]
    pub token_audience: String,
    /// `acr` of the tokens (one the gateway accepts from the issuer).
    #[arg(long, default_value = crate::pki::idp::DEV_ACR, requires = "token_key")]
    pub token_acr: String,
}

/// Runs `guichet loadtest`; returns the summary to print.
pub async fn loadtest(a: LoadtestArgs) -> anyhow::Result<String> {
    let targets = a
        .target
        .iter()
        .map(|t| parse_target(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tls = client_tls(&a.cert, &a.key, &a.ca)?;
    let population = match &a.population_file {
        Some(path) => population_from_file(path)?,
        None => random_population(a.population as usize, a.seed),
    };
    let load = match (a.concurrency, a.rate) {
        (Some(c), _) => Load::Closed {
            concurrency: c as usize,
        },
        (None, Some(rate)) => Load::Open {
            rate,
            max_in_flight: a.max_in_flight as usize,
        },
        (None, None) => anyhow::bail!("give --concurrency N or --rate R"),
    };
    let http = match (a.http1, a.http2) {
        (true, _) => HttpVersion::Http1,
        (_, true) => HttpVersion::Http2,
        _ => HttpVersion::Auto,
    };
    let label = a.label.clone().unwrap_or_else(|| match load {
        Load::Closed { concurrency } => format!("concurrency {concurrency}"),
        Load::Open { rate, .. } => format!("rate {rate}/s"),
    });
    let (tokens, cost) = match &a.token_key {
        Some(key) => {
            let mint = crate::loadtest::Tokens {
                key,
                issuer: &a.token_issuer,
                audience: &a.token_audience,
                acr: &a.token_acr,
                portal_cert: &a.cert,
            };
            // Valid past the end of the run, whatever the last request waits for.
            let ttl = a.warmup + a.duration + a.timeout + Duration::from_secs(600);
            let (tokens, cost) = mint.mint(&population, ttl)?;
            (tokens, Some(cost))
        }
        None => (Vec::new(), None),
    };
    let plan = Plan {
        targets,
        load,
        duration: a.duration,
        warmup: a.warmup,
        timeout: a.timeout,
        http,
        population,
        tokens,
        progress: !a.quiet,
        label,
    };
    let mut report = run(&plan, tls).await?;
    report.token_verify_us = cost.map(|c| c.verify_us);
    let mut summary = report.summary();
    if let Some(dir) = &a.report {
        write_report(&report, dir).map_err(|e| e.context("--report"))?;
        summary.push_str(&format!(
            "  report     {} (report.json, report.html)\n",
            dir.display()
        ));
    }
    Ok(summary)
}

/// Arguments of `guichet bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Output folder: results.md, results.json, one report folder per run, logs.
    #[arg(long, default_value = "out/bench")]
    pub out: PathBuf,
    /// Adapters of the offices to simulate (copied with loopback ports of this run).
    #[arg(long, default_value = "adapters")]
    pub adapters: PathBuf,
    /// Mapping files.
    #[arg(long, default_value = "mappings")]
    pub mappings: PathBuf,
    /// Closed-loop concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128", value_parser = clap::value_parser!(u32).range(1..))]
    pub levels: Vec<u32>,
    /// Open-loop rate in requests/s (0: no open-loop run).
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Measured phase of each run.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up of each run.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Random AHV numbers per run (seed 1, the same for every target).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub population: u32,
    /// Folder of the naive Node.js aggregator to compare with (copied, then `npm ci`).
    #[arg(long, default_value = "../shared/peers/node-aggregator")]
    pub peer: PathBuf,
    /// The peer talks HTTP/1.1 to the offices (its default: one connection per office per
    /// query in flight) instead of HTTP/2 like guichet.
    #[arg(long)]
    pub peer_http1: bool,
    /// Benchmark guichet alone.
    #[arg(long)]
    pub no_peer: bool,
    /// Simulated offices answer with the configured log-normal latency (median 20 ms,
    /// p99 250 ms) instead of at once.
    #[arg(long)]
    pub office_latency: bool,
    /// Also put the table between the `<!-- performance:begin/end -->` markers of this file
    /// (`docs/performance.md`).
    #[arg(long, value_name = "FILE")]
    pub update_docs: Option<PathBuf>,
}

/// Runs `guichet bench`; returns the markdown table.
pub async fn bench(a: BenchArgs) -> anyhow::Result<String> {
    anyhow::ensure!(
        a.rate.is_finite() && a.rate >= 0.0,
        "--rate must be 0 (no open-loop run) or a positive number of requests per second"
    );
    anyhow::ensure!(!a.duration.is_zero(), "--duration must be longer than 0");
    let command = std::env::args()
        .skip(1)
        .fold("guichet".to_owned(), |acc, x| acc + " " + &x);
    let options = BenchOptions {
        out: a.out,
        adapters: a.adapters,
        mappings: a.mappings,
        levels: a.levels.iter().map(|&l| l as usize).collect(),
        rate: a.rate,
        duration: a.duration,
        warmup: a.warmup,
        population: a.population as usize,
        peer: (!a.no_peer).then_some(a.peer),
        office_latency: a.office_latency,
        command,
        update_docs: a.update_docs,
        peer_http1: a.peer_http1,
    };
    run_bench(&options).await
}

#[cfg(test)]
mod tests {
    use super::{ArgError, parse_duration, positive_rate};
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("ten"), Err(ArgError::Duration("ten".into())));
        assert_eq!(
            parse_duration("5h").map_err(|e| e.to_string()),
            Err("\"5h\": unknown unit \"h\" (use ms, s or m)".into())
        );
        assert!(matches!(
            parse_duration("99999999999999999999999"),
            Err(ArgError::Range(_))
        ));
        assert_eq!(positive_rate("2.5"), Ok(2.5));
        for bad in ["0", "-1", "NaN", "inf", "x"] {
            assert_eq!(positive_rate(bad), Err(ArgError::Rate(bad.into())));
        }
    }
}
