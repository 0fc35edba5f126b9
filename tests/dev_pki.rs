//! The development federation on disk: idempotence, permissions and damaged-file errors.

use std::error::Error;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use guichet::pki::{Ca, DevPki, Identity, LeafSpec, Role, ensure_dev_pki};
use guichet::tls::{load_certs, peer_identity};

type TestResult = Result<(), Box<dyn Error>>;

fn offices() -> Vec<String> {
    vec!["025.000".to_owned(), "002.001".to_owned()]
}

fn all_pairs(pki: &DevPki) -> Vec<(&Path, &Path)> {
    let mut pairs = vec![
        (pki.ca_cert.as_path(), pki.ca_key.as_path()),
        (
            pki.gateway_server.cert.as_path(),
            pki.gateway_server.key.as_path(),
        ),
        (
            pki.gateway_client.cert.as_path(),
            pki.gateway_client.key.as_path(),
        ),
        (pki.portal.cert.as_path(), pki.portal.key.as_path()),
        (pki.admin.cert.as_path(), pki.admin.key.as_path()),
        (pki.register.cert.as_path(), pki.register.key.as_path()),
    ];
    pairs.extend(
        pki.offices
            .values()
            .map(|p| (p.cert.as_path(), p.key.as_path())),
    );
    pairs
}

fn mode(path: &Path) -> Result<u32, Box<dyn Error>> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}

#[test]
fn creates_everything_with_private_keys_0600() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ensure_dev_pki(tmp.path(), &offices())?;
    assert_eq!(pki.ca_cert, tmp.path().join("federation-ca.pem"));
    assert_eq!(pki.portal.cert, tmp.path().join("portal-demo.pem"));
    assert_eq!(
        pki.offices["025.000"].key,
        tmp.path().join("offices/025.000.key")
    );
    for (cert, key) in all_pairs(&pki) {
        assert!(cert.is_file(), "{}", cert.display());
        assert_eq!(mode(key)?, 0o600, "{}", key.display());
        assert_eq!(mode(cert)? & !0o644, 0, "{}", cert.display());
    }
    let identity_of = |path: &Path| -> Result<Option<Identity>, Box<dyn Error>> {
        Ok(peer_identity(&load_certs(path)?[0]))
    };
    assert_eq!(
        identity_of(&pki.gateway_server.cert)?,
        Some(Identity::new(Role::Gateway, "guichet")?)
    );
    assert_eq!(
        identity_of(&pki.portal.cert)?,
        Some(Identity::new(Role::Portal, "demo")?)
    );
    assert_eq!(
        identity_of(&pki.admin.cert)?,
        Some(Identity::new(Role::Admin, "ops")?)
    );
    assert_eq!(
        identity_of(&pki.register.cert)?,
        Some(Identity::new(Role::Register, "zas")?)
    );
    assert_eq!(
        identity_of(&pki.offices["002.001"].cert)?,
        Some(Identity::new(Role::Office, "002.001")?)
    );
    Ok(())
}

#[test]
fn second_run_reuses_ca_and_leaves_and_adds_missing_offices() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let first = ensure_dev_pki(tmp.path(), &offices())?;
    let before: Vec<Vec<u8>> = all_pairs(&first)
        .iter()
        .map(|(cert, _)| fs::read(cert))
        .collect::<Result<_, _>>()?;
    let mut more = offices();
    more.push("100.000".to_owned());
    let second = ensure_dev_pki(tmp.path(), &more)?;
    let after: Vec<Vec<u8>> = all_pairs(&first)
        .iter()
        .map(|(cert, _)| fs::read(cert))
        .collect::<Result<_, _>>()?;
    assert_eq!(before, after, "existing files must be reused unchanged");
    assert!(second.offices["100.000"].cert.is_file());
    // The CA is loaded, not regenerated: a reload gives the same certificate.
    let ca = Ca::load(&second.ca_cert, &second.ca_key)?;
    assert_eq!(
        ca.cert_pem().as_bytes(),
        fs::read(&second.ca_cert)?.as_slice()
    );
    Ok(())
}

