//! The checked identifiers of a claim: IBAN (CH/LI, mod-97), UID (eCH-0097, mod-11) and
//! the EO service type. Errors never carry the input: an IBAN identifies an account.

use std::fmt;

/// A Swiss or Liechtenstein IBAN: `CH`/`LI`, two check digits, five-digit bank clearing
/// number, twelve alphanumeric characters — 21 characters that pass ISO 7064 mod-97.
///
/// Invariant: the value passed [`Iban::parse`] and is kept in machine form (no spaces,
/// upper case). `Debug` shows only the country and the clearing number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Iban(String);

/// Why a string is not a CH/LI IBAN. Never carries the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IbanError {
    /// Not `CH` or `LI`.
    #[error("only Swiss (CH) and Liechtenstein (LI) IBANs are accepted")]
    Country,
    /// Not 21 characters once spaces are removed.
    #[error("a CH/LI IBAN has 21 characters (got {0})")]
    Length(usize),
    /// A character that is neither a letter nor a digit, or a letter where digits belong.
    #[error("an IBAN is letters and digits: check digits and clearing number are digits")]
    Characters,
    /// The ISO 7064 mod-97 check fails.
    #[error("the check digits of the IBAN are wrong")]
    CheckDigits,
}

impl Iban {
    /// Parses the machine form or the printed form in groups of four (`CH93 0076 …`),
    /// in either case; keeps the machine form.
    pub fn parse(s: &str) -> Result<Iban, IbanError> {
        let compact: String = s
            .chars()
            .filter(|c| *c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if !(compact.starts_with("CH") || compact.starts_with("LI")) {
            return Err(IbanError::Country);
        }
        let b = compact.as_bytes();
        if !compact.is_ascii() || !b.iter().all(u8::is_ascii_alphanumeric) {
            return Err(IbanError::Characters);
        }
        if b.len() != 21 {
            return Err(IbanError::Length(compact.chars().count()));
        }
        if !b[2..9].iter().all(u8::is_ascii_digit) {
            return Err(IbanError::Characters);
        }
        if mod97(b) != 1 {
            return Err(IbanError::CheckDigits);
        }
        Ok(Iban(compact))
    }

    /// The machine form: 21 characters, no spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bank clearing number (IID), characters 5–9.
    pub fn clearing_number(&self) -> &str {
        &self.0[4..9]
    }
}

/// ISO 7064 mod-97-10 over the rearranged IBAN (first four characters moved to the end,
/// letters as 10–35). `b` is ASCII alphanumeric.
fn mod97(b: &[u8]) -> u32 {
    b[4..].iter().chain(&b[..4]).fold(0u32, |acc, c| {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        if v >= 10 {
            (acc * 100 + v) % 97
        } else {
            (acc * 10 + v) % 97
        }
    })
}

impl fmt::Debug for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Iban({}** {} ****)",
            &self.0[..2],
            self.clearing_number()
        )
    }
}

/// An enterprise identification number (UID, eCH-0097): `CHE-NNN.NNN.NNN` whose ninth
/// digit is the mod-11 check over the first eight with weights 5, 4, 3, 2, 7, 6, 5, 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Uid([u8; 9]);

/// Why a string is not a UID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UidError {
    /// Neither `CHE-NNN.NNN.NNN` nor `CHE` + 9 digits.
    #[error("a UID is written CHE-NNN.NNN.NNN")]
    Format,
    /// The mod-11 check digit does not match (or the number is one never issued).
    #[error("the check digit of the UID is wrong")]
    CheckDigit,
}

const UID_WEIGHTS: [u32; 8] = [5, 4, 3, 2, 7, 6, 5, 4];

impl Uid {
    /// Parses `CHE-109.322.551`, also without separators (`CHE109322551`).
    pub fn parse(s: &str) -> Result<Uid, UidError> {
        let rest = s.strip_prefix("CHE").ok_or(UidError::Format)?;
        let digits: Vec<u8> = match rest.len() {
            9 => rest.bytes().collect(),
            12 => {
                let b = rest.as_bytes();
                if b[0] != b'-' || b[4] != b'.' || b[8] != b'.' {
                    return Err(UidError::Format);
                }
                b.iter()
                    .enumerate()
                    .filter(|(i, _)| !matches!(i, 0 | 4 | 8))
                    .map(|(_, c)| *c)
                    .collect()
            }
            _ => return Err(UidError::Format),
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(UidError::Format);
        }
        let mut d = [0u8; 9];
        for (slot, c) in d.iter_mut().zip(&digits) {
            *slot = c - b'0';
        }
        if uid_check(&d[..8]) != Some(d[8]) {
            return Err(UidError::CheckDigit);
        }
        Ok(Uid(d))
    }

    /// Builds a valid UID from its first eight digits, or `None` for the numbers whose
    /// check would be 10 (never issued). Used by simulators and tests.
    pub fn from_serial(serial: u32) -> Option<Uid> {
        let mut d = [0u8; 9];
        let mut rest = serial % 100_000_000;
        for slot in d[..8].iter_mut().rev() {
            *slot = (rest % 10) as u8;
            rest /= 10;
        }
        d[8] = uid_check(&d[..8])?;
        Some(Uid(d))
    }
}

/// The mod-11 check digit over eight digits; `None` when it would be 10.
fn uid_check(first8: &[u8]) -> Option<u8> {
    let sum: u32 = first8
        .iter()
        .zip(UID_WEIGHTS)
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d: String = self.0.iter().map(|d| char::from(b'0' + d)).collect();
        write!(f, "CHE-{}.{}.{}", &d[..3], &d[3..6], &d[6..])
    }
}

