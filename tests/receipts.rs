//! Receipts as a verifier and an operator meet them: a two-tier federation made by
//! `guichet certs` at test time, a seal certificate issued, renewed and reloaded, receipts
//! signed by the `Sealer` and verified by the library and by `guichet receipts verify`;
//! modified receipts, foreign roots, TLS certificates and expired seals refused with a
//! reason; every receipt's hash in the audit log.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guichet::audit::{Actor, ActorRole, AuditLog, Options};
use guichet::pki::manage::{self, CertTarget, IssueRequest};
use guichet::pki::{Ca, FederationLayout, Identity, LeafSpec, Role};
use guichet::receipt::{
    DeliveryOutcome, DeliveryReceipt, Receipt, ReceiptBody, ReceiptKind, Refusal, SealPaths,
    Sealer, SubmissionOutcome, SubmissionReceipt, encode, verify,
};
use guichet::tls::load_certs;
use rustls_pki_types::{CertificateDer, UnixTime};
use time::{Duration, OffsetDateTime};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test-secret";

/// A federation folder (`certs init`) with a seal `seal:guichet` issued in it.
fn federation(dir: &Path) -> FederationLayout {
    let layout = manage::init(dir).expect("init");
    manage::issue(&layout, &issue(Role::Seal, "guichet")).expect("issue seal");
    layout
}

fn issue(role: Role, name: &str) -> IssueRequest {
    IssueRequest {
        identity: Identity::new(role, name).expect("identity"),
        days: 30,
        server: false,
        dns: Vec::new(),
        ips: Vec::new(),
        force: false,
    }
}

fn seal_paths(layout: &FederationLayout) -> SealPaths {
    SealPaths {
        cert: layout.dir.join("seal-guichet.pem"),
        key: layout.dir.join("seal-guichet.key"),
        ca: layout.root.cert.clone(),
    }
}

fn roots(layout: &FederationLayout) -> Vec<CertificateDer<'static>> {
    load_certs(&layout.root.cert).expect("root")
}

fn submission() -> ReceiptBody {
    ReceiptBody::Submission(SubmissionReceipt {
        submission_id: "sub-7f3a".into(),
        submission_type: "apg-claim".into(),
        sha256: guichet::receipt::sha256_hex(b"{\"canonical\":true}"),
        competent_office: "025.000".into(),
        routing_rule: Some("employer-fund".into()),
        received_at: "2026-11-29T19:00:00Z".into(),
        outcome: SubmissionOutcome::Received,
    })
}

fn cli_verify(file: &Path, ca: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .args(["receipts", "verify"])
        .arg(file)
        .arg("--ca")
        .arg(ca)
        .output()
        .expect("run guichet");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{out:?}"
    );
    out
}

/// Replaces one compact part (0 header, 1 payload, 2 signature) with `f` of its bytes.
fn with_part(jws: &str, index: usize, f: impl Fn(&mut Vec<u8>)) -> String {
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(&parts[index]).expect("base64url");
    f(&mut bytes);
    parts[index] = URL_SAFE_NO_PAD.encode(&bytes);
    parts.join(".")
}

/// A leaf issued by the federation's issuing CA, its key and its chain (leaf, issuing CA).
fn forge(
    layout: &FederationLayout,
    spec: &LeafSpec,
) -> (EcdsaKeyPair, Vec<CertificateDer<'static>>) {
    let ca = Ca::load(&layout.issuing.cert, &layout.issuing.key).expect("issuing CA");
    let leaf = ca.issue(spec).expect("leaf");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, leaf.key_der.secret_der())
        .expect("key");
    (key, vec![leaf.cert_der.clone(), ca.cert_der().clone()])
}

fn receipt_at(iss: String, iat: i64) -> Receipt {
    Receipt {
        iss,
        iat,
        jti: "forged-1".into(),
        body: submission(),
    }
}

