//! The AHV number (AHVN13, `vn`): parsing, check digit, both printed forms.
//! Owns nothing else; its `Debug` never reveals the number.

use std::fmt;
use std::str::FromStr;

/// A valid 13-digit AHV number: `756`, nine digits, an EAN-13 check digit.
///
/// Invariant: the value always passed [`Vn::parse`]. `Debug` masks the digits so a stray
/// `{:?}` in a log line never identifies a person; use [`Vn::digits`] or [`Vn::dotted`]
/// where the number must really be written (a request to an office, an answer to a portal).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vn([u8; 13]);

/// Why a string is not an AHV number. Never carries the input itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VnError {
    /// Neither 13 digits nor the dotted `756.XXXX.XXXX.XC` form.
    #[error("an AHV number is 13 digits or 756.XXXX.XXXX.XC (got {0} characters)")]
    Format(usize),
    /// The number does not start with the Swiss country prefix.
    #[error("an AHV number starts with 756")]
    Prefix,
    /// The EAN-13 check digit does not match.
    #[error("the check digit of the AHV number is wrong")]
    CheckDigit,
}

impl Vn {
    /// Parses 13 digits or the dotted form `756.1234.5678.97`, checking prefix and check digit.
    pub fn parse(s: &str) -> Result<Vn, VnError> {
        let b = s.as_bytes();
        let chars = s.chars().count();
        let mut digits = [0u8; 13];
        match b.len() {
            13 => {
                for (d, c) in digits.iter_mut().zip(b) {
                    *d = digit(*c).ok_or(VnError::Format(chars))?;
                }
            }
            16 => {
                let mut n = 0;
                for (i, c) in b.iter().enumerate() {
                    if matches!(i, 3 | 8 | 13) {
                        if *c != b'.' {
                            return Err(VnError::Format(chars));
                        }
                    } else {
                        digits[n] = digit(*c).ok_or(VnError::Format(chars))?;
                        n += 1;
                    }
                }
            }
            _ => return Err(VnError::Format(chars)),
        }
        if digits[..3] != [7, 5, 6] {
            return Err(VnError::Prefix);
        }
        if check_digit(&digits[..12]) != digits[12] {
            return Err(VnError::CheckDigit);
        }
        Ok(Vn(digits))
    }

    /// Builds a valid number from the nine free digits (used by simulators and tests).
    pub fn from_serial(serial: u32) -> Vn {
        let mut digits = [0u8; 13];
        digits[..3].copy_from_slice(&[7, 5, 6]);
        let mut rest = serial % 1_000_000_000;
        for d in digits[3..12].iter_mut().rev() {
            *d = (rest % 10) as u8;
            rest /= 10;
        }
        digits[12] = check_digit(&digits[..12]);
        Vn(digits)
    }

    /// The nine free digits as a number (the inverse of [`Vn::from_serial`]).
    pub fn serial(&self) -> u32 {
        self.0[3..12]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(*d))
    }

    /// The machine form: 13 digits.
    pub fn digits(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The printed form: `756.1234.5678.97`.
    pub fn dotted(&self) -> String {
        let d = self.digits();
        format!("{}.{}.{}.{}", &d[..3], &d[3..7], &d[7..11], &d[11..])
    }
}

impl fmt::Debug for Vn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vn(756.****.****.**)")
    }
}

impl FromStr for Vn {
    type Err = VnError;
    fn from_str(s: &str) -> Result<Vn, VnError> {
        Vn::parse(s)
    }
}

fn digit(c: u8) -> Option<u8> {
    c.is_ascii_digit().then(|| c - b'0')
}

/// EAN-13 check digit: weights 1,3,1,3,… over the first 12 digits.
fn check_digit(first12: &[u8]) -> u8 {
    let sum: u32 = first12
        .iter()
        .enumerate()
        .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn contract_examples() {
        let vn = Vn::parse("7561234567897").expect("valid example");
        assert_eq!(vn.dotted(), "756.1234.5678.97");
        assert_eq!(Vn::parse("756.1234.5678.97"), Ok(vn));
        assert!(Vn::parse("7562295883070").is_ok());
        assert_eq!(Vn::parse("7561234567890"), Err(VnError::CheckDigit));
        assert_eq!(Vn::parse("7571234567896"), Err(VnError::Prefix));
        assert_eq!(Vn::parse("756123456789"), Err(VnError::Format(12)));
        assert_eq!(Vn::parse("756.1234.5678-97"), Err(VnError::Format(16)));
        assert_eq!(Vn::parse("756123456789x"), Err(VnError::Format(13)));
        assert_eq!(Vn::parse("７56123456789"), Err(VnError::Format(12)));
    }

    #[test]
    fn debug_does_not_reveal_the_number() {
        let vn = Vn::parse("7561234567897").expect("valid example");
        let shown = format!("{vn:?} {:?}", Some(vn));
        assert!(!shown.contains("1234"), "{shown}");
    }

    proptest! {
        #[test]
        fn print_parse_round_trip(serial in 0u32..1_000_000_000) {
            let vn = Vn::from_serial(serial);
            prop_assert_eq!(Vn::parse(&vn.digits()), Ok(vn));
            prop_assert_eq!(Vn::parse(&vn.dotted()), Ok(vn));
            prop_assert_eq!(vn.serial(), serial);
        }

        #[test]
        fn every_single_digit_change_is_rejected(serial in 0u32..1_000_000_000, pos in 3usize..13, delta in 1u8..10) {
            let mut digits: Vec<u8> = Vn::from_serial(serial).digits().into_bytes();
            digits[pos] = b'0' + (digits[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(digits).expect("ascii");
            prop_assert_eq!(Vn::parse(&changed), Err(VnError::CheckDigit));
        }
    }
}
