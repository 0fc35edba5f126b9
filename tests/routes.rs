//! The route table, the OpenAPI document and the live server agree: every route of
//! [`guichet::server::ROUTES`] is documented with its operation id, roles and statuses and
//! every documented operation is a route; `405` answers carry `Allow`; arbitrary requests
//! (proptest, raw HTTP/1.1 over real mutual TLS) get a success or a problem document.

mod common;
#[path = "support/http1.rs"]
mod http1;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use common::Federation;
use guichet::pki::Role;
use guichet::server::{Access, OPENAPI, ROUTES};
use guichet::sim::Latency;
use guichet::view::ProblemView;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn document() -> serde_json::Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

/// `$ref` → the referenced object.
fn resolve<'a>(doc: &'a serde_json::Value, v: &'a serde_json::Value) -> &'a serde_json::Value {
    match v.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {r}")),
        None => v,
    }
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_a_route() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for (method, _) in item.as_object().expect("path item") {
            if method != "parameters" {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, served, "document and route table differ");
    for r in ROUTES {
        let op = &paths[r.path][r.method.to_lowercase()];
        assert_eq!(op["operationId"], r.operation_id, "{} {}", r.method, r.path);
        let roles: BTreeSet<String> = op["x-roles"]
            .as_array()
            .expect("x-roles")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let expected: BTreeSet<String> = match r.access {
            Access::Any => BTreeSet::from(["any".to_owned()]),
            Access::Roles(roles) => roles.iter().map(|r| r.as_str().to_owned()).collect(),
        };
        assert_eq!(roles, expected, "{} {} roles", r.method, r.path);
        let statuses: BTreeSet<&str> = op["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .map(String::as_str)
            .collect();
        // A role-restricted route answers 403; a route with a typed parameter 400.
        let restricted = matches!(r.access, Access::Roles(_));
        assert_eq!(
            statuses.contains("403"),
            restricted,
            "{} {} 403",
            r.method,
            r.path
        );
        if r.path.contains('{') {
            assert!(
                statuses.contains("400"),
                "{} {} documents 400",
                r.method,
                r.path
            );
        }
    }
}

#[test]
fn path_parameters_are_declared_with_the_servers_patterns() {
    let doc = document();
    for r in ROUTES {
        let item = &doc["paths"][r.path];
        let op = &item[r.method.to_lowercase()];
        let declared: BTreeMap<String, serde_json::Value> = item["parameters"]
            .as_array()
            .into_iter()
            .chain(op["parameters"].as_array())
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or("").to_owned(),
                    p["schema"].clone(),
                )
            })
            .collect();
        let in_template: BTreeSet<String> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect();
        assert_eq!(
            declared.keys().cloned().collect::<BTreeSet<_>>(),
            in_template,
            "{} {}",
            r.method,
            r.path
        );
        for (name, schema) in &declared {
            assert!(schema["pattern"].is_string(), "{name} has a pattern");
        }
        if let Some(vn) = declared.get("vn") {
            assert_eq!(
                vn["format"], "ahv",
                "the check digit is a documented format"
            );
        }
    }
}

#[test]
fn every_problem_response_names_its_problem_types() {
    let doc = document();
    for (name, response) in doc["components"]["responses"]
        .as_object()
        .expect("responses")
    {
        let schema = &response["content"]["application/problem+json"]["schema"];
        let types = schema["allOf"][1]["properties"]["type"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} lists its problem types"));
        assert!(types.iter().all(|t| {
            t.as_str()
                .is_some_and(|t| t.starts_with("urn:guichet:problem:"))
        }));
    }
    let allow = &doc["components"]["responses"]["MethodNotAllowed"]["headers"]["Allow"];
    assert_eq!(allow["required"], true, "405 documents its Allow header");
}

/// A raw HTTP/1.1 exchange over mutual TLS; `None` when the connection died unanswered.
async fn exchange(
    tls: Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    request: Vec<u8>,
) -> Option<Vec<u8>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = rustls_pki_types::ServerName::try_from("localhost").ok()?;
    let mut stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .ok()?;
    stream.write_all(&request).await.ok()?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    (!answer.is_empty()).then_some(answer)
}

