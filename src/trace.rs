//! W3C trace context (`traceparent`): accepted from the portal or created, passed on to
//! every office call with a fresh span id, echoed in the answer.

use std::fmt::Write as _;

/// The trace a query belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    /// 16-byte trace id (never all zero).
    pub trace_id: [u8; 16],
    /// The span id the caller gave, or ours.
    pub parent_id: [u8; 8],
    /// Trace flags (sampled = 01).
    pub flags: u8,
    /// Whether the ids came from the caller's `traceparent` (the caller's span is then
    /// the parent of ours) rather than being started here.
    pub remote: bool,
}

impl Trace {
    /// A new trace with random ids.
    pub fn new() -> Trace {
        let bytes = *uuid::Uuid::new_v4().as_bytes();
        let span = *uuid::Uuid::new_v4().as_bytes();
        let mut parent_id = [0u8; 8];
        parent_id.copy_from_slice(&span[..8]);
        Trace {
            trace_id: bytes,
            parent_id,
            flags: 1,
            remote: false,
        }
    }

    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; anything else (including all-zero ids) is
    /// ignored by the caller, who then starts a new trace.
    pub fn parse(header: &str) -> Option<Trace> {
        let parts: Vec<&str> = header.trim().split('-').collect();
        let [version, trace, parent, flags] = parts.as_slice() else {
            return None;
        };
        if *version != "00" {
            return None;
        }
        let mut t = Trace {
            trace_id: [0; 16],
            parent_id: [0; 8],
            flags: 0,
            remote: true,
        };
        unhex(trace, &mut t.trace_id)?;
        unhex(parent, &mut t.parent_id)?;
        let mut f = [0u8; 1];
        unhex(flags, &mut f)?;
        t.flags = f[0];
        (t.trace_id != [0; 16] && t.parent_id != [0; 8]).then_some(t)
    }

    /// The trace id in hex.
    pub fn trace_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// A `traceparent` value for a new child span of this trace.
    pub fn child(&self) -> String {
        let span = uuid::Uuid::new_v4();
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&span.as_bytes()[..8]),
            self.flags
        )
    }

    /// The `traceparent` value naming this trace and its parent span.
    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags
        )
    }
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

fn unhex(s: &str, out: &mut [u8]) -> Option<()> {
    if s.len() != out.len() * 2
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(())
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_continues_a_trace() {
        let t =
            Trace::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").expect("valid");
        assert_eq!(t.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = t.child();
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(!child.contains("00f067aa0ba902b7"));
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert!(Trace::parse(bad).is_none(), "{bad}");
        }
        assert!(Trace::parse(&Trace::new().header()).is_some());
    }
}
