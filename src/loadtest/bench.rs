//! `guichet bench`: one command that starts the 101 simulated offices (`guichet simulate`)
//! and the gateway (`guichet serve`) as child processes on loopback ports of its own, the
//! naive Node.js peer against the same offices when node and npm are there, then runs the
//! load generator at each concurrency level and one open-loop rate, alternating the
//! targets, and writes a markdown table, `results.json` and one report folder per run
//! (and, with `--update-docs FILE`, the table between that file's performance markers).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::process::{Child, cpu_seconds, free_ports, loadavg, spawn};
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
    /// Put the table between the performance markers of this file (`docs/performance.md`).
    pub update_docs: Option<PathBuf>,
}

const DEADLINE_MS: u64 = 2000;

/// The files and ports of one benchmark run, prepared before any process starts.
struct Prepared {
    /// The output folder, absolute (children run in other folders and get these paths).
    out: PathBuf,
    /// Where the children's logs go.
    logs: PathBuf,
    /// The offices, with the ports of this run.
    registry: Registry,
    /// The development PKI of this run.
    pki: DevPki,
    /// The gateway's configuration file (broadcast; the simulator reads it too).
    config: PathBuf,
    /// The second gateway's configuration: `[routing] mode = "register"`.
    register_config: PathBuf,
    /// The gateway's port.
    gateway_port: u16,
    /// The register-routing gateway's port.
    register_gateway_port: u16,
    /// The Node.js peer's port.
    peer_port: u16,
}

/// A process under load: its name in the table, its URL and the child to read CPU from.
struct Target {
    name: &'static str,
    url: String,
    pid: u32,
}

/// Runs the benchmark; returns the markdown table (also written to `results.md`).
pub async fn bench(o: &BenchOptions) -> anyhow::Result<String> {
    let load_before = loadavg();
    let run = prepare(o)?;
    let exe = std::env::current_exe().context("cannot find the guichet executable")?;
    let mut sim_args = vec!["simulate", "--config"];
    if !o.office_latency {
        sim_args.insert(1, "--zero-latency");
    }
    let log = |name: &str| run.logs.join(name);
    let mut sim = spawn(
        &exe,
        &sim_args,
        &run.config,
        &log("simulate.log"),
        "simulator",
    )?;
    let serve = ["serve", "--config"];
    let mut gateway = spawn(&exe, &serve, &run.config, &log("serve.log"), "gateway")?;
    let mut routed = spawn(
        &exe,
        &serve,
        &run.register_config,
        &log("serve-register.log"),
        "gateway (register routing)",
    )?;
    let mut targets = vec![Target {
        name: "guichet",
        url: format!("https://127.0.0.1:{}", run.gateway_port),
        pid: gateway.pid(),
    }];
    let (mut peer, mut peer_note) = start_peer(o, &run);
    if let Some((url, child)) = &peer {
        targets.push(Target {
            name: "node peer",
            url: url.clone(),
            pid: child.pid(),
        });
    }
    let tls = super::client_tls(&run.pki.portal.cert, &run.pki.portal.key, &run.pki.ca_cert)?;
    wait_ready(&tls, &targets[0].url)
        .await
        .context("the gateway did not come up")?;
    if let Some(target) = targets.get(1)
        && let Err(e) = wait_ready(&tls, &target.url).await
    {
        peer_note = format!("peer skipped: it did not come up ({e:#}; see logs/peer.log)");
        eprintln!("bench: {peer_note}");
        targets.truncate(1);
        peer = None;
    }
    let routed_url = format!("https://127.0.0.1:{}", run.register_gateway_port);
    wait_ready(&tls, &routed_url)
        .await
        .context("the register-routing gateway did not come up")?;
    targets.push(Target {
        name: super::table::REGISTER_TARGET,
        url: routed_url.clone(),
        pid: routed.pid(),
    });
    sim.check_alive()?;
    gateway.check_alive()?;
    routed.check_alive()?;
    let rows = run_loads(o, &run, &run.out, &targets, &tls).await?;
    let routing_note = offices_asked(&tls, &run.pki, &routed_url, o.population.min(200))
        .await
        .unwrap_or_else(|e| {
            format!("Offices asked per query with register routing: not measured ({e:#}).")
        });
    drop((peer, gateway, routed, sim));
    let mut setup = setup(o, &run, load_before, peer_note);
    setup.routing_note = routing_note;
    let table = write_results(&run.out, &setup, &rows)?;
    if let Some(file) = &o.update_docs {
        super::table::update_docs(file, &table)?;
    }
    Ok(table)
}

/// What the table's header says about this run.
fn setup(o: &BenchOptions, run: &Prepared, load_before: String, peer_note: String) -> Setup {
    Setup {
        command: o.command.clone(),
        load_before,
        load_after: loadavg(),
        offices: run.registry.len(),
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
        routing_note: String::new(),
    }
}

