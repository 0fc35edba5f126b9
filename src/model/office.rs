//! Offices: the id `NNN.NNN`, the kind of office and the canton.

use std::fmt;
use std::str::FromStr;

/// A compensation fund or IV office with its agency: `025.000`, `026.001`, `106.003`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfficeId {
    /// Fund or IV-office number (1–999).
    pub number: u16,
    /// Agency (Zweigstelle), 0 for the main office.
    pub agency: u16,
}

/// Why a string is not an office id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an office id NNN.NNN (number 001–999, agency 000–999)")]
pub struct OfficeIdError(pub String);

impl OfficeId {
    /// Builds an id from its parts, refusing number 0 and parts above 999.
    pub fn new(number: u16, agency: u16) -> Option<OfficeId> {
        (1..=999).contains(&number).then_some(())?;
        (agency <= 999).then_some(OfficeId { number, agency })
    }

    /// The sedex participant id of this office in environment `prefix` (`T6`, `6`):
    /// `T6-025000-1`.
    pub fn participant_id(&self, prefix: &str) -> String {
        format!("{prefix}-{:03}{:03}-1", self.number, self.agency)
    }
}

impl fmt::Display for OfficeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}.{:03}", self.number, self.agency)
    }
}

impl FromStr for OfficeId {
    type Err = OfficeIdError;
    fn from_str(s: &str) -> Result<OfficeId, OfficeIdError> {
        let err = || OfficeIdError(s.chars().take(40).collect());
        let (n, a) = s.split_once('.').ok_or_else(err)?;
        let three = |p: &str| p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit());
        if !three(n) || !three(a) {
            return Err(err());
        }
        let number = n.parse().map_err(|_| err())?;
        let agency = a.parse().map_err(|_| err())?;
        OfficeId::new(number, agency).ok_or_else(err)
    }
}

impl serde::Serialize for OfficeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for OfficeId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<OfficeId, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The eCH-0090 participant id pattern `T?[1-9]-[0-9A-Z]+-[0-9]+`.
pub fn is_participant_id(id: &str) -> bool {
    let id = id.strip_prefix('T').unwrap_or(id);
    let mut parts = id.split('-');
    let (Some(a), Some(b), Some(c), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    a.len() == 1
        && a.bytes().all(|x| (b'1'..=b'9').contains(&x))
        && !b.is_empty()
        && b.bytes()
            .all(|x| x.is_ascii_digit() || x.is_ascii_uppercase())
        && !c.is_empty()
        && c.bytes().all(|x| x.is_ascii_digit())
        && id.len() <= 50
}

/// What kind of office: it decides what the office holds (IK accounts or IV cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficeKind {
    /// One of the 26 cantonal compensation funds.
    Cantonal,
    /// A federal compensation fund (EAK, CSC).
    Federal,
    /// A professional association's compensation fund.
    Association,
    /// A cantonal IV office (invalidity insurance).
    IvOffice,
}

impl OfficeKind {
    /// Whether offices of this kind keep individual accounts (IK).
    pub fn holds_ik(self) -> bool {
        !matches!(self, OfficeKind::IvOffice)
    }
}

/// The 26 cantons, by their official two-letter abbreviation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Canton([u8; 2]);

/// Why a string is not a canton abbreviation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Swiss canton abbreviation (ZH, BE, … JU)")]
pub struct CantonError(pub String);

/// Official abbreviations, in the federal order.
pub const CANTONS: [&str; 26] = [
    "ZH", "BE", "LU", "UR", "SZ", "OW", "NW", "GL", "ZG", "FR", "SO", "BS", "BL", "SH", "AR", "AI",
    "SG", "GR", "AG", "TG", "TI", "VD", "VS", "NE", "GE", "JU",
];

impl Canton {
    /// The abbreviation, e.g. `GE`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl FromStr for Canton {
    type Err = CantonError;
    fn from_str(s: &str) -> Result<Canton, CantonError> {
        match CANTONS.iter().find(|c| **c == s) {
            Some(c) => Ok(Canton([c.as_bytes()[0], c.as_bytes()[1]])),
            None => Err(CantonError(s.chars().take(10).collect())),
        }
    }
}

impl fmt::Display for Canton {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Canton {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Canton {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Canton, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_ids_follow_the_ech_0090_pattern() {
        for ok in ["T6-000000-1", "6-066000-1", "T1-ABC9-22"] {
            assert!(is_participant_id(ok), "{ok}");
        }
        for bad in [
            "",
            "T0-1-1",
            "T6-000000",
            "T6--1",
            "T6-abc-1",
            "X6-1-1",
            "T6-1-1-1",
            "T6-1-x",
        ] {
            assert!(!is_participant_id(bad), "{bad}");
        }
    }

    #[test]
    fn office_ids() {
        let id: OfficeId = "026.001".parse().expect("valid");
        assert_eq!(
            id,
            OfficeId {
                number: 26,
                agency: 1
            }
        );
        assert_eq!(id.to_string(), "026.001");
        assert_eq!(id.participant_id("T6"), "T6-026001-1");
        for bad in [
            "26.1", "000.000", "1000.000", "025-000", "025.0000", "abc.def", "",
        ] {
            assert!(bad.parse::<OfficeId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cantons() {
        assert_eq!(
            "JU".parse::<Canton>().map(|c| c.to_string()),
            Ok("JU".into())
        );
        assert!("XX".parse::<Canton>().is_err());
        assert!("ge".parse::<Canton>().is_err());
    }
}
