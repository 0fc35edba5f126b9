//! Checking a whole audit folder: every line's hash, the sequence, the chain across files,
//! and then every signed checkpoint against the chain. The first problem is named by file,
//! line and what is wrong: an altered, removed or reordered record, a truncated tail (signed
//! records or files missing at the end) or a recomputed chain (a checkpoint's hash differs).
//! Replicas keep one chain each, named by the replica id in every record and checkpoint:
//! [`verify_replicas`] checks several folders, each as its own chain, and that no replica
//! id names two of them; a record or checkpoint of another replica inside a chain is a
//! problem. A chain may start unnamed (a log from before replica ids) and be named later.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::chain::{base_name, log_files, open_line};
use super::checkpoint::{self, Checkpoint};
use super::{AuditError, GENESIS};

/// What `guichet audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Files read.
    pub files: usize,
    /// Records found intact before the first problem (all of them when intact).
    pub records: u64,
    /// Checkpoints found consistent with the chain.
    pub checkpoints: usize,
    /// Whether the checkpoints' signatures were checked (a public key was given).
    pub signatures_checked: bool,
    /// Records newer than the newest checkpoint: protected by the chain alone.
    pub unsigned_tail: u64,
    /// The replica whose chain this is (the id of its newest named record), if any.
    pub replica: Option<String>,
    /// The first problem: `file line N: what`.
    pub problem: Option<String>,
}

/// One folder of [`verify_replicas`] and what was found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The audit folder.
    pub dir: PathBuf,
    /// Its chain.
    pub report: VerifyReport,
}

/// Verifies each folder as one replica's chain (with its checkpoint key, if given), then
/// that no two folders hold the chain of the same replica id.
pub fn verify_replicas(
    chains: &[(PathBuf, Option<Vec<u8>>)],
) -> Result<Vec<ChainReport>, AuditError> {
    let mut out: Vec<ChainReport> = Vec::with_capacity(chains.len());
    for (dir, key) in chains {
        let mut report = verify_with(dir, key.as_deref())?;
        let twin = out
            .iter()
            .find(|c| report.replica.is_some() && c.report.replica == report.replica);
        if let (Some(twin), None) = (twin, &report.problem) {
            report.problem = Some(format!(
                "replica {:?} also has its chain in {}: each replica writes its own folder",
                report.replica.as_deref().unwrap_or_default(),
                twin.dir.display()
            ));
        }
        out.push(ChainReport {
            dir: dir.clone(),
            report,
        });
    }
    Ok(out)
}

/// Verifies the chain and the checkpoints' consistency with it, without signatures.
pub fn verify(dir: &Path) -> Result<VerifyReport, AuditError> {
    verify_with(dir, None)
}

/// Verifies the chain, then each checkpoint: its signature (with `public_key`, 32 raw
/// bytes), and that the chain still holds the record it signed, with the same hash.
pub fn verify_with(dir: &Path, public_key: Option<&[u8]>) -> Result<VerifyReport, AuditError> {
    let checkpoints = checkpoint::read_all(dir)?;
    let wanted: BTreeMap<u64, Option<(String, String)>> = checkpoints
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|c| (c.seq, None)))
        .collect();
    let mut report = VerifyReport {
        files: 0,
        records: 0,
        checkpoints: 0,
        signatures_checked: public_key.is_some(),
        unsigned_tail: 0,
        replica: None,
        problem: None,
    };
    let mut seen = wanted;
    report.problem = walk_chain(dir, &mut report, &mut seen)?;
    if report.problem.is_some() {
        return Ok(report);
    }
    let mut covered = 0;
    for (n, c) in checkpoints.iter().enumerate() {
        let at = format!("{} line {}", checkpoint::FILE, n + 1);
        let problem = match c {
            Err(m) => Some(format!("{at}: {m}")),
            Ok(c) => check_replica(c, report.replica.as_deref())
                .or_else(|| check_one(c, public_key, report.records, &seen, covered))
                .map(|m| format!("{at}: {m}")),
        };
        if problem.is_some() {
            report.problem = problem;
            return Ok(report);
        }
        report.checkpoints += 1;
        covered = covered.max(c.as_ref().map_or(0, |c| c.seq));
    }
    report.unsigned_tail = report.records - covered;
    Ok(report)
}

