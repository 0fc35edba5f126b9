//! A simulated federation started in one call: one mutual-TLS listener per office of a
//! registry (on the adapters' own ports, or on port 0 for the demo and tests), each with
//! its office's certificate from the development PKI, served until stopped or dropped.
//! `guichet simulate`, `guichet demo` and the test harnesses all start offices here.
//!
//! With [`FederationOptions::register`] it also serves the central account register
//! (dialect `ech-register`, certificate `urn:guichet:register:zas` from the development
//! PKI) on a listener of its own: [`Federation::register_endpoint`] says where. Its lag and
//! faults are set on the [`Simulator`] (`set_register_lag`, `set_register_fault`), also
//! while it serves; requests are counted per office (`Simulator::request_counts`) and for
//! the register (`Simulator::register_requests`).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use super::apg::ClaimCounts;
use super::behaviour::{Fault, Latency};
use super::population::SimOffice;
use super::sedex_client::{self, SedexError, SedexOptions};
use super::server::{
    OfficeListener, RegisterListener, Simulator, endpoints, spawn, spawn_register,
};
use crate::adapter::Registry;
use crate::model::OfficeId;
use crate::pki::DevPki;
use crate::tls;

/// Why the simulated offices could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A certificate or key of the PKI could not be loaded.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The PKI has no certificate for an office.
    #[error("no certificate for office {0} in the development PKI")]
    NoCertificate(OfficeId),
    /// The account register's port could not be bound.
    #[error("account register: cannot listen on {addr}: {source}")]
    BindRegister {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A fault names an office that has no adapter.
    #[error("the faults name office {0}, which has no adapter")]
    UnknownOffice(OfficeId),
    /// A port could not be bound.
    #[error("office {office}: cannot listen on {addr}: {source}")]
    Bind {
        /// The office.
        office: OfficeId,
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The adapters could not be copied.
    #[error("cannot copy the adapters to {dir}: {message}")]
    Copy {
        /// The target folder.
        dir: String,
        /// What failed.
        message: String,
    },
}

/// How to start the offices.
#[derive(Debug, Clone, Copy)]
pub struct FederationOptions<'a> {
    /// Latency of each answer.
    pub latency: Latency,
    /// Faults, including those acting at bind time (`wrong-certificate`, `refused`).
    pub faults: &'a BTreeMap<OfficeId, Fault>,
    /// Port 0 for every office (demo, tests) instead of each adapter's own port.
    pub ephemeral: bool,
    /// Serve the account register on this address ([`REGISTER_EPHEMERAL`] in the demo and
    /// tests, `[simulator] register_listen` for `guichet simulate`), or not at all.
    pub register: Option<SocketAddr>,
}

/// Any free loopback port: where the demo and the tests serve the account register.
pub const REGISTER_EPHEMERAL: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));

/// The path of the register's endpoint (the simulator answers on any path).
const REGISTER_PATH: &str = "/register";

/// Simulated offices being served; stopped when dropped.
#[derive(Debug)]
pub struct Federation {
    simulator: Arc<Simulator>,
    endpoints: BTreeMap<OfficeId, reqwest::Url>,
    register: Option<reqwest::Url>,
    stop: watch::Sender<bool>,
}

/// What the simulator needs to know of each office of `registry`.
pub fn offices_of(registry: &Registry) -> Vec<SimOffice> {
    registry
        .iter()
        .map(|a| SimOffice {
            id: a.office,
            name: a.name.clone(),
            kind: a.kind,
            canton: a.canton,
            dialect: a.dialect.clone(),
        })
        .collect()
}

impl Federation {
    /// Starts a simulator playing every office of `registry`.
    pub async fn start(
        registry: &Registry,
        pki: &DevPki,
        o: FederationOptions<'_>,
    ) -> Result<Federation, StartError> {
        let year = u16::try_from(time::OffsetDateTime::now_utc().year()).unwrap_or(2026);
        let simulator = Arc::new(Simulator::new(offices_of(registry), o.latency, year));
        Federation::start_with(simulator, registry, pki, o).await
    }

