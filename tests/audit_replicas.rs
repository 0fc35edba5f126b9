//! Audit across replicas: each replica keeps its own hash chain, its id in every record
//! and checkpoint; `guichet audit verify` checks several replicas' folders, each as its own
//! chain, and names a chain that mixes two replicas or a replica whose chain is in two
//! folders; the accesses listing of one replica covers the other replicas' folders.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use guichet::audit::{Actor, ActorRole, AuditLog, Event, Kind, Options, keys, verify_replicas};
use guichet::model::Vn;

struct Keys {
    _dir: tempfile::TempDir,
    hmac: PathBuf,
    signing: PathBuf,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().expect("tmp");
    let hmac = dir.path().join("audit-hmac.key");
    let signing = dir.path().join("audit-checkpoint.p8");
    keys::ensure(&hmac, &signing).expect("keys");
    Keys {
        _dir: dir,
        hmac,
        signing,
    }
}

fn event(person: Option<String>, i: u32) -> Event {
    Event {
        kind: if person.is_some() {
            Kind::AccountQuery
        } else {
            Kind::AccountChanged
        },
        actor: Actor {
            role: ActorRole::Portal,
            name: "demo".into(),
        },
        purpose: Some("self-service".into()),
        person,
        offices: vec![("025.000".into(), "ok".into())],
        result: format!("complete {i}"),
        detail: Some("x".repeat(200)),
        binding: None,
    }
}

/// The log of `replica` in `dir`, reading the other replicas' folders `peers`. All
/// replicas share the HMAC secret (the same person hash everywhere) and, here, the
/// checkpoint key.
fn open(dir: &Path, k: &Keys, replica: Option<&str>, peers: &[&Path]) -> AuditLog {
    let secret = keys::read_hmac_secret(&k.hmac).expect("secret");
    let options = Options {
        max_file_bytes: 4096,
        fsync: false,
        checkpoint_every: 5,
        signer: Some(Arc::new(keys::read_signer(&k.signing).expect("signer"))),
        replica: replica.map(str::to_owned),
        replica_dirs: peers.iter().map(|p| p.to_path_buf()).collect(),
    };
    AuditLog::open(dir, &secret, options).expect("open")
}

fn lines(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for (_, path) in guichet::audit::log_files(dir).expect("files") {
        let text = std::fs::read_to_string(path).expect("read");
        out.extend(text.lines().map(str::to_owned));
    }
    out
}

fn cli(dirs: &[&Path], k: &Keys) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["audit", "verify"])
        .args(dirs)
        .arg("--public-key")
        .arg(keys::public_key_path(&k.signing))
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn each_replica_has_its_own_named_chain_and_verify_checks_them_all() {
    let k = keys();
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    for (dir, name, n) in [(&a, "replica-a", 12), (&b, "replica-b", 7)] {
        let log = open(dir, &k, Some(name), &[]);
        for i in 0..n {
            log.append_blocking(event(None, i)).expect("append");
        }
        let last = log.checkpoint().expect("sign").expect("checkpoint");
        assert_eq!(last.replica.as_deref(), Some(name));
        let tag = format!("\"replica\":\"{name}\"");
        assert!(
            lines(dir).iter().all(|l| l.contains(&tag)),
            "{name} in every record"
        );
        let checkpoints = std::fs::read_to_string(dir.join("checkpoints.jsonl")).expect("read");
        assert!(
            checkpoints.lines().all(|l| l.contains(&tag)),
            "{name} in every checkpoint"
        );
    }
    let key = keys::read_public_key(&keys::public_key_path(&k.signing)).expect("key");
    let reports = verify_replicas(&[
        (a.clone(), Some(key.clone())),
        (b.clone(), Some(key.clone())),
    ])
    .expect("verify");
    let seen: Vec<_> = reports
        .iter()
        .map(|c| {
            (
                c.report.replica.clone(),
                c.report.records,
                c.report.problem.clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (Some("replica-a".into()), 12, None),
            (Some("replica-b".into()), 7, None)
        ]
    );
    assert!(
        reports
            .iter()
            .all(|c| c.report.signatures_checked && c.report.checkpoints > 0)
    );
    let (code, out) = cli(&[&a, &b], &k);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("(replica replica-a): intact: 12 records"),
        "{out}"
    );
    assert!(
        out.contains("(replica replica-b): intact: 7 records"),
        "{out}"
    );

    // The same replica's chain in two folders (a copy, or two replicas sharing one id).
    let copy = root.path().join("copy");
    std::fs::create_dir(&copy).expect("mkdir");
    for entry in std::fs::read_dir(&a).expect("dir") {
        let p = entry.expect("entry").path();
        std::fs::copy(&p, copy.join(p.file_name().expect("name"))).expect("copy");
    }
    let (code, out) = cli(&[&a, &copy], &k);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("also has its chain in"), "{out}");

    // A checkpoint moved from another replica's folder is refused (its signature covers
    // the replica id, and the id is not this chain's).
    let b_checkpoints = std::fs::read_to_string(b.join("checkpoints.jsonl")).expect("read");
    let mut mixed = std::fs::read_to_string(a.join("checkpoints.jsonl")).expect("read");
    mixed.push_str(b_checkpoints.lines().next().expect("one"));
    mixed.push('\n');
    std::fs::write(a.join("checkpoints.jsonl"), mixed).expect("write");
    let (code, out) = cli(&[&a], &k);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is of replica \"replica-b\""), "{out}");
}

