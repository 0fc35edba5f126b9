//! `guichet demo`: a newcomer's first run. Makes a development PKI if there is none,
//! starts the simulated federation and the gateway on loopback in this process, asks for
//! one sample person as a portal would, prints the account readably, submits that person's
//! EO/APG claim and prints its receipts and final state (`demo_claim.rs`), then keeps serving.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::runtime;
use super::serve::shutdown_signal;
use crate::config::{Config, RegisterEndpoint, RegisterFallback, RoutingConfig};
use crate::gateway::Gateway;
use crate::model::{Identity, Role, RoutingMode, Vn};
use crate::sim::{self, Latency};
use crate::view::AccountView;

/// Options of `guichet demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Exit after the sample query.
    pub once: bool,
    /// The sample person; by default one with accounts at several funds and an IV case.
    pub vn: Option<Vn>,
}

/// The demo's running parts: simulated offices on port 0, and the gateway administering a
/// temporary copy of the adapters that points at them. Stopped by [`Running::stop`].
#[derive(Debug)]
pub struct Running {
    /// The configuration in use (`offices.adapters` is the temporary copy).
    pub config: Config,
    /// The development PKI.
    pub pki: crate::pki::DevPki,
    /// The gateway's portal listener.
    pub addr: std::net::SocketAddr,
    /// The operations listener, if `admin.listen` could be bound.
    pub ops: Option<std::net::SocketAddr>,
    federation: sim::Federation,
    quit: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    scratch: Scratch,
    /// The sedex funds' folders (simulated sedex clients).
    sedex: Scratch,
}

impl Running {
    /// Starts the offices and the gateway of the configuration at `config_path`. The
    /// repository's adapters folder is only read: the gateway administers a temporary
    /// copy, so that the write routes work and leave the repository alone.
    pub async fn start(config_path: &Path) -> anyhow::Result<Running> {
        let mut config = Config::load(config_path)?;
        let registry = runtime::load_registry(&config)?;
        let pki = runtime::dev_pki(&config, &registry)?;
        let latency = Latency {
            median: config.simulator.latency_median,
            p99: config.simulator.latency_p99,
        };
        let no_faults = std::collections::BTreeMap::new();
        let options = sim::FederationOptions {
            latency,
            faults: &no_faults,
            ephemeral: true,
            register: Some(sim::REGISTER_EPHEMERAL),
        };
        let federation = sim::Federation::start(&registry, &pki, options).await?;
        federation
            .simulator()
            .set_register_lag(runtime::register_lag(&config));
        if let Some(url) = federation.register_endpoint() {
            config.routing = Some(demo_routing(config.routing.take(), url.clone())?);
        }
        let scratch = Scratch::new()?;
        let sedex = Scratch::new()?;
        federation.start_sedex(&sim::SedexOptions::new(
            &sedex.0,
            config.simulator.sedex.delay,
        ))?;
        federation.write_adapters(&config.offices.adapters, &scratch.0)?;
        config.offices.adapters = scratch.0.clone();
        let gateway = Gateway::build(&config)?;
        gateway.reload_on_sighup();
        let (listener, ops) = match super::serve::bind_listeners(&config).await {
            Ok(bound) => bound,
            // A gateway already running on the configured ports: the demo takes free ones.
            Err(_) => (
                crate::net::bind("127.0.0.1:0")
                    .await
                    .context("cannot listen on 127.0.0.1")?,
                None,
            ),
        };
        let addr = listener.local_addr()?;
        let ops_addr = ops.as_ref().and_then(|l| l.local_addr().ok());
        let (quit, quitting) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(gateway.serve(listener, ops, async {
            let _ = quitting.await;
        }));
        Ok(Running {
            config,
            pki,
            addr,
            ops: ops_addr,
            federation,
            quit,
            server,
            scratch,
            sedex,
        })
    }