/// An answer with its headers by name.
type Answer = http1::Answer<BTreeMap<String, String>>;

fn parse(raw: &[u8]) -> Answer {
    http1::parse(raw)
}

fn tls_for(cert: &Path, key: &Path, ca: &Path) -> Arc<rustls::ClientConfig> {
    let roots = guichet::tls::load_certs(ca).expect("ca");
    let identity = (
        guichet::tls::load_certs(cert).expect("cert"),
        guichet::tls::load_key(key).expect("key"),
    );
    Arc::new(guichet::tls::client_config(&roots, Some(identity)).expect("tls"))
}

/// The answer is a success, or a problem document whose status is the response's; a
/// `405` says which methods the path has.
fn check(a: &Answer) -> Result<(), String> {
    let kind = a.headers.get("content-type").map(String::as_str);
    match a.status {
        200..=299 if a.status == 204 || kind == Some("application/json") => Ok(()),
        400..=599 => {
            if kind != Some("application/problem+json") {
                return Err(format!(
                    "{} without a problem document ({kind:?})",
                    a.status
                ));
            }
            let p: ProblemView = serde_json::from_slice(&a.body).map_err(|e| e.to_string())?;
            if p.status != a.status {
                return Err(format!("problem status {} on a {}", p.status, a.status));
            }
            if a.status == 405 && !a.headers.contains_key("allow") {
                return Err("405 without Allow".into());
            }
            Ok(())
        }
        other => Err(format!("unexpected status {other}")),
    }
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("v1".to_owned()),
        Just("accounts".to_owned()),
        Just("accesses".to_owned()),
        Just("adapters".to_owned()),
        Just("admin".to_owned()),
        Just("7561234567897".to_owned()),
        Just("756.1234.5678.97".to_owned()),
        Just("025.000".to_owned()),
        Just("rollback".to_owned()),
        Just(String::new()),
        // Visible ASCII a request target may carry (no space, no `#`, no `?`).
        "[!$-'*-.0-9:-;=@-Z_a-z~%]{0,12}",
        "[a-zé€0-9.]{1,6}".prop_map(|s| s.bytes().map(|b| format!("%{b:02X}")).collect()),
    ]
}

fn raw_request() -> impl Strategy<Value = (String, String, Vec<(String, String)>, usize)> {
    let method = prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("DELETE".to_owned()),
        Just("PATCH".to_owned()),
        Just("HEAD".to_owned()),
        Just("OPTIONS".to_owned()),
        "[A-Z]{1,8}",
    ];
    let path = prop::collection::vec(segment(), 0..6).prop_map(|s| format!("/{}", s.join("/")));
    let query = prop::option::of("[a-zA-Z=&0-9%+.-]{0,24}");
    let header_name = prop_oneof![
        Just("purpose".to_owned()),
        Just("request-timeout".to_owned()),
        Just("cache-control".to_owned()),
        Just("traceparent".to_owned()),
        Just("if-match".to_owned()),
        "x-[a-z]{1,8}",
    ];
    let header_value = prop_oneof![
        Just("self-service".to_owned()),
        Just("1.5".to_owned()),
        Just("no-cache".to_owned()),
        "[ -~]{0,40}".prop_map(|s| s.trim().to_owned()),
    ];
    let headers = prop::collection::vec((header_name, header_value), 0..4);
    (method, path, query, headers, 0usize..3).prop_map(|(m, p, q, h, who)| {
        let target = q.map_or(p.clone(), |q| format!("{p}?{q}"));
        (m, target, h, who)
    })
}