#[test]
fn signed_receipt_verifies_with_the_library_and_the_cli() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layout = federation(&tmp.path().join("fed"));
    let sealer = Sealer::load(seal_paths(&layout)).expect("sealer");
    let signed = sealer.seal(submission()).expect("seal");
    assert_eq!(signed.kind, ReceiptKind::Submission);
    assert_eq!(
        signed.sha256,
        guichet::receipt::sha256_hex(signed.jws.as_bytes())
    );

    let verified = verify(&signed.jws, &roots(&layout), UnixTime::now()).expect("verifies");
    assert_eq!(verified.signer.uri(), "urn:guichet:seal:guichet");
    assert_eq!(verified.receipt.body, submission());
    assert_eq!(verified.receipt.jti, signed.id);
    // Header: ES256, typ, x5c = leaf + issuing CA.
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(signed.jws.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "guichet-receipt+jwt");
    assert_eq!(header["x5c"].as_array().map(Vec::len), Some(2));

    let file = tmp.path().join("receipt.jws");
    std::fs::write(&file, format!("{}\n", signed.jws)).expect("write");
    let out = cli_verify(&file, &layout.root.cert);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let payload: serde_json::Value = serde_json::from_slice(&out.stdout).expect("payload JSON");
    assert_eq!(payload["kind"], "submission");
    assert_eq!(payload["submissionId"], "sub-7f3a");
    assert_eq!(payload["competentOffice"], "025.000");
    assert_eq!(payload["outcome"], "received");
    assert_eq!(payload["iss"], "urn:guichet:seal:guichet");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("verified") && stderr.contains("seal:guichet"),
        "{stderr}"
    );

    // A delivery receipt of the same seal verifies too.
    let delivery = sealer
        .seal(ReceiptBody::Delivery(DeliveryReceipt {
            submission_id: "sub-7f3a".into(),
            submission_type: "apg-claim".into(),
            sha256: "ab".repeat(32),
            competent_office: "025.000".into(),
            message_id: Some("msg-1".into()),
            acknowledged_at: "2026-11-29T19:05:00Z".into(),
            outcome: DeliveryOutcome::Accepted,
            case_number: Some("C-1".into()),
            transferred_to: None,
        }))
        .expect("seal");
    let v = verify(&delivery.jws, &roots(&layout), UnixTime::now()).expect("delivery verifies");
    assert_eq!(v.payload["outcome"], "accepted");
    assert_eq!(v.payload["acknowledgedAt"], "2026-11-29T19:05:00Z");
}

#[test]
fn one_flipped_byte_is_refused_with_a_reason() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layout = federation(&tmp.path().join("fed"));
    let sealer = Sealer::load(seal_paths(&layout)).expect("sealer");
    let jws = sealer.seal(submission()).expect("seal").jws;
    let roots = roots(&layout);

    // Payload: another competent office, same signature.
    let moved = with_part(&jws, 1, |bytes| {
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        *bytes = text.replace("025.000", "026.000").into_bytes();
    });
    let refusal = verify(&moved, &roots, UnixTime::now()).expect_err("modified payload");
    assert!(matches!(refusal, Refusal::BadSignature(_)), "{refusal}");

    // One byte of each part flipped.
    for part in 0..3 {
        let flipped = with_part(&jws, part, |bytes| {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
        });
        let refusal = verify(&flipped, &roots, UnixTime::now()).expect_err("flipped byte");
        if part > 0 {
            assert!(matches!(refusal, Refusal::BadSignature(_)), "{refusal}");
        }
        assert!(!refusal.to_string().is_empty());
        let file = tmp.path().join(format!("flipped-{part}.jws"));
        std::fs::write(&file, &flipped).expect("write");
        let out = cli_verify(&file, &layout.root.cert);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("refused:"), "{stderr}");
        assert!(out.stdout.is_empty());
    }

    // Not a JWS at all, and an algorithm downgrade.
    assert!(matches!(
        verify("not.a-receipt", &roots, UnixTime::now()),
        Err(Refusal::Malformed(_))
    ));
    let none = with_part(&jws, 0, |bytes| {
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        *bytes = text.replace("\"ES256\"", "\"none\"").into_bytes();
    });
    let refusal = verify(&none, &roots, UnixTime::now()).expect_err("alg none");
    assert!(refusal.to_string().contains("algorithm"), "{refusal}");
}

#[test]
fn a_chain_to_another_root_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let ours = federation(&tmp.path().join("ours"));
    let theirs = federation(&tmp.path().join("theirs"));
    let jws = Sealer::load(seal_paths(&ours))
        .expect("sealer")
        .seal(submission())
        .expect("seal")
        .jws;
    let refusal = verify(&jws, &roots(&theirs), UnixTime::now()).expect_err("foreign root");
    assert!(matches!(refusal, Refusal::Untrusted(_)), "{refusal}");

    let file = tmp.path().join("r.jws");
    std::fs::write(&file, &jws).expect("write");
    let out = cli_verify(&file, &theirs.root.cert);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chain not to the given root"),
        "{out:?}"
    );
    // A seal pointed at the wrong root refuses to load at all.
    let mut wrong = seal_paths(&ours);
    wrong.ca = theirs.root.cert.clone();
    let err = Sealer::load(wrong).expect_err("wrong root");
    assert!(err.to_string().contains("seal-guichet.pem"), "{err}");
}

