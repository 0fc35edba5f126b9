//! Fault files for the simulator (`guichet simulate --faults FILE`): which offices
//! misbehave, and how. Validated like every configuration: errors name the file, the
//! line and the field. The name `register` in `offices` means the account register.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::behaviour::{Fault, Latency};
use crate::model::{OfficeId, OfficeIdError};
use crate::toml_error::TomlError;

/// A fault file that cannot be used: where, and what.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// Not TOML of the fault file's shape (line, column, what).
    #[error(transparent)]
    Syntax(#[from] TomlError),
    /// An entry of `offices` is not an office id.
    #[error("fault #{index}: offices: {source}")]
    Office {
        /// The entry's number, from 1.
        index: usize,
        /// Why.
        source: OfficeIdError,
    },
    /// A `[[fault]]` that does not describe a fault.
    #[error("fault #{index}: {problem}")]
    Fault {
        /// The entry's number, from 1.
        index: usize,
        /// What is wrong with it.
        problem: FaultProblem,
    },
}

/// What is wrong with one `[[fault]]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultProblem {
    /// A kind without the field it needs.
    #[error("kind {kind} needs {field}")]
    Needs {
        /// The kind.
        kind: String,
        /// The missing field.
        field: &'static str,
    },
    /// `status` outside 100–599.
    #[error("status {0} is not an HTTP status")]
    Status(u16),
    /// `rate` missing or outside 0–1.
    #[error("error-rate needs rate between 0 and 1")]
    Rate,
    /// `p99_ms` below `median_ms`.
    #[error("latency needs median_ms ≤ p99_ms")]
    LatencyOrder,
    /// `entries` or `unmatched_reversals` of `heavy` out of range.
    #[error("heavy needs entries ≤ 1000000 and unmatched_reversals ≤ entries")]
    HeavySize,
    /// `status` of `sedex-transient` outside 400–599.
    #[error("sedex-transient needs a status 400–599 (not final), not {0}")]
    SedexStatus(u16),
    /// A kind the simulator does not know.
    #[error(
        "unknown kind {0:?} (hang, status, error-rate, slow-drip, malformed, oversized, wrong-certificate, refused, delay, latency, heavy, sedex-lost-receipt, sedex-transient, sedex-expire)"
    )]
    UnknownKind(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    fault: Vec<RawFault>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    offices: Vec<String>,
    kind: String,
    status: Option<u16>,
    rate: Option<f64>,
    bytes: Option<usize>,
    bytes_per_second: Option<u32>,
    median_ms: Option<u64>,
    p99_ms: Option<u64>,
    delay_ms: Option<u64>,
    entries: Option<usize>,
    unmatched_reversals: Option<usize>,
}

/// The name that stands for the account register in a fault's `offices`.
pub const REGISTER: &str = "register";

/// The faults of a fault file: per office, and of the account register.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSet {
    /// One fault per office (a later entry wins).
    pub offices: BTreeMap<OfficeId, Fault>,
    /// The account register's fault (`offices = ["register"]`).
    pub register: Option<Fault>,
}

/// Reads a fault file into one fault per office (a later entry wins).
pub fn load_faults(path: &Path) -> anyhow::Result<BTreeMap<OfficeId, Fault>> {
    load_fault_set(path).map(|s| s.offices)
}

/// Reads a fault file: the offices' faults and the account register's.
pub fn load_fault_set(path: &Path) -> anyhow::Result<FaultSet> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("faults {}: cannot read: {e}", path.display()))?;
    parse_fault_set(&text).map_err(|m| anyhow::anyhow!("faults {}: {m}", path.display()))
}

/// Parses fault-file text (the offices' faults only).
pub fn parse_faults(text: &str) -> Result<BTreeMap<OfficeId, Fault>, FaultError> {
    parse_fault_set(text).map(|s| s.offices)
}

/// Parses fault-file text: the offices' faults and the account register's.
pub fn parse_fault_set(text: &str) -> Result<FaultSet, FaultError> {
    let raw: RawFile = crate::toml_error::parse(text)?;
    let mut out = FaultSet::default();
    for (i, f) in raw.fault.iter().enumerate() {
        let index = i + 1;
        let fault = fault_of(f).map_err(|problem| FaultError::Fault { index, problem })?;
        for o in &f.offices {
            if o == REGISTER {
                out.register = Some(fault.clone());
                continue;
            }
            let office: OfficeId = o
                .parse()
                .map_err(|source| FaultError::Office { index, source })?;
            out.offices.insert(office, fault.clone());
        }
    }
    Ok(out)
}

