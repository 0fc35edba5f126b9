//! End-to-end fan-out benchmark (not a test). The gateway (`guichet serve`) and the 101
//! simulated offices (`guichet simulate`) run as child processes on loopback; this process
//! is the portal. Phases:
//!
//! 1. zero simulated latency: one consolidated query at concurrency 1 and 32 (p50, p99)
//!    and the gateway's CPU time per office call (from /proc, the gateway process alone);
//! 2. cache hits: the same 100 people at concurrency 32 with the account cache on;
//! 3. a slow tail: 5 offices (5 %) with a log-normal latency of median 20 ms and p99 2 s,
//!    at concurrency 8, without and with hedging (10 % budget).
//!
//! Run: `cargo bench --bench fanout` (knobs: `FANOUT_QUERIES=500 FANOUT_SECONDS=10`,
//! `FANOUT_PROFILE=1` pauses 3 s before the concurrent phase so a profiler can attach).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use guichet::model::Vn;

const OFFICES: f64 = 101.0;

/// The people asked about (serials 200 000 000 + 0..PEOPLE) and their end-user tokens.
const PEOPLE: u32 = 10_000;
static TOKENS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

struct Bench {
    bin: PathBuf,
    repo: PathBuf,
    dir: tempfile::TempDir,
    pki: guichet::pki::DevPki,
    port: u16,
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> anyhow::Result<()> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir()?;
    let offices: Vec<String> = std::fs::read_dir(repo.join("adapters"))?
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    let pki = guichet::pki::ensure_dev_pki(&dir.path().join("certs"), &offices)?;
    guichet::cli::runtime::ensure_audit_secret(&dir.path().join("audit-hmac.key"))?;
    // Every query carries its person's token, as from a real portal.
    let people: Vec<Vn> = (0..PEOPLE)
        .map(|i| Vn::from_serial(200_000_000 + i))
        .collect();
    let (tokens, cost) = guichet::loadtest::Tokens {
        key: &pki.idp.key,
        issuer: guichet::pki::idp::DEV_ISSUER,
        audience: guichet::pki::idp::DEV_AUDIENCE,
        acr: guichet::pki::idp::DEV_ACR,
        portal_cert: &pki.portal.cert,
    }
    .mint(&people, Duration::from_secs(24 * 3600))?;
    let _ = TOKENS.set(tokens);
    println!(
        "end-user token verification (ES256, the gateway's verifier): {:.1} µs per query ({} samples)",
        cost.verify_us, cost.samples
    );
    let b = Bench {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_guichet")),
        repo,
        port: free_port()?,
        dir,
        pki,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    println!(
        "machine: {} cores, {}; load: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        loadavg()
    );
    println!(
        "| phase | concurrency | queries | throughput (queries/s) | p50 | p99 | gateway CPU per office call |"
    );
    println!("|---|---|---|---|---|---|---|");
    {
        let _sim = b.simulator(None)?;
        let gw = b.gateway("")?;
        rt.block_on(plain_phases(&b, gw.0.id()))?;
    }
    {
        let _sim = b.simulator(None)?;
        let gw = b.gateway("cache_ttl_ms = 600000")?;
        rt.block_on(cache_phase(&b, gw.0.id()))?;
    }
    let tail = "[[fault]]\noffices = [\"002.000\", \"017.000\", \"040.000\", \"106.000\", \"322.000\"]\nkind = \"latency\"\nmedian_ms = 20\np99_ms = 2000\n";
    for (name, protection) in [
        ("5 % slow tail, no hedging", "hedge_budget_percent = 0"),
        ("5 % slow tail, hedging 10 %", "hedge_budget_percent = 10"),
    ] {
        let _sim = b.simulator(Some(tail))?;
        let gw = b.gateway(protection)?;
        rt.block_on(tail_phase(&b, gw.0.id(), name))?;
    }
    Ok(())
}

impl Bench {
    fn base(&self) -> String {
        format!("https://127.0.0.1:{}/v1/accounts/", self.port)
    }