#[test]
fn a_tls_certificate_is_no_seal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layout = federation(&tmp.path().join("fed"));
    manage::issue(&layout, &issue(Role::Portal, "p1")).expect("portal");
    manage::issue(&layout, &issue(Role::Gateway, "guichet")).expect("gateway");

    // The sealer refuses to load a TLS identity.
    for stem in ["portal-p1", "gateway-guichet"] {
        let paths = SealPaths {
            cert: layout.dir.join(format!("{stem}.pem")),
            key: layout.dir.join(format!("{stem}.key")),
            ca: layout.root.cert.clone(),
        };
        let err = Sealer::load(paths).expect_err("TLS certificate as seal");
        assert!(err.to_string().contains("not a seal"), "{err}");
    }

    // A receipt signed with a TLS certificate's key is refused by the verifier.
    let id = Identity::new(Role::Portal, "p1").expect("id");
    let (key, chain) = forge(&layout, &LeafSpec::new(id.clone(), 1));
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let jws = encode(&key, &chain, &receipt_at(id.uri(), now)).expect("encode");
    let refusal = verify(&jws, &roots(&layout), UnixTime::now()).expect_err("TLS cert");
    assert!(matches!(refusal, Refusal::NotSeal(_)), "{refusal}");
    // Even naming a seal in `iss`.
    let jws = encode(
        &key,
        &chain,
        &receipt_at("urn:guichet:seal:guichet".into(), now),
    )
    .expect("encode");
    assert!(matches!(
        verify(&jws, &roots(&layout), UnixTime::now()),
        Err(Refusal::NotSeal(_))
    ));
    let file = tmp.path().join("tls.jws");
    std::fs::write(&file, &jws).expect("write");
    let out = cli_verify(&file, &layout.root.cert);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a seal certificate"),
        "{out:?}"
    );

    // A seal's receipt whose `iss` names another seal is refused.
    let seal = Identity::new(Role::Seal, "guichet").expect("id");
    let (key, chain) = forge(&layout, &LeafSpec::seal(seal, 1));
    let jws = encode(
        &key,
        &chain,
        &receipt_at("urn:guichet:seal:other".into(), now),
    )
    .expect("encode");
    assert!(matches!(
        verify(&jws, &roots(&layout), UnixTime::now()),
        Err(Refusal::NotSeal(_))
    ));
}

#[test]
fn a_seal_certificate_is_no_tls_identity() {
    use rustls::server::WebPkiClientVerifier;
    let tmp = tempfile::tempdir().expect("tmp");
    let layout = federation(&tmp.path().join("fed"));
    let chain = load_certs(&layout.dir.join("seal-guichet.pem")).expect("seal chain");
    let mut store = rustls::RootCertStore::empty();
    store.add(roots(&layout)[0].clone()).expect("root");
    let verifier =
        WebPkiClientVerifier::builder_with_provider(store.into(), guichet::tls::provider())
            .build()
            .expect("verifier");
    let err = verifier
        .verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
        .expect_err("a seal certificate is refused as a TLS client");
    assert!(format!("{err:?}").contains("Purpose"), "{err:?}");
}

#[test]
fn an_expired_seal_is_refused_but_its_earlier_receipts_verify() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layout = federation(&tmp.path().join("fed"));
    let seal = Identity::new(Role::Seal, "guichet").expect("id");
    let now = OffsetDateTime::now_utc();
    let mut spec = LeafSpec::seal(seal.clone(), 1);
    // Within the issuing CA's validity (it was made an hour ago).
    spec.not_before = now - Duration::minutes(50);
    spec.not_after = now - Duration::minutes(10);
    let (key, chain) = forge(&layout, &spec);

    let late = encode(&key, &chain, &receipt_at(seal.uri(), now.unix_timestamp())).expect("encode");
    let refusal = verify(&late, &roots(&layout), UnixTime::now()).expect_err("expired seal");
    assert!(
        matches!(refusal, Refusal::NotValidAtSigning { .. }),
        "{refusal}"
    );
    let file = tmp.path().join("late.jws");
    std::fs::write(&file, &late).expect("write");
    let out = cli_verify(&file, &layout.root.cert);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not valid at signing time"),
        "{out:?}"
    );

    // Signed while the seal was valid: still verifies after it expired.
    let earlier = (now - Duration::minutes(30)).unix_timestamp();
    let early = encode(&key, &chain, &receipt_at(seal.uri(), earlier)).expect("encode");
    verify(&early, &roots(&layout), UnixTime::now()).expect("signed in time");

    // A signing time in the future is refused.
    let future = (now + Duration::days(1)).unix_timestamp();
    let valid = LeafSpec::seal(seal.clone(), 30);
    let (key, chain) = forge(&layout, &valid);
    let ahead = encode(&key, &chain, &receipt_at(seal.uri(), future)).expect("encode");
    assert!(matches!(
        verify(&ahead, &roots(&layout), UnixTime::now()),
        Err(Refusal::Malformed(_))
    ));

    // The sealer refuses to load an expired seal.
    let ca = Ca::load(&layout.issuing.cert, &layout.issuing.key).expect("ca");
    let expired = ca.issue(&spec).expect("leaf");
    let paths = SealPaths {
        cert: tmp.path().join("expired.pem"),
        key: tmp.path().join("expired.key"),
        ca: layout.root.cert.clone(),
    };
    std::fs::write(
        &paths.cert,
        format!("{}{}", expired.cert_pem, ca.cert_pem()),
    )
    .expect("write");
    std::fs::write(&paths.key, &expired.key_pem).expect("write");
    let err = Sealer::load(paths).expect_err("expired");
    assert!(err.to_string().contains("expired.pem"), "{err}");
}

