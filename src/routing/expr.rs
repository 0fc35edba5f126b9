//! The small languages of a routing rule: affiliation selectors (`genre=1,current`) and
//! office expressions (`"027.000"`, `affiliation(genre=1,current).office`,
//! `cantonal_fund(residence)`), parsed once and evaluated against a claim and the
//! register's answer.

use std::collections::BTreeMap;

use crate::model::claim::ApgClaim;
use crate::model::{Affiliation, RegisterAccount, RegisterAnswer};
use crate::model::{Canton, OfficeId};

/// Which of the person's affiliations a rule looks at.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Selector {
    /// Genre digits (1 employee, 3 and 9 self-employed, 4 not gainfully employed); any
    /// genre when empty.
    pub genres: Vec<u8>,
    /// `current` (true) or `past` (false), either if `None`.
    pub current: Option<bool>,
    /// Only affiliations overlapping the service period.
    pub during_service: bool,
}

impl Selector {
    /// Parses `genre=1,current`, `genre=3|9`, `genre=4,past`, `during_service`; an empty
    /// text selects every affiliation.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut s = Selector::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("genre", g)) if s.genres.is_empty() => {
                    for digit in g.split('|').map(str::trim) {
                        match digit.as_bytes() {
                            [d @ b'0'..=b'9'] => s.genres.push(d - b'0'),
                            _ => {
                                return Err(format!(
                                    "genre={g}: a genre is one digit 0–9 (several: genre=3|9)"
                                ));
                            }
                        }
                    }
                }
                Some(("genre", _)) => return Err("give genre= once (several: genre=3|9)".into()),
                None if part == "current" || part == "past" => {
                    if s.current.is_some() {
                        return Err("give current or past once".into());
                    }
                    s.current = Some(part == "current");
                }
                None if part == "during_service" => s.during_service = true,
                _ => {
                    return Err(format!(
                        "{part:?} is not a selector (genre=N, current, past, during_service)"
                    ));
                }
            }
        }
        Ok(s)
    }

    fn matches(&self, a: &Affiliation, claim: &ApgClaim) -> bool {
        let period = &claim.service_period;
        (self.genres.is_empty() || self.genres.contains(&a.genre))
            && self.current.is_none_or(|c| c == a.current)
            && (!self.during_service
                || (a.since <= period.end_date && a.until.is_none_or(|u| u >= period.start_date)))
    }

    /// The matching accounts, the most recent affiliation first (then by office id).
    pub fn select<'r>(
        &self,
        claim: &ApgClaim,
        register: &'r RegisterAnswer,
    ) -> Vec<(&'r RegisterAccount, Affiliation)> {
        let mut found: Vec<(&RegisterAccount, Affiliation)> = register
            .accounts
            .iter()
            .filter_map(|acc| acc.affiliation.map(|a| (acc, a)))
            .filter(|(_, a)| self.matches(a, claim))
            .collect();
        found.sort_by(|(x, a), (y, b)| b.since.cmp(&a.since).then(x.office.cmp(&y.office)));
        found
    }

    /// Human form for explanations: `genre 1, current`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.genres.is_empty() {
            let g: Vec<String> = self.genres.iter().map(ToString::to_string).collect();
            parts.push(format!("genre {}", g.join(" or ")));
        }
        match self.current {
            Some(true) => parts.push("current".into()),
            Some(false) => parts.push("past".into()),
            None => {}
        }
        if self.during_service {
            parts.push("during the service".into());
        }
        if parts.is_empty() {
            "any".into()
        } else {
            parts.join(", ")
        }
    }
}

/// How a rule names the competent office.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfficeExpr {
    /// Always this office.
    Fixed(OfficeId),
    /// The office of the person's most recent matching affiliation.
    Affiliation(Selector),
    /// The cantonal fund of the canton of residence (nothing for a residence abroad).
    CantonalFund,
}

impl OfficeExpr {
    /// Parses one expression.
    pub fn parse(text: &str) -> Result<OfficeExpr, String> {
        let t = text.trim();
        if let Ok(office) = t.parse::<OfficeId>() {
            return Ok(OfficeExpr::Fixed(office));
        }
        if let Some(inner) = t
            .strip_prefix("affiliation(")
            .and_then(|r| r.strip_suffix(").office"))
        {
            return Selector::parse(inner).map(OfficeExpr::Affiliation);
        }
        if t == "cantonal_fund(residence)" {
            return Ok(OfficeExpr::CantonalFund);
        }
        Err(format!(
            "{t:?} is not an office expression: an office id \"NNN.NNN\", \
             \"affiliation(SELECTOR).office\" or \"cantonal_fund(residence)\""
        ))
    }

    /// The office, or why there is none. Explanations name offices, genres and cantons,
    /// never the person.
    pub fn evaluate(
        &self,
        claim: &ApgClaim,
        register: &RegisterAnswer,
        cantonal: &BTreeMap<Canton, OfficeId>,
    ) -> Result<(OfficeId, String), String> {
        match self {
            OfficeExpr::Fixed(office) => Ok((*office, format!("fixed office {office}"))),
            OfficeExpr::Affiliation(sel) => {
                let found = sel.select(claim, register);
                let Some((acc, a)) = found.first() else {
                    return Err(format!(
                        "the register lists no affiliation ({})",
                        sel.describe()
                    ));
                };
                let mut why = format!(
                    "affiliation ({}) at {} since {}",
                    sel.describe(),
                    acc.office,
                    crate::model::claim::format_date(&a.since)
                );
                if found.len() > 1 {
                    why.push_str(&format!(
                        ", the most recent of {} matching affiliations",
                        found.len()
                    ));
                }
                Ok((acc.office, why))
            }
            OfficeExpr::CantonalFund => {
                let Some(canton) = claim.claimant.address.canton else {
                    return Err("residence abroad has no cantonal fund".into());
                };
                let office = cantonal
                    .get(&canton)
                    .ok_or_else(|| format!("no cantonal fund is configured for {canton}"))?;
                Ok((*office, format!("cantonal fund of {canton}: {office}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_and_selectors_parse_or_say_why() {
        assert_eq!(
            OfficeExpr::parse("027.000"),
            Ok(OfficeExpr::Fixed(OfficeId::new(27, 0).expect("id")))
        );
        assert_eq!(
            OfficeExpr::parse("affiliation(genre=1,current).office"),
            Ok(OfficeExpr::Affiliation(Selector {
                genres: vec![1],
                current: Some(true),
                during_service: false
            }))
        );
        assert_eq!(
            OfficeExpr::parse(" cantonal_fund(residence) "),
            Ok(OfficeExpr::CantonalFund)
        );
        assert!(OfficeExpr::parse("affiliation(genre=12).office").is_err());
        assert!(OfficeExpr::parse("affiliation(genre=1,genre=3).office").is_err());
        assert_eq!(
            Selector::parse("genre=3|9").map(|s| s.describe()),
            Ok("genre 3 or 9".into())
        );
        assert!(OfficeExpr::parse("affiliation(genre=1,current,past).office").is_err());
        assert!(OfficeExpr::parse("affiliation(colour=red).office").is_err());
        assert!(OfficeExpr::parse("cantonal_fund(work)").is_err());
        assert!(OfficeExpr::parse("27").is_err());
        assert_eq!(
            Selector::parse("genre=4, past, during_service").map(|s| s.describe()),
            Ok("genre 4, past, during the service".into())
        );
    }
}
