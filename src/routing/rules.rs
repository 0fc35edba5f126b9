//! The routing rules file (`config/routing/apg.toml`): its raw shape and its compilation
//! into typed rules. Every error names the file, the line and the rule.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::Spanned;

use super::expr::{OfficeExpr, Selector};
use crate::model::RegisterAnswer;
use crate::model::claim::{Activity, ApgClaim, ServiceKind, ServiceType};
use crate::model::{CANTONS, Canton, OfficeId};
use crate::toml_error::{Position, TomlError};

/// A rules file that cannot be used: which file, where, which rule, what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default(), rule.as_ref().map(|r| format!("rule {r:?}: ")).unwrap_or_default())]
pub struct RulesError {
    /// The file (as given).
    pub file: String,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The rule's id, when the error is inside a rule.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "rule", default)]
    rules: Vec<RawRule>,
    cantonal_funds: Spanned<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    when: Option<Spanned<RawWhen>>,
    office: Spanned<OneOrMany<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    residence: Option<String>,
    activity: Option<OneOrMany<String>>,
    canton: Option<OneOrMany<String>>,
    service_kind: Option<OneOrMany<String>>,
    service_type: Option<OneOrMany<u64>>,
    has_affiliation: Option<String>,
    register: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

/// One condition of a rule's `when`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// `residence = "abroad"` (true) or `"switzerland"` (false).
    Abroad(bool),
    /// `activity = [...]`: one of these activities before service.
    Activity(Vec<&'static str>),
    /// `canton = [...]`: resident in one of these cantons.
    Canton(Vec<Canton>),
    /// `service_kind = [...]`.
    ServiceKind(Vec<ServiceKind>),
    /// `service_type = [...]`.
    ServiceType(Vec<ServiceType>),
    /// `has_affiliation = "SELECTOR"`: the register lists a matching affiliation.
    HasAffiliation(Selector),
    /// `register = "known"` (true) or `"unknown"` (false).
    RegisterKnown(bool),
}

impl Condition {
    /// Whether the condition holds, and in words (for explanations; no personal data).
    pub fn check(&self, claim: &ApgClaim, register: &RegisterAnswer) -> (bool, String) {
        let address = &claim.claimant.address;
        match self {
            Condition::Abroad(abroad) => (
                address.is_abroad() == *abroad,
                format!(
                    "residence {}",
                    if address.is_abroad() {
                        "abroad"
                    } else {
                        "in Switzerland"
                    }
                ),
            ),
            Condition::Activity(names) => {
                let name = claim.activity_before_service.name();
                (names.contains(&name), format!("activity {name}"))
            }
            Condition::Canton(cantons) => match address.canton {
                Some(c) => (cantons.contains(&c), format!("canton {c}")),
                None => (false, "no canton (residence abroad)".into()),
            },
            Condition::ServiceKind(kinds) => {
                let kind = claim.service_period.service_type.kind();
                (
                    kinds.contains(&kind),
                    format!("service kind {}", kind.name()),
                )
            }
            Condition::ServiceType(types) => {
                let t = claim.service_period.service_type;
                (types.contains(&t), format!("service type {}", t.code()))
            }
            Condition::HasAffiliation(sel) => {
                let n = sel.select(claim, register).len();
                (n > 0, format!("{n} affiliation(s) ({})", sel.describe()))
            }
            Condition::RegisterKnown(known) => (
                register.known == *known,
                format!(
                    "person {} to the register",
                    if register.known { "known" } else { "unknown" }
                ),
            ),
        }
    }
}

/// One compiled rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Its id (`employee-current-affiliation`), unique in the file.
    pub id: String,
    /// Free text from the file.
    pub description: Option<String>,
    /// Line of its `id` in the file.
    pub line: usize,
    /// All must hold.
    pub conditions: Vec<Condition>,
    /// Tried in order; the first that yields an office decides.
    pub offices: Vec<OfficeExpr>,
}

/// The compiled file: the rules in order and the cantonal fund of every canton.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Compiled {
    pub rules: Vec<Rule>,
    pub cantonal: BTreeMap<Canton, OfficeId>,
}

