//! Wire values → canonical values. Each function says what it expected on failure.

use std::borrow::Cow;

use super::error::{EncodingError, ValueError};
use super::spec::{FieldSpec, Format, Slot};
use crate::model::{Date, IncomeCode, Money, Month, YearMonth};

/// A converted field value, before it is placed into its record.
#[derive(Debug)]
pub(crate) enum Value {
    Text(String),
    Int(u32),
    Money(Money),
    Date(Date),
    Code(IncomeCode),
    Name(String),
    Bool(bool),
    YearMonth(YearMonth),
}

/// An `xs:date` (`2026-11-20`, a timezone suffix ignored).
pub(crate) fn xs_date(raw: &str) -> Result<Date, ValueError> {
    date(strip_timezone(raw))
}

/// Converts the raw text of one field per its spec.
pub(crate) fn convert(spec: &FieldSpec, raw: &str) -> Result<Value, ValueError> {
    match spec.format {
        Format::Text(max) => {
            if raw.chars().count() > max {
                return Err(ValueError::TooLong(max));
            }
            Ok(Value::Text(raw.to_owned()))
        }
        Format::TwoDigits => IncomeCode::parse(raw)
            .map(Value::Code)
            .map_err(|e| ValueError::IncomeCode(e.to_string())),
        Format::Integer => integer(raw).map(Value::Int),
        Format::GMonth => {
            let body = strip_timezone(raw);
            match body.strip_prefix("--") {
                Some(m) if m.len() == 2 => integer(m).map(Value::Int),
                _ => Err(ValueError::NotGMonth),
            }
        }
        Format::GYear => {
            let body = strip_timezone(raw);
            if body.len() == 4 {
                integer(body).map(Value::Int)
            } else {
                Err(ValueError::NotGYear)
            }
        }
        Format::Decimal2 => Money::parse(raw)
            .map(Value::Money)
            .map_err(|e| ValueError::Money(e.to_string())),
        Format::Date => date(strip_timezone(raw)).map(Value::Date),
        Format::Digits14 => {
            if raw.len() == 14 && raw.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Value::Text(raw.to_owned()))
            } else {
                Err(ValueError::NotDigits14)
            }
        }
        Format::YearMonth => {
            let body = strip_timezone(raw);
            let b = body.as_bytes();
            if b.len() != 7 || b[4] != b'-' {
                return Err(ValueError::NotGYearMonth);
            }
            let year = integer(&body[..4]).map_err(|_| ValueError::NotGYearMonth)?;
            let month = integer(&body[5..]).map_err(|_| ValueError::NotGYearMonth)?;
            u16::try_from(year)
                .ok()
                .zip(u8::try_from(month).ok())
                .and_then(|(y, m)| YearMonth::new(y, m))
                .map(Value::YearMonth)
                .ok_or(ValueError::NotGYearMonth)
        }
        Format::Boolean => match raw {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err(ValueError::NotBoolean),
        },
        Format::Code => spec
            .table
            .iter()
            .find(|(wire, _)| wire == raw)
            .map(|(_, name)| Value::Name(name.clone()))
            .ok_or_else(|| {
                let known: Vec<&str> = spec.table.iter().map(|(w, _)| w.as_str()).collect();
                ValueError::NotInTable {
                    known: known.join(", "),
                }
            }),
    }
}

/// Checks a converted value against the canonical field's range.
pub(crate) fn check_range(slot: Slot, v: &Value) -> Result<(), ValueError> {
    let int = |v: &Value| match v {
        Value::Int(i) => Some(*i),
        _ => None,
    };
    match slot {
        Slot::MonthFrom | Slot::MonthTo => match int(v).and_then(Month::from_code) {
            Some(_) => Ok(()),
            None => Err(ValueError::OutOfRange("a month is 1–12, or 66 for unknown")),
        },
        Slot::OfficeNumber => match int(v) {
            Some(1..=999) => Ok(()),
            _ => Err(ValueError::OutOfRange("an office number is 1–999")),
        },
        Slot::OfficeAgency => match int(v) {
            Some(0..=999) => Ok(()),
            _ => Err(ValueError::OutOfRange("an agency is 0–999")),
        },
        Slot::Genre => match int(v) {
            Some(0..=9) => Ok(()),
            _ => Err(ValueError::OutOfRange("a genre is one digit 0–9")),
        },
        Slot::LastReportedYear => match int(v) {
            Some(1948..=2100) => Ok(()),
            _ => Err(ValueError::OutOfRange("a reported year is 1948–2100")),
        },
        Slot::Opened => match v {
            Value::YearMonth(ym) if (1948..=2100).contains(&ym.year) => Ok(()),
            _ => Err(ValueError::OutOfRange("an account opens 1948–2100")),
        },
        Slot::Year => match int(v) {
            Some(1948..=2100) => Ok(()),
            _ => Err(ValueError::OutOfRange("a contribution year is 1948–2100")),
        },
        Slot::CareCreditFraction => match int(v) {
            Some(1..=99) => Ok(()),
            _ => Err(ValueError::OutOfRange("a care-credit fraction is 1–99")),
        },
        Slot::Degree => match int(v) {
            Some(0..=100) => Ok(()),
            _ => Err(ValueError::OutOfRange("a degree is 0–100 percent")),
        },
        Slot::AccountNumber => match v {
            Value::Text(t) if t.is_empty() => Err(ValueError::OutOfRange("empty account number")),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn integer(s: &str) -> Result<u32, ValueError> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::NotInteger);
    }
    s.parse().map_err(|_| ValueError::NotInteger)
}

