//! The operator's console in a real browser: Debian's headless Chromium driven over
//! WebDriver (`chromedriver`). Behind the feature `browser-tests` (`.ci/run` installs
//! chromium and chromium-driver and turns it on); under the feature a missing browser
//! fails the test. Screenshots of each page go to `target/console-screenshots/`.
//!
//! The scenario: sign in with a `console-login` link; an office turns red after a
//! simulated fault and green again after recovery (by the page's own poll); an office's
//! timeout is changed through its form (probe, new version in the history and in
//! `GET /v1/adapters`); a certificate expiring in 3 days is highlighted after the reload
//! button; a form post without the CSRF token is refused; an office's identity cannot
//! open another office's page; no page holds an AHV number or an insured person's name.
#![cfg(feature = "browser-tests")]

mod common;
#[path = "support/console_http.rs"]
mod http;
#[path = "support/webdriver.rs"]
mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use common::Federation;
use guichet::model::{Identity, OfficeId, Vn};
use guichet::pki::{Ca, LeafSpec, Role};
use guichet::sim::{Fault, Latency};
use webdriver::Browser;

const OFFICE: &str = "025.000";

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

fn link(fed: &Federation, uri: &str) -> String {
    let id = Identity::parse_uri(uri).expect("identity");
    let path = guichet::console::login_path(&fed.config, &id).expect("login link");
    format!("http://localhost:{}{path}", fed.ops.port())
}

fn page(fed: &Federation, path: &str) -> String {
    format!("http://localhost:{}{path}", fed.ops.port())
}

/// Every page seen, checked for persons at the end.
struct Seen(Vec<(String, String)>);

impl Seen {
    async fn take(&mut self, b: &Browser, name: &str) -> String {
        let html = b.source().await;
        b.screenshot(&shots().join(format!("{name}.png"))).await;
        self.0.push((name.to_owned(), html.clone()));
        html
    }
}

