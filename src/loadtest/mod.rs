//! Load generator behind `guichet loadtest` and `guichet bench`: drives
//! `GET /v1/accounts/{vn}` over mutual TLS against one or several targets (replicas of a
//! gateway), spread as a load balancer would ([`balance`]: round robin, a failed target
//! left out for a while, a request whose connection failed sent again elsewhere).
//!
//! - closed loop (`Load::Closed`): N workers, each sends its next request when the previous
//!   answer is in; latency is measured from the request's start;
//! - open loop (`Load::Open`): requests are scheduled on a fixed timetable (`k / rate`) and
//!   latency is measured from the *scheduled* time, so a target that falls behind shows its
//!   queueing delay instead of hiding it (coordinated omission corrected by construction).
//!
//! [`run`] returns a [`Report`]; [`write_report`] writes `report.json` and a self-contained
//! `report.html`. The benchmark that starts the federation, the gateway and the peer lives in
//! [`bench`].

mod balance;
pub mod bench;
mod html;
mod peer;
mod population;
mod process;
mod report;
mod run;
mod stats;
mod table;
mod tokens;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

pub use balance::QUARANTINE;
pub use html::render_html;
pub use population::{population_from_file, random_population};
pub use report::{Bucket, LatencySummary, Report, Second, StatusCount};
pub use run::run;
pub use tokens::{TokenCost, Tokens};

/// HTTP version spoken to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    /// ALPN offers `h2` then `http/1.1`; the target chooses.
    Auto,
    /// HTTP/1.1 only: one request per connection at a time, a pool of connections.
    Http1,
    /// HTTP/2 only: requests multiplexed on few connections.
    Http2,
}

impl HttpVersion {
    /// Short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Auto => "auto",
            HttpVersion::Http1 => "http/1.1",
            HttpVersion::Http2 => "h2",
        }
    }
}

/// How requests are issued.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// `concurrency` workers, each waits for its answer before sending the next request.
    Closed {
        /// Number of workers.
        concurrency: usize,
    },
    /// `rate` requests per second on a fixed timetable, at most `max_in_flight` at once
    /// (a request waiting for a slot still counts its wait in its latency).
    Open {
        /// Requests per second.
        rate: f64,
        /// Cap on requests in flight (protects the load generator, not the target).
        max_in_flight: usize,
    },
}

/// One load test: what to hit, how hard, for how long, with which AHV numbers.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Base URLs of the targets (`https://host:port`), at least one; requests are spread
    /// over them. Nothing else is ever contacted.
    pub targets: Vec<reqwest::Url>,
    /// Closed or open loop.
    pub load: Load,
    /// Measured phase.
    pub duration: Duration,
    /// Phase before the measurement (connections, caches); requests are sent, not recorded.
    pub warmup: Duration,
    /// Per-request timeout (counted as a transport error `timeout`).
    pub timeout: Duration,
    /// HTTP version towards the target.
    pub http: HttpVersion,
    /// AHV numbers, used round-robin.
    pub population: Vec<crate::model::Vn>,
    /// The end users' tokens, one per person of `population` (same order), sent as
    /// `Authorization: Bearer`; empty: none are sent (see [`Tokens`]).
    pub tokens: Vec<String>,
    /// Show a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Free text naming the run in reports (e.g. `guichet c=32`).
    pub label: String,
}

/// Checks a `--target` value: `https://host[:port]`, no credentials, query or fragment.
pub fn parse_target(text: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(text)
        .with_context(|| format!("--target {text:?} is not a URL (expected https://HOST:PORT)"))?;
    anyhow::ensure!(
        url.scheme() == "https",
        "--target must be an https:// URL (mutual TLS), got scheme {:?}",
        url.scheme()
    );
    anyhow::ensure!(url.host_str().is_some(), "--target {text:?} names no host");
    anyhow::ensure!(
        url.username().is_empty() && url.password().is_none(),
        "--target must not carry credentials; use --cert/--key"
    );
    anyhow::ensure!(
        url.query().is_none() && url.fragment().is_none(),
        "--target must not carry a query or fragment"
    );
    Ok(url)
}

/// The HTTP client of the load generator: the given TLS identity, ALPN restricted to the
/// chosen HTTP version, no proxy, no redirects (only `--target` is ever contacted), a pool
/// big enough for one connection per worker.
pub fn client(
    mut tls: rustls::ClientConfig,
    http: HttpVersion,
    timeout: Duration,
) -> anyhow::Result<reqwest::Client> {
    tls.alpn_protocols = match http {
        HttpVersion::Auto => crate::tls::ALPN.iter().map(|p| p.to_vec()).collect(),
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
    };
    // Every account query states its purpose; the load tester's is `self-service`
    // (override with GUICHET_LOADTEST_PURPOSE), which the portal's name must be allowed.
    let purpose =
        std::env::var("GUICHET_LOADTEST_PURPOSE").unwrap_or_else(|_| "self-service".into());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "purpose",
        reqwest::header::HeaderValue::from_str(&purpose)
            .context("GUICHET_LOADTEST_PURPOSE is not a header value")?,
    );
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .default_headers(headers)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(usize::MAX)
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .tcp_nodelay(true);
    let builder = match http {
        HttpVersion::Auto => builder,
        HttpVersion::Http1 => builder.http1_only(),
        HttpVersion::Http2 => builder.http2_prior_knowledge(),
    };
    builder
        .build()
        .context("cannot build the load generator's HTTP client")
}

/// TLS client configuration from PEM files: `cert`/`key` presented, `ca` trusted.
pub fn client_tls(cert: &Path, key: &Path, ca: &Path) -> anyhow::Result<rustls::ClientConfig> {
    let roots = crate::tls::load_certs(ca).context("--ca")?;
    let chain = crate::tls::load_certs(cert).context("--cert")?;
    let key = crate::tls::load_key(key).context("--key")?;
    Ok(crate::tls::client_config(&roots, Some((chain, key)))?)
}

/// Writes `report.json` and `report.html` into `dir` (created if missing).
pub fn write_report(report: &Report, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    let path = dir.join("report.json");
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    let path = dir.join("report.html");
    std::fs::write(&path, render_html(report))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