    fn config(&self, protection: &str) -> anyhow::Result<PathBuf> {
        let c = self.dir.path().join("certs");
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ncert = \"{c}/gateway-server.pem\"\nkey = \"{c}/gateway-server.key\"\nclient_ca = \"{c}/federation-ca.pem\"\n\n[offices]\nadapters = \"{r}/adapters\"\nmappings = \"{r}/mappings\"\nca = \"{c}/federation-ca.pem\"\nclient_cert = \"{c}/gateway-client.pem\"\nclient_key = \"{c}/gateway-client.key\"\ndeadline_ms = 5000\nallow_loopback = true\n\n[simulator]\ncerts = \"{c}/offices\"\nlatency_median_ms = 20\nlatency_p99_ms = 250\n\n[protection]\nportal_queries_per_second = 100000\nportal_burst = 100000\nmax_queries_in_flight = 4096\n{protection}\n\n[privacy]\npurposes = [\"self-service\"]\n[privacy.portals]\ndemo = [\"self-service\"]\n\n[identity]\naudience = \"{aud}\"\n[[identity.issuers]]\nissuer = \"{iss}\"\njwks = \"{c}/idp-jwks.json\"\nacr = [\"{acr}\"]\n\n[audit]\ndir = \"{d}/audit\"\nhmac_key_file = \"{d}/audit-hmac.key\"\nfsync = true\n",
            d = self.dir.path().display(),
            port = self.port,
            c = c.display(),
            r = self.repo.display(),
            aud = guichet::pki::idp::DEV_AUDIENCE,
            iss = guichet::pki::idp::DEV_ISSUER,
            acr = guichet::pki::idp::DEV_ACR,
        );
        let path = self.dir.path().join("guichet.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }

    fn simulator(&self, faults: Option<&str>) -> anyhow::Result<Running> {
        let config = self.config("")?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(["simulate", "--zero-latency", "--config"])
            .arg(&config);
        if let Some(f) = faults {
            let path = self.dir.path().join("faults.toml");
            std::fs::write(&path, f)?;
            cmd.arg("--faults").arg(path);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("GUICHET_LOG", "warn")
            .spawn()?;
        std::thread::sleep(Duration::from_millis(500));
        Ok(Running(child))
    }

    fn gateway(&self, protection: &str) -> anyhow::Result<Running> {
        let config = self.config(protection)?;
        let child = Command::new(&self.bin)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("GUICHET_LOG", "warn")
            .spawn()?;
        Ok(Running(child))
    }
}

async fn plain_phases(b: &Bench, pid: u32) -> anyhow::Result<()> {
    let client = portal(&b.pki)?;
    wait_ready(&client, b.port).await?;
    let base = b.base();
    for i in 0..50u32 {
        query(&client, &base, i, true).await?;
    }
    let n: u32 = env_or("FANOUT_QUERIES", 500);
    let cpu0 = cpu_seconds(pid)?;
    let started = Instant::now();
    let mut lat = Vec::with_capacity(n as usize);
    for i in 0..n {
        let t = Instant::now();
        query(&client, &base, 1000 + i, true).await?;
        lat.push(t.elapsed());
    }
    let wall = started.elapsed();
    let cpu = (cpu_seconds(pid)? - cpu0) / (f64::from(n) * OFFICES) * 1e6;
    row("zero latency", 1, &mut lat, wall, Some(cpu));
    if std::env::var_os("FANOUT_PROFILE").is_some() {
        eprintln!("gateway pid {pid}: concurrent phase starts in 3 s");
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let cpu0 = cpu_seconds(pid)?;
    let (mut lat, wall) = concurrent(&client, &base, 32, seconds(), u32::MAX).await?;
    let cpu = (cpu_seconds(pid)? - cpu0) / (lat.len() as f64 * OFFICES) * 1e6;
    row("zero latency", 32, &mut lat, wall, Some(cpu));
    Ok(())
}

async fn cache_phase(b: &Bench, _pid: u32) -> anyhow::Result<()> {
    let client = portal(&b.pki)?;
    wait_ready(&client, b.port).await?;
    let base = b.base();
    for i in 0..100u32 {
        query(&client, &base, i, true).await?;
    }
    let (mut lat, wall) = concurrent(&client, &base, 32, seconds(), 100).await?;
    row("cache hits (100 people)", 32, &mut lat, wall, None);
    Ok(())
}

async fn tail_phase(b: &Bench, _pid: u32, name: &str) -> anyhow::Result<()> {
    let client = portal(&b.pki)?;
    wait_ready(&client, b.port).await?;
    let base = b.base();
    // Warm-up long enough for every office's p95 to be known (≥ 20 answers each).
    for i in 0..40u32 {
        query(&client, &base, i, false).await?;
    }
    let (mut lat, wall) = concurrent(&client, &base, 8, seconds(), u32::MAX).await?;
    row(name, 8, &mut lat, wall, None);
    Ok(())
}

fn row(phase: &str, concurrency: usize, lat: &mut [Duration], wall: Duration, cpu: Option<f64>) {
    let (p50, p99) = percentiles(lat);
    let cpu = cpu.map_or("—".to_owned(), |c| format!("{c:.1} µs"));
    println!(
        "| {phase} | {concurrency} | {} | {:.0} | {:.2} ms | {:.2} ms | {cpu} |",
        lat.len(),
        lat.len() as f64 / wall.as_secs_f64(),
        ms(p50),
        ms(p99)
    );
}

async fn concurrent(
    client: &reqwest::Client,
    base: &str,
    workers: usize,
    length: Duration,
    people: u32,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, base, counter) = (client.clone(), base.to_owned(), Arc::clone(&counter));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < length {
                let i = (counter.fetch_add(1, Ordering::Relaxed) as u32) % people;
                let t = Instant::now();
                query(
                    &client,
                    &base,
                    if people == u32::MAX { 100_000 + i } else { i },
                    false,
                )
                .await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all, start.elapsed()))
}

async fn query(
    client: &reqwest::Client,
    base: &str,
    i: u32,
    must_be_complete: bool,
) -> anyhow::Result<()> {
    let vn = Vn::from_serial(200_000_000 + i % PEOPLE);
    let token = TOKENS
        .get()
        .and_then(|t| t.get((i % PEOPLE) as usize))
        .ok_or_else(|| anyhow::anyhow!("no token minted"))?;
    let r = client
        .get(format!("{base}{}", vn.digits()))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "status {}", r.status());
    let body = r.bytes().await?;
    let complete = body.windows(15).any(|w| w == b"\"complete\":true");
    anyhow::ensure!(complete || !must_be_complete, "incomplete answer");
    Ok(())
}

fn percentiles(lat: &mut [Duration]) -> (Duration, Duration) {
    if lat.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seconds() -> Duration {
    Duration::from_secs(u64::from(env_or("FANOUT_SECONDS", 10)))
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    Ok(ticks / 100.0)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn portal(pki: &guichet::pki::DevPki) -> anyhow::Result<reqwest::Client> {
    let roots = guichet::tls::load_certs(&pki.ca_cert)?;
    let identity = (
        guichet::tls::load_certs(&pki.portal.cert)?,
        guichet::tls::load_key(&pki.portal.key)?,
    );
    guichet::cli::runtime::portal_client(
        guichet::tls::client_config(&roots, Some(identity))?,
        "self-service",
    )
}

async fn wait_ready(client: &reqwest::Client, port: u16) -> anyhow::Result<()> {
    for _ in 0..100 {
        if client
            .get(format!("https://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the gateway did not come up")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