/// Waits (at most 20 s) until the page after a form post has loaded: a click returns
/// once the browser sent the form, not necessarily once the answer is shown. A page that
/// never shows `needle` is left as it is for the assertions that follow to report.
async fn settle(b: &Browser, needle: &str) {
    for _ in 0..200 {
        if b.source().await.contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn query(fed: &Federation, vn: Vn) {
    let r = fed
        .portal()
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(fed.token(vn))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);
}

fn health_of(html: &str, office: &str) -> Option<String> {
    let at = html.find(&format!("id=\"office-{office}\""))?;
    let rest = &html[at..];
    let h = rest.find("data-health=\"")? + "data-health=\"".len();
    Some(rest[h..h + rest[h..].find('"')?].to_owned())
}

#[tokio::test]
async fn the_console_in_headless_chromium() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let browser = Browser::start().await;
    let mut seen = Seen(Vec::new());
    let office: OfficeId = OFFICE.parse().expect("office");
    let people: Vec<Vn> = (1..=2).map(Vn::from_serial).collect();
    for vn in &people {
        query(&fed, *vn).await;
    }

    // Sign in: the link opens a session and lands on the federation grid.
    browser.goto(&link(&fed, "urn:guichet:admin:ops")).await;
    assert!(browser.url().await.ends_with("/console/"));
    let cookies = browser.cookies().await;
    let c = cookies
        .iter()
        .find(|c| c["name"] == guichet::console::COOKIE)
        .expect("session cookie in the browser");
    assert_eq!(c["httpOnly"], true);
    assert_eq!(c["secure"], true);
    assert_eq!(c["sameSite"], "Strict");
    let html = seen.take(&browser, "federation").await;
    assert_eq!(html.matches("<tr id=\"office-").count(), 101);
    assert_eq!(health_of(&html, OFFICE).as_deref(), Some("green"));

    // A simulated fault: the office is red; after recovery the page's poll turns it green.
    fed.sim.set_fault(office, Some(Fault::Status(500)));
    query(&fed, people[0]).await;
    browser.goto(&page(&fed, "/console/")).await;
    let html = seen.take(&browser, "federation-fault").await;
    assert_eq!(health_of(&html, OFFICE).as_deref(), Some("red"));
    fed.sim.set_fault(office, None);
    query(&fed, people[0]).await;
    let mut green = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if health_of(&browser.source().await, OFFICE).as_deref() == Some("green") {
            green = true;
            break;
        }
    }
    assert!(green, "the grid's poll shows the office answering again");
    seen.take(&browser, "federation-recovered").await;

    // The office's timeout through its form: probe, new version, same as the API shows.
    browser
        .goto(&page(&fed, &format!("/console/offices/{OFFICE}")))
        .await;
    let before = fed.state.adapters.get(office).expect("listed").meta.version;
    browser.fill("#timeout_ms", "900").await;
    browser.click("form.edit button[type=submit]").await;
    settle(&browser, "Conformance probe:").await;
    let html = seen.take(&browser, "office").await;
    assert!(html.contains("Conformance probe:"), "the probe ran");
    assert!(html.contains(&format!("Saved as version {}", before + 1)));
    assert!(html.contains(&format!("<strong>Version {}</strong>", before + 1)));
    assert!(
        html.contains("+ timeout_ms = 900"),
        "the diff shows the change"
    );
    let api: serde_json::Value = fed
        .client_as(Role::Admin, "ops")
        .get(fed.url("/v1/adapters"))
        .send()
        .await
        .expect("GET /v1/adapters")
        .json()
        .await
        .expect("json");
    let row = api["adapters"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["office"] == OFFICE)
        .expect("the office");
    assert_eq!(row["timeoutMs"], 900);
    assert_eq!(row["version"], before + 1);
    assert_eq!(row["changedBy"], "admin:ops");

    // A server certificate expiring in 3 days, loaded by the reload button, is highlighted.
    let ca = Ca::load(&fed.pki.ca_cert, &fed.pki.ca_key).expect("ca");
    let gateway = guichet::pki::Identity::new(Role::Gateway, "guichet").expect("id");
    let mut spec = LeafSpec::server(gateway, 3);
    spec.client_auth = false;
    let short = ca.issue(&spec).expect("short-lived certificate");
    short
        .write(&fed.pki.gateway_server.cert, &fed.pki.gateway_server.key)
        .expect("write");
    browser.goto(&page(&fed, "/console/certificates")).await;
    browser
        .click("form[action='/console/certificates/reload'] button")
        .await;
    settle(&browser, "Reloaded:").await;
    let html = seen.take(&browser, "certificates").await;
    assert!(html.contains("Reloaded:"), "the reload ran");
    let row = format!("class=\"expiring\" data-serial=\"{}\"", short.serial_hex);
    assert!(html.contains(&row), "the 3-day certificate is highlighted");

    browser.goto(&page(&fed, "/console/outbox")).await;
    seen.take(&browser, "outbox").await;
    browser.goto(&page(&fed, "/console/audit")).await;
    let html = seen.take(&browser, "audit").await;
    assert!(html.contains("intact"), "the chain verifies");

    // The same session's cookie without the form's token: refused, nothing reloaded.
    let cookie = format!(
        "{}={}",
        c["name"].as_str().expect("name"),
        c["value"].as_str().expect("value")
    );
    let r = http::post(fed.ops, "/console/certificates/reload", &cookie, "").await;
    assert_eq!(r.status, 403);

    // An office's identity: its own page, not another's.
    browser.clear_cookies().await;
    browser
        .goto(&link(&fed, &format!("urn:guichet:office:{OFFICE}")))
        .await;
    assert!(
        browser
            .url()
            .await
            .ends_with(&format!("/console/offices/{OFFICE}"))
    );
    seen.take(&browser, "office-own").await;
    browser.goto(&page(&fed, "/console/offices/001.000")).await;
    let html = seen.take(&browser, "office-refused").await;
    assert!(html.contains("may open only its own office"), "refused");
    assert!(!html.contains("Adapter definition"));

    // No page of the scenario names a person.
    for (name, html) in &seen.0 {
        assert_eq!(http::ahv_numbers(html), Vec::<String>::new(), "{name}");
        for vn in &people {
            let p = fed.sim.person(*vn);
            assert!(
                !html.contains(&vn.digits()) && !html.contains(&vn.dotted()),
                "{name}"
            );
            for n in [&p.official_name, &p.first_name] {
                assert!(!http::has_word(html, n), "{name} names {n}");
            }
        }
    }
}
