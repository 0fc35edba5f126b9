//! Money: an integer number of centimes inside, a two-decimal CHF string at the edges.

use std::fmt;

/// An amount in centimes (Rappen). Never a float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money(pub i64);

/// Why a string is not a CHF amount with exactly two decimals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a CHF amount with exactly two decimals (like -1234.50): {reason}")]
pub struct MoneyError {
    /// What is wrong, in a few words.
    pub reason: &'static str,
}

const MAX_DIGITS: usize = 15;

impl Money {
    /// Zero francs.
    pub const ZERO: Money = Money(0);

    /// Parses `[-]digits.dd`: one optional minus, at least one integer digit, exactly two
    /// decimals. Refuses `+`, exponents, thousands separators, spaces and more decimals.
    pub fn parse(s: &str) -> Result<Money, MoneyError> {
        let err = |reason| Err(MoneyError { reason });
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let Some((int, frac)) = body.split_once('.') else {
            return err("no decimal point");
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return err("the franc part is not a plain digit sequence");
        }
        if int.len() > MAX_DIGITS {
            return err("too large");
        }
        if frac.len() != 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return err("the centime part is not exactly two digits");
        }
        let francs: i64 = int.parse().map_err(|_| MoneyError {
            reason: "too large",
        })?;
        let cents: i64 = frac.parse().map_err(|_| MoneyError {
            reason: "bad centimes",
        })?;
        let value = francs * 100 + cents;
        Ok(Money(if negative { -value } else { value }))
    }

    /// The amount in centimes.
    pub fn centimes(self) -> i64 {
        self.0
    }

    /// Adds without overflowing (saturates: amounts that large are not real).
    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl std::ops::Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(self.0.saturating_neg())
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Money::saturating_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_two_decimals() {
        assert_eq!(Money::parse("84500.00"), Ok(Money(8_450_000)));
        assert_eq!(Money::parse("-43100.50"), Ok(Money(-4_310_050)));
        assert_eq!(Money::parse("0.00"), Ok(Money(0)));
        assert_eq!(
            Money::parse("-0.05").map(|m| m.to_string()),
            Ok("-0.05".into())
        );
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "1.5",
            "1.505",
            "1e3",
            "1'000.00",
            "1,000.00",
            "+1.00",
            " 1.00",
            "1.00 ",
            ".50",
            "1.",
            "--1.00",
            "",
            "-",
            "12345678901234567.00",
            "1.0a",
            "NaN",
        ] {
            assert!(Money::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(c in -100_000_000_000i64..100_000_000_000) {
            prop_assert_eq!(Money::parse(&Money(c).to_string()), Ok(Money(c)));
        }
    }
}
