//! Adapter definitions (`adapters/*.toml`): how to reach one office — its endpoint,
//! dialect, timeout, answer size limit and which server identity it must present — and
//! the registry, an immutable snapshot of all of them.
//!
//! Invariant: an [`Adapter`] is valid (https endpoint, known dialect, sane limits) and its
//! mapping is resolved; nothing downstream re-checks a definition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::mapping::{Mapping, MappingSet};
use crate::model::{Canton, OfficeId, OfficeKind};

mod error;
pub mod files;
pub mod policy;
pub mod store;
pub mod submissions;
pub mod watch;

pub use error::{AdapterError, DefError};
pub use files::{Meta, Tombstone};
pub use policy::{EndpointPolicy, PolicyError};
pub use store::{Listed, Publish, Store, StoreError};
pub use submissions::{SubmissionTransport, Submissions, SubmissionsDef};

/// An adapter as written in its TOML file.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterDef {
    /// Office id `NNN.NNN`.
    pub office: String,
    /// Display name.
    pub name: String,
    /// `cantonal`, `federal`, `association`, `iv_office`.
    pub kind: String,
    /// Canton abbreviation (cantonal funds and IV offices).
    pub canton: Option<String>,
    /// Language of the office (`de`, `fr`, `it`), informative.
    pub language: Option<String>,
    /// Dialect name: a file of the mappings folder.
    pub dialect: String,
    /// `https://host:port/path` the gateway POSTs to.
    pub endpoint: String,
    /// Per-call timeout in milliseconds (50–30000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Answer size limit in bytes (1 KiB–64 MiB).
    #[serde(default = "default_max_answer_bytes")]
    pub max_answer_bytes: usize,
    /// Optional cap on calls per second to this office (small offices); calls over it
    /// mark the office `unavailable` (rate limited) for that query, they never queue.
    pub max_rate_per_second: Option<u32>,
    /// Optional cap on calls in flight to this office at once.
    pub max_concurrency: Option<usize>,
    /// Optional SHA-256 (hex) of the office's server certificate: when set, the office
    /// must present exactly that certificate (still issued by the federation CA).
    pub server_cert_sha256: Option<String>,
    /// Optional: how the fund takes submissions (claims), `[submissions]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submissions: Option<SubmissionsDef>,
    /// Optional: the path on the office's host where persons' replies to its messages are
    /// pushed (POST, JSON, `/messages/v1/replies`); absent = the office fetches them from
    /// its inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replies_path: Option<String>,
}

fn default_timeout_ms() -> u64 {
    1500
}

fn default_max_answer_bytes() -> usize {
    crate::mapping::DEFAULT_MAX_ANSWER_BYTES
}

/// A validated adapter.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// The office.
    pub office: OfficeId,
    /// Display name.
    pub name: String,
    /// Kind of office.
    pub kind: OfficeKind,
    /// Canton, when the office belongs to one.
    pub canton: Option<Canton>,
    /// Dialect name.
    pub dialect: String,
    /// Compiled mapping of the dialect.
    pub mapping: Arc<Mapping>,
    /// Where to send requests.
    pub endpoint: reqwest::Url,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Answer size limit.
    pub max_answer_bytes: usize,
    /// Pinned server certificate digest, if any.
    pub server_cert_sha256: Option<[u8; 32]>,
    /// Calls per second allowed, if capped.
    pub max_rate_per_second: Option<u32>,
    /// Calls in flight allowed, if capped.
    pub max_concurrency: Option<usize>,
    /// How the fund takes submissions, when it does.
    pub submissions: Option<Submissions>,
    /// Where persons' replies are pushed on the office's host, when they are.
    pub replies_path: Option<String>,
}

/// `kind`: one of the office kinds by its snake_case name.
fn parse_kind(kind: &str) -> Result<OfficeKind, DefError> {
    let de = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(kind);
    serde::Deserialize::deserialize(de).map_err(|_| {
        DefError::field(
            "kind",
            format!("{kind:?} is not cantonal, federal, association or iv_office"),
        )
    })
}

/// `dialect`: a mapping of the set, or the list of known ones.
/// A register dialect (records naming their own offices) is not an office's.
fn find_mapping(mappings: &MappingSet, dialect: &str) -> Result<Arc<Mapping>, DefError> {
    let mapping = mappings.get(dialect).cloned().ok_or_else(|| {
        let known: Vec<&str> = mappings
            .dialects()
            .filter(|d| mappings.get(d).is_some_and(|m| !m.is_register()))
            .collect();
        DefError::field(
            "dialect",
            format!("unknown dialect {dialect:?} (known: {})", known.join(", ")),
        )
    })?;
    if mapping.is_register() {
        return Err(DefError::field(
            "dialect",
            format!(
                "{dialect:?} is the account register's dialect, not an office's ([routing] uses it)"
            ),
        ));
    }
    Ok(mapping)
}

