//! The simulator's population: determinism, plausibility invariants, and a round trip of
//! every rendered answer through the real mappings back to the person's own data.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use guichet::mapping::{DEFAULT_MAX_ANSWER_BYTES, MappingSet, RequestParams};
use guichet::merge::{YearRange, merge};
use guichet::model::{
    AnswerStatus, CANTONS, Genre, IkEntry, Month, OfficeId, OfficeKind, OfficeOutcome, Vn,
};
use guichet::sim::{Person, SimOffice, SimRequest, parse_request, person, render_answer, truth};

const REFERENCE_YEAR: u16 = 2026;
const PERSONS: u32 = 300;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn office(
    number: u16,
    agency: u16,
    kind: OfficeKind,
    canton: &str,
    name: &str,
    dialect: &str,
) -> SimOffice {
    SimOffice {
        id: OfficeId::new(number, agency).expect("office id"),
        name: name.to_owned(),
        kind,
        canton: canton.parse().ok(),
        dialect: dialect.to_owned(),
    }
}

/// A federation in the shape of offices.csv: the 26 cantonal funds and IV offices, the
/// two federal funds, a handful of association funds (one with agencies), the IV office
/// for residents abroad; funds speak ech-ik or vendor-ik.
fn federation() -> Vec<SimOffice> {
    let mut out = Vec::new();
    for (i, canton) in CANTONS.iter().enumerate() {
        let (fund, iv) = if *canton == "JU" {
            (150, 350)
        } else {
            (i as u16 + 1, i as u16 + 301)
        };
        let dialect = if fund % 3 == 0 { "vendor-ik" } else { "ech-ik" };
        let name = match *canton {
            "ZH" => "SVA Zürich".to_owned(),
            "GE" => "Caisse cantonale genevoise de compensation".to_owned(),
            c => format!("Ausgleichskasse {c}"),
        };
        out.push(office(
            fund,
            0,
            OfficeKind::Cantonal,
            canton,
            &name,
            dialect,
        ));
        out.push(office(
            iv,
            0,
            OfficeKind::IvOffice,
            canton,
            &format!("IV-Stelle {canton}"),
            "ech-iv",
        ));
    }
    out.push(office(
        26,
        1,
        OfficeKind::Federal,
        "BE",
        "Eidgenössische Ausgleichskasse EAK",
        "ech-ik",
    ));
    out.push(office(
        27,
        0,
        OfficeKind::Federal,
        "GE",
        "Caisse suisse de compensation CSC",
        "ech-ik",
    ));
    out.push(office(
        327,
        0,
        OfficeKind::IvOffice,
        "GE",
        "Office AI pour les assurés résidant à l'étranger",
        "ech-iv",
    ));
    for (number, agency, dialect) in [
        (28, 0, "ech-ik"),
        (66, 0, "vendor-ik"),
        (71, 0, "ech-ik"),
        (106, 0, "ech-ik"),
        (106, 3, "ech-ik"),
        (111, 0, "vendor-ik"),
    ] {
        out.push(office(
            number,
            agency,
            OfficeKind::Association,
            "",
            &format!("Caisse AVS {number} & Cie"),
            dialect,
        ));
    }
    out
}

fn persons(offices: &[SimOffice]) -> Vec<Person> {
    (0..PERSONS)
        .map(|i| {
            person(
                Vn::from_serial(100_000 + i * 2_654_435),
                offices,
                REFERENCE_YEAR,
            )
        })
        .collect()
}

#[test]
fn same_number_same_person_whatever_the_office_order() {
    let offices = federation();
    let mut reversed = offices.clone();
    reversed.reverse();
    for serial in [1, 123_456_789, 999_999_999] {
        let vn = Vn::from_serial(serial);
        let a = person(vn, &offices, REFERENCE_YEAR);
        assert_eq!(a, person(vn, &offices, REFERENCE_YEAR));
        assert_eq!(a, person(vn, &reversed, REFERENCE_YEAR));
    }
}

fn check_entry(p: &Person, o: &SimOffice, e: &IkEntry) {
    assert_eq!(e.office, o.id);
    assert!(o.kind.holds_ik());
    assert!((1948..REFERENCE_YEAR).contains(&e.year), "year {}", e.year);
    assert!(e.year >= p.birth_year + 17);
    assert!(e.account_number.len() <= 14 && !e.account_number.is_empty());
    match (e.month_from, e.month_to) {
        (Month::Known(a), Month::Known(b)) => {
            assert!((1..=12).contains(&a) && (1..=12).contains(&b) && a <= b)
        }
        (Month::Unknown, Month::Unknown) => {}
        other => panic!("months {other:?}"),
    }
    if e.income_code.is_reversal() {
        assert!(e.income.0 < 0);
    } else {
        assert!(e.income.0 >= 0);
    }
    if e.income_code.genre() == Genre::CareCreditOrVoluntary {
        assert_eq!(e.care_credit_fraction, Some(50));
        assert_eq!(e.income.0, 0);
    }
    if let Some(f) = e.care_credit_fraction {
        assert!((1..=99).contains(&f));
    }
}