    /// Serves the offices of `registry` with `simulator` (which may play more offices).
    pub async fn start_with(
        simulator: Arc<Simulator>,
        registry: &Registry,
        pki: &DevPki,
        o: FederationOptions<'_>,
    ) -> Result<Federation, StartError> {
        for (office, fault) in o.faults {
            if registry.get(*office).is_none() {
                return Err(StartError::UnknownOffice(*office));
            }
            simulator.set_fault(*office, Some(fault.clone()));
        }
        let listeners = bind_offices(registry, pki, o.ephemeral, o.faults).await?;
        let paths = registry
            .iter()
            .map(|a| (a.office, a.endpoint.path().to_owned()))
            .collect();
        let endpoints = endpoints(&listeners, &paths);
        let register = match o.register {
            Some(addr) => Some(bind_register(registry, pki, addr).await?),
            None => None,
        };
        let (stop, stopped) = watch::channel(false);
        let register_url = register.map(|(listener, url)| {
            spawn_register(Arc::clone(&simulator), listener, stopped.clone());
            url
        });
        spawn(Arc::clone(&simulator), listeners, stopped);
        Ok(Federation {
            simulator,
            endpoints,
            register: register_url,
            stop,
        })
    }

    /// The simulator (population, faults, counters).
    pub fn simulator(&self) -> &Arc<Simulator> {
        &self.simulator
    }

    /// Where each office listens, with its adapter's path.
    pub fn endpoints(&self) -> &BTreeMap<OfficeId, reqwest::Url> {
        &self.endpoints
    }

    /// Where the account register listens (`https://127.0.0.1:PORT/register`), when it is
    /// served.
    pub fn register_endpoint(&self) -> Option<&reqwest::Url> {
        self.register.as_ref()
    }

