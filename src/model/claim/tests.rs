use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const EXAMPLE: &str = include_str!("../../../tests/fixtures/claims/apg-claim.json");

fn example_value() -> Value {
    serde_json::from_str(EXAMPLE).expect("fixture is JSON")
}

fn parse_value(v: &Value) -> Result<ApgClaim, ClaimErrors> {
    ApgClaim::from_json(&serde_json::to_vec(v).expect("serializable"))
}

fn pointers(errors: &ClaimErrors) -> Vec<&str> {
    errors.0.iter().map(|e| e.pointer.as_str()).collect()
}

#[test]
fn the_contract_example_parses_with_every_field_of_the_xml() {
    let c = ApgClaim::from_json(EXAMPLE.as_bytes()).expect("valid example");
    assert_eq!(c.claimant.vn.digits(), "7561234567897");
    assert_eq!(c.claimant.official_name, "Dupont");
    assert_eq!(c.claimant.first_name, "Claire");
    assert_eq!(c.claimant.sex, Sex::Female);
    assert_eq!(format_date(&c.claimant.date_of_birth), "1979-03-14");
    assert_eq!(
        c.claimant.address.canton.map(|c| c.to_string()),
        Some("GE".into())
    );
    assert!(!c.claimant.address.is_abroad());
    assert_eq!(c.claimant.language, Language::Fr);
    assert_eq!(
        c.claimant.email.as_deref(),
        Some("claire.dupont@example.ch")
    );
    assert_eq!(c.service_period.service_type.code(), 11);
    assert_eq!(c.service_period.service_type.kind(), ServiceKind::Army);
    assert_eq!(c.service_period.length_days(), 19);
    assert_eq!(c.service_period.number_of_days, 19);
    assert_eq!(
        c.service_period.reference_number.as_deref(),
        Some("SEO-2026-0048213")
    );
    assert_eq!(c.children.len(), 1);
    assert_eq!(c.children[0].vn.digits(), "7562295883070");
    let Activity::Employee(e) = &c.activity_before_service else {
        panic!("employee expected");
    };
    assert_eq!(e.employer_name, "Horlogerie Léman SA");
    assert_eq!(
        e.employer_uid.map(|u| u.to_string()),
        Some("CHE-109.322.551".into())
    );
    assert_eq!(e.account_number.as_deref(), Some("1804.221"));
    assert_eq!(c.payment.iban.as_str(), "CH9300762011623852957");
    assert_eq!(c.payment.account_holder.as_deref(), Some("Claire Dupont"));
}

#[test]
fn canonical_json_is_the_compact_example_and_parses_back() {
    let c = ApgClaim::from_json(EXAMPLE.as_bytes()).expect("valid example");
    let canonical = c.canonical_json();
    let back: Value = serde_json::from_slice(&canonical).expect("json");
    assert_eq!(back, example_value());
    let text = String::from_utf8_lossy(&canonical);
    assert!(
        text.starts_with(r#"{"type":"apg-claim","claimant":{"vn":"7561234567897","officialName""#),
        "{text}"
    );
    assert!(text.ends_with(
        r#""payment":{"iban":"CH9300762011623852957","accountHolder":"Claire Dupont"}}"#
    ));
    assert_eq!(ApgClaim::from_json(&canonical), Ok(c.clone()));
    assert_eq!(c.sha256_hex().len(), 64);
}

#[test]
fn canonical_json_does_not_depend_on_member_order_spacing_or_printed_forms() {
    let reordered = r#"{"payment":{"accountHolder":" Claire Dupont ","iban":"ch93 0076 2011 6238 5295 7"},
      "activityBeforeService":{"employee":{"accountNumber":"1804.221","uid":"CHE109322551",
      "employerName":"Horlogerie Léman SA"}},"children":[{"dateOfBirth":"2015-06-02","vn":"756.2295.8830.70"}],
      "servicePeriod":{"referenceNumber":"SEO-2026-0048213","numberOfDays":19,"endDate":"2026-10-23",
      "startDate":"2026-10-05","serviceType":11},"claimant":{"email":"claire.dupont@example.ch",
      "language":"fr","address":{"country":"CH","canton":"GE","town":"Genève","postalCode":"1204",
      "street":"Rue du Rhône 12"},"dateOfBirth":"1979-03-14","sex":2,"firstName":"Claire",
      "officialName":"Dupont","vn":"756.1234.5678.97"},"type":"apg-claim"}"#;
    let a = ApgClaim::from_json(EXAMPLE.as_bytes()).expect("valid example");
    let b = ApgClaim::from_json(reordered.as_bytes()).expect("valid reordered");
    assert_eq!(a.canonical_json(), b.canonical_json());
    assert_eq!(a.sha256_hex(), b.sha256_hex());
}

