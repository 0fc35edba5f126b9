//! Real mTLS handshakes over 127.0.0.1 between `tls::server_config` and `tls::client_config`.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use guichet::pki::{Ca, Identity, IssuedCert, LeafSpec, Role, ensure_dev_pki};
use guichet::tls::{TlsError, client_config, load_certs, load_key, peer_identity, server_config};
use rustls::{ClientConfig, NamedGroup, ServerConfig};
use rustls_pki_types::{CertificateRevocationListDer, ServerName};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

type TestResult = Result<(), Box<dyn Error>>;

/// What the server saw of a successful handshake.
#[derive(Debug)]
struct Accepted {
    identity: Option<Identity>,
    alpn: Option<Vec<u8>>,
    group: Option<NamedGroup>,
}

/// Outcome of one connection: the server side and the client side (handshake + read).
struct Outcome {
    server: Result<Accepted, String>,
    client: Result<Vec<u8>, String>,
}

/// Runs one connection; the server writes `ok` after a successful handshake.
async fn connect(
    server_cfg: Arc<ServerConfig>,
    client_cfg: ClientConfig,
) -> Result<Outcome, Box<dyn Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = TlsAcceptor::from(server_cfg)
            .accept(tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let accepted = Accepted {
            identity: conn
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(peer_identity),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
            group: conn.negotiated_key_exchange_group().map(|g| g.name()),
        };
        tls.write_all(b"ok").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(accepted)
    });
    let client = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(Arc::new(client_cfg))
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(buf)
    };
    let client = tokio::time::timeout(StdDuration::from_secs(10), client).await?;
    let server = tokio::time::timeout(StdDuration::from_secs(10), server).await??;
    Ok(Outcome { server, client })
}

fn id(role: Role, name: &str) -> Identity {
    Identity::new(role, name).expect("test identity is valid")
}

/// A CA and a gateway server certificate for `localhost`.
fn federation() -> Result<(Ca, IssuedCert), Box<dyn Error>> {
    let ca = Ca::create("test federation", 30)?;
    let server = ca.issue(&LeafSpec::server(id(Role::Gateway, "guichet"), 30))?;
    Ok((ca, server))
}

fn server_cfg(
    ca: &Ca,
    server: &IssuedCert,
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    server_config(
        vec![server.cert_der.clone()],
        server.key_der.clone_key(),
        &[ca.cert_der().clone()],
        crls,
    )
}

fn client_cfg(ca: &Ca, leaf: Option<&IssuedCert>) -> Result<ClientConfig, TlsError> {
    client_config(
        &[ca.cert_der().clone()],
        leaf.map(|l| (vec![l.cert_der.clone()], l.key_der.clone_key())),
    )
}

