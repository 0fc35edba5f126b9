//! The route table's matching: segments, typed parameters, methods.

use super::*;

fn found(method: &str, path: &str) -> Handler {
    match resolve(method, path) {
        Ok(m) => m.route.handler,
        Err(e) => panic!("{method} {path}: {e:?}"),
    }
}

#[test]
fn each_route_is_declared_once_with_known_parameters() {
    for (i, r) in ROUTES.iter().enumerate() {
        assert!(r.path.starts_with('/'), "{}", r.path);
        for seg in r.path.split('/').filter(|s| s.starts_with('{')) {
            assert!(Param::of_segment(seg).is_some(), "unknown parameter {seg}");
        }
        for other in &ROUTES[i + 1..] {
            assert!(
                (r.method, r.path) != (other.method, other.path),
                "{} {} declared twice",
                r.method,
                r.path
            );
            assert_ne!(r.operation_id, other.operation_id);
            assert_ne!(r.handler, other.handler);
        }
    }
}

#[test]
fn paths_match_by_segments() {
    assert_eq!(found("GET", "/v1/accounts/7561234567897"), Handler::Account);
    assert_eq!(found("GET", "/v1/accounts/x/accesses"), Handler::Accesses);
    assert_eq!(
        found("POST", "/v1/adapters/025.000/rollback"),
        Handler::AdapterRollback
    );
    assert_eq!(found("GET", "/v1/adapters"), Handler::AdapterList);
    // The path that panicked when routes sliced by byte offsets: it is the account
    // route with the AHV number "accesses", refused by its typed parameter.
    let m = resolve("GET", "/v1/accounts/accesses").expect("account route");
    assert_eq!(m.route.handler, Handler::Account);
    let refused = m.params().expect_err("not an AHV number");
    assert_eq!(refused.status.as_u16(), 400);
    for path in [
        "/v1/accounts/",
        "/v1/accounts",
        "/v1/accounts//accesses",
        "/v1/adapters/",
        "/v1/adapters/025.000/",
        "/v1/adapters/025.000/rollback/x",
        "/healthz/",
        "",
        "/",
        "//",
        "/admin/v1",
    ] {
        assert_eq!(
            resolve("GET", path).err(),
            Some(NoRoute::NotFound),
            "{path:?}"
        );
    }
}

#[test]
fn a_known_path_with_another_method_lists_the_allowed_ones() {
    let allow = |m: &str, p: &str| match resolve(m, p) {
        Err(NoRoute::Method { allow, .. }) => allow,
        other => panic!("{m} {p}: {other:?}"),
    };
    assert_eq!(allow("POST", "/v1/adapters/025.000"), "GET, PUT, DELETE");
    assert_eq!(allow("PATCH", "/v1/accounts/x"), "GET");
    assert_eq!(allow("GET", "/v1/adapters/1/rollback"), "POST");
    assert_eq!(allow("HEAD", "/healthz"), "GET");
}

#[test]
fn parameters_are_typed() {
    let m = resolve("GET", "/v1/adapters/000.000").expect("route");
    assert_eq!(m.params().expect_err("office 0").slug, "invalid-office");
    let m = resolve("GET", "/v1/adapters/025.001").expect("route");
    assert_eq!(
        m.params().and_then(|p| p.office()).ok(),
        "025.001".parse().ok()
    );
    let m = resolve("GET", "/v1/accounts/756.1234.5678.90").expect("route");
    assert_eq!(m.params().expect_err("check digit").slug, "invalid-vn");
}
