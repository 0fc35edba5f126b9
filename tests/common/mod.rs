//! A whole development federation in one test process: a dev PKI generated in a temporary
//! folder, the 101 shipped adapters served by simulated offices on 127.0.0.1 port 0, and a
//! gateway on port 0 in front of them, with reloadable TLS material.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use guichet::adapter::Registry;
use guichet::cli::runtime;
use guichet::config::Config;
use guichet::model::OfficeId;
use guichet::pki::{Ca, DevPki};
use guichet::server::State;
use guichet::sim::{Fault, Latency, Simulator};

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
    pub state: Arc<State>,
    stop_sim: tokio::sync::watch::Sender<bool>,
    stop_gateway: Option<tokio::sync::oneshot::Sender<()>>,
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
            crl: false,
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
            protection: "",
            faults: &BTreeMap::new(),
            crl,
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
        let registry = runtime::load_registry(&config).expect("registry");
        let pki = runtime::dev_pki(&config, &registry).expect("dev pki");
        std::fs::copy(&pki.ca_cert, certs.join("client-ca.pem")).expect("client ca");
        if o.crl {
            let ca = Ca::load(&pki.ca_cert, &pki.ca_key).expect("ca");
            write_crl(&ca, &[], &certs.join("federation.crl.pem"));
        }
        let sim = runtime::simulator(&registry, o.latency);
        let mut served = pki.clone();
        tweak(&mut served);
        let listeners = runtime::bind_offices(&registry, &served, true, o.faults)
            .await
            .expect("bind offices");
        let endpoints = guichet::sim::endpoints(&listeners, &runtime::endpoint_paths(&registry));
        let (stop_sim, stopped) = tokio::sync::watch::channel(false);
        for (office, fault) in o.faults {
            sim.set_fault(*office, Some(fault.clone()));
        }
        guichet::sim::spawn(Arc::clone(&sim), listeners, stopped);
        let live = registry.with_endpoints(&endpoints);
        let state = runtime::build_state(&config, live).expect("state");
        let tls = state.reloader.as_ref().expect("reloader").subscribe();
        guichet::server::reload::spawn_watch(&state, Duration::from_secs(1));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let gateway = listener.local_addr().expect("addr");
        let (stop_gateway, quitting) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(guichet::server::run_watched(
            listener,
            tls,
            Arc::clone(&state),
            Duration::from_secs(2),
            async {
                let _ = quitting.await;
            },
        ));
        Federation {
            dir,
            pki,
            config,
            registry,
            sim,
            gateway,
            state,
            stop_sim,
            stop_gateway: Some(stop_gateway),
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
        let ca = Ca::load(&self.pki.ca_cert, &self.pki.ca_key).expect("ca");
        let id = guichet::pki::Identity::new(role, name).expect("identity");
        let leaf = ca
            .issue(&guichet::pki::LeafSpec::new(id, 30))
            .expect("leaf");
        let dir = self.dir.path().join("clients");
        let (cert, key) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        leaf.write(&cert, &key).expect("write");
        self.client_with(Some((&cert, &key)), &self.pki.ca_cert)
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.gateway)
    }

    pub fn stop(&mut self) {
        let _ = self.stop_sim.send(true);
        if let Some(s) = self.stop_gateway.take() {
            let _ = s.send(());
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

[offices]
adapters = "{r}/adapters"
mappings = "{r}/mappings"
ca = "{c}/federation-ca.pem"
client_cert = "{c}/gateway-client.pem"
client_key = "{c}/gateway-client.key"
deadline_ms = {deadline_ms}
test_delivery = true
{crl_line}

[protection]
{protection}

[privacy]
purposes = ["self-service", "pension-calculation", "benefit-review"]

[privacy.portals]
demo = ["self-service", "pension-calculation", "benefit-review"]
other-portal = ["self-service", "pension-calculation", "benefit-review"]
other = ["self-service", "pension-calculation", "benefit-review"]
narrow = ["benefit-review"]
leaky = ["self-service", "pension-calculation", "benefit-review"]
newportal = ["self-service", "pension-calculation", "benefit-review"]

[audit]
dir = "{a}"
hmac_key_file = "{c}/audit-hmac.key"
max_file_bytes = 4096
fsync = false
unsafe_no_fsync = true
"#,
        c = c.display(),
        r = repo().display(),
        a = dir.join("audit").display(),
        deadline_ms = o.deadline_ms,
        protection = o.protection,
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
