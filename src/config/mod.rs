//! Configuration: the raw TOML ([`raw`], `deny_unknown_fields`) becomes typed, validated
//! values in one place, one section per module. Relative paths resolve against the
//! configuration file's folder. A value outside its range is refused with the file and the
//! field, never clamped; nothing later re-checks a value.

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod audit;
mod console;
mod delivery;
mod identity;
mod listen;
mod messages;
mod offices;
mod privacy;
mod protection;
mod raw;
mod routing;
mod seal;
mod server;
mod store;
mod telemetry;
#[cfg(test)]
mod tests;

pub use audit::{AuditConfig, CHECKPOINT_KEY};
pub use console::ConsoleConfig;
pub use delivery::DeliveryConfig;
pub use identity::{IdentityConfig, IssuerConfig, MAX_SKEW_SECONDS};
pub use listen::ConnectionLimits;
pub use messages::MessagesConfig;
pub use offices::{DEFAULT_SEDEX_DIR, OfficesConfig, SimSedexConfig, SimulatorConfig};
pub use privacy::{PrivacyConfig, Requirement};
pub use protection::ProtectionConfig;
pub use routing::{RegisterEndpoint, RegisterFallback, RoutingConfig};
pub use seal::SealConfig;
pub use server::ServerConfig;
pub use store::{DEFAULT_SQLITE_FILE, StoreConfig, StoreLocation, check_schema, redact_url};
pub use telemetry::{DEFAULT_SERVICE_NAME, OtlpConfig, TelemetryConfig};

use crate::toml_error::TomlError;

/// A configuration that cannot be used: which file, and what is wrong in it.
#[derive(Debug, thiserror::Error)]
#[error("config {}: {problem}", file.display())]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// What is wrong.
    pub problem: ConfigProblem,
}

/// What is wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    /// The file cannot be read.
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    /// The text is not TOML of the configuration's shape (line, column, what; an unknown
    /// key is one).
    #[error(transparent)]
    Syntax(#[from] TomlError),
    /// A value is refused.
    #[error(transparent)]
    Field(#[from] FieldError),
}

/// One refused value: the key as written in the file (`section.key`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The key, e.g. `protection.cache_max_bytes`.
    pub field: String,
    /// What is wrong with its value.
    pub problem: String,
}

impl FieldError {
    /// A refused value of `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// `value` when it lies within `min..=max`; else the error naming `field` and the range.
    pub fn range<T: PartialOrd + Display + Copy>(
        field: impl Into<String>,
        value: T,
        min: T,
        max: T,
    ) -> Result<T, FieldError> {
        if value < min || value > max {
            return Err(FieldError::new(
                field,
                format!("{value} is outside {min}–{max}"),
            ));
        }
        Ok(value)
    }
}

impl From<crate::adapter::PolicyError> for FieldError {
    fn from(e: crate::adapter::PolicyError) -> FieldError {
        FieldError::new(e.key(), e.to_string())
    }
}

/// Resolves a path of the file against the configuration's folder.
type Resolve<'a> = dyn Fn(&Path) -> PathBuf + 'a;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// Ingress.
    pub server: ServerConfig,
    /// Offices and fan-out.
    pub offices: OfficesConfig,
    /// The simulator (development only).
    pub simulator: SimulatorConfig,
    /// Breakers, hedging, cache and limits.
    pub protection: ProtectionConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// Purposes, who may state them, and what each requires (end-user token, case reference).
    pub privacy: PrivacyConfig,
    /// The identity providers whose end-user tokens are accepted.
    pub identity: IdentityConfig,
    /// The operations listener (`/metrics`), if any.
    pub admin_listen: Option<SocketAddr>,
    /// `[routing]`; `None` when absent (every query asks every office).
    pub routing: Option<RoutingConfig>,
    /// The seal that signs receipts; `None`: receipts are off.
    pub seal: Option<SealConfig>,
    /// Submissions, receipts and the outbox.
    pub store: StoreConfig,
    /// How the outbox is delivered.
    pub delivery: DeliveryConfig,
    /// The operator's console (`[console]`); `None`: `/console/` is not served.
    pub console: Option<ConsoleConfig>,
    /// Trace export (`[telemetry]`; off by default).
    pub telemetry: TelemetryConfig,
    /// Message keys and retention; `None`: the message routes answer `503`.
    pub messages: Option<MessagesConfig>,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            problem: ConfigProblem::Read(e),
        })?;
        Config::parse(path, &text)
    }

    /// Validates configuration text; `path` locates relative paths and names errors.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let at_file = |problem: ConfigProblem| ConfigError {
            file: path.to_owned(),
            problem,
        };
        let raw: raw::Raw = crate::toml_error::parse(text).map_err(|e| at_file(e.into()))?;
        Config::validate(path, &raw).map_err(|e| at_file(e.into()))
    }

    /// Every section, in the order of the file.
    fn validate(path: &Path, raw: &raw::Raw) -> Result<Config, FieldError> {
        let base = path.parent().unwrap_or(Path::new(".")).to_owned();
        let at = |p: &Path| {
            normalize(&if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            })
        };
        let identity = raw.identity.validate(&at)?;
        let privacy = raw.privacy.validate()?;
        // A purpose that needs the end user's token, stated by some portal, needs an issuer.
        let needs_token = privacy
            .end_user_token
            .iter()
            .find(|p| privacy.portals.values().any(|allowed| allowed.contains(p)));
        if let Some(purpose) = needs_token
            && identity.issuers.is_empty()
        {
            return Err(FieldError::new(
                "privacy.end_user_token",
                format!(
                    "portals may query for {purpose}, which needs an end-user token, but \
                     [identity] names no issuer to verify it: add [[identity.issuers]] (or set \
                     end_user_token = [])"
                ),
            ));
        }
        let server = raw.server.validate(&at)?;
        let offices = raw.offices.validate(&at)?;
        let routing = routing::validate(raw.routing.as_ref(), &offices.endpoint_policy)?;
        Ok(Config {
            file: path.to_owned(),
            server,
            offices,
            simulator: offices::simulator(raw.simulator.as_ref(), &base, &at)?,
            protection: raw.protection.validate()?,
            privacy,
            identity,
            audit: raw.audit.validate(at)?,
            admin_listen: listen::admin_listen(raw.admin.as_ref())?,
            routing,
            seal: raw.seal.as_ref().map(|s| s.validate(at)).transpose()?,
            store: raw.store.validate(at)?,
            delivery: raw.delivery.validate()?,
            console: raw.console.as_ref().map(|c| c.validate(at)).transpose()?,
            telemetry: raw.telemetry.validate()?,
            messages: raw.messages.as_ref().map(|m| m.validate(at)).transpose()?,
        })
    }
}

/// Removes `.` and `name/..` pairs without touching the file system, so messages show
/// `certs/x.pem` rather than `config/../certs/x.pem`.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}
