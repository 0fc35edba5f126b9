//! Simulated offices on loopback: one mTLS listener per office, each with its own server
//! certificate, answering in its adapter's dialect from the synthetic population, with a
//! configurable latency and injectable faults. Counts the requests every office receives.
//! The central account register is served the same way on a listener of its own
//! (`urn:guichet:register:zas`), answering from the same population through its lag
//! ([`super::register`]); its faults and lag can be changed while it serves.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::apg::Funds;
use super::behaviour::{Fault, Latency};
use super::population::{Person, SimOffice, person};
use super::register::{
    RegisterLag, RegisterRecord, holdings, register_record, render_register, today_for,
};
use super::render::{parse_request, render_answer};
use super::replies::Replies;
use crate::locks;
use crate::model::{Date, OfficeId, Vn};

/// The shared state of all simulated offices.
#[derive(Debug)]
pub struct Simulator {
    offices: Vec<SimOffice>,
    latency: Latency,
    reference_year: u16,
    requests: BTreeMap<OfficeId, AtomicU64>,
    connections: Arc<AtomicU64>,
    heavy_answers: Arc<AtomicU64>,
    last_traceparent: Mutex<Option<String>>,
    faults: RwLock<HashMap<OfficeId, Fault>>,
    persons: Mutex<HashMap<Vn, Arc<Person>>>,
    today: Date,
    register_requests: AtomicU64,
    register_fault: RwLock<Option<Fault>>,
    register_lag: RwLock<RegisterLag>,
    funds: Funds,
    replies: Replies,
}

impl Simulator {
    /// A simulator for these offices.
    pub fn new(offices: Vec<SimOffice>, latency: Latency, reference_year: u16) -> Simulator {
        let requests = offices.iter().map(|o| (o.id, AtomicU64::new(0))).collect();
        Simulator {
            offices,
            latency,
            reference_year,
            requests,
            connections: Arc::new(AtomicU64::new(0)),
            heavy_answers: Arc::new(AtomicU64::new(0)),
            last_traceparent: Mutex::new(None),
            faults: RwLock::new(HashMap::new()),
            persons: Mutex::new(HashMap::new()),
            today: today_for(reference_year),
            register_requests: AtomicU64::new(0),
            register_fault: RwLock::new(None),
            register_lag: RwLock::new(RegisterLag::COMPLETE),
            funds: Funds::default(),
            replies: Replies::default(),
        }
    }

    /// The offices it plays.
    pub fn offices(&self) -> &[SimOffice] {
        &self.offices
    }

    /// The year the population is computed for.
    pub fn reference_year(&self) -> u16 {
        self.reference_year
    }

