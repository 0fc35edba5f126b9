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

/// A configuration next to `dir` from the shipped one, with its `[offices]` policy changed.
fn config_with(dir: &std::path::Path, policy: &str) -> String {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/guichet.toml");
    let text = std::fs::read_to_string(shipped).expect("shipped config");
    assert!(
        text.contains("\nallow_loopback = true\n"),
        "the shipped policy line"
    );
    let path = dir.join("guichet.toml");
    std::fs::write(&path, text.replace("\nallow_loopback = true\n", policy)).expect("write");
    path.to_str().expect("utf-8").to_owned()
}

/// An adapter definition like the shipped 001.000 with another endpoint.
fn adapter_at(dir: &std::path::Path, endpoint: &str) -> String {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/001.000.toml");
    let text = std::fs::read_to_string(shipped).expect("shipped adapter");
    let path = dir.join("001.000.toml");
    let line = "endpoint = \"https://127.0.0.1:18101/ik/v5/extract\"";
    assert!(text.contains(line), "the shipped endpoint line");
    std::fs::write(
        &path,
        text.replace(line, &format!("endpoint = \"{endpoint}\"")),
    )
    .expect("write");
    path.to_str().expect("utf-8").to_owned()
}

#[test]
fn check_with_a_config_judges_the_endpoint_policy_offline() {
    // The development configuration allows the shipped loopback endpoints.
    let (ok, out, err) = guichet(&[
        "adapters",
        "check",
        "adapters/001.000.toml",
        "--config",
        "config/guichet.toml",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("endpoint allowed by the policy of config/guichet.toml"),
        "{out}"
    );
    let (ok, out, _) = guichet(&["adapters", "check", "adapters/001.000.toml"]);
    assert!(ok && out.contains("endpoint policy not checked"), "{out}");

    // A production policy refuses loopback, naming the file, the field and the config.
    let dir = tempfile::tempdir().expect("tempdir");
    let prod = config_with(dir.path(), "\nallow_loopback = false\n");
    let args = [
        "adapters",
        "check",
        "adapters/001.000.toml",
        "--mappings",
        "mappings",
    ];
    let (ok, _, err) = guichet(&[&args[..], &["--config", &prod]].concat());
    assert!(!ok);
    assert!(
        err.contains("001.000.toml")
            && err.contains("field endpoint")
            && err.contains("allow_loopback")
            && err.contains(&prod),
        "{err}"
    );

    // A list of host suffixes: names are judged as written, without resolving them.
    let listed = config_with(
        dir.path(),
        "\nallow_loopback = false\nendpoint_host_suffixes = [\".ahv-iv.ch\"]\n",
    );
    let defs = tempfile::tempdir().expect("tempdir");
    let inside = adapter_at(defs.path(), "https://ik.zh.ahv-iv.ch/ik/v5/extract");
    let check = |file: &str| {
        guichet(&[
            "adapters",
            "check",
            file,
            "--mappings",
            "mappings",
            "--config",
            &listed,
        ])
    };
    let (ok, _, err) = check(&inside);
    assert!(ok, "{err}");
    let outside = adapter_at(defs.path(), "https://ik.zh.example.org/ik/v5/extract");
    let (ok, _, err) = check(&outside);
    assert!(!ok);
    assert!(
        err.contains("outside offices.endpoint_host_suffixes"),
        "{err}"
    );
}

#[test]
fn check_never_connects_to_the_endpoint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let defs = tempfile::tempdir().expect("tempdir");
    let file = adapter_at(defs.path(), &format!("https://127.0.0.1:{port}/ik"));
    let (ok, _, err) = guichet(&[
        "adapters",
        "check",
        &file,
        "--config",
        "config/guichet.toml",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "no connection was made"
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
