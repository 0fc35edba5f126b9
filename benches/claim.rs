//! The submission path's pure work per claim: parse and validate the JSON body (every
//! member), its canonical JSON and SHA-256, and the routing decision; and a claim with
//! many faults (the 422 path). No I/O.
//!
//! Run: `cargo bench --bench claim -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use guichet::model::{Affiliation, ApgClaim, OfficeId, RegisterAccount, RegisterAnswer};
use guichet::routing::{DEFAULT_RULES, RoutingRules};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn register() -> RegisterAnswer {
    let date = |y, m| time::Date::from_calendar_date(y, m, 1).unwrap_or(time::Date::MIN);
    let account = |n, genre, current, since| RegisterAccount {
        office: OfficeId::new(n, 0).unwrap_or(OfficeId {
            number: 1,
            agency: 0,
        }),
        opened: None,
        last_reported_year: None,
        affiliation: Some(Affiliation {
            current,
            genre,
            since,
            until: None,
        }),
    };
    RegisterAnswer {
        as_of: None,
        accounts: vec![
            account(25, 1, true, date(2019, time::Month::January)),
            account(66, 1, false, date(2015, time::Month::March)),
            account(71, 3, false, date(2010, time::Month::May)),
        ],
        iv_files: Vec::new(),
        known: true,
    }
}

fn claim(c: &mut Criterion) {
    let body = std::fs::read(root().join("tests/fixtures/claims/apg-claim.json")).expect("fixture");
    let rules = RoutingRules::load(&root().join(DEFAULT_RULES)).expect("shipped rules");
    let register = register();
    let faulty = String::from_utf8_lossy(&body)
        .replace("7561234567897", "7561234567890")
        .replace("CH9300762011623852957", "CH9300762011623852958")
        .replace("\"numberOfDays\": 19", "\"numberOfDays\": 40")
        .replace("CHE-109.322.551", "CHE-109.322.552")
        .into_bytes();

    let mut g = c.benchmark_group("claim");
    g.bench_function("parse_validate", |b| {
        b.iter(|| ApgClaim::from_json(black_box(&body)).expect("valid"))
    });
    g.bench_function("parse_canonical_sha256_route", |b| {
        b.iter(|| {
            let claim = ApgClaim::from_json(black_box(&body)).expect("valid");
            let hash = claim.sha256_hex();
            let decision = rules.decide(&claim, &register).expect("decides");
            (hash, decision.office)
        })
    });
    g.bench_function("route_only", |b| {
        let claim = ApgClaim::from_json(&body).expect("valid");
        b.iter(|| {
            rules
                .decide(black_box(&claim), black_box(&register))
                .expect("decides")
        })
    });
    g.bench_function("parse_four_faults", |b| {
        b.iter(|| ApgClaim::from_json(black_box(&faulty)).expect_err("invalid"))
    });
    g.finish();
}

criterion_group!(benches, claim);
criterion_main!(benches);