    /// Requests received by one office so far.
    pub fn requests(&self, office: OfficeId) -> u64 {
        self.requests
            .get(&office)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Requests received so far, per office (every office played, zeros included).
    pub fn request_counts(&self) -> BTreeMap<OfficeId, u64> {
        self.requests
            .iter()
            .map(|(o, c)| (*o, c.load(Ordering::Relaxed)))
            .collect()
    }

    /// Requests received by all offices so far.
    pub fn total_requests(&self) -> u64 {
        self.requests
            .values()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The `traceparent` header of the last request any office received.
    pub fn last_traceparent(&self) -> Option<String> {
        locks::lock(&self.last_traceparent).clone()
    }

    /// Connections from the gateway open right now, over all offices.
    pub fn open_connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Injects (or with `None` clears) a fault in one office.
    pub fn set_fault(&self, office: OfficeId, fault: Option<Fault>) {
        let mut faults = locks::write(&self.faults);
        match fault {
            Some(f) => faults.insert(office, f),
            None => faults.remove(&office),
        };
    }

    /// The funds' loss-of-earnings claims: counters, acknowledgements, transports.
    pub fn funds(&self) -> &Funds {
        &self.funds
    }

    /// The persons' replies the gateway pushed to the offices.
    pub fn replies(&self) -> &Replies {
        &self.replies
    }

    pub(super) fn fault(&self, office: OfficeId) -> Option<Fault> {
        locks::read(&self.faults).get(&office).cloned()
    }

    /// Heavy answers (fault `heavy`) whose last byte has been handed to the connection.
    pub fn heavy_answers(&self) -> u64 {
        self.heavy_answers.load(Ordering::Relaxed)
    }

    /// The day the register's `asOf` is counted from (today, within the reference year).
    pub fn today(&self) -> Date {
        self.today
    }

    /// Requests the account register received so far.
    pub fn register_requests(&self) -> u64 {
        self.register_requests.load(Ordering::Relaxed)
    }

    /// Injects (or with `None` clears) a fault in the account register. Every fault of the
    /// offices applies; `wrong-certificate` (another office's certificate) and `refused`
    /// (connections closed at once, unanswered) act on the next connection, `heavy` is
    /// ignored.
    pub fn set_register_fault(&self, fault: Option<Fault>) {
        *locks::write(&self.register_fault) = fault;
    }

    fn register_fault(&self) -> Option<Fault> {
        locks::read(&self.register_fault).clone()
    }

    /// Sets how far the register lags behind the offices (default: complete).
    pub fn set_register_lag(&self, lag: RegisterLag) {
        *locks::write(&self.register_lag) = lag;
    }

    /// How far the register lags behind the offices.
    pub fn register_lag(&self) -> RegisterLag {
        *locks::read(&self.register_lag)
    }

    /// The truth: every office holding data for `vn` (funds with an account, the IV
    /// office with a file), as a complete register would list them.
    pub fn holdings(&self, vn: Vn) -> RegisterRecord {
        holdings(&self.person(vn), self.reference_year, self.today)
    }

    /// What the register answers about `vn` with its current lag.
    pub fn register_record(&self, vn: Vn) -> RegisterRecord {
        register_record(
            &self.person(vn),
            &self.offices,
            self.reference_year,
            self.today,
            &self.register_lag(),
        )
    }

    /// The synthetic person behind an AHV number (memoised).
    pub fn person(&self, vn: Vn) -> Arc<Person> {
        let mut cache = locks::lock(&self.persons);
        if cache.len() > 50_000 {
            cache.clear();
        }
        Arc::clone(
            cache
                .entry(vn)
                .or_insert_with(|| Arc::new(person(vn, &self.offices, self.reference_year))),
        )
    }
}

/// One office to serve: where, and with which TLS identity.
#[derive(Debug)]
pub struct OfficeListener {
    /// The office.
    pub office: OfficeId,
    /// Bound listener (port 0 in tests and the demo).
    pub listener: TcpListener,
    /// Server config with the office's certificate (client certificates required).
    pub tls: Arc<rustls::ServerConfig>,
    /// Close the listener at once, so that connecting is refused (fault `refused`).
    pub refuse: bool,
}

/// Serves every office until `shutdown` turns true.
pub fn spawn(sim: Arc<Simulator>, listeners: Vec<OfficeListener>, shutdown: watch::Receiver<bool>) {
    for l in listeners {
        let sim = Arc::clone(&sim);
        let shutdown = shutdown.clone();
        tokio::spawn(serve_office(sim, l, shutdown));
    }
}

async fn serve_office(sim: Arc<Simulator>, l: OfficeListener, mut shutdown: watch::Receiver<bool>) {
    if l.refuse {
        return;
    }
    let acceptor = TlsAcceptor::from(l.tls);
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = l.listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, sim, office) = (
            acceptor.clone(),
            builder.clone(),
            Arc::clone(&sim),
            l.office,
        );
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                tracing::debug!(%office, peer = %addr, "simulated office: handshake refused");
                return;
            };
            let _open = OpenConnection::new(&sim);
            let service = service_fn(move |req| {
                let sim = Arc::clone(&sim);
                async move { Ok::<_, std::convert::Infallible>(answer(&sim, office, req).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                _ = conn => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

/// Counts one open connection for as long as it lives.
struct OpenConnection(Arc<AtomicU64>);

impl OpenConnection {
    fn new(sim: &Simulator) -> OpenConnection {
        sim.connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(&sim.connections))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Body of a simulated answer: whole, or dripped.
pub(super) type SimBody = BoxBody<Bytes, Infallible>;

async fn answer(sim: &Simulator, office: OfficeId, req: Request<Incoming>) -> Response<SimBody> {
    // Pushed replies are counted on their own, apart from the queries.
    if req.method() == Method::POST && req.uri().path() == super::replies::REPLIES_PATH {
        return sim.replies.take(office, req).await;
    }
    if let Some(c) = sim.requests.get(&office) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    if req.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    if let Some(t) = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        *locks::lock(&sim.last_traceparent) = Some(t.to_owned());
    }
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
    };
    let fault = sim.fault(office);
    if let Some(early) = misbehave(fault.as_ref(), sim.latency).await {
        return early;
    }
    if super::apg::is_claim(&body) {
        return super::apg::answer(sim, office, &body);
    }
    let request = match parse_request(&body) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let Some(me) = sim.offices.iter().find(|o| o.id == office) else {
        return plain(StatusCode::NOT_FOUND, "unknown office");
    };
    let person = sim.person(request.vn);
    let rendered = match fault {
        Some(Fault::Heavy {
            entries,
            unmatched_reversals,
        }) => {
            return match super::heavy::render(me, &person, request, entries, unmatched_reversals)
                .await
            {
                Ok(bytes) => {
                    super::heavy::counted(Bytes::from(bytes), Arc::clone(&sim.heavy_answers))
                }
                Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            };
        }
        _ => render_answer(&me.dialect, me, &person, &request),
    };
    match rendered {
        Ok(bytes) => deliver(bytes, fault.as_ref()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// What a fault does before an answer is written: waits (its delay or latency, the
/// simulator's latency otherwise, or forever for `hang`), then may answer instead of the
/// office (`status`, `error-rate`, `malformed`).
async fn misbehave(fault: Option<&Fault>, latency: Latency) -> Option<Response<SimBody>> {
    let wait = match fault {
        Some(Fault::Hang) => return std::future::pending().await,
        Some(Fault::Delay(d)) => *d,
        Some(Fault::Latency(l)) => l.sample(),
        _ => latency.sample(),
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    match fault {
        Some(Fault::Status(code)) => Some(failure(*code)),
        Some(Fault::ErrorRate { rate, status }) if rand::random::<f64>() < *rate => {
            Some(failure(*status))
        }
        Some(Fault::Garbage) => Some(xml(Bytes::from_static(b"<<<this is not xml"))),
        _ => None,
    }
}

/// A rendered answer as sent under `fault`: padded (`oversized`), dripped (`slow-drip`)
/// or whole.
fn deliver(mut bytes: Vec<u8>, fault: Option<&Fault>) -> Response<SimBody> {
    match fault {
        Some(Fault::Oversized(n)) => {
            pad(&mut bytes, *n);
            xml(Bytes::from(bytes))
        }
        Some(Fault::SlowDrip { bytes_per_second }) => drip(Bytes::from(bytes), *bytes_per_second),
        _ => xml(Bytes::from(bytes)),
    }
}

/// The account register's listener: its certificate, and another one for the
/// `wrong-certificate` fault.
#[derive(Debug)]
pub struct RegisterListener {
    /// Bound listener.
    pub listener: TcpListener,
    /// Server config with the register's certificate (client certificates required).
    pub tls: Arc<rustls::ServerConfig>,
    /// Server config with an office's certificate, presented under `wrong-certificate`.
    pub wrong_tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves the account register until `shutdown` turns true.
pub fn spawn_register(sim: Arc<Simulator>, l: RegisterListener, shutdown: watch::Receiver<bool>) {
    tokio::spawn(serve_register(sim, l, shutdown));
}

async fn serve_register(
    sim: Arc<Simulator>,
    l: RegisterListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let right = TlsAcceptor::from(l.tls);
    let wrong = l.wrong_tls.map(TlsAcceptor::from);
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let tcp = tokio::select! {
            accepted = l.listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        let acceptor = match (sim.register_fault(), &wrong) {
            (Some(Fault::Refused), _) => {
                drop(tcp);
                continue;
            }
            (Some(Fault::WrongCertificate), Some(w)) => w.clone(),
            _ => right.clone(),
        };
        let _ = tcp.set_nodelay(true);
        let (builder, sim) = (builder.clone(), Arc::clone(&sim));
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                tracing::debug!("simulated register: handshake refused");
                return;
            };
            let _open = OpenConnection::new(&sim);
            let service = service_fn(move |req| {
                let sim = Arc::clone(&sim);
                async move { Ok::<_, std::convert::Infallible>(answer_register(&sim, req).await) }
            });
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            tokio::select! {
                _ = conn => {}
                _ = conn_shutdown.changed() => {}
            }
        });
    }
}

async fn answer_register(sim: &Simulator, req: Request<Incoming>) -> Response<SimBody> {
    sim.register_requests.fetch_add(1, Ordering::Relaxed);
    if req.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
    };
    let fault = sim.register_fault();
    if let Some(early) = misbehave(fault.as_ref(), sim.latency).await {
        return early;
    }
    let request = match parse_request(&body) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let record = sim.register_record(request.vn);
    match render_register(&record, &request) {
        Ok(bytes) => deliver(bytes, fault.as_ref()),
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// Pads a document past `n` bytes with a comment after the root (still well-formed).
fn pad(bytes: &mut Vec<u8>, n: usize) {
    let filler = n.saturating_sub(bytes.len()) + 1;
    let mut tail = Vec::with_capacity(filler + 8);
    tail.extend_from_slice(b"<!--");
    tail.resize(filler + 4, b'x');
    tail.extend_from_slice(b"-->");
    bytes.extend_from_slice(&tail);
}

/// Sends `body` in chunks of `bytes_per_second` bytes, one a second.
fn drip(body: Bytes, bytes_per_second: u32) -> Response<SimBody> {
    let chunk = bytes_per_second.max(1) as usize;
    let stream = futures_util::stream::unfold((body, true), move |(rest, first)| async move {
        if rest.is_empty() {
            return None;
        }
        if !first {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut rest = rest;
        let head = rest.split_to(chunk.min(rest.len()));
        Some((Ok::<_, Infallible>(Frame::data(head)), (rest, false)))
    });
    Response::builder()
        .header("content-type", "application/xml")
        .body(StreamBody::new(stream).boxed())
        .unwrap_or_else(|_| Response::new(empty()))
}

fn failure(code: u16) -> Response<SimBody> {
    plain(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "simulated failure",
    )
}

pub(super) fn empty() -> SimBody {
    Full::new(Bytes::new()).boxed()
}

pub(super) fn xml(body: Bytes) -> Response<SimBody> {
    Response::builder()
        .header("content-type", "application/xml")
        .body(Full::new(body).boxed())
        .unwrap_or_else(|_| Response::new(empty()))
}

pub(super) fn plain(status: StatusCode, text: &str) -> Response<SimBody> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(text.to_owned())).boxed())
        .unwrap_or_else(|_| Response::new(empty()))
}

/// Addresses of the bound listeners as `https://127.0.0.1:PORT/` per office.
pub fn endpoints(
    listeners: &[OfficeListener],
    paths: &BTreeMap<OfficeId, String>,
) -> BTreeMap<OfficeId, reqwest::Url> {
    listeners
        .iter()
        .filter_map(|l| {
            let addr: SocketAddr = l.listener.local_addr().ok()?;
            let path = paths.get(&l.office).map_or("/", String::as_str);
            let url = reqwest::Url::parse(&format!("https://{addr}{path}")).ok()?;
            Some((l.office, url))
        })
        .collect()
}
