//! Tests of the load generator itself, against a tiny in-process mTLS target on 127.0.0.1:0
//! (hyper + tokio-rustls) that counts what it receives and can fail, or be slow and serial.
//! Timing bounds are generous: they prove behaviour (queueing shows), not speed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::Semaphore;

use guichet::loadtest::{self, HttpVersion, Load, Plan, Report};
use guichet::pki::DevPki;

const ACCOUNT: &str = r#"{"vn":"7561234567897","complete":false,"sources":[
  {"office":"001.000","status":"ok","latencyMs":1},
  {"office":"002.000","status":"timeout","latencyMs":2000}],"entries":[]}"#;

#[derive(Clone)]
struct Behaviour {
    status: u16,
    delay: Duration,
    /// One request at a time (a target with a capacity of 1 / delay).
    serial: bool,
}

struct Target {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    /// Requests that carried `Authorization: Bearer` with a compact JWS.
    bearers: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
    pki: DevPki,
    /// Stops the target at once: its port refuses, its connections are cut.
    stop: tokio::task::AbortHandle,
}

async fn target(b: Behaviour) -> Target {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = guichet::pki::ensure_dev_pki(dir.path(), &[]).expect("dev pki");
    serve_target(b, dir, pki).await
}

/// Another target with the same certificates as `first` (a replica behind the same name).
async fn replica_of(first: &Target, b: Behaviour) -> Target {
    let dir = tempfile::tempdir().expect("tempdir");
    serve_target(b, dir, first.pki.clone()).await
}

