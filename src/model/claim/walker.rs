//! The reading half of claim parsing: a JSON value walked member by member with its RFC
//! 6901 pointer, each reader recording why a member is refused and returning `None`, so
//! the caller goes on and every error is found. Knows no claim member by name.

use serde_json::{Map, Value};

use super::parse::FieldError;
use crate::model::Date;

/// RFC 6901: `~` → `~0`, `/` → `~1`.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// One JSON object being read, with its pointer.
pub(super) struct Obj<'a> {
    pub(super) pointer: String,
    pub(super) map: &'a Map<String, Value>,
}

impl Obj<'_> {
    pub(super) fn at(&self, key: &str) -> String {
        format!("{}/{}", self.pointer, escape(key))
    }
}

/// Collects errors while building the claim; each reader returns `None` after recording
/// why, so the caller keeps going and the next members are checked too.
#[derive(Default)]
pub(super) struct Walker {
    pub(super) errors: Vec<FieldError>,
}

impl Walker {
    pub(super) fn fail(&mut self, pointer: String, message: impl Into<String>) {
        self.errors.push(FieldError {
            pointer,
            message: message.into(),
        });
    }

    /// `value` as an object with only the `allowed` members; unknown members are errors.
    pub(super) fn object<'a>(
        &mut self,
        pointer: String,
        value: &'a Value,
        allowed: &[&str],
    ) -> Option<Obj<'a>> {
        let Value::Object(map) = value else {
            self.fail(pointer, "must be an object");
            return None;
        };
        let obj = Obj { pointer, map };
        for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            // An unknown name is echoed only when it looks like a member name: a key made of
            // digits could be an AHV number put in the wrong place.
            if key.len() <= 40 && key.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_') {
                self.fail(obj.at(key), "unknown member");
            } else {
                self.fail(
                    obj.pointer.clone(),
                    "has a member that is not part of the claim",
                );
            }
        }
        Some(obj)
    }

    /// A required member.
    pub(super) fn required<'a>(&mut self, obj: &Obj<'a>, key: &str) -> Option<&'a Value> {
        match obj.map.get(key) {
            None | Some(Value::Null) => {
                self.fail(obj.at(key), "is required");
                None
            }
            Some(v) => Some(v),
        }
    }

    /// A required non-empty string of at most `max` characters, trimmed.
    pub(super) fn text(&mut self, obj: &Obj<'_>, key: &str, max: usize) -> Option<String> {
        let v = self.required(obj, key)?;
        self.text_value(obj.at(key), v, max)
    }

    /// An optional string: absent or `null` → `Ok(None)`; invalid → `Err(())` (recorded).
    pub(super) fn optional_text(
        &mut self,
        obj: &Obj<'_>,
        key: &str,
        max: usize,
    ) -> Result<Option<String>, ()> {
        match obj.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.text_value(obj.at(key), v, max).map(Some).ok_or(()),
        }
    }

    pub(super) fn text_value(&mut self, pointer: String, v: &Value, max: usize) -> Option<String> {
        let Value::String(s) = v else {
            self.fail(pointer, "must be a string");
            return None;
        };
        let t = s.trim();
        if t.is_empty() {
            self.fail(pointer, "must not be empty");
        } else if t.chars().count() > max {
            self.fail(pointer, format!("must be at most {max} characters"));
        } else if t.chars().any(char::is_control) {
            self.fail(pointer, "must not contain control characters");
        } else {
            return Some(t.to_owned());
        }
        None
    }

    /// A required string read by `parse`, whose error message is recorded as is.
    pub(super) fn parsed<T, E: std::fmt::Display>(
        &mut self,
        obj: &Obj<'_>,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let v = self.required(obj, key)?;
        let Value::String(s) = v else {
            self.fail(obj.at(key), "must be a string");
            return None;
        };
        parse(s.trim())
            .map_err(|e| self.fail(obj.at(key), e.to_string()))
            .ok()
    }

    /// A required non-negative integer.
    pub(super) fn integer(&mut self, obj: &Obj<'_>, key: &str) -> Option<u64> {
        let v = self.required(obj, key)?;
        let n = v.as_u64();
        if n.is_none() {
            self.fail(obj.at(key), "must be a whole number ≥ 0");
        }
        n
    }

    pub(super) fn date(&mut self, obj: &Obj<'_>, key: &str) -> Option<Date> {
        self.parsed(obj, key, parse_date)
    }
}

/// `YYYY-MM-DD`, a real calendar date between 1900 and 2199.
fn parse_date(s: &str) -> Result<Date, &'static str> {
    const MSG: &str = "must be a date YYYY-MM-DD";
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(MSG);
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, &'static str> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| MSG)
        } else {
            Err(MSG)
        }
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1900..=2199).contains(&y) {
        return Err("must be a date between 1900 and 2199");
    }
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or("must be a date YYYY-MM-DD with a month 01–12")?;
    Date::from_calendar_date(y as i32, month, d as u8).map_err(|_| "is not a calendar date")
}
