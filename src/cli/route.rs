//! `guichet route`: which fund a claim would go to, offline — the claim file is validated
//! (every error as a JSON pointer), the register's answer read from a file, the rules
//! file compiled, and the decision shown with the rule that fired and why the ones before
//! did not apply. The same `RoutingRules::decide` the submissions path calls.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::model::{
    Affiliation, ApgClaim, Date, IvFile, OfficeId, RegisterAccount, RegisterAnswer, YearMonth,
};
use crate::routing::RoutingRules;
use crate::view::RoutingDecisionView;

/// The decision for the claim in `claim`, given the register's answer in `register`
/// (JSON as `guichet translate` prints a register answer; none: unknown to the register),
/// as text, or as JSON with `json`.
pub fn route(
    claim: &Path,
    register: Option<&Path>,
    rules: &Path,
    json: bool,
) -> anyhow::Result<String> {
    let body = std::fs::read(claim)
        .with_context(|| format!("{}: cannot read the claim", claim.display()))?;
    let claim_value = match ApgClaim::from_json(&body) {
        Ok(c) => c,
        Err(errors) => {
            let lines: Vec<String> = errors
                .0
                .iter()
                .map(|e| format!("  {}: {}", pointer_label(&e.pointer), e.message))
                .collect();
            bail!(
                "{}: the claim is not valid:\n{}",
                claim.display(),
                lines.join("\n")
            );
        }
    };
    let answer = match register {
        Some(path) => read_register(path)?,
        None => RegisterAnswer::default(),
    };
    let rules_value = RoutingRules::load(rules)?;
    let decision = rules_value.decide(&claim_value, &answer).map_err(|e| {
        let why: Vec<String> = e
            .skipped
            .iter()
            .map(|(r, w)| format!("  {r}: {w}"))
            .collect();
        anyhow::anyhow!("{e}:\n{}", why.join("\n"))
    })?;
    let view = RoutingDecisionView::new(&decision, claim_value.sha256_hex());
    if json {
        return Ok(serde_json::to_string_pretty(&view)?);
    }
    let mut out = format!(
        "rules: {} ({} rules)\nregister: {}\n",
        rules.display(),
        rules_value.rules().len(),
        match register {
            Some(_) if answer.known => format!("{} account(s)", answer.accounts.len()),
            Some(_) => "the person is unknown to the register".to_owned(),
            None => "not given (as if unknown)".to_owned(),
        }
    );
    for s in &view.skipped {
        out.push_str(&format!("  skipped {}: {}\n", s.rule, s.reason));
    }
    out.push_str(&format!("  fired   {}: {}\n", view.rule, view.explanation));
    out.push_str(&format!(
        "competent office: {} (rule {})\nclaim sha256: {}",
        view.competent_office, view.rule, view.claim_sha256
    ));
    Ok(out)
}

/// `""` is the whole body.
fn pointer_label(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(body)"
    } else {
        pointer
    }
}

/// The register answer's JSON (the shape `guichet translate` prints for `ech-register`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRegister {
    known: bool,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    accounts: Vec<RawAccount>,
    #[serde(default)]
    iv_files: Vec<RawIvFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawAccount {
    office: OfficeId,
    #[serde(default)]
    opened: Option<String>,
    #[serde(default)]
    last_reported_year: Option<u16>,
    #[serde(default)]
    affiliation: Option<RawAffiliation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAffiliation {
    current: bool,
    genre: u8,
    since: String,
    #[serde(default)]
    until: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIvFile {
    office: OfficeId,
    #[serde(default)]
    since: Option<String>,
}

/// Reads a register answer from JSON.
fn read_register(path: &Path) -> anyhow::Result<RegisterAnswer> {
    let file = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{file}: cannot read the register answer"))?;
    let raw: RawRegister = serde_json::from_str(&text)
        .with_context(|| format!("{file}: not a register answer (JSON)"))?;
    let date = |what: &str, s: &str| -> anyhow::Result<Date> {
        let f = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(s, f).with_context(|| format!("{file}: {what} is not a date YYYY-MM-DD"))
    };
    let mut accounts = Vec::new();
    for (i, a) in raw.accounts.into_iter().enumerate() {
        let at = format!("accounts[{i}]");
        let opened = match a.opened.as_deref() {
            Some(s) => {
                Some(year_month(s).with_context(|| format!("{file}: {at}.opened is not YYYY-MM"))?)
            }
            None => None,
        };
        let affiliation = match a.affiliation {
            Some(f) => Some(Affiliation {
                current: f.current,
                genre: f.genre,
                since: date(&format!("{at}.affiliation.since"), &f.since)?,
                until: f
                    .until
                    .map(|u| date(&format!("{at}.affiliation.until"), &u))
                    .transpose()?,
            }),
            None => None,
        };
        accounts.push(RegisterAccount {
            office: a.office,
            opened,
            last_reported_year: a.last_reported_year,
            affiliation,
        });
    }
    let mut iv_files = Vec::new();
    for (i, f) in raw.iv_files.into_iter().enumerate() {
        let since = f
            .since
            .map(|s| date(&format!("ivFiles[{i}].since"), &s))
            .transpose()?;
        iv_files.push(IvFile {
            office: f.office,
            since,
        });
    }
    let mut answer = RegisterAnswer {
        as_of: raw.as_of.map(|s| date("asOf", &s)).transpose()?,
        accounts,
        iv_files,
        known: raw.known,
    };
    answer.normalize();
    Ok(answer)
}

fn year_month(s: &str) -> Option<YearMonth> {
    let (y, m) = s.split_once('-')?;
    YearMonth::new(y.parse().ok()?, m.parse().ok()?)
}