#[test]
fn a_claim_with_many_faults_lists_every_one_as_a_pointer_without_values() {
    let mut v = example_value();
    v["type"] = json!("apg-klaim");
    v["claimant"]["vn"] = json!("7561234567890");
    v["claimant"]["sex"] = json!(4);
    v["claimant"]["dateOfBirth"] = json!("1979-02-30");
    v["claimant"]["address"]["canton"] = json!("XX");
    v["claimant"]["nickname"] = json!("C");
    v["servicePeriod"]["serviceType"] = json!(17);
    v["servicePeriod"]["numberOfDays"] = json!(20);
    v["children"][0]["vn"] = json!("12");
    v["children"]
        .as_array_mut()
        .expect("array")
        .push(json!({"dateOfBirth": "2016-01-01"}));
    v["activityBeforeService"]["student"] = json!({});
    v["payment"]["iban"] = json!("CH9300762011623852958");
    v["payment"]["accountHolder"] = json!("");
    let errors = parse_value(&v).expect_err("faulty claim");
    assert_eq!(
        pointers(&errors),
        vec![
            "/type",
            "/claimant/nickname",
            "/claimant/vn",
            "/claimant/sex",
            "/claimant/dateOfBirth",
            "/claimant/address/canton",
            "/servicePeriod/serviceType",
            "/servicePeriod/numberOfDays",
            "/children/0/vn",
            "/children/1/vn",
            "/activityBeforeService",
            "/payment/iban",
            "/payment/accountHolder",
        ],
        "{errors:#?}"
    );
    let all = format!("{errors:?} {errors}");
    for secret in [
        "7561234567890",
        "CH9300762011623852958",
        "9300762011623852958",
        "Dupont",
    ] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
}

#[test]
fn cross_member_rules_are_checked() {
    let mut v = example_value();
    v["servicePeriod"]["endDate"] = json!("2026-10-01");
    let e = parse_value(&v).expect_err("end before start");
    assert_eq!(pointers(&e), vec!["/servicePeriod/endDate"]);

    let mut v = example_value();
    v["claimant"]["dateOfBirth"] = json!("2026-11-01");
    v["children"][0]["vn"] = json!("7561234567897");
    v["children"][0]["dateOfBirth"] = json!("2026-12-01");
    let e = parse_value(&v).expect_err("faults across members");
    assert_eq!(
        pointers(&e),
        vec![
            "/claimant/dateOfBirth",
            "/children/0/vn",
            "/children/0/dateOfBirth",
        ]
    );

    let mut v = example_value();
    v["claimant"]["address"] = json!({"street": "Main St 1", "postalCode": "10115",
        "town": "Berlin", "country": "DE", "canton": "ZH"});
    assert_eq!(
        pointers(&parse_value(&v).expect_err("canton abroad")),
        vec!["/claimant/address/canton"]
    );
    v["claimant"]["address"]
        .as_object_mut()
        .expect("object")
        .remove("canton");
    assert!(
        parse_value(&v)
            .expect("abroad")
            .claimant
            .address
            .is_abroad()
    );
    v["claimant"]["address"]["country"] = json!("CH");
    assert_eq!(
        pointers(&parse_value(&v).expect_err("no canton")),
        vec!["/claimant/address/canton"]
    );
}

#[test]
fn activity_is_exactly_one_of_five() {
    for (name, expected) in [
        ("selfEmployed", Activity::SelfEmployed),
        ("unemployed", Activity::Unemployed),
        ("student", Activity::Student),
        ("notEmployed", Activity::NotEmployed),
    ] {
        let mut v = example_value();
        v["activityBeforeService"] = json!({ name: {} });
        let c = parse_value(&v).expect("one activity");
        assert_eq!(c.activity_before_service, expected);
        let back: Value = serde_json::from_slice(&c.canonical_json()).expect("json");
        assert_eq!(back["activityBeforeService"], json!({ name: {} }));
    }
    let mut v = example_value();
    v["activityBeforeService"] = json!({});
    assert_eq!(
        pointers(&parse_value(&v).expect_err("none")),
        vec!["/activityBeforeService"]
    );
    v["activityBeforeService"] = json!({"student": {"school": "EPFL"}});
    assert_eq!(
        pointers(&parse_value(&v).expect_err("details")),
        vec!["/activityBeforeService/student/school"]
    );
    v["activityBeforeService"] = json!({"employee": {"employerUid": "CHE-109.322.552"}});
    assert_eq!(
        pointers(&parse_value(&v).expect_err("employee faults")),
        vec![
            "/activityBeforeService/employee/employerName",
            "/activityBeforeService/employee/employerUid"
        ]
    );
}

