//! `guichet serve` as a process: the expiry warning at start and a reload on SIGHUP.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use guichet::pki::{Ca, Identity, LeafSpec, Role, ensure_dev_pki};

/// Waits up to 30 s for a JSON log line satisfying `want`.
fn wait_for(
    lines: &mpsc::Receiver<serde_json::Value>,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200))
            && want(&line)
        {
            return line;
        }
    }
    panic!("log line not seen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_warns_about_expiry_and_reloads_on_sighup() {
    let tmp = tempfile::tempdir().expect("tmp");
    let certs = tmp.path().join("certs");
    let pki = ensure_dev_pki(&certs, &[]).expect("dev pki");
    let ca = Ca::load(&pki.ca_cert, &pki.ca_key).expect("ca");
    let gateway = Identity::new(Role::Gateway, "guichet").expect("id");
    let server_spec = |days| {
        let mut spec = LeafSpec::server(gateway.clone(), days);
        spec.client_auth = false;
        spec
    };
    let short = ca.issue(&server_spec(10)).expect("leaf");
    short
        .write(&pki.gateway_server.cert, &pki.gateway_server.key)
        .expect("write");
    let repo = env!("CARGO_MANIFEST_DIR");
    guichet::cli::runtime::ensure_audit_secret(&tmp.path().join("audit-hmac.key"))
        .expect("audit secret");
    let config = tmp.path().join("guichet.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ncert = \"certs/gateway-server.pem\"\n\
             key = \"certs/gateway-server.key\"\nclient_ca = \"certs/federation-ca.pem\"\n\
             [offices]\nadapters = \"{repo}/adapters\"\nmappings = \"{repo}/mappings\"\n\
             ca = \"certs/federation-ca.pem\"\nclient_cert = \"certs/gateway-client.pem\"\n\
             client_key = \"certs/gateway-client.key\"\nallow_loopback = true\n\
             [audit]\ndir = \"audit\"\nhmac_key_file = \"audit-hmac.key\"\n"
        ),
    )
    .expect("config");

    let mut child = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("GUICHET_LOG_FORMAT", "json")
        .env("GUICHET_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    // Killed and reaped however the test ends: a failed assertion leaves no server behind.
    let mut child = Reaped(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let fields = |v: &serde_json::Value| v["fields"].clone();
    let warning = wait_for(&lines, |v| {
        fields(v)["message"]
            .as_str()
            .is_some_and(|m| m.contains("expires within 30 days"))
    });
    assert_eq!(fields(&warning)["serial"], short.serial_hex.as_str());
    assert_eq!(warning["level"], "WARN");
    let serving = wait_for(&lines, |v| {
        fields(v)["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("guichet serving"))
    });
    let addr = fields(&serving)["addr"].as_str().expect("addr").to_owned();

    let renewed = ca.issue(&server_spec(90)).expect("leaf");
    renewed
        .write(&pki.gateway_server.cert, &pki.gateway_server.key)
        .expect("write");
    let pid = child.0.id().to_string();
    let hup = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(hup.success());
    let reloaded = wait_for(&lines, |v| {
        fields(v)["trigger"] == "SIGHUP"
            && fields(v)["message"]
                .as_str()
                .is_some_and(|m| m.contains("certificates reloaded"))
    });
    assert!(
        reloaded["fields"]["serials"]
            .as_str()
            .is_some_and(|s| s.contains(&renewed.serial_hex))
    );

    // A fresh handshake is shown the renewed certificate.
    let roots = guichet::tls::load_certs(&pki.ca_cert).expect("roots");
    let identity = (
        guichet::tls::load_certs(&pki.portal.cert).expect("cert"),
        guichet::tls::load_key(&pki.portal.key).expect("key"),
    );
    let client =
        guichet::fanout::client(guichet::tls::client_config(&roots, Some(identity)).expect("tls"))
            .expect("client");
    let response = client
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .expect("healthz");
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .expect("peer cert")
        .to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
    let serial: String = cert
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(serial, renewed.serial_hex);

    // SIGTERM: the gateway drains, then signs the audit log's head; the SIGHUP reload was
    // recorded (by the operator) before it was applied.
    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(term.success());
    wait_for(&lines, |v| {
        fields(v)["message"]
            .as_str()
            .is_some_and(|m| m.contains("audit checkpoint signed"))
    });
    let _ = child.0.wait();
    let audit = tmp.path().join("audit");
    let text = std::fs::read_to_string(audit.join("audit-000001.jsonl")).expect("audit");
    let sighup = text
        .lines()
        .map(|l| serde_json::from_str::<guichet::audit::Record>(l).expect("record"))
        .find(|r| r.event.kind == guichet::audit::Kind::Reload && r.event.actor.name == "SIGHUP")
        .expect("the SIGHUP reload is recorded");
    assert_eq!(sighup.event.actor.role, guichet::audit::ActorRole::Operator);
    let public = tmp.path().join("audit-checkpoint.pub");
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["audit", "verify"])
        .arg(&audit)
        .arg("--public-key")
        .arg(&public)
        .output()
        .expect("verify");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("1 checkpoints with valid signatures, 0 newer records"),
        "{stdout}"
    );
}

/// A child process killed and waited for when dropped (also when the test panics).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
