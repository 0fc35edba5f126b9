//! `guichet audit verify DIR... [--public-key FILE]...`: each folder's chain, then its
//! signed checkpoints; several folders are several replicas' chains.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::audit::{VerifyReport, keys, verify_replicas};

/// Runs the check and prints the verdict per chain; exit 0 all intact, 1 one broken, 2
/// unreadable (or keys that do not match the folders).
pub fn audit_verify(dirs: &[PathBuf], public_keys: &[PathBuf]) -> ExitCode {
    let keys = match read_keys(dirs.len(), public_keys) {
        Ok(k) => k,
        Err(message) => {
            eprintln!("guichet: {message}");
            return ExitCode::from(2);
        }
    };
    let chains: Vec<(PathBuf, Option<Vec<u8>>)> = dirs.iter().cloned().zip(keys).collect();
    let reports = match verify_replicas(&chains) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("guichet: {e}");
            return ExitCode::from(2);
        }
    };
    let several = reports.len() > 1;
    let mut broken = false;
    for c in &reports {
        let prefix = if several {
            format!("{}: ", chain_name(&c.dir, &c.report))
        } else {
            String::new()
        };
        broken |= c.report.problem.is_some();
        println!("{prefix}{}", verdict(&c.report));
    }
    if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// No key, one key for every folder, or one per folder.
fn read_keys(folders: usize, public_keys: &[PathBuf]) -> Result<Vec<Option<Vec<u8>>>, String> {
    let read = |p: &Path| keys::read_public_key(p).map_err(|e| e.to_string());
    match public_keys {
        [] => Ok(vec![None; folders]),
        [one] => {
            let key = read(one)?;
            Ok(vec![Some(key); folders])
        }
        many if many.len() == folders => many.iter().map(|p| read(p).map(Some)).collect(),
        many => Err(format!(
            "{} --public-key for {folders} folders: give one for all, or one per folder",
            many.len()
        )),
    }
}

/// `DIR (replica ID)` or `DIR (unnamed)`.
fn chain_name(dir: &Path, report: &VerifyReport) -> String {
    match &report.replica {
        Some(r) => format!("{} (replica {r})", dir.display()),
        None => format!("{} (unnamed)", dir.display()),
    }
}

/// One chain's line: `intact: …` or `BROKEN after …`.
fn verdict(report: &VerifyReport) -> String {
    if let Some(problem) = &report.problem {
        return format!("BROKEN after {} intact records: {problem}", report.records);
    }
    format!(
        "intact: {} records in {} files; {} checkpoints {}, {} newer records covered by the chain alone",
        report.records,
        report.files,
        report.checkpoints,
        if report.signatures_checked {
            "with valid signatures"
        } else {
            "consistent (signatures NOT checked: pass --public-key)"
        },
        report.unsigned_tail
    )
}