#[test]
fn the_population_is_plausible() {
    let offices = federation();
    let persons = persons(&offices);
    let mut with_iv = 0;
    for p in &persons {
        assert!((1955..=2003).contains(&p.birth_year));
        assert!(
            (1..=6).contains(&p.accounts.len()),
            "{} funds",
            p.accounts.len()
        );
        for (id, entries) in &p.accounts {
            let o = offices
                .iter()
                .find(|o| o.id == *id)
                .expect("a federation office");
            assert!(!entries.is_empty());
            for e in entries {
                check_entry(p, o, e);
                if e.income_code.is_reversal() {
                    let cancelled = entries.iter().any(|x| {
                        !x.income_code.is_reversal()
                            && x.income == -e.income
                            && x.year == e.year
                            && x.account_number == e.account_number
                            && (x.month_from, x.month_to) == (e.month_from, e.month_to)
                            && x.income_code.genre_digit() == e.income_code.genre_digit()
                    });
                    assert!(cancelled, "a reversal without its entry");
                }
            }
        }
        with_iv += usize::from(!p.iv_cases.is_empty());
        for c in &p.iv_cases {
            let o = offices
                .iter()
                .find(|o| o.id == c.office)
                .expect("a federation office");
            assert_eq!(o.kind, OfficeKind::IvOffice);
            assert_eq!(o.canton, Some(p.canton));
            assert_ne!(c.office.number, 327);
            assert_eq!(c.decision_number.len(), 14);
            assert!(
                c.decision_number
                    .starts_with(&format!("{:03}", c.office.number))
            );
            if let (Some(f), Some(t)) = (c.valid_from, c.valid_to) {
                assert!(f <= t);
            }
        }
    }
    let share = with_iv as f64 / persons.len() as f64;
    assert!((0.05..=0.20).contains(&share), "IV share {share}");
    let all: Vec<&IkEntry> = persons
        .iter()
        .flat_map(|p| p.accounts.values().flatten())
        .collect();
    for code in ["01", "02", "03", "00", "11"] {
        assert!(
            all.iter().any(|e| e.income_code.to_string() == code),
            "no entry with code {code}"
        );
    }
    assert!(
        all.iter()
            .any(|e| e.income_code.genre() == Genre::Splitting)
    );
    assert!(
        all.iter()
            .any(|e| e.employer.as_deref().is_some_and(|n| n.contains('&')))
    );
}

fn request(p: &Person, i: usize) -> SimRequest {
    let (year_from, year_to) = if i.is_multiple_of(2) {
        (None, None)
    } else {
        (Some(1990), Some(2020))
    };
    SimRequest {
        vn: p.vn,
        year_from,
        year_to,
        message_id: Some("7f0c2a5e-3b1d-4c7e-9a0b-2f61d1c0a001".into()),
        test_delivery: true,
    }
}

