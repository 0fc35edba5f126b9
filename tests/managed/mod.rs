//! A gateway that administers its own adapters folder, for the adapter API tests: the 101
//! shipped adapters copied into a temporary folder with the endpoints of simulated offices
//! bound on 127.0.0.1 port 0 (`sim::Federation`), the gateway built by `Gateway::build`
//! (store, file watcher polling every 200 ms) and served on port 0. Every adapter copy
//! has a timeout of [`PATIENT_MS`], as has the query deadline.
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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use guichet::adapter::{Registry, Store};
use guichet::cli::runtime;
use guichet::config::Config;
use guichet::gateway::Gateway;
use guichet::model::OfficeId;
use guichet::pki::{DevPki, Role};
use guichet::server::State;
use guichet::sim::{Federation as SimFederation, FederationOptions, Latency, SimOffice, Simulator};

static TURN: std::sync::LazyLock<Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(|| Arc::new(tokio::sync::Mutex::new(())));

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn id(s: &str) -> OfficeId {
    s.parse().expect("office id")
}

pub struct Managed {
    pub dir: tempfile::TempDir,
    pub adapters: PathBuf,
    pub pki: DevPki,
    pub config: Config,
    pub sim: Arc<Simulator>,
    pub store: Arc<Store>,
    pub state: Arc<State>,
    pub gateway: SocketAddr,
    /// The simulated offices (and any `second_home`), stopped when dropped.
    offices: Mutex<Vec<SimFederation>>,
    stop_gateway: Option<tokio::sync::oneshot::Sender<()>>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Managed {
    pub async fn start() -> Managed {
        let turn = Arc::clone(&TURN).lock_owned().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let (certs, adapters) = (dir.path().join("certs"), dir.path().join("adapters"));
        let config_path = dir.path().join("guichet.toml");
        std::fs::write(
            &config_path,
            format!(
                r#"
[server]
listen = "127.0.0.1:0"
cert = "{c}/gateway-server.pem"
key = "{c}/gateway-server.key"
client_ca = "{c}/federation-ca.pem"
grace_period_ms = 2000
watch_interval_ms = 200

[offices]
adapters = "{a}"
mappings = "{r}/mappings"
ca = "{c}/federation-ca.pem"
client_cert = "{c}/gateway-client.pem"
client_key = "{c}/gateway-client.key"
deadline_ms = {patient}
test_delivery = true
allow_loopback = true

[privacy.portals]
demo = ["self-service"]

{identity}
[audit]
dir = "{d}/audit"
hmac_key_file = "{c}/audit-hmac.key"
fsync = false
unsafe_no_fsync = true
"#,
                identity = tokens::identity_section(&certs),
                d = dir.path().display(),
                c = certs.display(),
                a = adapters.display(),
                r = repo().display(),
                patient = PATIENT_MS,
            ),
        )
        .expect("write config");
        let config = Config::load(&config_path).expect("config");
        let mappings =
            guichet::mapping::MappingSet::load_dir(&config.offices.mappings).expect("mappings");
        let registry = Registry::load_dir(&repo().join("adapters"), &mappings).expect("registry");
        let pki = runtime::dev_pki(&config, &registry).expect("dev pki");
        let options = FederationOptions {
            latency: Latency::ZERO,
            faults: &BTreeMap::new(),
            ephemeral: true,
            register: None,
        };
        let offices = SimFederation::start(&registry, &pki, options)
            .await
            .expect("simulated offices");
        offices
            .write_adapters(&repo().join("adapters"), &adapters)
            .expect("adapters");
        // Every office answers in its own time: these tests are about administration.
        timeouts::set_office_timeouts(&adapters, &[]);
        let gateway = Gateway::build(&config).expect("gateway");
        let (state, store) = (Arc::clone(gateway.state()), Arc::clone(gateway.store()));
        let listener = guichet::net::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("addr");
        let (stop_gateway, quitting) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(gateway.serve(listener, None, async {
            let _ = quitting.await;
        }));
        Managed {
            dir,
            adapters,
            pki,
            config,
            sim: Arc::clone(offices.simulator()),
            store,
            state,
            gateway: addr,
            offices: Mutex::new(vec![offices]),
            stop_gateway: Some(stop_gateway),
            _turn: turn,
        }
    }

    /// Another simulator playing the same federation, where `office` speaks `dialect`,
    /// serving only that office (with its own certificate) on a new port 0 listener.
    pub async fn second_home(&self, office: OfficeId, dialect: &str) -> (Arc<Simulator>, String) {
        let registry = self.state.fanout.registry();
        let offices: Vec<SimOffice> = runtime::sim_offices(&registry)
            .into_iter()
            .map(|mut o| {
                if o.id == office {
                    o.dialect = dialect.to_owned();
                }
                o
            })
            .collect();
        let sim = Arc::new(Simulator::new(
            offices,
            Latency::ZERO,
            self.sim.reference_year(),
        ));
        let only = Registry::from_adapters(registry.get(office).map(|a| a.as_ref().clone()));
        let options = FederationOptions {
            latency: Latency::ZERO,
            faults: &BTreeMap::new(),
            ephemeral: true,
            register: None,
        };
        let home = SimFederation::start_with(Arc::clone(&sim), &only, &self.pki, options)
            .await
            .expect("bind");
        let addr = home.endpoints()[&office].authority().to_owned();
        self.offices.lock().expect("offices").push(home);
        (sim, format!("https://{addr}/moved/{dialect}"))
    }

    pub fn client_with(&self, cert: &Path, key: &Path) -> reqwest::Client {
        let roots = guichet::tls::load_certs(&self.pki.ca_cert).expect("ca");
        let identity = (
            guichet::tls::load_certs(cert).expect("cert"),
            guichet::tls::load_key(key).expect("key"),
        );
        let tls = guichet::tls::client_config(&roots, Some(identity)).expect("client tls");
        guichet::cli::runtime::portal_client(tls, "self-service").expect("client")
    }

    pub fn admin(&self) -> reqwest::Client {
        self.client_with(&self.pki.admin.cert, &self.pki.admin.key)
    }

    pub fn portal(&self) -> reqwest::Client {
        self.client_with(&self.pki.portal.cert, &self.pki.portal.key)
    }

    /// A client with a certificate `role:name` freshly issued by the federation CA.
    pub fn client_as(&self, role: Role, name: &str) -> reqwest::Client {
        let dir = self.dir.path().join("clients");
        let (cert, key) = issue::issue_client(&self.pki, &dir, role, name);
        self.client_with(&cert, &key)
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.gateway)
    }

    /// The end user's token for `vn`, bound to the certificate of [`Managed::portal`].
    pub fn token(&self, vn: guichet::model::Vn) -> String {
        tokens::mint(&self.pki, vn, &self.pki.portal.cert)
    }

    /// [`Self::token`] of an AHV number written out (tests with a fixed number).
    pub fn token_of(&self, vn: &str) -> String {
        self.token(vn.parse().expect("a valid AHV number"))
    }

    /// Every file of the adapters folder (history included), for before/after checks.
    pub fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.adapters.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((p.clone(), std::fs::read(&p).expect("read")));
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        if let Some(s) = self.stop_gateway.take() {
            let _ = s.send(());
        }
    }
}

/// Replaces the `endpoint = …` line of an adapter file.
pub fn set_endpoint(path: &Path, url: &str) {
    let text = std::fs::read_to_string(path).expect("read adapter");
    let out: String = text
        .lines()
        .map(|l| {
            if l.starts_with("endpoint") {
                format!("endpoint = \"{url}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(path, out).expect("write adapter");
}