/// Asks the register-routing gateway for the first `n` AHV numbers of the benchmark's
/// population once each and averages `routing.asked`: the offices asked per query
/// (broadcast asks all of them).
async fn offices_asked(
    tls: &rustls::ClientConfig,
    pki: &DevPki,
    url: &str,
    n: usize,
) -> anyhow::Result<String> {
    let client = crate::cli::runtime::portal_client(tls.clone(), "self-service")?;
    let (mut asked, mut queries, mut offices) = (0usize, 0usize, 0usize);
    let population = random_population(n, 1);
    let (tokens, _) = super::Tokens {
        key: &pki.idp.key,
        issuer: crate::pki::idp::DEV_ISSUER,
        audience: crate::pki::idp::DEV_AUDIENCE,
        acr: crate::pki::idp::DEV_ACR,
        portal_cert: &pki.portal.cert,
    }
    .mint(&population, Duration::from_secs(3600))?;
    for (vn, token) in population.iter().zip(&tokens).take(n) {
        let answer: crate::view::AccountView = client
            .get(format!("{url}/v1/accounts/{}", vn.digits()))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let routing = answer.routing.context("the answer has no routing block")?;
        asked += routing.asked;
        offices = routing.asked + routing.not_asked;
        queries += 1;
    }
    anyhow::ensure!(queries > 0, "no query");
    Ok(format!(
        "Register routing (`[routing] mode = \"register\"`, simulated register complete): on \
         average {:.2} of {offices} offices asked per query (over {queries} AHV numbers of \
         the population); broadcast asks all {offices}.",
        asked as f64 / queries as f64
    ))
}

/// Makes the output folders, the adapters with this run's ports, the development PKI and
/// the gateway's configuration.
fn prepare(o: &BenchOptions) -> anyhow::Result<Prepared> {
    let out = std::path::absolute(&o.out)
        .with_context(|| format!("--out: bad path {}", o.out.display()))?;
    let fed = out.join("federation");
    let logs = out.join("logs");
    for d in [&fed, &logs] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let ports = free_ports(count_adapters(&o.adapters)? + 4)?;
    let (gateway_port, peer_port) = (ports[0], ports[1]);
    let (register_gateway_port, register_port) = (ports[2], ports[3]);
    let adapters = fed.join("adapters");
    rewrite_adapters(&o.adapters, &adapters, &ports[4..])?;
    let mappings = MappingSet::load_dir(&o.mappings)?;
    let registry = Registry::load_dir(&adapters, &mappings)?;
    let names: Vec<String> = registry.iter().map(|a| a.office.to_string()).collect();
    let pki = crate::pki::ensure_dev_pki(&fed.join("certs"), &names)?;
    let files = |name, port, audit, routing| GatewayFile {
        name,
        port,
        audit,
        routing,
    };
    let broadcast = files("guichet.toml", gateway_port, "audit", false);
    let config = write_config(
        &fed,
        &pki,
        &adapters,
        &o.mappings,
        register_port,
        &broadcast,
    )?;
    let routed = files(
        "guichet-register.toml",
        register_gateway_port,
        "audit-register",
        true,
    );
    let register_config = write_config(&fed, &pki, &adapters, &o.mappings, register_port, &routed)?;
    Ok(Prepared {
        out,
        logs,
        registry,
        pki,
        config,
        register_config,
        gateway_port,
        register_gateway_port,
        peer_port,
    })
}

/// Installs and starts the Node.js peer when asked for and possible: its URL and process,
/// and the note for the table (empty when it runs).
fn start_peer(o: &BenchOptions, run: &Prepared) -> (Option<(String, Child)>, String) {
    let src = match &o.peer {
        None => return (None, "peer skipped (--no-peer)".to_owned()),
        Some(src) => src,
    };
    if let Some(why) = super::peer::unavailable(src) {
        let note = format!("peer skipped: {why}");
        eprintln!("bench: {note}");
        return (None, note);
    }
    let dir = run.out.join("peer-node");
    eprintln!("bench: installing the Node.js peer in {}", dir.display());
    let started = super::peer::install(src, &dir, &run.logs.join("npm.log"))
        .and_then(|()| super::peer::write_offices(&run.registry, &dir.join("offices.json")))
        .and_then(|()| {
            let log = run.logs.join("peer.log");
            let h2 = !o.peer_http1;
            super::peer::start(&dir, &run.pki, run.peer_port, DEADLINE_MS, h2, &log)
        });
    match started {
        Ok(child) => {
            let url = format!("https://127.0.0.1:{}", run.peer_port);
            (Some((url, child)), String::new())
        }
        Err(e) => {
            let note = format!("peer skipped: {e:#}");
            eprintln!("bench: {note}");
            (None, note)
        }
    }
}