#[test]
fn every_rendered_answer_translates_back_to_the_person() {
    let set = MappingSet::load_dir(&root().join("mappings")).expect("mappings");
    let offices = federation();
    for (i, p) in persons(&offices).iter().enumerate() {
        let req = request(p, i);
        let range = YearRange {
            from: req.year_from,
            to: req.year_to,
        };
        let mut outcomes = Vec::new();
        for o in &offices {
            let bytes = render_answer(&o.dialect, o, p, &req).expect("render");
            let mapping = set.get(&o.dialect).expect("dialect");
            let answer = mapping
                .translate(o.id, &bytes, DEFAULT_MAX_ANSWER_BYTES)
                .unwrap_or_else(|e| {
                    panic!(
                        "{} {}: {e}\n{}",
                        o.id,
                        o.dialect,
                        String::from_utf8_lossy(&bytes)
                    )
                });
            let entries: Vec<IkEntry> = p
                .accounts
                .get(&o.id)
                .map(|v| {
                    v.iter()
                        .filter(|e| range.contains(e.year))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let cases: Vec<_> = p
                .iv_cases
                .iter()
                .filter(|c| c.office == o.id)
                .cloned()
                .collect();
            let has = p.accounts.contains_key(&o.id) || !cases.is_empty();
            let expected_status = if has {
                AnswerStatus::Ok
            } else {
                AnswerStatus::NoAccount
            };
            assert_eq!(answer.status, expected_status, "{}", o.id);
            assert_eq!(answer.entries, entries, "{}", o.id);
            assert_eq!(answer.iv_cases, cases, "{}", o.id);
            if o.dialect == "vendor-ik" && !has {
                assert_eq!(answer.vn, None); // the vendor's report names nobody
            } else {
                assert_eq!(answer.vn, Some(p.vn), "{}", o.id);
            }
            outcomes.push(OfficeOutcome::answered(
                o.id,
                &o.name,
                answer,
                Duration::ZERO,
            ));
        }
        assert_eq!(
            merge(p.vn, outcomes, range),
            truth(p.vn, &offices, REFERENCE_YEAR, range)
        );
    }
}

#[test]
fn unknown_dialect_is_an_error() {
    let offices = federation();
    let p = person(Vn::from_serial(42), &offices, REFERENCE_YEAR);
    assert!(render_answer("nope", &offices[0], &p, &request(&p, 0)).is_err());
}

#[test]
fn requests_of_every_dialect_are_read() {
    let example = Vn::parse("7561234567897").expect("vn");
    for file in ["ik-request.xml", "ik-request-vendor.xml", "iv-request.xml"] {
        let body =
            std::fs::read(root().join("tests/fixtures/contract").join(file)).expect("fixture");
        let r = parse_request(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(r.vn, example, "{file}");
        if file != "iv-request.xml" {
            assert_eq!((r.year_from, r.year_to), (Some(1990), Some(2026)), "{file}");
        }
        assert!(r.message_id.is_some(), "{file}");
        assert_eq!(r.test_delivery, file != "ik-request-vendor.xml", "{file}");
    }
    let set = MappingSet::load_dir(&root().join("mappings")).expect("mappings");
    for dialect in set.dialects() {
        let vn = Vn::from_serial(987_654_321);
        let params = RequestParams {
            vn,
            office: OfficeId::new(25, 0).expect("id"),
            sender_id: "T6-000000-1",
            participant_prefix: "T6",
            message_id: "c3d9a7e0-52f1-4e0b-b2a4-9e7f1d3c5b22",
            business_process_id: "b1f4e1a2-0d55-4b61-8f4e-6c9d2b7e5c10",
            message_date: "2026-11-26T10:15:00Z",
            year_from: 1995,
            year_to: 2025,
            test_delivery: false,
            purpose: "self-service",
        };
        let body = set.get(dialect).expect("mapping").request(&params);
        let r = parse_request(body.as_bytes()).unwrap_or_else(|e| panic!("{dialect}: {e}"));
        assert_eq!(r.vn, vn);
        assert_eq!(r.message_id.as_deref(), Some(params.message_id));
        assert!(!r.test_delivery);
        if !matches!(dialect, "ech-iv" | "ech-register") {
            assert_eq!(
                (r.year_from, r.year_to),
                (Some(1995), Some(2025)),
                "{dialect}"
            );
        }
    }
}

#[test]
fn requests_with_a_doctype_or_without_vn_are_refused() {
    let doctype =
        b"<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY x \"y\">]><m><vn>7561234567897</vn></m>";
    assert!(
        parse_request(doctype)
            .expect_err("doctype")
            .to_string()
            .contains("DOCTYPE")
    );
    assert!(
        parse_request(b"<m><yearFrom>1990</yearFrom></m>")
            .expect_err("no vn")
            .to_string()
            .contains("vn")
    );
    assert!(parse_request(b"<m><vn>7561234567890</vn></m>").is_err());
    assert!(parse_request(b"<m><vn>7561234567897</vn><yearFrom>19x0</yearFrom></m>").is_err());
}

/// Rough timings, printed (run with --nocapture), never asserted.
#[test]
fn timings() {
    let offices = federation();
    let n = 2_000u32;
    let t = Instant::now();
    let mut entries = 0;
    for i in 0..n {
        entries += person(Vn::from_serial(i * 7_919), &offices, REFERENCE_YEAR)
            .accounts
            .values()
            .map(Vec::len)
            .sum::<usize>();
    }
    let per_person = t.elapsed() / n;
    let p = person(Vn::from_serial(4_242), &offices, REFERENCE_YEAR);
    let req = request(&p, 0);
    let t = Instant::now();
    let mut bytes = 0;
    for o in offices.iter().cycle().take(10_000) {
        bytes += render_answer(&o.dialect, o, &p, &req)
            .expect("render")
            .len();
    }
    let per_render = t.elapsed() / 10_000;
    println!(
        "person(): {per_person:?}/call ({} entries avg); render_answer(): {per_render:?}/call ({} bytes avg)",
        entries / n as usize,
        bytes / 10_000
    );
}
