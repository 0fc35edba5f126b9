//! Privacy by design, end to end over TLS: purposes are bound to portals, every access is
//! recorded and listable, an access that cannot be recorded is not served, and no log line
//! carries an AHV number, an amount or a name.

mod common;

#[path = "support/captured_logs.rs"]
mod captured_logs;

use std::collections::BTreeMap;

use captured_logs::LOGS;
use common::Federation;
use guichet::merge::YearRange;
use guichet::model::{OfficeId, Vn};
use guichet::pki::Role;
use guichet::sim::{Fault, Latency};

/// A portal's client and the certificate its end users' tokens are bound to.
type Portal = (reqwest::Client, std::path::PathBuf);

/// A query stating `purpose`, with what each purpose needs: the person's token (bound to
/// the portal's certificate) and a case reference.
async fn query(
    (client, cert): &Portal,
    fed: &Federation,
    vn: Vn,
    purpose: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut req = client
        .get(fed.url(&format!("/v1/accounts/{}", vn.digits())))
        .bearer_auth(common::tokens::mint(&fed.pki, vn, cert))
        .header("case-reference", "PRIV-2026-1");
    if let Some(p) = purpose {
        req = req.header("purpose", p);
    }
    let r = req.send().await.expect("query");
    (
        r.status().as_u16(),
        r.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// A client without the default Purpose header.
fn bare_portal(fed: &Federation, name: &str) -> Portal {
    let ca = guichet::pki::Ca::load(&fed.pki.ca_cert, &fed.pki.ca_key).expect("ca");
    let leaf = ca
        .issue(&guichet::pki::LeafSpec::new(
            guichet::pki::Identity::new(Role::Portal, name).expect("id"),
            30,
        ))
        .expect("leaf");
    let dir = fed.dir.path().join("bare");
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    leaf.write(&cert, &key).expect("write");
    let roots = guichet::tls::load_certs(&fed.pki.ca_cert).expect("roots");
    let id = (
        guichet::tls::load_certs(&cert).expect("cert"),
        guichet::tls::load_key(&key).expect("key"),
    );
    let client =
        guichet::fanout::client(guichet::tls::client_config(&roots, Some(id)).expect("tls"))
            .expect("client");
    (client, cert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purposes_are_bound_to_portals_and_checked_before_any_office() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let demo = bare_portal(&fed, "demo");
    let vn = Vn::from_serial(1);
    assert_eq!(query(&demo, &fed, vn, None).await.0, 403, "no purpose");
    let (status, problem) = query(&demo, &fed, vn, Some("curiosity")).await;
    assert_eq!(status, 403);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("unknown purpose")
    );
    let narrow = bare_portal(&fed, "narrow");
    let (status, problem) = query(&narrow, &fed, vn, Some("self-service")).await;
    assert_eq!(status, 403, "{problem}");
    let stranger = bare_portal(&fed, "stranger");
    assert_eq!(
        query(&stranger, &fed, vn, Some("self-service")).await.0,
        403
    );
    assert_eq!(fed.sim.total_requests(), 0, "no office was contacted");
    assert_eq!(
        query(&narrow, &fed, vn, Some("benefit-review")).await.0,
        200
    );
    assert_eq!(fed.sim.total_requests(), 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_access_is_recorded_and_the_person_can_see_who_looked() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let vn = Vn::from_serial(77_777);
    let demo = bare_portal(&fed, "demo");
    assert_eq!(
        query(&demo, &fed, vn, Some("pension-calculation")).await.0,
        200
    );
    let other = (
        fed.client_as(Role::Portal, "other-portal"),
        fed.dir.path().join("clients/other-portal.pem"),
    );
    assert_eq!(query(&other, &fed, vn, Some("self-service")).await.0, 200);
    assert_eq!(
        query(&demo, &fed, Vn::from_serial(5), Some("self-service"))
            .await
            .0,
        200
    );
    let r = demo
        .0
        .get(fed.url(&format!("/v1/accounts/{}/accesses", vn.dotted())))
        .bearer_auth(common::tokens::mint(&fed.pki, vn, &demo.1))
        .header("purpose", "self-service")
        .send()
        .await
        .expect("accesses");
    assert_eq!(r.status(), 200);
    let list: serde_json::Value = r.json().await.expect("json");
    let accesses = list["accesses"].as_array().expect("list");
    assert_eq!(accesses.len(), 2, "{list}");
    assert_eq!(accesses[0]["caller"]["name"], "demo");
    assert_eq!(accesses[0]["purpose"], "pension-calculation");
    assert_eq!(accesses[1]["caller"]["name"], "other-portal");
    let r = demo
        .0
        .get(fed.url(&format!("/v1/accounts/{}/accesses", vn.digits())))
        .bearer_auth(common::tokens::mint(&fed.pki, vn, &demo.1))
        .header("purpose", "benefit-review")
        .send()
        .await
        .expect("accesses");
    assert_eq!(r.status(), 403, "accesses are shown for self-service only");
    // The log on disk is intact and holds no AHV number in clear.
    let audit = fed.dir.path().join("audit");
    let report = guichet::audit::verify(&audit).expect("verify");
    assert_eq!(report.problem, None);
    assert_eq!(report.records, 4, "three queries and one accesses listing");
    for f in std::fs::read_dir(&audit).expect("dir") {
        let text = std::fs::read_to_string(f.expect("entry").path()).expect("read");
        assert!(!text.contains(&vn.digits()) && !text.contains(&vn.dotted()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_that_cannot_be_recorded_is_not_served() {
    let fed = Federation::start(Latency::ZERO, common::PATIENT_MS).await;
    let portal = (fed.portal(), fed.pki.portal.cert.clone());
    let audit = fed.dir.path().join("audit");
    // The next file of the log cannot be created, so the rotation (at 4 KiB in tests,
    // after two records) fails.
    std::fs::create_dir_all(audit.join("audit-000002.jsonl")).expect("block the next file");
    for i in 0..2 {
        assert_eq!(query(&portal, &fed, Vn::from_serial(i), None).await.0, 200);
    }
    let (status, problem) = query(&portal, &fed, Vn::from_serial(3), None).await;
    assert_eq!(status, 503, "{}", problem["title"]);
    assert_eq!(problem["title"], "Audit log unavailable");
    assert!(
        problem.get("entries").is_none(),
        "no account data in the refusal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_carries_an_ahv_number_an_amount_or_a_name() {
    let logs = LOGS.clone();
    let faults = BTreeMap::from([
        ("002.000".parse::<OfficeId>().expect("id"), Fault::Garbage),
        (
            "003.000".parse::<OfficeId>().expect("id"),
            Fault::Status(500),
        ),
    ]);
    let fed = Federation::launch(
        Latency::ZERO,
        common::PATIENT_MS,
        "cache_ttl_ms = 60000",
        &faults,
        |_| {},
    )
    .await;
    let portal = (fed.portal(), fed.pki.portal.cert.clone());
    let people: Vec<Vn> = (0..8)
        .map(|i| Vn::from_serial(600_000_000 + i * 7919))
        .collect();
    for vn in &people {
        assert_eq!(query(&portal, &fed, *vn, None).await.0, 200);
        assert_eq!(query(&portal, &fed, *vn, None).await.0, 200, "cached");
        let r = portal
            .0
            .get(fed.url(&format!("/v1/accounts/{}/accesses", vn.dotted())))
            .bearer_auth(fed.token(*vn))
            .send()
            .await
            .expect("accesses");
        assert_eq!(r.status(), 200);
    }
    let office = &fed.pki.offices["025.000"];
    let office = fed.client_with(Some((&office.cert, &office.key)), &fed.pki.ca_cert);
    let r = office
        .post(fed.url("/v1/notifications/account-changed"))
        .body(people[0].digits())
        .send()
        .await
        .expect("notify");
    assert_eq!(r.status(), 204);
    assert_eq!(query(&portal, &fed, Vn::from_serial(4), None).await.0, 200);
    let bad = portal
        .0
        .get(fed.url("/v1/accounts/7561234567890"))
        .send()
        .await
        .expect("bad vn");
    assert_eq!(bad.status(), 400);

    // What must never appear: the numbers, every amount and every name of these people.
    let offices = guichet::cli::runtime::sim_offices(&fed.registry);
    let mut secrets: Vec<String> = Vec::new();
    for vn in &people {
        secrets.push(vn.digits());
        secrets.push(vn.dotted());
        let person = fed.sim.person(*vn);
        secrets.push(person.official_name.clone());
        secrets.push(person.first_name.clone());
        let truth = guichet::sim::truth(
            *vn,
            &offices,
            fed.sim.reference_year(),
            YearRange::default(),
        );
        for m in &truth.entries {
            if m.entry.income.centimes().abs() >= 10_000 {
                secrets.push(m.entry.income.to_string());
            }
            if let Some(employer) = &m.entry.employer {
                secrets.push(employer.clone());
            }
        }
    }
    let text = logs.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() > 20,
        "the scenario was logged ({} lines)",
        lines.len()
    );
    assert!(
        text.contains("account query") && text.contains("\"person\""),
        "access lines carry a pseudonym"
    );
    for line in &lines {
        for s in &secrets {
            assert!(!line.contains(s.as_str()), "log line leaks {s:?}: {line}");
        }
        assert!(!contains_ahv(line), "log line carries a 756 number: {line}");
    }
}

/// `756` followed by ten digits, or the dotted form, anywhere in the line.
fn contains_ahv(line: &str) -> bool {
    let b = line.as_bytes();
    (0..b.len()).any(|i| {
        let rest = &b[i..];
        let plain = rest.len() >= 13
            && rest.starts_with(b"756")
            && rest[3..13].iter().all(u8::is_ascii_digit);
        let dotted = rest.len() >= 16
            && rest.starts_with(b"756.")
            && rest[4..8].iter().all(u8::is_ascii_digit)
            && rest[8] == b'.'
            && rest[9..13].iter().all(u8::is_ascii_digit)
            && rest[13] == b'.';
        plain || dotted
    })
}
