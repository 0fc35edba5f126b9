//! The accesses index kept next to the audit files (`accesses.idx`): a restart reads it and
//! only the log records after its last position, never every file; a missing, truncated,
//! stale or foreign index is completed or rebuilt to the same listing; a corrupt line is
//! detected and not trusted; the file holds keyed hashes only, never an AHV number.

#[path = "support/audit.rs"]
mod support;

use std::path::{Path, PathBuf};

use guichet::audit::{AuditLog, Event};
use guichet::model::Vn;
use support::log_files;

/// Record `i` of `person` (or an adapter change), with 300 bytes of detail.
fn event(person: Option<String>, i: u32) -> Event {
    Event {
        detail: Some("x".repeat(300)),
        ..support::event(person, i)
    }
}

fn open(dir: &Path) -> AuditLog {
    AuditLog::open(dir, support::SECRET, support::options(1000)).expect("open")
}

const A: u32 = 31_337;
const B: u32 = 31_338;

/// `n` records alternating between persons A and B, with a non-access record every third.
fn append(log: &AuditLog, from: u32, n: u32) {
    for i in from..from + n {
        let person = match i % 3 {
            0 => Some(log.person(Vn::from_serial(A))),
            1 => Some(log.person(Vn::from_serial(B))),
            _ => None,
        };
        log.append_blocking(event(person, i)).expect("append");
    }
}

/// The sequence numbers listed for A and B.
fn listing(log: &AuditLog) -> (Vec<u64>, Vec<u64>) {
    let seqs = |serial| {
        log.accesses(Vn::from_serial(serial))
            .expect("accesses")
            .iter()
            .map(|r| r.seq)
            .collect()
    };
    (seqs(A), seqs(B))
}

fn index(dir: &Path) -> PathBuf {
    dir.join("accesses.idx")
}

/// A folder with 30 records over several files, closed at shutdown; and its listing.
fn filled() -> (tempfile::TempDir, (Vec<u64>, Vec<u64>)) {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open(dir.path());
    assert!(
        log.index_start().rebuilt.is_none(),
        "a new folder has nothing to rebuild"
    );
    append(&log, 0, 30);
    log.checkpoint().expect("shutdown");
    let listed = listing(&log);
    assert_eq!((listed.0.len(), listed.1.len()), (10, 10), "{listed:?}");
    assert!(log_files(dir.path()).len() >= 4, "several files");
    (dir, listed)
}

#[test]
fn a_restart_reads_the_index_and_not_the_older_files() {
    let (dir, _) = filled();
    // Make every log file but the newest unreadable as a log: a start that read them
    // would refuse to open.
    let files = log_files(dir.path());
    for f in &files[..files.len() - 1] {
        std::fs::write(f, [0xff, 0xfe, b'\n']).expect("spoil");
    }
    let log = open(dir.path());
    let start = log.index_start().clone();
    assert_eq!(start.rebuilt, None, "{start:?}");
    assert_eq!(
        (start.files_read, start.records_read),
        (0, 0),
        "the index covered the head (shutdown mark): no log file read"
    );
    // The listing still points at the (spoiled) older files, whose records it checks.
    assert!(
        log.accesses(Vn::from_serial(A)).is_err(),
        "a spoiled record is not served"
    );
}

#[test]
fn the_listing_is_the_same_after_a_restart_and_new_records_are_indexed() {
    let (dir, listed) = filled();
    let log = open(dir.path());
    assert_eq!(log.index_start().rebuilt, None);
    assert_eq!(listing(&log), listed);
    append(&log, 30, 3);
    let (a, b) = listing(&log);
    assert_eq!((a.len(), b.len()), (11, 11));
    drop(log); // no shutdown mark: the last lines were written, not synced
    let log = open(dir.path());
    assert_eq!(log.index_start().rebuilt, None);
    assert_eq!(listing(&log), (a, b));
    let text = std::fs::read_to_string(index(dir.path())).expect("index");
    for serial in [A, B] {
        let vn = Vn::from_serial(serial);
        assert!(!text.contains(&vn.digits()) && !text.contains(&vn.dotted()));
        assert!(text.contains(&log.person(vn)), "keyed hashes only");
    }
}

