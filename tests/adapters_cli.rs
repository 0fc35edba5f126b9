//! `guichet adapters check` and `list --offline` as office IT staff run them: exit codes
//! and messages that name the file and the field.

use std::process::Command;

fn guichet(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run guichet");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_a_shipped_adapter_and_names_the_bad_field() {
    let (ok, out, err) = guichet(&["adapters", "check", "adapters/001.000.toml"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ok: office 001.000"), "{out}");

    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/001.000.toml");
    let text = std::fs::read_to_string(shipped).expect("shipped adapter");
    let bad = dir.path().join("001.000.toml");
    std::fs::write(
        &bad,
        text.replace("timeout_ms = 1500", "timeout_ms = 99999"),
    )
    .expect("write");
    let (ok, _, err) = guichet(&["adapters", "check", bad.to_str().expect("utf-8")]);
    assert!(!ok);
    assert!(err.contains("field timeout_ms"), "{err}");
    let json = dir.path().join("mine.json");
    std::fs::write(&json, r#"{"office": "001.000", "name": "x", "kind": "cantonal", "dialect": "klingon", "endpoint": "https://127.0.0.1:1/"}"#).expect("write");
    let (ok, _, err) = guichet(&["adapters", "check", json.to_str().expect("utf-8")]);
    assert!(!ok);
    assert!(
        err.contains("field dialect") && err.contains("mine.json"),
        "{err}"
    );
}

#[test]
fn list_offline_prints_every_shipped_adapter() {
    let (ok, out, err) = guichet(&["adapters", "list", "--offline"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 102, "{out}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("001.000  registered  1")),
        "{out}"
    );
}
