//! `guichet certs`: init, issue, list, renew, revoke and crl on a federation folder, for
//! the IT staff who run the federation. Output for people on stdout; `list --json` for tools.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, bail};

use crate::pki::inventory::{Entry, Inventory, rfc3339};
use crate::pki::manage::{self, CertTarget, IssueRequest};
use crate::pki::{FederationLayout, Identity, Role};

/// Exit status of `list --expiring` when something expires within the window.
pub const EXIT_EXPIRING: u8 = 2;

/// One `guichet certs` action, already parsed.
#[derive(Debug, Clone)]
pub enum CertsAction {
    /// Root CA + issuing CA, empty CRL and inventory.
    Init,
    /// A new certificate.
    Issue {
        /// Role.
        role: Role,
        /// Name.
        name: String,
        /// Validity in days.
        days: u32,
        /// serverAuth + SANs.
        server: bool,
        /// DNS SANs.
        dns: Vec<String>,
        /// IP SANs.
        ips: Vec<IpAddr>,
        /// Replace existing files.
        force: bool,
    },
    /// The inventory.
    List {
        /// Window like `30d`.
        expiring: Option<String>,
        /// JSON output.
        json: bool,
    },
    /// Renew by serial or name.
    Renew {
        /// Serial (hex).
        serial: Option<String>,
        /// Name instead of serial.
        name: Option<String>,
        /// Role, to disambiguate a name.
        role: Option<Role>,
        /// Validity (default: the old one's).
        days: Option<u32>,
    },
    /// Revoke and publish the CRL.
    Revoke {
        /// Serial (hex).
        serial: Option<String>,
        /// Name instead of serial (the certificate in use with it).
        name: Option<String>,
        /// Role, to disambiguate a name.
        role: Option<Role>,
        /// Reason: guichet's or the RFC 5280 / OpenSSL spelling.
        reason: String,
    },
    /// Re-publish the CRL (before it reaches its next update).
    Crl,
}

/// Runs one action in `dir`; returns the text for stdout and the exit status.
pub fn certs(dir: &Path, action: CertsAction) -> anyhow::Result<(String, u8)> {
    let layout = FederationLayout::new(dir);
    let mut out = String::new();
    let status = match action {
        CertsAction::Init => init(&mut out, dir)?,
        CertsAction::Issue {
            role,
            name,
            days,
            server,
            dns,
            ips,
            force,
        } => {
            let request = IssueRequest {
                identity: Identity::new(role, name)?,
                days,
                server,
                dns,
                ips,
                force,
            };
            issue(&mut out, &layout, &request)?
        }
        CertsAction::List { expiring, json } => list(&mut out, &layout, expiring, json)?,
        CertsAction::Renew {
            serial,
            name,
            role,
            days,
        } => renew(&mut out, &layout, &target(serial, name, role)?, days)?,
        CertsAction::Revoke {
            serial,
            name,
            role,
            reason,
        } => revoke(&mut out, &layout, target(serial, name, role)?, &reason)?,
        CertsAction::Crl => crl(&mut out, &layout)?,
    };
    Ok((out.trim_end().to_owned(), status))
}

/// `issue`: the new certificate.
fn issue(
    out: &mut String,
    layout: &FederationLayout,
    request: &IssueRequest,
) -> anyhow::Result<u8> {
    if !(1..=3650).contains(&request.days) {
        bail!("--days must be 1–3650");
    }
    let e = manage::issue(layout, request)?;
    describe(out, layout, "issued", &e)?;
    Ok(0)
}

/// `renew`: the new certificate, and until when the previous one stays valid.
fn renew(
    out: &mut String,
    layout: &FederationLayout,
    target: &CertTarget,
    days: Option<u32>,
) -> anyhow::Result<u8> {
    let (old, new) = manage::renew(layout, target, days)?;
    describe(out, layout, "renewed", &new)?;
    writeln!(
        out,
        "previous       {} stays valid until {} (revoke it once every peer has reloaded)",
        old.serial,
        rfc3339(old.not_after)
    )?;
    Ok(0)
}

/// `crl`: a fresh CRL and its number.
fn crl(out: &mut String, layout: &FederationLayout) -> anyhow::Result<u8> {
    let (ca, _) = layout.open_issuer()?;
    let mut inventory = Inventory::load(&layout.inventory)?;
    manage::publish_crl(layout, &ca, &mut inventory)?;
    inventory.save(&layout.inventory)?;
    writeln!(
        out,
        "CRL            {} (number {})",
        layout.crl.display(),
        inventory.crl_number
    )?;
    Ok(0)
}

