//! The operator's console over plain HTTP (no browser): sign-in by one-time link, the
//! session cookie's attributes, the Content-Security-Policy, CSRF refusal, what an
//! office's identity may open and change, audit records of console changes, and no AHV
//! number or insured person's name in any page. The browser scenario is
//! `tests/console_browser.rs` (feature `browser-tests`).

mod common;
#[path = "support/console_http.rs"]
mod http;

use common::Federation;
use guichet::model::{Identity, Vn};
use guichet::sim::Latency;

fn login_path(fed: &Federation, uri: &str) -> String {
    let id = Identity::parse_uri(uri).expect("identity");
    guichet::console::login_path(&fed.config, &id).expect("login link")
}

/// Signs in with a fresh link; the session cookie.
async fn sign_in(fed: &Federation, uri: &str) -> String {
    let r = http::get(fed.ops, &login_path(fed, uri), None).await;
    assert_eq!(r.status, 303, "{}", r.body);
    r.cookie().expect("a session cookie")
}

fn audit_text(fed: &Federation) -> String {
    let dir = fed.dir.path().join("audit");
    let mut text = String::new();
    for (_, f) in guichet::audit::log_files(&dir).expect("log files") {
        text.push_str(&std::fs::read_to_string(f).expect("log"));
    }
    text
}

#[tokio::test]
async fn sign_in_once_with_a_secure_cookie_under_a_strict_policy() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    assert_eq!(http::get(fed.ops, "/console/", None).await.status, 401);
    let link = login_path(&fed, "urn:guichet:admin:ops");
    let r = http::get(fed.ops, &link, None).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/console/"));
    let set = r.header("set-cookie").expect("cookie");
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/console/",
        "Max-Age=",
    ] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    // The link is used up; a forged one never worked.
    assert_eq!(http::get(fed.ops, &link, None).await.status, 401);
    let forged = link.replace("token=", "token=x");
    assert_eq!(http::get(fed.ops, &forged, None).await.status, 401);
    let cookie = r.cookie().expect("cookie");
    let page = http::get(fed.ops, "/console/", Some(&cookie)).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-security-policy"),
        Some(guichet::console::CSP)
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains("style=\""), "no inline style");
    assert_eq!(page.body.matches("<tr id=\"office-").count(), 101);
    // A portal is not served a console.
    let portal = Identity::parse_uri("urn:guichet:portal:demo").expect("identity");
    assert!(guichet::console::login_path(&fed.config, &portal).is_err());
    // Signed out, the cookie opens nothing.
    let form = format!("csrf={}", page.csrf());
    assert_eq!(
        http::post(fed.ops, "/console/logout", &cookie, &form)
            .await
            .status,
        303
    );
    assert_eq!(
        http::get(fed.ops, "/console/", Some(&cookie)).await.status,
        401
    );
}

#[tokio::test]
async fn forms_need_the_token_and_changes_are_audited_as_the_session() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let admin = sign_in(&fed, "urn:guichet:admin:ops").await;
    let page = http::get(fed.ops, "/console/certificates", Some(&admin)).await;
    assert_eq!(page.status, 200);
    let without = http::post(fed.ops, "/console/certificates/reload", &admin, "").await;
    assert_eq!(without.status, 403, "no CSRF token");
    let wrong = http::post(fed.ops, "/console/certificates/reload", &admin, "csrf=00").await;
    assert_eq!(wrong.status, 403, "another token");
    assert!(
        !audit_text(&fed).contains("console (admin:ops)"),
        "nothing done"
    );
    let form = format!("csrf={}", page.csrf());
    let done = http::post(fed.ops, "/console/certificates/reload", &admin, &form).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("Reloaded: server, client"),
        "{}",
        done.body
    );
    let log = audit_text(&fed);
    assert!(log.contains("\"kind\":\"reload\""));
    assert!(log.contains("console (admin:ops)"));
}

