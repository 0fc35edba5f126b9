//! Audit across replicas: each replica keeps its own hash chain, its id in every record
//! and checkpoint; `guichet audit verify` checks several replicas' folders, each as its own
//! chain, and names a chain that mixes two replicas or a replica whose chain is in two
//! folders; the accesses listing of one replica covers the other replicas' folders.

#[path = "support/audit.rs"]
mod support;

use std::path::Path;

use guichet::audit::{AuditLog, verify_replicas};
use guichet::model::Vn;
use support::{event, keys};

/// The log of `replica` in `dir`, reading the other replicas' folders `peers`. All
/// replicas share the HMAC secret (the same person hash everywhere) and, here, the
/// checkpoint key.
fn open(dir: &Path, k: &support::Keys, replica: Option<&str>, peers: &[&Path]) -> AuditLog {
    support::open_signed(dir, k, replica, peers).expect("open")
}

fn lines(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for path in support::log_files(dir) {
        let text = std::fs::read_to_string(path).expect("read");
        out.extend(text.lines().map(str::to_owned));
    }
    out
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
    let key =
        guichet::audit::keys::read_public_key(&guichet::audit::keys::public_key_path(&k.signing))
            .expect("key");
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
    let (code, out) = support::verify_cli(&[&a, &b], &k);
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
    let (code, out) = support::verify_cli(&[&a, &copy], &k);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("also has its chain in"), "{out}");

    // A checkpoint moved from another replica's folder is refused (its signature covers
    // the replica id, and the id is not this chain's).
    let b_checkpoints = std::fs::read_to_string(b.join("checkpoints.jsonl")).expect("read");
    let mut mixed = std::fs::read_to_string(a.join("checkpoints.jsonl")).expect("read");
    mixed.push_str(b_checkpoints.lines().next().expect("one"));
    mixed.push('\n');
    std::fs::write(a.join("checkpoints.jsonl"), mixed).expect("write");
    let (code, out) = support::verify_cli(&[&a], &k);
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
    let (code, out) = support::verify_cli(&[&dir], &k);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("intact: 4 records"), "{out}");
    // A second replica configured onto the same folder: the chain's hashes hold, but
    // verify names the record of the other replica.
    {
        let wrong = open(&dir, &k, Some("replica-b"), &[]);
        wrong.append_blocking(event(None, 4)).expect("append");
    }
    let (code, out) = support::verify_cli(&[&dir], &k);
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
