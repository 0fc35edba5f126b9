//! `[privacy]`: every purpose the federation knows and, per portal, the purposes it may
//! state. Raw lists in, a checked [`PrivacyConfig`] out.

use std::collections::BTreeMap;

use super::FieldError;
use super::raw::RawPrivacy;

/// Purpose binding.
#[derive(Debug, Clone)]
pub struct PrivacyConfig {
    /// Every purpose the federation knows.
    pub purposes: Vec<String>,
    /// Portal name → the purposes it may state.
    pub portals: BTreeMap<String, Vec<String>>,
}

impl PrivacyConfig {
    /// Whether portal `name` may query for `purpose`.
    pub fn allows(&self, name: &str, purpose: &str) -> bool {
        self.portals
            .get(name)
            .is_some_and(|p| p.iter().any(|x| x == purpose))
    }
}

impl RawPrivacy {
    /// Purposes are 1–64 lowercase letters, digits and '-'; a portal states only known ones.
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
            if let Some(bad) = purposes.iter().find(|p| !self.purposes.contains(p)) {
                return Err(FieldError::new(
                    format!("privacy.portals.{portal}"),
                    format!("{bad:?} is not one of privacy.purposes"),
                ));
            }
        }
        Ok(PrivacyConfig {
            purposes: self.purposes.clone(),
            portals: self.portals.clone(),
        })
    }
}