/// `init`: the files it made.
fn init(out: &mut String, dir: &Path) -> anyhow::Result<u8> {
    let l = manage::init(dir)?;
    writeln!(
        out,
        "root CA        {} (trust anchor; move {} offline)",
        l.root.cert.display(),
        l.root.key.display()
    )?;
    writeln!(out, "issuing CA     {}", l.issuing.cert.display())?;
    writeln!(out, "CRL            {}", l.crl.display())?;
    writeln!(out, "inventory      {}", l.inventory.display())?;
    Ok(0)
}

/// `list`: the inventory; [`EXIT_EXPIRING`] when one in use expires within the window.
fn list(
    out: &mut String,
    layout: &FederationLayout,
    expiring: Option<String>,
    json: bool,
) -> anyhow::Result<u8> {
    let window = expiring.as_deref().map(parse_window).transpose()?;
    let inventory = Inventory::load(&layout.inventory)?;
    *out = if json {
        list_json(&inventory)?
    } else {
        list_table(&inventory)
    };
    let Some(days) = window else {
        return Ok(0);
    };
    let due = inventory
        .certificates
        .iter()
        .filter(|e| e.expiring_within(days))
        .count();
    if due == 0 {
        return Ok(0);
    }
    if !json {
        writeln!(out, "{due} certificate(s) in use expire within {days} days")?;
    }
    Ok(EXIT_EXPIRING)
}

/// `revoke`: what was revoked (or re-published) and the CRL.
fn revoke(
    out: &mut String,
    layout: &FederationLayout,
    target: CertTarget,
    reason: &str,
) -> anyhow::Result<u8> {
    let (e, newly) = manage::revoke_target(layout, &target, reason)?;
    let what = if newly {
        "revoked"
    } else {
        "already revoked; CRL re-published"
    };
    writeln!(
        out,
        "{what:<14} {} ({} {}, reason {})",
        e.serial,
        e.role,
        e.name,
        e.revoked.as_ref().map_or("-", |r| r.reason.as_str())
    )?;
    writeln!(out, "CRL            {}", layout.crl.display())?;
    Ok(0)
}

/// The certificate a SERIAL or `--name` (and `--role`) names.
fn target(
    serial: Option<String>,
    name: Option<String>,
    role: Option<Role>,
) -> anyhow::Result<CertTarget> {
    match (serial, name) {
        (Some(s), None) => Ok(CertTarget::Serial(s)),
        (None, Some(name)) => Ok(CertTarget::Name { name, role }),
        _ => bail!("give either a SERIAL or --name"),
    }
}

fn describe(
    out: &mut String,
    layout: &FederationLayout,
    what: &str,
    e: &Entry,
) -> anyhow::Result<()> {
    writeln!(out, "{what:<14} {} {} serial {}", e.role, e.name, e.serial)?;
    writeln!(
        out,
        "not after      {} ({} days)",
        rfc3339(e.not_after),
        e.days_left()
    )?;
    writeln!(
        out,
        "certificate    {}",
        layout.dir.join(&e.cert_file).display()
    )?;
    writeln!(
        out,
        "key            {} (0600)",
        layout.dir.join(&e.key_file).display()
    )?;
    writeln!(out, "trust anchor   {}", layout.trust_anchor().display())?;
    Ok(())
}

/// `30d`, `30`: days.
fn parse_window(text: &str) -> anyhow::Result<i64> {
    let digits = text.strip_suffix('d').unwrap_or(text);
    digits
        .parse::<i64>()
        .ok()
        .filter(|d| (0..=36_500).contains(d))
        .with_context(|| format!("--expiring {text:?}: expected days like 30d"))
}

fn list_table(inventory: &Inventory) -> String {
    let mut out = format!(
        "{:<32}  {:<7}  {:<16}  {:<20}  {:>5}  {:<10}  {}\n",
        "SERIAL", "ROLE", "NAME", "NOT AFTER", "DAYS", "STATUS", "SUBJECT"
    );
    for e in &inventory.certificates {
        let _ = writeln!(
            out,
            "{:<32}  {:<7}  {:<16}  {:<20}  {:>5}  {:<10}  {}",
            e.serial,
            e.role,
            e.name,
            rfc3339(e.not_after),
            e.days_left(),
            e.status(),
            e.subject
        );
    }
    out
}

fn list_json(inventory: &Inventory) -> anyhow::Result<String> {
    let rows: Vec<serde_json::Value> = inventory
        .certificates
        .iter()
        .map(|e| {
            serde_json::json!({
                "serial": e.serial,
                "role": e.role,
                "name": e.name,
                "subject": e.subject,
                "notAfter": rfc3339(e.not_after),
                "daysLeft": e.days_left(),
                "status": e.status(),
                "revoked": e.revoked.is_some(),
                "revocationReason": e.revoked.as_ref().map(|r| r.reason.clone()),
                "supersededBy": e.superseded_by,
                "certFile": e.cert_file,
                "keyFile": e.key_file,
            })
        })
        .collect();
    Ok(format!("{}\n", serde_json::to_string_pretty(&rows)?))
}
