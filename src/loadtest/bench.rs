//! `guichet bench`: one command that starts the 101 simulated offices (`guichet simulate`)
//! and the gateway (`guichet serve`) as child processes on loopback ports of its own, the
//! naive Node.js peer against the same offices when node and npm are there, then runs the
//! load generator at each concurrency level and one open-loop rate, alternating the
//! targets, and writes a markdown table, `results.json` and one report folder per run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use super::table::{Row, Setup, markdown};
use super::{HttpVersion, Load, Plan, random_population, write_report};
use crate::adapter::Registry;
use crate::mapping::MappingSet;
use crate::pki::DevPki;

/// Options of `guichet bench`.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Output folder (reports, `results.md`, logs, the federation's files).
    pub out: PathBuf,
    /// Adapters of the offices to simulate (copied with ports of this run).
    pub adapters: PathBuf,
    /// Mapping files.
    pub mappings: PathBuf,
    /// Closed-loop concurrency levels.
    pub levels: Vec<usize>,
    /// Open-loop rate (requests/s); 0 skips the open-loop run.
    pub rate: f64,
    /// Measured phase of each run.
    pub duration: Duration,
    /// Warm-up of each run.
    pub warmup: Duration,
    /// AHV numbers per run (seeded, the same for every target).
    pub population: usize,
    /// The Node.js peer's folder; `None` skips the peer.
    pub peer: Option<PathBuf>,
    /// Simulated offices answer with the configured log-normal latency instead of at once.
    pub office_latency: bool,
    /// The command line, for the table's header.
    pub command: String,
    /// The peer talks HTTP/1.1 to the offices (its default) instead of HTTP/2.
    pub peer_http1: bool,
    /// Put the table between the performance markers of this file (e.g. docs/performance.md).
    pub update_readme: Option<PathBuf>,
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Child {
    name: &'static str,
    process: std::process::Child,
}

impl Child {
    /// Wraps a started process.
    pub fn new(name: &'static str, process: std::process::Child) -> Child {
        Child { name, process }
    }

