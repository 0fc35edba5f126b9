//! Signed checkpoints catch what the hash chain alone cannot: the newest records or the
//! newest file deleted, and a record edited with every later hash recomputed. Also: the
//! key files are bytes, `0600` or refused, and `fsync = false` needs its explicit flag.

#[path = "support/audit.rs"]
mod support;

use std::path::Path;

use guichet::audit::{AuditLog, Event, Kind, Options, Record, keys, seal};
use guichet::model::Vn;
use support::{Keys, log_files};

/// Record `i`: an account query without a person, no office.
fn event(i: u32) -> Event {
    Event {
        kind: Kind::AccountQuery,
        person: None,
        offices: Vec::new(),
        ..support::event(None, i)
    }
}

fn open(dir: &Path, k: &Keys) -> Result<AuditLog, guichet::audit::AuditError> {
    support::open_signed(dir, k, None, &[])
}

/// 12 records over several files; checkpoints at 5, 10 and (shutdown) 12.
fn filled(k: &Keys) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open(dir.path(), k).expect("open");
    for i in 0..12 {
        log.append_blocking(event(i)).expect("append");
    }
    let last = log.checkpoint().expect("sign").expect("a checkpoint");
    assert_eq!(last.seq, 12);
    assert!(
        log.checkpoint().expect("sign").is_none(),
        "head already covered"
    );
    dir
}

#[test]
fn checkpoints_are_signed_every_n_records_and_at_shutdown() {
    let k = support::keys();
    let dir = filled(&k);
    let text = std::fs::read_to_string(dir.path().join("checkpoints.jsonl")).expect("read");
    let seqs: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<guichet::audit::Checkpoint>(l)
                .expect("cp")
                .seq
        })
        .collect();
    assert_eq!(seqs, vec![5, 10, 12]);
    let (code, out) = support::verify_cli(&[dir.path()], &k);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("intact: 12 records") && out.contains("3 checkpoints with valid signatures"),
        "{out}"
    );
}

#[test]
fn deleted_newest_records_are_a_truncated_tail() {
    let k = support::keys();
    let dir = filled(&k);
    let newest = log_files(dir.path()).pop().expect("file");
    let text = std::fs::read_to_string(&newest).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    std::fs::write(&newest, lines.join("\n") + "\n").expect("write");
    let (code, out) = support::verify_cli(&[dir.path()], &k);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("truncated") && out.contains("record 12"),
        "{out}"
    );
    // The gateway refuses to write on over the evidence.
    let err = open(dir.path(), &k).expect_err("refused");
    assert!(
        err.to_string().contains("signed records were removed"),
        "{err}"
    );
}

#[test]
fn a_deleted_newest_file_is_a_truncated_tail() {
    let k = support::keys();
    let dir = filled(&k);
    let files = log_files(dir.path());
    assert!(files.len() >= 2, "several files");
    std::fs::remove_file(files.last().expect("file")).expect("rm");
    let (code, out) = support::verify_cli(&[dir.path()], &k);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("truncated"), "{out}");
}

#[test]
fn an_edit_with_every_later_hash_recomputed_is_found() {
    let k = support::keys();
    let dir = filled(&k);
    let mut prev = guichet::audit::GENESIS.to_owned();
    for path in log_files(dir.path()) {
        let text = std::fs::read_to_string(&path).expect("read");
        let mut out = String::new();
        for line in text.lines() {
            let mut record: Record = serde_json::from_str(line).expect("record");
            if record.seq == 2 {
                record.event.purpose = Some("benefit-review".into());
            }
            record.prev = prev.clone();
            let (sealed, hash) = seal(&record).expect("seal");
            out.push_str(&sealed);
            prev = hash;
        }
        std::fs::write(&path, out).expect("write");
    }
    let plain = guichet::audit::verify(dir.path()).expect("verify");
    assert!(
        plain
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("recomputed chain")),
        "even without the key the checkpoints disagree: {plain:?}"
    );
    let (code, out) = support::verify_cli(&[dir.path()], &k);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("recomputed chain") && out.contains("between 1 and 5"),
        "{out}"
    );
}

#[test]
fn a_forged_checkpoint_fails_its_signature() {
    let k = support::keys();
    let dir = filled(&k);
    let path = dir.path().join("checkpoints.jsonl");
    let text = std::fs::read_to_string(&path).expect("read");
    let mut cp: guichet::audit::Checkpoint =
        serde_json::from_str(text.lines().next().expect("line")).expect("cp");
    cp.time = "2020-01-01T00:00:00Z".into();
    let rest: Vec<&str> = text.lines().skip(1).collect();
    let forged = serde_json::to_string(&cp).expect("json") + "\n" + &rest.join("\n") + "\n";
    std::fs::write(&path, forged).expect("write");
    let (code, out) = support::verify_cli(&[dir.path()], &k);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("line 1: invalid signature"), "{out}");
}

#[test]
fn key_files_are_bytes_and_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("secret");
    let raw: Vec<u8> = (0u8..40).map(|b| b.wrapping_mul(37) | 0x80).collect();
    std::fs::write(&path, [raw.as_slice(), b"\n"].concat()).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(
        keys::read_hmac_secret(&path).expect("not UTF-8, still a key"),
        raw,
        "raw bytes, one final newline dropped"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = keys::read_hmac_secret(&path).expect_err("group may read it");
    assert!(err.to_string().contains("mode 0640"), "{err}");
    std::fs::write(&path, b"short\n").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(keys::read_hmac_secret(&path).is_err(), "under 32 bytes");
    // A demo-made secret (64 hex digits) keys the same person hashes as those 64 bytes.
    let k = support::keys();
    let text = std::fs::read(&k.hmac).expect("read");
    let a = open(tempfile::tempdir().expect("tmp").path(), &k).expect("open");
    let b = AuditLog::open(
        tempfile::tempdir().expect("tmp").path(),
        text.trim_ascii(),
        Options::default(),
    )
    .expect("open");
    let vn = Vn::from_serial(7);
    assert_eq!(a.person(vn), b.person(vn));
    let mode = std::fs::metadata(&k.signing)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn fsync_off_needs_the_explicit_unsafe_flag() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = repo.join("config/guichet.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    assert!(text.contains("\nfsync = true\n"));
    let off = text.replace("\nfsync = true\n", "\nfsync = false\n");
    let err = guichet::config::Config::parse(&path, &off).expect_err("refused");
    assert!(err.to_string().contains("audit.unsafe_no_fsync"), "{err}");
    let flagged = text.replace(
        "\nfsync = true\n",
        "\nfsync = false\nunsafe_no_fsync = true\n",
    );
    let config = guichet::config::Config::parse(&path, &flagged).expect("accepted");
    assert!(!config.audit.fsync);
}
