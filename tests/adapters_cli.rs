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

/// Issue #12 item 11: fixed development ports outside the kernel's ephemeral range
/// (32768–60999), so that client sockets in TIME_WAIT after a load run never hold them.
#[test]
fn shipped_adapters_listen_below_the_ephemeral_port_range() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters");
    let mut ports = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("adapters") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let def: toml::Table = toml::from_str(&text).expect("toml");
        let endpoint = def["endpoint"].as_str().expect("endpoint");
        let port: u16 = endpoint
            .strip_prefix("https://127.0.0.1:")
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}: {endpoint}", path.display()));
        let office = def["office"].as_str().expect("office").to_owned();
        ports.push((office, port));
    }
    ports.sort();
    assert_eq!(ports.len(), 101);
    let numbers: Vec<u16> = ports.iter().map(|(_, p)| *p).collect();
    assert!(
        numbers.iter().all(|p| (18101..=18201).contains(p)),
        "{ports:?}"
    );
    let mut unique = numbers.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), numbers.len(), "one port per office");
    // The default listeners of config/guichet.toml stay below the range too.
    let config = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml"),
    )
    .expect("config");
    for line in config.lines().filter(|l| l.starts_with("listen")) {
        let port: u16 = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('"').parse().ok())
            .expect("port");
        assert!(port < 32768, "{line}");
    }
}