    /// An end-user token of the development identity provider for `vn`, bound to the
    /// demo portal's certificate, valid for `ttl` (what the federal login would give the
    /// portal for a person logged in there).
    pub fn token(&self, vn: Vn, ttl: std::time::Duration) -> anyhow::Result<String> {
        use crate::pki::idp;
        let signer = idp::Signer::load(&self.pki.idp.key, idp::DEV_ISSUER)?;
        let portal = idp::thumbprint_of_pem(&self.pki.portal.cert)?;
        Ok(signer.mint(&idp::Grant {
            vn,
            portal: &portal,
            audience: &self.config.identity.audience,
            acr: idp::DEV_ACR,
            ttl,
        })?)
    }

    /// The simulator playing the offices.
    pub fn simulator(&self) -> &Arc<sim::Simulator> {
        self.federation.simulator()
    }

    /// Drains the gateway, stops the offices, removes the temporary adapters.
    pub async fn stop(self) {
        let _ = self.quit.send(());
        let _ = self.server.await;
        self.federation.stop();
        drop(self.scratch);
        drop(self.sedex);
    }
}

/// Register routing towards the demo's simulated register at `url`: the configured
/// `[routing]` with its endpoint moved there (a `broadcast` one becomes `register`), or,
/// without the section, `register` mode with the defaults of `[routing]` (300 ms, fallback
/// `broadcast`, one-minute cache).
fn demo_routing(
    configured: Option<RoutingConfig>,
    url: reqwest::Url,
) -> anyhow::Result<RoutingConfig> {
    let mut routing = configured.unwrap_or(RoutingConfig {
        mode: RoutingMode::Register,
        register: None,
        on_register_failure: RegisterFallback::Broadcast,
        cache_ttl: Some(std::time::Duration::from_secs(60)),
        cache_max_entries: 100_000,
    });
    if routing.mode == RoutingMode::Broadcast {
        routing.mode = RoutingMode::Register;
    }
    let register = match routing.register.take() {
        Some(r) => RegisterEndpoint { endpoint: url, ..r },
        None => RegisterEndpoint {
            endpoint: url,
            identity: Identity::new(Role::Register, sim::register::REGISTER_NAME)?,
            dialect: "ech-register".to_owned(),
            timeout: std::time::Duration::from_millis(300),
            max_answer_bytes: 256 * 1024,
            max_rate_per_second: None,
            max_concurrency: None,
        },
    };
    routing.register = Some(register);
    Ok(routing)
}

/// Runs the demo; returns when done (`--once`) or on Ctrl-C.
pub async fn demo(config_path: &Path, options: DemoOptions) -> anyhow::Result<()> {
    let run = Running::start(config_path).await?;
    print_banner(&run);
    let vn = options.vn.unwrap_or_else(|| sample_person(run.simulator()));
    let portal = portal_client(&run.pki)?;
    let token = run.token(vn, std::time::Duration::from_secs(300))?;
    let started = Instant::now();
    let account = sample_query(&portal, run.addr, vn, &token).await?;
    print!("{}", render_account(&account, vn, started.elapsed()));
    println!();
    // The other direction: the same person's loss-of-earnings claim, routed, delivered,
    // acknowledged, with its receipts.
    print!(
        "{}",
        super::demo_claim::submit_sample(&run, &portal, vn, &token).await?
    );
    super::demo_messages::show(&run, &portal, vn, &token).await?;
    println!();
    let example: Vn = "756.1234.5678.97".parse()?;
    let example_token = run.token(example, std::time::Duration::from_secs(3600))?;
    println!(
        "Ask as the person logged in at the portal (self-service needs their token, bound to the \
         portal's certificate; this one is valid for an hour):"
    );
    println!(
        "  curl -H 'Purpose: self-service' -H 'Authorization: Bearer {example_token}' --cert {} --key {} --cacert {} https://{}/v1/accounts/756.1234.5678.97",
        run.pki.portal.cert.display(),
        run.pki.portal.key.display(),
        run.pki.ca_cert.display(),
        run.addr
    );
    println!(
        "Anyone else (the population is synthetic): mint their token with\n  \
         cargo run -- token --vn <AHV number> --portal-cert {} --key {} --audience {}",
        run.pki.portal.cert.display(),
        run.pki.idp.key.display(),
        run.config.identity.audience
    );
    if !options.once {
        println!();
        println!("Serving until Ctrl-C.");
        shutdown_signal().await;
    }
    run.stop().await;
    Ok(())
}

