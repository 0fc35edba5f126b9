//! A whole development federation in one test process: a dev PKI generated in a temporary
//! folder, the 101 shipped adapters served by simulated offices on 127.0.0.1 port 0
//! (`sim::Federation`), a copy of the adapters pointing at them, and a gateway built by
//! `Gateway::build` on port 0 (operations listener too) in front of them.
#![allow(dead_code)]

#[path = "../support/issue.rs"]
mod issue;
#[path = "../support/timeouts.rs"]
mod timeouts;
#[path = "../support/tokens.rs"]
pub mod tokens;

pub use timeouts::PATIENT_MS;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use guichet::adapter::Registry;
use guichet::cli::runtime;
use guichet::config::Config;
use guichet::gateway::Gateway;
use guichet::model::OfficeId;
use guichet::pki::{Ca, DevPki};
use guichet::server::State;
use guichet::sim::{Fault, Federation as SimFederation, FederationOptions, Latency, Simulator};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Federation {
    pub dir: tempfile::TempDir,
    pub pki: DevPki,
    pub config: Config,
    pub registry: Registry,
    pub sim: Arc<Simulator>,
    pub gateway: SocketAddr,
    /// The operations listener (`/metrics`, `/healthz`).
    pub ops: SocketAddr,
    pub state: Arc<State>,
    /// Where the simulated account register listens (`https://127.0.0.1:PORT/register`).
    pub register: reqwest::Url,
    offices: SimFederation,
    stop_gateway: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
    /// One federation at a time per test binary: 2 cores, 101 listeners each, and
    /// deadlines that mean something only on a machine that is not overbooked.
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

static TURN: std::sync::LazyLock<Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(|| Arc::new(tokio::sync::Mutex::new(())));

/// Everything a test may vary.
pub struct Options<'a> {
    pub latency: Latency,
    pub deadline_ms: u64,
    /// Extra lines for `[protection]`.
    pub protection: &'a str,
    /// Faults injected in the simulator (also those acting when listeners are bound).
    pub faults: &'a BTreeMap<OfficeId, Fault>,
    /// With `crl`: both `[server]` and `[offices]` check `certs/federation.crl.pem`, which
    /// starts empty (signed by the dev CA).
    pub crl: bool,
    /// Extra lines for `[server]` (connection limits).
    pub server: &'a str,
    /// Offices with an adapter timeout of their own (ms); every other adapter gets
    /// [`PATIENT_MS`] so that a busy machine never turns a healthy office into a timeout.
    pub office_timeouts: &'a [(&'a str, u64)],
    /// The `[identity]` section; default:
    /// the development identity provider of the harness's PKI.
    pub identity: Option<&'a str>,
    /// Starts the simulated sedex clients (folders under the test's temporary folder,
    /// no delivery delay) before the adapters are written, so sedex funds use them.
    pub sedex: bool,
    /// Extra sections appended to the configuration (`[delivery]`, `[store]`).
    pub extra: &'a str,
    /// Lines of a `[routing]` section (empty: none); `endpoint` and `identity` of the
    /// simulated register are added.
    pub routing: &'a str,
}

static NO_FAULTS: BTreeMap<OfficeId, Fault> = BTreeMap::new();

impl Default for Options<'_> {
    /// Healthy offices without latency, a patient deadline, nothing else.
    fn default() -> Self {
        Options {
            latency: Latency::ZERO,
            deadline_ms: PATIENT_MS,
            protection: "",
            faults: &NO_FAULTS,
            crl: false,
            server: "",
            office_timeouts: &[],
            identity: None,
            sedex: false,
            extra: "",
            routing: "",
        }
    }
}

impl Federation {
    pub async fn start(latency: Latency, deadline_ms: u64) -> Federation {
        Federation::start_with(latency, deadline_ms, |_| {}).await
    }

    /// Like `start`, with a change to the PKI the simulated offices serve with.
    pub async fn start_with(
        latency: Latency,
        deadline_ms: u64,
        tweak: impl FnOnce(&mut DevPki),
    ) -> Federation {
        Federation::launch(latency, deadline_ms, "", &BTreeMap::new(), tweak).await
    }

    /// Extra `[protection]` lines and faults.
    pub async fn launch(
        latency: Latency,
        deadline_ms: u64,
        protection: &str,
        faults: &BTreeMap<OfficeId, Fault>,
        tweak: impl FnOnce(&mut DevPki),
    ) -> Federation {
        let o = Options {
            latency,
            deadline_ms,
            protection,
            faults,
            ..Options::default()
        };
        Federation::build(o, tweak).await
    }

