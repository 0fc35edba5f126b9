//! `guichet adapters check|list|probe`: office IT staff validate a definition offline,
//! see the registry with its health, and run the conformance probe the gateway runs
//! before it accepts a change — with the same code the gateway uses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use super::runtime;
use crate::adapter::{Adapter, AdapterDef, Listed, Meta, Registry, Store, files};
use crate::config::Config;
use crate::mapping::MappingSet;
use crate::view::{AdapterRow, AdaptersView, ProblemView};

/// Reads and validates one definition file (TOML, or JSON when it ends in `.json`).
fn load(file: &Path, mappings: &MappingSet) -> anyhow::Result<(AdapterDef, Adapter)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("adapter {}: cannot read", file.display()))?;
    let parsed = if file.extension().is_some_and(|x| x == "json") {
        serde_json::from_str::<AdapterDef>(&text).map_err(|e| e.to_string())
    } else {
        files::parse_def(&text).map_err(|e| e.to_string())
    };
    let def = parsed.map_err(|e| anyhow::anyhow!("adapter {}: {e}", file.display()))?;
    let adapter = Adapter::from_def(&def, mappings)
        .map_err(|e| anyhow::anyhow!("adapter {}: {e}", file.display()))?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if stem.parse::<crate::model::OfficeId>().is_ok() && stem != adapter.office.to_string() {
        bail!(
            "adapter {}: field office: {} must be in a file named {}.toml",
            file.display(),
            adapter.office,
            adapter.office
        );
    }
    Ok((def, adapter))
}

/// `guichet adapters check FILE [--config C]`: schema and ranges and, with a configuration,
/// its endpoint policy — offline, nothing is contacted. Exit 1 names the file and field.
pub fn check(
    file: &Path,
    mappings: Option<&Path>,
    config: Option<&Path>,
) -> anyhow::Result<String> {
    let config = config.map(Config::load).transpose()?;
    let mappings = match (mappings, &config) {
        (Some(dir), _) => dir.to_owned(),
        (None, Some(c)) => c.offices.mappings.clone(),
        (None, None) => PathBuf::from("mappings"),
    };
    let mappings = MappingSet::load_dir(&mappings)?;
    let (_, a) = load(file, &mappings)?;
    let policy = match &config {
        Some(c) => {
            c.offices.endpoint_policy.check(&a.endpoint).map_err(|e| {
                anyhow::anyhow!(
                    "adapter {}: {e} (endpoint policy of {})",
                    file.display(),
                    c.file.display()
                )
            })?;
            format!("endpoint allowed by the policy of {}", c.file.display())
        }
        None => "endpoint policy not checked (no --config)".to_owned(),
    };
    Ok(format!(
        "ok: office {} ({}), dialect {}, endpoint {}, timeout {} ms, answers up to {} bytes; {policy}",
        a.office,
        a.name,
        a.dialect,
        a.endpoint,
        a.timeout.as_millis(),
        a.max_answer_bytes
    ))
}

/// `guichet adapters probe FILE --config …`: the conformance probe with the gateway's
/// client identity: one test request (`testDeliveryFlag` true) for the test person.
pub async fn probe(file: &Path, config_path: &Path) -> anyhow::Result<String> {
    let config = Config::load(config_path)?;
    let mappings = MappingSet::load_dir(&config.offices.mappings)?;
    let (_, adapter) = load(file, &mappings)?;
    // The endpoint policy first: a host outside it is never contacted, not even by a probe.
    config
        .offices
        .endpoint_policy
        .check(&adapter.endpoint)
        .map_err(|e| anyhow::anyhow!("adapter {}: {e}", file.display()))?;
    let fanout = runtime::build_fanout(&config, Registry::default())?;
    match fanout.probe(&adapter).await {
        Ok(r) => Ok(format!(
            "probe ok: office {} at {} answered {} ({} records) in {} ms, translated with {}",
            adapter.office,
            adapter.endpoint,
            r.status,
            r.records,
            r.latency.as_millis(),
            adapter.dialect
        )),
        Err(why) => bail!(
            "probe failed: office {} at {}: {why}",
            adapter.office,
            adapter.endpoint
        ),
    }
}

/// How `guichet adapters list` reaches the gateway.
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// Configuration file.
    pub config: PathBuf,
    /// `https://host:port` of the gateway (default: the configuration's listen address).
    pub gateway: Option<String>,
    /// Client certificate and key with role `admin` or `office` (default: the dev PKI's
    /// `admin-ops` next to the offices' CA).
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Read the adapters folder instead of asking the gateway (no health).
    pub offline: bool,
}