    fn pid(&self) -> u32 {
        self.process.id()
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Ok(Some(status)) = self.process.try_wait() {
            anyhow::bail!("{} exited early ({status})", self.name);
        }
        Ok(())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

const DEADLINE_MS: u64 = 2000;

/// Runs the benchmark; returns the markdown table (also written to `results.md`).
pub async fn bench(o: &BenchOptions) -> anyhow::Result<String> {
    // Absolute: children (node) run in other folders and get these paths.
    let out = &std::path::absolute(&o.out)
        .with_context(|| format!("--out: bad path {}", o.out.display()))?;
    let fed = out.join("federation");
    let logs = out.join("logs");
    for d in [&fed, &logs] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let load_before = loadavg();
    let ports = free_ports(count_adapters(&o.adapters)? + 2)?;
    let (gateway_port, peer_port) = (ports[0], ports[1]);
    let adapters = fed.join("adapters");
    rewrite_adapters(&o.adapters, &adapters, &ports[2..])?;
    let mappings = MappingSet::load_dir(&o.mappings)?;
    let registry = Registry::load_dir(&adapters, &mappings)?;
    let names: Vec<String> = registry.iter().map(|a| a.office.to_string()).collect();
    let pki = crate::pki::ensure_dev_pki(&fed.join("certs"), &names)?;
    let config = write_config(&fed, &pki, &adapters, &o.mappings, gateway_port)?;

    let exe = std::env::current_exe().context("cannot find the guichet executable")?;
    let mut sim_args = vec!["simulate", "--config"];
    if !o.office_latency {
        sim_args.insert(1, "--zero-latency");
    }
    let mut sim = spawn(
        &exe,
        &sim_args,
        &config,
        &logs.join("simulate.log"),
        "simulator",
    )?;
    let mut gateway = spawn(
        &exe,
        &["serve", "--config"],
        &config,
        &logs.join("serve.log"),
        "gateway",
    )?;
    let mut targets = vec![(
        "guichet",
        format!("https://127.0.0.1:{gateway_port}"),
        gateway.pid(),
    )];
    let mut peer_note = String::new();
    let mut peer = None;
    match &o.peer {
        None => peer_note = "peer skipped (--no-peer)".to_owned(),
        Some(src) => match super::peer::unavailable(src) {
            Some(why) => peer_note = format!("peer skipped: {why}"),
            None => {
                let dir = out.join("peer-node");
                eprintln!("bench: installing the Node.js peer in {}", dir.display());
                let started = super::peer::install(src, &dir, &logs.join("npm.log"))
                    .and_then(|()| super::peer::write_offices(&registry, &dir.join("offices.json")))
                    .and_then(|()| {
                        let log = logs.join("peer.log");
                        super::peer::start(&dir, &pki, peer_port, DEADLINE_MS, !o.peer_http1, &log)
                    });
                match started {
                    Ok(child) => {
                        let url = format!("https://127.0.0.1:{peer_port}");
                        targets.push(("node peer", url, child.pid()));
                        peer = Some(child);
                    }
                    Err(e) => peer_note = format!("peer skipped: {e:#}"),
                }
            }
        },
    }
    if !peer_note.is_empty() {
        eprintln!("bench: {peer_note}");
    }
    let tls = super::client_tls(&pki.portal.cert, &pki.portal.key, &pki.ca_cert)?;
    wait_ready(&tls, &targets[0].1)
        .await
        .context("the gateway did not come up")?;
    if let Some((_, url, _)) = targets.get(1) {
        if let Err(e) = wait_ready(&tls, url).await {
            peer_note = format!("peer skipped: it did not come up ({e:#}; see logs/peer.log)");
            eprintln!("bench: {peer_note}");
            targets.truncate(1);
            peer = None;
        }
    }
    sim.check_alive()?;
    gateway.check_alive()?;

    let population = random_population(o.population, 1);
    let mut loads: Vec<Load> = o
        .levels
        .iter()
        .map(|&concurrency| Load::Closed { concurrency })
        .collect();
    if o.rate > 0.0 {
        loads.push(Load::Open {
            rate: o.rate,
            max_in_flight: 4096,
        });
    }
    let mut rows = Vec::new();
    for load in loads {
        // Alternate the targets within each load level, same load, same numbers.
        for (name, url, pid) in &targets {
            let tag = match load {
                Load::Closed { concurrency } => format!("c{concurrency}"),
                Load::Open { rate, .. } => format!("r{rate}"),
            };
            let plan = Plan {
                target: super::parse_target(url)?,
                load,
                duration: o.duration,
                warmup: o.warmup,
                timeout: Duration::from_secs(10),
                http: HttpVersion::Http1,
                population: population.clone(),
                progress: true,
                label: format!("{name} {tag}"),
            };
            eprintln!("bench: {} …", plan.label);
            let cpu0 = cpu_seconds(*pid);
            let report = super::run(&plan, tls.clone()).await?;
            let cpu = cpu_seconds(*pid) - cpu0;
            let dir = out.join(format!("{}-{tag}", name.replace(' ', "-")));
            write_report(&report, &dir)?;
            eprint!("{}", report.summary());
            rows.push(Row {
                target: (*name).to_owned(),
                report,
                server_cpu_s: cpu,
            });
        }
    }
    drop(peer);
    drop(gateway);
    drop(sim);
    let setup = Setup {
        command: o.command.clone(),
        load_before,
        load_after: loadavg(),
        offices: registry.len(),
        office_latency: o.office_latency,
        duration_s: o.duration.as_secs_f64(),
        warmup_s: o.warmup.as_secs_f64(),
        population: o.population,
        peer_note,
        peer_offices: if o.peer_http1 {
            "HTTP/1.1"
        } else {
            "HTTP/2 (H2=1)"
        },
    };
    let table = markdown(&setup, &rows);
    std::fs::write(out.join("results.md"), &table)?;
    let json: Vec<_> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "target": r.target,
                "server_cpu_s": r.server_cpu_s,
                "report": r.report,
            })
        })
        .collect();
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    if let Some(readme) = &o.update_readme {
        let text = std::fs::read_to_string(readme)
            .with_context(|| format!("--update-readme: cannot read {}", readme.display()))?;
        let new = super::table::splice(&text, &table).with_context(|| {
            format!(
                "--update-readme: {} has no <!-- performance:begin/end --> markers",
                readme.display()
            )
        })?;
        std::fs::write(readme, new)?;
    }
    Ok(table)
}

