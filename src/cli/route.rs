//! `guichet route`: which fund a claim would go to, offline — the claim file is validated
//! (every error as a JSON pointer), the register's answer read from a file, the rules
//! file compiled, and the decision shown with the rule that fired and why the ones before
//! did not apply. The same `RoutingRules::decide` the submissions path calls.

use std::path::Path;

use crate::mapping::{DEFAULT_MAX_ANSWER_BYTES, Mapping};
use crate::model::{
    Affiliation, ApgClaim, Date, IvFile, OfficeId, RegisterAccount, RegisterAnswer, Vn, YearMonth,
};
use crate::routing::RoutingRules;
use crate::view::{RegisterAnswerView, RoutingDecisionView};
use anyhow::{Context, bail};

/// What `guichet route` reads.
#[derive(Debug, Clone, Copy)]
pub struct RouteFiles<'a> {
    /// The claim (JSON).
    pub claim: &'a Path,
    /// The register's answer for the claimant (XML `ech-register` or its JSON); none:
    /// the person counts as unknown to the register.
    pub register: Option<&'a Path>,
    /// The routing rules file.
    pub rules: &'a Path,
    /// The mappings folder (for an XML register answer).
    pub mappings: &'a Path,
}

/// The decision for a claim as text, or as JSON with `json`.
pub fn route(files: RouteFiles<'_>, json: bool) -> anyhow::Result<String> {
    let RouteFiles {
        claim,
        register,
        rules,
        mappings,
    } = files;
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
        Some(path) => read_register(path, mappings, claim_value.claimant.vn)?,
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

/// Reads a register answer: XML in the `ech-register` dialect (the mapping file
/// `mappings/ech-register.toml`), or JSON as `guichet translate` prints one. The XML must
/// be about the claimant.
fn read_register(path: &Path, mappings: &Path, claimant: Vn) -> anyhow::Result<RegisterAnswer> {
    let file = path.display();
    let body =
        std::fs::read(path).with_context(|| format!("{file}: cannot read the register answer"))?;
    if body.trim_ascii_start().starts_with(b"<") {
        let mapping = Mapping::load(&mappings.join("ech-register.toml"))?;
        return mapping
            .translate_register(claimant, &body, DEFAULT_MAX_ANSWER_BYTES)
            .map_err(|e| anyhow::anyhow!("{file}: {}", e.redacted()));
    }
    let view: RegisterAnswerView = serde_json::from_slice(&body)
        .with_context(|| format!("{file}: not a register answer (XML or JSON)"))?;
    from_view(view).with_context(|| format!("{file}: not a register answer"))
}

/// The model of a register answer read back from its JSON view.
fn from_view(v: RegisterAnswerView) -> anyhow::Result<RegisterAnswer> {
    let date = |what: &str, s: &str| -> anyhow::Result<Date> {
        let f = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(s, f).with_context(|| format!("{what} is not a date YYYY-MM-DD"))
    };
    let office = |what: &str, s: &str| -> anyhow::Result<OfficeId> {
        s.parse()
            .with_context(|| format!("{what} is not an office id"))
    };
    let mut accounts = Vec::new();
    for (i, a) in v.accounts.into_iter().enumerate() {
        let at = format!("accounts[{i}]");
        let opened = match a.opened.as_deref() {
            Some(s) => Some(year_month(s).with_context(|| format!("{at}.opened is not YYYY-MM"))?),
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
            office: office(&format!("{at}.office"), &a.office)?,
            opened,
            last_reported_year: a.last_reported_year,
            affiliation,
        });
    }
    let mut iv_files = Vec::new();
    for (i, f) in v.iv_files.into_iter().enumerate() {
        iv_files.push(IvFile {
            office: office(&format!("ivFiles[{i}].office"), &f.office)?,
            since: f
                .since
                .map(|s| date(&format!("ivFiles[{i}].since"), &s))
                .transpose()?,
        });
    }
    let mut answer = RegisterAnswer {
        as_of: v.as_of.map(|s| date("asOf", &s)).transpose()?,
        accounts,
        iv_files,
        known: v.known,
    };
    answer.normalize();
    Ok(answer)
}

fn year_month(s: &str) -> Option<YearMonth> {
    let (y, m) = s.split_once('-')?;
    YearMonth::new(y.parse().ok()?, m.parse().ok()?)
}