#[test]
fn garbage_leaf_is_reported_by_name_and_kept() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ensure_dev_pki(tmp.path(), &[])?;
    fs::write(&pki.portal.cert, "this is not PEM\n")?;
    let err = ensure_dev_pki(tmp.path(), &[]).expect_err("damaged file");
    let msg = err.to_string();
    assert!(msg.contains(&*pki.portal.cert.to_string_lossy()), "{msg}");
    assert_eq!(fs::read_to_string(&pki.portal.cert)?, "this is not PEM\n");
    Ok(())
}

#[test]
fn garbage_ca_is_reported_by_name() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ensure_dev_pki(tmp.path(), &[])?;
    fs::write(
        &pki.ca_key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )?;
    let err = ensure_dev_pki(tmp.path(), &[]).expect_err("damaged key");
    assert!(
        err.to_string().contains(&*pki.ca_key.to_string_lossy()),
        "{err}"
    );
    fs::write(&pki.ca_cert, "")?;
    let err = Ca::load(&pki.ca_cert, &pki.ca_key).expect_err("empty cert");
    assert!(
        err.to_string().contains(&*pki.ca_cert.to_string_lossy()),
        "{err}"
    );
    Ok(())
}

#[test]
fn leaf_of_another_ca_or_identity_is_refused() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ensure_dev_pki(tmp.path(), &[])?;
    let rogue = Ca::create("rogue", 1)?;
    let leaf = rogue.issue(&LeafSpec::new(Identity::new(Role::Portal, "demo")?, 1))?;
    leaf.write(&pki.portal.cert, &pki.portal.key)?;
    let err = ensure_dev_pki(tmp.path(), &[]).expect_err("foreign leaf");
    assert!(
        err.to_string().contains("does not verify against the CA"),
        "{err}"
    );

    let ca = Ca::load(&pki.ca_cert, &pki.ca_key)?;
    let wrong = ca.issue(&LeafSpec::new(Identity::new(Role::Portal, "other")?, 1))?;
    wrong.write(&pki.portal.cert, &pki.portal.key)?;
    let err = ensure_dev_pki(tmp.path(), &[]).expect_err("wrong identity");
    assert!(err.to_string().contains("expected portal:demo"), "{err}");
    Ok(())
}

#[test]
fn orphan_files_and_bad_office_ids_are_errors() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ensure_dev_pki(tmp.path(), &[])?;
    fs::remove_file(&pki.admin.key)?;
    let err = ensure_dev_pki(tmp.path(), &[]).expect_err("orphan cert");
    assert!(
        err.to_string().contains(&*pki.admin.key.to_string_lossy()),
        "{err}"
    );
    assert!(pki.admin.cert.is_file());

    let err = ensure_dev_pki(tmp.path(), &["25.0".to_owned()]).expect_err("bad office id");
    assert!(err.to_string().contains("25.0"), "{err}");
    Ok(())
}

#[test]
fn ca_write_and_load_round_trip() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let ca = Ca::create("round trip", 1)?;
    let (cert, key) = (tmp.path().join("ca/ca.pem"), tmp.path().join("ca/ca.key"));
    ca.write(&cert, &key)?;
    assert_eq!(mode(&key)?, 0o600);
    let loaded = Ca::load(&cert, &key)?;
    assert_eq!(loaded.cert_der(), ca.cert_der());
    // A leaf issued by the loaded CA chains to the original certificate.
    let leaf = loaded.issue(&LeafSpec::new(Identity::new(Role::Admin, "ops")?, 1))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(&leaf.cert_der)?;
    let (_, ca_parsed) = x509_parser::parse_x509_certificate(ca.cert_der())?;
    assert_eq!(parsed.issuer().as_raw(), ca_parsed.subject().as_raw());
    // A CA file holding a leaf is refused.
    fs::write(&cert, &leaf.cert_pem)?;
    let err = Ca::load(&cert, &key).expect_err("leaf as CA");
    assert!(err.to_string().contains("not a CA"), "{err}");
    Ok(())
}