#[tokio::test]
async fn client_cert_from_ca_is_accepted_with_identity_h2_and_pq_kx() -> TestResult {
    let (ca, server) = federation()?;
    let portal = ca.issue(&LeafSpec::new(id(Role::Portal, "demo"), 1))?;
    let out = connect(
        server_cfg(&ca, &server, Vec::new())?,
        client_cfg(&ca, Some(&portal))?,
    )
    .await?;
    let accepted = out.server?;
    assert_eq!(accepted.identity, Some(id(Role::Portal, "demo")));
    assert_eq!(accepted.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(accepted.group, Some(NamedGroup::X25519MLKEM768));
    assert_eq!(out.client?, b"ok");
    Ok(())
}

#[tokio::test]
async fn alpn_falls_back_to_http11() -> TestResult {
    let (ca, server) = federation()?;
    let portal = ca.issue(&LeafSpec::new(id(Role::Portal, "demo"), 1))?;
    let mut client = client_cfg(&ca, Some(&portal))?;
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let out = connect(server_cfg(&ca, &server, Vec::new())?, client).await?;
    assert_eq!(out.server?.alpn.as_deref(), Some(&b"http/1.1"[..]));
    Ok(())
}

#[tokio::test]
async fn missing_client_cert_is_rejected() -> TestResult {
    let (ca, server) = federation()?;
    let out = connect(
        server_cfg(&ca, &server, Vec::new())?,
        client_cfg(&ca, None)?,
    )
    .await?;
    let err = out
        .server
        .expect_err("server must require a client certificate");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(out.client.is_err());
    Ok(())
}

#[tokio::test]
async fn client_cert_from_other_ca_is_rejected() -> TestResult {
    let (ca, server) = federation()?;
    let rogue = Ca::create("rogue", 30)?;
    let portal = rogue.issue(&LeafSpec::new(id(Role::Portal, "demo"), 1))?;
    let out = connect(
        server_cfg(&ca, &server, Vec::new())?,
        client_cfg(&ca, Some(&portal))?,
    )
    .await?;
    assert!(out.server.is_err());
    assert!(out.client.is_err());
    Ok(())
}

#[tokio::test]
async fn expired_client_cert_is_rejected() -> TestResult {
    let (ca, server) = federation()?;
    let mut spec = LeafSpec::new(id(Role::Portal, "demo"), 1);
    let now = OffsetDateTime::now_utc();
    spec.not_before = now - Duration::days(10);
    spec.not_after = now - Duration::days(1);
    let portal = ca.issue(&spec)?;
    let out = connect(
        server_cfg(&ca, &server, Vec::new())?,
        client_cfg(&ca, Some(&portal))?,
    )
    .await?;
    let err = out
        .server
        .expect_err("expired certificate must be rejected");
    assert!(err.to_lowercase().contains("expired"), "{err}");
    Ok(())
}

#[tokio::test]
async fn revoked_client_cert_is_rejected_others_pass() -> TestResult {
    let (ca, server) = federation()?;
    let revoked = ca.issue(&LeafSpec::new(id(Role::Portal, "demo"), 1))?;
    let fine = ca.issue(&LeafSpec::new(id(Role::Admin, "ops"), 1))?;
    let now = OffsetDateTime::now_utc();
    let crl = ca.crl(
        &[(revoked.serial_hex.as_str(), now - Duration::minutes(1))],
        7,
    )?;
    let cfg = server_cfg(&ca, &server, vec![crl])?;

    let out = connect(cfg.clone(), client_cfg(&ca, Some(&revoked))?).await?;
    let err = out
        .server
        .expect_err("revoked certificate must be rejected");
    assert!(err.to_lowercase().contains("revoked"), "{err}");

    let out = connect(cfg, client_cfg(&ca, Some(&fine))?).await?;
    assert_eq!(out.server?.identity, Some(id(Role::Admin, "ops")));
    Ok(())
}

#[tokio::test]
async fn server_from_other_ca_is_rejected_by_client() -> TestResult {
    let (ca, server) = federation()?;
    let other = Ca::create("other", 30)?;
    let portal = ca.issue(&LeafSpec::new(id(Role::Portal, "demo"), 1))?;
    let client = client_config(
        &[other.cert_der().clone()],
        Some((vec![portal.cert_der.clone()], portal.key_der.clone_key())),
    )?;
    let out = connect(server_cfg(&ca, &server, Vec::new())?, client).await?;
    assert!(out.client.is_err());
    assert!(out.server.is_err());
    Ok(())
}

#[test]
fn mismatched_key_is_a_config_error() -> TestResult {
    let (ca, server) = federation()?;
    let other = ca.issue(&LeafSpec::new(id(Role::Portal, "demo"), 1))?;
    let err = server_config(
        vec![server.cert_der.clone()],
        other.key_der.clone_key(),
        &[ca.cert_der().clone()],
        Vec::new(),
    )
    .expect_err("key mismatch");
    assert!(matches!(err, TlsError::KeyMismatch), "{err}");
    let err = client_config(
        &[ca.cert_der().clone()],
        Some((vec![server.cert_der.clone()], other.key_der.clone_key())),
    )
    .expect_err("key mismatch");
    assert!(matches!(err, TlsError::KeyMismatch), "{err}");
    Ok(())
}

#[tokio::test]
async fn dev_pki_files_interoperate() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let pki = ensure_dev_pki(tmp.path(), &["025.000".to_owned()])?;
    let roots = load_certs(&pki.ca_cert)?;
    let gateway = server_config(
        load_certs(&pki.gateway_server.cert)?,
        load_key(&pki.gateway_server.key)?,
        &roots,
        Vec::new(),
    )?;
    for (paths, expected) in [
        (&pki.portal, id(Role::Portal, "demo")),
        (&pki.admin, id(Role::Admin, "ops")),
    ] {
        let client = client_config(
            &roots,
            Some((load_certs(&paths.cert)?, load_key(&paths.key)?)),
        )?;
        let out = connect(gateway.clone(), client).await?;
        assert_eq!(out.server?.identity, Some(expected));
    }

    // Gateway (client side) towards an office (server side).
    let office = &pki.offices["025.000"];
    let office_cfg = server_config(
        load_certs(&office.cert)?,
        load_key(&office.key)?,
        &roots,
        Vec::new(),
    )?;
    let client = client_config(
        &roots,
        Some((
            load_certs(&pki.gateway_client.cert)?,
            load_key(&pki.gateway_client.key)?,
        )),
    )?;
    let out = connect(office_cfg, client).await?;
    assert_eq!(out.server?.identity, Some(id(Role::Gateway, "guichet")));
    Ok(())
}
