//! The audit log: a hash chain that names the first altered, removed, reordered or
//! truncated record, continues across files and restarts, and is checked by
//! `guichet audit verify` — with signed checkpoints that find a deleted tail or a chain
//! recomputed after an edit; torn writes that leave nothing behind; key files read as bytes
//! and refused when others may read them.

use std::path::Path;
use std::process::Command;

use guichet::audit::{Actor, ActorRole, AuditLog, Event, Kind, Options, verify};
use guichet::model::Vn;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";

fn event(i: u32) -> Event {
    Event {
        kind: Kind::AccountQuery,
        actor: Actor {
            role: ActorRole::Portal,
            name: "demo".into(),
        },
        purpose: Some("self-service".into()),
        person: None,
        offices: vec![
            ("025.000".into(), "ok".into()),
            ("066.000".into(), "no_account".into()),
        ],
        result: format!("complete {i}"),
        detail: Some("x".repeat(300)),
        binding: None,
    }
}

fn options(max_file_bytes: u64, fsync: bool) -> Options {
    Options {
        max_file_bytes,
        fsync,
        ..Options::default()
    }
}

fn fill(dir: &Path, n: u32) {
    let log = AuditLog::open(dir, SECRET, options(4096, false)).expect("open");
    for i in 0..n {
        log.append_blocking(event(i)).expect("append");
    }
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    guichet::audit::log_files(dir)
        .expect("audit folder")
        .into_iter()
        .map(|(_, path)| path)
        .collect()
}

fn cli(dir: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["audit", "verify"])
        .arg(dir)
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn an_untouched_chain_passes_across_files_and_restarts() {
    let dir = tempfile::tempdir().expect("tmp");
    fill(dir.path(), 12);
    fill(dir.path(), 8); // a restart continues the chain
    assert!(files(dir.path()).len() >= 3, "rotation by size happened");
    let report = verify(dir.path()).expect("verify");
    assert_eq!(report.problem, None);
    assert_eq!(report.records, 20);
    let (code, out) = cli(dir.path());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("intact: 20 records"), "{out}");
    assert!(out.contains("signatures NOT checked"), "{out}");
}

fn tampered(change: impl FnOnce(&mut Vec<String>)) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tmp");
    fill(dir.path(), 6);
    let first = files(dir.path())[0].clone();
    let text = std::fs::read_to_string(&first).expect("read");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert!(lines.len() >= 4, "the first file holds several records");
    change(&mut lines);
    let mut out = lines.join("\n");
    out.push('\n');
    std::fs::write(&first, out).expect("write");
    cli(dir.path())
}

#[test]
fn one_changed_byte_is_found_and_located() {
    let (code, out) = tampered(|l| l[2] = l[2].replacen("complete 2", "complete 3", 1));
    assert_eq!(code, Some(1));
    assert!(
        out.contains("audit-000001.jsonl line 3") && out.contains("altered"),
        "{out}"
    );
}

#[test]
fn a_deleted_line_is_found() {
    let (code, out) = tampered(|l| {
        l.remove(1);
    });
    assert_eq!(code, Some(1));
    assert!(out.contains("line 2") && out.contains("removed"), "{out}");
}

#[test]
fn swapped_lines_are_found() {
    let (code, out) = tampered(|l| l.swap(1, 2));
    assert_eq!(code, Some(1));
    assert!(out.contains("line 2"), "{out}");
    assert!(
        out.contains("removed") || out.contains("reordered"),
        "{out}"
    );
}

#[test]
fn an_incomplete_last_line_is_reported_then_cut_at_start_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().expect("tmp");
    fill(dir.path(), 3);
    let last = files(dir.path()).pop().expect("file");
    let text = std::fs::read_to_string(&last).expect("read");
    let torn = &text[..text.len() - 20];
    std::fs::write(&last, torn).expect("truncate");
    let (code, out) = cli(dir.path());
    assert_eq!(code, Some(1));
    assert!(out.contains("truncated"), "{out}");
    // A crash mid-write: the start cuts the incomplete line (never acknowledged) and
    // writes on from the last whole record.
    let log = AuditLog::open(dir.path(), SECRET, options(4096, false)).expect("recovers");
    assert_eq!(log.append_blocking(event(9)).expect("append"), 3);
    let report = verify(dir.path()).expect("verify");
    assert_eq!(report.problem, None, "{report:?}");
    assert_eq!(report.records, 3);
}

#[test]
fn a_failed_write_leaves_no_bytes_for_the_next_record() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = AuditLog::open(dir.path(), SECRET, options(1 << 20, true)).expect("open");
    log.append_blocking(event(0)).expect("append");
    let failures = || guichet::metrics::METRICS.audit_write_failures.get();
    let before = failures();
    log.inject(guichet::audit::Fault::Torn);
    let err = log
        .append_blocking(event(1))
        .expect_err("the torn write fails");
    assert!(err.to_string().contains("cannot write"), "{err}");
    log.inject(guichet::audit::Fault::Refuse);
    assert!(log.append_blocking(event(2)).is_err());
    log.inject(guichet::audit::Fault::None);
    // Both refusals are counted for the alert on audit write failures (other tests of this
    // binary may add theirs meanwhile, never remove).
    assert!(failures() >= before + 2, "{} then {}", before, failures());
    let text = guichet::metrics::METRICS.render("");
    assert!(
        text.contains("guichet_audit_write_failures_total "),
        "{text}"
    );
    assert_eq!(log.append_blocking(event(3)).expect("append"), 2);
    let text = std::fs::read_to_string(&files(dir.path())[0]).expect("read");
    assert_eq!(text.lines().count(), 2, "no half line in between");
    let report = verify(dir.path()).expect("verify");
    assert_eq!((report.problem, report.records), (None, 2));
}

#[test]
fn persons_are_keyed_hashes_and_can_be_found() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = AuditLog::open(dir.path(), SECRET, options(1 << 20, true)).expect("open");
    let vn = Vn::parse("7561234567897").expect("vn");
    let mut e = event(0);
    e.person = Some(log.person(vn));
    log.append_blocking(e).expect("append");
    log.append_blocking(event(1)).expect("append");
    let text = std::fs::read_to_string(&files(dir.path())[0]).expect("read");
    assert!(
        !text.contains("7561234567897") && !text.contains("756.1234"),
        "no AHV number in clear"
    );
    assert_eq!(log.accesses(vn).expect("accesses").len(), 1);
    let other = AuditLog::open(
        tempfile::tempdir().expect("tmp").path(),
        b"another secret of at least 32 bytes!!",
        options(1 << 20, false),
    )
    .expect("open");
    assert_ne!(
        other.person(vn),
        log.person(vn),
        "the hash depends on the secret"
    );
    assert!(AuditLog::open(dir.path(), b"short", options(4096, false)).is_err());
    let (code, out) = cli(Path::new("/nonexistent/audit"));
    assert_eq!(code, Some(2), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_commits_and_keep_the_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = AuditLog::open(dir.path(), SECRET, options(64 * 1024, true)).expect("open");
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append(event(i)).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.expect("task").expect("recorded"));
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=200).collect::<Vec<u64>>(),
        "every record once, none lost"
    );
    let report = verify(dir.path()).expect("verify");
    assert_eq!(report.problem, None);
    assert_eq!(report.records, 200);
    assert!(
        files(dir.path()).len() > 1,
        "rotation happened under concurrency"
    );
}