/// What runs where: PKI, offices, gateway, metrics, adapters, audit.
fn print_banner(run: &Running) {
    let (config, pki) = (&run.config, &run.pki);
    println!("guichet demo — a development federation on loopback");
    println!(
        "  PKI       {} (federation CA, gateway, portal, {} offices; keys 0600, git-ignored)",
        pki.dir.display(),
        pki.offices.len()
    );
    println!(
        "  offices   {} simulated offices on 127.0.0.1 ({})",
        run.federation.endpoints().len(),
        dialect_summary(run.simulator())
    );
    if let Some(url) = run.federation.register_endpoint() {
        let lag = run.simulator().register_lag();
        println!(
            "  register  {url} (urn:guichet:register:zas; lag {} days, {:.0} % newest missing, {:.0} % closed still listed)",
            lag.lag_days,
            lag.missing_newest_share * 100.0,
            lag.stale_closed_share * 100.0
        );
    }
    println!("  gateway   https://{}", run.addr);
    if let Some(a) = run.ops {
        println!("  metrics   http://{a}/metrics");
    }
    println!(
        "  adapters  {} (a temporary copy the gateway administers)",
        config.offices.adapters.display()
    );
    println!(
        "  audit     {} (check it with `guichet audit verify {} --public-key {}`)",
        config.audit.dir.display(),
        config.audit.dir.display(),
        crate::audit::keys::public_key_path(&config.audit.checkpoint_key_file).display()
    );
    println!();
}

/// `GET /v1/accounts/{vn}` with the portal certificate; a problem document becomes an
/// error with its detail.
async fn sample_query(
    portal: &reqwest::Client,
    addr: std::net::SocketAddr,
    vn: Vn,
    token: &str,
) -> anyhow::Result<crate::view::AccountView> {
    let url = format!("https://{addr}/v1/accounts/{}", vn.digits());
    let response = portal
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .context("the sample query failed")?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .context("the gateway's answer could not be read")?;
    if !status.is_success() {
        let problem = serde_json::from_slice::<crate::view::ProblemView>(&body).map_or_else(
            |_| String::from_utf8_lossy(&body).into_owned(),
            |p| p.detail,
        );
        anyhow::bail!("the gateway answered {status}: {problem}");
    }
    serde_json::from_slice(&body).context("the gateway's answer is not an account")
}

