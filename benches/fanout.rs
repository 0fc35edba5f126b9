//! End-to-end fan-out benchmark (not a test): the gateway (`guichet serve`) and the 101
//! simulated offices (`guichet simulate --zero-latency`) run as two child processes on
//! loopback; this process is the portal. It reports the latency of one consolidated query
//! at concurrency 1 and 32 (p50, p99) and the gateway's CPU time per office call, read
//! from /proc for the gateway process alone.
//!
//! Run: `cargo bench --bench fanout` (optional: `FANOUT_QUERIES=2000 FANOUT_SECONDS=10`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use guichet::model::Vn;

fn main() -> anyhow::Result<()> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_guichet"));
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let config = write_config(dir.path(), &repo, port)?;
    let offices: Vec<String> = std::fs::read_dir(repo.join("adapters"))?
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    let pki = guichet::pki::ensure_dev_pki(&dir.path().join("certs"), &offices)?;
    let mut sim = spawn(&bin, &["simulate", "--zero-latency", "--config"], &config)?;
    let mut gateway = spawn(&bin, &["serve", "--config"], &config)?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(run(&pki, port, gateway.id()));
    let _ = gateway.kill();
    let _ = sim.kill();
    let _ = gateway.wait();
    let _ = sim.wait();
    result
}

async fn run(pki: &guichet::pki::DevPki, port: u16, gateway_pid: u32) -> anyhow::Result<()> {
    let client = portal(pki)?;
    let base = format!("https://127.0.0.1:{port}/v1/accounts/");
    wait_ready(&client, port).await?;
    let offices = 101.0;
    // Warm-up: pooled connections to every office, caches of the simulator.
    for i in 0..50u32 {
        query(&client, &base, i).await?;
    }
    let n: u32 = std::env::var("FANOUT_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let cpu0 = cpu_seconds(gateway_pid)?;
    let mut lat = Vec::with_capacity(n as usize);
    for i in 0..n {
        let t = Instant::now();
        query(&client, &base, 1000 + i).await?;
        lat.push(t.elapsed());
    }
    let cpu1 = cpu_seconds(gateway_pid)?;
    let c1_cpu = (cpu1 - cpu0) / (f64::from(n) * offices) * 1e6;
    let (p50, p99) = percentiles(&mut lat);
    if std::env::var_os("FANOUT_PROFILE").is_some() {
        // Lets a profiler attach to the gateway for the concurrent phase.
        eprintln!("gateway pid {gateway_pid}: concurrent phase starts in 3 s");
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let secs: u64 = std::env::var("FANOUT_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let (mut lat32, done, wall) = concurrent(&client, &base, 32, Duration::from_secs(secs)).await?;
    let cpu2 = cpu_seconds(gateway_pid)?;
    let c32_cpu = (cpu2 - cpu1) / (done as f64 * offices) * 1e6;
    let (q50, q99) = percentiles(&mut lat32);
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!(
        "| concurrency | queries | throughput (queries/s) | p50 | p99 | gateway CPU per office call |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| 1 | {n} | {:.0} | {:.2} ms | {:.2} ms | {c1_cpu:.1} µs |",
        f64::from(n) / lat.iter().map(Duration::as_secs_f64).sum::<f64>(),
        ms(p50),
        ms(p99)
    );
    println!(
        "| 32 | {done} | {:.0} | {:.2} ms | {:.2} ms | {c32_cpu:.1} µs |",
        done as f64 / wall.as_secs_f64(),
        ms(q50),
        ms(q99)
    );
    Ok(())
}

async fn concurrent(
    client: &reqwest::Client,
    base: &str,
    workers: usize,
    length: Duration,
) -> anyhow::Result<(Vec<Duration>, usize, Duration)> {
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, base, counter) = (client.clone(), base.to_owned(), Arc::clone(&counter));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < length {
                let i = counter.fetch_add(1, Ordering::Relaxed) as u32;
                let t = Instant::now();
                query(&client, &base, 100_000 + i).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let wall = start.elapsed();
    let done = all.len();
    Ok((all, done, wall))
}

async fn query(client: &reqwest::Client, base: &str, i: u32) -> anyhow::Result<()> {
    let vn = Vn::from_serial(200_000_000 + i % 10_000);
    let r = client.get(format!("{base}{}", vn.digits())).send().await?;
    anyhow::ensure!(r.status() == 200, "status {}", r.status());
    let body = r.bytes().await?;
    anyhow::ensure!(
        body.windows(15).any(|w| w == b"\"complete\":true"),
        "incomplete answer"
    );
    Ok(())
}

fn percentiles(lat: &mut [Duration]) -> (Duration, Duration) {
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
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

fn portal(pki: &guichet::pki::DevPki) -> anyhow::Result<reqwest::Client> {
    let roots = guichet::tls::load_certs(&pki.ca_cert)?;
    let identity = (
        guichet::tls::load_certs(&pki.portal.cert)?,
        guichet::tls::load_key(&pki.portal.key)?,
    );
    Ok(guichet::fanout::client(guichet::tls::client_config(
        &roots,
        Some(identity),
    )?)?)
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

fn spawn(bin: &Path, args: &[&str], config: &Path) -> anyhow::Result<Child> {
    Ok(Command::new(bin)
        .args(args)
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("GUICHET_LOG", "warn")
        .spawn()?)
}

fn write_config(dir: &Path, repo: &Path, port: u16) -> anyhow::Result<PathBuf> {
    let c = dir.join("certs");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ncert = \"{c}/gateway-server.pem\"\nkey = \"{c}/gateway-server.key\"\nclient_ca = \"{c}/federation-ca.pem\"\n\n[offices]\nadapters = \"{r}/adapters\"\nmappings = \"{r}/mappings\"\nca = \"{c}/federation-ca.pem\"\nclient_cert = \"{c}/gateway-client.pem\"\nclient_key = \"{c}/gateway-client.key\"\ndeadline_ms = 5000\n\n[simulator]\ncerts = \"{c}/offices\"\n",
        c = c.display(),
        r = repo.display()
    );
    let path = dir.join("guichet.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}