/// A checkpoint naming a replica must be on that replica's chain.
fn check_replica(c: &Checkpoint, chain: Option<&str>) -> Option<String> {
    let signed = c.replica.as_deref()?;
    (Some(signed) != chain).then(|| {
        format!(
            "the checkpoint signed {} is of replica {signed:?}, not of this chain's ({})",
            c.time,
            chain.map_or_else(|| "unnamed".to_owned(), |r| format!("{r:?}"))
        )
    })
}

/// One checkpoint against the chain; the problem, if any.
fn check_one(
    c: &Checkpoint,
    public_key: Option<&[u8]>,
    records: u64,
    seen: &BTreeMap<u64, Option<(String, String)>>,
    covered: u64,
) -> Option<String> {
    if let Some(key) = public_key
        && !c.verify(key)
    {
        return Some("invalid signature (forged, altered, or made with another key)".into());
    }
    if c.seq > records {
        return Some(format!(
            "truncated: the checkpoint signed {} covers record {} in {}, but the log ends at \
             record {records}: the newest records or files were removed",
            c.time, c.seq, c.file
        ));
    }
    match seen.get(&c.seq) {
        Some(Some((file, hash))) if *hash == c.hash && *file == c.file => None,
        _ => Some(format!(
            "recomputed chain: record {} differs from the checkpoint signed {}; a record \
             between {} and {} was changed and every later hash recomputed",
            c.seq,
            c.time,
            covered + 1,
            c.seq
        )),
    }
}

/// Walks every file in order; records `(file, hash)` of the sequence numbers in `seen`.
/// Returns the first problem of the chain itself.
fn walk_chain(
    dir: &Path,
    report: &mut VerifyReport,
    seen: &mut BTreeMap<u64, Option<(String, String)>>,
) -> Result<Option<String>, AuditError> {
    let files = log_files(dir)?;
    report.files = files.len();
    let mut prev = GENESIS.to_owned();
    for (expected_index, (index, path)) in (1u32..).zip(&files) {
        let name = base_name(path);
        if *index != expected_index {
            return Ok(Some(format!(
                "{name}: file audit-{expected_index:06}.jsonl is missing"
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| AuditError::io(path, "cannot read", &e))?;
        let Ok(text) = String::from_utf8(bytes) else {
            return Ok(Some(format!("{name}: not UTF-8 text")));
        };
        for (n, line) in text.split_inclusive('\n').enumerate() {
            let at = format!("{name} line {}", n + 1);
            let Some(line) = line.strip_suffix('\n') else {
                return Ok(Some(format!("{at}: truncated record (no end of line)")));
            };
            let (record, hash) = match open_line(line) {
                Ok(r) => r,
                Err(m) => return Ok(Some(format!("{at}: {m}"))),
            };
            let expected = report.records + 1;
            if record.seq != expected || record.prev != prev {
                return Ok(Some(format!(
                    "{at}: {}",
                    sequence_problem(record.seq, expected)
                )));
            }
            if let Some(problem) = replica_problem(&mut report.replica, record.replica) {
                return Ok(Some(format!("{at}: {problem}")));
            }
            if let Some(slot) = seen.get_mut(&record.seq) {
                *slot = Some((name.clone(), hash.clone()));
            }
            report.records = record.seq;
            prev = hash;
        }
    }
    Ok(None)
}

/// Follows the chain's replica id: an unnamed chain may become named once; after that,
/// every record names the same replica.
fn replica_problem(chain: &mut Option<String>, record: Option<String>) -> Option<String> {
    match (chain.as_deref(), record) {
        (None, None) => None,
        (None, Some(r)) => {
            *chain = Some(r);
            None
        }
        (Some(c), Some(r)) if c == r => None,
        (Some(c), r) => Some(format!(
            "a record of {} in the chain of replica {c:?}: chains of two replicas mixed",
            r.map_or_else(|| "no replica".to_owned(), |r| format!("replica {r:?}"))
        )),
    }
}

fn sequence_problem(found: u64, expected: u64) -> String {
    if found > expected {
        format!("record {expected} is missing (found {found}): removed")
    } else if found < expected {
        format!("record {found} is out of order (expected {expected}): reordered")
    } else {
        "does not follow the previous record (chain broken)".to_owned()
    }
}