/// The kind of service an EO allowance is claimed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    /// 10–16.
    Army,
    /// 20–23.
    CivilProtection,
    /// 30.
    YouthAndSport,
    /// 40–41.
    CivilianService,
    /// 50: instructors of young marksmen courses.
    YoungMarksmen,
}

impl ServiceKind {
    /// The name used in rule conditions and explanations (`army`, `civil-protection`, …).
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Army => "army",
            ServiceKind::CivilProtection => "civil-protection",
            ServiceKind::YouthAndSport => "youth-and-sport",
            ServiceKind::CivilianService => "civilian-service",
            ServiceKind::YoungMarksmen => "young-marksmen",
        }
    }
}

/// A service type code of the EO: 10–16, 20–23, 30, 40–41, 50. Others are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceType(u8);

/// Why a number is not a service type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the service type is one of 10–16 (army), 20–23 (civil protection), 30 (Youth+Sport), 40–41 (civilian service), 50 (young marksmen instructors)"
)]
pub struct ServiceTypeError;

impl ServiceType {
    /// Checks the code against the table.
    pub fn new(code: u64) -> Result<ServiceType, ServiceTypeError> {
        match code {
            10..=16 | 20..=23 | 30 | 40..=41 | 50 => Ok(ServiceType(code as u8)),
            _ => Err(ServiceTypeError),
        }
    }

    /// The code.
    pub fn code(self) -> u8 {
        self.0
    }

    /// The kind of service.
    pub fn kind(self) -> ServiceKind {
        match self.0 {
            10..=16 => ServiceKind::Army,
            20..=23 => ServiceKind::CivilProtection,
            30 => ServiceKind::YouthAndSport,
            40..=41 => ServiceKind::CivilianService,
            _ => ServiceKind::YoungMarksmen,
        }
    }
}

/// Test helpers of sibling modules.
#[cfg(test)]
pub(super) mod tests_support {
    /// The mod-97 remainder of an IBAN-shaped ASCII string (for computing check digits).
    pub fn mod97_of(s: &str) -> u32 {
        super::mod97(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn contract_examples() {
        let iban = Iban::parse("CH9300762011623852957").expect("contract IBAN");
        assert_eq!(iban.as_str(), "CH9300762011623852957");
        assert_eq!(Iban::parse("ch93 0076 2011 6238 5295 7"), Ok(iban.clone()));
        assert_eq!(iban.clearing_number(), "00762");
        assert!(!format!("{iban:?}").contains("623852957"));
        assert_eq!(
            Iban::parse("CH9300762011623852958"),
            Err(IbanError::CheckDigits)
        );
        assert_eq!(
            Iban::parse("DE89370400440532013000"),
            Err(IbanError::Country)
        );
        assert_eq!(
            Iban::parse("CH93007620116238529"),
            Err(IbanError::Length(19))
        );
        assert_eq!(
            Iban::parse("CH930076201162385295-"),
            Err(IbanError::Characters)
        );
        // A Liechtenstein IBAN (published example).
        assert!(Iban::parse("LI21 0881 0000 2324 013A A").is_ok());

        let uid = Uid::parse("CHE-109.322.551").expect("contract UID");
        assert_eq!(uid.to_string(), "CHE-109.322.551");
        assert_eq!(Uid::parse("CHE109322551"), Ok(uid));
        assert_eq!(Uid::parse("CHE-109.322.552"), Err(UidError::CheckDigit));
        assert_eq!(Uid::parse("CHE-109322.551"), Err(UidError::Format));
        assert_eq!(Uid::parse("ABC-109.322.551"), Err(UidError::Format));
        assert_eq!(Uid::parse("CHE-1O9.322.551"), Err(UidError::Format));

        assert_eq!(
            ServiceType::new(11).map(ServiceType::kind),
            Ok(ServiceKind::Army)
        );
        assert_eq!(
            ServiceType::new(41).map(ServiceType::kind),
            Ok(ServiceKind::CivilianService)
        );
        for bad in [0, 9, 17, 19, 24, 29, 31, 39, 42, 49, 51, 256, 266] {
            assert_eq!(ServiceType::new(bad), Err(ServiceTypeError), "{bad}");
        }
    }

    /// A valid CH IBAN from a clearing number and an account part, check digits computed.
    fn iban_from(clearing: u32, account: u64) -> String {
        let body = format!("{clearing:05}{account:012}");
        let probe = format!("CH00{body}");
        let check = 98 - mod97(probe.as_bytes());
        format!("CH{check:02}{body}")
    }

    proptest! {
        #[test]
        fn generated_ibans_pass_and_one_changed_digit_fails(
            clearing in 0u32..100_000, account in 0u64..1_000_000_000_000,
            pos in 4usize..21, delta in 1u8..10,
        ) {
            let good = iban_from(clearing, account);
            prop_assert!(Iban::parse(&good).is_ok());
            let mut bytes = good.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).expect("ascii");
            prop_assert_eq!(Iban::parse(&changed), Err(IbanError::CheckDigits));
        }

        #[test]
        fn generated_uids_round_trip_and_one_changed_digit_fails(
            serial in 0u32..100_000_000, pos in 0usize..9, delta in 1u8..10,
        ) {
            if let Some(uid) = Uid::from_serial(serial) {
                prop_assert_eq!(Uid::parse(&uid.to_string()), Ok(uid));
                let mut d = uid.0;
                d[pos] = (d[pos] + delta) % 10;
                let changed = Uid(d).to_string();
                prop_assert_eq!(Uid::parse(&changed), Err(UidError::CheckDigit));
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = Iban::parse(&s);
            let _ = Uid::parse(&s);
        }
    }
}