#[tokio::test]
async fn an_office_sees_and_changes_only_its_own_adapter() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let office = sign_in(&fed, "urn:guichet:office:025.000").await;
    let home = http::get(fed.ops, "/console/", Some(&office)).await;
    assert_eq!(home.status, 303);
    assert_eq!(home.header("location"), Some("/console/offices/025.000"));
    for other in [
        "/console/offices/001.000",
        "/console/certificates",
        "/console/outbox",
        "/console/audit",
        "/console/federation/grid",
    ] {
        assert_eq!(
            http::get(fed.ops, other, Some(&office)).await.status,
            403,
            "{other}"
        );
    }
    let own = http::get(fed.ops, "/console/offices/025.000", Some(&office)).await;
    assert_eq!(own.status, 200);
    assert!(own.body.contains("Validate, probe and save"));
    assert!(!own.body.contains("Roll back"), "administrators only");
    let csrf = own.csrf();
    // Another office's adapter: refused even with a valid token.
    let form = format!("csrf={csrf}&timeout_ms=900&max_answer_bytes=65536");
    let r = http::post(fed.ops, "/console/offices/001.000", &office, &form).await;
    assert_eq!(r.status, 403);
    let r = http::post(
        fed.ops,
        "/console/offices/025.000/rollback",
        &office,
        &format!("csrf={csrf}"),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Its own timeout: validated, probed, a new version.
    let before = fed
        .state
        .adapters
        .get("025.000".parse().expect("office"))
        .expect("listed");
    let form = format!(
        "csrf={csrf}&version={}&endpoint=&timeout_ms=1234&max_answer_bytes={}&max_rate_per_second=&max_concurrency=",
        before.meta.version,
        before.def.as_ref().expect("def").max_answer_bytes
    );
    let r = http::post(fed.ops, "/console/offices/025.000", &office, &form).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("Conformance probe: no_account: 0 records"),
        "{}",
        r.body
    );
    let after = fed
        .state
        .adapters
        .get("025.000".parse().expect("office"))
        .expect("listed");
    assert_eq!(after.meta.version, before.meta.version + 1);
    assert_eq!(after.def.expect("def").timeout_ms, 1234);
    assert_eq!(after.meta.changed_by, "office:025.000");
    // A value the API refuses is refused here too, and nothing changes.
    let form = format!("csrf={csrf}&timeout_ms=5&max_answer_bytes=65536");
    let r = http::post(fed.ops, "/console/offices/025.000", &office, &form).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let again = fed
        .state
        .adapters
        .get("025.000".parse().expect("office"))
        .expect("listed");
    assert_eq!(again.meta.version, after.meta.version);
    let log = audit_text(&fed);
    assert!(log.contains("\"kind\":\"adapter-change\""));
    assert!(
        log.contains("\"role\":\"office\",\"name\":\"025.000\""),
        "audited as the office"
    );
}

#[tokio::test]
async fn no_page_names_a_person() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let portal = fed.portal();
    let people: Vec<Vn> = (1..=3).map(Vn::from_serial).collect();
    for vn in &people {
        let r = portal
            .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
            .bearer_auth(fed.token(*vn))
            .send()
            .await
            .expect("query");
        assert_eq!(r.status(), 200);
    }
    let admin = sign_in(&fed, "urn:guichet:admin:ops").await;
    for page in [
        "/console/",
        "/console/federation/grid",
        "/console/api/federation",
        "/console/offices/025.000",
        "/console/certificates",
        "/console/outbox",
        "/console/audit",
    ] {
        let r = http::get(fed.ops, page, Some(&admin)).await;
        assert_eq!(r.status, 200, "{page}");
        assert_eq!(http::ahv_numbers(&r.body), Vec::<String>::new(), "{page}");
        for vn in &people {
            let p = fed.sim.person(*vn);
            assert!(!r.body.contains(&vn.digits()), "{page}");
            for name in [&p.official_name, &p.first_name] {
                assert!(!http::has_word(&r.body, name), "{page} names {name}");
            }
        }
    }
    let audit = http::get(fed.ops, "/console/audit", Some(&admin)).await;
    assert!(audit.body.contains("intact"), "{}", audit.body);
    assert!(
        audit
            .body
            .contains("<th scope=\"row\">demo</th><td>self-service</td><td class=\"num\">3</td>"),
        "{}",
        audit.body
    );
    let grid = http::get(fed.ops, "/console/", Some(&admin)).await;
    assert!(grid.body.contains("data-health=\"green\""));
}