/// The closed-loop levels, then the open-loop rate when it is not 0.
fn loads(o: &BenchOptions) -> Vec<Load> {
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
    loads
}

/// Runs every load against every target, alternating the targets within each load (same
/// load, same AHV numbers); writes one report folder per run.
async fn run_loads(
    o: &BenchOptions,
    run: &Prepared,
    out: &Path,
    targets: &[Target],
    tls: &rustls::ClientConfig,
) -> anyhow::Result<Vec<Row>> {
    let population = random_population(o.population, 1);
    // Every query carries its person's end-user token, as from a real portal.
    let (tokens, cost) = super::Tokens {
        key: &run.pki.idp.key,
        issuer: crate::pki::idp::DEV_ISSUER,
        audience: crate::pki::idp::DEV_AUDIENCE,
        acr: crate::pki::idp::DEV_ACR,
        portal_cert: &run.pki.portal.cert,
    }
    .mint(&population, Duration::from_secs(24 * 3600))?;
    let mut rows = Vec::new();
    for load in loads(o) {
        let tag = match load {
            Load::Closed { concurrency } => format!("c{concurrency}"),
            Load::Open { rate, .. } => format!("r{rate}"),
        };
        for target in targets {
            let plan = Plan {
                targets: vec![super::parse_target(&target.url)?],
                load,
                duration: o.duration,
                warmup: o.warmup,
                timeout: Duration::from_secs(10),
                http: HttpVersion::Http1,
                population: population.clone(),
                tokens: tokens.clone(),
                progress: true,
                label: format!("{} {tag}", target.name),
            };
            eprintln!("bench: {} …", plan.label);
            let cpu0 = cpu_seconds(target.pid);
            let mut report = super::run(&plan, tls.clone()).await?;
            report.token_verify_us = Some(cost.verify_us);
            let cpu = cpu_seconds(target.pid) - cpu0;
            let dir = out.join(format!("{}-{tag}", target.name.replace(' ', "-")));
            write_report(&report, &dir)?;
            eprint!("{}", report.summary());
            rows.push(Row {
                target: target.name.to_owned(),
                report,
                server_cpu_s: cpu,
            });
        }
    }
    Ok(rows)
}

/// Writes `results.md` and `results.json`; returns the markdown table.
fn write_results(out: &Path, setup: &Setup, rows: &[Row]) -> anyhow::Result<String> {
    let table = markdown(setup, rows);
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

/// What differs between the benchmark's two gateways.
struct GatewayFile<'a> {
    /// Configuration file name in the federation folder.
    name: &'a str,
    /// Portal port.
    port: u16,
    /// Audit folder name.
    audit: &'a str,
    /// `[routing] mode = "register"` towards the simulated register.
    routing: bool,
}

fn write_config(
    dir: &Path,
    pki: &DevPki,
    adapters: &Path,
    mappings: &Path,
    register_port: u16,
    g: &GatewayFile<'_>,
) -> anyhow::Result<PathBuf> {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let port = g.port;
    let routing = if g.routing {
        format!(
            "[routing]\nmode = \"register\"\nendpoint = \"https://127.0.0.1:{register_port}/register\"\n\
             identity = \"urn:guichet:register:zas\"\n\n"
        )
    } else {
        String::new()
    };
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n\n\
         [offices]\nadapters = {:?}\nmappings = {:?}\nca = {:?}\nclient_cert = {:?}\nclient_key = {:?}\n\
         deadline_ms = {DEADLINE_MS}\ntest_delivery = true\nallow_loopback = true\n\n[simulator]\ncerts = {:?}\n\
         register_listen = \"127.0.0.1:{register_port}\"\n\n{routing}\
         [protection]\nportal_queries_per_second = 1000000\nportal_burst = 1000000\nmax_queries_in_flight = 4096\n\n\
         [privacy.portals]\ndemo = [\"self-service\"]\n\n\
         [identity]\naudience = {:?}\n[[identity.issuers]]\nissuer = {:?}\njwks = {:?}\nacr = [{:?}]\n\n\
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
        crate::pki::idp::DEV_AUDIENCE,
        crate::pki::idp::DEV_ISSUER,
        abs(&pki.idp.jwks),
        crate::pki::idp::DEV_ACR,
        abs(&dir.join(g.audit)),
        abs(&dir.join("audit-hmac.key")),
    );
    crate::cli::runtime::ensure_audit_secret(&dir.join("audit-hmac.key"))?;
    let path = dir.join(g.name);
    std::fs::write(&path, text)?;
    Ok(path)
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

#[cfg(test)]
mod tests;