#[test]
fn a_deleted_index_is_rebuilt_to_the_same_listing() {
    let (dir, listed) = filled();
    std::fs::remove_file(index(dir.path())).expect("delete");
    let log = open(dir.path());
    let start = log.index_start().clone();
    assert_eq!(start.rebuilt.as_deref(), Some("missing"));
    assert_eq!(start.files_read, log_files(dir.path()).len());
    assert_eq!(start.records_read, 20);
    assert_eq!(listing(&log), listed);
    drop(log);
    assert_eq!(open(dir.path()).index_start().rebuilt, None, "written back");
}

#[test]
fn a_truncated_index_is_caught_up_from_the_log() {
    let (dir, listed) = filled();
    let text = std::fs::read_to_string(index(dir.path())).expect("index");
    // Cut in the middle of a line, as a crash would: the whole lines are kept and the
    // records after them are read from the log.
    std::fs::write(index(dir.path()), &text[..text.len() / 2 + 7]).expect("truncate");
    let log = open(dir.path());
    let start = log.index_start().clone();
    assert_eq!(start.rebuilt, None, "{start:?}");
    assert!(
        start.records_read > 0 && start.files_read < log_files(dir.path()).len(),
        "only the newer files were read: {start:?}"
    );
    assert_eq!(listing(&log), listed);
}

#[test]
fn an_index_behind_the_log_is_caught_up() {
    let (dir, _) = filled();
    let old = std::fs::read(index(dir.path())).expect("index");
    let log = open(dir.path());
    append(&log, 30, 9);
    log.checkpoint().expect("shutdown");
    let listed = listing(&log);
    drop(log);
    std::fs::write(index(dir.path()), old).expect("restore the older index");
    let log = open(dir.path());
    let start = log.index_start().clone();
    assert_eq!(
        (start.rebuilt.clone(), start.records_read),
        (None, 6),
        "{start:?}"
    );
    assert_eq!(listing(&log), listed);
}

#[test]
fn a_corrupt_index_line_is_detected_and_not_trusted() {
    let (dir, listed) = filled();
    let text = std::fs::read_to_string(index(dir.path())).expect("index");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Point A's third access at B's record: same shape, a valid position, a wrong MAC.
    let (a_line, b_line) = (lines[2].clone(), lines[3].clone());
    let a_person = a_line.split(' ').nth(1).expect("person").to_owned();
    let b_person = b_line.split(' ').nth(1).expect("person").to_owned();
    assert_ne!(a_person, b_person);
    lines[3] = b_line.replacen(&b_person, &a_person, 1);
    std::fs::write(index(dir.path()), lines.join("\n") + "\n").expect("edit");
    let log = open(dir.path());
    let reason = log.index_start().rebuilt.clone().expect("rebuilt");
    assert!(
        reason.contains("line 4") && reason.contains("MAC"),
        "{reason}"
    );
    assert_eq!(
        listing(&log),
        listed,
        "the listing comes from the log, not the edit"
    );
}

#[test]
fn an_index_of_another_log_is_rebuilt() {
    let (dir, _) = filled();
    let other = tempfile::tempdir().expect("tmp");
    let log = open(other.path());
    log.append_blocking(event(None, 99)).expect("append");
    append(&log, 0, 36);
    let listed = listing(&log);
    drop(log);
    // Same key, same shape, other records: its last line does not match this log.
    std::fs::copy(index(dir.path()), index(other.path())).expect("copy");
    let log = open(other.path());
    let reason = log.index_start().rebuilt.clone().expect("rebuilt");
    assert!(reason.contains("does not match the log"), "{reason}");
    assert_eq!(listing(&log), listed);
}

#[test]
fn log_files_deleted_by_retention_leave_the_index_without_error() {
    let (dir, (a, b)) = filled();
    let oldest = log_files(dir.path()).remove(0);
    let kept_from = {
        let text = std::fs::read_to_string(&oldest).expect("read");
        text.lines().count() as u64 + 1
    };
    std::fs::remove_file(&oldest).expect("retention");
    let log = open(dir.path());
    let start = log.index_start().clone();
    assert_eq!(start.rebuilt, None, "{start:?}");
    assert!(start.dropped > 0, "{start:?}");
    let keep = |v: &Vec<u64>| {
        v.iter()
            .copied()
            .filter(|s| *s >= kept_from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listing(&log),
        (keep(&a), keep(&b)),
        "the listing of the files kept"
    );
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.index_start().dropped, 0, "the index file was compacted");
    assert_eq!(listing(&log), (keep(&a), keep(&b)));
}
