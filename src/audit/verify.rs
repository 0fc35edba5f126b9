//! Checking a whole audit folder: every line's hash, the sequence, and the chain across
//! files. The first broken record is named by file, line and what is wrong.

use std::path::{Path, PathBuf};

use super::{GENESIS, Record, sha256_hex};

/// What `guichet audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Files read.
    pub files: usize,
    /// Records found intact before the first problem (all of them when intact).
    pub records: u64,
    /// The first problem: `file line N: what`.
    pub problem: Option<String>,
}

/// The log files of a folder, by index.
pub(crate) fn log_files(dir: &Path) -> Result<Vec<(u32, PathBuf)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read the folder: {e}"))?;
    let mut files: Vec<(u32, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let index = name
                .strip_prefix("audit-")?
                .strip_suffix(".jsonl")?
                .parse()
                .ok()?;
            Some((index, p))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Sequence number and hash of the last record of the log (to continue the chain).
pub(crate) fn tail(_newest: &Path, files: &[(u32, PathBuf)]) -> Result<(u64, String), String> {
    let mut last = (0, GENESIS.to_owned());
    for (_, path) in files {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(format!(
                "{} ends with a truncated record; run `guichet audit verify` and repair before writing on",
                path.display()
            ));
        }
        if let Some(line) = text.lines().last() {
            let (record, hash) =
                open_line(line).map_err(|m| format!("{}: last record: {m}", path.display()))?;
            last = (record.seq, hash);
        }
    }
    Ok(last)
}

/// Splits a line into its record and its stated hash, checking that the hash covers it.
fn open_line(line: &str) -> Result<(Record, String), String> {
    const MARK: &str = ",\"hash\":\"";
    let at = line.rfind(MARK).ok_or("no hash field")?;
    let stated = line[at + MARK.len()..]
        .strip_suffix("\"}")
        .ok_or("malformed hash field")?;
    let body = format!("{}}}", &line[..at]);
    let record: Record =
        serde_json::from_str(&body).map_err(|e| format!("not an audit record: {e}"))?;
    if sha256_hex(body.as_bytes()) != stated {
        return Err("altered: its hash does not match its content".into());
    }
    Ok((record, stated.to_owned()))
}

/// Verifies every file of `dir` in order; intact only when `problem` is `None`.
pub fn verify(dir: &Path) -> Result<VerifyReport, String> {
    let files = log_files(dir)?;
    let mut report = VerifyReport {
        files: files.len(),
        records: 0,
        problem: None,
    };
    let mut prev = GENESIS.to_owned();
    for (expected_index, (index, path)) in (1u32..).zip(&files) {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        if *index != expected_index {
            report.problem = Some(format!(
                "{name}: file audit-{expected_index:06}.jsonl is missing"
            ));
            return Ok(report);
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
        for (n, line) in text.split_inclusive('\n').enumerate() {
            let at = format!("{name} line {}", n + 1);
            let Some(line) = line.strip_suffix('\n') else {
                report.problem = Some(format!("{at}: truncated record (no end of line)"));
                return Ok(report);
            };
            let (record, hash) = match open_line(line) {
                Ok(r) => r,
                Err(m) => {
                    report.problem = Some(format!("{at}: {m}"));
                    return Ok(report);
                }
            };
            let expected = report.records + 1;
            if record.seq != expected || record.prev != prev {
                let what = if record.seq > expected {
                    format!(
                        "record {expected} is missing (found {}): removed",
                        record.seq
                    )
                } else if record.seq < expected {
                    format!(
                        "record {} is out of order (expected {expected}): reordered",
                        record.seq
                    )
                } else {
                    "does not follow the previous record (chain broken)".to_owned()
                };
                report.problem = Some(format!("{at}: {what}"));
                return Ok(report);
            }
            report.records = record.seq;
            prev = hash;
        }
    }
    Ok(report)
}
