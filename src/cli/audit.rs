//! `guichet audit verify DIR [--public-key FILE]`: the chain, then the signed checkpoints.

use std::path::Path;
use std::process::ExitCode;

use crate::audit::{keys, verify_with};

/// Runs the check and prints the verdict; exit 0 intact, 1 broken, 2 unreadable.
pub fn audit_verify(dir: &Path, public_key: Option<&Path>) -> ExitCode {
    let key = match public_key.map(keys::read_public_key).transpose() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("guichet: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match verify_with(dir, key.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("guichet: audit {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    if let Some(problem) = report.problem {
        println!("BROKEN after {} intact records: {problem}", report.records);
        return ExitCode::FAILURE;
    }
    println!(
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
    );
    ExitCode::SUCCESS
}
