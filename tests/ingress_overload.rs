//! Two ingress bounds over real mutual TLS that THREAT_MODEL.md listed as open: a client
//! that never finishes its handshake is disconnected after `handshake_timeout_ms` and
//! gives its place under `max_connections` back; beyond `max_queries_in_flight` an
//! account query gets `503` with `Retry-After` and contacts no office.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use common::{Federation, Options};
use guichet::model::Vn;
use guichet::sim::Fault;

/// Upper bound for an awaited event; the tests assert what happens, never how fast.
const PATIENCE: Duration = Duration::from_secs(20);

/// A full mutual-TLS handshake as the demo portal.
async fn tls(fed: &Federation) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let roots = guichet::tls::load_certs(&fed.pki.ca_cert).expect("ca");
    let identity = (
        guichet::tls::load_certs(&fed.pki.portal.cert).expect("cert"),
        guichet::tls::load_key(&fed.pki.portal.key).expect("key"),
    );
    let config = guichet::tls::client_config(&roots, Some(identity)).expect("client tls");
    let tcp = TcpStream::connect(fed.gateway).await?;
    let name = ServerName::try_from("localhost").expect("name");
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// Reads until the gateway closes the socket: end of stream or a reset. Fails the test
/// if the gateway keeps it open (nothing it may send to a silent client is expected, and
/// an alert would be a few bytes before the close).
async fn closed_by_the_gateway(socket: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what}: the gateway kept the socket open");
}

/// Waits for an event the gateway must bring about; bounded by `PATIENCE`.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what}");
}

/// `guichet_connections_closed_total{listener="gateway",reason="handshake-timeout"}`.
async fn handshake_timeouts(fed: &Federation) -> u64 {
    let line =
        "guichet_connections_closed_total{listener=\"gateway\",reason=\"handshake-timeout\"} ";
    let text = scrape(fed).await;
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// The start of a ClientHello: a handshake record announcing 512 bytes, of which only
/// the handshake header, the version and the random arrive.
fn half_a_client_hello() -> Vec<u8> {
    let mut bytes = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    bytes.extend_from_slice(&[0x5a; 32]);
    bytes
}

/// One client socket that never completes its handshake, under a cap of one place: the
/// gateway closes it by the timeout while the client still holds it open, and its place
/// is free again — the gateway counts no connection and a full handshake is admitted.
/// Were the timeout missing, the read would never end; were the place kept, neither.
async fn stalls_then_frees_its_place(fed: &Federation, hello: &[u8], what: &str) {
    let live = fed.state.reloader.connections();
    // Nothing open before (a previous client's close is seen a little after it happens),
    // so this socket is admitted and not refused as over the cap.
    eventually("no connection left open", async || live.is_empty()).await;
    let before = handshake_timeouts(fed).await;
    let mut socket = TcpStream::connect(fed.gateway).await.expect("connect");
    socket.write_all(hello).await.expect("write");
    closed_by_the_gateway(&mut socket, what).await;
    let counted = async || handshake_timeouts(fed).await > before;
    eventually(&format!("{what}: closed as a handshake timeout"), counted).await;
    // `socket` is still held: only the gateway can have given the place back.
    eventually(&format!("{what}: its place is free"), async || {
        live.is_empty()
    })
    .await;
    let admitted = async || tls(fed).await.is_ok();
    eventually(&format!("{what}: a full handshake is admitted"), admitted).await;
    drop(socket);
}

/// A socket that sends nothing and one that stops in the middle of its ClientHello are
/// each closed after `handshake_timeout_ms` and give their place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_or_stalled_handshake_is_closed_and_frees_its_place() {
    // One second: a full handshake on a busy machine fits in it.
    let o = Options {
        server: "handshake_timeout_ms = 1000\nmax_connections = 1",
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    stalls_then_frees_its_place(&fed, &[], "silent client").await;
    stalls_then_frees_its_place(&fed, &half_a_client_hello(), "stalled ClientHello").await;
}

/// `GET /metrics` on the operations listener (plain HTTP).
async fn scrape(fed: &Federation) -> String {
    let r = fed
        .portal()
        .get(format!("http://{}/metrics", fed.ops))
        .send()
        .await;
    r.expect("scrape").text().await.expect("text")
}

async fn account(client: &reqwest::Client, fed: &Federation, vn: Vn) -> reqwest::Response {
    client
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(fed.token(vn))
        .send()
        .await
        .expect("query")
}

/// Waits until every office has received a request: the first query is then in flight.
async fn every_office_contacted(fed: &Federation) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while fed
            .sim
            .offices()
            .iter()
            .any(|o| fed.sim.requests(o.id) == 0)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the first query reaches every office");
}

/// One query in flight at most. The first one waits on offices that all hang (until its
/// deadline); a second one, for another person, is refused at once with a `503` problem
/// and `Retry-After`, and no office receives anything for it. Once the first query has
/// ended, its place is free: a third one is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_in_flight_cap_a_query_gets_503_and_contacts_no_office() {
    // The deadline keeps the first query in flight long after the second is answered on
    // a busy machine; the test checks that ordering rather than assuming it.
    let o = Options {
        deadline_ms: 8000,
        protection: "max_queries_in_flight = 1\nretry_budget_percent = 0\nretry_min_per_second = 0",
        ..Options::default()
    };
    let fed = Federation::build(o, |_| {}).await;
    let offices: Vec<_> = fed.sim.offices().iter().map(|o| o.id).collect();
    for &office in &offices {
        fed.sim.set_fault(office, Some(Fault::Hang));
    }
    let first = {
        let (client, url, token) = (
            fed.portal(),
            fed.url(&format!("/v1/accounts/{}", Vn::from_serial(1).digits())),
            fed.token(Vn::from_serial(1)),
        );
        tokio::spawn(async move {
            let r = client.get(url).bearer_auth(token).send().await;
            r.expect("first").status()
        })
    };
    every_office_contacted(&fed).await;
    let contacted = fed.sim.total_requests();

    let r = account(&fed.portal(), &fed, Vn::from_serial(2)).await;
    assert!(!first.is_finished(), "the first query is still in flight");
    assert_eq!(r.status(), 503);
    let retry = r.headers().get("retry-after").map(|v| v.to_str().ok());
    assert_eq!(retry, Some(Some("1")), "Retry-After");
    let kind = r.headers().get("content-type").cloned();
    assert_eq!(
        kind.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let problem: serde_json::Value = r.json().await.expect("problem");
    assert_eq!(problem["status"], 503, "{problem}");
    assert_eq!(fed.sim.total_requests(), contacted, "no office contacted");
    assert!(!first.is_finished(), "the first query is still in flight");
    let text = scrape(&fed).await;
    assert!(
        text.contains("kind=\"in-flight\""),
        "rejection counted: {text}"
    );

    // The first query ends at its deadline (every office timed out) and frees its place.
    for &office in &offices {
        fed.sim.set_fault(office, None);
    }
    let status = tokio::time::timeout(PATIENCE, first)
        .await
        .expect("the deadline ends the first query")
        .expect("first task");
    assert_eq!(status, 200);
    let r = account(&fed.portal(), &fed, Vn::from_serial(3)).await;
    assert_eq!(r.status(), 200, "the place is free again");
    assert!(fed.sim.total_requests() > contacted);
}