#[test]
fn bodies_that_are_not_claims_get_one_error_at_the_root() {
    for body in [&b"{"[..], b"[]", b"\"apg-claim\"", b"\xff"] {
        let e = ApgClaim::from_json(body).expect_err("not a claim");
        assert_eq!(pointers(&e), vec![""], "{e:?}");
    }
    let e = ApgClaim::from_json(b"{\"756.1234.5678.97\": 1, \"a/b~\": 2}").expect_err("odd keys");
    let all = format!("{e:?}");
    assert!(!all.contains("1234"), "{all}");
    assert!(pointers(&e).contains(&"/claimant"));
}

fn arb_claim() -> impl Strategy<Value = Value> {
    (
        (1u32..999_999_999, 0u32..3, 0u32..365 * 40, "[A-Za-zéü' -]{1,30}"),
        (0usize..12, 0u32..400, 1u32..30, 0usize..5),
        (proptest::collection::vec(1u32..999_999_999, 0..4), 0u32..99_999),
    )
        .prop_map(|((serial, sex, dob, name), (ty, start, len, act), (kids, clearing))| {
            let types = [10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 30, 40, 41, 50];
            let base = time::macros::date!(1950 - 01 - 01);
            let birth = base + time::Duration::days(i64::from(dob));
            let start = time::macros::date!(2026 - 01 - 01) + time::Duration::days(i64::from(start));
            let end = start + time::Duration::days(i64::from(len) - 1);
            let activity = match act {
                0 => json!({"employee": {"employerName": "Acme SA"}}),
                n => json!({ Activity::NAMES[n]: {} }),
            };
            let children: Vec<Value> = kids
                .iter()
                .map(|s| json!({"vn": Vn::from_serial(*s).digits(), "dateOfBirth": format_date(&(birth + time::Duration::days(6000)))}))
                .collect();
            let body = format!("{clearing:05}000000000042");
            let check = 98 - super::ids::tests_support::mod97_of(&format!("CH00{body}"));
            json!({
                "type": "apg-claim",
                "claimant": {"vn": Vn::from_serial(serial).digits(), "officialName": name.trim().to_owned() + "x",
                    "firstName": "Ana", "sex": sex + 1, "dateOfBirth": format_date(&birth),
                    "address": {"street": "Weg 1", "postalCode": "3000", "town": "Bern", "canton": "BE", "country": "CH"},
                    "language": "de"},
                "servicePeriod": {"serviceType": types[ty], "startDate": format_date(&start),
                    "endDate": format_date(&end), "numberOfDays": len},
                "children": children,
                "activityBeforeService": activity,
                "payment": {"iban": format!("CH{check:02}{body}")}
            })
        })
}

proptest! {
    #[test]
    fn generated_claims_round_trip_through_canonical_json(v in arb_claim()) {
        let c = match parse_value(&v) {
            Ok(c) => c,
            // Generated children may share a number with the claimant or each other.
            Err(e) => { prop_assert!(e.0.iter().all(|f| f.pointer.starts_with("/children/"))); return Ok(()); }
        };
        let canonical = c.canonical_json();
        prop_assert_eq!(ApgClaim::from_json(&canonical), Ok(c.clone()));
        prop_assert_eq!(c.canonical_json(), canonical);
    }

    #[test]
    fn the_parser_never_panics_on_arbitrary_members(key in "[a-zA-Z/~]{1,12}", value in any::<i64>(), text in "\\PC{0,20}") {
        let mut v = example_value();
        v["claimant"][&key] = json!(value);
        v["servicePeriod"][&key] = json!(text);
        v["payment"]["iban"] = json!(text);
        let _ = parse_value(&v);
    }
}
