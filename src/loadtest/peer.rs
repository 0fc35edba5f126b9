//! The benchmark peer: the naive Node.js aggregator of `shared/peers/node-aggregator`,
//! copied next to the benchmark output (the shared folder is read-only), installed with
//! `npm ci` once, and started against the same simulated offices as the gateway.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::adapter::Registry;
use crate::pki::DevPki;

use super::process::Child;

/// Why the peer is not part of a benchmark run (printed, never an error of the run).
pub fn unavailable(source: &Path) -> Option<String> {
    if !source.join("aggregator.js").is_file() {
        return Some(format!(
            "no aggregator.js in {} (pass --peer DIR)",
            source.display()
        ));
    }
    for tool in ["node", "npm"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Some(format!("`{tool}` is not installed or does not run"));
        }
    }
    None
}

/// Copies the peer into `dir` and runs `npm ci` there unless `node_modules` exists.
pub fn install(source: &Path, dir: &Path, log: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for name in ["aggregator.js", "package.json", "package-lock.json"] {
        let from = source.join(name);
        if from.is_file() {
            // Read and write rather than copy: the source is read-only, its copy need not be.
            let bytes =
                std::fs::read(&from).with_context(|| format!("cannot read {}", from.display()))?;
            std::fs::write(dir.join(name), bytes)
                .with_context(|| format!("cannot write into {}", dir.display()))?;
        }
    }
    if dir.join("node_modules").is_dir() {
        return Ok(());
    }
    let log_file = std::fs::File::create(log)?;
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .status()
        .context("cannot run npm ci")?;
    anyhow::ensure!(
        status.success(),
        "npm ci failed in {} (see {})",
        dir.display(),
        log.display()
    );
    Ok(())
}

/// `offices.json` of the peer from the adapter registry (endpoints of the simulator).
pub fn write_offices(registry: &Registry, path: &Path) -> anyhow::Result<()> {
    let offices: Vec<serde_json::Value> = registry
        .iter()
        .map(|a| {
            serde_json::json!({
                "office": a.office.to_string(),
                "url": a.endpoint.as_str(),
                "dialect": a.dialect,
            })
        })
        .collect();
    std::fs::write(path, serde_json::to_string_pretty(&offices)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Starts `node aggregator.js` on `127.0.0.1:port`: the gateway's client identity towards
/// the offices, the gateway's server certificate towards the load generator.
pub fn start(
    dir: &Path,
    pki: &DevPki,
    port: u16,
    deadline_ms: u64,
    h2: bool,
    log: &Path,
) -> anyhow::Result<Child> {
    let offices: PathBuf = dir.join("offices.json");
    let log_file = std::fs::File::create(log)?;
    let mut command = Command::new("node");
    if h2 {
        // Like with like: guichet speaks HTTP/2 to the offices when they offer it (they
        // do), so the peer does too (its own documented switch); over HTTP/1.1 it opens
        // one connection per office per query in flight.
        command.env("H2", "1");
    }
    let child = command
        .arg("aggregator.js")
        .current_dir(dir)
        .env("OFFICES", &offices)
        .env("CA", &pki.ca_cert)
        .env("CLIENT_CERT", &pki.gateway_client.cert)
        .env("CLIENT_KEY", &pki.gateway_client.key)
        .env("SERVER_CERT", &pki.gateway_server.cert)
        .env("SERVER_KEY", &pki.gateway_server.key)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DEADLINE_MS", deadline_ms.to_string())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .context("cannot start node")?;
    Ok(Child::new("node peer", child))
}
