//! The one way guichet writes a time: RFC 3339 / `xs:dateTime` in UTC with whole seconds
//! (`2026-11-26T14:02:11Z`), as adapter headers, inventories, receipts and sedex
//! envelopes show it.

use time::OffsetDateTime;

/// `t` in UTC, whole seconds.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A Unix time (seconds); outside the representable range, the number itself.
pub fn rfc3339_unix(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).map_or_else(|_| unix.to_string(), rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_in_utc() {
        assert_eq!(rfc3339_unix(1_795_000_000), "2026-11-18T11:06:40Z");
        let t = OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("time");
        let bern = t.to_offset(time::UtcOffset::from_hms(1, 0, 0).expect("offset"));
        assert_eq!(rfc3339(bern), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339_unix(i64::MAX), i64::MAX.to_string());
    }
}