#[test]
fn arbitrary_requests_get_a_success_or_a_problem_document() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let fed = rt.block_on(Federation::start(Latency::ZERO, 2000));
    let office = &fed.pki.offices["025.000"];
    let identities = [
        tls_for(&fed.pki.portal.cert, &fed.pki.portal.key, &fed.pki.ca_cert),
        tls_for(&fed.pki.admin.cert, &fed.pki.admin.key, &fed.pki.ca_cert),
        tls_for(&office.cert, &office.key, &fed.pki.ca_cert),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 192,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&raw_request(), |(method, target, headers, who)| {
        let bytes = http1::request(&method, &target, "localhost", &headers, "");
        let raw = rt.block_on(exchange(Arc::clone(&identities[who]), fed.gateway, bytes));
        let raw = raw.ok_or_else(|| {
            TestCaseError::fail(format!("{method} {target}: connection closed unanswered"))
        })?;
        if method == "HEAD" {
            // No body on HEAD; the status line and headers are what there is.
            let a = parse(&raw);
            prop_assert!(
                a.status == 405 || a.status == 404,
                "HEAD {target}: {}",
                a.status
            );
            return Ok(());
        }
        check(&parse(&raw)).map_err(|e| TestCaseError::fail(format!("{method} {target}: {e}")))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_path_that_panicked_is_a_bad_request_and_405_lists_the_methods() {
    let fed = Federation::start(Latency::ZERO, 2000).await;
    let portal = fed.portal();
    let answer = portal
        .get(fed.url("/v1/accounts/accesses"))
        .send()
        .await
        .expect("answered, not a dropped connection");
    assert_eq!(answer.status().as_u16(), 400);
    let problem: ProblemView = answer.json().await.expect("problem");
    assert_eq!(problem.kind, "urn:guichet:problem:invalid-vn");

    let doc = document();
    let admin = fed.client_as(Role::Admin, "ops-routes");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let methods: BTreeSet<String> = item
            .as_object()
            .expect("item")
            .keys()
            .filter(|k| *k != "parameters")
            .map(|k| k.to_uppercase())
            .collect();
        let concrete = path
            .replace("{vn}", "7561234567897")
            .replace("{office}", "025.000");
        let answer = admin
            .patch(fed.url(&concrete))
            .send()
            .await
            .expect("answered");
        assert_eq!(answer.status().as_u16(), 405, "PATCH {path}");
        let allow: BTreeSet<String> = answer
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("PATCH {path}: no Allow"))
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        assert_eq!(
            allow, methods,
            "Allow of {path} lists the documented methods"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_is_checked_before_parameters_and_the_answer_is_a_typed_view() {
    let fed = Federation::start(Latency::ZERO, 2000).await;
    // The portal may not read adapters, whatever the office id.
    let answer = fed
        .portal()
        .get(fed.url("/v1/adapters/000.000"))
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status().as_u16(), 403);
    let admin = fed.client_as(Role::Admin, "ops-views");
    let answer = admin
        .get(fed.url("/v1/adapters/000.000"))
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status().as_u16(), 400);
    let list: guichet::view::AdaptersView = admin
        .get(fed.url("/v1/adapters"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("the list reads back as its view type");
    assert_eq!(list.adapters.len(), fed.registry.len());
    let health: guichet::view::HealthView = admin
        .get(fed.url("/healthz"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("health");
    assert_eq!(health.status, "ok");
}

proptest! {
    /// The matching and parsing layer the fuzz target drives (`fuzz/fuzz_targets/
    /// route_request.rs`), here with arbitrary text: never a panic; a refusal is a 4xx
    /// problem document.
    #[test]
    fn the_matching_layer_refuses_with_client_errors_only(
        method in "[A-Z]{0,8}|\\PC{0,8}",
        target in "(/[\\PC]{0,12}){0,6}(\\?\\PC{0,30})?",
        headers in prop::collection::vec(("[a-z-]{1,16}|purpose|request-timeout|if-match|traceparent", "\\PC{0,40}"), 0..5),
    ) {
        let pairs: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        if let Err(p) = guichet::server::inspect(&method, &target, &pairs) {
            prop_assert!(p.status.is_client_error(), "{method} {target}: {}", p.status);
            prop_assert!(p.into_response().status().is_client_error());
        }
    }
}