/// The numeric limits of a definition: time-out, answer size, rate and concurrency caps.
fn check_limits(def: &AdapterDef) -> Result<(), DefError> {
    if !(50..=30_000).contains(&def.timeout_ms) {
        return Err(DefError::field(
            "timeout_ms",
            format!("{} is outside 50–30000", def.timeout_ms),
        ));
    }
    if !(1024..=64 * 1024 * 1024).contains(&def.max_answer_bytes) {
        return Err(DefError::field(
            "max_answer_bytes",
            format!("{} is outside 1 KiB–64 MiB", def.max_answer_bytes),
        ));
    }
    if def
        .max_rate_per_second
        .is_some_and(|r| !(1..=100_000).contains(&r))
    {
        return Err(DefError::field("max_rate_per_second", "1–100000"));
    }
    if def
        .max_concurrency
        .is_some_and(|c| !(1..=10_000).contains(&c))
    {
        return Err(DefError::field("max_concurrency", "1–10000"));
    }
    Ok(())
}

impl Adapter {
    /// Validates a definition against the known dialects.
    pub fn from_def(def: &AdapterDef, mappings: &MappingSet) -> Result<Adapter, DefError> {
        let office: OfficeId = def
            .office
            .parse()
            .map_err(|e| DefError::field("office", format!("{e}")))?;
        let kind = parse_kind(&def.kind)?;
        let canton = def
            .canton
            .as_deref()
            .map(str::parse::<Canton>)
            .transpose()
            .map_err(|e| DefError::field("canton", format!("{e}")))?;
        if def.name.trim().is_empty() || def.name.len() > 200 {
            return Err(DefError::field("name", "1–200 characters"));
        }
        let mapping = find_mapping(mappings, &def.dialect)?;
        let endpoint = parse_endpoint(&def.endpoint)?;
        check_limits(def)?;
        let server_cert_sha256 = def
            .server_cert_sha256
            .as_deref()
            .map(parse_sha256)
            .transpose()?;
        let submissions = def
            .submissions
            .as_ref()
            .map(|s| Submissions::from_def(s, mappings))
            .transpose()?;
        let replies_path = def
            .replies_path
            .as_deref()
            .map(|p| submissions::check_path(p, "replies_path"))
            .transpose()?;
        Ok(Adapter {
            office,
            name: def.name.trim().to_owned(),
            kind,
            canton,
            dialect: def.dialect.clone(),
            mapping,
            endpoint,
            timeout: Duration::from_millis(def.timeout_ms),
            max_answer_bytes: def.max_answer_bytes,
            server_cert_sha256,
            max_rate_per_second: def.max_rate_per_second,
            max_concurrency: def.max_concurrency,
            submissions,
            replies_path,
        })
    }

    /// The URL persons' replies are pushed to (the endpoint's host with `replies_path`),
    /// or `None` when the office fetches them from its inbox.
    pub fn replies_url(&self) -> Option<reqwest::Url> {
        let path = self.replies_path.as_deref()?;
        let mut url = self.endpoint.clone();
        url.set_path(path);
        url.set_query(None);
        Some(url)
    }

    /// Reads and validates one adapter file.
    pub fn load(path: &Path, mappings: &MappingSet) -> Result<Adapter, AdapterError> {
        let err = |message: String| AdapterError {
            file: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let def = files::parse_def(&text).map_err(|e| err(e.to_string()))?;
        let adapter = Adapter::from_def(&def, mappings).map_err(|e| err(e.to_string()))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != adapter.office.to_string() {
            return Err(err(format!(
                "field office: {} must be in a file named {}.toml",
                adapter.office, adapter.office
            )));
        }
        Ok(adapter)
    }
}

/// An `https://host[:port]/path` endpoint.
fn parse_endpoint(text: &str) -> Result<reqwest::Url, DefError> {
    let endpoint =
        reqwest::Url::parse(text).map_err(|e| DefError::field("endpoint", format!("{e}")))?;
    if endpoint.scheme() != "https" || endpoint.host().is_none() {
        return Err(DefError::field(
            "endpoint",
            format!("{text:?} must be an https:// URL with a host"),
        ));
    }
    Ok(endpoint)
}

/// A SHA-256 digest as 64 hex digits, `:` separators allowed.
fn parse_sha256(hex: &str) -> Result<[u8; 32], DefError> {
    let digits: Vec<u8> = hex.bytes().filter(|b| *b != b':').collect();
    if digits.len() != 64 {
        return Err(DefError::field("server_cert_sha256", "64 hex digits"));
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        // Bytes, not string slices: a multi-byte character is refused, never sliced.
        // Hex digits only: `from_str_radix` alone would take a sign (`+f`).
        *byte = std::str::from_utf8(pair)
            .ok()
            .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .ok_or_else(|| DefError::field("server_cert_sha256", "not hex"))?;
    }
    Ok(out)
}

/// Every adapter, by office: an immutable snapshot. A change builds a new registry.
/// Deregistered offices stay listed (by name) so that answers report them `unavailable`.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    adapters: BTreeMap<OfficeId, Arc<Adapter>>,
    deregistered: BTreeMap<OfficeId, String>,
}

