//! `[offices]` and `[simulator]`: where the adapters, mappings and the gateway's client
//! identity live, the query deadline, the sedex participant ids and the endpoint policy;
//! the simulated offices' certificates and latency. Raw values in, typed values out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{
    RawOffices, RawSimulator, default_median, default_p99, default_register_listen,
    default_sedex_delay,
};
use super::{FieldError, Resolve};

/// Fan-out settings.
#[derive(Debug, Clone)]
pub struct OfficesConfig {
    /// Adapters folder.
    pub adapters: PathBuf,
    /// Mappings folder.
    pub mappings: PathBuf,
    /// CA of the offices' server certificates.
    pub ca: PathBuf,
    /// Gateway client certificate.
    pub client_cert: PathBuf,
    /// Gateway client key.
    pub client_key: PathBuf,
    /// CRLs checked for offices' server certificates.
    pub crl: Option<PathBuf>,
    /// Overall deadline of a query.
    pub deadline: Duration,
    /// sedex participant id of the gateway.
    pub sender_id: String,
    /// Participant-id prefix of the environment.
    pub participant_prefix: String,
    /// eCH-0058 testDeliveryFlag on requests.
    pub test_delivery: bool,
    /// Which hosts adapters may name as endpoints.
    pub endpoint_policy: crate::adapter::EndpointPolicy,
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Folder of the simulated offices' certificates.
    pub certs: PathBuf,
    /// Median latency.
    pub latency_median: Duration,
    /// 99th-percentile latency.
    pub latency_p99: Duration,
    /// Where `guichet simulate` serves the account register.
    pub register_listen: SocketAddr,
    /// The simulated register's `asOf` is this many days before today (0–3650).
    pub register_lag_days: u32,
    /// Share (0–1) of persons whose newest account the simulated register lacks.
    pub register_missing_newest_share: f64,
    /// Share (0–1) of persons with a closed account the simulated register still lists.
    pub register_stale_closed_share: f64,
    /// Simulated sedex clients: folders and delivery delay.
    pub sedex: SimSedexConfig,
}

/// The simulated sedex clients of the sedex funds (`[simulator]` `sedex_dir`,
/// `sedex_delay_ms`).
#[derive(Debug, Clone)]
pub struct SimSedexConfig {
    /// Each sedex fund's folder is `<dir>/<office>/` (absolute: the adapters name it).
    pub dir: PathBuf,
    /// From pickup to delivery.
    pub delay: Duration,
}

/// Where the shipped adapters' sedex funds have their folders.
pub const DEFAULT_SEDEX_DIR: &str = "/tmp/guichet-sedex";

fn sim_sedex(raw: Option<&RawSimulator>) -> Result<SimSedexConfig, FieldError> {
    let dir = raw
        .and_then(|s| s.sedex_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SEDEX_DIR));
    if !dir.is_absolute() {
        return Err(FieldError::new(
            "simulator.sedex_dir",
            format!(
                "{} must be an absolute path (adapters name the folders under it)",
                dir.display()
            ),
        ));
    }
    let delay_ms = raw.map_or_else(default_sedex_delay, |s| s.sedex_delay_ms);
    let delay_ms = FieldError::range("simulator.sedex_delay_ms", delay_ms, 0, 600_000)?;
    Ok(SimSedexConfig {
        dir,
        delay: Duration::from_millis(delay_ms),
    })
}

/// A sedex participant id (or prefix): 1–40 letters, digits and '-'.
fn participant(field: &'static str, value: &str) -> Result<String, FieldError> {
    let ok = !value.is_empty()
        && value.len() <= 40
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return Err(FieldError::new(
            field,
            format!("{value:?}: 1–40 letters, digits and '-' only"),
        ));
    }
    Ok(value.to_owned())
}

impl RawOffices {
    /// Validates `[offices]`; `at` resolves paths against the configuration's folder.
    pub(super) fn validate(&self, at: &Resolve<'_>) -> Result<OfficesConfig, FieldError> {
        let deadline_ms = FieldError::range("offices.deadline_ms", self.deadline_ms, 100, 60_000)?;
        let endpoint_policy = crate::adapter::EndpointPolicy::new(
            &self.endpoint_host_suffixes,
            &self.endpoint_networks,
            self.allow_loopback,
        )
        .map_err(FieldError::from)?;
        Ok(OfficesConfig {
            adapters: at(&self.adapters),
            mappings: at(&self.mappings),
            ca: at(&self.ca),
            client_cert: at(&self.client_cert),
            client_key: at(&self.client_key),
            crl: self.crl.as_deref().map(at),
            deadline: Duration::from_millis(deadline_ms),
            sender_id: participant("offices.sender_id", &self.sender_id)?,
            participant_prefix: participant(
                "offices.participant_prefix",
                &self.participant_prefix,
            )?,
            test_delivery: self.test_delivery,
            endpoint_policy,
        })
    }
}

/// Validates `[simulator]`; without the section, the development defaults next to the
/// configuration (`base/../certs/offices`, median 20 ms, p99 250 ms).
pub(super) fn simulator(
    raw: Option<&RawSimulator>,
    base: &Path,
    at: &Resolve<'_>,
) -> Result<SimulatorConfig, FieldError> {
    let Some(s) = raw else {
        return Ok(SimulatorConfig {
            certs: base.join("../certs/offices"),
            latency_median: Duration::from_millis(default_median()),
            latency_p99: Duration::from_millis(default_p99()),
            register_listen: register_listen(&default_register_listen())?,
            register_lag_days: 0,
            register_missing_newest_share: 0.0,
            register_stale_closed_share: 0.0,
            sedex: sim_sedex(None)?,
        });
    };
    let p99 = FieldError::range("simulator.latency_p99_ms", s.latency_p99_ms, 0, 60_000)?;
    if s.latency_median_ms > p99 {
        return Err(FieldError::new(
            "simulator.latency_median_ms",
            format!(
                "{} is above latency_p99_ms ({p99}); the median cannot exceed the 99th percentile",
                s.latency_median_ms
            ),
        ));
    }
    let share = |field: &'static str, value: f64| {
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err(FieldError::new(field, format!("{value} is outside 0–1")))
        }
    };
    Ok(SimulatorConfig {
        certs: at(&s.certs),
        latency_median: Duration::from_millis(s.latency_median_ms),
        latency_p99: Duration::from_millis(p99),
        register_listen: register_listen(&s.register_listen)?,
        register_lag_days: FieldError::range(
            "simulator.register_lag_days",
            s.register_lag_days,
            0,
            3650,
        )?,
        register_missing_newest_share: share(
            "simulator.register_missing_newest_share",
            s.register_missing_newest_share,
        )?,
        register_stale_closed_share: share(
            "simulator.register_stale_closed_share",
            s.register_stale_closed_share,
        )?,
        sedex: sim_sedex(Some(s))?,
    })
}

/// `simulator.register_listen`: an IP address and port (`127.0.0.1:18202`).
fn register_listen(value: &str) -> Result<SocketAddr, FieldError> {
    value.parse().map_err(|_| {
        FieldError::new(
            "simulator.register_listen",
            format!("{value:?} is not an IP address and port such as 127.0.0.1:18202"),
        )
    })
}