/// Parses and checks a rules file's text; `file` names it in errors.
pub(super) fn compile(text: &str, file: &str) -> Result<Compiled, RulesError> {
    let err = |line: Option<usize>, rule: Option<&str>, message: String| RulesError {
        file: file.to_owned(),
        line,
        rule: rule.map(str::to_owned),
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let t = TomlError::new(text, &e);
        err(t.line(), None, t.message)
    })?;
    let line_of = |span: std::ops::Range<usize>| Position::of_span(text, &span).line;

    let table_line = line_of(raw.cantonal_funds.span());
    let mut cantonal = BTreeMap::new();
    for (k, v) in raw.cantonal_funds.into_inner() {
        let canton: Canton = k.parse().map_err(|e: crate::model::CantonError| {
            err(Some(table_line), None, format!("cantonal_funds: {e}"))
        })?;
        let office: OfficeId = v.parse().map_err(|e: crate::model::OfficeIdError| {
            err(Some(table_line), None, format!("cantonal_funds.{k}: {e}"))
        })?;
        cantonal.insert(canton, office);
    }
    let missing: Vec<&str> = CANTONS
        .iter()
        .copied()
        .filter(|c| c.parse().is_ok_and(|c: Canton| !cantonal.contains_key(&c)))
        .collect();
    if !missing.is_empty() {
        return Err(err(
            Some(table_line),
            None,
            format!("cantonal_funds lacks {}", missing.join(", ")),
        ));
    }

    if raw.rules.is_empty() {
        return Err(err(
            None,
            None,
            "no [[rule]]: at least one rule is needed".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut rules: Vec<Rule> = Vec::new();
    for r in raw.rules {
        let line = line_of(r.id.span());
        let id = r.id.into_inner();
        let fail = |l: usize, m: String| err(Some(l), Some(&id), m);
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(fail(
                line,
                "an id is lower-case letters, digits and '-'".into(),
            ));
        }
        if !seen.insert(id.clone()) {
            return Err(fail(line, "this id is used by an earlier rule".into()));
        }
        if let Some(earlier) = rules.iter().find(|e| always_decides(e)) {
            return Err(fail(
                line,
                format!(
                    "unreachable: rule {:?} before it always decides",
                    earlier.id
                ),
            ));
        }
        let conditions = match r.when {
            Some(w) => {
                let wl = line_of(w.span());
                compile_when(w.into_inner()).map_err(|m| fail(wl, m))?
            }
            None => Vec::new(),
        };
        let ol = line_of(r.office.span());
        let offices = r
            .office
            .into_inner()
            .into_vec()
            .iter()
            .map(|o| OfficeExpr::parse(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| fail(ol, format!("office: {m}")))?;
        if offices.is_empty() {
            return Err(fail(
                ol,
                "office: give at least one office expression".into(),
            ));
        }
        rules.push(Rule {
            id,
            description: r.description,
            line,
            conditions,
            offices,
        });
    }
    Ok(Compiled { rules, cantonal })
}

/// A rule without conditions whose office expressions include a fixed office.
fn always_decides(rule: &Rule) -> bool {
    rule.conditions.is_empty()
        && rule
            .offices
            .iter()
            .any(|o| matches!(o, OfficeExpr::Fixed(_)))
}

fn compile_when(w: RawWhen) -> Result<Vec<Condition>, String> {
    let mut c = Vec::new();
    if let Some(r) = w.residence {
        c.push(Condition::Abroad(match r.as_str() {
            "abroad" => true,
            "switzerland" => false,
            _ => {
                return Err(format!(
                    "residence: {r:?} is neither \"abroad\" nor \"switzerland\""
                ));
            }
        }));
    }
    if let Some(a) = w.activity {
        let names = non_empty("activity", a.into_vec())?
            .iter()
            .map(|n| {
                Activity::NAMES.into_iter().find(|k| k == n).ok_or_else(|| {
                    format!(
                        "activity: {n:?} is not one of {}",
                        Activity::NAMES.join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        c.push(Condition::Activity(names));
    }
    if let Some(k) = w.canton {
        let cantons = non_empty("canton", k.into_vec())?
            .iter()
            .map(|n| n.parse().map_err(|e| format!("canton: {e}")))
            .collect::<Result<_, String>>()?;
        c.push(Condition::Canton(cantons));
    }
    if let Some(k) = w.service_kind {
        let kinds = non_empty("service_kind", k.into_vec())?
            .iter()
            .map(|n| service_kind(n))
            .collect::<Result<_, _>>()?;
        c.push(Condition::ServiceKind(kinds));
    }
    if let Some(t) = w.service_type {
        let types = non_empty("service_type", t.into_vec())?
            .into_iter()
            .map(|n| ServiceType::new(n).map_err(|e| format!("service_type {n}: {e}")))
            .collect::<Result<_, _>>()?;
        c.push(Condition::ServiceType(types));
    }
    if let Some(s) = w.has_affiliation {
        c.push(Condition::HasAffiliation(
            Selector::parse(&s).map_err(|m| format!("has_affiliation: {m}"))?,
        ));
    }
    if let Some(r) = w.register {
        c.push(Condition::RegisterKnown(match r.as_str() {
            "known" => true,
            "unknown" => false,
            _ => {
                return Err(format!(
                    "register: {r:?} is neither \"known\" nor \"unknown\""
                ));
            }
        }));
    }
    Ok(c)
}

fn non_empty<T>(key: &str, v: Vec<T>) -> Result<Vec<T>, String> {
    if v.is_empty() {
        Err(format!("{key}: an empty list never matches"))
    } else {
        Ok(v)
    }
}

fn service_kind(name: &str) -> Result<ServiceKind, String> {
    [
        ServiceKind::Army,
        ServiceKind::CivilProtection,
        ServiceKind::YouthAndSport,
        ServiceKind::CivilianService,
        ServiceKind::YoungMarksmen,
    ]
    .into_iter()
    .find(|k| k.name() == name)
    .ok_or_else(|| {
        format!("service_kind: {name:?} is not one of army, civil-protection, youth-and-sport, civilian-service, young-marksmen")
    })
}