fn fault_of(f: &RawFault) -> Result<Fault, FaultProblem> {
    let need = |v: Option<u64>, field: &'static str| {
        v.ok_or_else(|| FaultProblem::Needs {
            kind: f.kind.clone(),
            field,
        })
    };
    let status = || match f.status {
        Some(s) if (100..=599).contains(&s) => Ok(s),
        Some(s) => Err(FaultProblem::Status(s)),
        None => Ok(500),
    };
    Ok(match f.kind.as_str() {
        "hang" => Fault::Hang,
        "status" => Fault::Status(status()?),
        "error-rate" => {
            let rate = f
                .rate
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or(FaultProblem::Rate)?;
            Fault::ErrorRate {
                rate,
                status: status()?,
            }
        }
        "slow-drip" => Fault::SlowDrip {
            bytes_per_second: f.bytes_per_second.unwrap_or(4).max(1),
        },
        "malformed" => Fault::Garbage,
        "oversized" => Fault::Oversized(f.bytes.unwrap_or(8 * 1024 * 1024)),
        "wrong-certificate" => Fault::WrongCertificate,
        "refused" => Fault::Refused,
        "delay" => Fault::Delay(Duration::from_millis(need(f.delay_ms, "delay_ms")?)),
        "latency" => {
            let median = Duration::from_millis(need(f.median_ms, "median_ms")?);
            let p99 = Duration::from_millis(need(f.p99_ms, "p99_ms")?);
            if p99 < median {
                return Err(FaultProblem::LatencyOrder);
            }
            Fault::Latency(Latency { median, p99 })
        }
        "heavy" => {
            let entries = f.entries.unwrap_or(36_000);
            let unmatched_reversals = f.unmatched_reversals.unwrap_or(entries / 3);
            if entries > 1_000_000 || unmatched_reversals > entries {
                return Err(FaultProblem::HeavySize);
            }
            Fault::Heavy {
                entries,
                unmatched_reversals,
            }
        }
        "sedex-lost-receipt" => Fault::SedexLostReceipt,
        "sedex-transient" => match f.status.unwrap_or(400) {
            s @ 400..=599 => Fault::SedexTransient(s),
            s => return Err(FaultProblem::SedexStatus(s)),
        },
        "sedex-expire" => Fault::SedexExpire,
        other => return Err(FaultProblem::UnknownKind(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses() {
        let f = parse_faults(include_str!("../../config/faults.example.toml")).expect("example");
        assert_eq!(
            f[&"098.000".parse::<OfficeId>().expect("id")],
            Fault::SedexTransient(402)
        );
    }

    #[test]
    fn parses_every_kind_and_names_errors() {
        let text = r#"
[[fault]]
offices = ["001.000", "002.000"]
kind = "hang"
[[fault]]
offices = ["003.000"]
kind = "error-rate"
rate = 0.5
status = 503
[[fault]]
offices = ["004.000"]
kind = "latency"
median_ms = 20
p99_ms = 2000
[[fault]]
offices = ["025.000"]
kind = "heavy"
entries = 36000
unmatched_reversals = 12000
"#;
        let f = parse_faults(text).expect("valid");
        assert_eq!(f.len(), 5);
        assert_eq!(
            f[&"025.000".parse::<OfficeId>().expect("id")],
            Fault::Heavy {
                entries: 36_000,
                unmatched_reversals: 12_000
            }
        );
        assert_eq!(
            f[&"003.000".parse::<OfficeId>().expect("id")],
            Fault::ErrorRate {
                rate: 0.5,
                status: 503
            }
        );
        let set = parse_fault_set(
            "[[fault]]\noffices = [\"register\", \"001.000\"]\nkind = \"delay\"\ndelay_ms = 900\n",
        )
        .expect("register fault");
        let delay = Fault::Delay(Duration::from_millis(900));
        assert_eq!(set.register, Some(delay.clone()));
        assert_eq!(set.offices.values().collect::<Vec<_>>(), vec![&delay]);
        let e = parse_faults("[[fault]]\noffices = [\"1\"]\nkind = \"hang\"\n")
            .expect_err("bad office")
            .to_string();
        assert!(e.contains("fault #1") && e.contains("offices"), "{e}");
        let f = parse_faults(
            "[[fault]]\noffices = [\"066.000\"]\nkind = \"sedex-transient\"\nstatus = 402\n\
             [[fault]]\noffices = [\"034.000\"]\nkind = \"sedex-expire\"\n",
        )
        .expect("sedex faults");
        assert_eq!(
            f[&"066.000".parse::<OfficeId>().expect("id")],
            Fault::SedexTransient(402)
        );
        let e = parse_faults("[[fault]]\noffices = []\nkind = \"sedex-transient\"\nstatus = 100\n")
            .expect_err("final status")
            .to_string();
        assert!(e.contains("400–599"), "{e}");
        let e = parse_faults("[[fault]]\noffices = []\nkind = \"boom\"\n")
            .expect_err("bad kind")
            .to_string();
        assert!(e.contains("unknown kind \"boom\""), "{e}");
        let e = parse_faults("[[fault]]\noffices = []\nkind = \"hang\"\nspeed = 3\n")
            .expect_err("unknown field")
            .to_string();
        assert!(e.contains("line 4"), "{e}");
    }
}