#[test]
fn a_folder_written_by_two_replicas_is_named_and_an_old_unnamed_log_stays_verifiable() {
    let k = keys();
    let root = tempfile::tempdir().expect("tmp");
    // An old single gateway's log, then the same folder named `replica-a`: intact.
    let dir = root.path().join("a");
    {
        let old = open(&dir, &k, None, &[]);
        for i in 0..3 {
            old.append_blocking(event(None, i)).expect("append");
        }
        old.checkpoint().expect("sign");
    }
    let report = guichet::audit::verify(&dir).expect("verify");
    assert_eq!(
        (report.replica.as_deref(), report.problem.as_deref()),
        (None, None)
    );
    {
        let named = open(&dir, &k, Some("replica-a"), &[]);
        named.append_blocking(event(None, 3)).expect("append");
        named.checkpoint().expect("sign");
    }
    let (code, out) = cli(&[&dir], &k);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("intact: 4 records"), "{out}");
    // A second replica configured onto the same folder: the chain's hashes hold, but
    // verify names the record of the other replica.
    {
        let wrong = open(&dir, &k, Some("replica-b"), &[]);
        wrong.append_blocking(event(None, 4)).expect("append");
    }
    let (code, out) = cli(&[&dir], &k);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("line")
            && out.contains(
                "a record of replica \"replica-b\" in the chain of replica \"replica-a\""
            ),
        "{out}"
    );
}

#[test]
fn the_accesses_listing_covers_every_replicas_folder() {
    let k = keys();
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    let log_a = open(&a, &k, Some("replica-a"), &[&b]);
    let log_b = open(&b, &k, Some("replica-b"), &[&a]);
    let (x, y) = (Vn::from_serial(4242), Vn::from_serial(4343));
    log_a
        .append_blocking(event(Some(log_a.person(x)), 1))
        .expect("a");
    log_b
        .append_blocking(event(Some(log_b.person(y)), 2))
        .expect("b");
    log_b
        .append_blocking(event(Some(log_b.person(x)), 3))
        .expect("b");
    let replicas = |log: &AuditLog, vn| -> Vec<(Option<String>, String)> {
        log.accesses(vn)
            .expect("accesses")
            .into_iter()
            .map(|r| (r.replica, r.event.result))
            .collect()
    };
    let both = vec![
        (Some("replica-a".to_owned()), "complete 1".to_owned()),
        (Some("replica-b".to_owned()), "complete 3".to_owned()),
    ];
    assert_eq!(replicas(&log_a, x), both, "replica a lists b's access too");
    assert_eq!(replicas(&log_b, x), both, "and the other way round");
    assert_eq!(replicas(&log_a, y).len(), 1);
    // Records appended later (many, over rotated files) are picked up by the next listing;
    // a line being written in the other folder is left for later, not an error.
    for i in 10..40 {
        log_b
            .append_blocking(event(Some(log_b.person(x)), i))
            .expect("b");
    }
    assert!(
        guichet::audit::log_files(&b).expect("files").len() > 1,
        "rotated"
    );
    let newest = guichet::audit::log_files(&b)
        .expect("files")
        .pop()
        .expect("one")
        .1;
    let mut partial = std::fs::OpenOptions::new()
        .append(true)
        .open(&newest)
        .expect("open");
    std::io::Write::write_all(&mut partial, b"{\"seq\":99,\"time\":").expect("write");
    let listed = replicas(&log_a, x);
    assert_eq!(listed.len(), 32, "{listed:?}");
    assert_eq!(
        listed
            .iter()
            .filter(|(r, _)| r.as_deref() == Some("replica-b"))
            .count(),
        31
    );
    // An altered record in the other folder is an error, never silently listed.
    let first_b = guichet::audit::log_files(&b).expect("files")[0].1.clone();
    let text = std::fs::read_to_string(&first_b).expect("read");
    std::fs::write(&first_b, text.replacen("complete 3", "complete 9", 1)).expect("write");
    let e = log_a.accesses(x).expect_err("altered");
    assert!(e.to_string().contains("altered"), "{e}");
}