fn date(s: &str) -> Result<Date, ValueError> {
    let err = || ValueError::NotDate;
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(err());
    }
    let year = integer(&s[..4]).map_err(|_| err())?;
    let month = integer(&s[5..7]).map_err(|_| err())?;
    let day = integer(&s[8..]).map_err(|_| err())?;
    let month =
        time::Month::try_from(u8::try_from(month).map_err(|_| err())?).map_err(|_| err())?;
    let year = i32::try_from(year).map_err(|_| err())?;
    Date::from_calendar_date(year, month, u8::try_from(day).map_err(|_| err())?)
        .map_err(|_| ValueError::NotCalendarDate)
}

/// Drops an XML Schema timezone suffix (`Z`, `+01:00`) from a date-like value.
fn strip_timezone(s: &str) -> &str {
    if let Some(body) = s.strip_suffix('Z') {
        return body;
    }
    let b = s.as_bytes();
    if b.len() > 6 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':' {
        return &s[..s.len() - 6];
    }
    s
}

/// Turns a whole document's bytes into text per its XML declaration: UTF-8 (with or
/// without BOM) or ISO-8859-1. Anything else is refused.
pub(crate) fn decode_document(bytes: &[u8]) -> Result<Cow<'_, str>, EncodingError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        return Err(EncodingError::Utf16);
    }
    match declared_encoding(bytes).as_deref() {
        None | Some("utf-8") | Some("utf8") => std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|e| EncodingError::InvalidUtf8(e.valid_up_to())),
        Some("iso-8859-1") | Some("iso8859-1") | Some("iso_8859-1") | Some("latin1")
        | Some("l1") => Ok(latin1(bytes)),
        Some(other) => Err(EncodingError::Unsupported(other.to_owned())),
    }
}

/// ISO-8859-1 → text: every byte is the code point of the same value. Pure-ASCII
/// blocks are copied whole (an all-ASCII document is borrowed); only blocks holding an
/// accented letter are converted byte by byte.
fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    // An ASCII block is always valid UTF-8; the fallback is never taken.
    fn ascii(block: &[u8]) -> &str {
        std::str::from_utf8(block).unwrap_or_default()
    }
    if bytes.is_ascii() {
        return Cow::Borrowed(ascii(bytes));
    }
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    for block in bytes.chunks(64) {
        if block.is_ascii() {
            out.push_str(ascii(block));
        } else {
            out.extend(block.iter().map(|&b| char::from(b)));
        }
    }
    Cow::Owned(out)
}

/// The `encoding` pseudo-attribute of the XML declaration, lowercased.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = bytes.get(..bytes.len().min(256))?;
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let close = value.find(quote)?;
    Some(value[..close].trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Rh\xF4ne</a>";
        assert_eq!(
            decode_document(latin).expect("latin1"),
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>Rhône</a>"
        );
        assert!(decode_document(b"<?xml version='1.0' encoding='UTF-8'?><a>\xF4</a>").is_err());
        assert!(decode_document(b"<?xml version='1.0' encoding='Shift_JIS'?><a/>").is_err());
        assert!(decode_document(b"\xEF\xBB\xBF<a/>").is_ok());
        assert!(decode_document(b"\xFF\xFE<\0a\0/\0>\0").is_err());
        let all: Vec<u8> = (0..=255u8).collect();
        let expected: String = all.iter().map(|&b| char::from(b)).collect();
        assert_eq!(latin1(&all), expected);
        assert!(matches!(latin1(b"plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn dates_and_timezones() {
        assert!(date("2020-02-29").is_ok());
        assert!(date("2021-02-29").is_err());
        assert!(date("2020-1-01").is_err());
        assert_eq!(strip_timezone("2020-10-12+02:00"), "2020-10-12");
        assert_eq!(strip_timezone("--07Z"), "--07");
    }
}