async fn serve_target(b: Behaviour, dir: tempfile::TempDir, pki: DevPki) -> Target {
    let tls = guichet::tls::server_config(
        guichet::tls::load_certs(&pki.gateway_server.cert).expect("cert"),
        guichet::tls::load_key(&pki.gateway_server.key).expect("key"),
        &guichet::tls::load_certs(&pki.ca_cert).expect("ca"),
        Vec::new(),
    )
    .expect("server tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicU64::new(0));
    let bearers = Arc::new(AtomicU64::new(0));
    let (counter, bearer_counter) = (Arc::clone(&hits), Arc::clone(&bearers));
    let gate = Arc::new(Semaphore::new(1));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let served = tokio::spawn(async move {
        // Aborting this task drops the listener and, with the set, every connection.
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            while conns.try_join_next().is_some() {}
            let (acceptor, b, hits, gate, bearers) = (
                acceptor.clone(),
                b.clone(),
                Arc::clone(&counter),
                Arc::clone(&gate),
                Arc::clone(&bearer_counter),
            );
            conns.spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (b, hits, gate) = (b.clone(), Arc::clone(&hits), Arc::clone(&gate));
                    let bearer = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .is_some_and(|t| t.split('.').count() == 3);
                    if bearer {
                        bearers.fetch_add(1, Ordering::SeqCst);
                    }
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let _permit = if b.serial {
                            gate.acquire_owned().await.ok()
                        } else {
                            None
                        };
                        tokio::time::sleep(b.delay).await;
                        let body = if b.status == 200 { ACCOUNT } else { "{}" };
                        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                        *r.status_mut() = StatusCode::from_u16(b.status).expect("status");
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Target {
        addr,
        hits,
        bearers,
        _dir: dir,
        pki,
        stop: served.abort_handle(),
    }
}

fn plan(addr: SocketAddr, load: Load, duration_ms: u64, warmup_ms: u64, http: HttpVersion) -> Plan {
    Plan {
        targets: vec![loadtest::parse_target(&format!("https://{addr}")).expect("target")],
        load,
        duration: Duration::from_millis(duration_ms),
        warmup: Duration::from_millis(warmup_ms),
        timeout: Duration::from_secs(10),
        http,
        population: loadtest::random_population(50, 3),
        tokens: Vec::new(),
        progress: false,
        label: "test".to_owned(),
    }
}

async fn run(t: &Target, p: &Plan) -> Report {
    let tls = loadtest::client_tls(&t.pki.portal.cert, &t.pki.portal.key, &t.pki.ca_cert)
        .expect("client tls");
    loadtest::run(p, tls).await.expect("run")
}

fn ok_target() -> Behaviour {
    Behaviour {
        status: 200,
        delay: Duration::from_millis(2),
        serial: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_exactly_the_requests_it_sent() {
    let t = target(ok_target()).await;
    let closed = plan(
        t.addr,
        Load::Closed { concurrency: 4 },
        800,
        300,
        HttpVersion::Http1,
    );
    let r = run(&t, &closed).await;
    assert!(r.measured > 10 && r.warmup_requests > 0, "{}", r.summary());
    assert_eq!(r.sent, r.warmup_requests + r.measured);
    assert_eq!(
        t.hits.load(Ordering::SeqCst),
        r.sent,
        "server count = client count"
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.answers, r.measured);
    // Every answer is incomplete: office 002.000 timed out each time.
    assert!((r.incomplete_share - 1.0).abs() < 1e-9);
    let top = &r.top_non_ok[0];
    assert_eq!(
        (top.office.as_str(), top.status.as_str()),
        ("002.000", "timeout")
    );
    assert_eq!(top.count, r.measured);
    assert_eq!(r.office_statuses["001.000"]["ok"], r.measured);

    // Open loop: 50 requests/s for exactly 1 s is exactly 50 scheduled requests.
    let before = t.hits.load(Ordering::SeqCst);
    let open = Load::Open {
        rate: 50.0,
        max_in_flight: 64,
    };
    let r = run(&t, &plan(t.addr, open, 1000, 0, HttpVersion::Http2)).await;
    assert_eq!(r.sent, 50);
    assert_eq!(r.measured, 50);
    assert_eq!(t.hits.load(Ordering::SeqCst) - before, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_target_shows_in_the_error_table() {
    let t = target(Behaviour {
        status: 500,
        ..ok_target()
    })
    .await;
    let r = run(
        &t,
        &plan(
            t.addr,
            Load::Closed { concurrency: 2 },
            500,
            0,
            HttpVersion::Auto,
        ),
    )
    .await;
    assert!(r.measured > 0);
    assert_eq!(
        r.errors.get("HTTP 500"),
        Some(&r.measured),
        "{}",
        r.summary()
    );
    assert_eq!(r.answers, 0);
    assert!(r.summary().contains("HTTP 500"));
    assert_eq!(t.hits.load(Ordering::SeqCst), r.sent);

    // Nobody listening: transport errors, still counted, never a panic.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let r = run(
        &t,
        &plan(
            closed_port,
            Load::Closed { concurrency: 1 },
            300,
            0,
            HttpVersion::Http1,
        ),
    )
    .await;
    assert!(r.measured > 0);
    assert_eq!(
        r.errors.get("transport: connect"),
        Some(&r.measured),
        "{:?}",
        r.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_reports_the_queueing_delay() {
    // Capacity: one request per 50 ms = 20/s. Asked: 40/s for 1 s. The last requests wait
    // about a second in the queue; measured from their scheduled time, that shows.
    let t = target(Behaviour {
        status: 200,
        delay: Duration::from_millis(50),
        serial: true,
    })
    .await;
    let open = Load::Open {
        rate: 40.0,
        max_in_flight: 256,
    };
    let r = run(&t, &plan(t.addr, open, 1000, 0, HttpVersion::Http1)).await;
    let open_p99 = r.latency.p99_ms;
    assert_eq!(r.measured, 40);
    assert!(r.latency.min_ms >= 45.0, "{}", r.summary());
    assert!(
        r.latency.p99_ms >= 400.0,
        "queueing hidden: {}",
        r.summary()
    );
    assert!(r.latency.p50_ms >= 150.0, "{}", r.summary());
    assert!(
        r.wall_s > 1.4,
        "the answers stretch past the schedule: {}",
        r.wall_s
    );

    // The same target in a closed loop of one: no queue, service time only.
    let r = run(
        &t,
        &plan(
            t.addr,
            Load::Closed { concurrency: 1 },
            500,
            100,
            HttpVersion::Http1,
        ),
    )
    .await;
    // Compared with the open loop, not with a number: a busy machine slows both.
    assert!(
        r.latency.p99_ms < open_p99,
        "no queue in a closed loop: {} (open loop p99 {open_p99} ms)",
        r.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_is_well_formed_and_has_the_charts() {
    let t = target(ok_target()).await;
    let r = run(
        &t,
        &plan(
            t.addr,
            Load::Closed { concurrency: 2 },
            1500,
            0,
            HttpVersion::Auto,
        ),
    )
    .await;
    let out = tempfile::tempdir().expect("tempdir");
    loadtest::write_report(&r, out.path()).expect("write");
    let html = std::fs::read_to_string(out.path().join("report.html")).expect("html");
    let json = std::fs::read_to_string(out.path().join("report.json")).expect("json");
    let back: Report = serde_json::from_str(&json).expect("report.json parses");
    assert_eq!(back.measured, r.measured);
    assert!(!back.timeline.is_empty() && !back.histogram.is_empty());

    // Well-formed: every element closed in order, no parse error.
    let mut reader = quick_xml::Reader::from_str(&html);
    let mut stack = Vec::new();
    let mut svgs = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) => {
                if e.name().as_ref() == b"svg" {
                    svgs += 1;
                }
                stack.push(e.name().as_ref().to_vec());
            }
            Ok(quick_xml::events::Event::End(e)) => {
                assert_eq!(stack.pop().as_deref(), Some(e.name().as_ref()));
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "report.html is not well-formed at {}: {e}",
                reader.buffer_position()
            ),
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert_eq!(svgs, 3, "three charts");
    for chart in [
        "latency over time",
        "latency histogram",
        "per-office status breakdown",
    ] {
        assert!(html.contains(&format!("<title>{chart}</title>")), "{chart}");
    }
    assert!(html.contains("<polyline") && html.contains("<rect"));
    // Self-contained: no script, stylesheet link, image, font or import.
    for banned in [
        "<script",
        "<link",
        "<img",
        "src=",
        "@import",
        "url(",
        "@font-face",
    ] {
        assert!(!html.contains(banned), "{banned}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_carries_its_persons_token_and_the_cost_is_measured() {
    let t = target(ok_target()).await;
    let mut p = plan(
        t.addr,
        Load::Closed { concurrency: 2 },
        300,
        0,
        HttpVersion::Http1,
    );
    let mint = loadtest::Tokens {
        key: &t.pki.idp.key,
        issuer: guichet::pki::idp::DEV_ISSUER,
        audience: guichet::pki::idp::DEV_AUDIENCE,
        acr: guichet::pki::idp::DEV_ACR,
        portal_cert: &t.pki.portal.cert,
    };
    let (tokens, cost) = mint
        .mint(&p.population, Duration::from_secs(600))
        .expect("tokens");
    assert_eq!(tokens.len(), p.population.len());
    assert!(cost.verify_us > 0.0 && cost.samples > 0, "{cost:?}");
    p.tokens = tokens;
    let r = run(&t, &p).await;
    assert!(r.sent > 0);
    assert_eq!(
        t.bearers.load(Ordering::SeqCst),
        r.sent,
        "every request had its token"
    );
    // Without tokens, none is sent.
    let before = t.bearers.load(Ordering::SeqCst);
    let p = plan(
        t.addr,
        Load::Closed { concurrency: 1 },
        100,
        0,
        HttpVersion::Http1,
    );
    run(&t, &p).await;
    assert_eq!(t.bearers.load(Ordering::SeqCst), before);
}

/// Two replicas, one stopped in the middle of the run (its port refuses, its connections
/// are cut): every query the generator could send again to the other one is answered, so
/// no error is counted, and the retries are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_stopped_midway_costs_no_query() {
    let slow = Behaviour {
        delay: Duration::from_millis(20),
        ..ok_target()
    };
    let a = target(slow.clone()).await;
    let b = replica_of(&a, slow).await;
    for http in [HttpVersion::Http1, HttpVersion::Http2] {
        let mut p = plan(a.addr, Load::Closed { concurrency: 8 }, 1500, 0, http);
        p.targets
            .push(loadtest::parse_target(&format!("https://{}", b.addr)).expect("target"));
        let stop = a.stop.clone();
        let hits_a = Arc::clone(&a.hits);
        let stopper = tokio::spawn(async move {
            // Midway, with requests of the run in flight on both.
            while hits_a.load(Ordering::SeqCst) < 20 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            stop.abort();
        });
        let r = run(&a, &p).await;
        stopper.await.expect("stopper");
        assert!(r.errors.is_empty(), "{:?}\n{}", r.errors, r.summary());
        assert_eq!(r.answers, r.measured);
        assert!(
            r.retries > 0,
            "the stopped replica's queries went elsewhere"
        );
        assert!(r.summary().contains("retries"), "{}", r.summary());
        assert!(b.hits.load(Ordering::SeqCst) > 0);
        assert_eq!(r.target, format!("https://{} https://{}", a.addr, b.addr));
        if http == HttpVersion::Http1 {
            // The first round stopped `a` for good: the second runs against a dead
            // replica from the start and still loses nothing.
            assert!(a.stop.is_finished());
        }
    }
}

#[test]
fn cli_mistakes_name_the_argument() {
    let bin = env!("CARGO_BIN_EXE_guichet");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("loadtest")
            .args(args)
            .output()
            .expect("run guichet");
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let base = ["--cert", "c.pem", "--key", "k.pem", "--ca", "ca.pem"];
    let err = run(&[&base[..], &["--target", "https://127.0.0.1:1"]].concat());
    assert!(err.contains("--concurrency"), "{err}");
    let err = run(&[
        &base[..],
        &["--target", "http://127.0.0.1:1", "--concurrency", "1"],
    ]
    .concat());
    assert!(err.contains("--target must be an https"), "{err}");
    let err = run(&[
        &base[..],
        &[
            "--target",
            "https://127.0.0.1:1",
            "--rate",
            "1",
            "--duration",
            "ten",
        ],
    ]
    .concat());
    assert!(err.contains("--duration"), "{err}");
    let err = run(&[
        &base[..],
        &["--target", "https://127.0.0.1:1", "--concurrency", "1"],
    ]
    .concat());
    assert!(err.contains("--ca"), "{err}");
}