#[tokio::test]
async fn seal_and_audit_records_the_hash_before_handing_out() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layout = federation(&tmp.path().join("fed"));
    let sealer = Sealer::load(seal_paths(&layout)).expect("sealer");
    let audit_dir = tmp.path().join("audit");
    let audit = AuditLog::open(&audit_dir, SECRET, Options::default()).expect("audit");
    let actor = Actor {
        role: ActorRole::Portal,
        name: "demo".into(),
    };
    let signed = sealer
        .seal_and_audit(&audit, actor.clone(), submission())
        .await
        .expect("sealed and recorded");
    let records = audit_lines(&audit_dir);
    let last = records.last().expect("a record");
    assert_eq!(last["kind"], "receipt");
    assert_eq!(last["result"], "submission");
    let detail = last["detail"].as_str().expect("detail");
    assert!(
        detail.contains(&signed.sha256) && detail.contains(&signed.id),
        "{detail}"
    );
    assert!(detail.contains("sub-7f3a"), "{detail}");
    assert!(last.get("person").is_none());
    guichet::audit::verify(&audit_dir).expect("chain intact");

    // No record, no receipt.
    audit.inject(guichet::audit::Fault::Refuse);
    let err = sealer
        .seal_and_audit(&audit, actor, submission())
        .await
        .expect_err("audit down");
    assert!(
        matches!(err, guichet::receipt::ReceiptError::Audit(_)),
        "{err}"
    );
}