impl Registry {
    /// Loads every `*.toml` of `dir`; the first invalid file refuses the whole folder.
    pub fn load_dir(dir: &Path, mappings: &MappingSet) -> Result<Registry, AdapterError> {
        let read_err = |e: std::io::Error| AdapterError {
            file: dir.to_owned(),
            message: format!("cannot read the adapters folder: {e}"),
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let adapters: Vec<Adapter> = paths
            .iter()
            .map(|p| Adapter::load(p, mappings))
            .collect::<Result<_, _>>()?;
        if adapters.is_empty() {
            return Err(AdapterError {
                file: dir.to_owned(),
                message: "no adapter (*.toml) in this folder".into(),
            });
        }
        Ok(Registry::from_adapters(adapters))
    }

    /// A registry of the given adapters (the last one wins for a repeated office).
    pub fn from_adapters(adapters: impl IntoIterator<Item = Adapter>) -> Registry {
        Registry {
            adapters: adapters
                .into_iter()
                .map(|a| (a.office, Arc::new(a)))
                .collect(),
            deregistered: BTreeMap::new(),
        }
    }

    /// A registry of shared adapters plus deregistered offices (office → display name);
    /// an office with an adapter is never also deregistered.
    pub fn from_parts(
        adapters: impl IntoIterator<Item = Arc<Adapter>>,
        deregistered: impl IntoIterator<Item = (OfficeId, String)>,
    ) -> Registry {
        let adapters: BTreeMap<OfficeId, Arc<Adapter>> =
            adapters.into_iter().map(|a| (a.office, a)).collect();
        let deregistered = deregistered
            .into_iter()
            .filter(|(o, _)| !adapters.contains_key(o))
            .collect();
        Registry {
            adapters,
            deregistered,
        }
    }

    /// Offices whose adapter was deleted: reported `unavailable` ("deregistered").
    pub fn deregistered(&self) -> impl Iterator<Item = (OfficeId, &str)> {
        self.deregistered.iter().map(|(o, n)| (*o, n.as_str()))
    }

    /// All adapters, by office id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Adapter>> {
        self.adapters.values()
    }

    /// One office's adapter.
    pub fn get(&self, office: OfficeId) -> Option<&Arc<Adapter>> {
        self.adapters.get(&office)
    }

    /// How many adapters.
    pub fn len(&self) -> usize {
        self.adapters.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.adapters.is_empty()
    }

    /// A copy whose endpoints are replaced (the demo and tests serve offices on port 0).
    pub fn with_endpoints(&self, endpoints: &BTreeMap<OfficeId, reqwest::Url>) -> Registry {
        let adapters = self.adapters.values().map(|a| {
            let mut a = Adapter::clone(a);
            if let Some(url) = endpoints.get(&a.office) {
                a.endpoint = url.clone();
            }
            Arc::new(a)
        });
        Registry::from_parts(adapters, self.deregistered.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_64_hex_digits_and_never_sliced_inside_a_character() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_sha256(&hex), Ok([0xab; 32]));
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_sha256(&colons), Ok([0xab; 32]));
        // 64 bytes of 3-byte characters: refused by name, not a panic on a char boundary.
        let err = parse_sha256(&format!("{}a", "€".repeat(21))).expect_err("not hex");
        assert_eq!(err.to_string(), "field server_cert_sha256: not hex");
        let err = parse_sha256("abc").expect_err("short");
        assert_eq!(err, DefError::field("server_cert_sha256", "64 hex digits"));
    }
}