    /// With CRLs checked on both sides. The ingress trusts `certs/client-ca.pem`, a copy of
    /// the dev CA that tests may replace.
    pub async fn start_full(
        latency: Latency,
        deadline_ms: u64,
        crl: bool,
        tweak: impl FnOnce(&mut DevPki),
    ) -> Federation {
        let o = Options {
            latency,
            deadline_ms,
            crl,
            ..Options::default()
        };
        Federation::build(o, tweak).await
    }

    pub async fn build(o: Options<'_>, tweak: impl FnOnce(&mut DevPki)) -> Federation {
        let turn = Arc::clone(&TURN).lock_owned().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        let config_path = dir.path().join("guichet.toml");
        std::fs::write(&config_path, config_text(&o, dir.path())).expect("write config");
        let config = Config::load(&config_path).expect("config");
        let mappings =
            guichet::mapping::MappingSet::load_dir(&config.offices.mappings).expect("mappings");
        let registry = Registry::load_dir(&repo().join("adapters"), &mappings).expect("registry");
        let pki = runtime::dev_pki(&config, &registry).expect("dev pki");
        std::fs::copy(&pki.ca_cert, certs.join("client-ca.pem")).expect("client ca");
        if o.crl {
            let ca = Ca::load(&pki.ca_cert, &pki.ca_key).expect("ca");
            write_crl(&ca, &[], &certs.join("federation.crl.pem"));
        }
        let mut served = pki.clone();
        tweak(&mut served);
        let options = FederationOptions {
            latency: o.latency,
            faults: o.faults,
            ephemeral: true,
            register: Some(guichet::sim::REGISTER_EPHEMERAL),
        };
        let offices = SimFederation::start(&registry, &served, options)
            .await
            .expect("simulated offices");
        if o.sedex {
            let sedex = guichet::sim::SedexOptions::new(
                dir.path().join("sedex"),
                std::time::Duration::ZERO,
            );
            offices.start_sedex(&sedex).expect("sedex clients");
        }
        offices
            .write_adapters(&repo().join("adapters"), &config.offices.adapters)
            .expect("adapters");
        timeouts::set_office_timeouts(&config.offices.adapters, o.office_timeouts);
        let config = if o.routing.is_empty() {
            config
        } else {
            // The register's port is known once it listens.
            let url = offices.register_endpoint().expect("the register is served");
            let mut text = std::fs::read_to_string(&config_path).expect("config");
            text.push_str(&format!(
                "\n[routing]\nendpoint = \"{url}\"\nidentity = \"urn:guichet:register:zas\"\n{}\n",
                o.routing
            ));
            std::fs::write(&config_path, text).expect("write config");
            Config::load(&config_path).expect("config with [routing]")
        };
        let gateway = Gateway::build(&config).expect("gateway");
        let state = Arc::clone(gateway.state());
        let listener = guichet::net::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let ops = guichet::net::bind("127.0.0.1:0").await.expect("bind ops");
        let (addr, ops_addr) = (
            listener.local_addr().expect("addr"),
            ops.local_addr().expect("addr"),
        );
        let (stop_gateway, quitting) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(gateway.serve(listener, Some(ops), async {
            let _ = quitting.await;
        }));
        let register = offices
            .register_endpoint()
            .cloned()
            .expect("the register is served");
        Federation {
            dir,
            pki,
            config,
            registry,
            sim: Arc::clone(offices.simulator()),
            register,
            gateway: addr,
            ops: ops_addr,
            state,
            offices,
            stop_gateway: Some(stop_gateway),
            served: Some(served),
            _turn: turn,
        }
    }

    /// A client presenting `cert`/`key` (PEM files) and trusting `ca`; it states the
    /// purpose `self-service`, which the portal `demo` may use.
    pub fn client_with(
        &self,
        cert: Option<(&std::path::Path, &std::path::Path)>,
        ca: &std::path::Path,
    ) -> reqwest::Client {
        let roots = guichet::tls::load_certs(ca).expect("ca");
        let identity = cert.map(|(c, k)| {
            (
                guichet::tls::load_certs(c).expect("cert"),
                guichet::tls::load_key(k).expect("key"),
            )
        });
        let tls = guichet::tls::client_config(&roots, identity).expect("client tls");
        runtime::portal_client(tls, "self-service").expect("client")
    }

    pub fn portal(&self) -> reqwest::Client {
        self.client_with(
            Some((&self.pki.portal.cert, &self.pki.portal.key)),
            &self.pki.ca_cert,
        )
    }