/// `guichet adapters list`: the live registry with health from the gateway's API; with
/// `--offline`, or when the gateway cannot be reached, the registry itself (no health):
/// the folder's files, or the PostgreSQL store's registry.
pub async fn list(opts: &ListOptions) -> anyhow::Result<String> {
    let config = Config::load(&opts.config)?;
    if !opts.offline {
        match from_gateway(&config, opts).await {
            Ok(table) => return Ok(table),
            Err(e) => {
                eprintln!("guichet: gateway not reached ({e:#}); listing the adapters folder")
            }
        }
    }
    let listed = if config.store.location.backend() == "postgres" {
        shared(&config).await?
    } else {
        let mappings = MappingSet::load_dir(&config.offices.mappings)?;
        Store::open(&config.offices.adapters, mappings)?.list()
    };
    let rows = listed.into_iter().map(|l| {
        let def = l.def.as_ref();
        AdapterRow {
            office: l.office.to_string(),
            name: def.map(|d| d.name.clone()).unwrap_or_default(),
            state: if def.is_some() {
                "registered"
            } else {
                "deregistered"
            }
            .to_owned(),
            dialect: def.map(|d| d.dialect.clone()),
            endpoint: def.map(|d| d.endpoint.clone()),
            timeout_ms: None,
            version: Some(l.meta.version),
            changed_at: Some(l.meta.changed_at),
            changed_by: Some(l.meta.changed_by),
            circuit: None,
            last_status: None,
            last_latency_ms: None,
        }
    });
    Ok(table(rows))
}

/// The registry of a PostgreSQL store as it is in the database (read only: an empty
/// registry lists nothing; the gateway seeds it at its first start).
async fn shared(config: &Config) -> anyhow::Result<Vec<Listed>> {
    let db = crate::store::Store::connect(&config.store).await?;
    let rows = db.registry_rows().await;
    db.close().await;
    rows?
        .into_iter()
        .map(|r| {
            let def = r
                .definition
                .as_deref()
                .map(files::parse_def)
                .transpose()
                .map_err(|e| {
                    anyhow::anyhow!("registry office {} version {}: {e}", r.office, r.version)
                })?;
            Ok(Listed {
                office: r.office.parse()?,
                name: r.name,
                meta: Meta {
                    version: r.version,
                    changed_at: r.changed_at,
                    changed_by: r.changed_by,
                },
                def,
            })
        })
        .collect()
}

async fn from_gateway(config: &Config, opts: &ListOptions) -> anyhow::Result<String> {
    let base = match &opts.gateway {
        Some(g) => g.trim_end_matches('/').to_owned(),
        None => {
            let addr = config.server.listen;
            let host = if addr.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                addr.ip().to_string()
            };
            format!("https://{host}:{}", addr.port())
        }
    };
    let (cert, key) = opts.identity.clone().unwrap_or_else(|| {
        let dir = config.offices.ca.parent().unwrap_or(Path::new("certs"));
        (dir.join("admin-ops.pem"), dir.join("admin-ops.key"))
    });
    let roots = crate::tls::load_certs(&config.server.client_ca)?;
    let identity = (crate::tls::load_certs(&cert)?, crate::tls::load_key(&key)?);
    let tls = crate::tls::client_config(&roots, Some(identity))?;
    let client = crate::fanout::client(tls)?;
    let response = client
        .get(format!("{base}/v1/adapters"))
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        let detail = serde_json::from_slice::<ProblemView>(&body)
            .map(|p| p.detail)
            .unwrap_or_default();
        bail!("HTTP {status}: {detail}");
    }
    let view: AdaptersView =
        serde_json::from_slice(&body).context("the gateway's adapter list is not understood")?;
    Ok(table(view.adapters.into_iter()))
}

/// One line per office, aligned columns.
fn table(rows: impl Iterator<Item = AdapterRow>) -> String {
    const COLUMNS: [&str; 9] = [
        "office",
        "state",
        "version",
        "dialect",
        "circuit",
        "lastStatus",
        "lastLatencyMs",
        "changedBy",
        "endpoint",
    ];
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let number = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let cells = |r: AdapterRow| {
        vec![
            r.office,
            r.state,
            number(r.version),
            text(&r.dialect),
            text(&r.circuit),
            text(&r.last_status),
            number(r.last_latency_ms),
            text(&r.changed_by),
            text(&r.endpoint),
        ]
    };
    let mut lines: Vec<Vec<String>> = vec![COLUMNS.iter().map(|c| (*c).to_owned()).collect()];
    lines.extend(rows.map(cells));
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    lines
        .iter()
        .map(|l| {
            l.iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
