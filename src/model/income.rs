//! The income code of an IK entry: reversal digit + genre digit.

use std::fmt;

/// Income code, two digits: reversal digit (0 = normal entry, 1–9 = reversal) + genre.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IncomeCode {
    reversal: u8,
    genre: u8,
}

/// Why a string is not an income code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an income code is two digits (reversal digit + genre)")]
pub struct IncomeCodeError;

/// The genre of income (second digit), as the FSIO directive lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Genre {
    /// 0: care credit or voluntary insurance abroad.
    CareCreditOrVoluntary,
    /// 1: employee.
    Employee,
    /// 2: contribution-liable benefit (EO/IV/ALV daily allowance).
    Benefit,
    /// 3 and 9: self-employed.
    SelfEmployed,
    /// 4: not gainfully employed.
    NotEmployed,
    /// 5: contribution stamps.
    Stamps,
    /// 7: income after the reference age.
    AfterReferenceAge,
    /// 8: divorce splitting.
    Splitting,
    /// 6: not publicly documented; kept as is rather than refusing an office's answer.
    Undocumented,
}

impl IncomeCode {
    /// Parses two ASCII digits.
    pub fn parse(s: &str) -> Result<IncomeCode, IncomeCodeError> {
        match s.as_bytes() {
            [r, g] if r.is_ascii_digit() && g.is_ascii_digit() => Ok(IncomeCode {
                reversal: r - b'0',
                genre: g - b'0',
            }),
            _ => Err(IncomeCodeError),
        }
    }

    /// Builds a code from its digits (each 0–9).
    pub fn new(reversal: u8, genre: u8) -> Option<IncomeCode> {
        (reversal <= 9 && genre <= 9).then_some(IncomeCode { reversal, genre })
    }

    /// True for a reversal (extourne): the first digit is not 0.
    pub fn is_reversal(self) -> bool {
        self.reversal != 0
    }

    /// The reversal digit.
    pub fn reversal_digit(self) -> u8 {
        self.reversal
    }

    /// The genre digit.
    pub fn genre_digit(self) -> u8 {
        self.genre
    }

    /// The genre.
    pub fn genre(self) -> Genre {
        match self.genre {
            0 => Genre::CareCreditOrVoluntary,
            1 => Genre::Employee,
            2 => Genre::Benefit,
            3 | 9 => Genre::SelfEmployed,
            4 => Genre::NotEmployed,
            5 => Genre::Stamps,
            7 => Genre::AfterReferenceAge,
            8 => Genre::Splitting,
            _ => Genre::Undocumented,
        }
    }
}

impl fmt::Display for IncomeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.reversal, self.genre)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let c = IncomeCode::parse("11").expect("valid");
        assert!(c.is_reversal());
        assert_eq!(c.genre(), Genre::Employee);
        assert_eq!(c.to_string(), "11");
        assert_eq!(
            IncomeCode::parse("09").map(|c| c.genre()),
            Ok(Genre::SelfEmployed)
        );
        assert_eq!(IncomeCode::parse("00").map(|c| c.is_reversal()), Ok(false));
        for bad in ["1", "001", "a1", "", " 1"] {
            assert!(IncomeCode::parse(bad).is_err(), "{bad}");
        }
    }
}