    /// Copies the adapter files of `from` into `to` (created), each with its `endpoint`
    /// line pointing at this federation's office (and, once [`Federation::start_sedex`]
    /// ran, its `sedex_folder` line at the fund's folder): a folder a gateway can
    /// administer.
    pub fn write_adapters(&self, from: &Path, to: &Path) -> Result<(), StartError> {
        let fail = |e: std::io::Error| StartError::Copy {
            dir: to.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(to).map_err(fail)?;
        for entry in std::fs::read_dir(from).map_err(fail)? {
            let path = entry.map_err(fail)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !name.ends_with(".toml") || name.starts_with('.') {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(fail)?;
            let office = name.trim_end_matches(".toml").parse::<OfficeId>().ok();
            let url = office.and_then(|o| self.endpoints.get(&o));
            let mut text = with_endpoint(&text, url);
            if let Some(folder) = office.and_then(|o| self.sedex_folder(o)) {
                let value = toml::Value::String(folder.display().to_string());
                text = with_key(&text, "sedex_folder", &format!("sedex_folder = {value}"));
            }
            std::fs::write(to.join(name), text).map_err(fail)?;
        }
        Ok(())
    }

    /// Loss-of-earnings claims `office` received so far (distinct `messageId`s and all
    /// deliveries, over its listener and its sedex client).
    pub fn claims(&self, office: OfficeId) -> ClaimCounts {
        self.simulator.funds().counts(office)
    }

    /// Sets up the sedex funds' folders under `options.root` and starts their simulated
    /// sedex clients (until the federation stops). Before this every fund takes claims on
    /// its listener; after it each fund uses its [`transport_of`](super::apg::transport_of).
    /// Call it once per federation.
    pub fn start_sedex(&self, options: &SedexOptions) -> Result<(), SedexError> {
        let setup = sedex_client::prepare(self.simulator.offices(), options)?;
        sedex_client::spawn_clients(
            &self.simulator,
            &setup,
            options.poll,
            &self.stop.subscribe(),
        );
        self.simulator.funds().set_sedex(setup);
        Ok(())
    }

    /// The sedex folder of `office` (`outbox/`, `inbox/`, `receipts/`, `processed/`) once
    /// [`Federation::start_sedex`] ran, when the office uses sedex.
    pub fn sedex_folder(&self, office: OfficeId) -> Option<std::path::PathBuf> {
        self.simulator.funds().sedex_folder(office)
    }

    /// Stops serving (also on drop).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `text` with its `endpoint = …` line replaced by `url` (unchanged without one).
fn with_endpoint(text: &str, url: Option<&reqwest::Url>) -> String {
    let Some(url) = url else {
        return text.to_owned();
    };
    let line = format!("endpoint = {}", toml::Value::String(url.to_string()));
    with_key(text, "endpoint", &line)
}

/// `text` with every `key = …` line replaced by `line`.
fn with_key(text: &str, key: &str, line: &str) -> String {
    text.lines()
        .map(|l| {
            let k = l.split('=').next().unwrap_or_default().trim();
            if k == key { line } else { l }
        })
        .fold(String::with_capacity(text.len()), |mut out, l| {
            out.push_str(l);
            out.push('\n');
            out
        })
}

/// Binds one listener per office with the office's certificate. The faults that act at
/// bind time apply here: `wrong-certificate` serves another office's certificate,
/// `refused` closes the listener.
async fn bind_offices(
    registry: &Registry,
    pki: &DevPki,
    ephemeral: bool,
    faults: &BTreeMap<OfficeId, Fault>,
) -> Result<Vec<OfficeListener>, StartError> {
    let roots = tls::load_certs(&pki.ca_cert)?;
    let ids: Vec<OfficeId> = registry.iter().map(|a| a.office).collect();
    let mut listeners = Vec::with_capacity(registry.len());
    for adapter in registry.iter() {
        let fault = faults.get(&adapter.office);
        let cert_of = match fault {
            Some(Fault::WrongCertificate) => ids
                .iter()
                .copied()
                .find(|o| *o != adapter.office)
                .unwrap_or(adapter.office),
            _ => adapter.office,
        };
        let paths = pki
            .offices
            .get(&cert_of.to_string())
            .ok_or(StartError::NoCertificate(cert_of))?;
        let config = tls::server_config(
            tls::load_certs(&paths.cert)?,
            tls::load_key(&paths.key)?,
            &roots,
            Vec::new(),
        )?;
        let addr = if ephemeral {
            "127.0.0.1:0".to_owned()
        } else {
            let host = adapter.endpoint.host_str().unwrap_or("127.0.0.1");
            let port = adapter.endpoint.port_or_known_default().unwrap_or(443);
            format!("{host}:{port}")
        };
        let listener =
            crate::net::bind(addr.as_str())
                .await
                .map_err(|source| StartError::Bind {
                    office: adapter.office,
                    addr,
                    source,
                })?;
        listeners.push(OfficeListener {
            office: adapter.office,
            listener,
            tls: config,
            refuse: matches!(fault, Some(Fault::Refused)),
        });
    }
    Ok(listeners)
}

/// Binds the account register with its certificate (under `wrong-certificate` it presents
/// the certificate of the first office of `registry` instead); returns it with its URL.
async fn bind_register(
    registry: &Registry,
    pki: &DevPki,
    addr: SocketAddr,
) -> Result<(RegisterListener, reqwest::Url), StartError> {
    let roots = tls::load_certs(&pki.ca_cert)?;
    let config = |paths: &crate::pki::CertPaths| -> Result<_, StartError> {
        Ok(tls::server_config(
            tls::load_certs(&paths.cert)?,
            tls::load_key(&paths.key)?,
            &roots,
            Vec::new(),
        )?)
    };
    let tls = config(&pki.register)?;
    let wrong_tls = match registry
        .iter()
        .find_map(|a| pki.offices.get(&a.office.to_string()))
    {
        Some(paths) => Some(config(paths)?),
        None => None,
    };
    let bind_error = |source| StartError::BindRegister { addr, source };
    let listener = crate::net::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    let url = reqwest::Url::parse(&format!("https://{bound}{REGISTER_PATH}"))
        .map_err(|e| bind_error(std::io::Error::other(e.to_string())))?;
    let listener = RegisterListener {
        listener,
        tls,
        wrong_tls,
    };
    Ok((listener, url))
}

#[cfg(test)]
mod tests {
    use super::with_endpoint;

    #[test]
    fn only_the_endpoint_line_changes() {
        let url = reqwest::Url::parse("https://127.0.0.1:4000/ik").expect("url");
        let text = "office = \"001.000\"\nendpoint = \"https://old:1/ik\"\nendpoint_note = 1\n";
        let out = with_endpoint(text, Some(&url));
        assert_eq!(
            out,
            "office = \"001.000\"\nendpoint = \"https://127.0.0.1:4000/ik\"\nendpoint_note = 1\n"
        );
    }
}
