//! Office time budgets for the test harnesses (shared by `common` and `managed`).
//!
//! Tests run on 2 busy cores next to 101 simulated offices in the same process, so a
//! healthy office may take seconds to answer. A test that is not about deadlines must not
//! depend on that: every adapter copy gets [`PATIENT_MS`], and a test that needs an office
//! to time out makes that office hang for sure (`Fault::Hang`) and gives it a short
//! budget of its own. Then "this one times out, the others answer" holds at any speed.

use std::path::Path;

/// Adapter timeout and query deadline for offices that are expected to answer: the
/// largest an adapter accepts (30 s).
pub const PATIENT_MS: u64 = 30_000;

/// Rewrites the `timeout_ms` line of every adapter file in `dir`: `short` lists the
/// offices (file stems, `"001.000"`) that get a budget of their own, every other office
/// gets [`PATIENT_MS`].
pub fn set_office_timeouts(dir: &Path, short: &[(&str, u64)]) {
    for entry in std::fs::read_dir(dir).expect("adapters dir") {
        let path = entry.expect("entry").path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
        else {
            continue;
        };
        let ms = short
            .iter()
            .find(|(office, _)| *office == stem)
            .map_or(PATIENT_MS, |(_, ms)| *ms);
        let text = std::fs::read_to_string(&path).expect("adapter file");
        assert!(
            text.lines().any(|l| l.starts_with("timeout_ms")),
            "{} has a timeout_ms line to replace",
            path.display()
        );
        let out: String = text
            .lines()
            .map(|l| {
                if l.starts_with("timeout_ms") {
                    format!("timeout_ms = {ms}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&path, out).expect("write adapter");
    }
    for (office, _) in short {
        assert!(
            dir.join(format!("{office}.toml")).exists(),
            "no adapter {office}"
        );
    }
}
