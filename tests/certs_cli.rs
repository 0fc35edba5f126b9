//! `guichet certs` as IT staff run it: the binary on a temporary folder, exit codes, file
//! modes, refusal to overwrite, inventory, renewal overlap, CRL contents, damaged files.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use guichet::tls::{load_certs, load_crls, peer_identity, provider};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::UnixTime;

fn certs(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("certs")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run guichet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    out
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn list(dir: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&ok(&certs(dir, &["list", "--json"]))).expect("json")
}

fn serial_of(text: &str) -> String {
    text.split_whitespace()
        .skip_while(|w| *w != "serial")
        .nth(1)
        .expect("serial in output")
        .to_owned()
}

#[test]
fn init_issue_refuse_overwrite_and_modes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("fed");
    // --dir before the subcommand works as well as after.
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["certs", "--dir"])
        .arg(&dir)
        .arg("init")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = certs(&dir, &["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("root-ca.pem"));

    let text = ok(&certs(&dir, &["issue", "--role", "portal", "--name", "p1"]));
    let cert = dir.join("portal-p1.pem");
    let key = dir.join("portal-p1.key");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600);
    for k in ["root-ca.key", "issuing-ca.key"] {
        assert_eq!(mode(&dir.join(k)), 0o600, "{k}");
    }
    // Leaf then issuing CA: peers get the whole chain.
    let chain = load_certs(&cert).expect("chain");
    assert_eq!(chain.len(), 2);
    assert_eq!(
        peer_identity(&chain[0]).map(|i| i.uri()).as_deref(),
        Some("urn:guichet:portal:p1")
    );
    let before = std::fs::read(&key).expect("key");
    let refused = certs(&dir, &["issue", "--role", "portal", "--name", "p1"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("portal-p1") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&key).expect("key"),
        before,
        "nothing overwritten"
    );
    let forced = ok(&certs(
        &dir,
        &["issue", "--role", "portal", "--name", "p1", "--force"],
    ));
    assert_ne!(serial_of(&forced), serial_of(&text));
    assert_ne!(std::fs::read(&key).expect("key"), before);

    // Offices are server certificates with SANs; office names must be office ids.
    ok(&certs(
        &dir,
        &["issue", "--role", "office", "--name", "025.000"],
    ));
    let office = load_certs(&dir.join("offices/025.000.pem")).expect("office");
    let (_, parsed) = x509_parser::parse_x509_certificate(&office[0]).expect("x509");
    let eku = parsed
        .extended_key_usage()
        .expect("eku")
        .expect("present")
        .value;
    assert!(eku.server_auth && eku.client_auth);
    let bad = certs(&dir, &["issue", "--role", "office", "--name", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn list_expiring_exit_codes_and_renewal_overlap() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    ok(&certs(dir, &["init"]));
    // Empty inventory: nothing expires.
    assert_eq!(
        certs(dir, &["list", "--expiring", "30d"]).status.code(),
        Some(0)
    );
    ok(&certs(
        dir,
        &["issue", "--role", "admin", "--name", "ops", "--days", "365"],
    ));
    assert_eq!(
        certs(dir, &["list", "--expiring", "30d"]).status.code(),
        Some(0)
    );
    let short = serial_of(&ok(&certs(
        dir,
        &["issue", "--role", "portal", "--name", "web", "--days", "10"],
    )));
    let out = certs(dir, &["list", "--expiring", "30d"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&short));
    assert_eq!(
        certs(dir, &["list", "--expiring", "5d"]).status.code(),
        Some(0)
    );
    assert_eq!(
        certs(dir, &["list", "--expiring", "soon"]).status.code(),
        Some(1)
    );

    // Renewal by name: a new serial, the old one superseded yet not revoked (overlap).
    let renewed = ok(&certs(dir, &["renew", "--name", "web", "--days", "200"]));
    let new = serial_of(&renewed);
    assert_ne!(new, short);
    let rows = list(dir);
    let row = |s: &str| {
        rows.iter()
            .find(|r| r["serial"] == s)
            .cloned()
            .expect("row")
    };
    assert_eq!(row(&short)["status"], "superseded");
    assert_eq!(row(&short)["revoked"], false);
    assert_eq!(row(&new)["status"], "valid");
    assert!(matches!(row(&new)["daysLeft"].as_i64(), Some(199..=200)));
    assert_eq!(
        certs(dir, &["list", "--expiring", "30d"]).status.code(),
        Some(0)
    );
    // The files now hold the new certificate.
    let chain = load_certs(&dir.join("portal-web.pem")).expect("chain");
    let (_, c) = x509_parser::parse_x509_certificate(&chain[0]).expect("x509");
    assert_eq!(
        c.raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        new
    );
    // Renewal by serial works too; an unknown serial is a clear error.
    ok(&certs(dir, &["renew", &new]));
    let unknown = certs(dir, &["renew", "00ff"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("inventory.json"));
}

#[test]
fn revoke_publishes_a_crl_the_verifier_enforces() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    ok(&certs(dir, &["init"]));
    let bad = serial_of(&ok(&certs(
        dir,
        &["issue", "--role", "portal", "--name", "leaky"],
    )));
    ok(&certs(
        dir,
        &["issue", "--role", "portal", "--name", "fine"],
    ));
    let refused = certs(dir, &["revoke", &bad, "--reason", "stolen"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("key-compromise"));
    ok(&certs(dir, &["revoke", &bad, "--reason", "key-compromise"]));

    let crls = load_crls(&dir.join("federation.crl.pem")).expect("crl");
    assert_eq!(crls.len(), 1);
    let (_, crl) = x509_parser::parse_x509_crl(&crls[0]).expect("parse crl");
    let issuing = load_certs(&dir.join("issuing-ca.pem")).expect("issuing");
    let (_, issuing_parsed) = x509_parser::parse_x509_certificate(&issuing[0]).expect("x509");
    assert_eq!(crl.issuer(), issuing_parsed.subject());
    let revoked: Vec<_> = crl.iter_revoked_certificates().collect();
    assert_eq!(revoked.len(), 1);
    let hex: String = revoked[0]
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, bad);
    let reason = revoked[0].reason_code().map(|(_, r)| r.0);
    assert_eq!(reason, Some(1), "keyCompromise");
    let rows = list(dir);
    assert!(rows.iter().any(|r| r["serial"] == bad
        && r["revoked"] == true
        && r["revocationReason"] == "key-compromise"));

    // The CRL as a TLS server would use it: the revoked one refused, the other accepted.
    let mut roots = RootCertStore::empty();
    roots
        .add(
            load_certs(&dir.join("root-ca.pem"))
                .expect("root")
                .remove(0),
        )
        .expect("root");
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .build()
        .expect("verifier");
    let verify = |name: &str| {
        let chain = load_certs(&dir.join(format!("portal-{name}.pem"))).expect("chain");
        verifier.verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
    };
    let err = verify("leaky").expect_err("revoked");
    assert!(err.to_string().contains("Revoked"), "{err}");
    verify("fine").expect("still valid");
}

#[test]
fn damaged_files_are_named_never_a_panic() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // No federation yet.
    let out = certs(dir, &["issue", "--role", "portal", "--name", "p"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("init"));
    ok(&certs(dir, &["init"]));
    std::fs::write(dir.join("inventory.json"), "{ not json").expect("write");
    let out = certs(dir, &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inventory.json"));
    std::fs::remove_file(dir.join("inventory.json")).expect("rm");
    std::fs::write(
        dir.join("issuing-ca.key"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let out = certs(dir, &["issue", "--role", "portal", "--name", "p"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("issuing-ca.key"));
    std::fs::write(dir.join("issuing-ca.pem"), "garbage").expect("write");
    let out = certs(dir, &["revoke", "00", "--reason", "superseded"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("issuing-ca.pem"));
}

#[test]
fn works_on_a_development_federation() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dev = guichet::pki::ensure_dev_pki(tmp.path(), &["025.000".to_owned()]).expect("dev");
    let text = ok(&certs(
        tmp.path(),
        &["issue", "--role", "portal", "--name", "extra"],
    ));
    assert!(text.contains("federation-ca.pem"), "{text}");
    let chain = load_certs(&tmp.path().join("portal-extra.pem")).expect("chain");
    assert_eq!(chain.len(), 1, "single-tier: the leaf alone");
    // ensure_dev_pki still accepts the folder.
    guichet::pki::ensure_dev_pki(tmp.path(), &["025.000".to_owned()]).expect("still fine");
    assert!(dev.ca_cert.exists());
}

#[test]
fn development_federation_is_in_the_inventory_and_revocable_by_name() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let offices = ["025.000".to_owned(), "002.001".to_owned()];
    guichet::pki::ensure_dev_pki(dir, &offices).expect("dev");
    let rows = list(dir);
    let mut seen: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["role"].as_str().expect("role").to_owned(),
                r["name"].as_str().expect("name").to_owned(),
                r["certFile"].as_str().expect("file").to_owned(),
            )
        })
        .collect();
    seen.sort();
    let expect = |role: &str, name: &str, file: &str| (role.into(), name.into(), file.into());
    assert_eq!(
        seen,
        vec![
            expect("admin", "ops", "admin-ops.pem"),
            expect("gateway", "guichet", "gateway-client.pem"),
            expect("gateway", "guichet", "gateway-server.pem"),
            expect("office", "002.001", "offices/002.001.pem"),
            expect("office", "025.000", "offices/025.000.pem"),
            expect("portal", "demo", "portal-demo.pem"),
            expect("register", "zas", "register-zas.pem"),
            expect("seal", "guichet", "seal-guichet.pem"),
        ]
    );
    assert!(rows.iter().all(|r| r["status"] == "valid"), "{rows:?}");
    // The serials are those of the files.
    let portal = load_certs(&dir.join("portal-demo.pem")).expect("portal");
    let (_, parsed) = x509_parser::parse_x509_certificate(&portal[0]).expect("x509");
    let portal_serial: String = parsed
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(rows.iter().any(|r| r["serial"] == portal_serial.as_str()));

    // A second run records nothing twice; a lost inventory is rebuilt from the files.
    guichet::pki::ensure_dev_pki(dir, &offices).expect("again");
    assert_eq!(list(dir).len(), 8);
    std::fs::remove_file(dir.join("inventory.json")).expect("rm");
    guichet::pki::ensure_dev_pki(dir, &offices).expect("rebuilt");
    assert_eq!(list(dir).len(), 8);

    // Renew by name: the new file is recorded, the old one superseded.
    let renewed = ok(&certs(dir, &["renew", "--name", "025.000"]));
    assert!(renewed.contains("offices/025.000.pem"), "{renewed}");
    guichet::pki::ensure_dev_pki(dir, &offices).expect("renewed file accepted");
    assert_eq!(list(dir).len(), 9);

    // Revoke by name with the RFC 5280 / OpenSSL spelling of the reason.
    let hold = certs(
        dir,
        &["revoke", "--name", "demo", "--reason", "certificateHold"],
    );
    assert_eq!(hold.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&hold.stderr).contains("final"),
        "{}",
        String::from_utf8_lossy(&hold.stderr)
    );
    let text = ok(&certs(
        dir,
        &[
            "revoke",
            "--name",
            "demo",
            "--role",
            "portal",
            "--reason",
            "keyCompromise",
        ],
    ));
    assert!(
        text.contains(&portal_serial) && text.contains("key-compromise"),
        "{text}"
    );
    let row = list(dir)
        .into_iter()
        .find(|r| r["serial"] == portal_serial.as_str())
        .expect("row");
    assert_eq!(row["status"], "revoked");
    assert_eq!(row["revocationReason"], "key-compromise");
    let crls = load_crls(&dir.join("federation.crl.pem")).expect("crl");
    let (_, crl) = x509_parser::parse_x509_crl(&crls[0]).expect("parse crl");
    let revoked: Vec<_> = crl.iter_revoked_certificates().collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].reason_code().map(|(_, r)| r.0), Some(1));

    // The development federation refuses to go on with a revoked certificate.
    let err = guichet::pki::ensure_dev_pki(dir, &offices).expect_err("revoked portal");
    assert!(
        err.to_string().contains("portal-demo.pem") && err.to_string().contains("revoked"),
        "{err}"
    );
    // Two gateway certificates carry the name: the name alone is ambiguous.
    let both = certs(
        dir,
        &["revoke", "--name", "guichet", "--reason", "superseded"],
    );
    assert_eq!(both.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&both.stderr).contains("give the serial"));
}
