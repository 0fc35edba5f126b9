//! `[privacy]`: every purpose the federation knows, per portal the purposes it may state,
//! and what each purpose requires besides the portal's certificate: the end user's own
//! token (`end_user_token`, a person reading their own data) or a `Case-Reference` header
//! (`case_reference`, an institution working on a file). Raw lists in, a checked
//! [`PrivacyConfig`] out.

use std::collections::BTreeMap;

use super::FieldError;
use super::raw::RawPrivacy;

/// Purposes whose queries need the end user's token unless the file says otherwise.
const DEFAULT_END_USER: &[&str] = &["self-service"];
/// Purposes whose queries need a `Case-Reference` unless the file says otherwise.
const DEFAULT_CASE_REFERENCE: &[&str] = &["pension-calculation", "benefit-review"];

/// Purpose binding.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// Every purpose the federation knows.
    pub purposes: Vec<String>,
    /// Portal name → the purposes it may state.
    pub portals: BTreeMap<String, Vec<String>>,
    /// Purposes whose queries must carry the end user's token for the person asked about.
    pub end_user_token: Vec<String>,
    /// Purposes whose queries must carry a `Case-Reference` header (recorded in the audit).
    pub case_reference: Vec<String>,
}

/// What a query for a purpose must carry besides an allowed portal certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The end user's token, for the very person asked about.
    EndUserToken,
    /// A `Case-Reference` header naming the institution's file.
    CaseReference,
    /// Nothing more.
    Nothing,
}

impl PrivacyConfig {
    /// Whether portal `name` may query for `purpose`.
    pub fn allows(&self, name: &str, purpose: &str) -> bool {
        self.portals
            .get(name)
            .is_some_and(|p| p.iter().any(|x| x == purpose))
    }

    /// What a query for `purpose` must carry.
    pub fn requirement(&self, purpose: &str) -> Requirement {
        if self.end_user_token.iter().any(|p| p == purpose) {
            Requirement::EndUserToken
        } else if self.case_reference.iter().any(|p| p == purpose) {
            Requirement::CaseReference
        } else {
            Requirement::Nothing
        }
    }
}

impl RawPrivacy {
    /// Purposes are 1–64 lowercase letters, digits and '-'; a portal states only known
    /// ones; the requirement lists name known purposes, none in both.
    pub(super) fn validate(&self) -> Result<PrivacyConfig, FieldError> {
        let purpose_ok = |p: &String| {
            !p.is_empty()
                && p.len() <= 64
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if let Some(bad) = self.purposes.iter().find(|p| !purpose_ok(p)) {
            return Err(FieldError::new(
                "privacy.purposes",
                format!("{bad:?} — lowercase letters, digits and '-'"),
            ));
        }
        for (portal, purposes) in &self.portals {
            self.known(&format!("privacy.portals.{portal}"), purposes)?;
        }
        let end_user_token = self.listed(self.end_user_token.as_ref(), DEFAULT_END_USER);
        let case_reference = self.listed(self.case_reference.as_ref(), DEFAULT_CASE_REFERENCE);
        self.known("privacy.end_user_token", &end_user_token)?;
        self.known("privacy.case_reference", &case_reference)?;
        if let Some(both) = case_reference.iter().find(|p| end_user_token.contains(p)) {
            return Err(FieldError::new(
                "privacy.case_reference",
                format!(
                    "{both:?} is also in privacy.end_user_token: a purpose needs one or the other"
                ),
            ));
        }
        Ok(PrivacyConfig {
            purposes: self.purposes.clone(),
            portals: self.portals.clone(),
            end_user_token,
            case_reference,
        })
    }

    /// The list as written, or the defaults that are known purposes.
    fn listed(&self, written: Option<&Vec<String>>, defaults: &[&str]) -> Vec<String> {
        written.cloned().unwrap_or_else(|| {
            defaults
                .iter()
                .filter(|d| self.purposes.iter().any(|p| p == *d))
                .map(|d| (*d).to_owned())
                .collect()
        })
    }

    fn known(&self, key: &str, purposes: &[String]) -> Result<(), FieldError> {
        match purposes.iter().find(|p| !self.purposes.contains(p)) {
            Some(bad) => Err(FieldError::new(
                key,
                format!("{bad:?} is not one of privacy.purposes"),
            )),
            None => Ok(()),
        }
    }
}
