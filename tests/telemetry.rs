//! Traces over OTLP/HTTP end to end: an OTLP receiver started here on 127.0.0.1 port 0
//! decodes what the gateway exports (the OpenTelemetry project's protobuf types) and the
//! test checks the query span, its office-call children, the ids the portal and the
//! offices saw, the resource's replica id, and that no attribute anywhere holds the person.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

use common::{Federation, Options};

const VN: &str = "7561234567897";

/// Every export request the receiver got, decoded, and the paths they were posted to.
#[derive(Default)]
struct Received {
    requests: Vec<ExportTraceServiceRequest>,
    paths: Vec<String>,
}

/// An OTLP/HTTP receiver (protobuf) on 127.0.0.1 port 0; answers each export `200`.
async fn receiver() -> (SocketAddr, Arc<Mutex<Received>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let addr = listener.local_addr().expect("addr");
    let got = Arc::new(Mutex::new(Received::default()));
    let store = Arc::clone(&got);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let store = Arc::clone(&store);
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let store = Arc::clone(&store);
                async move {
                    let path = req.uri().path().to_owned();
                    let body = req.into_body().collect().await.expect("body").to_bytes();
                    let decoded = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    let mut s = store.lock().expect("lock");
                    s.requests.push(decoded);
                    s.paths.push(path);
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/x-protobuf")
                            .body(Full::new(Bytes::new()))
                            .expect("response"),
                    )
                }
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, got)
}

fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<String> {
    let kv: Option<&'a KeyValue> = attrs.iter().find(|kv| kv.key == key);
    kv.map(|kv| text(kv.value.as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every attribute value of every resource, scope, span, event and link.
fn all_values(requests: &[ExportTraceServiceRequest]) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |attrs: &[KeyValue]| {
        out.extend(
            attrs
                .iter()
                .map(|kv| format!("{}={}", kv.key, text(kv.value.as_ref()))),
        );
    };
    for r in requests.iter().flat_map(|r| &r.resource_spans) {
        if let Some(res) = &r.resource {
            add(&res.attributes);
        }
        for s in &r.scope_spans {
            if let Some(scope) = &s.scope {
                add(&scope.attributes);
            }
            for span in &s.spans {
                add(&span.attributes);
                span.events.iter().for_each(|e| add(&e.attributes));
                span.links.iter().for_each(|l| add(&l.attributes));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_query_is_exported_as_a_span_with_its_office_calls_as_children() {
    let (otlp, got) = receiver().await;
    let extra = format!(
        "[telemetry]\notlp_endpoint = \"http://{otlp}\"\nservice_name = \"guichet-test\"\n"
    );
    let o = Options {
        server: "replica_id = \"replica-b\"",
        extra: &extra,
        ..Options::default()
    };
    let mut fed = Federation::build(o, |_| {}).await;
    let token = fed.token_of(VN);
    // A trace the portal started: continued, our span under the portal's.
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = fed
        .portal()
        .get(fed.url(&format!("/v1/accounts/{VN}")))
        .bearer_auth(&token)
        .header("traceparent", parent)
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["traceparent"], parent);
    let body: serde_json::Value = r.json().await.expect("json");
    let sources: std::collections::BTreeSet<(String, String)> = body["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| {
            (
                s["office"].as_str().expect("office").to_owned(),
                s["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect();
    let offices = sources.len();
    assert!(offices > 1, "{offices} offices");
    let office_saw = fed.sim.last_traceparent().expect("an office was asked");
    // A trace the gateway starts: the echoed traceparent names the exported span.
    let r = fed
        .portal()
        .get(fed.url(&format!("/v1/accounts/{VN}")))
        .bearer_auth(&token)
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
    let own = r.headers()["traceparent"]
        .to_str()
        .expect("ascii")
        .to_owned();
    // Drained and stopped: the last batch is flushed.
    fed.shutdown().await;

    let got = got.lock().expect("lock");
    assert!(!got.requests.is_empty(), "nothing exported");
    assert!(
        got.paths.iter().all(|p| p == "/v1/traces"),
        "{:?}",
        got.paths
    );
    let resources: Vec<_> = got
        .requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .filter_map(|r| r.resource.as_ref())
        .collect();
    for res in &resources {
        assert_eq!(
            attr(&res.attributes, "service.instance.id").as_deref(),
            Some("replica-b")
        );
        assert_eq!(
            attr(&res.attributes, "service.name").as_deref(),
            Some("guichet-test")
        );
    }
    let spans: Vec<&Span> = got
        .requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let queries: Vec<&&Span> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server as i32)
        .collect();
    assert_eq!(queries.len(), 2, "one span per query");

    // The portal's trace: same trace id, the portal's span as parent.
    let first = queries
        .iter()
        .find(|s| hex(&s.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736")
        .expect("the portal's trace continued");
    assert_eq!(hex(&first.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(first.name, "GET /v1/accounts/{vn}");
    assert_eq!(
        attr(&first.attributes, "http.route").as_deref(),
        Some("/v1/accounts/{vn}")
    );
    assert_eq!(
        attr(&first.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attr(&first.attributes, "guichet.offices"),
        Some(offices.to_string())
    );
    let children: Vec<&&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id == first.span_id)
        .collect();
    assert_eq!(children.len(), offices, "one child span per office call");
    // Each office of the answer's sources once, with the status the portal was told.
    let called: std::collections::BTreeSet<(String, String)> = children
        .iter()
        .map(|c| {
            let office = attr(&c.attributes, "guichet.office").expect("office");
            (
                office,
                attr(&c.attributes, "guichet.outcome").expect("outcome"),
            )
        })
        .collect();
    assert_eq!(called, sources);
    for c in &children {
        assert_eq!(c.trace_id, first.trace_id);
        assert_eq!(c.kind, SpanKind::Client as i32);
        assert!(c.start_time_unix_nano >= first.start_time_unix_nano);
        assert!(c.end_time_unix_nano <= first.end_time_unix_nano);
    }
    // What an office received names one of these call spans.
    let seen_span = &office_saw[36..52];
    assert!(
        children.iter().any(|c| hex(&c.span_id) == seen_span),
        "the office's traceparent {office_saw} names an exported call span"
    );

    // The gateway's own trace: the echoed traceparent is the query span.
    let second = queries
        .iter()
        .find(|s| s.trace_id != first.trace_id)
        .expect("the second query");
    assert_eq!(
        own,
        format!("00-{}-{}-01", hex(&second.trace_id), hex(&second.span_id))
    );
    assert!(second.parent_span_id.is_empty(), "a root span");
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.parent_span_id == second.span_id)
            .count(),
        offices
    );

    // No attribute value anywhere holds the person (nor the token).
    let values = all_values(&got.requests);
    assert!(values.len() > 4 * offices, "{} values", values.len());
    let digits_only = VN.to_owned();
    let dotted = "756.1234.5678.97";
    for v in &values {
        assert!(
            !v.contains(&digits_only) && !v.contains(dotted) && !v.contains(&token),
            "personal data in a span attribute: {v}"
        );
    }
}