fn audit_lines(dir: &Path) -> Vec<serde_json::Value> {
    guichet::audit::log_files(dir)
        .expect("files")
        .into_iter()
        .flat_map(|(_, path)| {
            std::fs::read_to_string(path)
                .expect("read")
                .lines()
                .map(|l| serde_json::from_str(l).expect("json"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn renewed_seal_is_reloaded_and_a_broken_one_keeps_the_last_good() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layout = federation(&tmp.path().join("fed"));
    let sealer = Sealer::load(seal_paths(&layout)).expect("sealer");
    let audit_dir = tmp.path().join("audit");
    let audit = AuditLog::open(&audit_dir, SECRET, Options::default()).expect("audit");
    let before = sealer.status();
    assert!(sealer.reload_changed(&audit).is_none(), "nothing changed");

    let target = CertTarget::Name {
        name: "guichet".into(),
        role: Some(Role::Seal),
    };
    let (old, new) = manage::renew(&layout, &target, None).expect("renew");
    assert_eq!(old.serial, before.serial);
    let after = sealer
        .reload_changed(&audit)
        .expect("files changed")
        .expect("reloaded");
    assert_eq!(after.serial, new.serial);
    let v = verify(
        &sealer.seal(submission()).expect("seal").jws,
        &roots(&layout),
        UnixTime::now(),
    )
    .expect("verifies");
    assert_eq!(v.serial, new.serial);

    std::fs::write(layout.dir.join("seal-guichet.pem"), "garbage").expect("break");
    let err = sealer
        .reload_changed(&audit)
        .expect("files changed")
        .expect_err("broken");
    assert!(err.to_string().contains("seal-guichet.pem"), "{err}");
    assert_eq!(sealer.status().serial, new.serial, "last good kept");
    sealer.seal(submission()).expect("still signs");
    let kinds: Vec<String> = audit_lines(&audit_dir)
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["kind"].as_str().unwrap_or(""),
                r["result"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(kinds, ["reload reloaded", "reload failed"]);
}

fn certs(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("certs")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run guichet")
}

#[test]
fn certs_issue_and_renew_a_seal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("fed");
    assert!(certs(&dir, &["init"]).status.success());
    let out = certs(&dir, &["issue", "--role", "seal", "--name", "guichet"]);
    assert!(out.status.success(), "{out:?}");
    let key: PathBuf = dir.join("seal-guichet.key");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let chain = load_certs(&dir.join("seal-guichet.pem")).expect("chain");
    assert_eq!(chain.len(), 2, "leaf + issuing CA");
    guichet::receipt::check_seal_chain(
        &chain,
        &load_certs(&dir.join("root-ca.pem")).expect("root"),
        UnixTime::now(),
    )
    .expect("a seal chain");

    let refused = certs(
        &dir,
        &["issue", "--role", "seal", "--name", "s2", "--server"],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("seal"));

    let list = certs(&dir, &["list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let seal = rows
        .as_array()
        .and_then(|r| r.iter().find(|e| e["role"] == "seal"))
        .expect("inventory entry");
    let serial = seal["serial"].as_str().expect("serial").to_owned();

    let out = certs(&dir, &["renew", "--name", "guichet", "--role", "seal"]);
    assert!(out.status.success(), "{out:?}");
    let chain = load_certs(&dir.join("seal-guichet.pem")).expect("chain");
    let identity = guichet::receipt::check_seal_chain(
        &chain,
        &load_certs(&dir.join("root-ca.pem")).expect("root"),
        UnixTime::now(),
    )
    .expect("the renewed one is a seal too");
    assert_eq!(identity.uri(), "urn:guichet:seal:guichet");
    let list = certs(&dir, &["list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let statuses: Vec<(String, String)> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter(|e| e["role"] == "seal")
        .map(|e| (e["serial"].to_string(), e["status"].to_string()))
        .collect();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert_eq!(
        statuses[0],
        (format!("{serial:?}"), "\"superseded\"".into())
    );
    assert_eq!(statuses[1].1, "\"valid\"");
}

#[test]
fn the_development_federation_has_a_seal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("certs");
    let pki = guichet::pki::ensure_dev_pki(&dir, &["025.000".to_owned()]).expect("dev pki");
    let sealer = Sealer::load(SealPaths {
        cert: pki.seal.cert.clone(),
        key: pki.seal.key.clone(),
        ca: pki.ca_cert.clone(),
    })
    .expect("dev seal loads");
    let jws = sealer.seal(submission()).expect("seal").jws;
    verify(
        &jws,
        &load_certs(&pki.ca_cert).expect("ca"),
        UnixTime::now(),
    )
    .expect("verifies");
    // Idempotent: the second run checks the existing seal and keeps it.
    let again = guichet::pki::ensure_dev_pki(&dir, &["025.000".to_owned()]).expect("again");
    assert_eq!(
        std::fs::read(&again.seal.cert).expect("read"),
        std::fs::read(&pki.seal.cert).expect("read")
    );
}

#[test]
fn a_revoked_seal_is_refused_when_the_crl_is_given() {
    let tmp = tempfile::tempdir().expect("tmp");
    let layout = federation(&tmp.path().join("fed"));
    let jws = Sealer::load(seal_paths(&layout))
        .expect("sealer")
        .seal(submission())
        .expect("seal")
        .jws;
    let file = tmp.path().join("r.jws");
    std::fs::write(&file, &jws).expect("write");
    let with_crl = |file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_guichet"))
            .args(["receipts", "verify"])
            .arg(file)
            .arg("--ca")
            .arg(&layout.root.cert)
            .arg("--crl")
            .arg(&layout.crl)
            .output()
            .expect("run guichet")
    };
    // The CRL of `init` revokes nothing.
    assert_eq!(with_crl(&file).status.code(), Some(0));

    let target = CertTarget::Name {
        name: "guichet".into(),
        role: Some(Role::Seal),
    };
    manage::revoke_target(&layout, &target, "key-compromise").expect("revoke");
    let crls = guichet::tls::load_crls(&layout.crl).expect("crl");
    let refusal = guichet::receipt::verify_with_crls(&jws, &roots(&layout), &crls, UnixTime::now())
        .expect_err("revoked");
    assert!(matches!(refusal, Refusal::Revoked(_)), "{refusal}");
    let out = with_crl(&file);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("revoked"),
        "{out:?}"
    );
    // Without the CRL the verifier cannot know.
    assert_eq!(cli_verify(&file, &layout.root.cert).status.code(), Some(0));
}