/// A folder under the system's temporary folder, removed when dropped.
#[derive(Debug)]
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let mut nonce = [0u8; 8];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| anyhow::anyhow!("no randomness"))?;
        let name: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("guichet-demo-{name}"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn portal_client(pki: &crate::pki::DevPki) -> anyhow::Result<reqwest::Client> {
    let roots = crate::tls::load_certs(&pki.ca_cert)?;
    let chain = crate::tls::load_certs(&pki.portal.cert)?;
    let key = crate::tls::load_key(&pki.portal.key)?;
    let config = crate::tls::client_config(&roots, Some((chain, key)))?;
    runtime::portal_client(config, "self-service")
}

fn dialect_summary(simulator: &sim::Simulator) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for o in simulator.offices() {
        *counts.entry(o.dialect.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(d, n)| format!("{n} {d}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first person from a fixed serial with accounts at three or more funds, a reversal
/// and an IV case: deterministic, and it shows every part of an account.
fn sample_person(simulator: &sim::Simulator) -> Vn {
    (0..5_000u32)
        .map(|i| Vn::from_serial(123_456_789 + i))
        .find(|vn| {
            let p = simulator.person(*vn);
            let reversal = p
                .accounts
                .values()
                .flatten()
                .any(|e| e.income_code.is_reversal());
            p.accounts.len() >= 3 && !p.iv_cases.is_empty() && reversal
        })
        .unwrap_or_else(|| Vn::from_serial(123_456_789))
}

/// The consolidated account as a person would read it.
pub fn render_account(a: &AccountView, vn: Vn, elapsed: std::time::Duration) -> String {
    let mut out = String::new();
    let answered = a
        .sources
        .iter()
        .filter(|x| matches!(x.status.as_str(), "ok" | "no_account"))
        .count();
    let _ = writeln!(
        out,
        "Consolidated account of {}: {} ({answered} of {} offices answered) in {} ms",
        vn.dotted(),
        if a.complete { "complete" } else { "INCOMPLETE" },
        a.sources.len(),
        elapsed.as_millis()
    );
    let _ = writeln!(out, "\n  Year   Net income CHF  Months  Offices");
    for y in &a.years {
        let offices: std::collections::BTreeSet<&str> = a
            .entries
            .iter()
            .filter(|e| e.year == y.year)
            .map(|e| e.office.as_str())
            .collect();
        let offices: Vec<&str> = offices.into_iter().collect();
        let _ = writeln!(
            out,
            "  {}  {:>15}  {:>6}  {}",
            y.year,
            swiss(&y.income),
            y.months,
            offices.join(" ")
        );
    }
    if let Some(r) = &a.routing {
        let as_of = r
            .register
            .as_of
            .as_deref()
            .map(|d| format!(", asOf {d}"))
            .unwrap_or_default();
        let fallback = if r.fallback {
            " — the register failed, every office was asked"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  Routing {}: register {} ({} ms{as_of}); asked {} of {} offices, {} never learnt of the query{fallback}",
            r.mode,
            r.register.status,
            r.register.latency_ms,
            r.asked,
            r.asked + r.not_asked,
            r.not_asked
        );
    }
    let gaps: Vec<String> = a.gaps.iter().map(ToString::to_string).collect();
    let gaps = if gaps.is_empty() {
        "none".to_owned()
    } else {
        gaps.join(", ")
    };
    let _ = writeln!(out, "  Gaps: {gaps}");
    let reversals = a.entries.iter().filter(|e| e.reversal).count();
    let _ = writeln!(
        out,
        "  {} entries, {reversals} of them reversals (each matched to the entry it cancels)",
        a.entries.len()
    );
    render_iv_cases(&mut out, a);
    render_sources(&mut out, a);
    out
}

fn render_iv_cases(out: &mut String, a: &AccountView) {
    let _ = writeln!(out, "\nIV cases");
    if a.iv_cases.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for c in &a.iv_cases {
        let degree = c.degree.map(|d| format!(" {d} %")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}  {}  {} {}{degree}",
            c.office, c.decision_number, c.benefit, c.status
        );
    }
}

fn render_sources(out: &mut String, a: &AccountView) {
    let _ = writeln!(out, "\nOffices");
    for x in a.sources.iter().filter(|x| x.status != "no_account") {
        let detail = x
            .detail
            .as_deref()
            .map(|d| format!(" — {d}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<11} {}  {} ({} ms){detail}",
            x.status, x.office, x.name, x.latency_ms
        );
    }
    let none = a
        .sources
        .iter()
        .filter(|x| x.status == "no_account")
        .count();
    let _ = writeln!(
        out,
        "  no_account  {none} other offices hold nothing for this person"
    );
}

/// `1234567.50` → `1'234'567.50`, the Swiss way of writing francs.
fn swiss(amount: &str) -> String {
    let (sign, rest) = amount.strip_prefix('-').map_or(("", amount), |r| ("-", r));
    let (int, frac) = rest.split_once('.').unwrap_or((rest, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('\'');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::swiss;

    #[test]
    fn swiss_grouping() {
        assert_eq!(swiss("1234567.50"), "1'234'567.50");
        assert_eq!(swiss("-43100.50"), "-43'100.50");
        assert_eq!(swiss("0.00"), "0.00");
        assert_eq!(swiss("999.99"), "999.99");
    }
}