    /// A client with a certificate of `role:name`, freshly issued by the federation CA.
    pub fn client_as(&self, role: guichet::pki::Role, name: &str) -> reqwest::Client {
        let dir = self.dir.path().join("clients");
        let (cert, key) = issue::issue_client(&self.pki, &dir, role, name);
        self.client_with(Some((&cert, &key)), &self.pki.ca_cert)
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.gateway)
    }

    /// Claims `office` received (distinct message ids, all deliveries).
    pub fn claims(&self, office: OfficeId) -> guichet::sim::apg::ClaimCounts {
        self.offices.claims(office)
    }

    /// The sedex folder of `office` (with `sedex`).
    pub fn sedex_folder(&self, office: OfficeId) -> Option<PathBuf> {
        self.offices.sedex_folder(office)
    }

    /// The end user's token for `vn` (development identity provider), bound to the
    /// certificate of [`Federation::portal`]: what a self-service query carries.
    pub fn token(&self, vn: guichet::model::Vn) -> String {
        tokens::mint(&self.pki, vn, &self.pki.portal.cert)
    }

    /// [`Self::token`] of an AHV number written out (tests with a fixed number).
    pub fn token_of(&self, vn: &str) -> String {
        self.token(vn.parse().expect("a valid AHV number"))
    }

    /// The token for `vn` bound to the certificate of [`Federation::client_as`]`(_, name)`.
    pub fn token_as(&self, name: &str, vn: guichet::model::Vn) -> String {
        let cert = self.dir.path().join("clients").join(format!("{name}.pem"));
        tokens::mint(&self.pki, vn, &cert)
    }

    pub fn stop(&mut self) {
        self.offices.stop();
        if let Some(s) = self.stop_gateway.take() {
            let _ = s.send(());
        }
    }

    /// Stops the gateway and waits until both its listeners have drained.
    pub async fn shutdown(&mut self) {
        self.stop();
        if let Some(served) = self.served.take() {
            served.await.expect("gateway task");
        }
    }
}

fn config_text(o: &Options<'_>, dir: &std::path::Path) -> String {
    let c = dir.join("certs");
    let crl_line = if o.crl {
        format!("crl = \"{}/federation.crl.pem\"", c.display())
    } else {
        String::new()
    };
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
cert = "{c}/gateway-server.pem"
key = "{c}/gateway-server.key"
client_ca = "{c}/client-ca.pem"
grace_period_ms = 2000
{crl_line}
{server}

[offices]
adapters = "{d}/adapters"
mappings = "{r}/mappings"
ca = "{c}/federation-ca.pem"
client_cert = "{c}/gateway-client.pem"
client_key = "{c}/gateway-client.key"
deadline_ms = {deadline_ms}
test_delivery = true
allow_loopback = true
{crl_line}

[protection]
{protection}

[privacy]
purposes = ["self-service", "pension-calculation", "benefit-review", "claim"]

[privacy.portals]
demo = ["self-service", "pension-calculation", "benefit-review", "claim"]
other-portal = ["self-service", "pension-calculation", "benefit-review", "claim"]
other = ["self-service", "pension-calculation", "benefit-review"]
narrow = ["benefit-review"]
leaky = ["self-service", "pension-calculation", "benefit-review"]
newportal = ["self-service", "pension-calculation", "benefit-review"]

{identity}
[audit]
dir = "{a}"
hmac_key_file = "{c}/audit-hmac.key"
max_file_bytes = 4096
fsync = false
unsafe_no_fsync = true

[seal]
cert = "{c}/seal-guichet.pem"
key = "{c}/seal-guichet.key"
ca = "{c}/federation-ca.pem"

[console]
key_file = "{c}/console.key"

{extra}
"#,
        c = c.display(),
        r = repo().display(),
        a = dir.join("audit").display(),
        d = dir.display(),
        deadline_ms = o.deadline_ms,
        protection = o.protection,
        server = o.server,
        identity = o
            .identity
            .map_or_else(|| tokens::identity_section(&c), str::to_owned),
        extra = o.extra,
    )
}

/// Writes a CRL of `ca` revoking `serials` (hex) as PEM, atomically.
pub fn write_crl(ca: &Ca, serials: &[&str], path: &std::path::Path) {
    let now = time::OffsetDateTime::now_utc();
    let revoked: Vec<(&str, time::OffsetDateTime)> = serials.iter().map(|s| (*s, now)).collect();
    let text = ca.crl_pem(&revoked, 7).expect("crl");
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write crl");
    std::fs::rename(&tmp, path).expect("rename crl");
}

impl Drop for Federation {
    fn drop(&mut self) {
        self.stop();
    }
}