fn count_adapters(dir: &Path) -> anyhow::Result<usize> {
    Ok(adapter_files(dir)?.len())
}

fn adapter_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("--adapters: cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "--adapters: no *.toml in {}",
        dir.display()
    );
    Ok(files)
}

/// Copies every adapter with its endpoint moved to `127.0.0.1` and a port of this run, so
/// the benchmark never collides with a simulator already running on the shipped ports.
fn rewrite_adapters(from: &Path, to: &Path, ports: &[u16]) -> anyhow::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    for (file, port) in adapter_files(from)?.iter().zip(ports) {
        let text = std::fs::read_to_string(file)?;
        let mut table: toml::Table =
            toml::from_str(&text).with_context(|| format!("{}", file.display()))?;
        let endpoint = table
            .get("endpoint")
            .and_then(toml::Value::as_str)
            .with_context(|| format!("{}: no endpoint", file.display()))?;
        let mut url = reqwest::Url::parse(endpoint)
            .with_context(|| format!("{}: endpoint", file.display()))?;
        url.set_host(Some("127.0.0.1"))?;
        url.set_port(Some(*port))
            .map_err(|()| anyhow::anyhow!("{}: endpoint", file.display()))?;
        table.insert("endpoint".into(), toml::Value::String(url.to_string()));
        let name = file.file_name().context("adapter file name")?;
        std::fs::write(to.join(name), toml::to_string(&table)?)?;
    }
    Ok(())
}

fn write_config(
    dir: &Path,
    pki: &DevPki,
    adapters: &Path,
    mappings: &Path,
    port: u16,
) -> anyhow::Result<PathBuf> {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n\n\
         [offices]\nadapters = {:?}\nmappings = {:?}\nca = {:?}\nclient_cert = {:?}\nclient_key = {:?}\n\
         deadline_ms = {DEADLINE_MS}\ntest_delivery = true\n\n[simulator]\ncerts = {:?}\n\n\
         [protection]\nportal_queries_per_second = 1000000\nportal_burst = 1000000\nmax_queries_in_flight = 4096\n\n\
         [privacy.portals]\ndemo = [\"self-service\"]\n\n\
         [audit]\ndir = {:?}\nhmac_key_file = {:?}\nfsync = true\n",
        abs(&pki.gateway_server.cert),
        abs(&pki.gateway_server.key),
        abs(&pki.ca_cert),
        abs(adapters),
        abs(mappings),
        abs(&pki.ca_cert),
        abs(&pki.gateway_client.cert),
        abs(&pki.gateway_client.key),
        abs(&pki.dir.join("offices")),
        abs(&dir.join("audit")),
        abs(&dir.join("audit-hmac.key")),
    );
    crate::cli::runtime::ensure_audit_secret(&dir.join("audit-hmac.key"))?;
    let path = dir.join("guichet.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn spawn(
    exe: &Path,
    args: &[&str],
    config: &Path,
    log: &Path,
    name: &'static str,
) -> anyhow::Result<Child> {
    let log_file = std::fs::File::create(log)?;
    let process = Command::new(exe)
        .args(args)
        .arg(config)
        .env("GUICHET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot start the {name}"))?;
    Ok(Child::new(name, process))
}

/// Waits until the target answers any HTTP status over mTLS (10 s at most).
async fn wait_ready(tls: &rustls::ClientConfig, url: &str) -> anyhow::Result<()> {
    let client = super::client(tls.clone(), HttpVersion::Http1, Duration::from_secs(2))?;
    let probe = format!("{url}/healthz");
    for _ in 0..100 {
        if client.get(&probe).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("no answer from {url} within 10 s")
}

fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(listeners
        .iter()
        .filter_map(|l| l.local_addr().ok().map(|a| a.port()))
        .collect())
}

/// utime + stime of a process in seconds (0 where /proc is not readable).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
